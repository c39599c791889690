//! The port mirroring methods: `Host.setPortMirroring` and
//! `Host.unsetPortMirroring` (both take the host for themselves, as
//! setups do), `Host.listPortMirroring`; and the follower that drops a
//! mirror when its target device goes.

use std::sync::Arc;

use netswitch_netinfo::LiveEvent;
use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::methods::{blocking, param};
use crate::registry::{Access, Registry, Turn};
use crate::rpc::RpcError;
use crate::state::Daemon;

/// Registers the mirroring methods.
pub(crate) fn register(r: &mut Registry) {
    r.add(
        "Host.setPortMirroring",
        Access::Privileged,
        Turn::Exclusive,
        |c| blocking(c, |d, p| change(d, p, true)),
    );
    r.add(
        "Host.unsetPortMirroring",
        Access::Privileged,
        Turn::Exclusive,
        |c| blocking(c, |d, p| change(d, p, false)),
    );
    r.add(
        "Host.listPortMirroring",
        Access::Anyone,
        Turn::Concurrent,
        |c| blocking(c, |d, _| list(d)),
    );
}

/// A bad parameter: 21, as a bad request is.
fn bad(message: impl Into<String>) -> RpcError {
    RpcError::from(netswitch_engine::EngineError::from(
        netswitch_model::RequestError::request(netswitch_model::Code::BadParams, message),
    ))
}

/// `{network, device}`.
fn change(d: &Daemon, params: Option<Value>, set: bool) -> Result<Value, RpcError> {
    let method = if set {
        "Host.setPortMirroring"
    } else {
        "Host.unsetPortMirroring"
    };
    let text = |name: &str, pos: usize| param(&params, name, pos).and_then(Value::as_str);
    let (Some(network), Some(device)) = (text("network", 0), text("device", 1)) else {
        return Err(bad(format!("{method}: give network and device (strings)")));
    };
    let result = if set {
        d.engine.set_port_mirroring(network, device)
    } else {
        d.engine.unset_port_mirroring(network, device)
    };
    d.forget_caps();
    let m = result?;
    let event = if set { "mirror.set" } else { "mirror.unset" };
    d.notify(json!({"event": event, "network": network, "device": device}));
    Ok(json!({"status": {"code": 0, "message": "Done"}, "mirror": m}))
}

fn list(d: &Daemon) -> Result<Value, RpcError> {
    let host = d.live.state();
    let mirrors = d.engine.live_mirrors(&host).map_err(RpcError::from)?;
    Ok(json!({"mirrors": mirrors}))
}

/// Drops the mirrors of a target device when live netinfo sees it go
/// (a VM's tap is deleted when the VM stops). A removal that meets
/// another verb holding the host is left to that verb's own pruning.
pub(crate) fn follow_removals(daemon: &Arc<Daemon>) {
    let mut rx = daemon.live.subscribe();
    let daemon = Arc::clone(daemon);
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(LiveEvent::LinkRemoved { link }) => {
                    let d = Arc::clone(&daemon);
                    let targets = d.engine.mirrors().unwrap_or_default();
                    if !targets.values().any(|m| m.devices.contains(&link)) {
                        continue;
                    }
                    // A plain thread: engine work may build its own runtime.
                    let _ = std::thread::Builder::new()
                        .name("netswitch-mirror".into())
                        .spawn(move || prune(&d, &link));
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
}

fn prune(d: &Daemon, link: &str) {
    match d.engine.prune_mirrors() {
        Ok(n) if n > 0 => {
            d.forget_caps();
            d.notify(json!({"event": "mirror.dropped", "device": link}));
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(device = link, error = %e, "cannot drop the mirrors of a removed device")
        }
    }
}
