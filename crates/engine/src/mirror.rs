//! Port mirroring: every frame of a network copied to a device (a VM's
//! tap, usually: a monitoring VM's vNIC).
//!
//! - **Legacy**: VDSM's tc layout on the network's bridge ([`netswitch_tc::mirror`]):
//!   ingress and root `prio` qdiscs, each with one `matchall` filter whose
//!   action list holds one `mirred egress mirror` per target, and the bridge
//!   promiscuous so that frames switched between its ports are passed up
//!   to it (and so through its ingress filter) too.
//! - **OVS** ([`ovs`]): one `Mirror` row per target on the network's OVS
//!   bridge, its `output_port` the target's port.
//!
//! Mirrors are not part of the network config: they live with the VMs
//! that receive them. So they are kept beside the vNICs in the state dir's
//! runtime area, one JSON file per mirrored network
//! (`<state-dir>/mirrors/<network>`, the targets in the order they were
//! added), never in `running/` or `persistent/`, and not restored at boot.
//! A target that goes away (its device deleted, its OVS port unplugged) or
//! a network that goes takes its mirrors along: [`crate::Engine::prune_mirrors`],
//! run by the daemon on link removals and by every mirror and vNIC verb.

pub mod ovs;

use std::collections::BTreeMap;

use netswitch_model::caps::Caps;
use netswitch_model::config::{Config, SwitchType};
use netswitch_model::host::HostState;
use netswitch_model::{Code, RequestError};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::statedir::Dir;
use crate::{EngineError, FailureKind, TransactionError};

/// The state dir's subdirectory of active mirrors.
const MIRRORS_DIR: &str = "mirrors";

/// The mirrors of one network, as kept on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mirrored {
    pub network: String,
    /// `legacy` or `ovs`.
    pub switch: String,
    /// The Linux bridge (legacy) or OVS bridge the mirror is on.
    pub bridge: String,
    /// The network's VLAN (OVS: what the mirror selects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<u16>,
    /// The target devices, in the order they were added.
    pub devices: Vec<String>,
    /// Legacy: netswitch set the bridge promiscuous (it was not before),
    /// so it clears the flag again with the last target.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub promisc_set: bool,
}

/// A refusal naming the network, the target device and what is wrong.
fn refuse(code: Code, network: &str, device: &str, reason: impl Into<String>) -> EngineError {
    let device = netswitch_model::error::clip(device, 40);
    RequestError::net(
        code,
        network,
        Some("portMirroring"),
        format!("device {device}: {}", reason.into()),
    )
    .into()
}

pub(crate) fn backend(reason: String) -> EngineError {
    TransactionError::new(FailureKind::BackendOp, reason).into()
}

/// Where a mirror of `network` goes on the host as it is, and the checks
/// that need no lock: the network exists (27), is bridged or OVS (21), the
/// device exists (23) and is none of the config's own devices (24).
fn place(
    network: &str,
    device: &str,
    running: &Config,
    host: &HostState,
) -> Result<Mirrored, EngineError> {
    let Some(net) = running.networks.get(network) else {
        let shown = netswitch_model::error::clip(network, 40);
        return Err(RequestError::net(
            Code::BadBridge,
            network,
            None,
            format!("no network {shown} to mirror"),
        )
        .into());
    };
    if host.link(device).is_none() {
        return Err(refuse(Code::BadNic, network, device, "no such device"));
    }
    if let Some(user) = crate::vnic::config_user(running, device) {
        return Err(refuse(
            Code::UsedNic,
            network,
            device,
            format!("{user} uses it; a mirror goes to a VM's device"),
        ));
    }
    let (switch, bridge) = match net.switch {
        SwitchType::Legacy if !net.bridged => {
            return Err(refuse(
                Code::BadParams,
                network,
                device,
                "the network is bridgeless: there is no bridge to mirror",
            ))
        }
        SwitchType::Legacy => ("legacy", network.to_string()),
        SwitchType::Ovs => ("ovs", ovs::bridge_of(network, device, host)?),
    };
    Ok(Mirrored {
        network: network.to_string(),
        switch: switch.into(),
        bridge,
        tag: net.vlan,
        devices: Vec::new(),
        promisc_set: false,
    })
}

/// Whether `name` can name a file of the mirrors directory.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 64
        && !name.starts_with('.')
        && !name.contains(['/', '\0'])
        && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl crate::Engine {
    fn mirrors_dir(&self, create: bool) -> Result<Option<Dir>, EngineError> {
        let Some(root) = self.store.dir(create)? else {
            return Ok(None);
        };
        match root.subdir(MIRRORS_DIR)? {
            Some(d) => Ok(Some(d)),
            None if create => Ok(Some(root.mkdir(MIRRORS_DIR)?)),
            None => Ok(None),
        }
    }

    /// The active mirrors by network, as kept in the state dir. A file
    /// that does not parse is skipped with a warning.
    pub fn mirrors(&self) -> Result<BTreeMap<String, Mirrored>, EngineError> {
        let mut out = BTreeMap::new();
        let Some(dir) = self.mirrors_dir(false)? else {
            return Ok(out);
        };
        let names = std::fs::read_dir(dir.path())
            .map_err(|source| crate::StoreError::Io {
                path: dir.path().to_path_buf(),
                source,
            })?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| valid_name(n) && !n.ends_with(".tmp"));
        for name in names {
            let Some(bytes) = dir.read(&name)? else {
                continue;
            };
            match serde_json::from_slice::<Mirrored>(&bytes) {
                Ok(m) if m.network == name => {
                    out.insert(name, m);
                }
                _ => warn!(file = %name, "skipping an unreadable mirror record"),
            }
        }
        Ok(out)
    }

    /// The active mirrors whose targets are still there (what `mirror list`
    /// and caps show, also before the next verb prunes the rest).
    pub fn live_mirrors(
        &self,
        host: &HostState,
    ) -> Result<BTreeMap<String, Mirrored>, EngineError> {
        let mut all = self.mirrors()?;
        for m in all.values_mut() {
            m.devices.retain(|d| host.link(d).is_some());
        }
        // A legacy network's mirror goes with its bridge.
        all.retain(|_, m| {
            !m.devices.is_empty() && (m.switch != "legacy" || host.link(&m.bridge).is_some())
        });
        Ok(all)
    }

    /// Fills caps' `networks[n].portMirroring` with the network's targets.
    pub fn add_mirror_reports(&self, caps: &mut Caps, host: &HostState) -> Result<(), EngineError> {
        for (net, m) in self.live_mirrors(host)? {
            if let Some(r) = caps.networks.get_mut(&net) {
                r.port_mirroring = m.devices;
            }
        }
        Ok(())
    }

    /// Host.setPortMirroring: copies `network`'s frames to `device` too.
    /// Adding a target that is there already changes nothing.
    pub fn set_port_mirroring(&self, network: &str, device: &str) -> Result<Mirrored, EngineError> {
        let _span = tracing::info_span!("set_port_mirroring", network, device).entered();
        let _lock = self.lock()?;
        self.prune_locked()?;
        self.mirror_add_locked(network, device)
    }

    /// Host.unsetPortMirroring: stops copying `network`'s frames to
    /// `device`; with the last target the tc objects (or Mirror rows) go.
    /// 23 when `device` is no target of the network.
    pub fn unset_port_mirroring(
        &self,
        network: &str,
        device: &str,
    ) -> Result<Mirrored, EngineError> {
        let _span = tracing::info_span!("unset_port_mirroring", network, device).entered();
        let _lock = self.lock()?;
        self.prune_locked()?;
        if !self.running()?.networks.contains_key(network) {
            let shown = netswitch_model::error::clip(network, 40);
            return Err(RequestError::net(
                Code::BadBridge,
                network,
                None,
                format!("no network {shown}"),
            )
            .into());
        }
        let kept = self.mirrors()?.remove(network);
        let Some(mut m) = kept.filter(|m| m.devices.iter().any(|d| d == device)) else {
            return Err(refuse(Code::BadNic, network, device, "is not mirrored to"));
        };
        m.devices.retain(|d| d != device);
        self.apply_and_keep(&m)?;
        info!(network, device, "port mirroring unset");
        Ok(m)
    }

    /// Adds `device` to `network`'s targets, under the caller's lock.
    pub(crate) fn mirror_add_locked(
        &self,
        network: &str,
        device: &str,
    ) -> Result<Mirrored, EngineError> {
        let running = self.running()?;
        let with_ovs = running
            .networks
            .get(network)
            .is_some_and(|n| n.switch == SwitchType::Ovs);
        let host = self.observe(with_ovs)?;
        let placed = place(network, device, &running, &host)?;
        let mut m = match self.mirrors()?.remove(network) {
            Some(k) if k.switch == placed.switch && k.bridge == placed.bridge => k,
            _ => placed,
        };
        if m.devices.iter().any(|d| d == device) {
            // Idempotent, but what the record says is redone if it went.
            self.apply_mirror(&m, &host)?;
            return Ok(m);
        }
        m.devices.push(device.to_string());
        if let Err(e) = self.apply_and_keep(&m) {
            m.devices.pop();
            if let Ok(now) = self.observe(with_ovs) {
                let _ = self.apply_mirror(&m, &now);
            }
            return Err(e);
        }
        info!(network, device, "port mirroring set");
        Ok(m)
    }

    /// Applies `m` to the host and keeps it (or its absence, with no
    /// targets left) in the state dir.
    fn apply_and_keep(&self, m: &Mirrored) -> Result<(), EngineError> {
        let host = self.observe(m.switch == "ovs")?;
        let mut m = m.clone();
        if m.switch == "legacy" && m.devices.len() == 1 && !m.promisc_set {
            // The first target: remember whether the bridge was promiscuous
            // already, so the last one leaves it as it was.
            m.promisc_set = self.bridge_promisc(&m, &host)? == Some(false);
        }
        self.apply_mirror(&m, &host)?;
        self.keep(&m)
    }

    fn keep(&self, m: &Mirrored) -> Result<(), EngineError> {
        let dir = self
            .mirrors_dir(true)?
            .ok_or_else(|| backend(format!("mirror {}: no state directory", m.network)))?;
        if m.devices.is_empty() {
            if dir.read(&m.network)?.is_some() {
                dir.remove_file(&m.network)?;
            }
            dir.sync()?;
            return Ok(());
        }
        let bytes = serde_json::to_vec_pretty(m)
            .map_err(|e| backend(format!("mirror {}: {e}", m.network)))?;
        dir.replace(&m.network, &bytes)?;
        Ok(())
    }

    fn bridge_promisc(&self, m: &Mirrored, host: &HostState) -> Result<Option<bool>, EngineError> {
        let Some(br) = host.link(&m.bridge) else {
            return Ok(None);
        };
        let tree = netswitch_tc::mirror::read(br.index)
            .map_err(|e| backend(format!("network {}: bridge {}: {e}", m.network, m.bridge)))?;
        Ok(Some(tree.promisc))
    }

    /// Makes the host mirror `m.network` to exactly `m.devices` (the ones
    /// that exist).
    fn apply_mirror(&self, m: &Mirrored, host: &HostState) -> Result<(), EngineError> {
        if m.switch == "ovs" {
            return ovs::apply(self, m, host);
        }
        let Some(br) = host.link(&m.bridge) else {
            // The bridge is gone, and its tc objects with it.
            return Ok(());
        };
        let targets: Vec<u32> = m
            .devices
            .iter()
            .filter_map(|d| host.link(d).map(|l| l.index))
            .collect();
        netswitch_tc::mirror::set_mirror(br.index, &targets, m.promisc_set)
            .map(|_| ())
            .map_err(|e| backend(format!("network {}: bridge {}: {e}", m.network, m.bridge)))
    }

    /// Drops the mirrors whose target or network went (module doc).
    pub fn prune_mirrors(&self) -> Result<usize, EngineError> {
        let _lock = self.lock()?;
        self.prune_locked()
    }

    /// [`Self::prune_mirrors`] under the caller's lock; how many targets
    /// were dropped.
    pub(crate) fn prune_locked(&self) -> Result<usize, EngineError> {
        let all = self.mirrors()?;
        if all.is_empty() {
            return Ok(0);
        }
        let running = self.running()?;
        let with_ovs = all.values().any(|m| m.switch == "ovs");
        let host = self.observe(with_ovs)?;
        let mut dropped = 0;
        for mut m in all.into_values() {
            let before = m.devices.len();
            let gone = !running.networks.contains_key(&m.network);
            let (switch, bridge) = (m.switch.clone(), m.bridge.clone());
            m.devices.retain(|d| {
                !gone && host.link(d).is_some() && ovs::still_on(&switch, &bridge, d, &host)
            });
            if m.devices.len() == before {
                continue;
            }
            dropped += before - m.devices.len();
            info!(network = %m.network, left = m.devices.len(), "dropping mirrors whose target went");
            if let Err(e) = self.apply_mirror(&m, &host) {
                warn!(network = %m.network, error = %e, "cannot update a pruned mirror");
            }
            self.keep(&m)?;
        }
        Ok(dropped)
    }

    /// Takes `device` out of every mirror it is a target of (its vNIC is
    /// being unplugged), under the caller's lock.
    pub(crate) fn mirror_drop_device_locked(&self, device: &str) -> Result<(), EngineError> {
        for mut m in self.mirrors()?.into_values() {
            if !m.devices.iter().any(|d| d == device) {
                continue;
            }
            m.devices.retain(|d| d != device);
            self.apply_and_keep(&m)?;
        }
        Ok(())
    }

    /// After a vNIC joined its network, under the plug's lock: the
    /// network's OVS mirror selects it too, and the networks of its
    /// `portMirroring` are mirrored to it. A mirror that cannot be set
    /// takes the others it set along and fails the plug.
    pub(crate) fn vnic_mirrors_locked(&self, p: &crate::vnic::Plugged) -> Result<(), EngineError> {
        if let Err(e) = self.prune_locked() {
            warn!(error = %e, "cannot drop stale mirrors");
        }
        self.mirror_follow_ports_locked(&p.vnic.network)?;
        for net in &p.vnic.port_mirroring {
            if let Err(e) = self.mirror_add_locked(net, &p.vnic.device) {
                let _ = self.mirror_drop_device_locked(&p.vnic.device);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Re-selects the ports of `network`'s OVS mirror after a vNIC of the
    /// network came or went, under the caller's lock.
    pub(crate) fn mirror_follow_ports_locked(&self, network: &str) -> Result<(), EngineError> {
        match self.mirrors()?.remove(network) {
            Some(m) if m.switch == "ovs" => {
                let host = self.observe(true)?;
                ovs::apply(self, &m, &host)
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_names_are_plain_file_names() {
        assert!(valid_name("ovirtmgmt"));
        for bad in ["", ".x", "a/b", "a b", "a\tb"] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }
}
