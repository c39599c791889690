//! The loose value forms VDSM accepts (`"yes"`, `"1500"`, dashed MACs),
//! read into canonical ones.

use std::net::Ipv4Addr;

use serde_json::Value;

/// VDSM's bool-ish forms: true/false, yes/no, on/off, 1/0, as booleans,
/// numbers or strings (any case).
pub fn boolish(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_u64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Some(true),
            "false" | "no" | "off" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A non-negative whole number given as a number or a string of digits.
pub fn uint(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => {
            let s = s.trim();
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse().ok()
            } else {
                None
            }
        }
        _ => None,
    }
}

pub(crate) fn describe(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 40 {
        let cut: String = text.chars().take(40).collect();
        format!("{cut}...")
    } else {
        text
    }
}

/// A MAC address in lower-case colon form, from colon or dash form.
pub fn canonical_mac(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6
        || parts
            .iter()
            .any(|p| p.len() != 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return None;
    }
    Some(parts.join(":").to_ascii_lowercase())
}

/// `mac` (canonical) if a device may carry it: the kernel refuses a
/// multicast or all-zero address (`EADDRNOTAVAIL`).
pub(crate) fn unicast_mac(mac: String) -> Result<String, String> {
    let first = u8::from_str_radix(&mac[..2], 16).unwrap_or(1);
    if first & 1 == 1 {
        return Err(format!("{mac} is a multicast address"));
    }
    if mac == "00:00:00:00:00:00" {
        return Err(format!("{mac} is not an address a device may carry"));
    }
    Ok(mac)
}

/// The netmask of a prefix length (0..=32).
pub fn prefix_to_netmask(prefix: u8) -> Ipv4Addr {
    let bits = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    };
    Ipv4Addr::from(bits)
}

/// The prefix length of a contiguous netmask.
pub fn netmask_to_prefix(mask: Ipv4Addr) -> Option<u8> {
    let bits = u32::from(mask);
    let ones = bits.leading_ones();
    if bits.checked_shl(ones).unwrap_or(0) == 0 {
        Some(ones as u8)
    } else {
        None
    }
}
