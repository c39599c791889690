//! Route and rule messages to [`Route`]s and [`Rule`]s.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use netswitch_model::host::{Route, Rule};

use crate::{names, wire};

/// `sizeof(struct rtmsg)` and `sizeof(struct fib_rule_hdr)`.
const RTMSG_LEN: usize = 12;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_PREFSRC: u16 = 7;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;
const RTA_VIA: u16 = 18;
const FRA_DST: u16 = 1;
const FRA_SRC: u16 = 2;
const FRA_IIFNAME: u16 = 3;
const FRA_PRIORITY: u16 = 6;
const FRA_TABLE: u16 = 15;
const FRA_OIFNAME: u16 = 17;

/// An address of the route's own family (4 bytes for IPv4, 16 for IPv6).
fn ip_in(family: u8, p: &[u8]) -> Option<IpAddr> {
    match (family, p.len()) {
        (AF_INET, 4) | (AF_INET6, 16) => wire::ip_of(p),
        _ => None,
    }
}

/// `RTA_VIA` (`struct rtvia`: a 16-bit family, then the address).
fn via_bytes(p: &[u8]) -> Option<IpAddr> {
    let family = p.get(..2).and_then(wire::u16_of)?;
    ip_in(family as u8, &p[2..])
}

/// A route read from its bytes whose output link is still an ifindex:
/// the route dumps can run before (or beside) the link dump that names it.
pub(crate) struct RawRoute {
    route: Route,
    oif: Option<u32>,
}

impl RawRoute {
    /// The route with its output link named;
    /// `None` (and a debug event) for a link the link dump did not have.
    pub(crate) fn resolve(self, names: &HashMap<u32, String>) -> Option<Route> {
        let mut route = self.route;
        if let Some(index) = self.oif {
            match names.get(&index) {
                Some(name) => route.oif = Some(name.clone()),
                None => {
                    tracing::debug!(index, dst = %route.dst, "route through a link not in the link dump; skipped");
                    return None;
                }
            }
        }
        Some(route)
    }
}

/// Reads one route from the bytes of an `RTM_NEWROUTE` message, but for
/// the output link's name (see [`RawRoute::resolve`]); `None` for families
/// other than IPv4/IPv6. A multipath route is reported by its first next
/// hop (the model has one gateway per route).
pub(crate) fn read_route_bytes(msg: &[u8]) -> Option<RawRoute> {
    if msg.len() < RTMSG_LEN {
        return None;
    }
    let family = msg[0];
    let dst_len = msg[1];
    let mut table = u32::from(msg[4]);
    let mut dst = None;
    let mut gateway = None;
    let mut oif = None;
    let mut prefsrc = None;
    let mut metric = None;
    for (t, p) in wire::Attrs::new(&msg[RTMSG_LEN..]) {
        match t {
            // RTA_TABLE carries ids above 255, which the header cannot.
            RTA_TABLE => table = wire::u32_of(p).unwrap_or(table),
            RTA_DST => dst = ip_in(family, p),
            RTA_GATEWAY => gateway = ip_in(family, p),
            RTA_VIA => gateway = gateway.or_else(|| via_bytes(p)),
            RTA_OIF => oif = wire::u32_of(p).or(oif),
            RTA_PREFSRC => prefsrc = ip_in(family, p),
            RTA_PRIORITY => metric = wire::u32_of(p).or(metric),
            // The first `struct rtnexthop` (len, flags, hops, ifindex) and
            // its attributes.
            RTA_MULTIPATH if p.len() >= 8 => {
                let len = usize::from(wire::u16_of(&p[..2]).unwrap_or_default());
                if (8..=p.len()).contains(&len) {
                    oif = oif.or(Some(wire::u32_at(p, 4)));
                    gateway = gateway.or_else(|| {
                        wire::Attrs::new(&p[8..len]).find_map(|(t, a)| match t {
                            RTA_GATEWAY => ip_in(family, a),
                            RTA_VIA => via_bytes(a),
                            _ => None,
                        })
                    });
                }
            }
            _ => {}
        }
    }
    let dst = match (dst, family) {
        (Some(d), _) => d,
        (None, AF_INET) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (None, AF_INET6) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => return None,
    };
    let Ok(dst) = IpNet::new(dst, dst_len) else {
        tracing::debug!(%dst, len = dst_len, "route with an impossible prefix; skipped");
        return None;
    };
    Some(RawRoute {
        route: Route {
            table,
            dst,
            gateway,
            oif: None,
            prefsrc,
            metric,
            protocol: names::route_protocol(msg[5]),
            scope: names::route_scope(msg[6]),
            kind: names::route_kind(msg[7]),
        },
        oif: oif.filter(|i| *i != 0),
    })
}

/// Reads one rule from the bytes of an `RTM_NEWRULE` message; `None` for
/// families other than IPv4/IPv6. The kernel leaves `FRA_PRIORITY` out
/// for priority 0 (the `local` rule); every kernel rule has a priority, so
/// a missing one is reported as 0.
pub(crate) fn build_rule_bytes(msg: &[u8]) -> Option<Rule> {
    if msg.len() < RTMSG_LEN {
        return None;
    }
    let family = match msg[0] {
        AF_INET => 4,
        AF_INET6 => 6,
        _ => return None,
    };
    let (dst_len, src_len) = (msg[1], msg[2]);
    let mut rule = Rule {
        family,
        priority: Some(0),
        table: u32::from(msg[4]),
        src: None,
        dst: None,
        iif: None,
        oif: None,
    };
    for (t, p) in wire::Attrs::new(&msg[RTMSG_LEN..]) {
        match t {
            FRA_PRIORITY => rule.priority = wire::u32_of(p).or(rule.priority),
            FRA_TABLE => rule.table = wire::u32_of(p).unwrap_or(rule.table),
            FRA_SRC => rule.src = wire::ip_of(p).and_then(|a| IpNet::new(a, src_len).ok()),
            FRA_DST => rule.dst = wire::ip_of(p).and_then(|a| IpNet::new(a, dst_len).ok()),
            FRA_IIFNAME => rule.iif = wire::str_of(p).map(str::to_string),
            FRA_OIFNAME => rule.oif = wire::str_of(p).map(str::to_string),
            _ => {}
        }
    }
    Some(rule)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::route::{
        RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType, RouteVia,
    };
    use netlink_packet_route::rule::{RuleAttribute, RuleMessage};
    use netlink_packet_route::AddressFamily;

    /// The wire form of `m` (netlink-packet-route only encodes it here).
    fn bytes<M: netlink_packet_core::Emitable>(m: &M) -> Vec<u8> {
        let mut b = vec![0; m.buffer_len()];
        m.emit(&mut b);
        b
    }

    fn build_route(m: &RouteMessage, names: &HashMap<u32, String>) -> Option<Route> {
        read_route_bytes(&bytes(m))?.resolve(names)
    }

    fn build_rule(m: &RuleMessage) -> Option<Rule> {
        build_rule_bytes(&bytes(m))
    }

    #[test]
    fn gateways_next_hops_tables_and_rule_selectors_are_read() {
        use netlink_packet_route::route::RouteNextHop;
        let names = HashMap::from([(3, "veth_a".to_string()), (4, "br0".to_string())]);
        let route = |family, table, attrs: Vec<RouteAttribute>| {
            let mut m = RouteMessage::default();
            m.header.address_family = family;
            m.header.destination_prefix_length = if family == AddressFamily::Inet {
                24
            } else {
                64
            };
            m.header.table = table;
            m.header.protocol = RouteProtocol::Static;
            m.header.scope = RouteScope::Link;
            m.header.kind = RouteType::Unicast;
            m.attributes = attrs;
            m
        };
        let hop = |index, gw: RouteAttribute| {
            let mut h = RouteNextHop::default();
            h.interface_index = index;
            h.attributes = vec![gw];
            h
        };
        let v4 = |s: &str| RouteAddress::Inet(s.parse().unwrap());
        let v6 = |s: &str| RouteAddress::Inet6(s.parse().unwrap());
        let routes = [
            route(
                AddressFamily::Inet,
                254,
                vec![
                    RouteAttribute::Table(254),
                    RouteAttribute::Destination(v4("10.1.0.0")),
                    RouteAttribute::Oif(3),
                    RouteAttribute::Gateway(v4("10.1.0.254")),
                    RouteAttribute::PrefSource(v4("10.1.0.1")),
                    RouteAttribute::Priority(100),
                ],
            ),
            route(
                AddressFamily::Inet,
                252,
                vec![
                    RouteAttribute::Table(1000),
                    RouteAttribute::MultiPath(vec![
                        hop(4, RouteAttribute::Gateway(v4("10.2.0.1"))),
                        hop(3, RouteAttribute::Gateway(v4("10.3.0.1"))),
                    ]),
                ],
            ),
            route(
                AddressFamily::Inet,
                254,
                vec![
                    RouteAttribute::Oif(3),
                    RouteAttribute::Via(RouteVia::Inet6("fe80::1".parse().unwrap())),
                ],
            ),
            route(
                AddressFamily::Inet6,
                255,
                vec![
                    RouteAttribute::Destination(v6("fd00:1::")),
                    RouteAttribute::Oif(4),
                    RouteAttribute::Gateway(v6("fd00:1::fe")),
                ],
            ),
            // Through a link the link dump did not have: skipped by both.
            route(AddressFamily::Inet6, 254, vec![RouteAttribute::Oif(99)]),
        ];
        let got: Vec<Option<String>> = routes
            .iter()
            .map(|m| {
                build_route(m, &names).map(|r| {
                    format!(
                        "{} {} via {:?} dev {:?} src {:?} metric {:?}",
                        r.table, r.dst, r.gateway, r.oif, r.prefsrc, r.metric
                    )
                })
            })
            .collect();
        let want = [
            Some(
                r#"254 10.1.0.0/24 via Some(10.1.0.254) dev Some("veth_a") src Some(10.1.0.1) metric Some(100)"#,
            ),
            Some(r#"1000 0.0.0.0/24 via Some(10.2.0.1) dev Some("br0") src None metric None"#),
            Some(r#"254 0.0.0.0/24 via Some(fe80::1) dev Some("veth_a") src None metric None"#),
            Some(r#"255 fd00:1::/64 via Some(fd00:1::fe) dev Some("br0") src None metric None"#),
            None,
        ];
        assert_eq!(got, want.map(|w| w.map(str::to_string)));

        let mut rule = RuleMessage::default();
        rule.header.family = AddressFamily::Inet6;
        rule.header.table = 252;
        rule.header.src_len = 64;
        rule.header.dst_len = 48;
        rule.attributes = vec![
            RuleAttribute::Priority(300),
            RuleAttribute::Table(1000),
            RuleAttribute::Source("fd00:1::".parse().unwrap()),
            RuleAttribute::Destination("fd00:2::".parse().unwrap()),
            RuleAttribute::Iifname("veth_a".into()),
            RuleAttribute::Oifname("br0".into()),
        ];
        let r = build_rule(&rule).unwrap();
        assert_eq!((r.family, r.priority, r.table), (6, Some(300), 1000));
        assert_eq!(r.src.map(|n| n.to_string()).as_deref(), Some("fd00:1::/64"));
        assert_eq!(r.dst.map(|n| n.to_string()).as_deref(), Some("fd00:2::/48"));
        assert_eq!(
            (r.iif.as_deref(), r.oif.as_deref()),
            (Some("veth_a"), Some("br0"))
        );
        rule.attributes.clear();
        let r = build_rule(&rule).unwrap();
        assert_eq!((r.priority, r.table, r.src), (Some(0), 252, None));
    }

    #[test]
    fn rta_table_wins_over_the_header_and_a_missing_dst_is_default() {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet6;
        m.header.table = 252; // RT_TABLE_COMPAT, as the kernel sends for ids > 255
        m.header.protocol = RouteProtocol::Static;
        m.header.scope = RouteScope::Universe;
        m.header.kind = RouteType::Unicast;
        m.attributes = vec![
            RouteAttribute::Table(1000),
            RouteAttribute::Oif(3),
            RouteAttribute::Gateway(RouteAddress::Inet6("fd00::1".parse().unwrap())),
            RouteAttribute::Priority(1024),
        ];
        let names = HashMap::from([(3, "veth_a".to_string())]);
        let r = build_route(&m, &names).unwrap();
        assert_eq!(r.table, 1000);
        assert_eq!(r.dst.to_string(), "::/0");
        assert!(r.is_default());
        assert_eq!(r.oif.as_deref(), Some("veth_a"));
        assert_eq!(r.metric, Some(1024));
        assert_eq!(
            (r.protocol.as_str(), r.scope.as_str(), r.kind.as_str()),
            ("static", "universe", "unicast")
        );
    }

    #[test]
    fn a_rule_without_priority_is_the_priority_0_rule() {
        let mut m = RuleMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.table = 255;
        m.header.src_len = 24;
        m.attributes = vec![RuleAttribute::Source("10.1.0.0".parse().unwrap())];
        let r = build_rule(&m).unwrap();
        assert_eq!(r.priority, Some(0));
        assert_eq!(r.table, 255);
        assert_eq!(r.src.map(|n| n.to_string()).as_deref(), Some("10.1.0.0/24"));
    }
}
