//! Re-plugging vNICs after a setup rebuilt what they sat on.
//!
//! A setup that recreates a network's bridge (the network moved to
//! another nic or VLAN, or from a Linux bridge to OVS and back) takes the
//! VMs' ports with it: a deleted Linux bridge releases its ports, a
//! deleted OVS bridge drops its Port rows, a retagged OVS network leaves
//! its vNIC ports on the old tag. So after every setup that reached a
//! network with plugged vNICs — applied, or rolled back, since a rollback
//! rebuilds too — each such vNIC is put back where its network now is:
//! the record is rewritten when the place changed (switch, bridge, tag,
//! MTU) and the device joined again. A vNIC that is still in place is not
//! touched, so an unrelated edit never blips a VM's port; one whose device
//! is gone is left to its unplug. `restore` does the same for every
//! network it carried or carries.

use std::collections::BTreeSet;

use netswitch_model::config::{Config, SwitchType};
use netswitch_model::host::HostState;
use tracing::{info, warn};

use super::{backend, Plugged};
use crate::EngineError;

/// Where `p`'s network is now: the record a fresh plug would make, or
/// `None` when the network is gone or cannot take vNICs.
fn now_placed(p: &Plugged, running: &Config, host: &HostState) -> Option<Plugged> {
    let net = running.networks.get(&p.vnic.network)?;
    let mtu = p.vnic.mtu.unwrap_or(net.mtu).min(net.mtu);
    let (switch, bridge, tag) = match net.switch {
        SwitchType::Legacy if net.bridged => ("legacy", p.vnic.network.clone(), None),
        SwitchType::Legacy => return None,
        SwitchType::Ovs => {
            let br = host.ovs.as_ref()?.bridge_of_port(&p.vnic.network)?;
            ("ovs", br.name.clone(), net.vlan)
        }
    };
    Some(Plugged {
        vnic: p.vnic.clone(),
        switch: switch.into(),
        bridge,
        tag,
        mtu,
        vf_info: None,
    })
}

/// Whether the device is a port of `p`'s bridge with `p`'s tag.
fn joined(p: &Plugged, host: &HostState) -> bool {
    let dev = &p.vnic.device;
    if p.switch == "ovs" {
        return host
            .ovs
            .as_ref()
            .and_then(|o| o.bridge_of_port(dev))
            .filter(|b| b.name == p.bridge)
            .and_then(|b| b.ports.get(dev))
            .is_some_and(|port| port.tag == p.tag);
    }
    host.link(dev)
        .is_some_and(|l| l.master.as_deref() == Some(p.bridge.as_str()))
}

impl crate::Engine {
    /// Puts the vNICs of the `touched` networks (or on the `touched`
    /// bridges) back where their networks now are (see the module doc).
    /// The caller holds the transaction lock. Best effort per vNIC: one
    /// that cannot be re-plugged is logged and named in the error, the
    /// others are still tried.
    pub(crate) fn replug_vnics<'a>(
        &self,
        touched: impl IntoIterator<Item = &'a String>,
    ) -> Result<usize, EngineError> {
        let touched: BTreeSet<&String> = touched.into_iter().collect();
        let affected: Vec<Plugged> = self
            .vnics()?
            .into_values()
            .filter(|p| touched.contains(&p.vnic.network) || touched.contains(&p.bridge))
            .collect();
        if affected.is_empty() {
            return Ok(0);
        }
        let running = self.running()?;
        let with_ovs = affected.iter().any(|p| p.switch == "ovs")
            || running
                .networks
                .values()
                .any(|n| n.switch == SwitchType::Ovs);
        let mut failed = Vec::new();
        let mut moved = 0;
        for p in &affected {
            let done = if p.switch == super::vf::SWITCH {
                self.replug_vf(p, &running)
            } else {
                self.replug_one(p, &running, with_ovs)
            };
            match done {
                Ok(true) => moved += 1,
                Ok(false) => {}
                Err(e) => {
                    warn!(vnic = %p.key(), error = %e, "cannot re-plug the vNIC");
                    failed.push(format!("{}: {e}", p.key()));
                }
            }
        }
        if failed.is_empty() {
            Ok(moved)
        } else {
            Err(backend(format!(
                "vNICs not re-plugged: {}",
                failed.join("; ")
            )))
        }
    }

    /// Re-plugs one vNIC if it is out of place; whether it was.
    fn replug_one(
        &self,
        p: &Plugged,
        running: &Config,
        with_ovs: bool,
    ) -> Result<bool, EngineError> {
        let host = self.observe(with_ovs)?;
        if host.link(&p.vnic.device).is_none() {
            // The hypervisor's device is gone (a VM stopped, a reboot):
            // nothing to put back; the record stays for its unplug.
            tracing::debug!(device = %p.vnic.device, "no such device: not re-plugged");
            return Ok(false);
        }
        let Some(new) = now_placed(p, running, &host) else {
            return Err(backend(format!(
                "network {} takes no vNICs any more",
                p.vnic.network
            )));
        };
        if new == *p && joined(p, &host) && super::spoof::holds(p, &host) {
            return Ok(false);
        }
        self.leave(p, &host)?;
        if new != *p {
            let bytes = serde_json::to_vec_pretty(&new)
                .map_err(|e| backend(format!("vnic {}: {e}", p.vnic.device)))?;
            let dir = self
                .vnics_dir(true)?
                .ok_or_else(|| backend(format!("vnic {}: no state directory", p.vnic.device)))?;
            dir.replace(&p.vnic.device, &bytes)?;
        }
        let host = self.observe(with_ovs)?;
        self.join(&new, &host)?;
        info!(device = %p.vnic.device, network = %p.vnic.network, bridge = %new.bridge, "vNIC re-plugged");
        Ok(true)
    }
}
