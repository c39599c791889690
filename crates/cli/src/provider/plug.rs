//! `vnic plug --provider` and the unplug of such a vNIC: the port
//! lifecycle of `netswitch_provider_client::port` (create or reuse the
//! port, plug it, record it; unplug, delete the port), with the host
//! side the CLI's [`Host`]: the engine in this process, or the daemon
//! (which then makes only the OVN plug; the provider calls stay here).

use netswitch_engine::vnic::{Plugged, Target, Vnic};
use netswitch_provider_client::{port, Chassis, Error, PlugArgs, Store};
use serde_json::json;

use super::say;
use crate::args::{Global, Verb, VnicVerb};
use crate::failure::Failure;
use crate::host::Host;

/// The CLI's host as the provider client's chassis, opened at its first
/// use (so a refusal found before, say an unknown provider, needs no
/// host).
struct CliChassis<'a> {
    g: &'a Global,
    host: Option<Box<dyn Host>>,
}

impl CliChassis<'_> {
    fn host(&mut self) -> Result<&mut dyn Host, Error> {
        if self.host.is_none() {
            self.host = Some(crate::open_host(self.g).map_err(to_error)?);
        }
        match self.host.as_deref_mut() {
            Some(h) => Ok(h),
            None => Err(Error::new(29, "no host")),
        }
    }
}

fn to_error(f: Failure) -> Error {
    Error::new(f.code, f.message)
}

impl Chassis for CliChassis<'_> {
    fn system_id(&mut self) -> Result<Option<String>, Error> {
        let ovn = self.host()?.ovn().map_err(to_error)?;
        Ok(ovn.system_id.filter(|_| ovn.configured))
    }

    fn how_to_configure(&self) -> &'static str {
        "run `netswitch ovn configure`"
    }

    fn plug(&mut self, vnic: &Vnic, timeout: Option<f64>) -> Result<Vec<Plugged>, Error> {
        self.host()?
            .plug_vnics(std::slice::from_ref(vnic), timeout)
            .map_err(to_error)
    }

    fn unplug(&mut self, device: &str) -> Result<Plugged, Error> {
        self.host()?
            .unplug_vnic(&Target::Device(device.into()))
            .map_err(to_error)
    }
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
    crate::ovn::timeout(a.timeout)?;
    let store = Store::new(&g.state_dir);
    let mut host = CliChassis { g, host: None };
    let p = port::plug(&store, a, &mut host)?;
    let r = &p.provider_port;
    let message = format!(
        "{} is plugged into {} of provider {} (port {}{})",
        a.device,
        p.network_name,
        a.provider,
        r.port_id,
        if p.created { ", created" } else { ", reused" }
    );
    let extra = json!({"vnic": p.vnic, "providerPort": r, "created": p.created});
    say(g.json, &message, extra);
    Ok(())
}

/// `vnic unplug DEVICE` of a vNIC that holds a provider port; `None` when
/// the device holds none (the plain unplug runs).
pub fn unplug(g: &Global, device: &str) -> Result<Option<()>, Failure> {
    let store = Store::new(&g.state_dir);
    if netswitch_provider_client::check_name("vnic", device).is_err()
        || store.port(device)?.is_none()
    {
        return Ok(None);
    }
    super::enter(g)?;
    let mut host = CliChassis { g, host: None };
    let Some(u) = port::unplug(&store, device, &mut host)? else {
        return Ok(None);
    };
    let r = &u.provider_port;
    let network = u
        .vnic
        .and_then(|p| p.vnic.port)
        .unwrap_or_else(|| r.port_id.clone());
    let message = format!(
        "{device} is unplugged from {network}; port {} deleted on provider {}",
        r.port_id, r.provider
    );
    say(g.json, &message, json!({"providerPort": r}));
    Ok(Some(()))
}
