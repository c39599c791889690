//! The build's order: desired devices bottom-up (nics, bonds, VLANs,
//! bridges), each replaced when the host has one of the wrong kind, the
//! OVS transaction spliced in once bonds and their slaves exist (a new
//! bond can be a southbound port) and before VLANs and bridges (a legacy
//! bridge may take an internal port's name, a nic may leave OVS for a
//! legacy bridge); then links up, bottom-up, each once.

use std::collections::BTreeSet;

use netswitch_model::host::Link;
use netswitch_model::plan::{KernelOp, OvsOp};

use super::builder::PlanBuilder;
use super::links::{self, Order};
use super::view::Ctx;
use super::{bonds, bridges, vlans};
use crate::topology::{Dev, DevKind};

/// One desired device being built, with its host link.
pub(crate) struct Step<'a> {
    pub name: &'a String,
    pub dev: &'a Dev,
    pub link: Option<&'a Link>,
    /// The host has a device of this name and the right kind (adopted).
    pub exists: bool,
}

/// Rank from which the OVS transaction must have run (VLANs).
const OVS_BEFORE_RANK: u8 = 2;

/// Builds every desired device bottom-up with the OVS transaction in its
/// place; returns the links to set up.
pub(crate) fn build(
    ctx: &Ctx,
    order: &Order,
    ovs_ops: Vec<OvsOp>,
    b: &mut PlanBuilder,
) -> Vec<String> {
    let mut ups = Vec::new();
    let mut ovs_ops = Some(ovs_ops);
    for (name, dev) in order {
        if dev.kind.rank() >= OVS_BEFORE_RANK {
            b.extend(ovs_ops.take().unwrap_or_default());
        }
        let link = ctx.views.get(name.as_str()).and_then(|v| v.link);
        let step = Step {
            name,
            dev,
            link,
            exists: link.is_some_and(|l| links::kind_matches(&dev.kind, l)),
        };
        build_one(ctx, &step, b, &mut ups);
    }
    b.extend(ovs_ops.take().unwrap_or_default());
    ups
}

/// Adopts a host device of the right kind, replaces one of the wrong kind
/// netswitch owns, and dispatches to the device's capability.
fn build_one(ctx: &Ctx, step: &Step, b: &mut PlanBuilder, ups: &mut Vec<String>) {
    let name = step.name;
    if step.link.is_some()
        && !step.exists
        && !matches!(step.dev.kind, DevKind::Nic)
        && !ctx.is_internal_port(name)
    {
        b.push(KernelOp::DeleteLink { name: name.clone() });
    }
    match &step.dev.kind {
        DevKind::Nic => links::build_nic(ctx, step, b, ups),
        DevKind::Bond { options, hwaddr } => bonds::build(ctx, step, options, hwaddr, b, ups),
        DevKind::Vlan { parent, id } => vlans::build(step, parent, *id, b),
        DevKind::Bridge { stp, options } => bridges::build(step, *stp, options, b),
    }
    if !step.exists || !step.link.is_some_and(|l| l.admin_up) || b.downed(name) {
        ups.push(name.clone());
    }
}

/// Links up, bottom-up (by rank, then name), each once.
pub(crate) fn set_up(ctx: &Ctx, mut ups: Vec<String>, b: &mut PlanBuilder) {
    let mut seen = BTreeSet::new();
    ups.sort_by_cached_key(|n| {
        (
            ctx.des.devices.get(n).map_or(0, |d| d.kind.rank()),
            n.clone(),
        )
    });
    for n in ups {
        if seen.insert(n.clone()) {
            b.push(KernelOp::SetUp { link: n });
        }
    }
}
