//! The provider client's methods (docs/api.md §11): `Host.addProvider`,
//! `Host.removeProvider`, `Host.importNetwork`, `Host.unimportNetwork`
//! (mutating: privileged callers, one at a time as setups are),
//! `Host.getProviders`, `Host.testProvider`, `Host.getProviderNetworks`
//! (reads), and the provider form of `Host.plugVnic` / `Host.unplugVnic`
//! ([`plug`], [`unplug`]), all over `netswitch-provider-client`, the same
//! code and files as the CLI's `provider` verbs.
//!
//! The daemon reaches the provider from its own network namespace (the
//! host's), on its worker threads: the client is blocking.

use netswitch_engine::vnic::{Plugged as HostPlugged, Target, Vnic};
use netswitch_provider_client::{ops, port, AddRequest, Chassis, Error, PlugArgs, Store};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::methods::{blocking, param};
use crate::registry::{Access, Registry, Turn};
use crate::rpc::RpcError;
use crate::state::Daemon;

/// Registers the provider methods.
pub(crate) fn register(r: &mut Registry) {
    use Access::{Anyone, Privileged};
    use Turn::{Concurrent, Exclusive};
    r.add("Host.addProvider", Privileged, Exclusive, |c| {
        blocking(c, add)
    });
    r.add("Host.getProviders", Anyone, Concurrent, |c| {
        blocking(c, |d, _| {
            Ok(json!({"providers": store(d).providers().map_err(rpc)?}))
        })
    });
    r.add("Host.removeProvider", Privileged, Exclusive, |c| {
        blocking(c, |d, p| {
            let name = text(&p, "Host.removeProvider", "name", 0)?;
            ops::remove(&store(d), &name).map_err(rpc)?;
            Ok(done(json!({"removed": name})))
        })
    });
    r.add("Host.testProvider", Anyone, Concurrent, |c| {
        blocking(c, |d, p| {
            let name = text(&p, "Host.testProvider", "name", 0)?;
            let t = ops::test(&store(d), &name).map_err(rpc)?;
            Ok(json!({"provider": name, "networks": t.networks, "url": t.url}))
        })
    });
    r.add("Host.getProviderNetworks", Anyone, Concurrent, |c| {
        blocking(c, |d, p| {
            let name = text(&p, "Host.getProviderNetworks", "name", 0)?;
            Ok(json!({"networks": ops::networks(&store(d), &name).map_err(rpc)?}))
        })
    });
    r.add("Host.importNetwork", Privileged, Exclusive, |c| {
        blocking(c, import)
    });
    r.add("Host.unimportNetwork", Privileged, Exclusive, |c| {
        blocking(c, |d, p| {
            let network = text(&p, "Host.unimportNetwork", "network", 0)?;
            let result = ops::unimport(&store(d), &network);
            d.forget_caps();
            Ok(done(json!({"externalNetwork": result.map_err(rpc)?})))
        })
    });
}

fn store(d: &Daemon) -> Store {
    Store::new(d.engine.store.root())
}

fn rpc(e: Error) -> RpcError {
    RpcError::new(i64::from(e.code), e.message)
}

/// VDSM's success status beside what was done.
fn done(mut v: Value) -> Value {
    v["status"] = json!({"code": 0, "message": "Done"});
    v
}

/// A bad parameter (21).
fn bad(message: impl Into<String>) -> RpcError {
    RpcError::new(21, message)
}

/// A required string parameter.
fn text(params: &Option<Value>, method: &str, name: &str, pos: usize) -> Result<String, RpcError> {
    match param(params, name, pos) {
        Some(Value::String(s)) => Ok(s.clone()),
        None | Some(Value::Null) => Err(bad(format!("{method}: missing {name}"))),
        Some(_) => Err(bad(format!("{method}: {name}: not a string"))),
    }
}

/// `Host.addProvider`'s parameters.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AddParams {
    name: String,
    #[serde(default)]
    url: Option<String>,
    auth_url: String,
    #[serde(default)]
    keystone_version: Option<String>,
    user: String,
    password: String,
    #[serde(default, alias = "project")]
    tenant: Option<String>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    ca: Option<std::path::PathBuf>,
    #[serde(default)]
    read_only: bool,
}

/// `{name, authUrl, user, password, [url], [tenant], [region], [ca],
/// [keystoneVersion], [readOnly]}`.
fn add(d: &Daemon, params: Option<Value>) -> Result<Value, RpcError> {
    let v = params.ok_or_else(|| bad("Host.addProvider: missing parameters"))?;
    let a: AddParams =
        serde_json::from_value(v).map_err(|e| bad(format!("Host.addProvider: {e}")))?;
    // The daemon's working directory means nothing to its caller.
    if a.ca.as_ref().is_some_and(|c| !c.is_absolute()) {
        return Err(bad(format!(
            "provider {}: ca: {:?} is not an absolute path",
            a.name,
            a.ca.unwrap_or_default()
        )));
    }
    let req = AddRequest {
        name: a.name,
        url: a.url,
        auth_url: a.auth_url,
        keystone_version: a.keystone_version,
        user: a.user,
        password: a.password,
        tenant: a.tenant,
        region: a.region,
        ca: a.ca,
        read_only: a.read_only,
    };
    let p = ops::add(&store(d), &req).map_err(rpc)?;
    Ok(done(json!({"provider": p})))
}

/// `{provider, network}`: the provider's network by id or name.
fn import(d: &Daemon, params: Option<Value>) -> Result<Value, RpcError> {
    let provider = text(&params, "Host.importNetwork", "provider", 0)?;
    let network = text(&params, "Host.importNetwork", "network", 1)?;
    let result = ops::import(&store(d), &provider, &network);
    d.forget_caps();
    let e = result.map_err(rpc)?;
    d.notify(json!({"event": "network.imported", "network": e.name, "provider": provider}));
    Ok(done(json!({"externalNetwork": e})))
}

/// The engine of this daemon as the provider client's chassis.
struct Engine<'a>(&'a Daemon);

impl Chassis for Engine<'_> {
    fn system_id(&mut self) -> Result<Option<String>, Error> {
        let ovn = self.0.engine.ovn_report()?;
        Ok(ovn.system_id.filter(|_| ovn.configured))
    }

    fn how_to_configure(&self) -> &'static str {
        "Host.configureOvn first"
    }

    fn plug(&mut self, vnic: &Vnic, timeout: Option<f64>) -> Result<Vec<HostPlugged>, Error> {
        let t = netswitch_engine::vnic::timeout_of(timeout)
            .map_err(netswitch_engine::EngineError::from)?;
        Ok(self.0.engine.plug_vnics(std::slice::from_ref(vnic), t)?)
    }

    fn unplug(&mut self, device: &str) -> Result<HostPlugged, Error> {
        Ok(self.0.engine.unplug_vnic(&Target::Device(device.into()))?)
    }
}

/// What a provider vNIC of `Host.plugVnic` may carry.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProviderVnic {
    provider: String,
    network: String,
    vm_id: String,
    mac: String,
    device: String,
    #[serde(default)]
    vnic_id: Option<String>,
    #[serde(default)]
    mtu: Option<u32>,
    #[serde(default)]
    timeout: Option<f64>,
}

/// `Host.plugVnic {vnic: {provider, network, vmId, mac, device, [vnicId],
/// [mtu], [timeout]}, [timeout]}`: the port allocated (or reused) on the
/// provider and plugged as an OVN vNIC.
pub(crate) fn plug(d: &Daemon, vnic: Value, params: &Option<Value>) -> Result<Value, RpcError> {
    let v: ProviderVnic =
        serde_json::from_value(vnic).map_err(|e| bad(format!("vnic (with provider): {e}")))?;
    let timeout = match (v.timeout, param(params, "timeout", 1)) {
        (Some(t), _) => Some(t),
        (None, None | Some(Value::Null)) => None,
        (None, Some(t)) => Some(t.as_f64().ok_or_else(|| bad("timeout: not a number"))?),
    };
    netswitch_engine::vnic::timeout_of(timeout)
        .map_err(|e| RpcError::from(netswitch_engine::EngineError::from(e)))?;
    let a = PlugArgs {
        provider: &v.provider,
        network: &v.network,
        vm: &v.vm_id,
        mac: &v.mac,
        device: &v.device,
        vnic_id: v.vnic_id.as_deref(),
        mtu: v.mtu,
        timeout,
    };
    let result = port::plug(&store(d), &a, &mut Engine(d));
    d.forget_caps();
    let p = result.map_err(rpc)?;
    d.notify(json!({"event": "vnic.plugged", "device": p.vnic.key(), "network": p.network_name}));
    Ok(done(
        json!({"vnic": p.vnic, "providerPort": p.provider_port, "created": p.created}),
    ))
}

/// `Host.unplugVnic` of a vNIC that holds a provider port (by device, or
/// by vmId and mac): the host lets go, then the port is deleted; `None`
/// when the target holds no provider port (the plain unplug runs).
pub(crate) fn unplug(d: &Daemon, target: &Target) -> Result<Option<Value>, RpcError> {
    let s = store(d);
    let device = match target {
        Target::Device(dev) => Some(dev.clone()),
        Target::Vm { vm_id, mac } => port::device_of(&s, vm_id, mac).map_err(rpc)?,
    };
    let Some(device) = device else {
        return Ok(None);
    };
    let result = port::unplug(&s, &device, &mut Engine(d));
    d.forget_caps();
    let Some(u) = result.map_err(rpc)? else {
        return Ok(None);
    };
    d.notify(json!({"event": "vnic.unplugged", "device": device}));
    Ok(Some(done(
        json!({"vnic": u.vnic, "providerPort": u.provider_port}),
    )))
}
