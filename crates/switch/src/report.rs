//! getNetworkCapabilities: the host snapshot joined with the running config
//! in VDSM's shape (docs/api.md §5).
//!
//! Addresses and routes are indexed by device once, so the report is linear
//! in the size of the host (4000 links must report in milliseconds).

use std::collections::BTreeMap;
use std::net::IpAddr;

use netswitch_model::bondopts::BondOptions;
use netswitch_model::caps::{
    BondReport, BridgeReport, Caps, IpBlock, NetReport, NicReport, VlanReport,
};
use netswitch_model::config::{BootProto, Config, NetAttrs, SwitchType};
use netswitch_model::host::{Addr, HostState, Link, LinkKind, Route, MAIN_TABLE};
use netswitch_model::parse::prefix_to_netmask;
use netswitch_model::NicPolicy;

use crate::topology::place;

/// What the report needs beyond the host and the running config.
#[derive(Debug, Clone, Default)]
pub struct ReportContext {
    /// Name servers as read back from the resolver configuration.
    pub nameservers: Vec<String>,
    /// Whether the kernel has IPv6.
    pub supports_ipv6: bool,
    /// Whether the running config differs from the persistent one.
    pub net_config_dirty: bool,
}

struct Index<'a> {
    addrs: BTreeMap<&'a str, Vec<&'a Addr>>,
    default_routes: BTreeMap<&'a str, Vec<&'a Route>>,
    /// The network whose IP config a device carries.
    net_on: BTreeMap<String, &'a NetAttrs>,
}

fn index<'a>(host: &'a HostState, running: &'a Config) -> Index<'a> {
    let mut addrs: BTreeMap<&str, Vec<&Addr>> = BTreeMap::new();
    for a in &host.addrs {
        addrs.entry(a.link.as_str()).or_default().push(a);
    }
    let mut default_routes: BTreeMap<&str, Vec<&Route>> = BTreeMap::new();
    for r in host
        .routes
        .iter()
        .filter(|r| r.is_default() && r.kind == "unicast")
    {
        if let Some(oif) = &r.oif {
            default_routes.entry(oif.as_str()).or_default().push(r);
        }
    }
    let mut net_on = BTreeMap::new();
    for (name, a) in &running.networks {
        if a.switch == SwitchType::Ovs {
            net_on.insert(name.clone(), a);
        } else if let Some(nb) = place(name, a).northbound {
            net_on.insert(nb, a);
        }
    }
    Index {
        addrs,
        default_routes,
        net_on,
    }
}

fn gateway(routes: &[&Route], v4: bool) -> Option<IpAddr> {
    let family: Vec<&&Route> = routes
        .iter()
        .filter(|r| r.dst.addr().is_ipv4() == v4 && r.gateway.is_some())
        .collect();
    // The main table speaks first; else one unique gateway among the others.
    if let Some(r) = family.iter().find(|r| r.table == MAIN_TABLE) {
        return r.gateway;
    }
    let mut gws: Vec<IpAddr> = family.iter().filter_map(|r| r.gateway).collect();
    gws.dedup();
    (gws.len() == 1).then(|| gws[0])
}

fn ip_block(link: &Link, idx: &Index<'_>) -> IpBlock {
    let empty = Vec::new();
    let addrs = idx.addrs.get(link.name.as_str()).unwrap_or(&empty);
    let mut v4: Vec<&&Addr> = addrs.iter().filter(|a| a.address.is_ipv4()).collect();
    // Primary (non-secondary) first, otherwise kernel order.
    v4.sort_by_key(|a| a.secondary);
    let v6: Vec<String> = addrs
        .iter()
        .filter(|a| matches!(a.address, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) != 0xfe80))
        .map(|a| format!("{}/{}", a.address, a.prefix_len))
        .collect();
    let routes = idx
        .default_routes
        .get(link.name.as_str())
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let net = idx.net_on.get(&link.name);
    IpBlock {
        addr: v4
            .first()
            .map(|a| a.address.to_string())
            .unwrap_or_default(),
        netmask: v4
            .first()
            .map(|a| prefix_to_netmask(a.prefix_len).to_string())
            .unwrap_or_default(),
        ipv4addrs: v4
            .iter()
            .map(|a| format!("{}/{}", a.address, a.prefix_len))
            .collect(),
        gateway: gateway(routes, true)
            .map(|g| g.to_string())
            .unwrap_or_default(),
        ipv4defaultroute: routes
            .iter()
            .any(|r| r.table == MAIN_TABLE && r.dst.addr().is_ipv4()),
        ipv6addrs: v6,
        ipv6gateway: gateway(routes, false)
            .map(|g| g.to_string())
            .unwrap_or_else(|| "::".into()),
        ipv6autoconf: net.is_some_and(|a| a.ipv6autoconf),
        dhcpv4: net.is_some_and(|a| a.bootproto == BootProto::Dhcp) || v4.iter().any(|a| a.dynamic),
        dhcpv6: net.is_some_and(|a| a.dhcpv6),
        mtu: link.mtu.to_string(),
    }
}

fn on_off(b: bool) -> String {
    if b { "on" } else { "off" }.to_string()
}

/// Builds the caps report.
pub fn caps(host: &HostState, running: &Config, nics: &NicPolicy, ctx: &ReportContext) -> Caps {
    let idx = index(host, running);
    let mut c = Caps {
        nameservers: ctx.nameservers.clone(),
        supports_ipv6: ctx.supports_ipv6,
        net_config_dirty: ctx.net_config_dirty,
        ..Caps::default()
    };
    for (name, link) in &host.links {
        match &link.kind {
            LinkKind::Bond => {
                let r = bond_report(link, running, &idx);
                c.bondings.insert(name.clone(), r);
            }
            LinkKind::Vlan => {
                if let Some(v) = &link.vlan {
                    c.vlans.insert(
                        name.clone(),
                        VlanReport {
                            ip: ip_block(link, &idx),
                            iface: v.parent.clone(),
                            vlanid: v.id,
                        },
                    );
                }
            }
            LinkKind::Bridge => {
                c.bridges.insert(name.clone(), bridge_report(link, &idx));
            }
            _ if nics.is_nic(host, name) => {
                c.nics.insert(name.clone(), nic_report(link, host, &idx));
            }
            _ => {}
        }
    }
    for (name, a) in &running.networks {
        if a.switch == SwitchType::Ovs {
            ovs_net_report(&mut c, name, a, host, &idx);
        } else {
            c.networks
                .insert(name.clone(), net_report(name, a, host, &idx));
        }
    }
    qos_reports(&mut c, running);
    c
}

/// `nics[x].qos` / `bondings[x].qos`: the running config's host QoS of
/// each network on the device, by VLAN (-1 untagged), as VDSM lists it.
fn qos_reports(c: &mut Caps, running: &Config) {
    for a in running.networks.values() {
        let (Some(q), Some(base)) = (&a.host_qos, a.base()) else {
            continue;
        };
        let entry = netswitch_model::caps::QosReport {
            host_qos: q.clone(),
            vlan: a.vlan.map_or(-1, i32::from),
        };
        let list = if let Some(n) = c.nics.get_mut(base) {
            &mut n.qos
        } else if let Some(b) = c.bondings.get_mut(base) {
            &mut b.qos
        } else {
            continue;
        };
        let list = list.get_or_insert_with(Vec::new);
        list.push(entry);
        list.sort_by_key(|e| e.vlan);
    }
}

/// A bond as VDSM reports it: slaves sorted, options without defaults.
fn bond_report(link: &Link, running: &Config, idx: &Index<'_>) -> BondReport {
    let (mut slaves, active, opts) = match &link.bond {
        Some(b) => (
            b.slaves.clone(),
            b.active_slave.clone(),
            BondOptions::non_default(&b.options),
        ),
        None => (Vec::new(), None, BTreeMap::new()),
    };
    slaves.sort();
    BondReport {
        ip: ip_block(link, idx),
        hwaddr: link.mac.clone().unwrap_or_default(),
        slaves,
        active_slave: active.unwrap_or_default(),
        opts,
        switch: running
            .bonds
            .get(&link.name)
            .map_or("legacy", |a| a.switch.as_str())
            .to_string(),
        qos: None,
    }
}

/// A Linux bridge: ports sorted, STP as `on`/`off`, its options.
fn bridge_report(link: &Link, idx: &Index<'_>) -> BridgeReport {
    let b = link.bridge.as_ref();
    let mut ports = b.map(|b| b.ports.clone()).unwrap_or_default();
    ports.sort();
    BridgeReport {
        ip: ip_block(link, idx),
        ports,
        stp: on_off(b.is_some_and(|b| b.stp)),
        opts: b.map(|b| (*b.options).clone()).unwrap_or_default(),
    }
}

/// A nic: its speed only while up, and a bond slave's permanent MAC.
fn nic_report(link: &Link, host: &HostState, idx: &Index<'_>) -> NicReport {
    let permhwaddr = link
        .master
        .as_ref()
        .and_then(|m| host.link(m))
        .filter(|m| m.kind == LinkKind::Bond)
        .map(|_| {
            link.bond_slave
                .as_ref()
                .and_then(|s| s.perm_mac.clone())
                .or_else(|| link.perm_mac.clone())
                .or_else(|| link.mac.clone())
                .unwrap_or_default()
        });
    NicReport {
        ip: ip_block(link, idx),
        hwaddr: link.mac.clone().unwrap_or_default(),
        speed: if link.oper_state == "up" {
            link.speed.unwrap_or(0)
        } else {
            0
        },
        permhwaddr,
        // Filled by the engine from sysfs (netswitch-sriov).
        sriov: None,
        qos: None,
    }
}

/// The IP block of a device, or the config's MTU and nothing else when the
/// device is gone (deleted behind netswitch's back).
fn ip_or_gone(host: &HostState, dev: &str, a: &NetAttrs, idx: &Index<'_>) -> IpBlock {
    match host.link(dev) {
        Some(link) => ip_block(link, idx),
        None => IpBlock {
            mtu: a.mtu.to_string(),
            gateway: String::new(),
            ipv6gateway: "::".into(),
            ..IpBlock::default()
        },
    }
}

/// An OVS network in the legacy shape (docs/api.md §5), so an engine that
/// only knows Linux bridges reads it: a bridged one as a bridge named after
/// the network with its southbound as port; a bridgeless one on its
/// nic/bond/VLAN entry, which carries the internal port's IP block; a
/// tagged one with a `vlans` entry `<base>.<tag>` that no kernel device
/// backs.
fn ovs_net_report(c: &mut Caps, name: &str, a: &NetAttrs, host: &HostState, idx: &Index<'_>) {
    let base = a.base().map(str::to_string);
    let southbound = match (&base, a.vlan) {
        (Some(b), Some(v)) => Some(crate::topology::vlan_name(b, v)),
        (b, _) => b.clone(),
    };
    let ip = ip_or_gone(host, name, a, idx);
    let mut sb_ip = IpBlock {
        mtu: a.mtu.to_string(),
        gateway: String::new(),
        ipv6gateway: "::".into(),
        ..IpBlock::default()
    };
    if !a.bridged {
        sb_ip = ip.clone();
    }
    if let (Some(b), Some(v), Some(sb)) = (&base, a.vlan, &southbound) {
        c.vlans.insert(
            sb.clone(),
            VlanReport {
                ip: sb_ip,
                iface: b.clone(),
                vlanid: v,
            },
        );
    } else if let (Some(b), false) = (&base, a.bridged) {
        if let Some(n) = c.nics.get_mut(b) {
            n.ip = sb_ip;
        } else if let Some(bond) = c.bondings.get_mut(b) {
            bond.ip = sb_ip;
        }
    }
    let ports: Vec<String> = southbound.iter().cloned().collect();
    if a.bridged {
        c.bridges.insert(
            name.to_string(),
            BridgeReport {
                ip: ip.clone(),
                ports: ports.clone(),
                stp: on_off(false),
                opts: BTreeMap::new(),
            },
        );
    }
    let iface = if a.bridged {
        name.to_string()
    } else {
        southbound.clone().unwrap_or_else(|| name.to_string())
    };
    c.networks.insert(
        name.to_string(),
        NetReport {
            ip,
            iface: iface.clone(),
            bridged: a.bridged,
            ports: a.bridged.then_some(ports),
            interface: (!a.bridged).then_some(iface),
            stp: a.bridged.then(|| on_off(false)),
            southbound: southbound.unwrap_or_default(),
            vlanid: a.vlan,
            switch: a.switch.as_str().to_string(),
            host_qos: a.host_qos.clone(),
            port_mirroring: Vec::new(),
        },
    );
}

fn net_report(name: &str, a: &NetAttrs, host: &HostState, idx: &Index<'_>) -> NetReport {
    let p = place(name, a);
    let iface = p.northbound.clone().unwrap_or_else(|| name.to_string());
    let ip = ip_or_gone(host, &iface, a, idx);
    let bridge = host.link(&iface).and_then(|l| l.bridge.as_ref());
    let mut ports = bridge.map(|b| b.ports.clone()).unwrap_or_default();
    ports.sort();
    NetReport {
        ip,
        iface: iface.clone(),
        bridged: a.bridged,
        ports: a.bridged.then_some(ports),
        interface: (!a.bridged).then(|| iface.clone()),
        stp: a.bridged.then(|| on_off(bridge.map_or(a.stp, |b| b.stp))),
        southbound: p.southbound.unwrap_or_default(),
        vlanid: a.vlan,
        switch: a.switch.as_str().to_string(),
        host_qos: a.host_qos.clone(),
        port_mirroring: Vec::new(),
    }
}
