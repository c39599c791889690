//! vNICs: a VM's tap (or veth end) joined to a host network. On a legacy
//! bridged network the device becomes a port of the network's bridge; on
//! an OVS network it becomes a port of the network's OVS bridge, tagged
//! with the network's VLAN and carrying the VM's identity in
//! `external_ids` (what OVN and operators look ports up by).
//!
//! Every plug is kept as one JSON file `<state-dir>/vnics/<device>`,
//! written atomically through [`crate::statedir`], so the daemon reports
//! the vNICs after a restart and an unplug knows what to undo. The device
//! itself belongs to the hypervisor: plug and unplug only change its
//! master/port membership, MTU and up state, never create or delete it.
//!
//! Plugging the same vNIC twice is one plug. The same device asked onto
//! another network (or as another VM's vNIC) is refused with 24: a move
//! is an unplug and a plug, so a caller never moves a running VM's port
//! by accident.

use std::collections::BTreeMap;

use netswitch_model::caps::VnicReport;
use netswitch_model::config::{Config, SwitchType};
use netswitch_model::host::HostState;
use netswitch_model::plan::KernelOp;
use netswitch_model::request::{NetChange, Request};
use netswitch_model::{Code, RequestError};
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::statedir::Dir;
use crate::{EngineError, FailureKind, TransactionError};

mod intent;
mod ovn;
mod ovs_rows;
use ovs_rows::{ovs_add, ovs_del};
mod replug;
mod spoof;
mod vf;
pub use ovn::timeout_of;

/// The state dir's subdirectory of plugged vNICs.
const VNICS_DIR: &str = "vnics";

/// A vNIC as a plug request gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Vnic {
    pub vm_id: String,
    pub mac: String,
    /// The host network; empty for an OVN vNIC (`port`).
    #[serde(default)]
    pub network: String,
    /// OVN: the logical switch port's id (`iface-id` on br-int).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// The tap or veth end the hypervisor made; empty for a vNIC on a VF.
    #[serde(default)]
    pub device: String,
    /// SR-IOV: the VF that is the vNIC (`PF:N`; vnic/vf.rs). Kept with
    /// the PF's netdev name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vf: Option<String>,
    /// At most the network's MTU; the network's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// OVS only: `external_ids:iface-id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iface_id: Option<String>,
    /// `false`: MAC spoofing protection, the vNIC may send only from
    /// `mac` (vnic/spoof.rs). Absent or `true`: no filtering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_spoof: Option<bool>,

    /// Networks whose frames are mirrored to this device while it is
    /// plugged (`crate::mirror`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_mirroring: Vec<String>,
}

/// A plugged vNIC as kept on disk: the request and where it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plugged {
    pub vnic: Vnic,
    /// `legacy` or `ovs`.
    pub switch: String,
    /// The Linux bridge or OVS bridge the device is a port of.
    pub bridge: String,
    /// The OVS access tag (the network's VLAN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<u16>,
    /// The MTU the device was given (0 on a VF: the VM sets it).
    pub mtu: u32,
    /// A VF's settings as the PF reported them after the plug (not kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vf_info: Option<netswitch_sriov::VfSettings>,
}

impl Plugged {
    /// What caps reports of it.
    pub fn report(&self) -> VnicReport {
        VnicReport {
            vm_id: self.vnic.vm_id.clone(),
            mac: self.vnic.mac.clone(),
            network: self.vnic.network.clone(),
            switch: self.switch.clone(),
            port: self.vnic.port.clone(),
            vf: self.vnic.vf.clone(),
        }
    }

    /// The name it is kept and reported by: the device, or the VF.
    pub fn key(&self) -> &str {
        self.vnic.name()
    }
}

impl Vnic {
    /// The device, or `PF:N` for a vNIC on a VF.
    pub fn name(&self) -> &str {
        self.vf.as_deref().unwrap_or(&self.device)
    }
}

/// Which vNIC an unplug means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Device(String),
    Vm { vm_id: String, mac: String },
}

/// A refusal naming the vNIC's device and the attribute at fault.
fn refuse(code: Code, device: &str, attr: &str, reason: impl Into<String>) -> EngineError {
    let device = netswitch_model::error::clip(device, 40);
    RequestError::request(code, format!("vnic {device}: {attr}: {}", reason.into())).into()
}

fn backend(reason: String) -> EngineError {
    TransactionError::new(FailureKind::BackendOp, reason).into()
}

/// Whether `name` can be a network device's name (and so a file name).
fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && !name.contains(['/', ':', '\0'])
        && !name.chars().any(char::is_whitespace)
}

/// Whether `name` can be a vNIC's record name: a device, or a VF
/// (`PF:N`).
fn valid_key(name: &str) -> bool {
    valid_ifname(name) || vf::is_key(name)
}

/// Whether `mac` is six colon-separated hex octets, unicast.
fn valid_mac(mac: &str) -> bool {
    let octets: Vec<&str> = mac.split(':').collect();
    octets.len() == 6
        && octets
            .iter()
            .all(|o| o.len() == 2 && o.chars().all(|c| c.is_ascii_hexdigit()))
        && u8::from_str_radix(octets[0], 16).is_ok_and(|b| b & 1 == 0)
}

/// The checks that need nothing but the request.
fn check_shape(v: &Vnic) -> Result<(), EngineError> {
    if v.vf.is_none() && !valid_ifname(&v.device) {
        return Err(refuse(
            Code::BadParams,
            v.name(),
            "device",
            "not a device name",
        ));
    }
    if !valid_mac(&v.mac) {
        let mac = netswitch_model::error::clip(&v.mac, 40);
        return Err(refuse(
            Code::BadParams,
            v.name(),
            "mac",
            format!("{mac:?} is not a unicast MAC address (xx:xx:xx:xx:xx:xx)"),
        ));
    }
    if v.vm_id.is_empty() || v.vm_id.len() > 256 || v.vm_id.contains('\0') {
        return Err(refuse(
            Code::BadParams,
            v.name(),
            "vmId",
            "empty, over 256 bytes or with a NUL",
        ));
    }
    if v.iface_id.as_ref().is_some_and(|i| i.len() > 256) {
        return Err(refuse(
            Code::BadParams,
            v.name(),
            "ifaceId",
            "over 256 bytes",
        ));
    }
    if v.port.is_some() && spoof::protected(v) {
        // OVN enforces it itself, from the logical port's port_security,
        // which the northbound's owner (the provider) sets.
        return Err(refuse(
            Code::BadParams,
            v.name(),
            "macSpoof",
            "an OVN port's MACs are its logical port's port_security, set in the northbound (the provider's port_security_enabled), not on the host",
        ));
    }
    Ok(())
}

/// Where `v` goes on the host as it is: the plug it makes, or a refusal.
fn place(v: &Vnic, running: &Config, host: &HostState) -> Result<Plugged, EngineError> {
    let Some(net) = running.networks.get(&v.network) else {
        return Err(refuse(
            Code::BadBridge,
            &v.device,
            "network",
            format!(
                "no network {:?}",
                netswitch_model::error::clip(&v.network, 40)
            ),
        ));
    };
    let Some(link) = host.link(&v.device) else {
        return Err(refuse(Code::BadNic, &v.device, "device", "no such device"));
    };
    let mtu = match v.mtu {
        Some(m) if !(68..=net.mtu).contains(&m) => {
            return Err(refuse(
                Code::BadParams,
                &v.device,
                "mtu",
                format!("{m} is not in 68..{} (the network's MTU)", net.mtu),
            ))
        }
        Some(m) => m,
        None => net.mtu,
    };
    let (switch, bridge, tag) = match net.switch {
        SwitchType::Legacy => {
            if !net.bridged {
                return Err(refuse(
                    Code::BadParams,
                    &v.device,
                    "network",
                    format!("{} is bridgeless: nothing to join", v.network),
                ));
            }
            ("legacy", v.network.clone(), None)
        }
        SwitchType::Ovs => {
            let br = host
                .ovs
                .as_ref()
                .and_then(|o| o.bridge_of_port(&v.network))
                .ok_or_else(|| {
                    backend(format!("network {}: no OVS bridge carries it", v.network))
                })?;
            ("ovs", br.name.clone(), net.vlan)
        }
    };
    if let Some(user) = config_user(running, &v.device) {
        return Err(refuse(
            Code::UsedNic,
            &v.device,
            "device",
            format!("{user} uses it"),
        ));
    }
    check_free(v, link.master.as_deref(), host, &bridge)?;
    Ok(Plugged {
        vnic: v.clone(),
        switch: switch.into(),
        bridge,
        tag,
        mtu,
        vf_info: None,
    })
}

/// The network or bond of the running config that uses `dev` (as its
/// nic, bond, VLAN device, bridge or internal port, or as a bond slave):
/// such a device is the host's, never a VM's, and unplugging it would
/// take a network down.
pub(crate) fn config_user(running: &Config, dev: &str) -> Option<String> {
    for (name, a) in &running.networks {
        let vlan_dev = a.base().zip(a.vlan).map(|(b, id)| format!("{b}.{id}"));
        if name == dev || a.base() == Some(dev) || vlan_dev.as_deref() == Some(dev) {
            return Some(format!("network {name}"));
        }
    }
    running
        .bonds
        .iter()
        .find(|(name, b)| *name == dev || b.nics.iter().any(|n| n == dev))
        .map(|(name, _)| format!("bond {name}"))
}

/// Refuses (24) a device that is a port of anything but `bridge`.
fn check_free(
    v: &Vnic,
    master: Option<&str>,
    host: &HostState,
    bridge: &str,
) -> Result<(), EngineError> {
    let ovs_bridge = host
        .ovs
        .as_ref()
        .and_then(|o| o.bridge_of_port(&v.device))
        .map(|b| b.name.as_str());
    // A port of the OVS kernel datapath has `ovs-system` as its master.
    let other = match ovs_bridge {
        Some(b) => (b != bridge).then_some(b),
        None => master.filter(|m| *m != bridge),
    };
    match other {
        Some(m) => Err(refuse(
            Code::UsedNic,
            &v.device,
            "device",
            format!("already a port of {m}"),
        )),
        None => Ok(()),
    }
}

impl crate::Engine {
    /// The `vnics` directory of the state dir, created when `create`.
    fn vnics_dir(&self, create: bool) -> Result<Option<Dir>, EngineError> {
        let Some(root) = self.store.dir(create)? else {
            return Ok(None);
        };
        match root.subdir(VNICS_DIR)? {
            Some(d) => Ok(Some(d)),
            None if create => Ok(Some(root.mkdir(VNICS_DIR)?)),
            None => Ok(None),
        }
    }

    /// The plugged vNICs by device, as kept in the state dir. A file that
    /// does not parse is skipped with a warning rather than hiding the
    /// rest.
    pub fn vnics(&self) -> Result<BTreeMap<String, Plugged>, EngineError> {
        let mut out = BTreeMap::new();
        let Some(dir) = self.vnics_dir(false)? else {
            return Ok(out);
        };
        // A plug a crash interrupted is no plug (vnic/intent.rs).
        let pending = self.pending_plugs();
        let names = std::fs::read_dir(dir.path())
            .map_err(|source| crate::StoreError::Io {
                path: dir.path().to_path_buf(),
                source,
            })?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| valid_key(n) && !n.ends_with(".tmp") && !pending.contains(n));
        for name in names {
            let Some(bytes) = dir.read(&name)? else {
                continue;
            };
            match serde_json::from_slice::<Plugged>(&bytes) {
                Ok(p) if p.key() == name => {
                    out.insert(name, p);
                }
                _ => tracing::warn!(file = %name, "skipping an unreadable vNIC record"),
            }
        }
        Ok(out)
    }

    /// The caps' `vnics` key.
    pub fn vnic_reports(&self) -> Result<BTreeMap<String, VnicReport>, EngineError> {
        Ok(self
            .vnics()?
            .into_iter()
            .map(|(d, p)| (d, p.report()))
            .collect())
    }

    /// Plugs `v` (under the transaction lock): checks, keeps the record,
    /// joins the device. A failure after the record was written takes the
    /// record away again and puts the device back.
    pub fn plug_vnic(&self, v: &Vnic) -> Result<Plugged, EngineError> {
        let _span = tracing::info_span!("plug_vnic", device = %v.device).entered();
        check_shape(v)?;
        if v.vf.is_some() {
            return self.plug_vf(v);
        }
        if v.port.is_some() {
            return Ok(self.plug_vnics(std::slice::from_ref(v), None)?.remove(0));
        }
        let _lock = self.lock()?;
        let running = self.running()?;
        let kept = self.vnics()?.remove(&v.device);
        if let Some(k) = &kept {
            if k.vnic != *v {
                return Err(refuse(
                    Code::UsedNic,
                    &v.device,
                    "device",
                    format!(
                        "already plugged as VM {}'s vNIC on network {}; unplug it first",
                        k.vnic.vm_id, k.vnic.network
                    ),
                ));
            }
        }
        let with_ovs = running
            .networks
            .get(&v.network)
            .is_some_and(|n| n.switch == SwitchType::Ovs);
        let host = self.observe(with_ovs)?;
        let plugged = place(v, &running, &host)?;
        let bytes = serde_json::to_vec_pretty(&plugged)
            .map_err(|e| backend(format!("vnic {}: {e}", v.device)))?;
        let dir = self
            .vnics_dir(true)?
            .ok_or_else(|| backend(format!("vnic {}: no state directory", v.device)))?;
        if kept.is_none() {
            self.write_intent(&plugged, &bytes)?;
        }
        dir.replace(&v.device, &bytes)?;
        crate::journal::crash_point("vnic-recorded");
        let joined = self.join(&plugged, &host);
        if let Err(e) = joined.and_then(|()| self.vnic_mirrors_locked(&plugged)) {
            if kept.is_none() {
                let _ = dir.remove_file(&v.device);
                if let Ok(now) = self.observe(with_ovs) {
                    let _ = self.leave(&plugged, &now);
                }
                let _ = self.clear_intent(&v.device);
            }
            return Err(e);
        }
        crate::journal::crash_point("vnic-joined");
        if kept.is_none() {
            self.clear_intent(&v.device)?;
        }
        info!(device = %v.device, network = %v.network, "vNIC plugged");
        Ok(plugged)
    }

    /// Unplugs a vNIC: the device leaves the bridge (or its OVS port row
    /// goes); the device stays. Code 23 when no plugged vNIC matches.
    pub fn unplug_vnic(&self, which: &Target) -> Result<Plugged, EngineError> {
        let _lock = self.lock()?;
        let which = &self.canonical_target(which);
        let found = self.vnics()?.into_values().find(|p| match which {
            Target::Device(d) => p.key() == d,
            Target::Vm { vm_id, mac } => {
                p.vnic.vm_id == *vm_id && p.vnic.mac.eq_ignore_ascii_case(mac)
            }
        });
        let Some(p) = found else {
            let name = match which {
                Target::Device(d) => d.clone(),
                Target::Vm { vm_id, mac } => format!("of VM {vm_id} with MAC {mac}"),
            };
            return Err(refuse(Code::BadNic, &name, "device", "no plugged vNIC"));
        };
        if p.switch == vf::SWITCH {
            return self.unplug_vf_locked(p);
        }
        self.mirror_drop_device_locked(&p.vnic.device)?;
        let host = self.observe(p.switch != "legacy")?;
        self.leave(&p, &host)?;
        if let Some(dir) = self.vnics_dir(false)? {
            dir.remove_file(&p.vnic.device)?;
            dir.sync()?;
        }
        self.mirror_follow_ports_locked(&p.vnic.network)?;
        info!(device = %p.vnic.device, "vNIC unplugged");
        Ok(p)
    }

    /// Makes the device a port of its network's bridge.
    fn join(&self, p: &Plugged, host: &HostState) -> Result<(), EngineError> {
        let dev = &p.vnic.device;
        if p.switch == "ovs" {
            let on = host.ovs.as_ref().and_then(|o| o.bridge_of_port(dev));
            if on.is_none() {
                crate::ovs::transact_rows(&self.ovs, |bridges, _| ovs_add(p, bridges))
                    .map_err(|e| backend(format!("vnic {dev}: {e}")))?;
            }
            // OVS sizes the port (`mtu_request`) but leaves its state
            // alone. The guard comes after ovs-vswitchd has taken the
            // port (the transaction waited for it): it deletes a new
            // port's ingress qdisc when it sets the port's policing.
            kernel(host, &[KernelOp::SetUp { link: dev.clone() }], dev)?;
            return spoof::guard(p, host);
        }
        let mut ops = Vec::new();
        let link = host.link(dev);
        if link.is_some_and(|l| l.mtu != p.mtu) {
            ops.push(KernelOp::SetMtu {
                link: dev.clone(),
                mtu: p.mtu,
            });
        }
        if link.and_then(|l| l.master.as_deref()) != Some(p.bridge.as_str()) {
            ops.push(KernelOp::SetMaster {
                link: dev.clone(),
                master: p.bridge.clone(),
            });
        }
        ops.push(KernelOp::SetUp { link: dev.clone() });
        kernel(host, &ops, dev)?;
        spoof::guard(p, host)
    }

    /// Undoes [`Self::join`]'s membership, if it is still there.
    fn leave(&self, p: &Plugged, host: &HostState) -> Result<(), EngineError> {
        if p.switch == vf::SWITCH {
            return self.reset_vf_of(p);
        }
        let dev = &p.vnic.device;
        spoof::unguard(p, host)?;
        if p.switch == "ovs" || p.switch == ovn::SWITCH {
            let on = host.ovs.as_ref().and_then(|o| o.bridge_of_port(dev));
            if on.is_none_or(|b| b.name != p.bridge) {
                return Ok(());
            }
            return crate::ovs::transact_rows(&self.ovs, |bridges, ports| {
                ovs_del(p, bridges, ports)
            })
            .map_err(|e| backend(format!("vnic {dev}: {e}")));
        }
        let joined = host.link(dev).and_then(|l| l.master.as_deref()) == Some(p.bridge.as_str());
        if !joined {
            return Ok(());
        }
        kernel(host, &[KernelOp::ReleaseMaster { link: dev.clone() }], dev)
    }
}

/// Applies kernel ops for the vNIC on `dev`; 29 naming the op that failed.
fn kernel(host: &HostState, ops: &[KernelOp], dev: &str) -> Result<(), EngineError> {
    let applied = netswitch_kernel::apply(host, ops);
    match applied.failure {
        None => Ok(()),
        Some(f) => Err(backend(format!("vnic {dev}: {}: {}", f.op, f.message))),
    }
}

/// Refuses (21) a request that removes a network vNICs are still plugged
/// into, naming them: their ports would be left on nothing.
pub fn check_removals(
    request: &Request,
    plugged: &BTreeMap<String, Plugged>,
) -> Result<(), RequestError> {
    for (net, change) in &request.networks {
        if *change != NetChange::Remove {
            continue;
        }
        let on: Vec<&str> = plugged
            .values()
            .filter(|p| p.vnic.network == *net)
            .map(Plugged::key)
            .collect();
        if !on.is_empty() {
            return Err(RequestError::net(
                Code::BadParams,
                net,
                Some("remove"),
                format!(
                    "vNICs are plugged into it: {}; unplug them first",
                    on.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_and_names_are_checked() {
        assert!(valid_mac("52:54:00:12:34:56"));
        assert!(!valid_mac("53:54:00:12:34:56"), "multicast");
        assert!(!valid_mac("52:54:00:12:34"));
        assert!(!valid_mac("52-54-00-12-34-56"));
        assert!(!valid_mac("52:54:00:12:34:5g"));
        assert!(valid_ifname("vnet0"));
        for bad in ["", ".", "..", "a/b", "a b", "sixteen_chars_xx"] {
            assert!(!valid_ifname(bad), "{bad:?}");
        }
    }
}
