//! rtnetlink messages as bytes: the dump requests every reader sends, the
//! stripped copy of a message live netinfo keeps, and the identities
//! (address key, route slot and key, rule key) it files them under.
//!
//! Live netinfo keeps each link, address, route and rule as the payload
//! bytes of its last message, cut down to the attributes the state is built
//! from, and builds the state with the same byte readers as the snapshot:
//! one parser per attribute for both paths.

use std::hash::{Hash, Hasher};
use std::net::IpAddr;

use netswitch_netlink::attr::{push, Attrs};

use crate::names;
use crate::patch::AddrKey;
use crate::wire;

pub(crate) const RTM_NEWLINK: u16 = 16;
pub(crate) const RTM_DELLINK: u16 = 17;
pub(crate) const RTM_GETLINK: u16 = 18;
pub(crate) const RTM_NEWADDR: u16 = 20;
pub(crate) const RTM_DELADDR: u16 = 21;
pub(crate) const RTM_GETADDR: u16 = 22;
pub(crate) const RTM_NEWROUTE: u16 = 24;
pub(crate) const RTM_DELROUTE: u16 = 25;
pub(crate) const RTM_GETROUTE: u16 = 26;
pub(crate) const RTM_NEWRULE: u16 = 32;
pub(crate) const RTM_DELRULE: u16 = 33;
pub(crate) const RTM_GETRULE: u16 = 34;
pub(crate) const AF_INET: u8 = 2;
pub(crate) const AF_INET6: u8 = 10;
/// `AF_BRIDGE`: the bridge module's port views on the link group.
pub(crate) const AF_BRIDGE: u8 = 7;
/// `sizeof` of `ifinfomsg`, `ifaddrmsg`, `rtmsg` (and `fib_rule_hdr`).
pub(crate) const IFINFOMSG_LEN: usize = 16;
pub(crate) const IFADDRMSG_LEN: usize = 8;
pub(crate) const RTMSG_LEN: usize = 12;
const IFLA_EXT_MASK: u16 = 29;
const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;
/// `RTM_F_CLONED`: a route cache entry, not a route.
const RTM_F_CLONED: u32 = 0x200;
const IFF_UP: u32 = 1;

/// `RTM_GETLINK` body: an all-zero `ifinfomsg` (every family) and
/// `IFLA_EXT_MASK` with `RTEXT_FILTER_SKIP_STATS`: the kernel then leaves
/// out the per-family and VF statistics (`IFLA_STATS64` comes regardless).
pub(crate) fn link_request() -> Vec<u8> {
    let mut b = vec![0u8; IFINFOMSG_LEN];
    push(
        &mut b,
        IFLA_EXT_MASK,
        &RTEXT_FILTER_SKIP_STATS.to_ne_bytes(),
    );
    b
}

/// `RTM_GETLINK` body without the filter: every link with its counters.
pub(crate) fn link_request_with_stats() -> Vec<u8> {
    vec![0u8; IFINFOMSG_LEN]
}

/// `RTM_GETADDR` body: `ifaddrmsg` with `AF_UNSPEC`, every family at once.
pub(crate) fn addr_request() -> Vec<u8> {
    vec![0u8; IFADDRMSG_LEN]
}

/// `RTM_GETROUTE` / `RTM_GETRULE` body of one family, every filter field
/// zero: table `RT_TABLE_UNSPEC` walks all tables (a request naming `main`
/// would, on a strict-checking socket, return only main), and without
/// `RTM_F_CLONED` the route cache stays out.
pub(crate) fn family_request(family: u8) -> Vec<u8> {
    let mut b = vec![0u8; RTMSG_LEN];
    b[0] = family;
    b
}

/// Attributes of a link message the state is built from.
const LINK_KEPT: [u16; 9] = [1, 3, 4, 5, 10, 16, 18, 37, 54];
/// Of `IFLA_LINKINFO`: the kind, the data, the port kind, the port data.
const LINKINFO_KEPT: [u16; 4] = [1, 2, 4, 5];
/// Kinds whose `IFLA_INFO_DATA` is read; the port kind whose
/// `IFLA_INFO_SLAVE_DATA` is.
const DATA_KINDS: [&[u8]; 3] = [b"bond\0", b"bridge\0", b"vlan\0"];
/// `IFA_ADDRESS`, `IFA_LOCAL`, `IFA_CACHEINFO`, `IFA_FLAGS`.
const ADDR_KEPT: [u16; 4] = [1, 2, 6, 8];
/// `RTA_DST`, `RTA_SRC`, `RTA_OIF`, `RTA_GATEWAY`, `RTA_PRIORITY`,
/// `RTA_PREFSRC`, `RTA_MULTIPATH`, `RTA_TABLE`, `RTA_VIA`.
const ROUTE_KEPT: [u16; 9] = [1, 2, 4, 5, 6, 7, 9, 15, 18];

/// The copy of a message's payload live netinfo keeps: its fixed header
/// and only the attributes the state is built from (statistics and the
/// per-family blocks are most of a link notification's bytes). Rules are
/// kept whole.
pub(crate) fn compact(kind: u16, payload: &[u8]) -> Box<[u8]> {
    let (header, keep): (usize, &[u16]) = match kind {
        RTM_NEWLINK | RTM_DELLINK => (IFINFOMSG_LEN, &LINK_KEPT),
        RTM_NEWADDR | RTM_DELADDR => (IFADDRMSG_LEN, &ADDR_KEPT),
        RTM_NEWROUTE | RTM_DELROUTE => (RTMSG_LEN, &ROUTE_KEPT),
        _ => return payload.into(),
    };
    let Some(attrs) = payload.get(header..) else {
        return payload.into();
    };
    let mut out = Vec::with_capacity(payload.len().min(512));
    out.extend_from_slice(&payload[..header]);
    for (t, p) in Attrs::new(attrs).filter(|(t, _)| keep.contains(t)) {
        if t == 18 && header == IFINFOMSG_LEN {
            push(&mut out, t, &compact_linkinfo(p));
        } else {
            push(&mut out, t, p);
        }
    }
    out.into_boxed_slice()
}

/// `IFLA_LINKINFO` with the kind, and the data of bonds, bridges and VLANs
/// and of bond ports (a veth's peer block and a bridge port's thirty
/// options are dropped).
fn compact_linkinfo(info: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut kind: &[u8] = &[];
    let mut port_kind: &[u8] = &[];
    for (t, p) in Attrs::new(info).filter(|(t, _)| LINKINFO_KEPT.contains(t)) {
        let keep = match t {
            1 => {
                kind = p;
                true
            }
            4 => {
                port_kind = p;
                true
            }
            2 => DATA_KINDS.contains(&kind),
            _ => port_kind == b"bond\0",
        };
        if keep {
            push(&mut out, t, p);
        }
    }
    out
}

/// What a link message says about usability, for up/down events.
pub(crate) struct LinkView {
    pub name: Option<String>,
    pub admin_up: bool,
    pub oper: String,
}

impl LinkView {
    /// Up and running (or `unknown`, as virtual devices without carrier
    /// report).
    pub(crate) fn usable(&self) -> bool {
        self.admin_up && matches!(self.oper.as_str(), "up" | "unknown")
    }
}

/// What a link message says about usability: its name, `IFF_UP` and
/// operational state.
pub(crate) fn link_view(m: &[u8]) -> LinkView {
    let mut v = LinkView {
        name: None,
        admin_up: wire::u32_at(m, 8) & IFF_UP != 0,
        oper: "unknown".into(),
    };
    for (t, p) in Attrs::new(m.get(IFINFOMSG_LEN..).unwrap_or_default()) {
        match t {
            3 => v.name = wire::str_of(p).map(str::to_string),
            16 => v.oper = wire::u8_of(p).map_or(v.oper, names::oper_state_code),
            _ => {}
        }
    }
    v
}

/// A link message's family (`AF_BRIDGE` for port views) and ifindex.
pub(crate) fn link_family_index(m: &[u8]) -> (u8, u32) {
    (m.first().copied().unwrap_or_default(), wire::u32_at(m, 4))
}

/// An address message's ifindex.
pub(crate) fn addr_index(m: &[u8]) -> u32 {
    wire::u32_at(m, 4)
}

/// An address message's address (`IFA_LOCAL`, else `IFA_ADDRESS`, as the
/// byte reader takes it) and prefix length.
pub(crate) fn addr_ip(m: &[u8]) -> Option<(IpAddr, u8)> {
    let mut local = None;
    let mut address = None;
    for (t, p) in Attrs::new(m.get(IFADDRMSG_LEN..)?) {
        match t {
            2 => local = wire::ip_of(p).or(local),
            1 => address = wire::ip_of(p).or(address),
            _ => {}
        }
    }
    Some((local.or(address)?, m[1]))
}

/// Address identity: family, link index, address bytes, prefix length.
pub(crate) fn addr_key(m: &[u8]) -> Option<AddrKey> {
    let (ip, prefix) = addr_ip(m)?;
    let bytes = match ip {
        IpAddr::V4(v) => v.to_ipv6_mapped().octets(),
        IpAddr::V6(v) => v.octets(),
    };
    Some((m[0], addr_index(m), bytes, prefix))
}

/// Whether a route message is a route cache entry.
pub(crate) fn route_is_cloned(m: &[u8]) -> bool {
    wire::u32_at(m, 8) & RTM_F_CLONED != 0
}

/// `RTA_OIF`.
pub(crate) fn route_oif(m: &[u8]) -> Option<u32> {
    Attrs::new(m.get(RTMSG_LEN..)?)
        .find_kind(4)
        .and_then(wire::u32_of)
}

/// What the kernel looks a route up by (family, table, destination, tos,
/// priority, source prefix): a replacing route takes this slot over.
pub(crate) fn route_slot(m: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    slot_into(m, &mut h);
    h.finish()
}

fn slot_into(m: &[u8], h: &mut impl Hasher) {
    let Some(header) = m.get(..RTMSG_LEN) else {
        return;
    };
    // family, dst_len, src_len, tos.
    header[..4].hash(h);
    let mut table = u32::from(header[4]);
    let mut parts: [&[u8]; 3] = [&[]; 3];
    for (t, p) in Attrs::new(&m[RTMSG_LEN..]) {
        match t {
            15 => table = wire::u32_of(p).unwrap_or(table),
            1 => parts[0] = p,
            2 => parts[1] = p,
            6 => parts[2] = p,
            _ => {}
        }
    }
    table.hash(h);
    parts.hash(h);
}

/// A route's identity: its slot plus type, output link and next hops, so
/// routes appended to one slot stay apart.
pub(crate) fn route_key(m: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    slot_into(m, &mut h);
    m.get(7).hash(&mut h);
    let mut parts: [&[u8]; 4] = [&[]; 4];
    for (t, p) in Attrs::new(m.get(RTMSG_LEN..).unwrap_or_default()) {
        match t {
            4 => parts[0] = p,
            5 => parts[1] = p,
            18 => parts[2] = p,
            9 => parts[3] = p,
            _ => {}
        }
    }
    parts.hash(&mut h);
    h.finish()
}

/// A rule's identity: all of it.
pub(crate) fn rule_key(m: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    m.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(name: &str, kind: &[u8], data: &[u8], stats: bool) -> Vec<u8> {
        let mut m = vec![0u8; IFINFOMSG_LEN];
        m[4..8].copy_from_slice(&7u32.to_ne_bytes());
        m[8..12].copy_from_slice(&IFF_UP.to_ne_bytes());
        let mut n = name.as_bytes().to_vec();
        n.push(0);
        push(&mut m, 3, &n);
        push(&mut m, 16, &[6]);
        if stats {
            push(&mut m, 23, &[0; 192]);
        }
        let mut info = Vec::new();
        push(&mut info, 1, kind);
        push(&mut info, 2, data);
        push(&mut m, 18, &info);
        m
    }

    #[test]
    fn a_kept_link_drops_statistics_and_the_data_of_kinds_not_read() {
        let bond = link("bond0", b"bond\0", &[8, 0, 1, 0, 4, 0, 0, 0], true);
        let kept = compact(RTM_NEWLINK, &bond);
        assert!(kept.len() < bond.len() - 190);
        assert_eq!(compact(RTM_NEWLINK, &kept), kept, "compacting twice");
        let info = Attrs::new(&kept[IFINFOMSG_LEN..]).find_kind(18).unwrap();
        assert_eq!(Attrs::new(info).count(), 2, "bond data kept");
        let veth = compact(
            RTM_NEWLINK,
            &link("v", b"veth\0", &[8, 0, 1, 0, 4, 0, 0, 0], false),
        );
        let info = Attrs::new(&veth[IFINFOMSG_LEN..]).find_kind(18).unwrap();
        assert_eq!(Attrs::new(info).count(), 1, "veth peer data dropped");
        let v = link_view(&veth);
        assert_eq!(
            (v.name.as_deref(), v.admin_up, v.usable()),
            (Some("v"), true, true)
        );
        assert_eq!(link_family_index(&veth), (0, 7));
    }

    #[test]
    fn routes_of_one_slot_with_other_gateways_have_other_keys() {
        let route = |gw: [u8; 4]| {
            let mut m = family_request(AF_INET);
            m[1] = 24;
            push(&mut m, 1, &[10, 0, 0, 0]);
            push(&mut m, 5, &gw);
            push(&mut m, 4, &3u32.to_ne_bytes());
            m
        };
        let (a, b) = (route([10, 0, 0, 1]), route([10, 0, 0, 2]));
        assert_eq!(route_slot(&a), route_slot(&b));
        assert_ne!(route_key(&a), route_key(&b));
        assert_eq!(route_key(&a), route_key(&compact(RTM_NEWROUTE, &a)));
        assert_eq!(route_oif(&a), Some(3));
        assert!(!route_is_cloned(&a));
    }
}
