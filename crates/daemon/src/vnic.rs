//! The vNIC methods: `Host.plugVnic`, `Host.unplugVnic` (both take the
//! host for themselves, as setups do) and `Host.listVnics`. A vNIC with a
//! `provider`, and the unplug of one, go to [`crate::provider`].

use netswitch_engine::vnic::{Target, Vnic};
use serde_json::{json, Value};

use crate::methods::{blocking, param};
use crate::registry::{Access, Registry, Turn};
use crate::rpc::RpcError;
use crate::state::Daemon;

/// Registers the vNIC methods.
pub(crate) fn register(r: &mut Registry) {
    r.add("Host.plugVnic", Access::Privileged, Turn::Exclusive, |c| {
        blocking(c, plug)
    });
    r.add(
        "Host.unplugVnic",
        Access::Privileged,
        Turn::Exclusive,
        |c| blocking(c, unplug),
    );
    r.add("Host.listVnics", Access::Anyone, Turn::Concurrent, |c| {
        blocking(c, |d, _| list(d))
    });
}

/// A bad parameter: 21, as a bad request is.
fn bad(message: impl Into<String>) -> RpcError {
    RpcError::from(netswitch_engine::EngineError::from(
        netswitch_model::RequestError::request(netswitch_model::Code::BadParams, message),
    ))
}

/// `{vnic: {vmId, mac, network, device | vf, [mtu], [ifaceId]}}`.
fn plug(d: &Daemon, params: Option<Value>) -> Result<Value, RpcError> {
    let v = param(&params, "vnic", 0)
        .cloned()
        .ok_or_else(|| bad("Host.plugVnic: missing vnic"))?;
    if v.get("provider").is_some() {
        return crate::provider::plug(d, v, &params);
    }
    let vnic: Vnic = serde_json::from_value(v).map_err(|e| bad(format!("vnic: {e}")))?;
    let result = d.engine.plug_vnic(&vnic);
    d.forget_caps();
    let p = result?;
    d.notify(json!({"event": "vnic.plugged", "device": p.key(), "network": p.vnic.network}));
    Ok(json!({"status": {"code": 0, "message": "Done"}, "vnic": p}))
}

/// `{device}`, `{vf}` (`PF:N`) or `{vmId, mac}`.
fn unplug(d: &Daemon, params: Option<Value>) -> Result<Value, RpcError> {
    let text = |name: &str, pos: usize| {
        param(&params, name, pos)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let device = text("device", 0).or_else(|| text("vf", 0));
    let target = match (device, text("vmId", 1), text("mac", 2)) {
        (Some(device), _, _) => Target::Device(device),
        (None, Some(vm_id), Some(mac)) => Target::Vm { vm_id, mac },
        _ => return Err(bad("Host.unplugVnic: give device, or vmId and mac")),
    };
    if let Some(answer) = crate::provider::unplug(d, &target)? {
        return Ok(answer);
    }
    let result = d.engine.unplug_vnic(&target);
    d.forget_caps();
    let p = result?;
    d.notify(json!({"event": "vnic.unplugged", "device": p.key()}));
    Ok(json!({"status": {"code": 0, "message": "Done"}, "vnic": p}))
}

fn list(d: &Daemon) -> Result<Value, RpcError> {
    let vnics = d.engine.vnics().map_err(RpcError::from)?;
    Ok(json!({"vnics": vnics}))
}
