//! The undo of one applied op, from the host as it was before the plan.
//!
//! Rollback first undoes what succeeded, newest first, with these inverses:
//! they restore exactly what the plan changed on devices netswitch does not
//! own (a stray address it removed, a foreign default route it replaced, a
//! nic's MTU). Deleted links have no inverse here: the planner, fed the old
//! running config, recreates them with everything on them.

use netswitch_model::bondopts::BondOptions;
use netswitch_model::host::HostState;
use netswitch_model::plan::{KernelOp, Op, OvsOp};
use netswitch_model::tc::TcOp;

/// The ops that undo `op`, given the host `before` the plan ran.
pub fn inverse(op: &Op, before: &HostState) -> Vec<Op> {
    match op {
        Op::Kernel(k) => kernel(k, before).into_iter().map(Op::from).collect(),
        Op::Ovs(o) => ovs(o, before).into_iter().map(Op::from).collect(),
        Op::Tc(t) => tc(t, before).into_iter().map(Op::from).collect(),
    }
}

/// The undo of a tc op: the object as it was. A class changed goes back
/// to its old curves (read from the host before the plan); the others
/// carry the whole object, so their undo is their opposite.
fn tc(op: &TcOp, before: &HostState) -> Vec<TcOp> {
    match op {
        TcOp::TcAddQdisc(q) => vec![TcOp::TcDelQdisc(q.clone())],
        TcOp::TcDelQdisc(q) => vec![TcOp::TcAddQdisc(q.clone())],
        TcOp::TcAddClass(c) => vec![TcOp::TcDelClass(c.clone())],
        TcOp::TcDelClass(c) => vec![TcOp::TcAddClass(c.clone())],
        TcOp::TcChangeClass(c) => before
            .tc
            .get(&c.dev)
            .and_then(|t| t.class(c.classid))
            .map(|old| vec![TcOp::TcChangeClass(old.clone())])
            .unwrap_or_default(),
        TcOp::TcAddFilter(f) => vec![TcOp::TcDelFilter(f.clone())],
        TcOp::TcDelFilter(f) => vec![TcOp::TcAddFilter(f.clone())],
    }
}

/// The undo of a kernel op.
fn kernel(op: &KernelOp, before: &HostState) -> Vec<KernelOp> {
    let link = |name: &str| before.link(name);
    match op {
        KernelOp::CreateBridge { name, .. }
        | KernelOp::CreateBond { name, .. }
        | KernelOp::CreateVlan { name, .. } => {
            vec![KernelOp::DeleteLink { name: name.clone() }]
        }
        KernelOp::DeleteLink { .. } => Vec::new(),
        KernelOp::SetMaster { link: l, .. } => master_back(l, before),
        // Releasing a link that had no master undoes to nothing.
        KernelOp::ReleaseMaster { link: l } => match link(l) {
            Some(o) if o.master.is_some() => master_back(l, before),
            _ => Vec::new(),
        },
        KernelOp::SetMtu { link: l, .. } => link(l)
            .map(|o| {
                vec![KernelOp::SetMtu {
                    link: l.clone(),
                    mtu: o.mtu,
                }]
            })
            .unwrap_or_default(),
        KernelOp::SetUp { link: l } | KernelOp::SetDown { link: l } => match link(l) {
            Some(o) if o.admin_up != matches!(op, KernelOp::SetUp { .. }) => {
                vec![admin_state(l, o.admin_up)]
            }
            _ => Vec::new(),
        },
        KernelOp::SetBridgeOptions { name, options, .. } => {
            bridge_options_back(name, options, before)
        }
        KernelOp::SetBondOptions { name, .. } => bond_options_back(name, before),
        KernelOp::SetMac { link: l, .. } => match link(l).and_then(|o| o.mac.clone()) {
            Some(mac) => vec![KernelOp::SetMac {
                link: l.clone(),
                mac,
            }],
            None => Vec::new(),
        },
        KernelOp::AddAddr { link, addr } => vec![KernelOp::DelAddr {
            link: link.clone(),
            addr: *addr,
        }],
        KernelOp::DelAddr { link, addr } => vec![KernelOp::AddAddr {
            link: link.clone(),
            addr: *addr,
        }],
        KernelOp::AddRoute(r) => vec![KernelOp::DelRoute(r.clone())],
        KernelOp::DelRoute(r) => vec![KernelOp::AddRoute(r.clone())],
        KernelOp::AddRule(r) => vec![KernelOp::DelRule(r.clone())],
        KernelOp::DelRule(r) => vec![KernelOp::AddRule(r.clone())],
    }
}

/// `link` back under the master it had (or under none), whichever way an
/// op moved it.
fn master_back(l: &str, before: &HostState) -> Vec<KernelOp> {
    let Some(old) = before.link(l) else {
        return Vec::new();
    };
    vec![match &old.master {
        Some(m) => KernelOp::SetMaster {
            link: l.to_owned(),
            master: m.clone(),
        },
        None => KernelOp::ReleaseMaster { link: l.to_owned() },
    }]
}

fn admin_state(l: &str, up: bool) -> KernelOp {
    let link = l.to_owned();
    if up {
        KernelOp::SetUp { link }
    } else {
        KernelOp::SetDown { link }
    }
}

/// The bridge's old values of exactly the options an op set (and its STP).
fn bridge_options_back(
    name: &str,
    options: &std::collections::BTreeMap<String, String>,
    before: &HostState,
) -> Vec<KernelOp> {
    let Some(b) = before.link(name).and_then(|o| o.bridge.as_ref()) else {
        return Vec::new();
    };
    vec![KernelOp::SetBridgeOptions {
        name: name.to_owned(),
        stp: b.stp,
        options: options
            .keys()
            .filter_map(|k| Some((k.clone(), b.options.get(k)?.clone())))
            .collect(),
    }]
}

/// The bond's old non-default options; nothing if the kernel reported
/// options the model cannot state (the bond is then left as it is).
fn bond_options_back(name: &str, before: &HostState) -> Vec<KernelOp> {
    let Some(b) = before.link(name).and_then(|o| o.bond.as_ref()) else {
        return Vec::new();
    };
    let old = BondOptions::non_default(&b.options);
    match BondOptions::from_pairs(old.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        Ok(opts) => vec![KernelOp::SetBondOptions {
            name: name.to_owned(),
            options: opts,
        }],
        Err(_) => Vec::new(),
    }
}

fn ovs(op: &OvsOp, before: &HostState) -> Vec<OvsOp> {
    match op {
        OvsOp::AddBridge { name, .. } => vec![OvsOp::DelBridge { name: name.clone() }],
        OvsOp::AddPort { bridge, name, .. } => vec![OvsOp::DelPort {
            bridge: bridge.clone(),
            name: name.clone(),
        }],
        OvsOp::DelBridge { .. } | OvsOp::DelPort { .. } => Vec::new(),
        OvsOp::SetPort { name, .. } => before
            .ovs
            .as_ref()
            .and_then(|o| o.bridge_of_port(name))
            .and_then(|b| b.ports.get(name))
            .map(|p| {
                vec![OvsOp::SetPort {
                    name: name.clone(),
                    tag: p.tag,
                    mtu: p.mtu_request,
                }]
            })
            .unwrap_or_default(),
        OvsOp::SetMappings { .. } => vec![OvsOp::SetMappings {
            mappings: before.ovs.as_ref().and_then(|o| o.bridge_mappings.clone()),
        }],
    }
}

/// The undo of the ops at `done` (indices into `ops`), newest first.
pub fn undo(ops: &[Op], done: &[usize], before: &HostState) -> Vec<Op> {
    done.iter()
        .rev()
        .filter_map(|&i| ops.get(i))
        .flat_map(|op| inverse(op, before))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use netswitch_model::host::{Link, LinkKind};

    #[test]
    fn undo_runs_newest_first_and_restores_old_values() {
        let mut before = HostState::default();
        let mut l = Link::new(1, "eth0", LinkKind::Device);
        l.mtu = 9000;
        l.admin_up = true;
        before.links.insert("eth0".into(), l);
        let ops: Vec<Op> = [
            KernelOp::SetMtu {
                link: "eth0".into(),
                mtu: 1500,
            },
            KernelOp::CreateBridge {
                name: "n".into(),
                mtu: 1500,
                stp: false,
                options: Default::default(),
            },
            KernelOp::SetMaster {
                link: "eth0".into(),
                master: "n".into(),
            },
        ]
        .map(Op::from)
        .to_vec();
        let undo = undo(&ops, &[0, 1, 2], &before);
        assert_eq!(
            undo,
            [
                KernelOp::ReleaseMaster {
                    link: "eth0".into()
                },
                KernelOp::DeleteLink { name: "n".into() },
                KernelOp::SetMtu {
                    link: "eth0".into(),
                    mtu: 9000
                },
            ]
            .map(Op::from)
        );
    }
}
