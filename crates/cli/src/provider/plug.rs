//! `vnic plug --provider` and the unplug of such a vNIC: the port
//! lifecycle oVirt engine runs against an external provider, done by the
//! host itself.
//!
//! Plug: the network (an imported one by its local name, else by name or
//! id on the provider); the port whose `device_id` is the vNIC id, reused
//! when one exists (a crashed plug left it), else created with
//! `device_owner` `oVirt`, the MAC, `binding:host_id` this chassis'
//! system-id and, on a network with port security, the project's
//! `default` security group; then the OVN plug of that port (`vnic plug
//! --port`); then `provider-ports/DEVICE.json`. A plug refused locally
//! gives back a port it holds no record of, so nothing leaks.
//!
//! Unplug: the local unplug first (the host must let go whatever the
//! provider does), then the port is deleted; when the provider cannot be
//! reached the record stays, the error names the port left, and `vnic
//! unplug` again finishes the job.

use netswitch_engine::vnic::{Target, Vnic};
use netswitch_neutron_client::{vnic_id, Client, Network, Port, PortRequest};
use serde_json::json;

use super::store::{PortRecord, Store};
use super::{at, client, say};
use crate::args::{Global, Verb, VnicVerb};
use crate::failure::Failure;
use crate::host::Host;

/// oVirt engine's `device_owner` for the ports it allocates.
pub const DEVICE_OWNER: &str = "oVirt";

/// What `vnic plug --provider` was given.
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

/// Runs the verbs of this module: `provider ...`, `vnic plug --provider`
/// and `vnic unplug` of a device holding a provider port; `None` for any
/// other verb.
pub fn dispatch(g: &Global, verb: &Verb) -> Option<Result<(), Failure>> {
    match verb {
        Verb::Provider(v) => Some(super::run(g, v)),
        Verb::Vnic(VnicVerb::Plug {
            provider: Some(provider),
            network,
            vm,
            mac,
            device,
            vnic_id,
            mtu,
            timeout,
            ..
        }) => Some(plug(
            g,
            &PlugArgs {
                provider,
                network: network.as_deref().unwrap_or_default(),
                vm,
                mac,
                // Required unless --vf, which conflicts with --provider.
                device: device.as_deref().unwrap_or_default(),
                vnic_id: vnic_id.as_deref(),
                mtu: *mtu,
                timeout: *timeout,
            },
        )),
        Verb::Vnic(VnicVerb::Unplug { device }) => unplug(g, device).transpose(),
        _ => None,
    }
}

/// `vnic plug --provider NAME --network EXT --vm VM --mac MAC DEVICE`.
pub fn plug(g: &Global, a: &PlugArgs) -> Result<(), Failure> {
    super::enter(g)?;
    let mac = netswitch_model::parse::canonical_mac(a.mac)
        .filter(|m| u8::from_str_radix(&m[..2], 16).is_ok_and(|b| b & 1 == 0))
        .ok_or_else(|| {
            Failure::new(
                21,
                format!("vnic {}: mac: {:?} is no unicast MAC", a.device, a.mac),
            )
        })?;
    if a.vm.is_empty() {
        return Err(Failure::new(21, format!("vnic {}: vmId: empty", a.device)));
    }
    crate::ovn::timeout(a.timeout)?;
    let store = Store::new(&g.state_dir);
    let record = store.port(a.device)?;
    let mut c = client(&store, a.provider)?;
    let net = network(&store, &mut c, a.provider, a.network)?;
    let mut host = crate::open_host(g)?;
    let chassis = system_id(&mut *host)?;
    let vnic = a
        .vnic_id
        .map_or_else(|| vnic_id(a.vm, &mac), str::to_string);
    let (port, created) = port_for(&mut c, a, &net, &vnic, &mac, &chassis)?;
    crash_point("provider-port-created");
    let v = ovn_vnic(a, &mac, &port.id)?;
    let plugged = match host.plug_vnics(std::slice::from_ref(&v), a.timeout) {
        Ok(mut p) => p.remove(0),
        Err(e) => return Err(give_back(&mut c, a, &port, created || record.is_none(), e)),
    };
    let r = PortRecord {
        provider: a.provider.into(),
        network_id: net.id.clone(),
        port_id: port.id.clone(),
        vnic_id: vnic.clone(),
        vm_id: a.vm.into(),
        mac,
    };
    store.save_port(a.device, &r)?;
    let message = format!(
        "{} is plugged into {} of provider {} (port {}{})",
        a.device,
        net.name,
        a.provider,
        port.id,
        if created { ", created" } else { ", reused" }
    );
    let extra = json!({"vnic": plugged, "providerPort": r, "created": created});
    say(g.json, &message, extra);
    Ok(())
}

/// The OVN vNIC of the port (built from its JSON form, so that vNIC
/// attributes added later keep their defaults here).
fn ovn_vnic(a: &PlugArgs, mac: &str, port: &str) -> Result<Vnic, Failure> {
    let mut v = json!({"vmId": a.vm, "mac": mac, "port": port, "device": a.device});
    if let Some(m) = a.mtu {
        v["mtu"] = json!(m);
    }
    serde_json::from_value(v).map_err(|e| Failure::new(21, format!("vnic {}: {e}", a.device)))
}

/// The network to plug into: an imported network of this provider by its
/// local name, else the provider's by id or name.
fn network(store: &Store, c: &mut Client, provider: &str, key: &str) -> Result<Network, Failure> {
    let imported = store
        .externals()?
        .into_iter()
        .find(|e| e.provider == provider && e.name == key);
    let key = imported.as_ref().map_or(key, |e| e.id.as_str());
    c.find_network(key).map_err(at(provider))
}

/// This chassis' OVN name, the port's `binding:host_id`.
fn system_id(host: &mut dyn Host) -> Result<String, Failure> {
    let ovn = host.ovn()?;
    match ovn.system_id {
        Some(id) if ovn.configured => Ok(id),
        _ => Err(Failure::new(
            21,
            "ovn: this host is no OVN chassis (run `netswitch ovn configure`)",
        )),
    }
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
) -> Result<(Port, bool), Failure> {
    let p = a.provider;
    let mine: Vec<Port> = c
        .ports_of_device(vnic)
        .map_err(at(p))?
        .into_iter()
        .filter(|x| x.network_id == net.id)
        .collect();
    if let Some(old) = mine.into_iter().next() {
        if !old.mac_address.eq_ignore_ascii_case(mac) {
            return Err(Failure::new(
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
    let sgs = if net.port_security_enabled {
        let ids: Vec<String> = c
            .security_groups(Some("default"))
            .map_err(at(p))?
            .iter()
            .filter_map(|g| g["id"].as_str().map(str::to_string))
            .collect();
        (!ids.is_empty()).then_some(ids)
    } else {
        None
    };
    let req = PortRequest {
        network_id: net.id.clone(),
        name: a.device.into(),
        mac: mac.into(),
        device_id: vnic.into(),
        device_owner: DEVICE_OWNER.into(),
        host_id: chassis.into(),
        security_groups: sgs,
    };
    let port = c.create_port(&req).map_err(at(p))?;
    tracing::info!(port = %port.id, vnic, "created the vNIC's port");
    Ok((port, true))
}

/// A plug refused or failed here: the port goes back to the provider
/// unless an earlier plug of this device holds it.
fn give_back(c: &mut Client, a: &PlugArgs, port: &Port, give: bool, e: Failure) -> Failure {
    if !give {
        return e;
    }
    match c.delete_port(&port.id) {
        Ok(()) => Failure::new(e.code, format!("{e} (port {} deleted again)", port.id)),
        Err(d) => Failure::new(
            e.code,
            format!(
                "{e}; port {} is left on provider {}: {d}",
                port.id, a.provider
            ),
        ),
    }
}

/// `vnic unplug DEVICE` of a vNIC that holds a provider port; `None` when
/// the device holds none (the plain unplug runs).
pub fn unplug(g: &Global, device: &str) -> Result<Option<()>, Failure> {
    if super::store::check_name("vnic", device).is_err() {
        return Ok(None);
    }
    let store = Store::new(&g.state_dir);
    let Some(r) = store.port(device)? else {
        return Ok(None);
    };
    super::enter(g)?;
    let mut host = crate::open_host(g)?;
    let network = match host.unplug_vnic(&Target::Device(device.into())) {
        Ok(p) => p.vnic.port.unwrap_or_default(),
        // Unplugged already (an unplug that could not delete the port).
        Err(e) if e.code == 23 => r.port_id.clone(),
        Err(e) => return Err(e),
    };
    let left = |why: String| {
        Failure::new(
            29,
            format!(
                "{device} is unplugged; port {} is left on provider {}: {why} (run `vnic unplug {device}` again)",
                r.port_id, r.provider
            ),
        )
    };
    let mut c = client(&store, &r.provider).map_err(|e| left(e.message))?;
    c.delete_port(&r.port_id).map_err(|e| left(e.to_string()))?;
    store.remove_port(device)?;
    let message = format!(
        "{device} is unplugged from {network}; port {} deleted on provider {}",
        r.port_id, r.provider
    );
    say(g.json, &message, json!({"providerPort": r}));
    Ok(Some(()))
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
