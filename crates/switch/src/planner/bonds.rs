//! Bonds: created with their options, or their options, MAC and MTU
//! brought in line (releasing the slaves and taking the bond down where
//! the kernel needs that); then their slaves, each set down and enslaved
//! (the kernel refuses an up slave).

use std::collections::BTreeMap;

use netswitch_model::bondopts::{BondOptions, NEED_DOWN, NEED_NO_SLAVES};
use netswitch_model::config::DEFAULT_MTU;
use netswitch_model::host::Link;
use netswitch_model::plan::KernelOp;

use super::builder::PlanBuilder;
use super::ordering::Step;
use super::view::Ctx;

/// A bond's part of the build.
pub(crate) fn build(
    ctx: &Ctx,
    step: &Step,
    options: &BondOptions,
    hwaddr: &Option<String>,
    b: &mut PlanBuilder,
    ups: &mut Vec<String>,
) {
    let name = step.name;
    let mut released_slaves = false;
    if !step.exists {
        b.push(KernelOp::CreateBond {
            name: name.clone(),
            options: options.clone(),
            hwaddr: hwaddr.clone(),
        });
        if step.dev.mtu != DEFAULT_MTU {
            b.push(KernelOp::SetMtu {
                link: name.clone(),
                mtu: step.dev.mtu,
            });
        }
    } else if let Some(l) = step.link {
        released_slaves = update(step, l, options, b);
        if let Some(mac) = hwaddr {
            if l.mac.as_ref() != Some(mac) {
                b.push(KernelOp::SetMac {
                    link: name.clone(),
                    mac: mac.clone(),
                });
            }
        }
        if l.mtu < step.dev.mtu {
            b.push(KernelOp::SetMtu {
                link: name.clone(),
                mtu: step.dev.mtu,
            });
        }
    }
    enslave(ctx, step, released_slaves || !step.exists, b, ups);
}

/// Options of an existing bond that differ from the desired ones; returns
/// whether its slaves were released for that.
fn update(step: &Step, l: &Link, options: &BondOptions, b: &mut PlanBuilder) -> bool {
    let empty = BTreeMap::new();
    let current = l.bond.as_ref().map_or(&empty, |b| &b.options);
    let changed = options.changed(current);
    if changed.is_empty() {
        return false;
    }
    let no_slaves = changed.iter().any(|o| NEED_NO_SLAVES.contains(o));
    let down = no_slaves || changed.iter().any(|o| NEED_DOWN.contains(o));
    if no_slaves {
        for s in l.bond.iter().flat_map(|b| b.slaves.iter()) {
            b.push(KernelOp::ReleaseMaster { link: s.clone() });
        }
    }
    if down {
        b.push(KernelOp::SetDown {
            link: step.name.clone(),
        });
    }
    b.push(KernelOp::SetBondOptions {
        name: step.name.clone(),
        options: options.clone(),
    });
    no_slaves
}

/// Slaves not (or no longer) in the bond: down, then enslaved, then up
/// with the rest.
fn enslave(ctx: &Ctx, step: &Step, all: bool, b: &mut PlanBuilder, ups: &mut Vec<String>) {
    let name = step.name;
    let slaves = ctx
        .des
        .devices
        .iter()
        .filter(|(_, d)| d.master.as_ref() == Some(name));
    for (slave, _) in slaves {
        let Some(sl) = ctx.host.link(slave) else {
            continue;
        };
        if sl.master.as_ref() != Some(name) || all {
            b.push(KernelOp::SetDown {
                link: slave.clone(),
            });
            b.push(KernelOp::SetMaster {
                link: slave.clone(),
                master: name.clone(),
            });
            ups.push(slave.clone());
        }
    }
}
