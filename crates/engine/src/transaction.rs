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
use netswitch_model::plan::Plan;
use netswitch_model::Request;
use netswitch_switch::scope::{plan_scoped, Scope};
use tracing::info_span;

mod carry;
mod rollback;

pub use crate::facts::Facts;
use crate::journal::crash_point;
use crate::{hooks, Engine, EngineError, Which};

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
        // Applied or rolled back, what it reached may have been rebuilt:
        // carry_out put the vNICs back on (vnic/replug.rs).
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

    /// The mark of the host when last verified in step, if any.
    fn in_step(&self) -> Option<u64> {
        *self.in_step.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set_in_step(&self, mark: Option<u64>) {
        *self.in_step.lock().unwrap_or_else(|e| e.into_inner()) = mark;
    }

    fn commit_config(&self, desired: &Config, persist: bool) -> Result<(), EngineError> {
        self.store.save(Which::Running, desired)?;
        crash_point("saved-running");
        if persist {
            self.store.save(Which::Persistent, desired)?;
        }
        Ok(())
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
