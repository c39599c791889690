//! The OVS switch's place in the plan: its transaction (from
//! [`crate::ovs::ops`]), the northbound devices it (re)creates, and its
//! internal ports set up (OVS creates them down).

use std::collections::BTreeSet;

use netswitch_model::plan::OvsOp;

use super::view::Ctx;
use crate::topology::Topology;
use netswitch_model::host::HostState;

/// Northbound devices created anew where a device of that name is now:
/// internal ports the transaction (re)adds, and legacy devices replacing
/// an internal port.
pub(crate) fn fresh(host: &HostState, des: &Topology, ovs_ops: &[OvsOp]) -> BTreeSet<String> {
    let mut fresh: BTreeSet<String> = ovs_ops
        .iter()
        .filter_map(|o| match o {
            OvsOp::AddPort {
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
            .filter(|n| crate::ovs::is_internal_port(host, n))
            .cloned(),
    );
    fresh
}

/// Internal ports to set up: new ones, and those found down.
pub(crate) fn ups(ctx: &Ctx, ups: &mut Vec<String>) {
    for net in ctx.des.ovs.keys() {
        if ctx.fresh.contains(net) || !ctx.host.link(net).is_some_and(|l| l.admin_up) {
            ups.push(net.clone());
        }
    }
}
