//! `Host.hostdevChangeNumvfs {deviceName, numvfs}`: a PF's VF count,
//! one at a time with setups.

use serde_json::{json, Value};

use crate::methods::{blocking, param};
use crate::registry::{Access, Registry, Turn};
use crate::rpc::RpcError;
use crate::state::Daemon;

/// Registers the SR-IOV method.
pub(crate) fn register(r: &mut Registry) {
    r.add(
        "Host.hostdevChangeNumvfs",
        Access::Privileged,
        Turn::Exclusive,
        |c| blocking(c, change_numvfs),
    );
}

/// A bad parameter: 21, as a bad request is.
fn bad(message: impl Into<String>) -> RpcError {
    RpcError::from(netswitch_engine::EngineError::from(
        netswitch_model::RequestError::request(netswitch_model::Code::BadParams, message),
    ))
}

fn change_numvfs(d: &Daemon, params: Option<Value>) -> Result<Value, RpcError> {
    let device = param(&params, "deviceName", 0)
        .and_then(Value::as_str)
        .ok_or_else(|| bad("Host.hostdevChangeNumvfs: deviceName: missing or not a string"))?;
    let numvfs = param(&params, "numvfs", 1)
        .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| {
            bad(format!(
                "Host.hostdevChangeNumvfs: sriov {}: numvfs: missing or not a count",
                netswitch_model::error::clip(device, 40)
            ))
        })?;
    let result = d.engine.change_numvfs(device, numvfs);
    d.forget_caps();
    let done = result?;
    d.notify(json!({"event": "sriov.numvfs", "device": done.device, "numvfs": numvfs}));
    Ok(json!({"status": {"code": 0, "message": "Done"}, "sriov": done}))
}
