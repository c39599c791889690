//! The OVN methods: `Host.configureOvn`, `Host.unconfigureOvn` (both take
//! the host for themselves, as setups do), `Host.getOvn`, and
//! `Host.plugVnics` (a batch of OVN vNICs, one wait for ovn-controller).

use netswitch_engine::ovn::OvnConfig;
use netswitch_engine::vnic::Vnic;
use serde_json::{json, Value};

use crate::methods::{blocking, param};
use crate::registry::{Access, Registry, Turn};
use crate::rpc::RpcError;
use crate::state::Daemon;

/// Registers the OVN methods.
pub(crate) fn register(r: &mut Registry) {
    r.add(
        "Host.configureOvn",
        Access::Privileged,
        Turn::Exclusive,
        |c| blocking(c, configure),
    );
    r.add(
        "Host.unconfigureOvn",
        Access::Privileged,
        Turn::Exclusive,
        |c| {
            blocking(c, |d, _| {
                let result = d.engine.unconfigure_ovn();
                d.forget_caps();
                Ok(done(result?))
            })
        },
    );
    r.add("Host.getOvn", Access::Anyone, Turn::Concurrent, |c| {
        blocking(c, |d, _| {
            Ok(json!({"ovn": d.engine.ovn_report().map_err(RpcError::from)?}))
        })
    });
    r.add("Host.plugVnics", Access::Privileged, Turn::Exclusive, |c| {
        blocking(c, plug_batch)
    });
}

/// A bad parameter: 21, as a bad request is.
fn bad(message: impl Into<String>) -> RpcError {
    RpcError::from(netswitch_engine::EngineError::from(
        netswitch_model::RequestError::request(netswitch_model::Code::BadParams, message),
    ))
}

fn done(report: netswitch_model::caps::OvnReport) -> Value {
    json!({"status": {"code": 0, "message": "Done"}, "ovn": report})
}

/// `{remote, encapIp | encapNetwork, [systemId], [encapType]}`.
fn configure(d: &Daemon, params: Option<Value>) -> Result<Value, RpcError> {
    let v = params.ok_or_else(|| bad("Host.configureOvn: missing parameters"))?;
    let c: OvnConfig =
        serde_json::from_value(v).map_err(|e| bad(format!("Host.configureOvn: {e}")))?;
    let result = d.engine.configure_ovn(&c);
    d.forget_caps();
    let report = result?;
    d.notify(json!({"event": "ovn.configured", "systemId": report.system_id}));
    Ok(done(report))
}

/// `{vnics: [{vmId, mac, port, device, [mtu]}...], [timeout]}`.
fn plug_batch(d: &Daemon, params: Option<Value>) -> Result<Value, RpcError> {
    let v = param(&params, "vnics", 0)
        .cloned()
        .ok_or_else(|| bad("Host.plugVnics: missing vnics"))?;
    let vnics: Vec<Vnic> = serde_json::from_value(v).map_err(|e| bad(format!("vnics: {e}")))?;
    let secs = match param(&params, "timeout", 1) {
        None | Some(Value::Null) => None,
        Some(t) => Some(t.as_f64().ok_or_else(|| bad("timeout: not a number"))?),
    };
    let timeout = netswitch_engine::vnic::timeout_of(secs)
        .map_err(|e| RpcError::from(netswitch_engine::EngineError::from(e)))?;
    let result = d.engine.plug_vnics(&vnics, timeout);
    d.forget_caps();
    let plugged = result?;
    d.notify(json!({"event": "vnics.plugged", "count": plugged.len()}));
    Ok(json!({"status": {"code": 0, "message": "Done"}, "vnics": plugged}))
}
