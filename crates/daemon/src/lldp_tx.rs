//! LLDP transmission: on each nic whose `devices/<nic>` says
//! `{"lldp": {"tx": true}}`, the daemon announces the host every 30 s
//! (802.1AB's interval): its name (system name), the nic (port ID, port
//! description) and the tagged networks the nic carries as 802.1 VLAN
//! Name TLVs, so the switch at the other end learns what the host carries.
//!
//! The announcement is built again before every send from the running
//! config, so a setup's networks show on the next round without a restart.
//! `Host.setLldpTx {device, tx}` changes the setting and the transmitters
//! at once.

use std::collections::BTreeMap;
use std::sync::Mutex;

use netswitch_engine::Engine;
use netswitch_lldp::{build, Announce, Transmitter, TX_INTERVAL};
use serde_json::{json, Value};
use tracing::{info, warn};

use crate::methods::{blocking, param};
use crate::registry::{Access, Registry, Turn};
use crate::rpc::RpcError;
use crate::state::Daemon;

/// How long a neighbor keeps our announcement: four intervals, as
/// 802.1AB's default hold multiplier has it.
const TTL_SECS: u16 = 120;

/// The running transmitters, by nic.
#[derive(Default)]
pub(crate) struct LldpTx {
    on: Mutex<BTreeMap<String, Transmitter>>,
}

impl LldpTx {
    /// Makes the transmitters match the running config: stops those no
    /// longer wanted, starts the missing ones (in the calling thread's
    /// namespace). A nic that is not there now is skipped with a warning.
    pub fn refresh(&self, engine: &Engine) {
        let want = engine.lldp_tx_nics().unwrap_or_else(|e| {
            warn!(error = %e, "LLDP transmit: cannot read the running config");
            Vec::new()
        });
        let mut on = self.on.lock().unwrap_or_else(|e| e.into_inner());
        on.retain(|nic, _| want.contains(nic));
        let missing: Vec<&String> = want.iter().filter(|n| !on.contains_key(*n)).collect();
        if missing.is_empty() {
            return;
        }
        let host = match engine.observe(false) {
            Ok(h) => h,
            Err(e) => return warn!(error = %e, "LLDP transmit: cannot read the host"),
        };
        for nic in missing {
            let Some(mac) = host
                .link(nic)
                .and_then(|l| l.mac.as_deref())
                .and_then(mac_bytes)
            else {
                warn!(
                    nic,
                    "LLDP transmit: no such nic (or no MAC) now; not announcing"
                );
                continue;
            };
            match Transmitter::spawn_with(nic, TX_INTERVAL, announcer(engine.clone(), nic, mac)) {
                Ok(t) => {
                    info!(nic, "LLDP transmit on");
                    on.insert(nic.clone(), t);
                }
                Err(e) => warn!(nic, error = %e, "LLDP transmit not started"),
            }
        }
    }
}

/// Builds the LLDPDU for `nic` from the running config, each round.
fn announcer(engine: Engine, nic: &str, mac: [u8; 6]) -> impl FnMut() -> Option<Vec<u8>> + Send {
    let nic = nic.to_string();
    move || {
        let running = engine.running().ok()?;
        let a = Announce {
            chassis_mac: mac,
            port_name: nic.clone(),
            ttl: TTL_SECS,
            system_name: hostname(),
            port_description: Some(nic.clone()),
            vlans: netswitch_engine::devices::vlan_names(&running, &nic),
        };
        build(&a)
            .map_err(|e| warn!(nic, error = %e, "LLDP transmit: cannot encode"))
            .ok()
    }
}

/// The host's name (of the daemon's UTS namespace).
fn hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_string())
}

fn mac_bytes(mac: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = mac.split(':');
    for b in &mut out {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// Registers `Host.setLldpTx {device, tx}`: mutating, one at a time.
pub(crate) fn register(r: &mut Registry) {
    r.add("Host.setLldpTx", Access::Privileged, Turn::Exclusive, |c| {
        blocking(c, set_lldp_tx)
    });
}

fn bad(message: impl Into<String>) -> RpcError {
    RpcError::from(netswitch_engine::EngineError::from(
        netswitch_model::RequestError::request(netswitch_model::Code::BadParams, message),
    ))
}

fn set_lldp_tx(d: &Daemon, params: Option<Value>) -> Result<Value, RpcError> {
    let device = param(&params, "device", 0)
        .and_then(Value::as_str)
        .ok_or_else(|| bad("Host.setLldpTx: device: missing or not a string"))?;
    let tx = param(&params, "tx", 1)
        .and_then(Value::as_bool)
        .ok_or_else(|| {
            bad(format!(
                "Host.setLldpTx: lldp {}: tx: missing or not a boolean",
                netswitch_model::error::clip(device, 40)
            ))
        })?;
    let tx = d.engine.set_lldp_tx(device, tx)?;
    d.lldp_tx.refresh(&d.engine);
    Ok(json!({"status": {"code": 0, "message": "Done"}, "lldp": {"device": device, "tx": tx}}))
}
