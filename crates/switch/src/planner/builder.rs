//! The plan as it is built: the ops in order, and an index of what has
//! been emitted so far, so a later step asks "was this bridge created?"
//! or "was this link released or set down?" in one lookup instead of
//! scanning the ops emitted before it.

use std::collections::HashSet;

use netswitch_model::plan::{KernelOp, Op};

/// Ops in order, indexed by the facts later steps ask about.
#[derive(Debug, Default)]
pub(crate) struct PlanBuilder {
    ops: Vec<Op>,
    /// Bridges created by the plan so far.
    bridges_created: HashSet<String>,
    /// VLANs and bonds created by the plan so far (bridge port candidates).
    ports_created: HashSet<String>,
    /// Links released from their master so far.
    released: HashSet<String>,
    /// Links set down so far.
    downed: HashSet<String>,
}

impl PlanBuilder {
    /// Appends one op, noting what it tells later steps.
    pub(crate) fn push(&mut self, op: impl Into<Op>) {
        let op = op.into();
        let Op::Kernel(k) = &op else {
            self.ops.push(op);
            return;
        };
        match k {
            KernelOp::CreateBridge { name, .. } => {
                self.bridges_created.insert(name.clone());
            }
            KernelOp::CreateVlan { name, .. } | KernelOp::CreateBond { name, .. } => {
                self.ports_created.insert(name.clone());
            }
            KernelOp::ReleaseMaster { link } => {
                self.released.insert(link.clone());
            }
            KernelOp::SetDown { link } => {
                self.downed.insert(link.clone());
            }
            _ => {}
        }
        self.ops.push(op);
    }

    pub(crate) fn extend<T: Into<Op>>(&mut self, ops: impl IntoIterator<Item = T>) {
        for op in ops {
            self.push(op);
        }
    }

    pub(crate) fn bridge_created(&self, name: &str) -> bool {
        self.bridges_created.contains(name)
    }

    /// A VLAN or bond of this name was created.
    pub(crate) fn port_created(&self, name: &str) -> bool {
        self.ports_created.contains(name)
    }

    pub(crate) fn released(&self, link: &str) -> bool {
        self.released.contains(link)
    }

    pub(crate) fn downed(&self, link: &str) -> bool {
        self.downed.contains(link)
    }

    pub(crate) fn into_ops(self) -> Vec<Op> {
        self.ops
    }
}
