//! The daemon's state behind the methods: the engine, live netinfo, the
//! one-verb-at-a-time slot, the event channel and the kept caps answer.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use netswitch_engine::{Engine, EngineError, SetupOptions, Which};
use netswitch_model::config::Config;
use netswitch_netinfo::Live;
use netswitch_switch::report::{self, ReportContext};
use serde_json::{json, Map, Value};
use tokio::sync::broadcast;
use tracing::debug;

use crate::codes;
use crate::rpc::RpcError;

/// Where the running and persistent symlinks point: every save makes a
/// new generation directory with a unique name, so an equal key means
/// unchanged configs.
type ConfigKey = (Option<PathBuf>, Option<PathBuf>);

/// Running and persistent configs, kept until either symlink moves.
type ConfigCache = Option<(ConfigKey, Arc<(Config, Config)>)>;

/// Everything a caps answer is made of: live netinfo's generation, the
/// configs, the resolver's name servers and whether the kernel has IPv6.
#[derive(Debug, PartialEq, Eq)]
struct CapsKey {
    generation: u64,
    configs: ConfigKey,
    nameservers: Vec<String>,
    ipv6: bool,
    /// When the imported networks last changed (the provider verbs of the
    /// CLI write them without the daemon).
    externals: Option<std::time::SystemTime>,
}

/// The last caps answer, serialized, with what it was made of. A call
/// whose inputs match it is answered with these bytes: no rebuild.
struct CapsCache {
    key: CapsKey,
    answer: Arc<Vec<u8>>,
}

/// What the methods work on.
pub(crate) struct Daemon {
    pub engine: Engine,
    pub live: Arc<Live>,
    /// The exclusive method running now, if any.
    busy: Mutex<Option<&'static str>>,
    /// Notifications for subscribers, as JSON `params`.
    pub events: broadcast::Sender<Value>,
    configs: Mutex<ConfigCache>,
    /// Held while an answer is checked or built, so concurrent callers
    /// after a change build it once.
    caps: Mutex<Option<CapsCache>>,
    /// The LLDP receiver (`Host.getLldp`); off until the server starts it.
    pub lldp: crate::lldp::Lldp,
    /// The LLDP transmitters (`devices/<nic>` `lldp.tx`).
    pub lldp_tx: crate::lldp_tx::LldpTx,
}

/// Holds the one-verb-at-a-time slot; frees it on drop.
pub(crate) struct Slot(Arc<Daemon>);

impl Drop for Slot {
    fn drop(&mut self) {
        *self.0.busy.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Daemon {
    pub fn new(engine: Engine, live: Arc<Live>, events: broadcast::Sender<Value>) -> Self {
        Daemon {
            engine,
            live,
            busy: Mutex::new(None),
            events,
            configs: Mutex::new(None),
            caps: Mutex::new(None),
            lldp: crate::lldp::Lldp::default(),
            lldp_tx: crate::lldp_tx::LldpTx::default(),
        }
    }

    /// Takes the slot for `method`, or code 40 naming the one running.
    pub fn take_slot(self: &Arc<Self>, method: &'static str) -> Result<Slot, RpcError> {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(running) = *busy {
            return Err(RpcError::new(
                codes::BUSY,
                format!("{method}: another network verb is running ({running}); try again when it is done"),
            ));
        }
        *busy = Some(method);
        Ok(Slot(self.clone()))
    }

    /// Where the config symlinks point now.
    fn config_key(&self) -> ConfigKey {
        let root = self.engine.store.root();
        (
            fs::read_link(root.join("running")).ok(),
            fs::read_link(root.join("persistent")).ok(),
        )
    }

    /// The modification time of the imported networks' directory (a file
    /// renamed in or removed moves it).
    fn externals_changed(&self) -> Option<std::time::SystemTime> {
        let dir = self
            .engine
            .store
            .root()
            .join(netswitch_engine::external::DIR);
        fs::metadata(dir).and_then(|m| m.modified()).ok()
    }

    /// Running and persistent config, read again only when a save moved
    /// one of the symlinks; with the key they were read under.
    fn configs(&self) -> Result<(ConfigKey, Arc<(Config, Config)>), EngineError> {
        let key = self.config_key();
        let mut cache = self.configs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((k, c)) = cache.as_ref() {
            if *k == key {
                return Ok((key, c.clone()));
            }
        }
        let c = Arc::new((
            self.engine.running()?,
            self.engine.store.load(Which::Persistent)?,
        ));
        *cache = Some((key.clone(), c.clone()));
        Ok((key, c))
    }

    /// getNetworkCapabilities from live netinfo: no dump. The answer is
    /// kept serialized and served again while its inputs (live netinfo's
    /// generation, the config symlinks, the name servers, IPv6) stay the
    /// same; otherwise it is built again, straight to bytes (a JSON value
    /// tree of 1000 networks would cost more time and memory than the
    /// report itself).
    pub fn caps(&self) -> Result<Arc<Vec<u8>>, RpcError> {
        let started = Instant::now();
        let nameservers = netswitch_engine::resolv::read_nameservers(&self.engine.resolv_conf);
        let ipv6 = Path::new("/proc/net/if_inet6").exists();
        let mut cache = self.caps.lock().unwrap_or_else(|e| e.into_inner());
        let key = CapsKey {
            generation: self.live.generation(),
            configs: self.config_key(),
            nameservers,
            ipv6,
            externals: self.externals_changed(),
        };
        if let Some(hit) = cache.as_ref().filter(|c| c.key == key) {
            return Ok(hit.answer.clone());
        }
        // Drop the old answer before building the new one: one at a time
        // in memory.
        let last_len = cache.take().map_or(0, |c| c.answer.len());
        let (generation, host) = self.live.state_with_generation();
        let (configs_key, configs) = self.configs()?;
        let (running, persistent) = &*configs;
        let ctx = ReportContext {
            nameservers: key.nameservers,
            supports_ipv6: ipv6,
            net_config_dirty: running != persistent,
        };
        let mut caps = report::caps(&host, running, &self.engine.nics, &ctx);
        caps.vnics = self.engine.vnic_reports()?;
        self.engine.add_mirror_reports(&mut caps, &host)?;
        self.engine.sriov_caps(&mut caps, &host);
        self.engine.fill_ovn_caps(&mut caps);
        caps.external_networks = netswitch_engine::external::read(self.engine.store.root());
        // Sized as the last answer, so the buffer is not grown (and
        // copied) by doubling to twice what it needs.
        let mut answer = Vec::with_capacity(last_len + last_len / 16 + 4096);
        serde_json::to_writer(&mut answer, &caps)
            .map_err(|e| RpcError::new(codes::INTERNAL, format!("caps: {e}")))?;
        answer.shrink_to_fit();
        drop(caps);
        let answer = Arc::new(answer);
        *cache = Some(CapsCache {
            key: CapsKey {
                generation,
                configs: configs_key,
                nameservers: ctx.nameservers,
                ipv6,
                externals: key.externals,
            },
            answer: answer.clone(),
        });
        drop(cache);
        let links = host.links.len();
        // The state is freed (live netinfo keeps none of it) and the heap
        // trimmed after it, off the answer's path: both take longer than
        // sending 2 MB.
        let freed = std::thread::Builder::new()
            .name("netswitch-trim".into())
            .spawn(move || {
                drop(host);
                trim();
            });
        if freed.is_err() {
            trim();
        }
        debug!(
            links,
            elapsed_us = started.elapsed().as_micros() as u64,
            "caps built from live netinfo"
        );
        Ok(answer)
    }

    pub fn stats(&self) -> Result<Value, RpcError> {
        let stats = netswitch_netinfo::statistics()
            .map_err(|e| RpcError::new(29, format!("reading link statistics: {e}")))?;
        let mut ifaces = Map::new();
        for s in stats {
            let name = s.name.clone();
            let mut v = serde_json::to_value(&s).unwrap_or(Value::Null);
            if let Some(o) = v.as_object_mut() {
                o.remove("name");
            }
            ifaces.insert(name, v);
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        Ok(json!({"interfaces": ifaces, "sampleTime": now}))
    }

    pub fn setup(&self, params: Option<Value>) -> Result<Value, RpcError> {
        let mut doc = match params {
            None => Map::new(),
            Some(Value::Object(o)) => o,
            Some(Value::Array(a)) => {
                let mut o = Map::new();
                for (key, v) in ["networks", "bondings", "options"].into_iter().zip(a) {
                    o.insert(key.to_string(), v);
                }
                o
            }
            Some(_) => {
                return Err(RpcError::new(
                    codes::INVALID_PARAMS,
                    "Host.setupNetworks: params must be an object or an array",
                ))
            }
        };
        // The CLI asks for the desired config back (it prints it with
        // --json); an engine gets VDSM's answer, without the cost of
        // serializing every network of the host.
        let with_desired = doc.remove("_withDesired").and_then(|v| v.as_bool()) == Some(true);
        // Testing aid, as the CLI's --inject-failure-at; without the
        // feature the parameter stays and the request is refused (21).
        #[allow(unused_mut)]
        let mut faults = netswitch_engine::Faults::default();
        #[cfg(feature = "fault-injection")]
        {
            faults.fail_at = doc
                .remove("_injectFailureAt")
                .and_then(|v| v.as_u64())
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX).saturating_sub(1));
            faults.drift = doc.remove("_injectDrift").and_then(|v| v.as_bool()) == Some(true);
        }
        // The CLI's --dhcp-timeout; the engine refuses (21) what is not a
        // number of seconds in 0..3600 (a non-number as NaN).
        let dhcp_timeout = doc
            .remove("_dhcpTimeout")
            .map(|v| v.as_f64().unwrap_or(f64::NAN));
        let text = serde_json::to_vec(&Value::Object(doc))
            .map_err(|e| RpcError::new(codes::INTERNAL, e.to_string()))?;
        // Over JSON-RPC the VDSM defaults hold: check connectivity, 4 s.
        let request = netswitch_model::parse::parse_request(&text).map_err(EngineError::from)?;
        let opts = SetupOptions {
            dry_run: false,
            faults,
            dhcp_timeout,
            confirm_within: (request.options.connectivity_check && !request.options.dry_run)
                .then_some(request.options.connectivity_timeout),
            ..SetupOptions::default()
        };
        match self.engine.setup(&text, &opts) {
            Ok(outcome) => {
                self.notify(json!({"event": "setup.done", "applied": outcome.applied}));
                let mut answer = json!({
                    "status": {"code": 0, "message": "Done"},
                    "applied": outcome.applied,
                    "commitOnSuccess": outcome.request.options.commit_on_success,
                    "plan": outcome.plan,
                });
                if with_desired {
                    answer["desired"] = json!(outcome.desired);
                }
                Ok(answer)
            }
            Err(e) => {
                let event = outcome_event(&e);
                self.notify(json!({"event": event, "code": e.code(), "message": e.to_string()}));
                Err(e.into())
            }
        }
    }

    /// Drops the kept caps answer: a vNIC plug or unplug changes what it
    /// reports without moving what it is keyed by.
    pub fn forget_caps(&self) {
        *self.caps.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    pub fn notify(&self, params: Value) {
        let _ = self.events.send(params);
    }
}

/// Gives freed heap back to the kernel: a caps report of a big host is
/// megabytes that glibc would otherwise keep resident.
pub(crate) fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The event a failed setup is announced with, from its code: by the
/// contract (`docs/api.md`), 10 (lost connectivity) and 29 (a backend
/// operation failed) mean the host was put back as it was; every other
/// code is a refusal that changed nothing.
fn outcome_event(e: &EngineError) -> &'static str {
    if e.rolled_back() {
        "setup.rolledBack"
    } else {
        "setup.refused"
    }
}
