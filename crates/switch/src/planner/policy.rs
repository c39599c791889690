//! Source-routing policy: which table a network's addresses route through
//! and the priority of its rules.

use netswitch_model::config::NetAttrs;

/// Priority of the source-routing rules, as VDSM uses.
pub const RULE_PRIORITY: u32 = 32000;

/// The source-routing table of a network with a static IPv4 address: the
/// address as a 32-bit number, as VDSM numbers it (stable across restarts
/// and unique per address).
pub fn table_of(a: &NetAttrs) -> Option<u32> {
    let ip = a.ipaddr?;
    a.gateway?;
    let t = u32::from(ip);
    // 0 and 253..=255 are the kernel's own tables; no host address maps there.
    (t != 0 && !(253..=255).contains(&t)).then_some(t)
}

/// The source-routing table of a network's IPv6 side: its IPv4 table when
/// it has one, else the low 32 bits of its static IPv6 address (moved off
/// the kernel's own table numbers).
pub fn table6_of(a: &NetAttrs) -> Option<u32> {
    a.ipv6gateway?;
    if let Some(t) = table_of(a) {
        return Some(t);
    }
    let (ip, _) = a.ipv6()?;
    let low = u32::from_be_bytes(ip.octets()[12..16].try_into().ok()?);
    Some(if low == 0 || (253..=255).contains(&low) {
        low | 0x8000_0000
    } else {
        low
    })
}
