//! The LLDPDU as a typed value, and its parser (IEEE 802.1AB).
//!
//! The parser is pure safe code over a byte slice: it never panics, never
//! reads past the slice and allocates at most in proportion to the input
//! (every value it keeps is a copy of a bounded slice of it), so a hostile
//! neighbor can cost us at most one frame's worth of memory per interface.

use thiserror::Error;

/// IEEE 802.1 organisationally unique identifier.
pub const OUI_IEEE_8021: u32 = 0x0080c2;
/// IEEE 802.3 organisationally unique identifier.
pub const OUI_IEEE_8023: u32 = 0x00120f;

/// At most this many TLVs in one LLDPDU. A 1500-byte frame of empty TLVs
/// would hold 750; real ones carry a dozen or two. More is an attack or
/// garbage, and is refused before anything is kept.
pub const MAX_TLVS: usize = 512;

/// TLV types of the basic set (802.1AB §8.4).
pub mod tlv_type {
    /// End of LLDPDU.
    pub const END: u8 = 0;
    /// Chassis ID (mandatory, first).
    pub const CHASSIS_ID: u8 = 1;
    /// Port ID (mandatory, second).
    pub const PORT_ID: u8 = 2;
    /// Time to live (mandatory, third).
    pub const TTL: u8 = 3;
    /// Port description.
    pub const PORT_DESCRIPTION: u8 = 4;
    /// System name.
    pub const SYSTEM_NAME: u8 = 5;
    /// System description.
    pub const SYSTEM_DESCRIPTION: u8 = 6;
    /// System capabilities.
    pub const SYSTEM_CAPABILITIES: u8 = 7;
    /// Management address.
    pub const MANAGEMENT_ADDRESS: u8 = 8;
    /// Organisationally specific (OUI + subtype + data).
    pub const ORG: u8 = 127;
}

/// Why an LLDPDU was refused. Every variant names the TLV at fault (its
/// type) or the offset, for the log line of the dropped frame.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// A TLV header or value runs past the end of the frame.
    #[error("TLV at offset {offset} is truncated")]
    Truncated {
        /// Byte offset of the TLV header in the LLDPDU.
        offset: usize,
    },
    /// A TLV's length is impossible for its type.
    #[error("TLV type {tlv_type} has invalid length {len}")]
    BadLength {
        /// TLV type.
        tlv_type: u8,
        /// Its length field.
        len: usize,
    },
    /// Chassis ID, Port ID and TTL must be the first three TLVs, in order.
    #[error("mandatory TLV {expected} missing or out of order (found type {found})")]
    Mandatory {
        /// The mandatory TLV type expected at this position.
        expected: u8,
        /// The TLV type found instead (0 when the frame ended).
        found: u8,
    },
    /// A mandatory TLV appears a second time.
    #[error("TLV type {0} repeated")]
    Duplicate(u8),
    /// More than [`MAX_TLVS`] TLVs.
    #[error("more than {MAX_TLVS} TLVs")]
    TooManyTlvs,
}

/// A chassis or port identifier: its subtype and raw value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Id {
    /// 802.1AB subtype (chassis: 4 MAC, 5 network address, 7 local...;
    /// port: 3 MAC, 5 interface name, 7 local...).
    pub subtype: u8,
    /// The identifier bytes as sent (1..=255 bytes).
    pub value: Vec<u8>,
}

/// System capabilities: bit masks of 802.1AB §8.5.8 (bit 0 other, 1
/// repeater, 2 bridge, 3 WLAN AP, 4 router, 5 telephone, 6 DOCSIS, 7
/// station only, 8 C-VLAN, 9 S-VLAN, 10 two-port MAC relay).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// What the system can do.
    pub system: u16,
    /// What is switched on.
    pub enabled: u16,
}

/// A management address TLV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagementAddress {
    /// IANA address family (1 IPv4, 2 IPv6, 6 802 MAC).
    pub family: u8,
    /// The address bytes.
    pub address: Vec<u8>,
    /// Interface numbering subtype (2 ifIndex, 3 system port number).
    pub if_subtype: u8,
    /// Interface number.
    pub if_number: u32,
    /// Object identifier of the entity (empty: none), BER-encoded bytes.
    pub oid: Vec<u8>,
}

/// An organisationally specific TLV (type 127) we know, or its raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrgTlv {
    /// 802.1 subtype 1: the port's untagged VLAN.
    PortVlanId(u16),
    /// 802.1 subtype 3: a VLAN's id and name.
    VlanName {
        /// VLAN id.
        vid: u16,
        /// VLAN name (UTF-8, lossy).
        name: String,
    },
    /// 802.1 subtype 7 (or the older 802.3 subtype 3): link aggregation.
    LinkAggregation {
        /// Which OUI carried it.
        oui: u32,
        /// Which subtype carried it.
        subtype: u8,
        /// Bit 0 capable, bit 1 enabled.
        status: u8,
        /// ifIndex of the aggregate.
        port_id: u32,
    },
    /// 802.3 subtype 4: maximum frame size.
    MaxFrameSize(u16),
    /// Anything else, kept raw (reported as hex).
    Unknown {
        /// OUI.
        oui: u32,
        /// Subtype.
        subtype: u8,
        /// Information string.
        data: Vec<u8>,
    },
}

/// A parsed LLDPDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lldpdu {
    /// Chassis ID TLV.
    pub chassis_id: Id,
    /// Port ID TLV.
    pub port_id: Id,
    /// Time to live in seconds (0: the neighbor is leaving).
    pub ttl: u16,
    /// Port description TLV.
    pub port_description: Option<String>,
    /// System name TLV.
    pub system_name: Option<String>,
    /// System description TLV.
    pub system_description: Option<String>,
    /// System capabilities TLV.
    pub capabilities: Option<Capabilities>,
    /// Management address TLVs.
    pub management_addresses: Vec<ManagementAddress>,
    /// Organisationally specific TLVs, in frame order.
    pub org: Vec<OrgTlv>,
    /// Basic TLVs of reserved types (9..=126), kept raw: (type, value).
    pub unknown: Vec<(u8, Vec<u8>)>,
}

/// One TLV as found in the frame.
struct RawTlv<'a> {
    kind: u8,
    value: &'a [u8],
}

/// Splits the LLDPDU into TLVs up to the End TLV (or the end of the data:
/// a missing End TLV is tolerated, padding after it is ignored).
fn split(pdu: &[u8]) -> Result<Vec<RawTlv<'_>>, ParseError> {
    let mut out = Vec::new();
    let mut off = 0;
    while off < pdu.len() {
        let header = pdu
            .get(off..off + 2)
            .ok_or(ParseError::Truncated { offset: off })?;
        let kind = header[0] >> 1;
        let len = (usize::from(header[0] & 1) << 8) | usize::from(header[1]);
        if kind == tlv_type::END {
            if len != 0 {
                return Err(ParseError::BadLength {
                    tlv_type: kind,
                    len,
                });
            }
            break;
        }
        let value = pdu
            .get(off + 2..off + 2 + len)
            .ok_or(ParseError::Truncated { offset: off })?;
        if out.len() == MAX_TLVS {
            return Err(ParseError::TooManyTlvs);
        }
        out.push(RawTlv { kind, value });
        off += 2 + len;
    }
    Ok(out)
}

/// Parses an LLDPDU (the Ethernet payload after ethertype 0x88cc).
pub fn parse(pdu: &[u8]) -> Result<Lldpdu, ParseError> {
    let tlvs = split(pdu)?;
    let mut it = tlvs.iter();
    let chassis_id = parse_id(mandatory(it.next(), tlv_type::CHASSIS_ID)?)?;
    let port_id = parse_id(mandatory(it.next(), tlv_type::PORT_ID)?)?;
    let ttl_tlv = mandatory(it.next(), tlv_type::TTL)?;
    let ttl = be16(ttl_tlv.value).ok_or(ParseError::BadLength {
        tlv_type: tlv_type::TTL,
        len: ttl_tlv.value.len(),
    })?;
    let mut pdu = Lldpdu {
        chassis_id,
        port_id,
        ttl,
        port_description: None,
        system_name: None,
        system_description: None,
        capabilities: None,
        management_addresses: Vec::new(),
        org: Vec::new(),
        unknown: Vec::new(),
    };
    for tlv in it {
        optional(&mut pdu, tlv)?;
    }
    Ok(pdu)
}

fn mandatory<'a>(tlv: Option<&'a RawTlv<'a>>, expected: u8) -> Result<&'a RawTlv<'a>, ParseError> {
    match tlv {
        Some(t) if t.kind == expected => Ok(t),
        other => Err(ParseError::Mandatory {
            expected,
            found: other.map_or(0, |t| t.kind),
        }),
    }
}

fn parse_id(tlv: &RawTlv<'_>) -> Result<Id, ParseError> {
    // Subtype octet plus 1..=255 octets of id.
    match tlv.value.split_first() {
        Some((&subtype, value)) if (1..=255).contains(&value.len()) => Ok(Id {
            subtype,
            value: value.to_vec(),
        }),
        _ => Err(ParseError::BadLength {
            tlv_type: tlv.kind,
            len: tlv.value.len(),
        }),
    }
}

/// One TLV after the mandatory three.
fn optional(pdu: &mut Lldpdu, tlv: &RawTlv<'_>) -> Result<(), ParseError> {
    let bad = || ParseError::BadLength {
        tlv_type: tlv.kind,
        len: tlv.value.len(),
    };
    match tlv.kind {
        tlv_type::CHASSIS_ID | tlv_type::PORT_ID | tlv_type::TTL => {
            return Err(ParseError::Duplicate(tlv.kind))
        }
        tlv_type::PORT_DESCRIPTION => pdu.port_description = Some(text(tlv.value)),
        tlv_type::SYSTEM_NAME => pdu.system_name = Some(text(tlv.value)),
        tlv_type::SYSTEM_DESCRIPTION => pdu.system_description = Some(text(tlv.value)),
        tlv_type::SYSTEM_CAPABILITIES => {
            let (system, enabled) = match tlv.value {
                [a, b, c, d] => (u16::from_be_bytes([*a, *b]), u16::from_be_bytes([*c, *d])),
                _ => return Err(bad()),
            };
            pdu.capabilities = Some(Capabilities { system, enabled });
        }
        tlv_type::MANAGEMENT_ADDRESS => {
            let addr = management_address(tlv.value).ok_or_else(bad)?;
            pdu.management_addresses.push(addr);
        }
        tlv_type::ORG => pdu.org.push(org(tlv.value).ok_or_else(bad)?),
        other => pdu.unknown.push((other, tlv.value.to_vec())),
    }
    Ok(())
}

/// Management address: string length (family + address), family,
/// address, interface subtype, interface number, OID length, OID.
fn management_address(v: &[u8]) -> Option<ManagementAddress> {
    let str_len = usize::from(*v.first()?);
    if !(2..=32).contains(&str_len) {
        return None;
    }
    let family = *v.get(1)?;
    let address = v.get(2..1 + str_len)?.to_vec();
    let rest = v.get(1 + str_len..)?;
    let if_subtype = *rest.first()?;
    let if_number = u32::from_be_bytes(rest.get(1..5)?.try_into().ok()?);
    let oid_len = usize::from(*rest.get(5)?);
    let oid = rest.get(6..)?;
    (oid.len() == oid_len && oid_len <= 128).then(|| ManagementAddress {
        family,
        address,
        if_subtype,
        if_number,
        oid: oid.to_vec(),
    })
}

/// An organisationally specific TLV: 3-byte OUI, subtype, data.
fn org(v: &[u8]) -> Option<OrgTlv> {
    let oui = u32::from_be_bytes([0, *v.first()?, *v.get(1)?, *v.get(2)?]);
    let subtype = *v.get(3)?;
    let data = &v[4..];
    let known = match (oui, subtype) {
        (OUI_IEEE_8021, 1) => be16(data).map(OrgTlv::PortVlanId),
        (OUI_IEEE_8021, 3) => vlan_name(data),
        (OUI_IEEE_8021, 7) | (OUI_IEEE_8023, 3) => link_aggregation(oui, subtype, data),
        (OUI_IEEE_8023, 4) => be16(data).map(OrgTlv::MaxFrameSize),
        _ => None,
    };
    // A known subtype with a wrong length is kept raw rather than refusing
    // the whole frame: the mandatory part is still good.
    Some(known.unwrap_or_else(|| OrgTlv::Unknown {
        oui,
        subtype,
        data: data.to_vec(),
    }))
}

fn vlan_name(data: &[u8]) -> Option<OrgTlv> {
    let vid = be16(data.get(..2)?)?;
    let len = usize::from(*data.get(2)?);
    let name = data.get(3..)?;
    (name.len() == len && len <= 32).then(|| OrgTlv::VlanName {
        vid,
        name: text(name),
    })
}

fn link_aggregation(oui: u32, subtype: u8, data: &[u8]) -> Option<OrgTlv> {
    match data {
        [status, a, b, c, d] => Some(OrgTlv::LinkAggregation {
            oui,
            subtype,
            status: *status,
            port_id: u32::from_be_bytes([*a, *b, *c, *d]),
        }),
        _ => None,
    }
}

fn be16(v: &[u8]) -> Option<u16> {
    match v {
        [a, b] => Some(u16::from_be_bytes([*a, *b])),
        _ => None,
    }
}

/// TLV strings are meant to be ASCII/UTF-8; anything else is shown lossy
/// rather than refused. Trailing NULs (some switches send them) are cut.
fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(v)
        .trim_end_matches('\0')
        .to_string()
}
