//! VLAN devices: created on their parent with their MTU, or raised to it.

use netswitch_model::plan::KernelOp;

use super::builder::PlanBuilder;
use super::ordering::Step;

/// A VLAN's part of the build.
pub(crate) fn build(step: &Step, parent: &str, id: u16, b: &mut PlanBuilder) {
    if !step.exists {
        b.push(KernelOp::CreateVlan {
            name: step.name.clone(),
            parent: parent.to_string(),
            id,
            mtu: step.dev.mtu,
        });
    } else if step.link.is_some_and(|l| l.mtu < step.dev.mtu) {
        b.push(KernelOp::SetMtu {
            link: step.name.clone(),
            mtu: step.dev.mtu,
        });
    }
}
