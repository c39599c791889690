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
                (
                    "chassis ID subtype",
                    chassis_subtype(&pdu.chassis_id).into(),
                ),
                ("chassis ID", id_value(&pdu.chassis_id)),
            ],
        ),
        tlv(
            2,
            "Port ID",
            &[
                ("port ID subtype", port_subtype(&pdu.port_id).into()),
                ("port ID", id_value(&pdu.port_id)),
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

/// lldptool's words for chassis ID subtypes.
fn chassis_subtype(id: &Id) -> &'static str {
    match id.subtype {
        1 => "ENC",
        2 => "IfAlias",
        3 => "PORT",
        4 => "MAC",
        5 => address_family(&id.value),
        6 => "Ifname",
        7 => "Local",
        _ => "Unknown",
    }
}

/// lldptool's words for port ID subtypes.
fn port_subtype(id: &Id) -> &'static str {
    match id.subtype {
        1 => "IfAlias",
        2 => "PORT",
        3 => "MAC",
        4 => address_family(&id.value),
        5 => "Ifname",
        6 => "Agent circuit ID",
        7 => "Local",
        _ => "Unknown",
    }
}

/// A network-address id starts with its IANA family octet.
fn address_family(v: &[u8]) -> &'static str {
    match v.first() {
        Some(1) => "IPv4",
        Some(2) => "IPv6",
        _ => "Unknown",
    }
}

/// MAC ids as `aa:bb:..`, addresses as addresses, names as text, anything
/// unprintable as hex.
fn id_value(id: &Id) -> String {
    let mac_subtype = if id.value.len() == 6 { id.subtype } else { 0 };
    match (mac_subtype, id.subtype) {
        (4, _) | (3, _) => mac(&id.value),
        (_, 5) | (_, 4) if matches!(address_family(&id.value), "IPv4" | "IPv6") => {
            address(id.value[0], &id.value[1..])
        }
        _ => printable(&id.value).unwrap_or_else(|| hex(&id.value)),
    }
}

fn management(m: &ManagementAddress) -> TlvReport {
    let family = match m.family {
        1 => "IPv4",
        2 => "IPv6",
        6 => "MAC",
        _ => "Unknown",
    };
    let if_subtype = match m.if_subtype {
        2 => "ifIndex",
        3 => "System port number",
        _ => "Unknown",
    };
    tlv(
        8,
        "Management Address",
        &[
            ("management address subtype", family.to_string()),
            ("management address", address(m.family, &m.address)),
            ("interface numbering subtype", if_subtype.to_string()),
            ("interface numbering", m.if_number.to_string()),
        ],
    )
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
