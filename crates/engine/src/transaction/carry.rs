//! Carrying out a planned transaction: journal, apply, verify, wait for a
//! confirmation, save — or roll back ([`Engine::carry_out`]).

use std::time::Instant;

use netswitch_model::config::Config;
use netswitch_model::error::{Code, RequestError};
use netswitch_model::host::HostState;
use netswitch_model::plan::{Op, Plan};
use netswitch_switch::scope::{plan_scoped, Scope};
use tracing::{info, warn};

use super::{uses_ovs, Phases, SetupOptions};
use netswitch_kernel::Applied;

use crate::backend;
use crate::journal::{crash_point, Journal, ResolvBackup};
use crate::txerror::{FailureKind, TransactionError};
use crate::{resolv, Engine, EngineError};

/// What `/etc/resolv.conf` held before the transaction wrote it: `None`
/// when it did not write it, `Some(None)` when there was no file.
type OldResolv = Option<Option<Vec<u8>>>;

/// A step's failure before it becomes a [`TransactionError`] (which is
/// large): its kind and message.
type StepFailure = (FailureKind, String);

fn failed((kind, why): StepFailure) -> TransactionError {
    TransactionError::new(kind, why)
}

impl Engine {
    /// Moves the host from `running` to `desired` by `plan` (planned
    /// against `before`, over `scope`: `None` for the whole configs): apply,
    /// resolver, verify (over the same scope), wait for a confirmation when
    /// asked, save — or roll back. Returns whether anything was applied.
    ///
    /// The caller holds the transaction lock. The journal is written before
    /// the first change and removed after the save or the rollback, so a
    /// process killed anywhere in between is rolled back (or finished, if
    /// it had saved) by the next [`Engine::recover`].
    #[allow(clippy::too_many_arguments)] // one transaction's whole context
    pub(crate) fn carry_out(
        &self,
        verb: &str,
        before: &HostState,
        running: &Config,
        desired: &Config,
        (plan, scope): (&Plan, Option<&Scope>),
        opts: &SetupOptions,
        confirm: Option<f64>,
        persist: bool,
    ) -> Result<bool, EngineError> {
        if plan.is_empty() {
            return self.nothing_to_apply(verb, running, desired, opts, persist);
        }
        let started = Instant::now();
        let mut phases = Phases::start();
        info!(ops = plan.ops.len(), "applying");
        let ops = &plan.ops;
        let journal = self.journal_for(verb, before, running, desired, plan, persist)?;
        self.begin_journal(&journal)?;
        phases.mark("journal");
        let with_ovs = uses_ovs(running, desired);
        let stopped = self.dynamic_before(desired);
        let (applied, failure) = self.apply_ops(before, ops, opts);
        phases.mark("apply");
        // Every failure from here on rolls back and says so.
        // The journal goes only once the rollback is done; if it cannot be
        // removed, the next start redoes the (idempotent) rollback.
        let fail = |mut e: TransactionError, old_resolv: Option<&Option<Vec<u8>>>| {
            self.set_in_step(None);
            e.rollback = self.rollback(before, running, desired, ops, &applied.done, old_resolv);
            self.replug_reached(&journal);
            e.journal_kept = self.end_journal().err().map(|e| e.to_string());
            EngineError::from(e)
        };
        let dynamic = |why: String| TransactionError::new(FailureKind::Dynamic, why);
        if let Some(e) = failure.or(stopped.err().map(dynamic)) {
            return Err(fail(e, None));
        }
        if let Err(why) = self.dynamic_after_move(running, desired, ops) {
            return Err(fail(dynamic(why), None));
        }
        phases.mark("dynamic");
        crash_point("applied");
        #[cfg(feature = "fault-injection")]
        if opts.faults.drift {
            self.drift(ops);
        }
        let old_resolv = self.write_resolv(plan).map_err(|e| fail(failed(e), None))?;
        // Verify: the planner, asked again against the host as it now is,
        // must find nothing left to do. The mark is taken first, so that a
        // change racing the read-back counts as a change since.
        let mark = self.host.generation();
        let then = |e| fail(e, old_resolv.as_ref());
        self.verify_applied(with_ovs, desired, scope, &mut phases)
            .map_err(|e| then(failed(e)))?;
        self.dynamic_wait(desired, &opts.blocking_dhcp, opts.dhcp_timeout)
            .map_err(|why| then(dynamic(why)))?;
        if let Some(secs) = confirm {
            self.confirmed(secs).map_err(|e| then(failed(e)))?;
        }
        phases.mark("wait");
        self.commit_config(desired, persist)
            .map_err(|e| then(TransactionError::new(FailureKind::Save, e.to_string())))?;
        phases.mark("save");
        self.replug_reached(&journal);
        if let Err(e) = self.end_journal() {
            // Saved and verified: the next start finds the running config
            // saved and only finishes the transaction.
            warn!(error = %e, "the transaction is complete but its journal could not be removed");
        }
        // In step: over the whole config when the plan was whole, else by
        // induction (what the scope left out was in step and unchanged).
        self.set_in_step(mark);
        phases.mark("end");
        info!(
            ops = ops.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            phases = %phases,
            "applied and verified"
        );
        Ok(true)
    }

    /// Puts back the vNICs on what the journaled transaction reached:
    /// applied or rolled back, it may have rebuilt their bridges
    /// (vnic/replug.rs). Done before the journal goes, so that a process
    /// killed in between has the next start's recovery do it.
    pub(crate) fn replug_reached(&self, journal: &Journal) {
        if let Err(e) = self.replug_vnics(&journal.reached()) {
            warn!(error = %e, "after the transaction");
        }
    }

    /// An empty plan: nothing for the kernel, but clients may need
    /// (re)starting and the configs saving.
    fn nothing_to_apply(
        &self,
        verb: &str,
        running: &Config,
        desired: &Config,
        opts: &SetupOptions,
        persist: bool,
    ) -> Result<bool, EngineError> {
        if let Err(why) = self
            .dynamic_after(desired)
            .and_then(|_| self.dynamic_wait(desired, &opts.blocking_dhcp, opts.dhcp_timeout))
        {
            self.dynamic_rollback_stop(running);
            self.dynamic_rollback_start(running, opts.dhcp_timeout);
            return Err(TransactionError::new(FailureKind::Dynamic, why).into());
        }
        if desired != running || persist {
            // Two saves with commitOnSuccess: journaled so a crash
            // between them is finished by the next start.
            self.begin_journal(&Journal::new(verb, running, desired, persist, &[]))?;
            self.commit_config(desired, persist)?;
            self.end_journal()?;
        }
        Ok(false)
    }

    /// The journal of a plan: the ops, the links before, and the resolver
    /// file's old content when the plan writes it.
    fn journal_for(
        &self,
        verb: &str,
        before: &HostState,
        running: &Config,
        desired: &Config,
        plan: &Plan,
        persist: bool,
    ) -> Result<Journal, EngineError> {
        let mut journal =
            Journal::new(verb, running, desired, persist, &plan.ops).with_links(before);
        if plan.nameservers.is_some() {
            let old = match std::fs::read(&self.resolv_conf) {
                Ok(b) => Some(b),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => {
                    return Err(EngineError::Request(RequestError::request(
                        Code::BackendFailed,
                        format!(
                            "reading {}: {e}; nothing changed",
                            self.resolv_conf.display()
                        ),
                    )))
                }
            };
            journal.resolv = Some(ResolvBackup {
                path: self.resolv_conf.clone(),
                old,
            });
        }
        Ok(journal)
    }

    /// Applies the ops (up to an injected failure, in test builds); returns
    /// what was done and the failure, if any.
    fn apply_ops(
        &self,
        before: &HostState,
        ops: &[Op],
        opts: &SetupOptions,
    ) -> (Applied, Option<TransactionError>) {
        let fail_at = opts.faults.fail_at();
        let limit = fail_at.map_or(ops.len(), |i| i.min(ops.len()));
        let applied = backend::apply(before, &ops[..limit], &self.ovs, &*self.host);
        let failure = match (&applied.failure, fail_at) {
            (Some(f), _) => {
                let mut e = TransactionError::new(FailureKind::BackendOp, f.message.clone())
                    .with_op(f.index, &f.op);
                e.errno = (f.errno != backend::NO_ERRNO).then_some(f.errno);
                Some(e)
            }
            (None, Some(i)) if i < ops.len() => Some(
                TransactionError::new(FailureKind::BackendOp, "injected failure")
                    .with_op(i, &ops[i]),
            ),
            _ => None,
        };
        (applied, failure)
    }

    /// Writes the plan's name servers, if it has any; returns the file's
    /// old content for the rollback.
    fn write_resolv(&self, plan: &Plan) -> Result<OldResolv, StepFailure> {
        let Some(ns) = &plan.nameservers else {
            return Ok(None);
        };
        resolv::write_nameservers(&self.resolv_conf, ns)
            .map(Some)
            .map_err(|e| {
                let why = format!("writing {}: {e}", self.resolv_conf.display());
                (FailureKind::Resolver, why)
            })
    }

    /// The host read back must leave the planner nothing to do.
    fn verify_applied(
        &self,
        with_ovs: bool,
        desired: &Config,
        scope: Option<&Scope>,
        phases: &mut Phases,
    ) -> Result<(), StepFailure> {
        let residual = self.observe(with_ovs).and_then(|after| {
            phases.mark("read-back");
            Ok(plan_scoped(&after, desired, desired, scope)?)
        });
        phases.mark("verify");
        let why = match residual {
            Ok(r) => match r.ops.first() {
                None => return Ok(()),
                Some(op) => {
                    format!("verification failed: after applying, the host still needs \"{op}\"")
                }
            },
            Err(e) => format!("verification failed: {e}"),
        };
        Err((FailureKind::Verify, why))
    }

    /// Waits `secs` for the connectivity confirmation.
    fn confirmed(&self, secs: f64) -> Result<(), StepFailure> {
        match self.wait_for_confirmation(secs) {
            Ok(true) => Ok(()),
            Ok(false) => Err((
                FailureKind::LostConnectivity,
                format!("no connectivity confirmation within {secs} s"),
            )),
            Err(e) => Err((
                FailureKind::ConfirmWait,
                format!("waiting for the confirmation: {e}"),
            )),
        }
    }

    /// See [`Faults::drift`].
    #[cfg(feature = "fault-injection")]
    fn drift(&self, ops: &[Op]) {
        use netswitch_model::plan::KernelOp;
        let Some(link) = ops.iter().find_map(|o| match o {
            Op::Kernel(KernelOp::SetUp { link }) => Some(link.clone()),
            _ => None,
        }) else {
            return;
        };
        if let Ok(host) = self.observe(false) {
            let applied = netswitch_kernel::apply(&host, &[KernelOp::SetMtu { link, mtu: 1280 }]);
            warn!(failure = ?applied.failure, "injected drift: set the MTU of a link to 1280");
        }
    }
}
