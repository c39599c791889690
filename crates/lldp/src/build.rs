//! Building an LLDPDU for transmission: what netswitch says about itself
//! on a nic (chassis MAC, port name, TTL, system name, port description,
//! the VLANs it carries there).

use crate::pdu::{tlv_type, OUI_IEEE_8021};
use thiserror::Error;

/// Why a description could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BuildError {
    /// A field is longer than its TLV can carry (or empty where it may not be).
    #[error("LLDP field {field} has invalid length {len} (at most {max})")]
    Length {
        /// Which field.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The most the TLV takes.
        max: usize,
    },
    /// VLAN ids are 1..=4094.
    #[error("LLDP VLAN id {0} out of range 1..=4094")]
    Vlan(u16),
}

/// What we announce on one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    /// Chassis ID, sent with subtype 4 (MAC address).
    pub chassis_mac: [u8; 6],
    /// Port ID, sent with subtype 5 (interface name).
    pub port_name: String,
    /// Seconds the neighbor should keep us (802.1AB default: 120).
    pub ttl: u16,
    /// System name TLV, when set.
    pub system_name: Option<String>,
    /// Port description TLV, when set.
    pub port_description: Option<String>,
    /// One 802.1 VLAN Name TLV per (vid, name).
    pub vlans: Vec<(u16, String)>,
}

/// Encodes `a` as an LLDPDU ending with the End TLV.
pub fn build(a: &Announce) -> Result<Vec<u8>, BuildError> {
    let mut out = Vec::with_capacity(128);
    let mut chassis = vec![4];
    chassis.extend_from_slice(&a.chassis_mac);
    push(&mut out, tlv_type::CHASSIS_ID, &chassis);
    check("port_name", a.port_name.len(), 1, 255)?;
    let mut port = vec![5];
    port.extend_from_slice(a.port_name.as_bytes());
    push(&mut out, tlv_type::PORT_ID, &port);
    push(&mut out, tlv_type::TTL, &a.ttl.to_be_bytes());
    if let Some(d) = &a.port_description {
        check("port_description", d.len(), 0, 255)?;
        push(&mut out, tlv_type::PORT_DESCRIPTION, d.as_bytes());
    }
    if let Some(n) = &a.system_name {
        check("system_name", n.len(), 0, 255)?;
        push(&mut out, tlv_type::SYSTEM_NAME, n.as_bytes());
    }
    for (vid, name) in &a.vlans {
        if !(1..=4094).contains(vid) {
            return Err(BuildError::Vlan(*vid));
        }
        check("vlan name", name.len(), 0, 32)?;
        let mut v = OUI_IEEE_8021.to_be_bytes()[1..].to_vec();
        v.push(3);
        v.extend_from_slice(&vid.to_be_bytes());
        v.push(name.len() as u8); // <= 32, checked above
        v.extend_from_slice(name.as_bytes());
        push(&mut out, tlv_type::ORG, &v);
    }
    push(&mut out, tlv_type::END, &[]);
    Ok(out)
}

fn check(field: &'static str, len: usize, min: usize, max: usize) -> Result<(), BuildError> {
    if (min..=max).contains(&len) {
        Ok(())
    } else {
        Err(BuildError::Length { field, len, max })
    }
}

/// Appends one TLV; `value` is at most 511 bytes (every caller checks).
fn push(out: &mut Vec<u8>, kind: u8, value: &[u8]) {
    let len = value.len().min(511);
    out.push((kind << 1) | ((len >> 8) as u8 & 1));
    out.push((len & 0xff) as u8);
    out.extend_from_slice(&value[..len]);
}
