//! One setupNetworks transaction: plan, apply, verify, persist — or roll
//! back so the host and the running config are exactly as before.
//!
//! Rollback is objectified as the Network Reloaded design asks: first the
//! exact inverses of the ops that succeeded (newest first), which restore
//! what the plan changed on devices netswitch does not own; then the old
//! running config is fed back through the same planner, which recreates
//! whatever the failed plan deleted; then the host is compared with the
//! snapshot taken before the plan.

use std::time::Instant;

use netswitch_model::config::{Config, SwitchType};
use netswitch_model::error::{Code, RequestError};
use netswitch_model::host::HostState;
use netswitch_model::plan::{Op, Plan};
use netswitch_model::Request;
use netswitch_switch::inverse;
use netswitch_switch::scope::{plan_scoped, Scope};
use tracing::{info, info_span, warn};

pub use crate::facts::Facts;
use crate::journal::{crash_point, Journal, ResolvBackup};
use crate::txerror::{FailureKind, Rollback, TransactionError};
use crate::{backend, hooks, resolv, Engine, EngineError, Which};

/// How a setup runs, beyond what the request says.
#[derive(Debug, Clone, Default)]
pub struct SetupOptions {
    /// Plan only (also set by the request's `dryRun` option).
    pub dry_run: bool,
    /// Wait this many seconds for `confirm` after applying, and roll back
    /// with code 10 without one (overrides the request's options).
    pub confirm_within: Option<f64>,
    /// Networks whose DHCP leases must be in place before the setup
    /// returns (also set by a network's `blockingdhcp`); no lease in time
    /// rolls back.
    pub blocking_dhcp: Vec<String>,
    /// Seconds to wait for those leases (default
    /// [`crate::dynamic::DEFAULT_DHCP_TIMEOUT`]).
    pub dhcp_timeout: Option<f64>,
    /// Test-only faults; empty unless built with `fault-injection`.
    pub faults: Faults,
}

/// Faults a test injects into a transaction. Without the
/// `fault-injection` feature the struct is empty, so a release build
/// cannot be made to fail on purpose.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Fail as if the kernel refused the op at this index of the plan,
    /// after applying the ones before it.
    #[cfg(feature = "fault-injection")]
    pub fail_at: Option<usize>,
    /// After applying, change the host behind the plan's back (the MTU of
    /// the first link the plan brings up goes to 1280), as a driver or
    /// another tool could, so that verification finds the host short of
    /// the desired config and rolls back.
    #[cfg(feature = "fault-injection")]
    pub drift: bool,
}

impl Faults {
    /// The op index to fail at, if any.
    fn fail_at(&self) -> Option<usize> {
        #[cfg(feature = "fault-injection")]
        return self.fail_at;
        #[cfg(not(feature = "fault-injection"))]
        None
    }
}

/// Where a transaction's time went, for its closing log line: an operator
/// looking at a slow setup sees which phase to blame (reading the host,
/// planning, the journal's fsync, the kernel, verification, the save).
struct Phases {
    last: Instant,
    spent: Vec<(&'static str, std::time::Duration)>,
}

impl Phases {
    fn start() -> Self {
        Self {
            last: Instant::now(),
            spent: Vec::new(),
        }
    }

    /// Closes the phase that ran since the last mark.
    fn mark(&mut self, name: &'static str) {
        let now = Instant::now();
        self.spent.push((name, now - self.last));
        self.last = now;
    }
}

impl std::fmt::Display for Phases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (name, d)) in self.spent.iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            write!(f, "{sep}{name}={:.1}ms", d.as_secs_f64() * 1000.0)?;
        }
        Ok(())
    }
}

/// What a setup did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub request: Request,
    pub desired: Config,
    pub plan: Plan,
    /// False for a dry run or an empty plan.
    pub applied: bool,
}

impl Engine {
    /// setupNetworks: the whole transaction of docs/architecture.md.
    ///
    /// Holds the transaction lock throughout (code 40 when another verb
    /// holds it), after recovering what a dead transaction left. Runs the
    /// before-hooks (which may rewrite the request) and the after-hooks
    /// around it, except for a dry run (`--dry-run` or the request's
    /// `dryRun`), which takes no lock and runs no hooks.
    pub fn setup(&self, text: &[u8], opts: &SetupOptions) -> Result<Outcome, EngineError> {
        let _span = info_span!("setup").entered();
        check_options(opts)?;
        if opts.dry_run || asks_dry_run(text) {
            self.recover()?;
            return self.setup_inner(text, opts);
        }
        let _lock = self.lock()?;
        let Some(dir) = self.hooks_dir.as_deref() else {
            return self.setup_inner(text, opts);
        };
        let before_hooks = hooks::list(dir, hooks::BEFORE_NETWORK_SETUP);
        let after_hooks = hooks::list(dir, hooks::AFTER_NETWORK_SETUP);
        if before_hooks.is_empty() && after_hooks.is_empty() {
            return self.setup_inner(text, opts);
        }
        let doc = netswitch_model::parse::parse_document(text)?;
        if !doc.is_object() {
            // Refused by the parser with its own message; hooks get only
            // requests.
            return self.setup_inner(text, opts);
        }
        let mut request = hooks::request_value(&doc);
        let rewritten = hooks::before_network_setup(dir, &request)?;
        let rewritten_text = rewritten.as_ref().map(|r| r.to_string().into_bytes());
        let result = self.setup_inner(rewritten_text.as_deref().unwrap_or(text), opts);
        if let Some(r) = rewritten {
            request = r;
        }
        let (code, message) = match &result {
            Ok(_) => (0, "Done".to_string()),
            Err(e) => (e.code(), e.to_string()),
        };
        hooks::after_network_setup(dir, &request, code, &message);
        result
    }

    fn setup_inner(&self, text: &[u8], opts: &SetupOptions) -> Result<Outcome, EngineError> {
        let mut phases = Phases::start();
        let mut before = self.observe(false)?;
        let running = self.running()?;
        phases.mark("read");
        let (request, desired) = netswitch_model::prepare(text, &running, &before, &self.nics)?;
        netswitch_switch::foreign::check(&request, &running, &before)?;
        crate::vnic::check_removals(&request, &self.vnics()?)?;
        crate::external::check_request(&request, self.store.root())?;
        phases.mark("prepare");
        if uses_ovs(&running, &desired) {
            std::sync::Arc::make_mut(&mut before).ovs = Some(crate::ovs::read_state(&self.ovs)?);
            phases.mark("ovs-read");
        }
        let (plan, scope) = self.plan_for(&request, &before, &running, &desired)?;
        phases.mark("plan");
        tracing::debug!(
            ops = plan.ops.len(),
            scope = scope.as_ref().map_or(
                "whole".to_string(),
                |s| format!("{} networks, {} bonds", s.networks.len(), s.bonds.len())
            ),
            phases = %phases,
            "planned"
        );
        let dry = opts.dry_run || request.options.dry_run;
        let confirm = confirm_window(&request, opts);
        if dry {
            return Ok(Outcome {
                request,
                desired,
                plan,
                applied: false,
            });
        }
        let persist = request.options.commit_on_success;
        let mut opts = opts.clone();
        opts.blocking_dhcp.extend(blocking_dhcp_networks(&request));
        let applied = self.carry_out(
            "setup",
            &before,
            &running,
            &desired,
            (&plan, scope.as_ref()),
            &opts,
            confirm,
            persist,
        );
        // Applied or rolled back, the bridges of the networks it reached
        // may be new: their vNICs go back on (vnic/replug.rs).
        if let Err(e) = self.replug_vnics(request.networks.keys()) {
            tracing::warn!(error = %e, "after the setup");
        }
        let applied = applied?;
        self.ovn_follow();
        Ok(Outcome {
            request,
            desired,
            plan,
            applied,
        })
    }

    /// Plans (and later verifies) only what the request reaches, plus the
    /// networks on devices changed since the host was last verified in
    /// step: what keeps a one-network edit of a big host cheap, while a
    /// device deleted behind our back still comes back with the next
    /// request. Without such a mark (the CLI's dumps, a daemon's first
    /// setup), the whole config.
    fn plan_for(
        &self,
        request: &netswitch_model::Request,
        before: &HostState,
        running: &Config,
        desired: &Config,
    ) -> Result<(Plan, Option<Scope>), EngineError> {
        let drifted = self.in_step().and_then(|g| self.host.changed_since(g));
        let scope_with = |changed: &_| {
            Scope::of(
                running,
                desired,
                request.networks.keys(),
                request.bondings.keys(),
                changed,
            )
        };
        let scope = drifted.and_then(|d| scope_with(&d));
        let plan = plan_scoped(before, running, desired, scope.as_ref())?;
        // Debug builds (the tests) check the scoping on whole-plan setups
        // too: the CLI's, and the daemon's first.
        #[cfg(debug_assertions)]
        if scope.is_none() {
            if let Some(probe) = scope_with(&Default::default()) {
                plan_scoped(before, running, desired, Some(&probe))?;
            }
        }
        Ok((plan, scope))
    }

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
        let started = Instant::now();
        let mut phases = Phases::start();
        if plan.is_empty() {
            // Nothing for the kernel, but clients may need (re)starting.
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
            return Ok(false);
        }
        info!(ops = plan.ops.len(), "applying");
        let ops = &plan.ops;
        let mut journal = Journal::new(verb, running, desired, persist, ops).with_links(before);
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
        self.begin_journal(&journal)?;
        phases.mark("journal");
        let limit = opts
            .faults
            .fail_at()
            .map_or(ops.len(), |i| i.min(ops.len()));
        let with_ovs = uses_ovs(running, desired);
        let stopped = self.dynamic_before(desired);
        let applied = backend::apply(before, &ops[..limit], &self.ovs, &*self.host);
        phases.mark("apply");
        let failure = match (applied.failure, opts.faults.fail_at()) {
            (Some(f), _) => {
                let mut e = TransactionError::new(FailureKind::BackendOp, f.message)
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
        // Every failure from here on rolls back and says so.
        // The journal goes only once the rollback is done; if it cannot be
        // removed, the next start redoes the (idempotent) rollback.
        let fail = |mut e: TransactionError, old_resolv: Option<&Option<Vec<u8>>>| {
            self.set_in_step(None);
            e.rollback = self.rollback(before, running, desired, ops, &applied.done, old_resolv);
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

        let old_resolv = match &plan.nameservers {
            Some(ns) => match resolv::write_nameservers(&self.resolv_conf, ns) {
                Ok(old) => Some(old),
                Err(e) => {
                    let why = format!("writing {}: {e}", self.resolv_conf.display());
                    return Err(fail(
                        TransactionError::new(FailureKind::Resolver, why),
                        None,
                    ));
                }
            },
            None => None,
        };

        // Verify: the planner, asked again against the host as it now is,
        // must find nothing left to do. The mark is taken first, so that a
        // change racing the read-back counts as a change since.
        let mark = self.host.generation();
        let residual = self.observe(with_ovs).and_then(|after| {
            phases.mark("read-back");
            Ok(plan_scoped(&after, desired, desired, scope)?)
        });
        phases.mark("verify");
        let verify = |why: String| TransactionError::new(FailureKind::Verify, why);
        match residual {
            Ok(r) => {
                if let Some(op) = r.ops.first() {
                    let why = format!(
                        "verification failed: after applying, the host still needs \"{op}\""
                    );
                    return Err(fail(verify(why), old_resolv.as_ref()));
                }
            }
            Err(e) => {
                let why = format!("verification failed: {e}");
                return Err(fail(verify(why), old_resolv.as_ref()));
            }
        }
        if let Err(why) = self.dynamic_wait(desired, &opts.blocking_dhcp, opts.dhcp_timeout) {
            return Err(fail(dynamic(why), old_resolv.as_ref()));
        }
        if let Some(secs) = confirm {
            let failed = match self.wait_for_confirmation(secs) {
                Ok(true) => None,
                Ok(false) => Some(TransactionError::new(
                    FailureKind::LostConnectivity,
                    format!("no connectivity confirmation within {secs} s"),
                )),
                Err(e) => Some(TransactionError::new(
                    FailureKind::ConfirmWait,
                    format!("waiting for the confirmation: {e}"),
                )),
            };
            if let Some(e) = failed {
                return Err(fail(e, old_resolv.as_ref()));
            }
        }
        phases.mark("wait");
        if let Err(e) = self.commit_config(desired, persist) {
            let e = TransactionError::new(FailureKind::Save, e.to_string());
            return Err(fail(e, old_resolv.as_ref()));
        }
        phases.mark("save");
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

    /// The mark of the host when last verified in step, if any.
    fn in_step(&self) -> Option<u64> {
        *self.in_step.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set_in_step(&self, mark: Option<u64>) {
        *self.in_step.lock().unwrap_or_else(|e| e.into_inner()) = mark;
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

    fn commit_config(&self, desired: &Config, persist: bool) -> Result<(), EngineError> {
        self.store.save(Which::Running, desired)?;
        crash_point("saved-running");
        if persist {
            self.store.save(Which::Persistent, desired)?;
        }
        Ok(())
    }

    /// Brings the host back to `before`; says how far it got.
    fn rollback(
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
}

/// Refuses (21) a caller's option that is no number of seconds in 0..3600
/// before anything runs: a wait of `inf` would otherwise panic after the
/// change was applied. The CLI and the daemon check them first too.
fn check_options(opts: &SetupOptions) -> Result<(), RequestError> {
    for (name, secs) in [
        ("confirm_within", opts.confirm_within),
        ("dhcp_timeout", opts.dhcp_timeout),
    ] {
        if let Some(s) = secs.filter(|s| !(0.0..=3600.0).contains(s)) {
            return Err(RequestError::request(
                Code::BadParams,
                format!("{name}: {s} is not a number of seconds in 0..3600"),
            ));
        }
    }
    Ok(())
}

/// Whether the request's own options ask for a dry run (as the daemon's
/// callers say it), so that it too takes no lock and runs no hooks. A
/// request that does not parse is not one: the transaction refuses it with
/// its own message. The byte search spares a real setup of a big request
/// one more parse.
fn asks_dry_run(text: &[u8]) -> bool {
    text.windows(6).any(|w| w == b"dryRun")
        && netswitch_model::parse::parse_request(text).is_ok_and(|r| r.options.dry_run)
}

/// Whether OVS takes part in a move between two configs (only then is its
/// database read).
pub(crate) fn uses_ovs(running: &Config, desired: &Config) -> bool {
    [running, desired]
        .iter()
        .any(|c| c.networks.values().any(|a| a.switch == SwitchType::Ovs))
}

impl Engine {
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

/// How long to wait for `confirm`: the caller's `--confirm-within`, else
/// the request's `connectivityTimeout` when the request itself turned
/// `connectivityCheck` on. The CLI's contract (docs/api.md §2): off unless
/// one of them turns it on.
fn confirm_window(request: &Request, opts: &SetupOptions) -> Option<f64> {
    match opts.confirm_within {
        Some(secs) => Some(secs),
        None if request.options.connectivity_check
            && request
                .options_given
                .iter()
                .any(|o| o == "connectivityCheck") =>
        {
            Some(request.options.connectivity_timeout)
        }
        None => None,
    }
}

/// The networks the request asks to wait for their DHCP lease.
fn blocking_dhcp_networks(request: &Request) -> impl Iterator<Item = String> + '_ {
    request.networks.iter().filter_map(|(n, c)| match c {
        netswitch_model::request::NetChange::Set {
            blocking_dhcp: true,
            ..
        } => Some(n.clone()),
        _ => None,
    })
}
