//! The transaction around a request: read the host and the running config,
//! plan, apply, verify, persist, roll back (see [`transaction`]); the crash
//! journal that lets the next start finish the job ([`journal`]); hooks.
//!
//! The one place where model, netinfo, switch and the backends meet, so the
//! CLI and the daemon share every step of a request's way (docs/architecture.md).

pub mod backend;
pub mod devices;
pub mod dynamic;
pub mod external;
pub mod facts;
pub mod hooks;
pub mod journal;
pub mod mirror;
pub mod ovn;
pub mod ovs;
mod qos;
pub mod resolv;
pub mod safe;
pub mod sriov;
pub mod statedir;
pub mod store;
pub mod transaction;
pub mod txerror;
pub mod vnic;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use netswitch_model::caps::Caps;
use netswitch_model::config::Config;
use netswitch_model::error::RequestError;
use netswitch_model::host::HostState;
use netswitch_model::NicPolicy;
use netswitch_netinfo::NetinfoError;
use netswitch_switch::report::{self, ReportContext};
use tracing::{debug, info_span};

pub use hooks::HookError;
pub use journal::{Recovery, TxLock};
pub use ovs::OvsSettings;
pub use safe::Restored;
pub use store::{Store, StoreError, Which};
pub use transaction::{Facts, Faults, Outcome, SetupOptions};
pub use txerror::{FailedOp, FailureKind, Rollback, TransactionError};

/// Any failure of a verb, with the VDSM code it maps to.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The request broke a rule.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The host could not be read.
    #[error("reading the host's network state failed: {0}")]
    Netinfo(#[from] NetinfoError),
    /// The state directory could not be read or written.
    #[error("state store: {0}")]
    Store(#[from] StoreError),
    /// The OVS database could not be read.
    #[error(transparent)]
    Ovs(#[from] netswitch_ovsdb::Error),
    /// The host's traffic control could not be read.
    #[error(transparent)]
    Tc(#[from] netswitch_tc::TcError),
    /// A before-hook failed or broke the request; nothing was changed.
    #[error(transparent)]
    Hook(#[from] HookError),
    /// The plan was applied (in part) and something failed; the host was
    /// rolled back.
    /// Boxed: it is much larger than the other variants.
    #[error(transparent)]
    Transaction(Box<TransactionError>),
}

impl From<TransactionError> for EngineError {
    fn from(e: TransactionError) -> Self {
        EngineError::Transaction(Box::new(e))
    }
}

/// What kind of failure a verb had, for callers that react to it (the
/// daemon's events, logs) without reading its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request broke a rule; nothing changed.
    Validation,
    /// Another verb holds the transaction lock (code 40); nothing changed.
    Busy,
    /// A before-hook failed; nothing changed.
    Hook,
    /// The host, the state directory or the OVS database could not be read
    /// or written outside a transaction.
    Backend,
    /// A transaction failed after its plan and was rolled back.
    Transaction(FailureKind),
}

impl EngineError {
    /// The VDSM error code (docs/api.md §4); host and store failures are 29.
    pub fn code(&self) -> u8 {
        match self {
            EngineError::Request(e) => e.code(),
            EngineError::Netinfo(_) | EngineError::Tc(_) => 29,
            EngineError::Store(e) => e.code(),
            EngineError::Ovs(e) => e.code(),
            EngineError::Hook(e) => e.code(),
            EngineError::Transaction(e) => e.code(),
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::Request(e) if e.code == netswitch_model::Code::Busy => ErrorKind::Busy,
            EngineError::Request(_) => ErrorKind::Validation,
            EngineError::Hook(_) => ErrorKind::Hook,
            EngineError::Netinfo(_)
            | EngineError::Store(_)
            | EngineError::Ovs(_)
            | EngineError::Tc(_) => ErrorKind::Backend,
            EngineError::Transaction(e) => ErrorKind::Transaction(e.kind),
        }
    }

    /// The failed transaction, when the failure came after the plan.
    pub fn transaction(&self) -> Option<&TransactionError> {
        match self {
            EngineError::Transaction(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the verb changed the host and rolled it back (completely or
    /// not): the daemon's `setup.rolledBack` event rather than
    /// `setup.refused`.
    pub fn rolled_back(&self) -> bool {
        self.transaction().is_some()
    }
}

/// Where the engine reads the host from.
///
/// The CLI dumps the kernel's tables on every read ([`Dumps`]); the daemon
/// reads the state its netlink listener keeps current, which makes a read
/// cost nothing however many devices the host has, so that a one-network
/// edit costs what it changes and not what the host carries.
pub trait HostSource: Send + Sync + std::fmt::Debug {
    /// The host as it is now, including every change the kernel has
    /// acknowledged to this process.
    fn read(&self) -> Result<Arc<HostState>, NetinfoError>;

    /// A mark of the host as it is now, for [`HostSource::changed_since`];
    /// `None` when the source cannot tell what changed (plain dumps).
    fn generation(&self) -> Option<u64> {
        None
    }

    /// The devices that changed since the mark `generation` (a device, or
    /// an address or route on it); `None` when that cannot be told.
    fn changed_since(&self, _generation: u64) -> Option<std::collections::BTreeSet<String>> {
        None
    }
}

/// A fresh netlink snapshot per read.
#[derive(Debug, Clone, Copy, Default)]
pub struct Dumps;

impl HostSource for Dumps {
    fn read(&self) -> Result<Arc<HostState>, NetinfoError> {
        Ok(Arc::new(netswitch_netinfo::snapshot()?))
    }
}

/// Where the engine keeps its state and what it counts as a nic.
#[derive(Debug, Clone)]
pub struct Engine {
    pub store: Store,
    /// The resolver configuration netswitch writes and reports.
    pub resolv_conf: PathBuf,
    pub nics: NicPolicy,
    /// Where OVS is, for OVS networks.
    pub ovs: OvsSettings,
    /// Where the `before_network_setup/` and `after_network_setup/` hook
    /// directories are; `None` runs no hooks.
    pub hooks_dir: Option<PathBuf>,
    /// How the host is read (netlink dumps unless the daemon sets its
    /// live state).
    pub host: Arc<dyn HostSource>,
    /// The host's mark ([`HostSource::generation`]) when a transaction last
    /// verified it in step with the running config: from there, a setup
    /// plans what its request reaches plus the networks on devices changed
    /// since, not the whole config. Shared by clones.
    pub(crate) in_step: Arc<std::sync::Mutex<Option<u64>>>,
}

impl Engine {
    /// An engine over a state directory. Runs no hooks until `hooks_dir`
    /// is set.
    pub fn new(state_dir: impl Into<PathBuf>, resolv_conf: impl Into<PathBuf>) -> Self {
        Self {
            store: Store::new(state_dir),
            resolv_conf: resolv_conf.into(),
            nics: NicPolicy::default(),
            ovs: OvsSettings::default(),
            hooks_dir: None,
            host: Arc::new(Dumps),
            in_step: Arc::default(),
        }
    }

    /// The running config.
    pub fn running(&self) -> Result<Config, EngineError> {
        Ok(self.store.load(Which::Running)?)
    }

    /// The host as it is now, with its tc objects (host QoS); with OVS's bridges and ports when `with_ovs`
    /// (only then is the OVS database needed at all).
    pub fn observe(&self, with_ovs: bool) -> Result<Arc<HostState>, EngineError> {
        let mut host = self.host.read()?;
        qos::read_tc(&mut host)?;
        if with_ovs {
            Arc::make_mut(&mut host).ovs = Some(ovs::read_state(&self.ovs)?);
        }
        Ok(host)
    }

    /// getNetworkCapabilities.
    pub fn caps(&self) -> Result<Caps, EngineError> {
        let _span = info_span!("caps").entered();
        self.recover()?;
        let t = Instant::now();
        let host = self.host.read()?;
        let running = self.running()?;
        let persistent = self.store.load(Which::Persistent)?;
        let ctx = ReportContext {
            nameservers: resolv::read_nameservers(&self.resolv_conf),
            supports_ipv6: std::path::Path::new("/proc/net/if_inet6").exists(),
            net_config_dirty: running != persistent,
        };
        let mut caps = report::caps(&host, &running, &self.nics, &ctx);
        caps.vnics = self.vnic_reports()?;
        self.add_mirror_reports(&mut caps, &host)?;
        self.sriov_caps(&mut caps, &host);
        self.fill_ovn_caps(&mut caps);
        caps.external_networks = external::read(self.store.root());
        debug!(
            links = host.links.len(),
            elapsed_us = t.elapsed().as_micros() as u64,
            "caps built"
        );
        Ok(caps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netswitch_model::Code;

    #[test]
    fn kinds_and_rollback_come_from_the_type_not_the_text() {
        // A refusal whose text says "rolled back" is still a refusal.
        let refused = EngineError::from(RequestError::request(
            Code::BadParams,
            "networks.x: rolled back",
        ));
        assert_eq!(refused.kind(), ErrorKind::Validation);
        assert!(!refused.rolled_back());
        let busy = EngineError::from(RequestError::request(Code::Busy, "busy"));
        assert_eq!(busy.kind(), ErrorKind::Busy);
        assert_eq!(busy.code(), 40);
        let failed = EngineError::from(TransactionError::new(FailureKind::Verify, "drift"));
        assert_eq!(failed.kind(), ErrorKind::Transaction(FailureKind::Verify));
        assert!(failed.rolled_back());
        assert_eq!(failed.code(), 29);
        assert!(failed
            .transaction()
            .is_some_and(|t| t.rollback.is_complete()));
        let lost = EngineError::from(TransactionError::new(FailureKind::LostConnectivity, "x"));
        assert_eq!(lost.code(), 10);
    }

    #[test]
    fn a_wait_that_is_no_number_of_seconds_is_refused_before_anything_runs() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::new(dir.path().join("lib"), dir.path().join("resolv.conf"));
        let req = br#"{"networks": {"n1": {"nic": "veth_x"}}}"#;
        for bad in [f64::INFINITY, f64::NAN, -1.0, 1e19] {
            for opts in [
                SetupOptions {
                    confirm_within: Some(bad),
                    ..SetupOptions::default()
                },
                SetupOptions {
                    dhcp_timeout: Some(bad),
                    ..SetupOptions::default()
                },
            ] {
                let e = engine.setup(req, &opts).unwrap_err();
                assert_eq!(e.code(), 21, "{bad}: {e}");
                assert_eq!(e.kind(), ErrorKind::Validation);
            }
        }
        // Refused before the lock or the state dir were touched.
        assert!(!dir.path().join("lib").exists());
    }
}
