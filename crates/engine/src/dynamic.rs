//! Dynamic addressing around a transaction: the DHCP supervisors and the
//! IPv6 RA sysctls of the desired config (`netswitch-dhcp`).
//!
//! Kept apart from `transaction` so that file only calls four steps:
//! before applying, stop the clients the desired config drops or changes
//! (their release still reaches the server over a device the plan may
//! delete); after applying, set the RA sysctls and start the missing
//! clients; after verifying, wait for the leases `blockingdhcp` asks for;
//! on rollback, bring the old config's clients back.

use std::collections::BTreeSet;
use std::time::Duration;

use netswitch_dhcp::spec::{ra_settings, specs};
use netswitch_dhcp::Supervisor;
use netswitch_model::config::Config;
use netswitch_model::plan::{Op, OvsOp};
use tracing::warn;

use crate::Engine;

/// How long `blockingdhcp` (and restore, and a rollback) waits for
/// leases unless told otherwise.
pub const DEFAULT_DHCP_TIMEOUT: f64 = 30.0;

impl Engine {
    /// The supervisors of this engine's state dir.
    pub fn dhcp(&self) -> Supervisor {
        Supervisor::new(self.store.root(), &self.resolv_conf)
    }

    /// Before the plan: stop the clients `desired` drops or changes.
    pub(crate) fn dynamic_before(&self, desired: &Config) -> Result<(), String> {
        self.dhcp()
            .stop_unwanted(&specs(desired))
            .map_err(|e| e.to_string())
    }

    /// After the plan: RA sysctls of every northbound, then the clients.
    pub(crate) fn dynamic_after(&self, desired: &Config) -> Result<(), String> {
        self.sysctls_and_clients(&ra_settings(desired), desired)
    }

    fn sysctls_and_clients(
        &self,
        settings: &std::collections::BTreeMap<String, netswitch_dhcp::spec::RaSettings>,
        desired: &Config,
    ) -> Result<(), String> {
        netswitch_dhcp::sysctl::apply(settings).map_err(|e| e.to_string())?;
        self.dhcp()
            .sync(&specs(desired))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// [`Engine::dynamic_after`] for a move from `running` by `ops`: the RA
    /// sysctls only of the northbounds whose network changed or that the
    /// ops touched (a recreated device starts from the kernel's defaults),
    /// so a one-network edit does not read three sysctls per network.
    pub(crate) fn dynamic_after_move(
        &self,
        running: &Config,
        desired: &Config,
        ops: &[Op],
    ) -> Result<(), String> {
        let mut devs: BTreeSet<&str> = BTreeSet::new();
        for op in ops {
            devs.extend(crate::journal::op_links(op));
            if let Op::Ovs(OvsOp::AddPort { name, .. }) = op {
                devs.insert(name);
            }
        }
        // Whether a network's northbound (see `topology::place`: its own
        // name when bridged or OVS, else its VLAN device or its base) is
        // among the touched devices, without building its name.
        let touches = |net: &str, a: &netswitch_model::config::NetAttrs| {
            if a.bridged || a.switch == netswitch_model::config::SwitchType::Ovs {
                return devs.contains(net);
            }
            let Some(base) = a.base() else { return false };
            match a.vlan {
                None => devs.contains(base),
                Some(id) => devs.iter().any(|d| {
                    d.strip_prefix(base)
                        .and_then(|r| r.strip_prefix('.'))
                        .and_then(|t| t.parse::<u16>().ok())
                        == Some(id)
                }),
            }
        };
        let mut changed: Vec<String> = Vec::new();
        let candidates = Config {
            networks: desired
                .networks
                .iter()
                .filter(|(n, a)| {
                    let c = running.networks.get(*n) != Some(*a);
                    if c {
                        changed.push(n.to_string());
                    }
                    c || touches(n, a)
                })
                .map(|(n, a)| (n.clone(), a.clone()))
                .collect(),
            ..Config::default()
        };
        let mut settings = ra_settings(&candidates);
        let changed_devs: BTreeSet<String> = ra_settings(&Config {
            networks: candidates
                .networks
                .iter()
                .filter(|(n, _)| changed.contains(n))
                .map(|(n, a)| (n.clone(), a.clone()))
                .collect(),
            ..Config::default()
        })
        .into_keys()
        .collect();
        settings.retain(|dev, _| devs.contains(dev.as_str()) || changed_devs.contains(dev));
        self.sysctls_and_clients(&settings, desired)
    }

    /// Waits for the leases of `nets` (those of them with a client).
    pub(crate) fn dynamic_wait(
        &self,
        desired: &Config,
        nets: &[String],
        timeout: Option<f64>,
    ) -> Result<(), String> {
        let all = specs(desired);
        let wanted: Vec<_> = nets.iter().filter_map(|n| all.get(n)).collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let secs = timeout.unwrap_or(DEFAULT_DHCP_TIMEOUT).max(0.0);
        self.dhcp()
            .wait(&wanted, Duration::from_secs_f64(secs))
            .map_err(|e| e.to_string())
    }

    /// Rollback, first step: stop the clients the old config does not have.
    pub(crate) fn dynamic_rollback_stop(&self, running: &Config) -> Vec<String> {
        self.dynamic_before(running).err().into_iter().collect()
    }

    /// Rollback, last step: the old config's sysctls and clients, and their
    /// leases (so the host compares equal to before).
    pub(crate) fn dynamic_rollback_start(
        &self,
        running: &Config,
        timeout: Option<f64>,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(e) = self.dynamic_after(running) {
            problems.push(e);
        }
        let nets: Vec<String> = specs(running).into_keys().collect();
        if let Err(e) = self.dynamic_wait(running, &nets, timeout) {
            warn!(error = %e, "rollback: old leases not back");
        }
        problems
    }
}
