//! LLDP in the daemon: one receiver for the daemon's life, `Host.getLldp`
//! answered from its neighbor table, and `lldp.neighbor` events for
//! subscribers.
//!
//! The receiver is started on the thread that serves (the one inside the
//! daemon's network namespace, as live netinfo is), so its socket and
//! thread belong to that namespace. Without `CAP_NET_RAW` it cannot open
//! its socket; the daemon serves anyway and reports every device
//! `enabled: false`, as VDSM did on a host without lldpad.

use std::collections::BTreeMap;

use netswitch_lldp::{DeviceReport, Event, Neighbors, Receiver};
use serde_json::{json, Value};
use tokio::sync::broadcast;
use tracing::{info, warn};

use crate::registry::{Access, Call, Registry, Turn};
use crate::rpc::{Body, RpcError};
use crate::state::Daemon;

/// The daemon's LLDP receiver, or none when it could not start.
#[derive(Default)]
pub(crate) struct Lldp {
    receiver: Option<Receiver>,
}

impl Lldp {
    /// Starts the receiver in the calling thread's namespace; every
    /// neighbor change goes to `events`. A failure is logged once and
    /// leaves LLDP off.
    pub fn start(events: broadcast::Sender<Value>) -> Self {
        match Receiver::spawn(move |e| drop(events.send(event(&e)))) {
            Ok(r) => {
                info!("LLDP receiver started");
                Lldp { receiver: Some(r) }
            }
            Err(e) => {
                warn!(error = %e, "LLDP receiver not started (needs CAP_NET_RAW); Host.getLldp reports every device disabled");
                Lldp::default()
            }
        }
    }

    /// The report for `devices`: from the receiver's table, or every
    /// device disabled when there is no receiver.
    pub fn report(&self, devices: &[String]) -> BTreeMap<String, DeviceReport> {
        match &self.receiver {
            Some(r) => r.neighbors().report(devices),
            None => Neighbors::new().report(devices),
        }
    }
}

/// A neighbor change as a subscriber notification's params.
pub(crate) fn event(e: &Event) -> Value {
    match e {
        Event::Appeared { device, pdu } | Event::Changed { device, pdu } => {
            let change = if matches!(e, Event::Appeared { .. }) {
                "appeared"
            } else {
                "changed"
            };
            json!({
                "event": "lldp.neighbor",
                "device": device,
                "change": change,
                "tlvs": netswitch_lldp::tlvs(pdu),
            })
        }
        Event::Expired { device } => {
            json!({"event": "lldp.neighbor", "device": device, "change": "expired"})
        }
    }
}

/// Registers `Host.getLldp`: a read, served beside anything.
pub(crate) fn register(r: &mut Registry) {
    r.add("Host.getLldp", Access::Anyone, Turn::Concurrent, get_lldp);
}

/// `Host.getLldp {"filter": {"devices": [..]}}`; no filter or an empty
/// list means every nic of the host.
async fn get_lldp(c: Call) -> Result<Body, RpcError> {
    let devices = filter_devices(c.params.as_ref())?;
    let d = c.daemon;
    let answer = tokio::task::spawn_blocking(move || answer(&d, devices))
        .await
        .map_err(|_| RpcError::new(crate::codes::INTERNAL, "Host.getLldp: the worker died"))?;
    Ok(Body::json(&answer))
}

fn answer(d: &Daemon, devices: Vec<String>) -> Value {
    let devices = if devices.is_empty() { nics(d) } else { devices };
    json!(d.lldp.report(&devices))
}

/// The host's nics (by the daemon's nic policy), from live netinfo.
fn nics(d: &Daemon) -> Vec<String> {
    let host = d.live.state();
    host.links
        .keys()
        .filter(|n| d.engine.nics.is_nic(&host, n))
        .cloned()
        .collect()
}

/// The device names of `params.filter.devices`; a wrong shape is code 21
/// naming the attribute.
fn filter_devices(params: Option<&Value>) -> Result<Vec<String>, RpcError> {
    let bad = |what: &str| {
        RpcError::new(
            21,
            format!(
                "Host.getLldp: {what}; expected {{\"filter\": {{\"devices\": [\"eth0\", ..]}}}}"
            ),
        )
    };
    let filter = match params {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(o)) => o.get("filter"),
        Some(Value::Array(a)) => a.first(),
        Some(_) => return Err(bad("params must be an object")),
    };
    let devices = match filter {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(f)) => f.get("devices"),
        Some(_) => return Err(bad("filter must be an object")),
    };
    match devices {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| match v.as_str() {
                Some(s) if !s.is_empty() && s.len() <= 15 => Ok(s.to_string()),
                _ => Err(bad(&format!(
                    "filter.devices: {} is not a device name",
                    netswitch_model::error::clip(&v.to_string(), 80)
                ))),
            })
            .collect(),
        Some(_) => Err(bad("filter.devices must be a list of device names")),
    }
}
