//! The undo of one applied op, from the host as it was before the plan.
//!
//! Rollback first undoes what succeeded, newest first, with these inverses:
//! they restore exactly what the plan changed on devices netswitch does not
//! own (a stray address it removed, a foreign default route it replaced, a
//! nic's MTU). Deleted links have no inverse here: the planner, fed the old
//! running config, recreates them with everything on them.

use netswitch_model::bondopts::BondOptions;
use netswitch_model::host::HostState;
use netswitch_model::plan::Op;

/// The ops that undo `op`, given the host `before` the plan ran.
pub fn inverse(op: &Op, before: &HostState) -> Vec<Op> {
    let link = |name: &str| before.link(name);
    match op {
        Op::CreateBridge { name, .. }
        | Op::CreateBond { name, .. }
        | Op::CreateVlan { name, .. } => {
            vec![Op::DeleteLink { name: name.clone() }]
        }
        Op::DeleteLink { .. } => Vec::new(),
        Op::SetMaster { link: l, .. } => match link(l) {
            Some(old) => match &old.master {
                Some(m) => vec![Op::SetMaster {
                    link: l.clone(),
                    master: m.clone(),
                }],
                None => vec![Op::ReleaseMaster { link: l.clone() }],
            },
            None => Vec::new(),
        },
        Op::ReleaseMaster { link: l } => match link(l).and_then(|o| o.master.clone()) {
            Some(m) => vec![Op::SetMaster {
                link: l.clone(),
                master: m,
            }],
            None => Vec::new(),
        },
        Op::SetMtu { link: l, .. } => link(l)
            .map(|o| {
                vec![Op::SetMtu {
                    link: l.clone(),
                    mtu: o.mtu,
                }]
            })
            .unwrap_or_default(),
        Op::SetUp { link: l } => match link(l) {
            Some(o) if !o.admin_up => vec![Op::SetDown { link: l.clone() }],
            _ => Vec::new(),
        },
        Op::SetDown { link: l } => match link(l) {
            Some(o) if o.admin_up => vec![Op::SetUp { link: l.clone() }],
            _ => Vec::new(),
        },
        Op::SetBridgeOptions { name, options, .. } => {
            match link(name).and_then(|o| o.bridge.as_ref()) {
                Some(b) => vec![Op::SetBridgeOptions {
                    name: name.clone(),
                    stp: b.stp,
                    options: options
                        .keys()
                        .filter_map(|k| Some((k.clone(), b.options.get(k)?.clone())))
                        .collect(),
                }],
                None => Vec::new(),
            }
        }
        Op::SetBondOptions { name, .. } => match link(name).and_then(|o| o.bond.as_ref()) {
            Some(b) => {
                let old = BondOptions::non_default(&b.options);
                match BondOptions::from_pairs(old.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
                    Ok(opts) => vec![Op::SetBondOptions {
                        name: name.clone(),
                        options: opts.to_string(),
                    }],
                    Err(_) => Vec::new(),
                }
            }
            None => Vec::new(),
        },
        Op::SetMac { link: l, .. } => match link(l).and_then(|o| o.mac.clone()) {
            Some(mac) => vec![Op::SetMac {
                link: l.clone(),
                mac,
            }],
            None => Vec::new(),
        },
        Op::AddAddr { link, addr } => vec![Op::DelAddr {
            link: link.clone(),
            addr: *addr,
        }],
        Op::DelAddr { link, addr } => vec![Op::AddAddr {
            link: link.clone(),
            addr: *addr,
        }],
        Op::AddRoute(r) => vec![Op::DelRoute(r.clone())],
        Op::DelRoute(r) => vec![Op::AddRoute(r.clone())],
        Op::AddRule(r) => vec![Op::DelRule(r.clone())],
        Op::DelRule(r) => vec![Op::AddRule(r.clone())],
        // OVS: what was deleted comes back through the planner pass, like
        // deleted links; what was added or changed is undone here.
        Op::OvsAddBridge { name, .. } => vec![Op::OvsDelBridge { name: name.clone() }],
        Op::OvsAddPort { bridge, name, .. } => vec![Op::OvsDelPort {
            bridge: bridge.clone(),
            name: name.clone(),
        }],
        Op::OvsDelBridge { .. } | Op::OvsDelPort { .. } => Vec::new(),
        Op::OvsSetPort { name, .. } => before
            .ovs
            .as_ref()
            .and_then(|o| o.bridge_of_port(name))
            .and_then(|b| b.ports.get(name))
            .map(|p| {
                vec![Op::OvsSetPort {
                    name: name.clone(),
                    tag: p.tag,
                    mtu: p.mtu_request,
                }]
            })
            .unwrap_or_default(),
        Op::OvsSetMappings { .. } => vec![Op::OvsSetMappings {
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
        let ops = vec![
            Op::SetMtu {
                link: "eth0".into(),
                mtu: 1500,
            },
            Op::CreateBridge {
                name: "n".into(),
                mtu: 1500,
                stp: false,
                options: Default::default(),
            },
            Op::SetMaster {
                link: "eth0".into(),
                master: "n".into(),
            },
        ];
        let undo = undo(&ops, &[0, 1, 2], &before);
        assert_eq!(
            undo,
            vec![
                Op::ReleaseMaster {
                    link: "eth0".into()
                },
                Op::DeleteLink { name: "n".into() },
                Op::SetMtu {
                    link: "eth0".into(),
                    mtu: 9000
                },
            ]
        );
    }
}
