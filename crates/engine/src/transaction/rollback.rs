//! Rolling a failed transaction back (module doc of `transaction`): the
//! exact inverses of what was done, the old config planned again, then the
//! host compared with the snapshot taken before.

use netswitch_model::config::Config;
use netswitch_model::host::HostState;
use netswitch_model::plan::Op;
use netswitch_switch::inverse;
use tracing::{info_span, warn};

use super::uses_ovs;
use crate::txerror::Rollback;
use crate::{backend, resolv, Engine, Which};

impl Engine {
    /// Brings the host back to `before`; says how far it got.
    pub(super) fn rollback(
        &self,
        before: &HostState,
        running: &Config,
        desired: &Config,
        ops: &[Op],
        done: &[usize],
        old_resolv: Option<&Option<Vec<u8>>>,
    ) -> Rollback {
        let _span = info_span!("rollback", done = done.len()).entered();
        let mut problems = Vec::new();
        // A file that could not be put back leaves the rollback incomplete
        // even when the host's facts are as before.
        let mut restore_failed = false;
        // A failed persistent save comes after the running one: put the
        // running config back first, so that a crash during this rollback
        // is rolled back again by the next start rather than "finished".
        if self.store.load(Which::Running).ok().as_ref() != Some(running) {
            if let Err(e) = self.store.save(Which::Running, running) {
                problems.push(format!("restoring the running config: {e}"));
                restore_failed = true;
            }
        }
        // Undoing an op on a device the plan deleted fails until the planner
        // pass below recreates the device (with what was on it); so these
        // failures are only worth reporting if the host does not end up
        // as it was.
        let with_ovs = uses_ovs(running, desired);
        problems.extend(self.dynamic_rollback_stop(running));
        let undo = inverse::undo(ops, done, before);
        problems.extend(self.apply_best_effort(&undo, with_ovs));
        match self.observe(with_ovs) {
            Ok(now) => match netswitch_switch::plan(&now, desired, running) {
                Ok(back) => problems.extend(self.apply_best_effort(&back.ops, with_ovs)),
                Err(e) => problems.push(format!("replanning the old config: {e}")),
            },
            Err(e) => problems.push(e.to_string()),
        }
        problems.extend(self.dynamic_rollback_start(running, None));
        if let Some(old) = old_resolv {
            if let Err(e) = resolv::restore(&self.resolv_conf, old.as_deref()) {
                problems.push(format!("restoring {}: {e}", self.resolv_conf.display()));
                restore_failed = true;
            }
        }
        let differences = self.settled_differences(before, with_ovs);
        if differences.is_empty() && !restore_failed {
            if !problems.is_empty() {
                tracing::debug!(?problems, "rollback converged despite failed undo steps");
            }
            return Rollback::Complete;
        }
        for p in differences.iter().chain(&problems) {
            warn!(problem = %p, "rollback incomplete");
        }
        if differences.is_empty() {
            Rollback::RestoreFailed { problems }
        } else {
            Rollback::Incomplete {
                differences,
                problems,
            }
        }
    }

    /// Applies every op it can, going on after failures; returns the failures.
    pub(crate) fn apply_best_effort(&self, ops: &[Op], with_ovs: bool) -> Vec<String> {
        let mut problems = Vec::new();
        let mut queue: Vec<Op> = ops.to_vec();
        while !queue.is_empty() {
            let host = match self.observe(with_ovs) {
                Ok(h) => h,
                Err(e) => {
                    problems.push(e.to_string());
                    break;
                }
            };
            let applied = backend::apply(&host, &queue, &self.ovs, &*self.host);
            let Some(f) = applied.failure else { break };
            problems.push(format!("undo op {} failed: {}", f.op, f.message));
            if applied.stats.sendmsg_calls == 0 {
                // Refused before sending (a device that does not exist yet):
                // nothing went out, so drop only the refused op.
                queue.remove(f.index.min(queue.len() - 1));
            } else {
                // The kernel saw everything up to the failure and whatever it
                // acked after it in the same batch; go on after that.
                let seen = applied.done.last().copied().unwrap_or(0).max(f.index);
                queue.drain(..=seen.min(queue.len() - 1));
            }
        }
        problems
    }
}
