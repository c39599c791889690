//! The port lifecycle of a provider vNIC, as oVirt engine runs it against
//! an external provider, done by the host itself.
//!
//! Plug: the network (an imported one by its local name, else by name or
//! id on the provider); the port whose `device_id` is the vNIC id, reused
//! when one exists (a crashed plug left it), else created with
//! `device_owner` `oVirt`, the MAC, `binding:host_id` this chassis'
//! system-id and, on a network with port security, the project's
//! `default` security group; then the OVN plug of that port; then
//! `provider-ports/DEVICE.json`. A plug refused locally gives back a port
//! it holds no record of, so nothing leaks.
//!
//! Unplug: the local unplug first (the host must let go whatever the
//! provider does), then the port is deleted; when the provider cannot be
//! reached the record stays, the error names the port left, and an unplug
//! again finishes the job.
//!
//! The host side is a [`Chassis`]: the engine in the daemon's (or the
//! CLI's) process, or the daemon seen from the CLI.

use netswitch_engine::vnic::{Plugged as HostPlugged, Vnic};
use netswitch_neutron_client::{vnic_id, Client, Network, Port, PortRequest};
use serde::Serialize;
use serde_json::json;

use crate::ops::client;
use crate::store::{check_name, PortRecord, Store};
use crate::{at, Error};

/// oVirt engine's `device_owner` for the ports it allocates.
pub const DEVICE_OWNER: &str = "oVirt";

/// The host a provider vNIC is plugged on.
pub trait Chassis {
    /// This host's OVN `system-id` when it is a configured chassis.
    fn system_id(&mut self) -> Result<Option<String>, Error>;
    /// What makes this host a chassis: the hint of the refusal when it is
    /// none (a verb for the CLI, a method for the daemon).
    fn how_to_configure(&self) -> &'static str;
    /// Plugs OVN vNICs (one here), waiting `timeout` seconds at most (the
    /// host's default when `None`); answers those plugged.
    fn plug(&mut self, vnic: &Vnic, timeout: Option<f64>) -> Result<Vec<HostPlugged>, Error>;
    /// Unplugs the vNIC on `device` (23 when none is plugged there).
    fn unplug(&mut self, device: &str) -> Result<HostPlugged, Error>;
}

/// A provider plug's request (`vnic plug --provider`, `Host.plugVnic`
/// with `provider`).
pub struct PlugArgs<'a> {
    pub provider: &'a str,
    pub network: &'a str,
    pub vm: &'a str,
    pub mac: &'a str,
    pub device: &'a str,
    pub vnic_id: Option<&'a str>,
    pub mtu: Option<u32>,
    pub timeout: Option<f64>,
}

/// A provider plug done.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plugged {
    pub vnic: HostPlugged,
    pub provider_port: PortRecord,
    /// Whether the port is new (else a former plug's, reused).
    pub created: bool,
    /// The network's name on the provider.
    #[serde(skip)]
    pub network_name: String,
}

/// A provider unplug done: the port is deleted.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unplugged {
    /// What the host let go (none when an earlier unplug had).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vnic: Option<HostPlugged>,
    pub provider_port: PortRecord,
}

/// The MAC in canonical form, refused (21) unless unicast.
fn unicast(device: &str, mac: &str) -> Result<String, Error> {
    netswitch_model::parse::canonical_mac(mac)
        .filter(|m| u8::from_str_radix(&m[..2], 16).is_ok_and(|b| b & 1 == 0))
        .ok_or_else(|| Error::new(21, format!("vnic {device}: mac: {mac:?} is no unicast MAC")))
}

/// Plugs `vnic` on `host`: 29 when the host answers without it.
fn plug_one(
    host: &mut dyn Chassis,
    vnic: &Vnic,
    timeout: Option<f64>,
) -> Result<HostPlugged, Error> {
    host.plug(vnic, timeout)?
        .pop()
        .ok_or_else(|| Error::new(29, format!("vnic {}: not plugged", vnic.name())))
}

/// Allocates (or reuses) the vNIC's port and plugs it on `host`.
pub fn plug(store: &Store, a: &PlugArgs, host: &mut dyn Chassis) -> Result<Plugged, Error> {
    let mac = unicast(a.device, a.mac)?;
    if a.vm.is_empty() {
        return Err(Error::new(21, format!("vnic {}: vmId: empty", a.device)));
    }
    let record = store.port(a.device)?;
    let mut c = client(store, a.provider)?;
    let net = network(store, &mut c, a.provider, a.network)?;
    let chassis = host.system_id()?.ok_or_else(|| {
        let hint = host.how_to_configure();
        Error::new(21, format!("ovn: this host is no OVN chassis ({hint})"))
    })?;
    let vnic = a
        .vnic_id
        .map_or_else(|| vnic_id(a.vm, &mac), str::to_string);
    let (port, created) = port_for(&mut c, a, &net, &vnic, &mac, &chassis)?;
    crash_point("provider-port-created");
    let give = created || record.is_none();
    let plugged = ovn_vnic(a, &mac, &port.id)
        .and_then(|v| plug_one(host, &v, a.timeout))
        .map_err(|e| give_back(&mut c, a, &port, give, e))?;
    let r = PortRecord {
        provider: a.provider.into(),
        network_id: net.id.clone(),
        port_id: port.id.clone(),
        vnic_id: vnic,
        vm_id: a.vm.into(),
        mac,
    };
    store.save_port(a.device, &r)?;
    Ok(Plugged {
        vnic: plugged,
        provider_port: r,
        created,
        network_name: net.name,
    })
}

/// The OVN vNIC of the port (built from its JSON form, so that vNIC
/// attributes added later keep their defaults here).
fn ovn_vnic(a: &PlugArgs, mac: &str, port: &str) -> Result<Vnic, Error> {
    let mut v = json!({"vmId": a.vm, "mac": mac, "port": port, "device": a.device});
    if let Some(m) = a.mtu {
        v["mtu"] = json!(m);
    }
    serde_json::from_value(v).map_err(|e| Error::new(21, format!("vnic {}: {e}", a.device)))
}

/// The network to plug into: an imported network of this provider by its
/// local name, else the provider's by id or name.
fn network(store: &Store, c: &mut Client, provider: &str, key: &str) -> Result<Network, Error> {
    let imported = store
        .externals()?
        .into_iter()
        .find(|e| e.provider == provider && e.name == key);
    let key = imported.as_ref().map_or(key, |e| e.id.as_str());
    c.find_network(key).map_err(at(provider))
}

/// The port of vNIC `vnic` on `net`: the one a former plug made, with its
/// host binding moved here when it was elsewhere, or a new one; and
/// whether it is new.
fn port_for(
    c: &mut Client,
    a: &PlugArgs,
    net: &Network,
    vnic: &str,
    mac: &str,
    chassis: &str,
) -> Result<(Port, bool), Error> {
    let p = a.provider;
    let mine: Vec<Port> = c
        .ports_of_device(vnic)
        .map_err(at(p))?
        .into_iter()
        .filter(|x| x.network_id == net.id)
        .collect();
    if let Some(old) = mine.into_iter().next() {
        if !old.mac_address.eq_ignore_ascii_case(mac) {
            return Err(Error::new(
                24,
                format!(
                    "vnic {}: mac: port {} of vNIC {vnic} has MAC {}",
                    a.device, old.id, old.mac_address
                ),
            ));
        }
        if old.host_id != chassis {
            c.set_port_host(&old.id, chassis).map_err(at(p))?;
        }
        tracing::info!(port = %old.id, vnic, "reusing the vNIC's port");
        return Ok((old, false));
    }
    let req = PortRequest {
        network_id: net.id.clone(),
        name: a.device.into(),
        mac: mac.into(),
        device_id: vnic.into(),
        device_owner: DEVICE_OWNER.into(),
        host_id: chassis.into(),
        security_groups: default_group(c, p, net)?,
    };
    let port = c.create_port(&req).map_err(at(p))?;
    tracing::info!(port = %port.id, vnic, "created the vNIC's port");
    Ok((port, true))
}

/// The project's `default` security group, on a network with port
/// security (none found: the provider's own default applies).
fn default_group(c: &mut Client, p: &str, net: &Network) -> Result<Option<Vec<String>>, Error> {
    if !net.port_security_enabled {
        return Ok(None);
    }
    let ids: Vec<String> = c
        .security_groups(Some("default"))
        .map_err(at(p))?
        .iter()
        .filter_map(|g| g["id"].as_str().map(str::to_string))
        .collect();
    Ok((!ids.is_empty()).then_some(ids))
}

/// A plug refused or failed here: the port goes back to the provider
/// unless an earlier plug of this device holds it.
fn give_back(c: &mut Client, a: &PlugArgs, port: &Port, give: bool, e: Error) -> Error {
    if !give {
        return e;
    }
    match c.delete_port(&port.id) {
        Ok(()) => Error::new(e.code, format!("{e} (port {} deleted again)", port.id)),
        Err(d) => Error::new(
            e.code,
            format!(
                "{e}; port {} is left on provider {}: {d}",
                port.id, a.provider
            ),
        ),
    }
}

/// The device of the provider vNIC of `vm` with `mac`, if one is kept.
pub fn device_of(store: &Store, vm: &str, mac: &str) -> Result<Option<String>, Error> {
    let Some(mac) = netswitch_model::parse::canonical_mac(mac) else {
        return Ok(None);
    };
    Ok(store
        .ports()?
        .into_iter()
        .find(|(_, r)| r.vm_id == vm && r.mac.eq_ignore_ascii_case(&mac))
        .map(|(d, _)| d))
}

/// Unplugs `device` when it holds a provider port and deletes the port;
/// `None` when it holds none (a plain unplug is the caller's).
pub fn unplug(
    store: &Store,
    device: &str,
    host: &mut dyn Chassis,
) -> Result<Option<Unplugged>, Error> {
    if check_name("vnic", device).is_err() {
        return Ok(None);
    }
    let Some(r) = store.port(device)? else {
        return Ok(None);
    };
    let vnic = match host.unplug(device) {
        Ok(p) => Some(p),
        // Unplugged already (an unplug that could not delete the port).
        Err(e) if e.code == 23 => None,
        Err(e) => return Err(e),
    };
    if vnic.is_some() && store.port(device)?.is_none() {
        // The host was a daemon, which gave the port back itself.
        return Ok(Some(Unplugged {
            vnic,
            provider_port: r,
        }));
    }
    let left = |why: String| {
        Error::new(
            29,
            format!(
                "{device} is unplugged; port {} is left on provider {}: {why} (run `vnic unplug {device}` again)",
                r.port_id, r.provider
            ),
        )
    };
    let mut c = client(store, &r.provider).map_err(|e| left(e.message))?;
    c.delete_port(&r.port_id).map_err(|e| left(e.to_string()))?;
    store.remove_port(device)?;
    Ok(Some(Unplugged {
        vnic,
        provider_port: r,
    }))
}

/// Testing aid: with the `fault-injection` feature, the process aborts
/// here when `NETSWITCH_TEST_CRASH_AT` names the point (a plug killed
/// after the provider made the port, before the host plugged it).
#[cfg(feature = "fault-injection")]
fn crash_point(name: &str) {
    if std::env::var_os("NETSWITCH_TEST_CRASH_AT").is_some_and(|v| v == name) {
        tracing::warn!(point = name, "NETSWITCH_TEST_CRASH_AT: aborting");
        std::process::abort();
    }
}

#[cfg(not(feature = "fault-injection"))]
fn crash_point(_name: &str) {}
