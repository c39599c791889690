//! Where a network sits and how its addresses are source-routed: the one
//! policy the planner (static addresses) and the DHCP client (leased ones)
//! both follow, so a lease lands in the same table and rules a static
//! address of the same network would.
//!
//! Pure: functions of a network's attributes or one address.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::config::{NetAttrs, SwitchType};

/// Priority of the source-routing rules, as VDSM uses.
pub const RULE_PRIORITY: u32 = 32000;

/// Where one network sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetPlace {
    /// The nic or bond under it.
    pub base: Option<String>,
    /// The device under the network: the VLAN device when tagged, else the base.
    pub southbound: Option<String>,
    /// The device that carries the IP config: the bridge, or the southbound.
    pub northbound: Option<String>,
}

/// The VLAN device name VDSM uses: `<base>.<id>`.
pub fn vlan_name(base: &str, id: u16) -> String {
    format!("{base}.{id}")
}

/// Where a network sits, from its attributes alone.
pub fn place(name: &str, a: &NetAttrs) -> NetPlace {
    let base = a.base().map(str::to_string);
    let southbound = match (&base, a.vlan) {
        (Some(b), Some(v)) => Some(vlan_name(b, v)),
        (b, _) => b.clone(),
    };
    // An OVS network's IP config is on its internal port, bridged or not.
    let northbound = if a.bridged || a.switch == SwitchType::Ovs {
        Some(name.to_string())
    } else {
        southbound.clone()
    };
    NetPlace {
        base,
        southbound,
        northbound,
    }
}

/// The source-routing table of an IPv4 address: the address as a 32-bit
/// number, as VDSM numbers it (stable across restarts and unique per
/// address); `None` for 0 and 253..=255, the kernel's own tables.
pub fn table_v4(ip: Ipv4Addr) -> Option<u32> {
    let t = u32::from(ip);
    (t != 0 && !(253..=255).contains(&t)).then_some(t)
}

/// The source-routing table of an IPv6 address: its low 32 bits, moved
/// off the kernel's own table numbers (0, 253..=255) by the top bit.
pub fn table_v6(ip: Ipv6Addr) -> u32 {
    let o = ip.octets();
    let low = u32::from_be_bytes([o[12], o[13], o[14], o[15]]);
    if low == 0 || (253..=255).contains(&low) {
        low | 0x8000_0000
    } else {
        low
    }
}

/// The source-routing table of a network with a static IPv4 address and
/// a gateway.
pub fn table_of(a: &NetAttrs) -> Option<u32> {
    a.gateway?;
    table_v4(a.ipaddr?)
}

/// The source-routing table of a network's IPv6 side (it has an IPv6
/// gateway): its IPv4 table when it has one, else its static IPv6
/// address's.
pub fn table6_of(a: &NetAttrs) -> Option<u32> {
    a.ipv6gateway?;
    if let Some(t) = table_of(a) {
        return Some(t);
    }
    let (ip, _) = a.ipv6()?;
    Some(table_v6(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_avoid_the_kernels_own() {
        assert_eq!(table_v4(Ipv4Addr::new(192, 0, 2, 10)), Some(3_221_225_994));
        assert_eq!(table_v4(Ipv4Addr::new(0, 0, 0, 254)), None);
        assert_eq!(table_v6("fd78::1a2".parse().unwrap()), 0x1a2);
        assert_eq!(table_v6("fd78::fe".parse().unwrap()), 0x8000_00fe);
        assert_eq!(table_v6("fd78::".parse().unwrap()), 0x8000_0000);
    }

    #[test]
    fn a_network_without_a_gateway_gets_no_table() {
        let mut a = NetAttrs {
            ipaddr: Some(Ipv4Addr::new(192, 0, 2, 10)),
            ..Default::default()
        };
        assert_eq!(table_of(&a), None);
        a.gateway = Some(Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(table_of(&a), Some(3_221_225_994));
        assert_eq!(table6_of(&a), None);
    }
}
