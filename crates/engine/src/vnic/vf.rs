//! vNICs on SR-IOV VFs (`vnic plug --vf PF:N`): the VF is the VM's
//! device (passed through to it), so there is no tap and no bridge. The
//! PF carries the VF's side of the plug: the vNIC's MAC, the network's
//! VLAN (0 for an untagged network: the PF tags on the VF's behalf, which
//! is why the VF bypasses the network's bridge on both switch types),
//! spoof checking on unless the vNIC allows spoofing (`macSpoof: true`),
//! trust off and the link following the uplink. All of it is set by
//! netlink on the PF and read back from the PF's VF info; a PF that
//! reports something else fails the plug (29) and the VF is put back.
//!
//! The record is `<state-dir>/vnics/PF:N` (a name no network device can
//! have), with the PF's netdev name even when the plug named it by PCI
//! address, so a VF is one vNIC however it is named. The plug goes
//! through the same intent file as a device's (vnic/intent.rs): a plug
//! killed midway resets the VF at the next verb. An unplug resets it
//! (no MAC, VLAN 0, spoof checking on, untrusted, link auto).

use netswitch_model::config::{Config, NetAttrs};
use netswitch_model::Code;
use netswitch_sriov::{LinkState, VfSettings};
use tracing::info;

use super::{backend, refuse, Plugged, Target, Vnic};
use crate::sriov::{resolve_vf, vf_netdev_users, VfRef};
use crate::EngineError;

/// `Plugged::switch` of a vNIC on a VF.
pub(super) const SWITCH: &str = "sriov";

/// Whether `name` is a VF's record name, `PF:N` with a netdev PF.
pub(super) fn is_key(name: &str) -> bool {
    name.rsplit_once(':').is_some_and(|(pf, n)| {
        super::valid_ifname(pf)
            && (1..=5).contains(&n.len())
            && n.bytes().all(|b| b.is_ascii_digit())
    })
}

/// The attributes a VF vNIC cannot have (the VF is the device, the VM
/// sets its MTU, there is no port to mirror to): 21 naming the first.
fn check_vf_shape(v: &Vnic) -> Result<VfRef, EngineError> {
    let name = v.name();
    let extra = [
        ("device", !v.device.is_empty()),
        ("port", v.port.is_some()),
        ("mtu", v.mtu.is_some()),
        ("ifaceId", v.iface_id.is_some()),
        ("portMirroring", !v.port_mirroring.is_empty()),
    ];
    if let Some((attr, _)) = extra.iter().find(|(_, given)| *given) {
        return Err(refuse(
            Code::BadParams,
            name,
            attr,
            "not for a vNIC on a VF (the VF is the VM's device)",
        ));
    }
    if v.network.is_empty() {
        return Err(refuse(Code::BadParams, name, "network", "missing"));
    }
    name.parse::<VfRef>()
        .map_err(|e| refuse(Code::BadParams, name, "vf", e))
}

/// The network the VF joins: 27 when there is none, 21 when it has no
/// nic or bond (a VF reaches only the wire of its PF, and a network
/// without a southbound has no wire).
fn network_of<'a>(v: &Vnic, running: &'a Config) -> Result<&'a NetAttrs, EngineError> {
    let Some(net) = running.networks.get(&v.network) else {
        let net = netswitch_model::error::clip(&v.network, 40);
        return Err(refuse(
            Code::BadBridge,
            v.name(),
            "network",
            format!("no network {net:?}"),
        ));
    };
    if net.base().is_none() {
        return Err(refuse(
            Code::BadParams,
            v.name(),
            "network",
            format!("{} has no nic or bond: no wire for a VF", v.network),
        ));
    }
    Ok(net)
}

/// What the PF is told for the vNIC.
fn settings(v: &Vnic, vlan: u16) -> VfSettings {
    VfSettings {
        mac: Some(v.mac.to_ascii_lowercase()),
        vlan: Some(vlan),
        spoofchk: Some(v.mac_spoof != Some(true)),
        trust: Some(false),
        link_state: Some(LinkState::Auto),
    }
}

/// Whether the PF's report `back` carries `want` (a setting it does not
/// report is taken as set; VLAN 0 may read as none).
fn carries(back: &VfSettings, want: &VfSettings) -> bool {
    let mac = back.mac.as_deref().is_none_or(|m| {
        want.mac
            .as_deref()
            .is_some_and(|w| m.eq_ignore_ascii_case(w))
    });
    let vlan = back.vlan.unwrap_or(0) == want.vlan.unwrap_or(0);
    let spoof = back.spoofchk.is_none() || back.spoofchk == want.spoofchk;
    mac && vlan && spoof
}

impl crate::Engine {
    /// Plugs a vNIC on a VF (see the module doc). Refused, nothing
    /// changed: 21 for a malformed `vf` or an attribute a VF cannot have,
    /// 27 for no such network, 21 for a network without a nic, 23 for a
    /// PF that is none here, 21 for a VF beyond its count, 24 for a VF
    /// another vNIC is or whose netdev a network, bond or vNIC uses.
    pub(super) fn plug_vf(&self, v: &Vnic) -> Result<Plugged, EngineError> {
        let asked = check_vf_shape(v)?;
        let _lock = self.lock()?;
        let running = self.running()?;
        let net = network_of(v, &running)?;
        let host = self.observe(false)?;
        let at =
            resolve_vf(&host, &asked).map_err(|(code, why)| refuse(code, v.name(), "vf", why))?;
        let key = format!("{}:{}", at.pf, at.vf);
        let vlan = net.vlan.unwrap_or(0);
        let mut vnic = v.clone();
        vnic.vf = Some(key.clone());
        let plugged = Plugged {
            vnic,
            switch: SWITCH.into(),
            bridge: at.pf.clone(),
            tag: net.vlan,
            mtu: 0,
            vf_info: None,
        };
        let mut vnics = self.vnics()?;
        let users = vf_netdev_users(&host, &at, &running, vnics.keys());
        if !users.is_empty() {
            return Err(refuse(
                Code::UsedNic,
                &key,
                "vf",
                format!("its netdev is in use: {}", users.join(", ")),
            ));
        }
        let kept = vnics.remove(&key);
        if let Some(k) = kept.as_ref().filter(|k| k.vnic != plugged.vnic) {
            return Err(refuse(
                Code::UsedNic,
                &key,
                "vf",
                format!(
                    "already VM {}'s vNIC on network {}; unplug it first",
                    k.vnic.vm_id, k.vnic.network
                ),
            ));
        }
        let want = settings(&plugged.vnic, vlan);
        self.record_vf(&plugged, kept.is_none())?;
        crate::journal::crash_point("vnic-recorded");
        let back = match self.apply_vf(&at, &want) {
            Ok(back) => back,
            Err(e) => {
                if kept.is_none() {
                    self.drop_vf_record(&plugged);
                }
                return Err(e);
            }
        };
        crate::journal::crash_point("vnic-joined");
        if kept.is_none() {
            self.clear_intent(&key)?;
        }
        info!(vf = %key, network = %v.network, vlan, "vNIC on a VF plugged");
        Ok(Plugged {
            vf_info: Some(back),
            ..plugged
        })
    }

    /// Writes the record (and, for a new plug, its intent first).
    fn record_vf(&self, p: &Plugged, new: bool) -> Result<(), EngineError> {
        let bytes =
            serde_json::to_vec_pretty(p).map_err(|e| backend(format!("vnic {}: {e}", p.key())))?;
        let dir = self
            .vnics_dir(true)?
            .ok_or_else(|| backend(format!("vnic {}: no state directory", p.key())))?;
        if new {
            self.write_intent(p, &bytes)?;
        }
        dir.replace(p.key(), &bytes)?;
        Ok(())
    }

    /// Undoes a new plug that failed: the VF reset, record and intent
    /// gone. Best effort: what is left is the intent's to undo later.
    fn drop_vf_record(&self, p: &Plugged) {
        if self.reset_vf_of(p).is_err() {
            return;
        }
        if let Ok(Some(dir)) = self.vnics_dir(false) {
            let _ = dir.remove_file(p.key());
        }
        let _ = self.clear_intent(p.key());
    }

    /// Sets the VF and checks what the PF reports back (29 when it does
    /// not carry the settings).
    fn apply_vf(&self, at: &VfRef, want: &VfSettings) -> Result<VfSettings, EngineError> {
        let back = self.set_vf(at, want)?;
        if !carries(&back, want) {
            return Err(backend(format!(
                "vnic {}:{}: vf: the PF reports {back:?} after setting {want:?}",
                at.pf, at.vf
            )));
        }
        Ok(back)
    }

    /// Puts the VF of a VF vNIC back ([`VfSettings::reset`]).
    pub(super) fn reset_vf_of(&self, p: &Plugged) -> Result<(), EngineError> {
        let at = p
            .key()
            .parse::<VfRef>()
            .map_err(|e| backend(format!("vnic {}: {e}", p.key())))?;
        self.reset_vf(&at).map(|_| ())
    }

    /// Unplugs a VF vNIC (the caller holds the lock): the VF is reset,
    /// then the record goes. A PF that has gone (or lost the VF) has
    /// nothing to reset: the record goes all the same.
    pub(super) fn unplug_vf_locked(&self, p: Plugged) -> Result<Plugged, EngineError> {
        if let Err(e) = self.reset_vf_of(&p) {
            let gone = matches!(e.code(), 21 | 23);
            if !gone {
                return Err(e);
            }
            tracing::warn!(vf = %p.key(), error = %e, "VF not there to reset");
        }
        if let Some(dir) = self.vnics_dir(false)? {
            dir.remove_file(p.key())?;
            dir.sync()?;
        }
        info!(vf = %p.key(), "vNIC on a VF unplugged");
        Ok(p)
    }

    /// `PCI:N` names a VF by its PF's PCI address: the record has the
    /// PF's netdev name, so an unplug by address looks that up.
    pub(super) fn canonical_target(&self, which: &Target) -> Target {
        let Target::Device(d) = which else {
            return which.clone();
        };
        let Ok(at) = d.parse::<VfRef>() else {
            return which.clone();
        };
        if is_key(d) {
            return which.clone();
        }
        match self.observe(false).map(|h| resolve_vf(&h, &at)) {
            Ok(Ok(at)) => Target::Device(format!("{}:{}", at.pf, at.vf)),
            _ => which.clone(),
        }
    }

    /// After a setup: a VF vNIC whose network's VLAN changed gets the new
    /// one on its VF (and in its record). Whether it changed.
    pub(super) fn replug_vf(&self, p: &Plugged, running: &Config) -> Result<bool, EngineError> {
        let Some(net) = running.networks.get(&p.vnic.network) else {
            return Err(backend(format!(
                "network {} takes no vNICs any more",
                p.vnic.network
            )));
        };
        if net.vlan == p.tag {
            return Ok(false);
        }
        let at = p
            .key()
            .parse::<VfRef>()
            .map_err(|e| backend(format!("vnic {}: {e}", p.key())))?;
        let new = Plugged {
            tag: net.vlan,
            ..p.clone()
        };
        self.record_vf(&new, false)?;
        self.apply_vf(&at, &settings(&new.vnic, net.vlan.unwrap_or(0)))?;
        info!(vf = %p.key(), vlan = net.vlan.unwrap_or(0), "VF vNIC retagged");
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vnic(json: serde_json::Value) -> Vnic {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn vf_keys_are_told_from_devices() {
        assert!(is_key("eth1:0"));
        assert!(is_key("eni1np0:12"));
        for bad in ["eth1", "eth1:", ":1", "eth1:x", "0000:03:00.0:1", "a/b:1"] {
            assert!(!is_key(bad), "{bad}");
        }
    }

    #[test]
    fn a_vf_vnic_takes_no_device_port_mtu_or_mirror() {
        let base = serde_json::json!({"vmId": "vm", "mac": "52:54:00:00:00:01",
                                      "network": "net", "vf": "eth1:1"});
        assert!(check_vf_shape(&vnic(base.clone())).is_ok());
        for (key, value) in [
            ("device", serde_json::json!("tap1")),
            ("port", serde_json::json!("p")),
            ("mtu", serde_json::json!(1500)),
            ("ifaceId", serde_json::json!("i")),
            ("portMirroring", serde_json::json!(["net"])),
            ("vf", serde_json::json!("eth1")),
            ("network", serde_json::json!("")),
        ] {
            let mut v = base.clone();
            v[key] = value;
            let e = check_vf_shape(&vnic(v)).unwrap_err();
            assert_eq!(e.code(), 21, "{key}: {e}");
            assert!(e.to_string().contains(&format!(": {key}")), "{e}");
        }
    }

    #[test]
    fn spoof_checking_follows_mac_spoof_and_readback_is_compared() {
        let mut v = vnic(serde_json::json!({"vmId": "vm", "mac": "52:54:00:AA:00:01",
                                            "network": "net", "vf": "eth1:1"}));
        let s = settings(&v, 100);
        assert_eq!(s.spoofchk, Some(true));
        assert_eq!(s.trust, Some(false));
        assert_eq!(s.mac.as_deref(), Some("52:54:00:aa:00:01"));
        v.mac_spoof = Some(true);
        assert_eq!(settings(&v, 0).spoofchk, Some(false));
        let back = VfSettings {
            vlan: None,
            ..settings(&v, 0)
        };
        assert!(carries(&back, &settings(&v, 0)), "VLAN 0 may read as none");
        assert!(!carries(&back, &settings(&v, 100)));
    }
}
