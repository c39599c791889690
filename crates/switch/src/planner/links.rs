//! Links: devices that leave (deleted top-down, nics released and given
//! the default MTU back), devices that change master, MTU decreases
//! (top-down) and the nics' part of the build (MTU increases, up again
//! after leaving a bond).

use std::collections::BTreeSet;

use netswitch_model::config::DEFAULT_MTU;
use netswitch_model::host::{HostState, Link, LinkKind};
use netswitch_model::plan::KernelOp;

use super::builder::PlanBuilder;
use super::ordering::Step;
use super::view::Ctx;
use crate::topology::{Dev, DevKind, Topology};

/// Devices netswitch owned that the desired config drops: top-down,
/// bridges, then VLANs, then bonds are deleted; nics are released and get
/// the default MTU back. Returns the names deleted.
pub(crate) fn leaving<'a>(ctx: &Ctx<'a>, b: &mut PlanBuilder) -> BTreeSet<&'a str> {
    let mut leaving: Vec<(&str, &Dev, &Link)> = ctx
        .views
        .iter()
        .filter(|(_, v)| v.desired.is_none())
        .filter_map(|(n, v)| Some((*n, v.running?, v.link?)))
        .collect();
    leaving.sort_by_key(|(n, d, _)| (std::cmp::Reverse(d.kind.rank()), *n));
    let mut deleted: BTreeSet<&str> = BTreeSet::new();
    for (name, dev, link) in leaving {
        if !matches!(dev.kind, DevKind::Nic) {
            b.push(KernelOp::DeleteLink {
                name: name.to_string(),
            });
            deleted.insert(name);
            continue;
        }
        // A port of OVS's kernel datapath leaves through OVSDB.
        if link
            .master
            .as_ref()
            .is_some_and(|m| !deleted.contains(m.as_str()) && !is_ovs_master(m, ctx.host))
        {
            b.push(KernelOp::ReleaseMaster {
                link: name.to_string(),
            });
        }
        if link.mtu != DEFAULT_MTU {
            b.push(KernelOp::SetMtu {
                link: name.to_string(),
                mtu: DEFAULT_MTU,
            });
        }
        // Released by the kernel from its bond, it is closed: give it
        // back up, as it was while enslaved.
        if link.admin_up && is_bond_slave(link, ctx.host) {
            b.push(KernelOp::SetUp {
                link: name.to_string(),
            });
        }
    }
    deleted
}

/// Devices that stay but change master leave the old one first.
pub(crate) fn release_stale(
    ctx: &Ctx,
    order: &Order,
    deleted: &BTreeSet<&str>,
    b: &mut PlanBuilder,
) {
    for (name, dev) in order {
        let Some(m) = ctx.host.link(name).and_then(|l| l.master.as_ref()) else {
            continue;
        };
        let stale = dev.master.as_ref() != Some(m);
        if stale && !deleted.contains(m.as_str()) && ctx.owned(m) {
            b.push(KernelOp::ReleaseMaster {
                link: (*name).clone(),
            });
        }
    }
}

/// MTU decreases, top-down (a device's MTU may not exceed its lower's).
pub(crate) fn mtu_decreases(ctx: &Ctx, order: &Order, b: &mut PlanBuilder) {
    for (name, dev) in order.iter().rev() {
        if let Some(link) = ctx.host.link(name) {
            if link.mtu > dev.mtu && !is_slave(dev, ctx.des) {
                b.push(KernelOp::SetMtu {
                    link: (*name).clone(),
                    mtu: dev.mtu,
                });
            }
        }
    }
}

/// A nic's part of the build: MTU increases; up again once it left its bond.
pub(crate) fn build_nic(ctx: &Ctx, step: &Step, b: &mut PlanBuilder, ups: &mut Vec<String>) {
    let Some(l) = step.link else { return };
    if l.mtu < step.dev.mtu && !is_slave(step.dev, ctx.des) {
        b.push(KernelOp::SetMtu {
            link: step.name.clone(),
            mtu: step.dev.mtu,
        });
    }
    // The kernel closes a slave that leaves its bond.
    if is_bond_slave(l, ctx.host) && !is_slave(step.dev, ctx.des) {
        ups.push(step.name.clone());
    }
}

/// The desired devices in stacking order, bottom first.
pub(crate) type Order<'a> = Vec<(&'a String, &'a Dev)>;

/// Whether a link is enslaved to a bond now. The kernel closes a slave
/// when it leaves its bond (released, or the bond deleted), so such a nic
/// must be set up again afterwards.
pub(crate) fn is_bond_slave(link: &Link, host: &HostState) -> bool {
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

/// Whether a device is a bond's slave in `topo`.
pub(crate) fn is_slave(dev: &Dev, topo: &Topology) -> bool {
    dev.master.as_ref().is_some_and(|m| {
        matches!(
            topo.devices.get(m).map(|d| &d.kind),
            Some(DevKind::Bond { .. })
        )
    })
}

/// Whether a host link is the device the topology wants (a nic is any link).
pub(crate) fn kind_matches(want: &DevKind, have: &Link) -> bool {
    match want {
        DevKind::Nic => true,
        DevKind::Bond { .. } => have.kind == LinkKind::Bond,
        DevKind::Bridge { .. } => have.kind == LinkKind::Bridge,
        DevKind::Vlan { parent, id } => {
            have.kind == LinkKind::Vlan
                && have
                    .vlan
                    .as_ref()
                    .is_some_and(|v| v.parent == *parent && v.id == *id)
        }
    }
}
