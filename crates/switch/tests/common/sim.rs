//! A host state moved along by a plan, as the kernel and OVS would do it.
//!
//! Lets a golden case or a bench start from a host that already carries a
//! running config without a kernel: the running config's own plan is
//! carried out here, op by op, on a host of bare nics. Only what the
//! planner reads back is modelled (links and their kind, master, MTU, up,
//! bond/bridge/VLAN details; addresses; routes; rules; OVS bridges and ports).

use std::collections::BTreeMap;
use std::sync::Arc;

use netswitch_model::host::{
    Addr, BondInfo, BridgeInfo, HostState, Link, LinkKind, OvsBridge, OvsPort, OvsState, Route,
    Rule, VlanInfo,
};
use netswitch_model::plan::{KernelOp, Op, OvsOp, Plan, RouteSpec, RuleSpec};

/// A host of up physical nics (MTU 1500, MACs by position) named `nics`.
pub fn bare_host(nics: &[String]) -> HostState {
    let mut h = HostState::default();
    for (i, n) in nics.iter().enumerate() {
        let mut l = Link::new(i as u32 + 1, n, LinkKind::Device);
        l.mac = Some(format!("02:00:00:00:00:{:02x}", i + 1));
        l.admin_up = true;
        l.oper_state = "up".into();
        h.links.insert(n.clone(), l);
    }
    h
}

/// Carries out every op of `plan` on `h`.
pub fn apply(h: &mut HostState, plan: &Plan) {
    for op in &plan.ops {
        apply_op(h, op);
    }
}

fn new_link<'a>(h: &'a mut HostState, name: &str, kind: LinkKind, mtu: u32) -> &'a mut Link {
    let index = h.links.values().map(|l| l.index).max().unwrap_or(0) + 1;
    let mut l = Link::new(index, name, kind);
    l.mtu = mtu;
    h.links.insert(name.to_string(), l);
    h.links.get_mut(name).expect("just inserted")
}

fn link<'a>(h: &'a mut HostState, name: &str) -> &'a mut Link {
    h.links
        .get_mut(name)
        .unwrap_or_else(|| panic!("plan touches missing link {name}"))
}

fn release(h: &mut HostState, name: &str) {
    let Some(m) = link(h, name).master.take() else {
        return;
    };
    if let Some(ml) = h.links.get_mut(&m) {
        if let Some(b) = ml.bond.as_mut() {
            b.slaves.retain(|s| s != name);
            // The kernel closes a slave leaving its bond.
            link(h, name).admin_up = false;
        } else if let Some(b) = ml.bridge.as_mut() {
            b.ports.retain(|s| s != name);
        }
    }
}

fn apply_op(h: &mut HostState, op: &Op) {
    match op {
        Op::Kernel(k) => apply_kernel(h, k),
        Op::Ovs(o) => apply_ovs(h, o),
        Op::Tc(t) => apply_tc(h, t),
    }
}

fn apply_kernel(h: &mut HostState, op: &KernelOp) {
    match op {
        KernelOp::CreateBridge {
            name,
            mtu,
            stp,
            options,
        } => {
            let l = new_link(h, name, LinkKind::Bridge, *mtu);
            l.bridge = Some(BridgeInfo {
                stp: *stp,
                options: Arc::new(options.clone()),
                ports: Vec::new(),
            });
        }
        KernelOp::CreateBond {
            name,
            options,
            hwaddr,
        } => {
            let l = new_link(h, name, LinkKind::Bond, 1500);
            l.mac = hwaddr.clone();
            l.bond = Some(BondInfo {
                options: options.map().clone(),
                slaves: Vec::new(),
                active_slave: None,
            });
        }
        KernelOp::CreateVlan {
            name,
            parent,
            id,
            mtu,
        } => {
            let l = new_link(h, name, LinkKind::Vlan, *mtu);
            l.vlan = Some(VlanInfo {
                id: *id,
                parent: parent.clone(),
            });
        }
        KernelOp::DeleteLink { name } => delete_link(h, name),
        KernelOp::SetMaster { link: n, master } => {
            release(h, n);
            link(h, n).master = Some(master.clone());
            let m = link(h, master);
            if let Some(b) = m.bond.as_mut() {
                b.slaves.push(n.clone());
                // An enslaved nic takes its bond's MTU.
                let mtu = m.mtu;
                link(h, n).mtu = mtu;
            } else if let Some(b) = m.bridge.as_mut() {
                b.ports.push(n.clone());
            }
        }
        KernelOp::ReleaseMaster { link: n } => release(h, n),
        KernelOp::SetMtu { link: n, mtu } => {
            let l = link(h, n);
            l.mtu = *mtu;
            // A bond's MTU is its slaves'.
            let slaves = l
                .bond
                .as_ref()
                .map(|b| b.slaves.clone())
                .unwrap_or_default();
            for s in slaves {
                link(h, &s).mtu = *mtu;
            }
        }
        KernelOp::SetUp { link: n } => link(h, n).admin_up = true,
        KernelOp::SetDown { link: n } => link(h, n).admin_up = false,
        KernelOp::SetBridgeOptions { name, stp, options } => {
            let b = link(h, name).bridge.as_mut().expect("a bridge");
            b.stp = *stp;
            let mut all = (*b.options).clone();
            all.extend(options.clone());
            b.options = Arc::new(all);
        }
        KernelOp::SetBondOptions { name, options } => {
            link(h, name).bond.as_mut().expect("a bond").options = options.map().clone();
        }
        KernelOp::SetMac { link: n, mac } => link(h, n).mac = Some(mac.clone()),
        KernelOp::AddAddr { link: n, addr } => h.addrs.push(Addr {
            link: n.clone(),
            address: addr.addr(),
            prefix_len: addr.prefix_len(),
            scope: "global".into(),
            dynamic: false,
            valid_lft: None,
            preferred_lft: None,
            secondary: false,
        }),
        KernelOp::DelAddr { link: n, addr } => h
            .addrs
            .retain(|a| !(a.link == *n && a.net().as_ref() == Some(addr))),
        KernelOp::AddRoute(r) => h.routes.push(route(r)),
        KernelOp::DelRoute(r) => h.routes.retain(|x| *x != route(r)),
        KernelOp::AddRule(r) => h.rules.push(rule(r)),
        KernelOp::DelRule(r) => h.rules.retain(|x| *x != rule(r)),
    }
}

fn delete_link(h: &mut HostState, name: &str) {
    release(h, name);
    let gone = h.links.remove(name);
    // Ports and slaves are freed; VLANs on it go with it.
    let kids: Vec<String> = h
        .links
        .values()
        .filter(|l| l.master.as_deref() == Some(name))
        .map(|l| l.name.clone())
        .collect();
    for k in kids {
        let l = link(h, &k);
        l.master = None;
        if gone.as_ref().is_some_and(|g| g.kind == LinkKind::Bond) {
            l.admin_up = false;
        }
    }
    let vlans: Vec<String> = h
        .links
        .values()
        .filter(|l| l.vlan.as_ref().is_some_and(|v| v.parent == name))
        .map(|l| l.name.clone())
        .collect();
    for v in vlans {
        delete_link(h, &v);
    }
    h.addrs.retain(|a| a.link != name);
    h.routes.retain(|r| r.oif.as_deref() != Some(name));
}

fn route(r: &RouteSpec) -> Route {
    Route {
        table: r.table,
        dst: r.dst,
        gateway: r.gateway,
        oif: Some(r.dev.clone()),
        prefsrc: r.prefsrc,
        metric: (!r.dst.addr().is_ipv4()).then_some(1024),
        protocol: "static".into(),
        scope: r.scope.clone(),
        kind: "unicast".into(),
    }
}

fn rule(r: &RuleSpec) -> Rule {
    let v4 = r
        .src
        .or(r.dst)
        .is_none_or(|n| matches!(n, ipnet::IpNet::V4(_)));
    Rule {
        family: if v4 { 4 } else { 6 },
        priority: Some(r.priority),
        table: r.table,
        src: r.src,
        dst: r.dst,
        iif: r.iif.clone(),
        oif: None,
    }
}

fn apply_ovs(h: &mut HostState, op: &OvsOp) {
    let ovs = h.ovs.get_or_insert_with(OvsState::default);
    let mut new_internal: Option<(String, u32)> = None;
    let mut gone: Vec<String> = Vec::new();
    let mut freed: Vec<String> = Vec::new();
    let mut datapath_port: Option<String> = None;
    match op {
        OvsOp::AddBridge {
            name,
            mark,
            southbound,
        } => {
            let mut br = OvsBridge {
                name: name.clone(),
                datapath_type: "system".into(),
                external_ids: BTreeMap::from([("netswitch-southbound".to_string(), mark.clone())]),
                ports: BTreeMap::new(),
            };
            br.ports.insert(name.clone(), port(name, None, true, None));
            if let Some(sb) = southbound {
                br.ports.insert(sb.clone(), port(sb, None, false, None));
                datapath_port = Some(sb.clone());
            }
            ovs.bridges.insert(name.clone(), br);
        }
        OvsOp::DelBridge { name } => {
            if let Some(br) = ovs.bridges.remove(name) {
                for p in br.ports.values() {
                    if p.internal {
                        gone.push(p.name.clone());
                    } else {
                        freed.push(p.name.clone());
                    }
                }
            }
        }
        OvsOp::AddPort {
            bridge,
            name,
            tag,
            internal,
            mtu,
        } => {
            let br = ovs.bridges.get_mut(bridge).expect("planned OVS bridge");
            br.ports
                .insert(name.clone(), port(name, *tag, *internal, *mtu));
            if *internal {
                new_internal = Some((name.clone(), mtu.unwrap_or(1500)));
            } else {
                datapath_port = Some(name.clone());
            }
        }
        OvsOp::DelPort { bridge, name } => {
            let br = ovs.bridges.get_mut(bridge).expect("planned OVS bridge");
            match br.ports.remove(name) {
                Some(p) if p.internal => gone.push(name.clone()),
                Some(_) => freed.push(name.clone()),
                None => {}
            }
        }
        OvsOp::SetPort { name, tag, mtu } => {
            for br in ovs.bridges.values_mut() {
                if let Some(p) = br.ports.get_mut(name) {
                    p.tag = *tag;
                    p.mtu_request = *mtu;
                }
            }
            if let (Some(m), Some(l)) = (mtu, h.links.get_mut(name)) {
                l.mtu = *m;
            }
        }
        OvsOp::SetMappings { mappings } => ovs.bridge_mappings = mappings.clone(),
    }
    for g in gone {
        h.links.remove(&g);
        h.addrs.retain(|a| a.link != g);
        h.routes.retain(|r| r.oif.as_deref() != Some(g.as_str()));
    }
    for f in freed {
        if let Some(l) = h.links.get_mut(&f) {
            l.master = None;
        }
    }
    if let Some(p) = datapath_port {
        if !h.links.contains_key("ovs-system") {
            new_link(h, "ovs-system", LinkKind::Openvswitch, 1500);
        }
        if let Some(l) = h.links.get_mut(&p) {
            l.master = Some("ovs-system".into());
        }
    }
    if let Some((name, mtu)) = new_internal {
        new_link(h, &name, LinkKind::Openvswitch, mtu);
    }
}

fn port(name: &str, tag: Option<u16>, internal: bool, mtu: Option<u32>) -> OvsPort {
    OvsPort {
        name: name.to_string(),
        tag,
        internal,
        mtu_request: mtu,
        ..Default::default()
    }
}

/// A tc op on the simulated host's tc trees, as the kernel would do it.
fn apply_tc(h: &mut HostState, op: &netswitch_model::tc::TcOp) {
    use netswitch_model::tc::TcOp;
    let tree = h.tc.entry(op.dev().to_string()).or_default();
    match op {
        TcOp::TcAddQdisc(q) => tree.qdiscs.push(q.clone()),
        TcOp::TcDelQdisc(q) => tree.qdiscs.retain(|x| x.handle != q.handle),
        TcOp::TcAddClass(c) => tree.classes.push(c.clone()),
        TcOp::TcChangeClass(c) => {
            for x in tree.classes.iter_mut().filter(|x| x.classid == c.classid) {
                *x = c.clone();
            }
        }
        TcOp::TcDelClass(c) => tree.classes.retain(|x| x.classid != c.classid),
        TcOp::TcAddFilter(f) => tree.filters.push(f.clone()),
        TcOp::TcDelFilter(f) => tree
            .filters
            .retain(|x| (x.parent, x.prio) != (f.parent, f.prio)),
    }
    if tree.is_empty() {
        h.tc.remove(op.dev());
    }
}
