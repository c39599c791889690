//! The methods the daemon serves, registered with who may call them and
//! whether they take the host for themselves.

use std::future::Future;

use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::codes;
use crate::registry::{Access, Call, Registry, Turn};
use crate::rpc::{Body, Out, RpcError};
use crate::state::Daemon;

/// Every method of the daemon.
pub(crate) fn registry() -> Registry {
    use Access::{Anyone, Privileged};
    use Turn::{Concurrent, Exclusive};
    let mut r = Registry::default();
    r.add("Host.getNetworkCapabilities", Anyone, Concurrent, caps);
    r.add("Host.getNetworkStatistics", Anyone, Concurrent, |c| {
        blocking(c, |d, _| d.stats())
    });
    r.add("Host.subscribe", Anyone, Concurrent, subscribe);
    crate::lldp::register(&mut r);
    // Not exclusive: a setup waiting for its confirmation holds the slot.
    r.add("Host.confirmConnectivity", Privileged, Concurrent, |c| {
        blocking(c, |d, _| Ok(json!({"confirmed": d.engine.confirm()?})))
    });
    r.add("Host.setupNetworks", Privileged, Exclusive, |c| {
        blocking(c, |d, params| d.setup(params))
    });
    r.add("Host.setSafeNetworkConfig", Privileged, Exclusive, |c| {
        blocking(c, |d, _| {
            let saved = d.engine.commit()?;
            Ok(json!({"networks": saved.networks.len(), "bonds": saved.bonds.len()}))
        })
    });
    r.add("Host.restoreNetworks", Privileged, Exclusive, |c| {
        blocking(c, |d, params| {
            let force = param(&params, "force", 0)
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let r = d.engine.restore(force);
            // VF counts may have changed, which no config key shows.
            d.forget_caps();
            let r = r?;
            Ok(json!({"ran": r.ran, "applied": r.applied, "skipped": r.skipped}))
        })
    });
    crate::vnic::register(&mut r);
    crate::mirror::register(&mut r);

    crate::sriov::register(&mut r);
    crate::lldp_tx::register(&mut r);
    crate::ovn::register(&mut r);
    crate::provider::register(&mut r);
    r
}

/// The caps, from the kept answer when its inputs hold.
async fn caps(c: Call) -> Result<Body, RpcError> {
    let d = c.daemon;
    tokio::task::spawn_blocking(move || d.caps())
        .await
        .unwrap_or_else(|_| Err(RpcError::new(codes::INTERNAL, "caps worker died")))
        .map(Body::Shared)
}

/// Forwards every event to the connection as a `Host.event` notification
/// until either side goes away.
async fn subscribe(c: Call) -> Result<Body, RpcError> {
    let mut rx = c.daemon.events.subscribe();
    // Weak: the subscription must not keep the connection open after the
    // client closed its side and its requests are done.
    let tx = c.out.downgrade();
    tokio::spawn(async move {
        loop {
            let params = match rx.recv().await {
                Ok(p) => p,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    json!({"event": "lagged", "missed": n})
                }
                Err(broadcast::error::RecvError::Closed) => break,
            };
            let n = json!({"jsonrpc": "2.0", "method": "Host.event", "params": params});
            let Some(tx) = tx.upgrade() else { break };
            let line = serde_json::to_vec(&n).unwrap_or_default();
            if tx.send(Out::Line(line)).await.is_err() {
                break;
            }
        }
    });
    Ok(Body::json(&json!({"subscribed": true})))
}

/// Runs a method's engine work on a plain thread with the whole call, so
/// an exclusive method's slot is held until the work is done, even if the
/// task waiting for the answer ends first.
pub(crate) fn blocking<F>(c: Call, f: F) -> impl Future<Output = Result<Body, RpcError>> + Send
where
    F: FnOnce(&Daemon, Option<Value>) -> Result<Value, RpcError> + Send + 'static,
{
    on_thread(move || {
        let Call {
            daemon,
            params,
            slot,
            ..
        } = c;
        let result = f(&daemon, params).map(|v| Body::json(&v));
        drop(slot);
        result
    })
}

/// Runs blocking engine work on a plain thread (the engine builds its own
/// runtime for netlink dumps, which a runtime thread may not do).
async fn on_thread<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RpcError> + Send + 'static,
) -> Result<T, RpcError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("netswitch-verb".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| RpcError::new(codes::INTERNAL, format!("cannot start a worker: {e}")))?;
    rx.await
        .unwrap_or_else(|_| Err(RpcError::new(codes::INTERNAL, "the worker died")))
}

/// A parameter by name (params as an object) or position (as an array).
pub(crate) fn param<'a>(params: &'a Option<Value>, name: &str, pos: usize) -> Option<&'a Value> {
    match params {
        Some(Value::Object(o)) => o.get(name),
        Some(Value::Array(a)) => a.get(pos),
        _ => None,
    }
}
