//! Linux bridges: created with STP and their options, or those brought in
//! line and the MTU raised; and, once every device exists, the ports
//! joining them.

use std::collections::BTreeMap;

use netswitch_model::plan::KernelOp;

use super::builder::PlanBuilder;
use super::links::Order;
use super::ordering::Step;
use super::view::Ctx;
use crate::topology::DevKind;

/// A bridge's part of the build.
pub(crate) fn build(
    step: &Step,
    stp: bool,
    options: &BTreeMap<String, String>,
    b: &mut PlanBuilder,
) {
    let name = step.name;
    let Some(l) = step.link.filter(|_| step.exists) else {
        b.push(KernelOp::CreateBridge {
            name: name.clone(),
            mtu: step.dev.mtu,
            stp,
            options: options.clone(),
        });
        return;
    };
    let have = l.bridge.as_ref();
    let stp_ok = have.is_some_and(|h| h.stp == stp);
    let opts_ok = options
        .iter()
        .all(|(k, v)| have.and_then(|h| h.options.get(k)) == Some(v));
    if !stp_ok || !opts_ok {
        b.push(KernelOp::SetBridgeOptions {
            name: name.clone(),
            stp,
            options: options.clone(),
        });
    }
    if l.mtu < step.dev.mtu {
        b.push(KernelOp::SetMtu {
            link: name.clone(),
            mtu: step.dev.mtu,
        });
    }
}

/// Ports join their bridges once both exist: a port not attached, or
/// whose bridge or itself was created or released by this plan.
pub(crate) fn join_ports(ctx: &Ctx, order: &Order, b: &mut PlanBuilder) {
    for (name, dev) in order {
        let Some(master) = &dev.master else { continue };
        if !matches!(
            ctx.des.devices.get(master).map(|d| &d.kind),
            Some(DevKind::Bridge { .. })
        ) {
            continue;
        }
        let attached = ctx
            .host
            .link(name)
            .is_some_and(|l| l.master.as_ref() == Some(master));
        if !attached || b.bridge_created(master) || b.port_created(name) || b.released(name) {
            b.push(KernelOp::SetMaster {
                link: (*name).clone(),
                master: master.clone(),
            });
        }
    }
}
