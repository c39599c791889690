//! An LLDPDU in the shape of VDSM's `Host.getLldp` answer: a list of TLVs,
//! each `{"type": N, "name": ..., "properties": {...}}` with lldptool's
//! names, organisationally specific ones with `"oui"` and `"subtype"`.
//! Every property value is a string, as lldptool printed them.

use crate::pdu::{Id, Lldpdu, ManagementAddress, OrgTlv, OUI_IEEE_8021, OUI_IEEE_8023};
use serde::Serialize;
use std::collections::BTreeMap;

/// One TLV of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlvReport {
    /// TLV type (127 for organisationally specific).
    #[serde(rename = "type")]
    pub kind: u8,
    /// lldptool's name of the TLV (without its " TLV" suffix).
    pub name: String,
    /// lldptool's property names and their values, all strings.
    pub properties: BTreeMap<String, String>,
    /// OUI of an organisationally specific TLV.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oui: Option<u32>,
    /// Subtype of an organisationally specific TLV.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subtype: Option<u8>,
}

/// One device's entry: whether we listen for LLDP there, and the TLVs of
/// its current neighbor (empty: none, or expired).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceReport {
    /// LLDP reception is on for this device.
    pub enabled: bool,
    /// The neighbor's TLVs in frame order.
    pub tlvs: Vec<TlvReport>,
    /// Whole seconds until the neighbor expires unless heard again (its
    /// TTL counts from reception); absent without a neighbor. Not in
    /// VDSM's answer: lldptool only gave the announced TTL.
    #[serde(rename = "ttlLeft", skip_serializing_if = "Option::is_none")]
    pub ttl_left: Option<u64>,
}

fn tlv(kind: u8, name: &str, props: &[(&str, String)]) -> TlvReport {
    TlvReport {
        kind,
        name: name.to_string(),
        properties: props
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        oui: None,
        subtype: None,
    }
}

/// The whole LLDPDU as report TLVs, mandatory ones first.
pub fn tlvs(pdu: &Lldpdu) -> Vec<TlvReport> {
    let mut out = vec![
        tlv(
            1,
            "Chassis ID",
            &[
                ("chassis ID subtype", chassis_subtype(&pdu.chassis_id)),
                ("chassis ID", id_value(&pdu.chassis_id, &CHASSIS)),
            ],
        ),
        tlv(
            2,
            "Port ID",
            &[
                ("port ID subtype", port_subtype(&pdu.port_id)),
                ("port ID", id_value(&pdu.port_id, &PORT)),
            ],
        ),
        tlv(3, "Time to Live", &[("time to live", pdu.ttl.to_string())]),
    ];
    let texts = [
        (
            4,
            "Port Description",
            "port description",
            &pdu.port_description,
        ),
        (5, "System Name", "system name", &pdu.system_name),
        (
            6,
            "System Description",
            "system description",
            &pdu.system_description,
        ),
    ];
    for (kind, name, prop, value) in texts {
        if let Some(v) = value {
            out.push(tlv(kind, name, &[(prop, v.clone())]));
        }
    }
    if let Some(c) = pdu.capabilities {
        out.push(tlv(
            7,
            "System Capabilities",
            &[
                ("system capabilities", capability_names(c.system)),
                ("enabled capabilities", capability_names(c.enabled)),
            ],
        ));
    }
    out.extend(pdu.management_addresses.iter().map(management));
    out.extend(pdu.org.iter().map(org));
    out.extend(
        pdu.unknown
            .iter()
            .map(|(kind, data)| tlv(*kind, "Unknown", &[("info", hex(data))])),
    );
    out
}

/// lldptool's words for chassis ID subtypes (what VDSM passed on).
fn chassis_subtype(id: &Id) -> String {
    match id.subtype {
        1 => "Chassis Component".into(),
        2 => "IfAlias".into(),
        3 => "Port Component".into(),
        4 => "MAC".into(),
        5 => address_family(&id.value),
        6 => "Ifname".into(),
        7 => "Local".into(),
        n => format!("Subtype {n}"),
    }
}

/// lldptool's words for port ID subtypes.
fn port_subtype(id: &Id) -> String {
    match id.subtype {
        1 => "Interface Alias".into(),
        2 => "Port Component".into(),
        3 => "MAC".into(),
        4 => address_family(&id.value),
        5 => "Ifname".into(),
        6 => "Agent Circuit ID".into(),
        7 => "Local".into(),
        n => format!("Subtype {n}"),
    }
}

/// A network-address id starts with its IANA family octet.
fn address_family(v: &[u8]) -> String {
    match v.first() {
        Some(1) => "IPv4".into(),
        Some(2) => "IPv6".into(),
        Some(n) => format!("Network Address Type {n}"),
        None => "Network Address".into(),
    }
}

/// How an id's subtypes map to value formats: chassis and port IDs number
/// the same kinds differently.
struct IdKinds {
    mac: u8,
    address: u8,
    /// A subtype whose value is opaque bytes (port: agent circuit id).
    opaque: Option<u8>,
}

const CHASSIS: IdKinds = IdKinds {
    mac: 4,
    address: 5,
    opaque: None,
};
const PORT: IdKinds = IdKinds {
    mac: 3,
    address: 4,
    opaque: Some(6),
};

/// MAC ids as `aa:bb:..`, network addresses as addresses, names as text,
/// anything unprintable (and agent circuit ids) as hex.
fn id_value(id: &Id, kinds: &IdKinds) -> String {
    let v = &id.value;
    if id.subtype == kinds.mac && v.len() == 6 {
        return mac(v);
    }
    if id.subtype == kinds.address {
        if let Some((family, addr)) = v.split_first() {
            return address(*family, addr);
        }
    }
    if Some(id.subtype) == kinds.opaque {
        return hex(v);
    }
    printable(v).unwrap_or_else(|| hex(v))
}

/// As lldptool printed it and VDSM split it: family and address, the
/// interface numbering subtype and number, the OID when there is one.
fn management(m: &ManagementAddress) -> TlvReport {
    let family = match m.family {
        1 => "IPv4".to_string(),
        2 => "IPv6".to_string(),
        6 => "MAC".to_string(),
        n => format!("Network Address Type {n}"),
    };
    let if_subtype = match m.if_subtype {
        1 => "Unknown interface subtype",
        2 => "Ifindex",
        3 => "System port number",
        _ => "Bad interface numbering subtype",
    };
    let mut props = vec![
        ("management address subtype", family),
        ("management address", address(m.family, &m.address)),
        ("interface numbering subtype", if_subtype.to_string()),
        ("interface numbering", m.if_number.to_string()),
    ];
    if !m.oid.is_empty() {
        props.push(("object identifier", hex(&m.oid)));
    }
    tlv(8, "Management Address", &props)
}

fn org(o: &OrgTlv) -> TlvReport {
    let (oui, subtype, mut t) = match o {
        OrgTlv::PortVlanId(v) => (
            OUI_IEEE_8021,
            1,
            tlv(127, "Port VLAN ID", &[("Port VLAN ID", v.to_string())]),
        ),
        OrgTlv::VlanName { vid, name } => (
            OUI_IEEE_8021,
            3,
            tlv(
                127,
                "VLAN Name",
                &[("VLAN ID", vid.to_string()), ("VLAN Name", name.clone())],
            ),
        ),
        OrgTlv::LinkAggregation {
            oui,
            subtype,
            status,
            port_id,
        } => (
            *oui,
            *subtype,
            tlv(
                127,
                "Link Aggregation",
                &[
                    ("Aggregation capable", yes(status & 1 != 0)),
                    ("Currently aggregated", yes(status & 2 != 0)),
                    ("Aggregated Port ID", port_id.to_string()),
                ],
            ),
        ),
        OrgTlv::MaxFrameSize(v) => (OUI_IEEE_8023, 4, tlv(127, "MTU", &[("mtu", v.to_string())])),
        OrgTlv::Unknown { oui, subtype, data } => {
            (*oui, *subtype, tlv(127, "Unknown", &[("info", hex(data))]))
        }
    };
    t.oui = Some(oui);
    t.subtype = Some(subtype);
    t
}

fn yes(b: bool) -> String {
    if b { "True" } else { "False" }.to_string()
}

const CAPABILITIES: [&str; 11] = [
    "Other",
    "Repeater",
    "Bridge",
    "WLAN Access Point",
    "Router",
    "Telephone",
    "DOCSIS cable device",
    "Station Only",
    "C-VLAN",
    "S-VLAN",
    "TPMR",
];

/// Capability bits as lldptool lists them: names joined by ", ".
pub fn capability_names(bits: u16) -> String {
    let names: Vec<&str> = CAPABILITIES
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect();
    names.join(", ")
}

fn address(family: u8, a: &[u8]) -> String {
    match (family, a.len()) {
        (1, 4) => std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3]).to_string(),
        (2, 16) => {
            let mut b = [0u8; 16];
            b.copy_from_slice(a);
            std::net::Ipv6Addr::from(b).to_string()
        }
        (6, 6) => mac(a),
        _ => hex(a),
    }
}

fn mac(v: &[u8]) -> String {
    v.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn hex(v: &[u8]) -> String {
    v.iter().map(|b| format!("{b:02x}")).collect()
}

fn printable(v: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(v).ok()?;
    (!s.chars().any(char::is_control)).then(|| s.to_string())
}
