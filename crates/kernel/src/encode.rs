//! Plan ops to netlink request messages, one message per op, all encoded
//! before anything is sent.
//!
//! Every message asks for an ack (`NLM_F_REQUEST | NLM_F_ACK`); creations
//! add `NLM_F_CREATE | NLM_F_EXCL`, so adding what exists already is an
//! error (`EEXIST`) rather than a silent success. Links are named by index
//! (see [`crate::devices`]); a link the plan creates asks for its index.

use std::net::IpAddr;
use std::ops::Range;

use ipnet::IpNet;
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVlan, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netswitch_model::host::HostState;
use netswitch_model::plan::{KernelOp, RouteSpec, RuleSpec};

use crate::bond::Bonds;
use crate::bridge;
use crate::devices::Devices;

/// Why an op cannot be encoded: the plan itself is wrong for this host
/// (a device that does not exist, an option that does not parse). Carries
/// the errno the kernel would have given for the same mistake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EncodeError {
    pub errno: i32,
    pub message: String,
}

impl EncodeError {
    pub(crate) fn no_device(message: String) -> Self {
        Self {
            errno: libc::ENODEV,
            message,
        }
    }

    pub(crate) fn invalid(message: String) -> Self {
        Self {
            errno: libc::EINVAL,
            message,
        }
    }
}

/// A whole plan as netlink messages: one buffer, one message per op.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// The messages back to back, each padded to 4 bytes as netlink wants.
    pub bytes: Vec<u8>,
    /// Where op `i`'s message lies in `bytes`; its sequence number is
    /// `first_seq + i`.
    pub spans: Vec<Range<usize>>,
    pub first_seq: u32,
}

/// Encodes every op; the first one that cannot be encoded stops it, with
/// its index.
pub(crate) fn encode_plan(
    host: &HostState,
    ops: &[KernelOp],
    first_seq: u32,
) -> Result<Batch, (usize, EncodeError)> {
    let mut enc = Encoder {
        devices: Devices::new(host),
        bonds: Bonds::new(host),
    };
    let mut batch = Batch {
        bytes: Vec::with_capacity(ops.len() * 64),
        spans: Vec::with_capacity(ops.len()),
        first_seq,
    };
    for (i, op) in ops.iter().enumerate() {
        let (msg, flags) = enc.op(op).map_err(|e| (i, e))?;
        let seq = first_seq.wrapping_add(i as u32);
        let start = batch.bytes.len();
        append(&mut batch.bytes, msg, flags, seq);
        batch.spans.push(start..batch.bytes.len());
    }
    Ok(batch)
}

/// Serialises one request at the end of `buf`.
fn append(buf: &mut Vec<u8>, msg: RouteNetlinkMessage, flags: u16, seq: u32) {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    header.sequence_number = seq;
    let mut nl = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
    nl.finalize();
    let len = nl.buffer_len();
    let start = buf.len();
    // Netlink messages start on 4-byte boundaries.
    buf.resize(start + len.next_multiple_of(4), 0);
    nl.serialize(&mut buf[start..start + len]);
}

const CREATE: u16 = NLM_F_CREATE | NLM_F_EXCL;

struct Encoder {
    devices: Devices,
    bonds: Bonds,
}

impl Encoder {
    /// One op's message and its extra header flags.
    fn op(&mut self, op: &KernelOp) -> Result<(RouteNetlinkMessage, u16), EncodeError> {
        let d = &mut self.devices;
        Ok(match op {
            KernelOp::CreateBridge {
                name,
                mtu,
                stp,
                options,
            } => {
                let data = bridge::attributes(name, *stp, options)?;
                let index = d.create(name);
                let mut attrs = vec![LinkAttribute::IfName(name.clone())];
                if *mtu != 0 {
                    attrs.push(LinkAttribute::Mtu(*mtu));
                }
                attrs.push(link_info(InfoKind::Bridge, InfoData::Bridge(data)));
                (new_link(index, attrs), CREATE)
            }
            KernelOp::CreateBond {
                name,
                options,
                hwaddr,
            } => {
                let data = self.bonds.create(name, options, d)?;
                let mut attrs = vec![LinkAttribute::IfName(name.clone())];
                if let Some(mac) = hwaddr {
                    attrs.push(LinkAttribute::Address(mac_attr(name, mac)?));
                }
                attrs.push(link_info(InfoKind::Bond, InfoData::Bond(data)));
                let index = d.create(name);
                (new_link(index, attrs), CREATE)
            }
            KernelOp::CreateVlan {
                name,
                parent,
                id,
                mtu,
            } => {
                if *id > 4094 {
                    return Err(EncodeError::invalid(format!(
                        "vlan {name}: id {id} is outside 0..4094"
                    )));
                }
                let parent = d.get(parent)?;
                let index = d.create(name);
                let mut attrs = vec![
                    LinkAttribute::IfName(name.clone()),
                    LinkAttribute::Link(parent),
                ];
                if *mtu != 0 {
                    attrs.push(LinkAttribute::Mtu(*mtu));
                }
                attrs.push(link_info(
                    InfoKind::Vlan,
                    InfoData::Vlan(vec![InfoVlan::Id(*id)]),
                ));
                (new_link(index, attrs), CREATE)
            }
            KernelOp::DeleteLink { name } => {
                let index = d.delete(name)?;
                self.bonds.forget(name);
                let mut msg = LinkMessage::default();
                msg.header.index = index;
                (RouteNetlinkMessage::DelLink(msg), 0)
            }
            KernelOp::SetMaster { link, master } => {
                let master = d.get(master)?;
                (
                    new_link(d.get(link)?, vec![LinkAttribute::Controller(master)]),
                    0,
                )
            }
            KernelOp::ReleaseMaster { link } => (
                new_link(d.get(link)?, vec![LinkAttribute::Controller(0)]),
                0,
            ),
            KernelOp::SetMtu { link, mtu } => {
                (new_link(d.get(link)?, vec![LinkAttribute::Mtu(*mtu)]), 0)
            }
            KernelOp::SetUp { link } => (set_up(d.get(link)?, true), 0),
            KernelOp::SetDown { link } => (set_up(d.get(link)?, false), 0),
            KernelOp::SetBridgeOptions { name, stp, options } => {
                let data = bridge::attributes(name, *stp, options)?;
                (
                    new_link(
                        d.get(name)?,
                        vec![link_info(InfoKind::Bridge, InfoData::Bridge(data))],
                    ),
                    0,
                )
            }
            KernelOp::SetBondOptions { name, options } => {
                let index = d.get(name)?;
                let data = self.bonds.change(name, options, d)?;
                (
                    new_link(index, vec![link_info(InfoKind::Bond, InfoData::Bond(data))]),
                    0,
                )
            }
            KernelOp::SetMac { link, mac } => (
                new_link(
                    d.get(link)?,
                    vec![LinkAttribute::Address(mac_attr(link, mac)?)],
                ),
                0,
            ),
            KernelOp::AddAddr { link, addr } => (
                RouteNetlinkMessage::NewAddress(address(d.get(link)?, addr, true)),
                CREATE,
            ),
            KernelOp::DelAddr { link, addr } => (
                RouteNetlinkMessage::DelAddress(address(d.get(link)?, addr, false)),
                0,
            ),
            KernelOp::AddRoute(spec) => (
                RouteNetlinkMessage::NewRoute(route(spec, d.get(&spec.dev)?, true)?),
                CREATE,
            ),
            KernelOp::DelRoute(spec) => (
                RouteNetlinkMessage::DelRoute(route(spec, d.get(&spec.dev)?, false)?),
                0,
            ),
            KernelOp::AddRule(spec) => {
                if let Some(iif) = &spec.iif {
                    d.get(iif)?;
                }
                (RouteNetlinkMessage::NewRule(rule(spec)?), CREATE)
            }
            // A rule outlives the device its `iif` names, so removing one
            // whose device is gone must work: the name is not checked.
            KernelOp::DelRule(spec) => (RouteNetlinkMessage::DelRule(rule(spec)?), 0),
        })
    }
}

fn link_info(kind: InfoKind, data: InfoData) -> LinkAttribute {
    LinkAttribute::LinkInfo(vec![LinkInfo::Kind(kind), LinkInfo::Data(data)])
}

/// `RTM_NEWLINK` on link `index` (created or changed, by the flags).
fn new_link(index: u32, attributes: Vec<LinkAttribute>) -> RouteNetlinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.attributes = attributes;
    RouteNetlinkMessage::NewLink(msg)
}

fn set_up(index: u32, up: bool) -> RouteNetlinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.header.change_mask = LinkFlags::Up;
    if up {
        msg.header.flags = LinkFlags::Up;
    }
    RouteNetlinkMessage::NewLink(msg)
}

/// Parses `aa:bb:cc:dd:ee:ff` (either case).
pub(crate) fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut out {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 2 {
            return None;
        }
        *byte = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn mac_attr(link: &str, mac: &str) -> Result<Vec<u8>, EncodeError> {
    parse_mac(mac)
        .map(|m| m.to_vec())
        .ok_or_else(|| EncodeError::invalid(format!("{link}: {mac:?} is not a MAC address")))
}

fn family(ip: &IpAddr) -> AddressFamily {
    match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

/// `RTM_NEWADDR`/`RTM_DELADDR`: `IFA_LOCAL` and `IFA_ADDRESS` both the
/// address (no peer), as `ip address add` sends them; an IPv4 address of a
/// prefix up to /30 also gets its subnet's broadcast address, as
/// `ip address add ... brd +` and NetworkManager give it.
fn address(index: u32, addr: &IpNet, add: bool) -> AddressMessage {
    let mut msg = AddressMessage::default();
    let ip = addr.addr();
    msg.header.family = family(&ip);
    msg.header.prefix_len = addr.prefix_len();
    msg.header.index = index;
    msg.header.scope = if ip.is_loopback() {
        AddressScope::Host
    } else {
        AddressScope::Universe
    };
    msg.attributes.push(AddressAttribute::Local(ip));
    msg.attributes.push(AddressAttribute::Address(ip));
    if let IpNet::V4(net) = addr {
        if add && net.prefix_len() <= 30 {
            msg.attributes
                .push(AddressAttribute::Broadcast(net.broadcast()));
        }
    }
    msg
}

fn route_address(ip: IpAddr) -> RouteAddress {
    match ip {
        IpAddr::V4(a) => RouteAddress::Inet(a),
        IpAddr::V6(a) => RouteAddress::Inet6(a),
    }
}

/// The 8-bit header field of a table: the id itself when it fits, else
/// `RT_TABLE_UNSPEC` and the id in the 32-bit attribute only.
fn table_header(table: u32) -> u8 {
    u8::try_from(table).unwrap_or(RouteHeader::RT_TABLE_UNSPEC)
}

/// `RTM_NEWROUTE`/`RTM_DELROUTE` through link `oif`.
///
/// Adds are `proto static`, `type unicast`, in the spec's scope. A delete,
/// like `ip route del`, leaves protocol, type and scope open (unspec, unspec,
/// `RT_SCOPE_NOWHERE`), so it matches the route however it was added, and
/// narrows by table, destination, gateway, device and source.
fn route(spec: &RouteSpec, oif: u32, add: bool) -> Result<RouteMessage, EncodeError> {
    let dst = spec.dst.addr();
    let same_family = |what: &str, ip: &IpAddr| {
        if ip.is_ipv4() == dst.is_ipv4() {
            Ok(())
        } else {
            Err(EncodeError::invalid(format!(
                "route {spec}: {what} {ip} is not of the destination's family"
            )))
        }
    };
    let mut msg = RouteMessage::default();
    msg.header.address_family = family(&dst);
    msg.header.destination_prefix_length = spec.dst.prefix_len();
    msg.header.table = table_header(spec.table);
    if add {
        msg.header.protocol = RouteProtocol::Static;
        msg.header.kind = RouteType::Unicast;
        msg.header.scope = match spec.scope.as_str() {
            "universe" | "global" => RouteScope::Universe,
            "site" => RouteScope::Site,
            "link" => RouteScope::Link,
            "host" => RouteScope::Host,
            other => {
                return Err(EncodeError::invalid(format!(
                    "route {spec}: unknown scope {other:?} (universe, site, link, host)"
                )))
            }
        };
    } else {
        msg.header.protocol = RouteProtocol::Unspec;
        msg.header.kind = RouteType::Unspec;
        msg.header.scope = RouteScope::NoWhere;
    }
    msg.attributes.push(RouteAttribute::Table(spec.table));
    if spec.dst.prefix_len() > 0 {
        msg.attributes
            .push(RouteAttribute::Destination(route_address(dst)));
    }
    if let Some(gw) = spec.gateway {
        same_family("gateway", &gw)?;
        msg.attributes
            .push(RouteAttribute::Gateway(route_address(gw)));
    }
    msg.attributes.push(RouteAttribute::Oif(oif));
    if let Some(src) = spec.prefsrc {
        same_family("source", &src)?;
        msg.attributes
            .push(RouteAttribute::PrefSource(route_address(src)));
    }
    Ok(msg)
}

/// `RTM_NEWRULE`/`RTM_DELRULE`: `lookup <table>` for the prefixes given;
/// the family is theirs (IPv4 when neither is given).
fn rule(spec: &RuleSpec) -> Result<RuleMessage, EncodeError> {
    let fam = match (&spec.src, &spec.dst) {
        (Some(s), Some(d)) if s.addr().is_ipv4() != d.addr().is_ipv4() => {
            return Err(EncodeError::invalid(format!(
                "rule {spec}: source and destination are of different families"
            )))
        }
        (Some(n), _) | (_, Some(n)) => family(&n.addr()),
        (None, None) => AddressFamily::Inet,
    };
    let mut msg = RuleMessage::default();
    msg.header.family = fam;
    msg.header.table = table_header(spec.table);
    msg.header.action = RuleAction::ToTable;
    msg.attributes.push(RuleAttribute::Priority(spec.priority));
    msg.attributes.push(RuleAttribute::Table(spec.table));
    if let Some(src) = &spec.src {
        msg.header.src_len = src.prefix_len();
        msg.attributes.push(RuleAttribute::Source(src.addr()));
    }
    if let Some(dst) = &spec.dst {
        msg.header.dst_len = dst.prefix_len();
        msg.attributes.push(RuleAttribute::Destination(dst.addr()));
    }
    if let Some(iif) = &spec.iif {
        msg.attributes.push(RuleAttribute::Iifname(iif.clone()));
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::NLM_F_EXCL;
    use netswitch_model::host::{Link, LinkKind};
    use std::collections::BTreeMap;

    fn host() -> HostState {
        let mut h = HostState::default();
        for (i, n) in [(1, "lo"), (2, "veth_a0"), (4, "veth_b0")] {
            h.links
                .insert(n.to_string(), Link::new(i, n, LinkKind::Veth));
        }
        h
    }

    /// Decodes a batch back into messages.
    fn decode(batch: &Batch) -> Vec<NetlinkMessage<RouteNetlinkMessage>> {
        batch
            .spans
            .iter()
            .map(|s| NetlinkMessage::deserialize(&batch.bytes[s.clone()]).unwrap())
            .collect()
    }

    fn inner(m: &NetlinkMessage<RouteNetlinkMessage>) -> &RouteNetlinkMessage {
        match &m.payload {
            NetlinkPayload::InnerMessage(i) => i,
            other => panic!("not a request: {other:?}"),
        }
    }

    #[test]
    fn links_created_in_the_plan_get_indexes_that_later_ops_use() {
        let ops = vec![
            KernelOp::CreateBridge {
                name: "br0".into(),
                mtu: 9000,
                stp: true,
                options: BTreeMap::new(),
            },
            KernelOp::CreateVlan {
                name: "veth_a0.10".into(),
                parent: "veth_a0".into(),
                id: 10,
                mtu: 1500,
            },
            KernelOp::SetMaster {
                link: "veth_a0.10".into(),
                master: "br0".into(),
            },
        ];
        let batch = encode_plan(&host(), &ops, 100).unwrap();
        let msgs = decode(&batch);
        assert_eq!(msgs.len(), 3);
        assert_eq!(
            msgs.iter()
                .map(|m| m.header.sequence_number)
                .collect::<Vec<_>>(),
            vec![100, 101, 102]
        );
        let RouteNetlinkMessage::NewLink(br) = inner(&msgs[0]) else {
            panic!()
        };
        assert_eq!(br.header.index, 5);
        assert_ne!(msgs[0].header.flags & NLM_F_EXCL, 0);
        let RouteNetlinkMessage::NewLink(vlan) = inner(&msgs[1]) else {
            panic!()
        };
        assert_eq!(vlan.header.index, 6);
        assert!(vlan.attributes.contains(&LinkAttribute::Link(2)));
        let RouteNetlinkMessage::NewLink(port) = inner(&msgs[2]) else {
            panic!()
        };
        assert_eq!(port.header.index, 6);
        assert_eq!(port.attributes, vec![LinkAttribute::Controller(5)]);
        assert_eq!(msgs[2].header.flags, NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(batch.bytes.len() % 4, 0);
    }

    #[test]
    fn a_table_above_255_goes_in_the_attribute_only() {
        let spec = RouteSpec {
            table: 3221225994,
            dst: "198.51.100.0/24".parse().unwrap(),
            gateway: None,
            dev: "veth_a0".into(),
            prefsrc: Some("198.51.100.10".parse().unwrap()),
            scope: "link".into(),
        };
        let m = route(&spec, 2, true).unwrap();
        assert_eq!(m.header.table, RouteHeader::RT_TABLE_UNSPEC);
        assert_eq!(m.header.scope, RouteScope::Link);
        assert!(m.attributes.contains(&RouteAttribute::Table(3221225994)));
        let main = RouteSpec {
            table: 254,
            ..spec.clone()
        };
        assert_eq!(route(&main, 2, true).unwrap().header.table, 254);
        let del = route(&spec, 2, false).unwrap();
        assert_eq!(del.header.scope, RouteScope::NoWhere);
        assert_eq!(del.header.protocol, RouteProtocol::Unspec);

        let r = rule(&RuleSpec {
            priority: 32000,
            table: 3221225994,
            src: None,
            dst: Some("2001:db8::/64".parse().unwrap()),
            iif: Some("veth_a0".into()),
        })
        .unwrap();
        assert_eq!(r.header.family, AddressFamily::Inet6);
        assert_eq!(r.header.table, 0);
        assert_eq!(r.header.dst_len, 64);
        assert!(r.attributes.contains(&RuleAttribute::Table(3221225994)));
    }

    #[test]
    fn an_op_naming_an_unknown_device_stops_encoding_at_its_index() {
        let ops = vec![
            KernelOp::SetUp {
                link: "veth_a0".into(),
            },
            KernelOp::DeleteLink {
                name: "veth_b0".into(),
            },
            KernelOp::SetUp {
                link: "veth_b0".into(),
            },
        ];
        let (i, e) = encode_plan(&host(), &ops, 1).unwrap_err();
        assert_eq!(i, 2);
        assert_eq!(e.errno, libc::ENODEV);
        assert!(e.message.contains("veth_b0"), "{}", e.message);
    }

    #[test]
    fn gateways_of_the_wrong_family_and_bad_macs_are_refused() {
        let spec = RouteSpec {
            table: 254,
            dst: "::/0".parse().unwrap(),
            gateway: Some("192.0.2.1".parse().unwrap()),
            dev: "veth_a0".into(),
            prefsrc: None,
            scope: "universe".into(),
        };
        assert!(route(&spec, 2, true).is_err());
        assert_eq!(parse_mac("02:00:00:00:00:AA"), Some([2, 0, 0, 0, 0, 0xaa]));
        assert_eq!(parse_mac("02:00:00:00:00"), None);
        assert_eq!(parse_mac("02:00:00:00:00:00:00"), None);
        assert_eq!(parse_mac("02:00:00:00:00:zz"), None);
    }
}
