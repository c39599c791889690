//! The planner: Linux bridges, bonds and VLANs, and the kernel side of OVS
//! networks (their bonds, addresses, routes and rules) with the OVS
//! transaction of [`crate::ovs`] in its place among the ops.
//!
//! Pure: from the host as it is, the running config (what netswitch owns)
//! and the desired config, the ordered ops that make the host carry the
//! desired config. The host decides what must be done, so a device deleted
//! behind netswitch's back is created again; the running config decides
//! what netswitch may take away, so devices it does not own are left alone.
//!
//! Order: tear down first (rules, routes, addresses, removed devices, MTU
//! decreases top-down), then build (bonds and slaves, MTU increases
//! bottom-up, VLANs, bridges, ports, links up, addresses, routes, rules).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

use ipnet::IpNet;
use netswitch_model::bondopts::{NEED_DOWN, NEED_NO_SLAVES};
use netswitch_model::config::{BootProto, Config, NetAttrs, DEFAULT_MTU};
use netswitch_model::host::{HostState, LinkKind, MAIN_TABLE};
use netswitch_model::plan::{Op, Plan, RouteSpec, RuleSpec};

use crate::ovs;
use crate::topology::{Dev, DevKind, Topology};

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

/// One family's side of a network's routing: its address, subnet and
/// gateway, and the table its source routing uses.
struct Side {
    subnet: IpNet,
    gateway: IpAddr,
    table: Option<u32>,
    /// The subnet route's source and scope. IPv6 gets none: the kernel
    /// refuses a tentative (still in DAD) address as a source, and the
    /// rule picks the table anyway.
    prefsrc: Option<IpAddr>,
    scope: &'static str,
}

/// Routes and rules one network needs, by the device carrying its IP: the
/// main-table default for the defaultRoute network, and for every family
/// with a gateway its own table (default + subnet) and two rules
/// (`from subnet`, `to subnet iif dev`). IPv6 source routing goes beyond
/// VDSM, which had it for IPv4 only.
fn net_routes(a: &NetAttrs, dev: &str, routes: &mut Vec<RouteSpec>, rules: &mut Vec<RuleSpec>) {
    let mut sides = Vec::new();
    if let (Some(ip), Some(prefix), Some(gw)) = (a.ipaddr, a.prefix(), a.gateway) {
        if let Ok(subnet) = IpNet::new(IpAddr::V4(ip), prefix).map(|n| n.trunc()) {
            sides.push(Side {
                subnet,
                gateway: IpAddr::V4(gw),
                table: table_of(a),
                prefsrc: Some(IpAddr::V4(ip)),
                scope: "link",
            });
        }
    }
    if let (Some(gw6), Some((ip, prefix))) = (a.ipv6gateway, a.ipv6()) {
        if let Ok(subnet) = IpNet::new(IpAddr::V6(ip), prefix).map(|n| n.trunc()) {
            sides.push(Side {
                subnet,
                gateway: IpAddr::V6(gw6),
                table: table6_of(a),
                prefsrc: None,
                scope: "universe",
            });
        }
    } else if let (Some(gw6), true) = (a.ipv6gateway, a.default_route) {
        // A dynamic IPv6 address with a static gateway: the default only.
        routes.push(default_route(MAIN_TABLE, IpAddr::V6(gw6), dev));
    }
    for side in sides {
        if a.default_route {
            routes.push(default_route(MAIN_TABLE, side.gateway, dev));
        }
        let Some(table) = side.table else { continue };
        routes.push(default_route(table, side.gateway, dev));
        routes.push(RouteSpec {
            table,
            dst: side.subnet,
            gateway: None,
            dev: dev.to_string(),
            prefsrc: side.prefsrc,
            scope: side.scope.into(),
        });
        for (src, dst, iif) in [
            (Some(side.subnet), None, None),
            (None, Some(side.subnet), Some(dev.to_string())),
        ] {
            rules.push(RuleSpec {
                priority: RULE_PRIORITY,
                table,
                src,
                dst,
                iif,
            });
        }
    }
}

fn default_route(table: u32, gateway: IpAddr, dev: &str) -> RouteSpec {
    let any = if gateway.is_ipv4() {
        "0.0.0.0/0"
    } else {
        "::/0"
    };
    RouteSpec {
        table,
        dst: any.parse().expect("literal"),
        gateway: Some(gateway),
        dev: dev.to_string(),
        prefsrc: None,
        scope: "universe".into(),
    }
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

/// The static addresses a network puts on its northbound device.
fn net_addrs(a: &NetAttrs) -> Vec<IpNet> {
    let mut out = Vec::new();
    if let (Some(ip), Some(p)) = (a.ipaddr, a.prefix()) {
        if let Ok(n) = IpNet::new(IpAddr::V4(ip), p) {
            out.push(n);
        }
    }
    if let Some((ip, p)) = a.ipv6() {
        if let Ok(n) = IpNet::new(IpAddr::V6(ip), p) {
            out.push(n);
        }
    }
    out
}

fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

struct Wanted<'a> {
    routes: Vec<RouteSpec>,
    rules: Vec<RuleSpec>,
    /// Northbound device -> (its network's attrs, the addresses it carries).
    ips: BTreeMap<String, (&'a NetAttrs, Vec<IpNet>)>,
    tables: BTreeSet<u32>,
}

fn wanted<'a>(config: &'a Config, topo: &Topology) -> Wanted<'a> {
    let mut w = Wanted {
        routes: Vec::new(),
        rules: Vec::new(),
        ips: BTreeMap::new(),
        tables: BTreeSet::new(),
    };
    for (net, dev) in topo.northbounds() {
        let a = &config.networks[net];
        net_routes(a, dev, &mut w.routes, &mut w.rules);
        w.tables.extend(table_of(a));
        w.tables.extend(table6_of(a));
        w.ips.insert(dev.clone(), (a, net_addrs(a)));
    }
    w
}

/// Plans the legacy switch's part of moving `host` from `running` to `desired`.
pub fn plan(host: &HostState, running: &Config, desired: &Config) -> Plan {
    let cur = Topology::of(running);
    let des = Topology::of(desired);
    let have = wanted(running, &cur);
    let want = wanted(desired, &des);
    let mut ops = Vec::new();
    let ovs_ops = ovs::ops(host, &cur, &des);
    // Northbound devices this plan creates anew where a device of that name
    // is now: OVS internal ports (re)added, and legacy devices replacing an
    // internal port. What the old device carries goes with it, so they are
    // planned as if absent.
    let mut fresh: BTreeSet<String> = ovs_ops
        .iter()
        .filter_map(|o| match o {
            Op::OvsAddPort {
                name,
                internal: true,
                ..
            } => Some(name.clone()),
            _ => None,
        })
        .collect();
    fresh.extend(
        des.devices
            .keys()
            .filter(|n| ovs::is_internal_port(host, n))
            .cloned(),
    );

    // ---- routes and rules netswitch manages: its tables, and main-table
    // default routes through its devices (or any, when it sets one).
    let tables: BTreeSet<u32> = have.tables.union(&want.tables).copied().collect();
    let owned_nb: BTreeSet<&String> = have.ips.keys().chain(want.ips.keys()).collect();
    let sets_default_v4 = want
        .routes
        .iter()
        .any(|r| r.table == MAIN_TABLE && r.dst.addr().is_ipv4());
    let sets_default_v6 = want
        .routes
        .iter()
        .any(|r| r.table == MAIN_TABLE && r.dst.addr().is_ipv6());
    let mut current_routes: Vec<RouteSpec> = Vec::new();
    for r in &host.routes {
        let Some(oif) = &r.oif else { continue };
        if dynamic_route(r, oif, &want) || dynamic_route(r, oif, &have) {
            continue;
        }
        let managed = if r.table == MAIN_TABLE {
            r.is_default()
                && default_metric(r)
                && (owned_nb.contains(oif)
                    || (r.dst.addr().is_ipv4() && sets_default_v4)
                    || (r.dst.addr().is_ipv6() && sets_default_v6))
        } else {
            tables.contains(&r.table) && r.protocol != "kernel"
        };
        if managed {
            current_routes.push(RouteSpec {
                table: r.table,
                dst: r.dst,
                gateway: r.gateway,
                dev: oif.clone(),
                prefsrc: r.prefsrc,
                scope: r.scope.clone(),
            });
        }
    }
    let current_rules: Vec<RuleSpec> = host
        .rules
        .iter()
        .filter(|r| tables.contains(&r.table))
        .map(|r| RuleSpec {
            priority: r.priority.unwrap_or(0),
            table: r.table,
            src: r.src,
            dst: r.dst,
            iif: r.iif.clone(),
        })
        .collect();
    // Sets for the membership tests below: a host with a route and a rule
    // per network would otherwise cost networks² comparisons.
    let want_rules: HashSet<&RuleSpec> = want.rules.iter().collect();
    let want_routes: HashSet<&RouteSpec> = want.routes.iter().collect();
    let have_rules: HashSet<&RuleSpec> = current_rules.iter().collect();
    let have_routes: HashSet<&RouteSpec> = current_routes.iter().collect();
    for r in current_rules.iter().filter(|r| !want_rules.contains(r)) {
        ops.push(Op::DelRule(r.clone()));
    }
    for r in current_routes.iter().filter(|r| !want_routes.contains(r)) {
        ops.push(Op::DelRoute(r.clone()));
    }
    // Addresses by device, once: asking the host per device is a scan of
    // every address on it.
    let mut addrs_by_dev: HashMap<&str, Vec<&netswitch_model::host::Addr>> = HashMap::new();
    for a in &host.addrs {
        addrs_by_dev.entry(a.link.as_str()).or_default().push(a);
    }
    let addrs_of = |dev: &str| addrs_by_dev.get(dev).into_iter().flatten().copied();

    // ---- addresses: northbounds carry exactly their network's static
    // addresses; other devices netswitch uses carry none.
    let mut addr_adds = Vec::new();
    let mut touched: BTreeSet<&String> = des.devices.keys().collect();
    touched.extend(want.ips.keys());
    touched.extend(have.ips.keys());
    for dev in touched {
        // An internal port the OVS transaction deletes takes its addresses.
        if cur.ovs.contains_key(dev)
            && !des.ovs.contains_key(dev)
            && !des.devices.contains_key(dev)
            && !want.ips.contains_key(dev)
        {
            continue;
        }
        let Some(link) = host.link(dev).filter(|_| !fresh.contains(dev)) else {
            // Created by this plan: it only gets its addresses.
            for net in want.ips.get(dev).map(|(_, a)| a.as_slice()).unwrap_or(&[]) {
                addr_adds.push(Op::AddAddr {
                    link: dev.clone(),
                    addr: *net,
                });
            }
            continue;
        };
        let gone = !des.devices.contains_key(dev) && !want.ips.contains_key(dev);
        if gone
            && matches!(
                link.kind,
                LinkKind::Bridge | LinkKind::Vlan | LinkKind::Bond
            )
            && cur.devices.contains_key(dev)
        {
            continue; // deleted below with its addresses
        }
        let (attrs, addrs) = match want.ips.get(dev) {
            Some((a, addrs)) => (Some(*a), addrs.as_slice()),
            None => (None, &[][..]),
        };
        // A device that leaves netswitch entirely keeps what netswitch did not put there.
        let ours_before: Vec<IpNet> = have
            .ips
            .get(dev)
            .map(|(_, a)| a.clone())
            .unwrap_or_default();
        for a in addrs_of(dev) {
            if is_link_local(&a.address) || a.scope == "host" {
                continue;
            }
            let Some(net) = a.net() else { continue };
            if addrs.contains(&net) {
                continue;
            }
            // A lease belongs to its client: kept while the network stays
            // dynamic, and taken along by the client (stopped before the
            // plan) when it was dynamic before.
            let dynamic_of = |at: &NetAttrs| match a.address {
                IpAddr::V4(_) => at.bootproto == BootProto::Dhcp,
                IpAddr::V6(_) => at.dhcpv6 || at.ipv6autoconf,
            };
            let was_dynamic = a.dynamic
                && have.ips.get(dev).is_some_and(|(at, _)| match a.address {
                    IpAddr::V4(_) => at.bootproto == BootProto::Dhcp,
                    // The DHCPv6 client's /128; SLAAC ones are the plan's to remove.
                    IpAddr::V6(_) => at.dhcpv6 && a.prefix_len == 128,
                });
            let dynamic_kept = (a.dynamic && attrs.is_some_and(dynamic_of)) || was_dynamic;
            if dynamic_kept || (gone && !ours_before.contains(&net)) {
                continue;
            }
            ops.push(Op::DelAddr {
                link: dev.clone(),
                addr: net,
            });
        }
        for net in addrs {
            if !addrs_of(dev).any(|a| a.net().as_ref() == Some(net)) {
                addr_adds.push(Op::AddAddr {
                    link: dev.clone(),
                    addr: *net,
                });
            }
        }
    }

    // ---- devices that leave: top-down, bridges, then VLANs, then bonds;
    // nics are released and get the default MTU back.
    let mut leaving: Vec<(&String, &Dev)> = cur
        .devices
        .iter()
        .filter(|(n, _)| !des.devices.contains_key(*n))
        .collect();
    leaving.sort_by_key(|(n, d)| (std::cmp::Reverse(d.kind.rank()), n.as_str()));
    let mut deleted: BTreeSet<&str> = BTreeSet::new();
    for (name, dev) in &leaving {
        let Some(link) = host.link(name) else {
            continue;
        };
        match dev.kind {
            DevKind::Nic => {
                // A port of OVS's kernel datapath leaves through OVSDB.
                if link
                    .master
                    .as_ref()
                    .is_some_and(|m| !deleted.contains(m.as_str()) && !is_ovs_master(m, host))
                {
                    ops.push(Op::ReleaseMaster {
                        link: (*name).clone(),
                    });
                }
                if link.mtu != DEFAULT_MTU {
                    ops.push(Op::SetMtu {
                        link: (*name).clone(),
                        mtu: DEFAULT_MTU,
                    });
                }
                // Released by the kernel from its bond, it is closed: give
                // it back up, as it was while enslaved.
                if link.admin_up && is_bond_slave(link, host) {
                    ops.push(Op::SetUp {
                        link: (*name).clone(),
                    });
                }
            }
            _ => {
                ops.push(Op::DeleteLink {
                    name: (*name).clone(),
                });
                deleted.insert(name.as_str());
            }
        }
    }
    // Devices that stay but change master leave the old one first.
    for (name, dev) in des.bottom_up() {
        if let Some(link) = host.link(name) {
            if let Some(m) = &link.master {
                let stale = dev.master.as_ref() != Some(m);
                if stale && !deleted.contains(m.as_str()) && owned(m, &cur, &des) {
                    ops.push(Op::ReleaseMaster { link: name.clone() });
                }
            }
        }
    }
    // MTU decreases, top-down.
    for (name, dev) in des.bottom_up().into_iter().rev() {
        if let Some(link) = host.link(name) {
            if link.mtu > dev.mtu && !is_slave(dev, &des) {
                ops.push(Op::SetMtu {
                    link: name.clone(),
                    mtu: dev.mtu,
                });
            }
        }
    }

    // ---- build, bottom-up. The OVS transaction goes in once bonds and
    // their slaves exist (a new bond can be a southbound port) and before
    // VLANs and bridges (a legacy bridge may take an internal port's name,
    // a nic may leave OVS for a legacy bridge).
    let mut ups = Vec::new();
    let mut ovs_ops = Some(ovs_ops);
    for (name, dev) in des.bottom_up() {
        if dev.kind.rank() >= 2 {
            ops.extend(ovs_ops.take().unwrap_or_default());
        }
        let link = host.link(name);
        // Adopt a host device of the right kind; replace one of the wrong kind we own.
        let exists = link.is_some_and(|l| {
            kind_matches(
                &dev.kind,
                &l.kind,
                l.vlan.as_ref().map(|v| (v.parent.as_str(), v.id)),
            )
        });
        if link.is_some()
            && !exists
            && !matches!(dev.kind, DevKind::Nic)
            && !ovs::is_internal_port(host, name)
        {
            ops.push(Op::DeleteLink { name: name.clone() });
        }
        match &dev.kind {
            DevKind::Nic => {
                if let Some(l) = link {
                    if l.mtu < dev.mtu && !is_slave(dev, &des) {
                        ops.push(Op::SetMtu {
                            link: name.clone(),
                            mtu: dev.mtu,
                        });
                    }
                    // The kernel closes a slave that leaves its bond.
                    if is_bond_slave(l, host) && !is_slave(dev, &des) {
                        ups.push(name.clone());
                    }
                }
            }
            DevKind::Bond { options, hwaddr } => {
                let mut released_slaves = false;
                if !exists {
                    ops.push(Op::CreateBond {
                        name: name.clone(),
                        options: options.to_string(),
                        hwaddr: hwaddr.clone(),
                    });
                    if dev.mtu != DEFAULT_MTU {
                        ops.push(Op::SetMtu {
                            link: name.clone(),
                            mtu: dev.mtu,
                        });
                    }
                } else if let Some(l) = link {
                    let empty = BTreeMap::new();
                    let current = l.bond.as_ref().map_or(&empty, |b| &b.options);
                    let changed = options.changed(current);
                    if !changed.is_empty() {
                        let no_slaves = changed.iter().any(|o| NEED_NO_SLAVES.contains(o));
                        let down = no_slaves || changed.iter().any(|o| NEED_DOWN.contains(o));
                        if no_slaves {
                            for s in l.bond.iter().flat_map(|b| b.slaves.iter()) {
                                ops.push(Op::ReleaseMaster { link: s.clone() });
                            }
                            released_slaves = true;
                        }
                        if down {
                            ops.push(Op::SetDown { link: name.clone() });
                        }
                        ops.push(Op::SetBondOptions {
                            name: name.clone(),
                            options: options.to_string(),
                        });
                    }
                    if let Some(mac) = hwaddr {
                        if l.mac.as_ref() != Some(mac) {
                            ops.push(Op::SetMac {
                                link: name.clone(),
                                mac: mac.clone(),
                            });
                        }
                    }
                    if l.mtu < dev.mtu {
                        ops.push(Op::SetMtu {
                            link: name.clone(),
                            mtu: dev.mtu,
                        });
                    }
                }
                // Slaves: down, then enslaved (the kernel refuses an up slave).
                for (slave, _) in des
                    .devices
                    .iter()
                    .filter(|(_, d)| d.master.as_deref() == Some(name))
                {
                    let Some(sl) = host.link(slave) else { continue };
                    if sl.master.as_deref() != Some(name) || released_slaves || !exists {
                        ops.push(Op::SetDown {
                            link: slave.clone(),
                        });
                        ops.push(Op::SetMaster {
                            link: slave.clone(),
                            master: name.clone(),
                        });
                        ups.push(slave.clone());
                    }
                }
            }
            DevKind::Vlan { parent, id } => {
                if !exists {
                    ops.push(Op::CreateVlan {
                        name: name.clone(),
                        parent: parent.clone(),
                        id: *id,
                        mtu: dev.mtu,
                    });
                } else if link.is_some_and(|l| l.mtu < dev.mtu) {
                    ops.push(Op::SetMtu {
                        link: name.clone(),
                        mtu: dev.mtu,
                    });
                }
            }
            DevKind::Bridge { stp, options } => {
                if !exists {
                    ops.push(Op::CreateBridge {
                        name: name.clone(),
                        mtu: dev.mtu,
                        stp: *stp,
                        options: options.clone(),
                    });
                } else if let Some(l) = link {
                    let b = l.bridge.as_ref();
                    let stp_ok = b.is_some_and(|b| b.stp == *stp);
                    let opts_ok = options
                        .iter()
                        .all(|(k, v)| b.and_then(|b| b.options.get(k)) == Some(v));
                    if !stp_ok || !opts_ok {
                        ops.push(Op::SetBridgeOptions {
                            name: name.clone(),
                            stp: *stp,
                            options: options.clone(),
                        });
                    }
                    if l.mtu < dev.mtu {
                        ops.push(Op::SetMtu {
                            link: name.clone(),
                            mtu: dev.mtu,
                        });
                    }
                }
            }
        }
        if !exists
            || !link.is_some_and(|l| l.admin_up)
            || ops
                .iter()
                .any(|o| matches!(o, Op::SetDown { link } if link == name))
        {
            ups.push(name.clone());
        }
    }
    ops.extend(ovs_ops.take().unwrap_or_default());
    // OVS internal ports are created down.
    for net in des.ovs.keys() {
        if fresh.contains(net) || !host.link(net).is_some_and(|l| l.admin_up) {
            ups.push(net.clone());
        }
    }
    // Ports join their bridges once both exist.
    for (name, dev) in des.bottom_up() {
        let Some(master) = &dev.master else { continue };
        if !matches!(
            des.devices.get(master).map(|d| &d.kind),
            Some(DevKind::Bridge { .. })
        ) {
            continue;
        }
        let attached = host
            .link(name)
            .is_some_and(|l| l.master.as_ref() == Some(master));
        let master_new = ops
            .iter()
            .any(|o| matches!(o, Op::CreateBridge { name, .. } if name == master));
        let port_new = ops.iter().any(|o| matches!(o, Op::CreateVlan { name: n, .. } | Op::CreateBond { name: n, .. } if n == name));
        let released = ops
            .iter()
            .any(|o| matches!(o, Op::ReleaseMaster { link } if link == name));
        if !attached || master_new || port_new || released {
            ops.push(Op::SetMaster {
                link: name.clone(),
                master: master.clone(),
            });
        }
    }
    // Links up, bottom-up, each once.
    let mut seen = BTreeSet::new();
    ups.sort_by_cached_key(|n| (des.devices.get(n).map_or(0, |d| d.kind.rank()), n.clone()));
    for n in ups {
        if seen.insert(n.clone()) {
            ops.push(Op::SetUp { link: n });
        }
    }
    ops.extend(addr_adds);
    for r in want
        .routes
        .iter()
        .filter(|r| !have_routes.contains(r) || fresh.contains(&r.dev))
    {
        ops.push(Op::AddRoute(r.clone()));
    }
    for r in want.rules.iter().filter(|r| !have_rules.contains(r)) {
        ops.push(Op::AddRule(r.clone()));
    }

    Plan {
        ops,
        nameservers: nameservers(running, desired),
    }
}

/// Whether a route is a DHCP client's or the kernel's RA handling's on a
/// network that asks for them (protocol `dhcp` for an IPv4 DHCP network,
/// `dhcp` or `ra` for a DHCPv6 or autoconf one), in the running or the
/// desired config: those belong to the client (stopped before the plan
/// when its network goes, taking them along) and the kernel, not to the
/// plan.
fn dynamic_route(r: &netswitch_model::host::Route, oif: &str, want: &Wanted) -> bool {
    let Some((a, _)) = want.ips.get(oif) else {
        return false;
    };
    match (r.dst.addr().is_ipv4(), r.protocol.as_str()) {
        (true, "dhcp") => a.bootproto == BootProto::Dhcp,
        (false, "dhcp" | "ra") => a.dhcpv6 || a.ipv6autoconf,
        _ => false,
    }
}

/// Whether a route has the metric the kernel gives a route added without
/// one: 0 for IPv4, 1024 for IPv6. Only such default routes compete with
/// the one netswitch sets.
fn default_metric(r: &netswitch_model::host::Route) -> bool {
    let m = r.metric.unwrap_or(0);
    if r.dst.addr().is_ipv4() {
        m == 0
    } else {
        m == 0 || m == 1024
    }
}

/// Whether a link is enslaved to a bond now. The kernel closes a slave
/// when it leaves its bond (released, or the bond deleted), so such a nic
/// must be set up again afterwards.
fn is_bond_slave(link: &netswitch_model::host::Link, host: &HostState) -> bool {
    link.master
        .as_ref()
        .and_then(|m| host.link(m))
        .is_some_and(|m| m.kind == LinkKind::Bond)
}

/// Whether `master` is OVS's kernel datapath device (`ovs-system`).
fn is_ovs_master(master: &str, host: &HostState) -> bool {
    host.link(master)
        .is_some_and(|m| m.kind == LinkKind::Openvswitch)
}

fn owned(dev: &str, cur: &Topology, des: &Topology) -> bool {
    cur.devices.contains_key(dev) || des.devices.contains_key(dev)
}

fn is_slave(dev: &Dev, topo: &Topology) -> bool {
    dev.master.as_ref().is_some_and(|m| {
        matches!(
            topo.devices.get(m).map(|d| &d.kind),
            Some(DevKind::Bond { .. })
        )
    })
}

fn kind_matches(want: &DevKind, have: &LinkKind, vlan: Option<(&str, u16)>) -> bool {
    match want {
        DevKind::Nic => true,
        DevKind::Bond { .. } => *have == LinkKind::Bond,
        DevKind::Bridge { .. } => *have == LinkKind::Bridge,
        DevKind::Vlan { parent, id } => {
            *have == LinkKind::Vlan && vlan == Some((parent.as_str(), *id))
        }
    }
}

/// Name servers to write: the defaultRoute network's, when they change.
/// An empty list keeps the host's own resolver configuration.
fn nameservers(running: &Config, desired: &Config) -> Option<Vec<IpAddr>> {
    let of = |c: &Config| {
        c.default_route_net()
            .map(|n| c.networks[n].nameservers.clone())
            .unwrap_or_default()
    };
    let want = of(desired);
    (!want.is_empty() && want != of(running)).then_some(want)
}
