//! Link messages to [`Link`]s: kind, master, addresses, state, and the
//! bond, bridge and VLAN details, with every index resolved to a name once
//! the whole dump is in.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use netswitch_model::host::{
    BondInfo, BondSlaveInfo, BridgeInfo, Link, LinkKind, ParentDevice, VlanInfo,
};

use crate::{names, wire};

/// One link message read on its own, before names are known.
pub(crate) struct RawLink {
    link: Link,
    /// `IFLA_MASTER`.
    master: Option<u32>,
    /// `IFLA_LINK`: a VLAN's parent (or a veth's peer).
    parent: Option<u32>,
    /// `IFLA_LINK_NETNSID` present: `parent` indexes another namespace.
    parent_elsewhere: bool,
    vlan_id: Option<u16>,
    bond: Option<RawBond>,
}

/// Bond attributes whose values are link indexes, kept until names are known.
struct RawBond {
    options: BTreeMap<String, String>,
    active: Option<u32>,
    primary: Option<u32>,
}

/// Links from their parsed messages (in ifindex order), with the names
/// that other links' indexes stand for filled in. Live netinfo keeps the
/// parsed messages of links that did not change, so only this part costs
/// something on every rebuild.
pub(crate) fn assemble<'a>(
    raws: impl Iterator<Item = &'a RawLink> + Clone,
    speed: impl Fn(&str) -> Option<u32>,
) -> BTreeMap<String, Link> {
    assemble_by(raws, |link| speed(&link.name))
}

/// [`assemble`] with the speed looked up by the whole link (the snapshot
/// has speeds by ifindex, not by name).
pub(crate) fn assemble_by<'a>(
    raws: impl Iterator<Item = &'a RawLink> + Clone,
    speed: impl Fn(&Link) -> Option<u32>,
) -> BTreeMap<String, Link> {
    let names: HashMap<u32, &str> = raws
        .clone()
        .map(|r| (r.link.index, r.link.name.as_str()))
        .collect();
    let name_of = |index: u32| names.get(&index).map(|n| n.to_string());
    let links: Vec<Link> = raws.map(|raw| resolve(raw, &name_of, &speed)).collect();

    // Slaves and ports come from the other side: each link names its master.
    // The dump is in ifindex order, so they are too.
    let mut by_name: BTreeMap<String, Link> = BTreeMap::new();
    let mut members: HashMap<String, Vec<String>> = HashMap::new();
    for link in &links {
        if let Some(master) = &link.master {
            members
                .entry(master.clone())
                .or_default()
                .push(link.name.clone());
        }
    }
    for mut link in links {
        if let Some(list) = members.remove(&link.name) {
            if let Some(bond) = link.bond.as_mut() {
                bond.slaves = list;
            } else if let Some(bridge) = link.bridge.as_mut() {
                bridge.ports = list;
            }
        }
        by_name.insert(link.name.clone(), link);
    }
    by_name
}

/// One link with the indexes it refers to (master, VLAN parent, a bond's
/// primary and active slave) named through `name_of`; its own ports or
/// slaves are left empty, since they come from the other links.
pub(crate) fn resolve(
    raw: &RawLink,
    name_of: &dyn Fn(u32) -> Option<String>,
    speed: &dyn Fn(&Link) -> Option<u32>,
) -> Link {
    let mut link = raw.link.clone();
    link.master = raw.master.and_then(name_of);
    if let Some(id) = raw.vlan_id {
        let parent = match raw.parent {
            Some(index) if !raw.parent_elsewhere => {
                name_of(index).unwrap_or_else(|| format!("if{index}"))
            }
            // A parent in another namespace has no name here; `ip`
            // shows it the same way.
            Some(index) => format!("if{index}"),
            None => String::new(),
        };
        link.vlan = Some(VlanInfo { id, parent });
    }
    if let Some(bond) = &raw.bond {
        let mut options = bond.options.clone();
        let primary = bond.primary.and_then(name_of).unwrap_or_default();
        options.insert("primary".into(), primary);
        link.bond = Some(BondInfo {
            options,
            slaves: Vec::new(),
            active_slave: bond.active.and_then(name_of),
        });
    }
    if has_speed(&link.kind) {
        link.speed = speed(&link);
    }
    link
}

/// Whether a link of this kind gets its speed read: devices and veths, the
/// kinds that stand for nics.
pub(crate) fn has_speed(kind: &LinkKind) -> bool {
    matches!(kind, LinkKind::Device | LinkKind::Veth)
}

impl RawLink {
    /// The link's ifindex.
    pub(crate) fn index(&self) -> u32 {
        self.link.index
    }

    /// The link's name.
    pub(crate) fn name(&self) -> &str {
        &self.link.name
    }

    /// The link's kind.
    pub(crate) fn kind(&self) -> &LinkKind {
        &self.link.kind
    }
}

/// Index to name, for the address and route dumps.
pub(crate) fn index_names(links: &BTreeMap<String, Link>) -> HashMap<u32, String> {
    links.values().map(|l| (l.index, l.name.clone())).collect()
}

/// `0`/`1`, as sysfs prints a boolean.
fn flag(b: bool) -> String {
    u8::from(b).to_string()
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{item}");
    }
    out
}

// ---------------------------------------------------------------------------
// The one link reader, straight from the bytes of an `RTM_NEWLINK` message
// (the payload after `nlmsghdr`), for the snapshot and live netinfo alike.
// Values take the text forms sysfs prints (`tests/snapshot_matches_ip.rs`
// and `tests/lab_bond_vlan.rs` hold them to `ip` and sysfs).

/// `IFF_UP` from `<linux/if.h>`.
const IFF_UP: u32 = 1;
/// `sizeof(struct ifinfomsg)`.
const IFINFOMSG_LEN: usize = 16;
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_LINK: u16 = 5;
const IFLA_MASTER: u16 = 10;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_LINKINFO: u16 = 18;
const IFLA_LINK_NETNSID: u16 = 37;
const IFLA_PERM_ADDRESS: u16 = 54;
const IFLA_PARENT_DEV_NAME: u16 = 56;
const IFLA_PARENT_DEV_BUS_NAME: u16 = 57;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const IFLA_INFO_SLAVE_KIND: u16 = 4;
const IFLA_INFO_SLAVE_DATA: u16 = 5;
const IFLA_VLAN_ID: u16 = 1;
const IFLA_BOND_SLAVE_PERM_HWADDR: u16 = 4;

/// Reads one link message from its bytes; `None` when it carries no name
/// (or is too short to be one).
pub(crate) fn read_link_bytes(msg: &[u8]) -> Option<RawLink> {
    if msg.len() < IFINFOMSG_LEN {
        return None;
    }
    let index = wire::u32_at(msg, 4);
    let flags = wire::u32_at(msg, 8);
    let mut name = None;
    let mut kind: Option<&str> = None;
    let mut mtu = 0;
    let mut mac = None;
    let mut perm_mac = None;
    let mut oper_state = None;
    let mut master = None;
    let mut parent = None;
    let mut parent_elsewhere = false;
    let mut vlan_id = None;
    let mut bond = None;
    let mut bridge = None;
    let mut bond_slave = None;
    let (mut dev_bus, mut dev_name) = (None, None);

    for (t, p) in wire::Attrs::new(&msg[IFINFOMSG_LEN..]) {
        match t {
            IFLA_IFNAME => name = wire::str_of(p),
            IFLA_MTU => mtu = wire::u32_of(p).unwrap_or(mtu),
            IFLA_ADDRESS => mac = names::mac(p),
            IFLA_PERM_ADDRESS => perm_mac = names::mac(p),
            IFLA_OPERSTATE => oper_state = wire::u8_of(p).or(oper_state),
            IFLA_MASTER => master = wire::u32_of(p).or(master),
            IFLA_LINK => parent = wire::u32_of(p).or(parent),
            IFLA_LINK_NETNSID => parent_elsewhere = true,
            IFLA_PARENT_DEV_BUS_NAME => dev_bus = wire::str_of(p),
            IFLA_PARENT_DEV_NAME => dev_name = wire::str_of(p),
            IFLA_LINKINFO => {
                // The data is read the way the kind before it says, as the
                // kernel sends the kind first.
                let mut slave_kind = None;
                for (t, p) in wire::Attrs::new(p) {
                    match t {
                        IFLA_INFO_KIND => kind = wire::str_of(p),
                        IFLA_INFO_DATA => match kind {
                            Some("bond") => bond = Some(read_bond_bytes(p)),
                            Some("bridge") => bridge = Some(read_bridge_bytes(p)),
                            Some("vlan") => {
                                vlan_id = wire::Attrs::new(p)
                                    .find(|(t, _)| *t == IFLA_VLAN_ID)
                                    .and_then(|(_, p)| wire::u16_of(p))
                            }
                            _ => {}
                        },
                        IFLA_INFO_SLAVE_KIND => {
                            slave_kind = wire::str_of(p);
                            if slave_kind == Some("bond") {
                                bond_slave.get_or_insert(BondSlaveInfo { perm_mac: None });
                            }
                        }
                        IFLA_INFO_SLAVE_DATA if slave_kind == Some("bond") => {
                            let perm = wire::Attrs::new(p)
                                .find(|(t, _)| *t == IFLA_BOND_SLAVE_PERM_HWADDR)
                                .and_then(|(_, p)| names::mac(p));
                            bond_slave = Some(BondSlaveInfo { perm_mac: perm });
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    let Some(name) = name else {
        tracing::debug!(index, "link message without a name; skipped");
        return None;
    };
    let kind = LinkKind::from_kernel(kind);
    let vlan_id = vlan_id.filter(|_| kind == LinkKind::Vlan);
    let link = Link {
        index,
        name: name.to_string(),
        kind,
        master: None,
        mtu,
        mac,
        perm_mac,
        admin_up: flags & IFF_UP != 0,
        oper_state: oper_state.map_or_else(|| "unknown".to_string(), names::oper_state_code),
        speed: None,
        vlan: None,
        bond: None,
        bridge: bridge.map(|(stp, options)| BridgeInfo {
            stp,
            options: options.into(),
            ports: Vec::new(),
        }),
        bond_slave,
        parent_device: dev_bus.zip(dev_name).map(|(bus, name)| ParentDevice {
            bus: bus.to_string(),
            name: name.to_string(),
        }),
    };
    Some(RawLink {
        link,
        master,
        parent,
        parent_elsewhere,
        vlan_id,
        bond,
    })
}

/// A list nest (`IFLA_BOND_ARP_IP_TARGET`, `IFLA_BOND_NS_IP6_TARGET`):
/// the addresses of `len` bytes, comma-separated.
fn join_ips(nest: &[u8], len: usize) -> String {
    let ips: Vec<std::net::IpAddr> = wire::Attrs::new(nest)
        .filter(|(_, p)| p.len() == len)
        .filter_map(|(_, p)| wire::ip_of(p))
        .collect();
    join(&ips)
}

/// Bond options from the bytes of `IFLA_INFO_DATA`, by sysfs name in the
/// canonical form of [`BondInfo::options`]: enums by number, booleans
/// `0`/`1`, lists comma-separated. The kernel leaves out `arp_ip_target`
/// and `primary` when empty; they are filled in empty (here and in
/// [`resolve`]) so every bond has them, as sysfs does. `ns_ip6_target`
/// appears only when set, since older kernels have no such option.
fn read_bond_bytes(data: &[u8]) -> RawBond {
    let mut o = BTreeMap::new();
    let mut active = None;
    let mut primary = None;
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            o.insert(k.to_string(), v);
        }
    };
    let n8 = |p: &[u8]| wire::u8_of(p).map(|v| v.to_string());
    let n16 = |p: &[u8]| wire::u16_of(p).map(|v| v.to_string());
    let n32 = |p: &[u8]| wire::u32_of(p).map(|v| v.to_string());
    let b8 = |p: &[u8]| wire::u8_of(p).map(|v| flag(v > 0));
    for (t, p) in wire::Attrs::new(data) {
        match t {
            1 => put("mode", n8(p)),
            2 => active = wire::u32_of(p).or(active),
            3 => put("miimon", n32(p)),
            4 => put("updelay", n32(p)),
            5 => put("downdelay", n32(p)),
            6 => put("use_carrier", b8(p)),
            7 => put("arp_interval", n32(p)),
            8 => put("arp_ip_target", Some(join_ips(p, 4))),
            9 => put("arp_validate", n32(p)),
            10 => put("arp_all_targets", n32(p)),
            11 => primary = wire::u32_of(p).or(primary),
            12 => put("primary_reselect", n8(p)),
            13 => put("fail_over_mac", n8(p)),
            14 => put("xmit_hash_policy", n8(p)),
            15 => put("resend_igmp", n32(p)),
            16 => {
                // One kernel parameter behind two sysfs files.
                put("num_grat_arp", n8(p));
                put("num_unsol_na", n8(p));
            }
            17 => put("all_slaves_active", n8(p)),
            18 => put("min_links", n32(p)),
            19 => put("lp_interval", n32(p)),
            20 => put("packets_per_slave", n32(p)),
            21 => put("lacp_rate", n8(p)),
            22 => put("ad_select", n8(p)),
            // 23: IFLA_BOND_AD_INFO, LACP runtime state, not an option.
            24 => put("ad_actor_sys_prio", n16(p)),
            25 => put("ad_user_port_key", n16(p)),
            26 if p.len() == 6 => put("ad_actor_system", Some(names::mac(p).unwrap_or_default())),
            27 => put("tlb_dynamic_lb", b8(p)),
            28 => put("peer_notif_delay", n32(p)),
            29 => put("lacp_active", b8(p)),
            30 => put("arp_missed_max", n8(p)),
            31 => put("ns_ip6_target", Some(join_ips(p, 16))),
            32 => put("coupled_control", b8(p)),
            33 => put("broadcast_neighbor", b8(p)),
            _ => {}
        }
    }
    o.entry("arp_ip_target".into()).or_default();
    RawBond {
        options: o,
        active,
        primary,
    }
}

/// A bridge id from its wire form (`struct ifla_bridge_id`: big-endian
/// priority, then the address) as sysfs prints it: `8000.0a1b2c3d4e5f`.
fn bridge_id_bytes(p: &[u8]) -> Option<String> {
    let p: &[u8; 8] = p.get(..8)?.try_into().ok()?;
    let mut out = format!("{:04x}.", u16::from_be_bytes([p[0], p[1]]));
    for b in &p[2..] {
        let _ = write!(out, "{b:02x}");
    }
    Some(out)
}

/// Bridge options from the bytes of `IFLA_INFO_DATA`, by sysfs name,
/// values as sysfs prints them (timers and intervals in clock_t, i.e.
/// centiseconds, in both netlink and sysfs). Returns whether STP is on,
/// and the options.
fn read_bridge_bytes(data: &[u8]) -> (bool, BTreeMap<String, String>) {
    let mut o = BTreeMap::new();
    let mut stp = false;
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            o.insert(k.to_string(), v);
        }
    };
    let n8 = |p: &[u8]| wire::u8_of(p).map(|v| v.to_string());
    let n16 = |p: &[u8]| wire::u16_of(p).map(|v| v.to_string());
    let n32 = |p: &[u8]| wire::u32_of(p).map(|v| v.to_string());
    let n64 = |p: &[u8]| wire::u64_of(p).map(|v| v.to_string());
    let b8 = |p: &[u8]| wire::u8_of(p).map(|v| flag(v > 0));
    for (t, p) in wire::Attrs::new(data) {
        match t {
            1 => put("forward_delay", n32(p)),
            2 => put("hello_time", n32(p)),
            3 => put("max_age", n32(p)),
            4 => put("ageing_time", n32(p)),
            5 => {
                if let Some(n) = wire::u32_of(p) {
                    stp = n != 0;
                    put("stp_state", Some(n.to_string()));
                }
            }
            6 => put("priority", n16(p)),
            7 => put("vlan_filtering", b8(p)),
            8 => put(
                "vlan_protocol",
                p.try_into()
                    .ok()
                    .map(|b: [u8; 2]| format!("{:#06x}", u16::from_be_bytes(b))),
            ),
            9 => put("group_fwd_mask", wire::u16_of(p).map(|v| format!("{v:#x}"))),
            10 => put("root_id", bridge_id_bytes(p)),
            11 => put("bridge_id", bridge_id_bytes(p)),
            12 => put("root_port", n16(p)),
            13 => put("root_path_cost", n32(p)),
            14 => put("topology_change", n8(p)),
            15 => put("topology_change_detected", n8(p)),
            16 => put("hello_timer", n64(p)),
            17 => put("tcn_timer", n64(p)),
            18 => put("topology_change_timer", n64(p)),
            19 => put("gc_timer", n64(p)),
            20 if p.len() == 6 => put("group_addr", Some(names::mac(p).unwrap_or_default())),
            22 => put("multicast_router", n8(p)),
            23 => put("multicast_snooping", b8(p)),
            24 => put("multicast_query_use_ifaddr", b8(p)),
            25 => put("multicast_querier", b8(p)),
            26 => put("hash_elasticity", n32(p)),
            27 => put("hash_max", n32(p)),
            28 => put("multicast_last_member_count", n32(p)),
            29 => put("multicast_startup_query_count", n32(p)),
            30 => put("multicast_last_member_interval", n64(p)),
            31 => put("multicast_membership_interval", n64(p)),
            32 => put("multicast_querier_interval", n64(p)),
            33 => put("multicast_query_interval", n64(p)),
            34 => put("multicast_query_response_interval", n64(p)),
            35 => put("multicast_startup_query_interval", n64(p)),
            36 => put("nf_call_iptables", b8(p)),
            37 => put("nf_call_ip6tables", b8(p)),
            38 => put("nf_call_arptables", b8(p)),
            39 => put("default_pvid", n16(p)),
            41 => put("vlan_stats_enabled", b8(p)),
            42 => put("multicast_stats_enabled", b8(p)),
            43 => put("multicast_igmp_version", n8(p)),
            44 => put("multicast_mld_version", n8(p)),
            45 => put("vlan_stats_per_port", b8(p)),
            // `struct br_boolopt_multi`: value, then mask. Of the boolean
            // options only no_linklocal_learn (bit 0) has a sysfs file.
            46 if p.len() == 8 => {
                let value = wire::u32_at(p, 0);
                let mask = wire::u32_at(p, 4);
                if mask & 1 != 0 {
                    put("no_linklocal_learn", Some(flag(value & 1 != 0)));
                }
            }
            _ => {}
        }
    }
    (stp, o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::link::{
        BondMode, BridgeStpState, InfoKind, InfoPortKind, LinkHeader, State,
    };
    use netlink_packet_route::link::{
        BridgeBooleanOptionFlags, BridgeId, InfoBond, InfoBondPort, InfoBridge, InfoData,
        InfoPortData, InfoVlan, LinkAttribute, LinkInfo, LinkMessage,
    };

    fn msg(index: u32, attrs: Vec<LinkAttribute>) -> LinkMessage {
        let mut m = LinkMessage::default();
        m.header = LinkHeader {
            index,
            ..LinkHeader::default()
        };
        m.attributes = attrs;
        m
    }

    /// A dummy enslaved to bond 10, with `extra` (its own MAC or its
    /// state) before the port data.
    fn bond_slave(index: u32, name: &str, extra: LinkAttribute) -> LinkMessage {
        msg(
            index,
            vec![
                LinkAttribute::IfName(name.into()),
                LinkAttribute::Controller(10),
                extra,
                LinkAttribute::LinkInfo(vec![
                    LinkInfo::Kind(InfoKind::Dummy),
                    LinkInfo::PortKind(InfoPortKind::Bond),
                    LinkInfo::PortData(InfoPortData::BondPort(vec![InfoBondPort::PermHwaddr(
                        vec![2, 0, 0, 0, 0, index as u8],
                    )])),
                ]),
            ],
        )
    }

    /// `bond0.100`, a VLAN on link 10.
    fn vlan_on_bond() -> LinkMessage {
        msg(
            13,
            vec![
                LinkAttribute::IfName("bond0.100".into()),
                LinkAttribute::Link(10),
                LinkAttribute::LinkInfo(vec![
                    LinkInfo::Kind(InfoKind::Vlan),
                    LinkInfo::Data(InfoData::Vlan(vec![InfoVlan::Id(100)])),
                ]),
            ],
        )
    }

    /// The links of `msgs` as the byte reader reads their wire form
    /// (netlink-packet-route only encodes them here).
    fn build_links(
        msgs: &[LinkMessage],
        speed: impl Fn(&str) -> Option<u32>,
    ) -> BTreeMap<String, Link> {
        use netlink_packet_core::Emitable;
        let raws: Vec<RawLink> = msgs
            .iter()
            .filter_map(|m| {
                let mut bytes = vec![0; m.buffer_len()];
                m.emit(&mut bytes);
                read_link_bytes(&bytes)
            })
            .collect();
        assemble(raws.iter(), speed)
    }

    #[test]
    fn every_bond_and_bridge_option_is_read_from_the_wire_form() {
        use std::net::{Ipv4Addr, Ipv6Addr};
        let id = BridgeId {
            priority: 0x1000,
            address: [2, 0, 0, 0, 0, 9],
        };
        let bridge = msg(
            4,
            vec![
                LinkAttribute::IfName("br0".into()),
                LinkAttribute::Mtu(1500),
                LinkAttribute::Address(vec![2, 0, 0, 0, 0, 9]),
                LinkAttribute::OperState(State::Up),
                LinkAttribute::LinkInfo(vec![
                    LinkInfo::Kind(InfoKind::Bridge),
                    LinkInfo::Data(InfoData::Bridge(vec![
                        InfoBridge::ForwardDelay(1500),
                        InfoBridge::HelloTime(200),
                        InfoBridge::MaxAge(2000),
                        InfoBridge::AgeingTime(30000),
                        InfoBridge::StpState(BridgeStpState::KernelStp),
                        InfoBridge::Priority(4096),
                        InfoBridge::VlanFiltering(true),
                        InfoBridge::VlanProtocol(0x88a8u16.into()),
                        InfoBridge::GroupFwdMask(8),
                        InfoBridge::RootId(id.clone()),
                        InfoBridge::BridgeId(id),
                        InfoBridge::RootPort(3),
                        InfoBridge::RootPathCost(100),
                        InfoBridge::TopologyChange(1),
                        InfoBridge::TopologyChangeDetected(0),
                        InfoBridge::HelloTimer(12),
                        InfoBridge::TcnTimer(13),
                        InfoBridge::TopologyChangeTimer(14),
                        InfoBridge::GcTimer(15),
                        InfoBridge::GroupAddr([1, 0x80, 0xc2, 0, 0, 0]),
                        InfoBridge::MulticastRouter(2u8.into()),
                        InfoBridge::MulticastSnooping(true),
                        InfoBridge::MulticastQueryUseIfaddr(false),
                        InfoBridge::MulticastQuerier(true),
                        InfoBridge::MulticastHashElasticity(16),
                        InfoBridge::MulticastHashMax(4096),
                        InfoBridge::MulticastLastMemberCount(2),
                        InfoBridge::MulticastStartupQueryCount(2),
                        InfoBridge::MulticastLastMemberInterval(100),
                        InfoBridge::MulticastMembershipInterval(26000),
                        InfoBridge::MulticastQuerierInterval(25500),
                        InfoBridge::MulticastQueryInterval(12500),
                        InfoBridge::MulticastQueryResponseInterval(1000),
                        InfoBridge::MulticastStartupQueryInterval(3125),
                        InfoBridge::NfCallIpTables(false),
                        InfoBridge::NfCallIp6Tables(true),
                        InfoBridge::NfCallArpTables(false),
                        InfoBridge::VlanDefaultPvid(1),
                        InfoBridge::VlanStatsEnabled(false),
                        InfoBridge::MulticastStatsEnabled(true),
                        InfoBridge::MulticastIgmpVersion(3),
                        InfoBridge::MulticastMldVersion(2),
                        InfoBridge::VlanStatsPerPort(false),
                        InfoBridge::MultiBoolOpt(
                            netlink_packet_route::link::BridgeBooleanOptions {
                                value: BridgeBooleanOptionFlags::NoLinkLocalLearn,
                                mask: BridgeBooleanOptionFlags::all(),
                            },
                        ),
                        InfoBridge::FdbNLearned(5),
                    ])),
                ]),
            ],
        );
        let bond = msg(
            10,
            vec![
                LinkAttribute::IfName("bond0".into()),
                LinkAttribute::Controller(4),
                LinkAttribute::LinkInfo(vec![
                    LinkInfo::Kind(InfoKind::Bond),
                    LinkInfo::Data(InfoData::Bond(vec![
                        InfoBond::Mode(BondMode::ActiveBackup),
                        InfoBond::ActivePort(12),
                        InfoBond::MiiMon(100),
                        InfoBond::UpDelay(200),
                        InfoBond::DownDelay(0),
                        InfoBond::UseCarrier(true),
                        InfoBond::ArpInterval(1000),
                        InfoBond::ArpIpTarget(vec![
                            Ipv4Addr::new(10, 0, 0, 1),
                            Ipv4Addr::new(10, 0, 0, 2),
                        ]),
                        InfoBond::ArpValidate(3u32.into()),
                        InfoBond::ArpAllTargets(1u32.into()),
                        InfoBond::Primary(11),
                        InfoBond::PrimaryReselect(1u8.into()),
                        InfoBond::FailOverMac(2u8.into()),
                        InfoBond::XmitHashPolicy(1u8.into()),
                        InfoBond::ResendIgmp(1),
                        InfoBond::NumPeerNotif(3),
                        InfoBond::AllPortsActive(1u8.into()),
                        InfoBond::MinLinks(1),
                        InfoBond::LpInterval(1),
                        InfoBond::PacketsPerPort(1),
                        InfoBond::AdLacpRate(1u8.into()),
                        InfoBond::AdSelect(2u8.into()),
                        InfoBond::AdActorSysPrio(100),
                        InfoBond::AdUserPortKey(7),
                        InfoBond::AdActorSystem([2, 0, 0, 0, 1, 1]),
                        InfoBond::TlbDynamicLb(true),
                        InfoBond::PeerNotifDelay(0),
                        InfoBond::AdLacpActive(true),
                        InfoBond::MissedMax(2),
                        InfoBond::NsIp6Target(vec![Ipv6Addr::LOCALHOST]),
                        InfoBond::CoupledControl(true),
                        InfoBond::BroadcastNeigh(false),
                        InfoBond::LacpStrict(true),
                    ])),
                ]),
            ],
        );
        let slave = |index: u32, name: &str| {
            bond_slave(
                index,
                name,
                LinkAttribute::PermAddress(vec![2, 0, 0, 0, 0, index as u8]),
            )
        };
        let vlan = vlan_on_bond();
        let elsewhere = msg(
            14,
            vec![
                LinkAttribute::IfName("vlan_x".into()),
                LinkAttribute::Link(77),
                LinkAttribute::LinkNetNsId(1),
                LinkAttribute::LinkInfo(vec![
                    LinkInfo::Kind(InfoKind::Vlan),
                    LinkInfo::Data(InfoData::Vlan(vec![InfoVlan::Id(7)])),
                ]),
            ],
        );
        let nic = msg(
            15,
            vec![
                LinkAttribute::IfName("eth0".into()),
                LinkAttribute::OperState(State::LowerLayerDown),
            ],
        );
        let links = build_links(
            &[
                bridge,
                bond,
                slave(11, "dummy_1"),
                slave(12, "dummy_2"),
                vlan,
                elsewhere,
                nic,
            ],
            |_| Some(1000),
        );
        let br = &links["br0"].bridge.as_ref().unwrap().options;
        assert_eq!(br.len(), 44, "{br:?}");
        for (key, want) in [
            ("forward_delay", "1500"),
            ("stp_state", "1"),
            ("vlan_filtering", "1"),
            ("vlan_protocol", "0x88a8"),
            ("group_fwd_mask", "0x8"),
            ("root_id", "1000.020000000009"),
            ("bridge_id", "1000.020000000009"),
            ("hello_timer", "12"),
            ("group_addr", "01:80:c2:00:00:00"),
            ("multicast_router", "2"),
            ("multicast_membership_interval", "26000"),
            ("nf_call_ip6tables", "1"),
            ("no_linklocal_learn", "1"),
        ] {
            assert_eq!(br[key], want, "bridge {key}");
        }
        let bond = &links["bond0"].bond.as_ref().unwrap().options;
        assert_eq!(bond.len(), 32, "{bond:?}");
        for (key, want) in [
            ("mode", "1"),
            ("arp_ip_target", "10.0.0.1,10.0.0.2"),
            ("ns_ip6_target", "::1"),
            ("arp_validate", "3"),
            ("num_grat_arp", "3"),
            ("num_unsol_na", "3"),
            ("ad_actor_system", "02:00:00:00:01:01"),
            ("ad_actor_sys_prio", "100"),
            ("lacp_active", "1"),
            ("use_carrier", "1"),
            ("broadcast_neighbor", "0"),
            ("primary", "dummy_1"),
        ] {
            assert_eq!(bond[key], want, "bond {key}");
        }
        assert_eq!(links["vlan_x"].vlan.as_ref().unwrap().parent, "if77");
        assert_eq!(links["eth0"].speed, Some(1000));
        assert_eq!(links["eth0"].oper_state, "lowerlayerdown");
    }

    #[test]
    fn bond_slaves_vlan_parent_and_active_slave_are_resolved_to_names() {
        let bond = msg(
            10,
            vec![
                LinkAttribute::IfName("bond0".into()),
                LinkAttribute::LinkInfo(vec![
                    LinkInfo::Kind(InfoKind::Bond),
                    LinkInfo::Data(InfoData::Bond(vec![
                        InfoBond::Mode(BondMode::ActiveBackup),
                        InfoBond::MiiMon(100),
                        InfoBond::ActivePort(12),
                        InfoBond::Primary(11),
                        InfoBond::UseCarrier(true),
                    ])),
                ]),
            ],
        );
        let slave =
            |index: u32, name: &str| bond_slave(index, name, LinkAttribute::OperState(State::Up));
        let vlan = vlan_on_bond();
        let links = build_links(
            &[bond, slave(11, "dummy_1"), slave(12, "dummy_2"), vlan],
            |_| Some(1),
        );
        let b = links["bond0"].bond.as_ref().unwrap();
        assert_eq!(b.slaves, ["dummy_1", "dummy_2"]);
        assert_eq!(b.active_slave.as_deref(), Some("dummy_2"));
        assert_eq!(b.options["mode"], "1");
        assert_eq!(b.options["miimon"], "100");
        assert_eq!(b.options["use_carrier"], "1");
        assert_eq!(b.options["primary"], "dummy_1");
        assert_eq!(b.options["arp_ip_target"], "");
        let s = &links["dummy_2"];
        assert_eq!(s.master.as_deref(), Some("bond0"));
        assert_eq!(s.kind, LinkKind::Dummy);
        assert_eq!(s.speed, None, "speed is read for devices and veths only");
        assert_eq!(
            s.bond_slave.as_ref().unwrap().perm_mac.as_deref(),
            Some("02:00:00:00:00:0c")
        );
        assert_eq!(s.oper_state, "up");
        let v = links["bond0.100"].vlan.as_ref().unwrap();
        assert_eq!((v.id, v.parent.as_str()), (100, "bond0"));
    }

    #[test]
    fn bridge_options_use_sysfs_names_and_formats() {
        let br = msg(
            4,
            vec![
                LinkAttribute::IfName("br0".into()),
                LinkAttribute::LinkInfo(vec![
                    LinkInfo::Kind(InfoKind::Bridge),
                    LinkInfo::Data(InfoData::Bridge(vec![
                        InfoBridge::StpState(BridgeStpState::KernelStp),
                        InfoBridge::ForwardDelay(1500),
                        InfoBridge::GroupFwdMask(0),
                        InfoBridge::VlanProtocol(
                            netlink_packet_route::link::VlanProtocol::Ieee8021Q,
                        ),
                        InfoBridge::BridgeId(BridgeId {
                            priority: 0x8000,
                            address: [0x76, 0xb9, 0x1e, 0x85, 0xf0, 0xa2],
                        }),
                        InfoBridge::MulticastSnooping(true),
                    ])),
                ]),
            ],
        );
        let links = build_links(&[br], |_| None);
        let bridge = links["br0"].bridge.as_ref().unwrap();
        let (stp, o) = (bridge.stp, &bridge.options);
        assert!(stp);
        assert_eq!(o["stp_state"], "1");
        assert_eq!(o["forward_delay"], "1500");
        assert_eq!(o["group_fwd_mask"], "0x0");
        assert_eq!(o["vlan_protocol"], "0x8100");
        assert_eq!(o["bridge_id"], "8000.76b91e85f0a2");
        assert_eq!(o["multicast_snooping"], "1");
    }

    #[test]
    fn a_link_without_a_name_is_skipped() {
        let links = build_links(&[msg(3, vec![LinkAttribute::Mtu(1500)])], |_| None);
        assert!(links.is_empty());
    }
}
