//! The verbs as one trait, run either by the engine in this process
//! ([`Local`]) or by the daemon over its socket ([`Remote`]).
//!
//! The CLI runs every verb through one function against [`Host`], so both
//! ways take the same flags and give the same output and exit codes: a
//! flag can only be dropped on one way by an implementation refusing it,
//! never by a forgotten branch.

use std::collections::BTreeMap;
use std::time::Duration;

use netswitch_daemon::{Client, ClientError};
use netswitch_engine::mirror::Mirrored;
use netswitch_engine::ovn::OvnConfig;
use netswitch_engine::vnic::{Plugged, Target, Vnic};
use netswitch_engine::{Engine, EngineError, Outcome, Restored, SetupOptions};
use netswitch_model::caps::{Caps, OvnReport};
use netswitch_model::{Code, RequestError};
use serde_json::{json, Value};

use crate::failure::Failure;

/// What a verb runs against. `events` calls `each` for every event until
/// it returns false.
pub trait Host {
    /// getNetworkCapabilities.
    fn caps(&mut self) -> Result<Caps, Failure>;
    /// setupNetworks, with the CLI's options.
    fn setup(&mut self, text: &[u8], opts: &SetupOptions) -> Result<Outcome, Failure>;
    /// confirmConnectivity: whether a setup was waiting.
    fn confirm(&mut self) -> Result<bool, Failure>;
    /// setSafeNetworkConfig: the persistent config's (networks, bonds).
    fn commit(&mut self) -> Result<(usize, usize), Failure>;
    /// restoreNetworks.
    fn restore(&mut self, force: bool) -> Result<Restored, Failure>;
    /// getNetworkStatistics: `{"interfaces": {...}, "sampleTime": secs}`.
    fn stats(&mut self) -> Result<Value, Failure>;
    /// subscribe: events as JSON objects.
    fn events(&mut self, each: &mut dyn FnMut(&Value) -> bool) -> Result<(), Failure>;
    /// getLldp for `devices` (empty: every nic); in-process after
    /// listening for `listen`, the daemon at once.
    fn lldp(&mut self, devices: &[String], listen: Duration) -> Result<Value, Failure>;

    /// plugVnic.
    fn plug_vnic(&mut self, vnic: &Vnic) -> Result<Plugged, Failure>;
    /// unplugVnic.
    fn unplug_vnic(&mut self, target: &Target) -> Result<Plugged, Failure>;
    /// listVnics: the plugged vNICs by device.
    fn vnics(&mut self) -> Result<BTreeMap<String, Plugged>, Failure>;

    /// setPortMirroring: the network's mirror afterwards.
    fn set_mirror(&mut self, network: &str, device: &str) -> Result<Mirrored, Failure>;
    /// unsetPortMirroring: the network's mirror afterwards.
    fn unset_mirror(&mut self, network: &str, device: &str) -> Result<Mirrored, Failure>;
    /// listPortMirroring: the active mirrors by network.
    fn mirrors(&mut self) -> Result<BTreeMap<String, Mirrored>, Failure>;
    /// hostdevChangeNumvfs: `{device, pciAddress, from, to, viaZero}`.
    fn change_numvfs(&mut self, device: &str, numvfs: u32) -> Result<Value, Failure>;
    /// setLldpTx: whether LLDP is transmitted on `device`.
    fn set_lldp_tx(&mut self, device: &str, tx: bool) -> Result<bool, Failure>;
    /// plugVnics: OVN vNICs in one batch, `timeout` seconds for
    /// ovn-controller (the host's default when `None`).
    fn plug_vnics(&mut self, vnics: &[Vnic], timeout: Option<f64>)
        -> Result<Vec<Plugged>, Failure>;
    /// configureOvn.
    fn configure_ovn(&mut self, c: &OvnConfig) -> Result<OvnReport, Failure>;
    /// unconfigureOvn.
    fn unconfigure_ovn(&mut self) -> Result<OvnReport, Failure>;
    /// getOvn: the chassis' configuration.
    fn ovn(&mut self) -> Result<OvnReport, Failure>;
}

/// The engine in this process.
pub struct Local(pub Engine);

impl Host for Local {
    fn caps(&mut self) -> Result<Caps, Failure> {
        Ok(self.0.caps()?)
    }

    fn setup(&mut self, text: &[u8], opts: &SetupOptions) -> Result<Outcome, Failure> {
        Ok(self.0.setup(text, opts)?)
    }

    fn confirm(&mut self) -> Result<bool, Failure> {
        Ok(self.0.confirm()?)
    }

    fn commit(&mut self) -> Result<(usize, usize), Failure> {
        let c = self.0.commit()?;
        Ok((c.networks.len(), c.bonds.len()))
    }

    fn restore(&mut self, force: bool) -> Result<Restored, Failure> {
        Ok(self.0.restore(force)?)
    }

    fn stats(&mut self) -> Result<Value, Failure> {
        let stats = netswitch_netinfo::statistics().map_err(EngineError::from)?;
        let mut ifaces = serde_json::Map::new();
        for s in stats {
            let mut v = serde_json::to_value(&s).unwrap_or(Value::Null);
            if let Some(o) = v.as_object_mut() {
                o.remove("name");
            }
            ifaces.insert(s.name, v);
        }
        Ok(json!({"interfaces": ifaces, "sampleTime": now()}))
    }

    fn events(&mut self, each: &mut dyn FnMut(&Value) -> bool) -> Result<(), Failure> {
        let live = netswitch_netinfo::Live::start().map_err(EngineError::from)?;
        let mut rx = live.subscribe();
        loop {
            let event = match rx.blocking_recv() {
                Ok(e) => serde_json::to_value(&e).unwrap_or(Value::Null),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    json!({"event": "lagged", "missed": n})
                }
                Err(_) => return Ok(()),
            };
            if !each(&event) {
                return Ok(());
            }
        }
    }
    fn lldp(&mut self, devices: &[String], listen: Duration) -> Result<Value, Failure> {
        let devices = if devices.is_empty() {
            let host = netswitch_netinfo::snapshot()?;
            host.links
                .keys()
                .filter(|n| self.0.nics.is_nic(&host, n))
                .cloned()
                .collect()
        } else {
            devices.to_vec()
        };
        // This thread is inside --netns: so are the receiver's socket and
        // thread.
        let Ok(receiver) = netswitch_lldp::Receiver::spawn(|_| {}) else {
            crate::out::err(
                "netswitch: lldp: cannot open an AF_PACKET socket (needs CAP_NET_RAW); LLDP is off",
            );
            return Ok(json!(netswitch_lldp::Neighbors::new().report(&devices)));
        };
        std::thread::sleep(listen);
        Ok(json!(receiver.neighbors().report(&devices)))
    }

    fn plug_vnic(&mut self, vnic: &Vnic) -> Result<Plugged, Failure> {
        Ok(self.0.plug_vnic(vnic)?)
    }

    fn unplug_vnic(&mut self, target: &Target) -> Result<Plugged, Failure> {
        Ok(self.0.unplug_vnic(target)?)
    }

    fn vnics(&mut self) -> Result<BTreeMap<String, Plugged>, Failure> {
        Ok(self.0.vnics()?)
    }

    fn set_mirror(&mut self, network: &str, device: &str) -> Result<Mirrored, Failure> {
        Ok(self.0.set_port_mirroring(network, device)?)
    }

    fn unset_mirror(&mut self, network: &str, device: &str) -> Result<Mirrored, Failure> {
        Ok(self.0.unset_port_mirroring(network, device)?)
    }

    fn mirrors(&mut self) -> Result<BTreeMap<String, Mirrored>, Failure> {
        let host = self.0.observe(false)?;
        Ok(self.0.live_mirrors(&host)?)
    }

    fn change_numvfs(&mut self, device: &str, numvfs: u32) -> Result<Value, Failure> {
        let done = self.0.change_numvfs(device, numvfs)?;
        Ok(serde_json::to_value(done).unwrap_or(Value::Null))
    }

    fn set_lldp_tx(&mut self, device: &str, tx: bool) -> Result<bool, Failure> {
        Ok(self.0.set_lldp_tx(device, tx)?)
    }

    fn plug_vnics(
        &mut self,
        vnics: &[Vnic],
        timeout: Option<f64>,
    ) -> Result<Vec<Plugged>, Failure> {
        let t = netswitch_engine::vnic::timeout_of(timeout)?;
        Ok(self.0.plug_vnics(vnics, t)?)
    }

    fn configure_ovn(&mut self, c: &OvnConfig) -> Result<OvnReport, Failure> {
        Ok(self.0.configure_ovn(c)?)
    }

    fn unconfigure_ovn(&mut self) -> Result<OvnReport, Failure> {
        Ok(self.0.unconfigure_ovn()?)
    }

    fn ovn(&mut self) -> Result<OvnReport, Failure> {
        Ok(self.0.ovn_report()?)
    }
}

/// Seconds since the epoch, as the daemon stamps statistics.
fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The daemon, over its socket.
pub struct Remote(pub Client);

impl Remote {
    fn call(&mut self, method: &str, params: Value) -> Result<Value, Failure> {
        Ok(self.0.call(method, params)?)
    }
}

/// A field of the daemon's answer, or a protocol failure naming it.
fn field<T: serde::de::DeserializeOwned>(v: &Value, name: &str) -> Result<T, Failure> {
    serde_json::from_value(v.get(name).cloned().unwrap_or(Value::Null))
        .map_err(|e| Failure::from(ClientError::Protocol(format!("{name}: {e}"))))
}

impl Host for Remote {
    fn caps(&mut self) -> Result<Caps, Failure> {
        let v = self.call("Host.getNetworkCapabilities", json!({}))?;
        serde_json::from_value(v)
            .map_err(|e| Failure::from(ClientError::Protocol(format!("caps: {e}"))))
    }

    fn setup(&mut self, text: &[u8], opts: &SetupOptions) -> Result<Outcome, Failure> {
        let (request, doc) = remote_request(text, opts)?;
        let v = self.call("Host.setupNetworks", doc)?;
        Ok(Outcome {
            request,
            desired: field(&v, "desired")?,
            plan: field(&v, "plan")?,
            applied: field(&v, "applied")?,
        })
    }

    fn confirm(&mut self) -> Result<bool, Failure> {
        let v = self.call("Host.confirmConnectivity", json!({}))?;
        field(&v, "confirmed")
    }

    fn commit(&mut self) -> Result<(usize, usize), Failure> {
        let v = self.call("Host.setSafeNetworkConfig", json!({}))?;
        Ok((field(&v, "networks")?, field(&v, "bonds")?))
    }

    fn restore(&mut self, force: bool) -> Result<Restored, Failure> {
        let v = self.call("Host.restoreNetworks", json!({"force": force}))?;
        Ok(Restored {
            ran: field(&v, "ran")?,
            applied: field(&v, "applied")?,
            skipped: field(&v, "skipped")?,
        })
    }

    fn stats(&mut self) -> Result<Value, Failure> {
        self.call("Host.getNetworkStatistics", json!({}))
    }

    fn lldp(&mut self, devices: &[String], _listen: Duration) -> Result<Value, Failure> {
        self.call("Host.getLldp", json!({"filter": {"devices": devices}}))
    }

    fn events(&mut self, each: &mut dyn FnMut(&Value) -> bool) -> Result<(), Failure> {
        self.call("Host.subscribe", json!({}))?;
        loop {
            let msg = self.0.read_message()?;
            if msg.get("method").and_then(Value::as_str) == Some("Host.event")
                && !each(&msg["params"])
            {
                return Ok(());
            }
        }
    }

    fn plug_vnic(&mut self, vnic: &Vnic) -> Result<Plugged, Failure> {
        let v = self.call("Host.plugVnic", json!({"vnic": vnic}))?;
        field(&v, "vnic")
    }

    fn unplug_vnic(&mut self, target: &Target) -> Result<Plugged, Failure> {
        let params = match target {
            Target::Device(d) => json!({"device": d}),
            Target::Vm { vm_id, mac } => json!({"vmId": vm_id, "mac": mac}),
        };
        let v = self.call("Host.unplugVnic", params)?;
        field(&v, "vnic")
    }

    fn vnics(&mut self) -> Result<BTreeMap<String, Plugged>, Failure> {
        let v = self.call("Host.listVnics", json!({}))?;
        field(&v, "vnics")
    }

    fn set_mirror(&mut self, network: &str, device: &str) -> Result<Mirrored, Failure> {
        let params = json!({"network": network, "device": device});
        let v = self.call("Host.setPortMirroring", params)?;
        field(&v, "mirror")
    }

    fn unset_mirror(&mut self, network: &str, device: &str) -> Result<Mirrored, Failure> {
        let params = json!({"network": network, "device": device});
        let v = self.call("Host.unsetPortMirroring", params)?;
        field(&v, "mirror")
    }

    fn mirrors(&mut self) -> Result<BTreeMap<String, Mirrored>, Failure> {
        let v = self.call("Host.listPortMirroring", json!({}))?;
        field(&v, "mirrors")
    }

    fn change_numvfs(&mut self, device: &str, numvfs: u32) -> Result<Value, Failure> {
        let v = self.call(
            "Host.hostdevChangeNumvfs",
            json!({"deviceName": device, "numvfs": numvfs}),
        )?;
        field(&v, "sriov")
    }

    fn set_lldp_tx(&mut self, device: &str, tx: bool) -> Result<bool, Failure> {
        let v = self.call("Host.setLldpTx", json!({"device": device, "tx": tx}))?;
        Ok(v["lldp"]["tx"].as_bool().unwrap_or(tx))
    }

    fn plug_vnics(
        &mut self,
        vnics: &[Vnic],
        timeout: Option<f64>,
    ) -> Result<Vec<Plugged>, Failure> {
        let v = self.call(
            "Host.plugVnics",
            json!({"vnics": vnics, "timeout": timeout}),
        )?;
        field(&v, "vnics")
    }

    fn configure_ovn(&mut self, c: &OvnConfig) -> Result<OvnReport, Failure> {
        let v = self.call("Host.configureOvn", json!(c))?;
        field(&v, "ovn")
    }

    fn unconfigure_ovn(&mut self) -> Result<OvnReport, Failure> {
        let v = self.call("Host.unconfigureOvn", json!({}))?;
        field(&v, "ovn")
    }

    fn ovn(&mut self) -> Result<OvnReport, Failure> {
        let v = self.call("Host.getOvn", json!({}))?;
        field(&v, "ovn")
    }
}

/// The request as the daemon takes it, with the CLI's options in it: the
/// connectivity check off unless the request's options or
/// `--confirm-within` turn it on (over JSON-RPC it is on by default),
/// `dryRun`, the DHCP timeout, faults; parsed here first so a malformed
/// request fails exactly as in-process.
fn remote_request(
    text: &[u8],
    opts: &SetupOptions,
) -> Result<(netswitch_model::Request, Value), Failure> {
    let request = netswitch_model::parse::parse_request(text)?;
    let Value::Object(mut doc) = netswitch_model::parse::parse_document(text)? else {
        return Err(RequestError::request(Code::BadParams, "a request must be an object").into());
    };
    let options = doc.entry("options").or_insert_with(|| json!({}));
    if options.is_null() {
        // model::parse reads a null section as an empty one; so does this.
        *options = json!({});
    }
    let options = options
        .as_object_mut()
        .ok_or_else(|| RequestError::request(Code::BadParams, "options must be an object"))?;
    match opts.confirm_within {
        Some(secs) => {
            options.insert("connectivityCheck".into(), json!(true));
            options.insert("connectivityTimeout".into(), json!(secs));
        }
        None => {
            options.entry("connectivityCheck").or_insert(json!(false));
        }
    }
    if opts.dry_run {
        options.insert("dryRun".into(), json!(true));
    }
    if let Some(secs) = opts.dhcp_timeout {
        doc.insert("_dhcpTimeout".into(), json!(secs));
    }
    #[cfg(feature = "fault-injection")]
    if let Some(i) = opts.faults.fail_at {
        doc.insert("_injectFailureAt".into(), json!(i + 1));
    }
    #[cfg(feature = "fault-injection")]
    if opts.faults.drift {
        doc.insert("_injectDrift".into(), json!(true));
    }
    doc.insert("_withDesired".into(), json!(true));
    Ok((request, Value::Object(doc)))
}
