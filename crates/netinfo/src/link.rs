//! Link messages to [`Link`]s: kind, master, addresses, state, and the
//! bond, bridge and VLAN details, with every index resolved to a name once
//! the whole dump is in.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use netlink_packet_route::link::{
    BridgeBooleanOptionFlags, BridgeId, InfoBond, InfoBondPort, InfoBridge, InfoData, InfoPortData,
    InfoPortKind, InfoVlan, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netswitch_model::host::{BondInfo, BondSlaveInfo, BridgeInfo, Link, LinkKind, VlanInfo};

use crate::names;

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

/// Builds every link of a link dump, keyed by name.
///
/// `speed` is asked for devices and veths only (the kinds that stand for
/// nics); it returns `None` when the driver does not know.
pub(crate) fn build_links<'a>(
    msgs: impl IntoIterator<Item = &'a LinkMessage>,
    speed: impl Fn(&str) -> Option<u32>,
) -> BTreeMap<String, Link> {
    let raws: Vec<RawLink> = msgs.into_iter().filter_map(read_link).collect();
    assemble(raws.iter(), speed)
}

/// Links from their parsed messages (in ifindex order), with the names
/// that other links' indexes stand for filled in. Live netinfo keeps the
/// parsed messages of links that did not change, so only this part costs
/// something on every rebuild.
pub(crate) fn assemble<'a>(
    raws: impl Iterator<Item = &'a RawLink> + Clone,
    speed: impl Fn(&str) -> Option<u32>,
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
    speed: &dyn Fn(&str) -> Option<u32>,
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
    if matches!(link.kind, LinkKind::Device | LinkKind::Veth) {
        link.speed = speed(&link.name);
    }
    link
}

/// The name a parsed link message carries.
pub(crate) fn raw_name(raw: &RawLink) -> &str {
    &raw.link.name
}

impl RawLink {
    /// The link's ifindex.
    pub(crate) fn index(&self) -> u32 {
        self.link.index
    }
}

/// Index to name, for the address and route dumps.
pub(crate) fn index_names(links: &BTreeMap<String, Link>) -> HashMap<u32, String> {
    links.values().map(|l| (l.index, l.name.clone())).collect()
}

/// Reads one link message; `None` (and a debug event) when it carries no
/// name, which the kernel never does for a real link.
pub(crate) fn read_link(msg: &LinkMessage) -> Option<RawLink> {
    let mut name = None;
    let mut kind = None;
    let mut mtu = 0;
    let mut mac = None;
    let mut perm_mac = None;
    let mut oper_state = "unknown".to_string();
    let mut master = None;
    let mut parent = None;
    let mut parent_elsewhere = false;
    let mut vlan_id = None;
    let mut bond = None;
    let mut bridge = None;
    let mut bond_slave = None;

    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => name = Some(n.clone()),
            LinkAttribute::Mtu(m) => mtu = *m,
            LinkAttribute::Address(a) => mac = names::mac(a),
            LinkAttribute::PermAddress(a) => perm_mac = names::mac(a),
            LinkAttribute::OperState(s) => oper_state = names::oper_state(s),
            LinkAttribute::Controller(m) => master = Some(*m),
            LinkAttribute::Link(l) => parent = Some(*l),
            LinkAttribute::LinkNetNsId(_) => parent_elsewhere = true,
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        LinkInfo::Kind(k) => kind = Some(k.to_string()),
                        LinkInfo::Data(InfoData::Bond(b)) => bond = Some(read_bond(b)),
                        LinkInfo::Data(InfoData::Bridge(b)) => bridge = Some(read_bridge(b)),
                        LinkInfo::Data(InfoData::Vlan(v)) => {
                            vlan_id = v.iter().find_map(|i| match i {
                                InfoVlan::Id(id) => Some(*id),
                                _ => None,
                            })
                        }
                        LinkInfo::PortKind(InfoPortKind::Bond) => {
                            bond_slave.get_or_insert(BondSlaveInfo { perm_mac: None });
                        }
                        LinkInfo::PortData(InfoPortData::BondPort(port)) => {
                            let perm = port.iter().find_map(|p| match p {
                                InfoBondPort::PermHwaddr(a) => names::mac(a),
                                _ => None,
                            });
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
        tracing::debug!(
            index = msg.header.index,
            "link message without a name; skipped"
        );
        return None;
    };
    let kind = LinkKind::from_kernel(kind.as_deref());
    // A VLAN id without the vlan kind would be a kernel oddity; keep the
    // id only where it means a VLAN device.
    let vlan_id = vlan_id.filter(|_| kind == LinkKind::Vlan);
    let link = Link {
        index: msg.header.index,
        name,
        kind,
        master: None,
        mtu,
        mac,
        perm_mac,
        admin_up: msg.header.flags.contains(LinkFlags::Up),
        oper_state,
        speed: None,
        vlan: None,
        bond: None,
        bridge: bridge.map(|(stp, options)| BridgeInfo {
            stp,
            options: options.into(),
            ports: Vec::new(),
        }),
        bond_slave,
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

/// `0`/`1`, as sysfs prints a boolean.
fn flag(b: bool) -> String {
    u8::from(b).to_string()
}

/// Bond options by sysfs name in the canonical form of
/// [`BondInfo::options`]: enums by number, booleans `0`/`1`, lists
/// comma-separated. The kernel leaves out `arp_ip_target` and `primary`
/// when empty; they are filled in empty (here and in [`build_links`]) so
/// every bond has them, as sysfs does. `ns_ip6_target` appears only when
/// set, since older kernels have no such option.
fn read_bond(attrs: &[InfoBond]) -> RawBond {
    let mut o = BTreeMap::new();
    let mut active = None;
    let mut primary = None;
    let mut put = |k: &str, v: String| {
        o.insert(k.to_string(), v);
    };
    for attr in attrs {
        match attr {
            InfoBond::Mode(m) => put("mode", u8::from(*m).to_string()),
            InfoBond::ActivePort(i) => active = Some(*i),
            InfoBond::MiiMon(v) => put("miimon", v.to_string()),
            InfoBond::UpDelay(v) => put("updelay", v.to_string()),
            InfoBond::DownDelay(v) => put("downdelay", v.to_string()),
            InfoBond::UseCarrier(b) => put("use_carrier", flag(*b)),
            InfoBond::ArpInterval(v) => put("arp_interval", v.to_string()),
            InfoBond::ArpIpTarget(t) => put("arp_ip_target", join(t)),
            InfoBond::ArpValidate(v) => put("arp_validate", u32::from(*v).to_string()),
            InfoBond::ArpAllTargets(v) => put("arp_all_targets", u32::from(*v).to_string()),
            InfoBond::Primary(i) => primary = Some(*i),
            InfoBond::PrimaryReselect(v) => put("primary_reselect", u8::from(*v).to_string()),
            InfoBond::FailOverMac(v) => put("fail_over_mac", u8::from(*v).to_string()),
            InfoBond::XmitHashPolicy(v) => put("xmit_hash_policy", u8::from(*v).to_string()),
            InfoBond::ResendIgmp(v) => put("resend_igmp", v.to_string()),
            InfoBond::NumPeerNotif(v) => {
                // One kernel parameter behind two sysfs files.
                put("num_grat_arp", v.to_string());
                put("num_unsol_na", v.to_string());
            }
            InfoBond::AllPortsActive(v) => put("all_slaves_active", u8::from(*v).to_string()),
            InfoBond::MinLinks(v) => put("min_links", v.to_string()),
            InfoBond::LpInterval(v) => put("lp_interval", v.to_string()),
            InfoBond::PacketsPerPort(v) => put("packets_per_slave", v.to_string()),
            InfoBond::AdLacpRate(v) => put("lacp_rate", u8::from(*v).to_string()),
            InfoBond::AdSelect(v) => put("ad_select", u8::from(*v).to_string()),
            InfoBond::AdActorSysPrio(v) => put("ad_actor_sys_prio", v.to_string()),
            InfoBond::AdUserPortKey(v) => put("ad_user_port_key", v.to_string()),
            InfoBond::AdActorSystem(m) => put("ad_actor_system", names::mac(m).unwrap_or_default()),
            InfoBond::TlbDynamicLb(b) => put("tlb_dynamic_lb", flag(*b)),
            InfoBond::PeerNotifDelay(v) => put("peer_notif_delay", v.to_string()),
            InfoBond::AdLacpActive(b) => put("lacp_active", flag(*b)),
            InfoBond::MissedMax(v) => put("arp_missed_max", v.to_string()),
            InfoBond::NsIp6Target(t) => put("ns_ip6_target", join(t)),
            InfoBond::CoupledControl(b) => put("coupled_control", flag(*b)),
            InfoBond::BroadcastNeigh(b) => put("broadcast_neighbor", flag(*b)),
            // AdInfo is LACP runtime state (aggregator, partner), not an
            // option; the rest are unknown to this crate version.
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

/// A bridge id as sysfs prints it: `8000.0a1b2c3d4e5f`.
fn bridge_id(id: &BridgeId) -> String {
    let mut out = format!("{:04x}.", id.priority);
    for b in id.address {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Bridge options by sysfs name, values as sysfs prints them (timers and
/// intervals in clock_t, i.e. centiseconds, in both netlink and sysfs).
/// Returns whether STP is on, and the options.
fn read_bridge(attrs: &[InfoBridge]) -> (bool, BTreeMap<String, String>) {
    let mut o = BTreeMap::new();
    let mut stp = false;
    let mut put = |k: &str, v: String| {
        o.insert(k.to_string(), v);
    };
    for attr in attrs {
        match attr {
            InfoBridge::ForwardDelay(v) => put("forward_delay", v.to_string()),
            InfoBridge::HelloTime(v) => put("hello_time", v.to_string()),
            InfoBridge::MaxAge(v) => put("max_age", v.to_string()),
            InfoBridge::AgeingTime(v) => put("ageing_time", v.to_string()),
            InfoBridge::StpState(s) => {
                let n = u32::from(*s);
                stp = n != 0;
                put("stp_state", n.to_string());
            }
            InfoBridge::Priority(v) => put("priority", v.to_string()),
            InfoBridge::VlanFiltering(b) => put("vlan_filtering", flag(*b)),
            InfoBridge::VlanProtocol(p) => put("vlan_protocol", format!("{:#06x}", u16::from(*p))),
            InfoBridge::GroupFwdMask(v) => put("group_fwd_mask", format!("{v:#x}")),
            InfoBridge::RootId(id) => put("root_id", bridge_id(id)),
            InfoBridge::BridgeId(id) => put("bridge_id", bridge_id(id)),
            InfoBridge::RootPort(v) => put("root_port", v.to_string()),
            InfoBridge::RootPathCost(v) => put("root_path_cost", v.to_string()),
            InfoBridge::TopologyChange(v) => put("topology_change", v.to_string()),
            InfoBridge::TopologyChangeDetected(v) => put("topology_change_detected", v.to_string()),
            InfoBridge::HelloTimer(v) => put("hello_timer", v.to_string()),
            InfoBridge::TcnTimer(v) => put("tcn_timer", v.to_string()),
            InfoBridge::TopologyChangeTimer(v) => put("topology_change_timer", v.to_string()),
            InfoBridge::GcTimer(v) => put("gc_timer", v.to_string()),
            InfoBridge::GroupAddr(m) => put("group_addr", names::mac(m).unwrap_or_default()),
            InfoBridge::MulticastRouter(t) => put("multicast_router", u8::from(*t).to_string()),
            InfoBridge::MulticastSnooping(b) => put("multicast_snooping", flag(*b)),
            InfoBridge::MulticastQueryUseIfaddr(b) => put("multicast_query_use_ifaddr", flag(*b)),
            InfoBridge::MulticastQuerier(b) => put("multicast_querier", flag(*b)),
            InfoBridge::MulticastHashElasticity(v) => put("hash_elasticity", v.to_string()),
            InfoBridge::MulticastHashMax(v) => put("hash_max", v.to_string()),
            InfoBridge::MulticastLastMemberCount(v) => {
                put("multicast_last_member_count", v.to_string())
            }
            InfoBridge::MulticastStartupQueryCount(v) => {
                put("multicast_startup_query_count", v.to_string())
            }
            InfoBridge::MulticastLastMemberInterval(v) => {
                put("multicast_last_member_interval", v.to_string())
            }
            InfoBridge::MulticastMembershipInterval(v) => {
                put("multicast_membership_interval", v.to_string())
            }
            InfoBridge::MulticastQuerierInterval(v) => {
                put("multicast_querier_interval", v.to_string())
            }
            InfoBridge::MulticastQueryInterval(v) => put("multicast_query_interval", v.to_string()),
            InfoBridge::MulticastQueryResponseInterval(v) => {
                put("multicast_query_response_interval", v.to_string())
            }
            InfoBridge::MulticastStartupQueryInterval(v) => {
                put("multicast_startup_query_interval", v.to_string())
            }
            InfoBridge::NfCallIpTables(b) => put("nf_call_iptables", flag(*b)),
            InfoBridge::NfCallIp6Tables(b) => put("nf_call_ip6tables", flag(*b)),
            InfoBridge::NfCallArpTables(b) => put("nf_call_arptables", flag(*b)),
            InfoBridge::VlanDefaultPvid(v) => put("default_pvid", v.to_string()),
            InfoBridge::VlanStatsEnabled(b) => put("vlan_stats_enabled", flag(*b)),
            InfoBridge::VlanStatsPerPort(b) => put("vlan_stats_per_port", flag(*b)),
            InfoBridge::MulticastStatsEnabled(b) => put("multicast_stats_enabled", flag(*b)),
            InfoBridge::MulticastIgmpVersion(v) => put("multicast_igmp_version", v.to_string()),
            InfoBridge::MulticastMldVersion(v) => put("multicast_mld_version", v.to_string()),
            // Of the boolean options only this one has a sysfs file.
            InfoBridge::MultiBoolOpt(opts)
                if opts
                    .mask
                    .contains(BridgeBooleanOptionFlags::NoLinkLocalLearn) =>
            {
                let on = opts
                    .value
                    .contains(BridgeBooleanOptionFlags::NoLinkLocalLearn);
                put("no_linklocal_learn", flag(on));
            }
            // Querier state, FDB counters and STP mode have no sysfs file;
            // FdbFlush is a command, not state.
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

    fn msg(index: u32, attrs: Vec<LinkAttribute>) -> LinkMessage {
        let mut m = LinkMessage::default();
        m.header = LinkHeader {
            index,
            ..LinkHeader::default()
        };
        m.attributes = attrs;
        m
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
        let slave = |index, name: &str| {
            msg(
                index,
                vec![
                    LinkAttribute::IfName(name.into()),
                    LinkAttribute::Controller(10),
                    LinkAttribute::OperState(State::Up),
                    LinkAttribute::LinkInfo(vec![
                        LinkInfo::Kind(InfoKind::Dummy),
                        LinkInfo::PortKind(InfoPortKind::Bond),
                        LinkInfo::PortData(InfoPortData::BondPort(vec![InfoBondPort::PermHwaddr(
                            vec![2, 0, 0, 0, 0, index as u8],
                        )])),
                    ]),
                ],
            )
        };
        let vlan = msg(
            13,
            vec![
                LinkAttribute::IfName("bond0.100".into()),
                LinkAttribute::Link(10),
                LinkAttribute::LinkInfo(vec![
                    LinkInfo::Kind(InfoKind::Vlan),
                    LinkInfo::Data(InfoData::Vlan(vec![InfoVlan::Id(100)])),
                ]),
            ],
        );
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
        let (stp, o) = read_bridge(&[
            InfoBridge::StpState(BridgeStpState::KernelStp),
            InfoBridge::ForwardDelay(1500),
            InfoBridge::GroupFwdMask(0),
            InfoBridge::VlanProtocol(netlink_packet_route::link::VlanProtocol::Ieee8021Q),
            InfoBridge::BridgeId(BridgeId {
                priority: 0x8000,
                address: [0x76, 0xb9, 0x1e, 0x85, 0xf0, 0xa2],
            }),
            InfoBridge::MulticastSnooping(true),
        ]);
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
