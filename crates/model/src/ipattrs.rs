//! A network's IP attributes: IPv4 and IPv6 addresses, gateways and name
//! servers, read from a request and checked as far as the kernel would
//! check them when applied (a gateway must be reachable on the network's
//! own subnet), so a bad one fails at parse time, `--dry-run` included,
//! not half way through an apply.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value};

use crate::config::{BootProto, NetAttrs};
use crate::error::{Code, RequestError};
use crate::parse::{describe, netmask_to_prefix, prefix_to_netmask, uint};

pub(crate) fn parse_ipv4(
    a: &mut NetAttrs,
    m: &Map<String, Value>,
    name: &str,
) -> Result<(), RequestError> {
    let bad = |attr: &str, why: String| RequestError::net(Code::BadAddr, name, Some(attr), why);
    let addr_of = |key: &str| -> Result<Option<Ipv4Addr>, RequestError> {
        match m.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => s
                .trim()
                .parse::<Ipv4Addr>()
                .map(Some)
                .map_err(|_| bad(key, format!("{s:?} is not an IPv4 address"))),
            Some(v) => Err(bad(key, format!("{} is not an IPv4 address", describe(v)))),
        }
    };
    a.bootproto = match m.get("bootproto") {
        None | Some(Value::Null) => BootProto::None,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("none") || s.is_empty() => BootProto::None,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("dhcp") => BootProto::Dhcp,
        Some(v) => {
            return Err(RequestError::net(
                Code::BadParams,
                name,
                Some("bootproto"),
                format!("{} is neither dhcp nor none", describe(v)),
            ))
        }
    };
    a.ipaddr = addr_of("ipaddr")?;
    let netmask = addr_of("netmask")?;
    let prefix = match m.get("prefix") {
        None | Some(Value::Null) => None,
        Some(v) => Some(uint(v).filter(|p| (1..=32).contains(p)).ok_or_else(|| {
            bad(
                "prefix",
                format!("{} is not a prefix length in 1..32", describe(v)),
            )
        })? as u8),
    };
    a.gateway = addr_of("gateway")?;
    if netmask.is_some() && prefix.is_some() {
        return Err(RequestError::net(
            Code::BadParams,
            name,
            Some("prefix"),
            "give netmask or prefix, not both",
        ));
    }
    if let Some(mask) = netmask {
        if netmask_to_prefix(mask).is_none_or(|p| p == 0) {
            return Err(bad(
                "netmask",
                format!("{mask} is not a contiguous netmask"),
            ));
        }
    }
    a.netmask = netmask.or(prefix.map(prefix_to_netmask));
    match (a.ipaddr, a.netmask) {
        (Some(ip), Some(_)) => {
            if ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() || ip.is_loopback() {
                return Err(bad("ipaddr", format!("{ip} cannot be a host address")));
            }
        }
        (Some(_), None) => return Err(bad("netmask", "ipaddr needs a netmask or prefix".into())),
        (None, Some(_)) => return Err(bad("ipaddr", "a netmask or prefix needs an ipaddr".into())),
        (None, None) => {}
    }
    if let Some(gw) = a.gateway {
        if a.ipaddr.is_none() {
            return Err(bad("gateway", "a gateway needs a static ipaddr".into()));
        }
        if gw.is_unspecified() || gw.is_multicast() || gw.is_broadcast() {
            return Err(bad("gateway", format!("{gw} cannot be a gateway")));
        }
        if let (Some(ip), Some(mask)) = (a.ipaddr, a.netmask) {
            check_gateway_v4(ip, mask, gw).map_err(|why| bad("gateway", why))?;
        }
    }
    if a.bootproto == BootProto::Dhcp && a.ipaddr.is_some() {
        return Err(bad(
            "ipaddr",
            "bootproto dhcp and a static ipaddr exclude each other".into(),
        ));
    }
    Ok(())
}

pub(crate) fn parse_ipv6(
    a: &mut NetAttrs,
    m: &Map<String, Value>,
    name: &str,
    flag: &dyn Fn(&str, bool) -> Result<bool, RequestError>,
) -> Result<(), RequestError> {
    let bad = |attr: &str, why: String| RequestError::net(Code::BadAddr, name, Some(attr), why);
    a.dhcpv6 = flag("dhcpv6", false)?;
    a.ipv6autoconf = flag("ipv6autoconf", false)?;
    match m.get("ipv6addr") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.is_empty() => {}
        Some(Value::String(s)) => {
            let (addr, prefix) = match s.trim().split_once('/') {
                Some((a, p)) => (a, Some(p)),
                None => (s.trim(), None),
            };
            let ip: Ipv6Addr = addr
                .parse()
                .map_err(|_| bad("ipv6addr", format!("{s:?} is not an IPv6 address")))?;
            let prefix: u8 = match prefix {
                None => 128,
                Some(p) => p
                    .parse::<u8>()
                    .ok()
                    .filter(|p| (1..=128).contains(p))
                    .ok_or_else(|| bad("ipv6addr", format!("{s:?}: prefix is not in 1..128")))?,
            };
            if ip.is_unspecified() || ip.is_multicast() || ip.is_loopback() {
                return Err(bad("ipv6addr", format!("{ip} cannot be a host address")));
            }
            a.ipv6addr = Some(format!("{ip}/{prefix}"));
        }
        Some(v) => {
            return Err(bad(
                "ipv6addr",
                format!("{} is not an IPv6 address", describe(v)),
            ))
        }
    }
    match m.get("ipv6gateway") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.is_empty() || s == "::" => {}
        Some(Value::String(s)) => {
            let gw: Ipv6Addr = s
                .trim()
                .parse()
                .map_err(|_| bad("ipv6gateway", format!("{s:?} is not an IPv6 address")))?;
            if gw.is_multicast() {
                return Err(bad("ipv6gateway", format!("{gw} cannot be a gateway")));
            }
            a.ipv6gateway = Some(gw);
        }
        Some(v) => {
            return Err(bad(
                "ipv6gateway",
                format!("{} is not an IPv6 address", describe(v)),
            ))
        }
    }
    if let (Some(gw), Some(addr)) = (a.ipv6gateway, a.ipv6addr.as_deref()) {
        // With autoconf or DHCPv6 a router may announce the gateway's
        // prefix as on-link later; only a static address alone is judged.
        if !a.dhcpv6 && !a.ipv6autoconf {
            check_gateway_v6(addr, gw).map_err(|why| bad("ipv6gateway", why))?;
        }
    }
    if a.ipv6gateway.is_some() && a.ipv6addr.is_none() && !a.dhcpv6 && !a.ipv6autoconf {
        return Err(bad(
            "ipv6gateway",
            "an IPv6 gateway needs ipv6addr, dhcpv6 or ipv6autoconf".into(),
        ));
    }
    Ok(())
}

pub(crate) fn parse_nameservers(
    m: &Map<String, Value>,
    name: &str,
) -> Result<Vec<IpAddr>, RequestError> {
    let bad = |why: String| RequestError::net(Code::BadAddr, name, Some("nameservers"), why);
    match m.get("nameservers") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => {
            let mut out: Vec<IpAddr> = Vec::new();
            let mut seen = std::collections::HashSet::new();
            for item in items {
                let Value::String(s) = item else {
                    return Err(bad(format!("{} is not an IP address", describe(item))));
                };
                let ip: IpAddr = s
                    .trim()
                    .parse()
                    .map_err(|_| bad(format!("{s:?} is not an IP address")))?;
                if seen.insert(ip) {
                    out.push(ip);
                }
            }
            Ok(out)
        }
        Some(v) => Err(RequestError::net(
            Code::BadParams,
            name,
            Some("nameservers"),
            format!("{} is not a list of addresses", describe(v)),
        )),
    }
}

/// A gateway the kernel can route through from `ip`/`mask` alone: a host
/// of that subnet other than `ip` itself (the kernel refuses a nexthop
/// that is a local address, and one it cannot reach on a connected
/// subnet: netswitch adds gateways without `onlink`).
fn check_gateway_v4(ip: Ipv4Addr, mask: Ipv4Addr, gw: Ipv4Addr) -> Result<(), String> {
    let prefix = netmask_to_prefix(mask).unwrap_or(32);
    let (m, net) = (u32::from(mask), u32::from(ip) & u32::from(mask));
    if u32::from(gw) & m != net {
        return Err(format!(
            "{gw} is outside the network's subnet {}/{prefix}",
            Ipv4Addr::from(net)
        ));
    }
    if gw == ip {
        return Err(format!("{gw} is the network's own address"));
    }
    // On /31 and /32 every address is a host; below, the first and last
    // of the subnet are its network and broadcast addresses.
    if prefix <= 30 && (u32::from(gw) == net || u32::from(gw) == net | !m) {
        return Err(format!(
            "{gw} is the network or broadcast address of {}/{prefix}",
            Ipv4Addr::from(net)
        ));
    }
    Ok(())
}

/// An IPv6 gateway reachable from the static address `addr` (`ip/prefix`):
/// link-local, or on the address's prefix and not the address itself.
fn check_gateway_v6(addr: &str, gw: Ipv6Addr) -> Result<(), String> {
    let Some((ip, prefix)) = addr.split_once('/') else {
        return Ok(());
    };
    let (Ok(ip), Ok(prefix)) = (ip.parse::<Ipv6Addr>(), prefix.parse::<u32>()) else {
        return Ok(());
    };
    if gw == ip {
        return Err(format!("{gw} is the network's own address"));
    }
    if gw.is_unicast_link_local() {
        return Ok(());
    }
    let mask = u128::MAX.checked_shl(128 - prefix.min(128)).unwrap_or(0);
    if u128::from(gw) & mask != u128::from(ip) & mask {
        return Err(format!(
            "{gw} is neither link-local nor on the network's prefix {}/{prefix}",
            Ipv6Addr::from(u128::from(ip) & mask)
        ));
    }
    Ok(())
}
