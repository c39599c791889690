//! SR-IOV on the engine's side: `Host.hostdevChangeNumvfs`, the VF counts
//! in caps, and their restore at boot.
//!
//! A count is a device setting, not part of a transaction: it is written
//! to sysfs at once (VFs come and go with it), then kept as
//! `devices/<nic>` `{"sriov": {"numvfs": N}}` in the running and the
//! persistent config (VDSM's file), so `restore` brings it back at boot
//! before any network, since a network may sit on a VF.

use std::collections::BTreeMap;
use std::path::PathBuf;

use netswitch_model::caps::{Caps, SriovReport};
use netswitch_model::host::HostState;
use netswitch_model::{Code, RequestError};
use netswitch_sriov::{Numvfs, Parent, Sysfs, VfSettings};
use serde::Serialize;
use serde_json::json;
use tracing::{info, warn};

use crate::store::Which;
use crate::{EngineError, FailureKind, TransactionError};

/// What a numvfs change did, as the verb answers it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NumvfsChanged {
    /// The PF's netdev (or its PCI address when it has none here).
    pub device: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pci_address: Option<String>,
    #[serde(flatten)]
    pub change: Numvfs,
}

/// A PF found: its name for messages and files, and its device dir.
struct Pf {
    name: String,
    dir: PathBuf,
    pci: Option<String>,
}

fn refuse(code: Code, device: &str, reason: impl Into<String>) -> EngineError {
    let device = netswitch_model::error::clip(device, 40);
    RequestError::request(code, format!("sriov {device}: {}", reason.into())).into()
}

fn backend(reason: String) -> EngineError {
    TransactionError::new(FailureKind::BackendOp, reason).into()
}

/// Every link's parent device, as the host snapshot read it.
fn parents(host: &HostState) -> BTreeMap<String, Parent> {
    host.links
        .values()
        .filter_map(|l| {
            let d = l.parent_device.as_ref()?;
            let parent = Parent {
                bus: d.bus.clone(),
                name: d.name.clone(),
            };
            Some((l.name.clone(), parent))
        })
        .collect()
}

/// Finds the PF `name` (a nic or a PCI address): 23 when there is no
/// such device or it has no SR-IOV.
fn find_pf(
    sysfs: &Sysfs,
    parents: &BTreeMap<String, Parent>,
    name: &str,
) -> Result<Pf, EngineError> {
    find_pf_why(sysfs, parents, name)
        .map_err(|why| refuse(Code::BadNic, name, format!("deviceName: {why}")))
}

/// [`find_pf`], with why not as a plain reason.
fn find_pf_why(
    sysfs: &Sysfs,
    parents: &BTreeMap<String, Parent>,
    name: &str,
) -> Result<Pf, String> {
    let is_pci = |p: &Parent| p.bus == "pci" && p.name == name;
    let (nic, dir) = match parents.iter().find(|(_, p)| is_pci(p)) {
        Some((nic, p)) => (nic.clone(), sysfs.device_dir(nic, Some(p))),
        None if name.contains(':') => (name.to_string(), sysfs.pci_dir(name)),
        // Only through the link's parent: `class/net` is the root
        // namespace's sysfs mount, where the same name may be another nic.
        None => (
            name.to_string(),
            parents
                .get(name)
                .and_then(|p| sysfs.device_dir(name, Some(p))),
        ),
    };
    let Some(dir) = dir else {
        return Err(format!(
            "no nic or PCI device {name} has a device (a virtual link, or none)"
        ));
    };
    if sysfs.info(&dir).is_none() {
        return Err(format!("{name} has no SR-IOV (no sriov_numvfs)"));
    }
    let pci = sysfs.pci_address(&dir);
    Ok(Pf {
        name: nic,
        dir,
        pci,
    })
}

/// The netdevs of `pf`'s VFs (only VF `only` when given), by the parents
/// map (any namespace) and sysfs (this one).
fn vf_netdevs(
    sysfs: &Sysfs,
    parents: &BTreeMap<String, Parent>,
    pf: &Pf,
    only: Option<u32>,
) -> Vec<String> {
    let mut vfs = sysfs.vfs(&pf.dir);
    if let Some(n) = only {
        vfs = vfs.into_iter().skip(n as usize).take(1).collect();
    }
    let mut out: Vec<String> = parents
        .iter()
        .filter(|(_, p)| p.bus == "pci" && vfs.contains(&p.name))
        .map(|(n, _)| n.clone())
        .collect();
    for vf in &vfs {
        if let Some(dir) = sysfs.pci_dir(vf) {
            out.extend(sysfs.netdevs(&dir));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// What uses one of the VF netdevs `vfs`: a running network's nic, a bond
/// slave, a plugged vNIC's device.
fn vf_users<'a>(
    running: &netswitch_model::config::Config,
    vnic_devices: impl Iterator<Item = &'a String>,
    vfs: &[String],
) -> Vec<String> {
    let mut users = Vec::new();
    for (net, a) in &running.networks {
        if a.nic.as_ref().is_some_and(|n| vfs.contains(n)) {
            users.push(format!("network {net}"));
        }
    }
    for (bond, b) in &running.bonds {
        if b.nics.iter().any(|n| vfs.contains(n)) {
            users.push(format!("bond {bond}"));
        }
    }
    for dev in vnic_devices {
        if vfs.contains(dev) {
            users.push(format!("vNIC {dev}"));
        }
    }
    users
}

impl crate::Engine {
    /// `Host.hostdevChangeNumvfs`: sets the PF's VF count (through 0 when
    /// the driver demands it) and keeps it in both configs. Refused,
    /// nothing changed: 23 for no such device or one without SR-IOV, 21
    /// beyond `totalvfs` or while a network, bond or vNIC uses one of its
    /// VFs.
    pub fn change_numvfs(&self, device: &str, numvfs: u32) -> Result<NumvfsChanged, EngineError> {
        let _span = tracing::info_span!("change_numvfs", device, numvfs).entered();
        let _lock = self.lock()?;
        let sysfs = Sysfs::default();
        let parents = parents(&*self.observe(false)?);
        let pf = find_pf(&sysfs, &parents, device)?;
        let total = sysfs.info(&pf.dir).and_then(|i| i.totalvfs);
        if let Some(t) = total.filter(|t| numvfs > *t) {
            return Err(refuse(
                Code::BadParams,
                &pf.name,
                format!("numvfs: {numvfs} is beyond the device's total of {t}"),
            ));
        }
        self.check_vfs_unused(&sysfs, &parents, &pf)?;
        let change = sysfs
            .set_numvfs(&pf.dir, numvfs)
            .map_err(|e| backend(format!("sriov {}: numvfs {numvfs}: {e}", pf.name)))?;
        self.persist_numvfs(&pf.name, numvfs)?;
        info!(device = %pf.name, from = change.from, to = numvfs, "numvfs changed");
        Ok(NumvfsChanged {
            device: pf.name,
            pci_address: pf.pci,
            change,
        })
    }

    /// Refuses (21) while the running config or a plugged vNIC uses a VF
    /// of `pf`: changing the count takes every VF away.
    fn check_vfs_unused(
        &self,
        sysfs: &Sysfs,
        parents: &BTreeMap<String, Parent>,
        pf: &Pf,
    ) -> Result<(), EngineError> {
        let vfs = vf_netdevs(sysfs, parents, pf, None);
        let vnics = self.vnics()?;
        let mut users = vf_users(&self.running()?, vnics.keys(), &vfs);
        // vNICs that are VFs of this PF (vnic plug --vf): the count change
        // would pull them from under their VMs.
        users.extend(
            vnics
                .values()
                .filter(|p| p.vnic.vf.is_some() && p.bridge == pf.name)
                .map(|p| format!("vNIC {} (VM {})", p.key(), p.vnic.vm_id)),
        );
        if users.is_empty() {
            return Ok(());
        }
        Err(refuse(
            Code::BadParams,
            &pf.name,
            format!("numvfs: its VFs are in use by {}", users.join(", ")),
        ))
    }

    /// Writes `devices/<nic>` `{"sriov": {"numvfs": N}}` into the running
    /// and the persistent config, keeping the file's other keys.
    fn persist_numvfs(&self, nic: &str, numvfs: u32) -> Result<(), EngineError> {
        self.persist_device(nic, "sriov", Some(json!({"numvfs": numvfs})))
    }

    /// Sets the persistent VF counts on the host (restore, before
    /// networks). What cannot be done is returned, not fatal: a PF that is
    /// gone must not keep the networks from coming back.
    pub(crate) fn restore_devices(&self) -> Result<Vec<String>, EngineError> {
        let devices = self.store.load_devices(Which::Persistent)?;
        let wanted: Vec<(String, u32)> = devices
            .iter()
            .filter_map(|(n, v)| {
                let count = v.get("sriov")?.get("numvfs")?.as_u64()?;
                Some((n.clone(), u32::try_from(count).ok()?))
            })
            .collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let sysfs = Sysfs::default();
        let parents = parents(&*self.observe(false)?);
        let mut skipped = Vec::new();
        for (nic, numvfs) in wanted {
            let done = find_pf(&sysfs, &parents, &nic).and_then(|pf| {
                sysfs
                    .set_numvfs(&pf.dir, numvfs)
                    .map_err(|e| backend(e.to_string()))
            });
            if let Err(e) = done {
                let why = format!("device {nic}: numvfs {numvfs} not restored: {e}");
                warn!("{why}");
                skipped.push(why);
            }
        }
        Ok(skipped)
    }

    /// Puts `sriov {totalvfs, numvfs}` on the nics of `caps` that are PFs.
    /// Best effort: an unreadable dump leaves caps without it.
    pub fn sriov_caps(&self, caps: &mut Caps, host: &HostState) {
        let parents = parents(host);
        let sysfs = Sysfs::default();
        for (name, nic) in caps.nics.iter_mut() {
            let Some(dir) = parents
                .get(name)
                .and_then(|p| sysfs.device_dir(name, Some(p)))
            else {
                continue;
            };
            nic.sriov = sysfs.info(&dir).map(|i| SriovReport {
                totalvfs: i.totalvfs,
                numvfs: i.numvfs,
            });
        }
    }
}

/// A VF of a PF, as `vnic plug --vf PF:N` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VfRef {
    pub pf: String,
    pub vf: u32,
}

impl std::str::FromStr for VfRef {
    type Err = String;

    /// `PF:N`; the PF is the part before the last `:` (a PCI address
    /// holds colons too).
    fn from_str(s: &str) -> Result<Self, String> {
        let (pf, n) = s
            .rsplit_once(':')
            .ok_or_else(|| format!("{s:?} is not PF:N"))?;
        let vf = n
            .parse()
            .map_err(|_| format!("{s:?}: {n:?} is not a VF number"))?;
        if pf.is_empty() {
            return Err(format!("{s:?}: no PF"));
        }
        Ok(Self {
            pf: pf.to_string(),
            vf,
        })
    }
}

/// Resolves `at` on this host to the PF's netdev name and checks that
/// the PF has that VF: the code and reason of a refusal otherwise (23
/// for a PF that is not one here, 21 for a VF it does not have).
pub(crate) fn resolve_vf(host: &HostState, at: &VfRef) -> Result<VfRef, (Code, String)> {
    let sysfs = Sysfs::default();
    let parents = parents(host);
    let pf = find_pf_why(&sysfs, &parents, &at.pf).map_err(|why| (Code::BadNic, why))?;
    if pf.name.contains(':') || host.link(&pf.name).is_none() {
        return Err((
            Code::BadNic,
            format!("PF {} has no network device here", at.pf),
        ));
    }
    let have = sysfs.info(&pf.dir).map_or(0, |i| i.numvfs);
    if at.vf >= have {
        return Err((
            Code::BadParams,
            format!("PF {} has {have} VFs (numvfs), no VF {}", pf.name, at.vf),
        ));
    }
    Ok(VfRef {
        pf: pf.name,
        vf: at.vf,
    })
}

/// What uses VF `at`'s own netdev, when the driver made one: a network's
/// nic, a bond slave, a vNIC's device. A VM handed that VF would take the
/// netdev's traffic from under them, so a vNIC on it is refused.
pub(crate) fn vf_netdev_users<'a>(
    host: &HostState,
    at: &VfRef,
    running: &netswitch_model::config::Config,
    vnic_devices: impl Iterator<Item = &'a String>,
) -> Vec<String> {
    one_vf_users(&Sysfs::default(), &parents(host), at, running, vnic_devices)
}

fn one_vf_users<'a>(
    sysfs: &Sysfs,
    parents: &BTreeMap<String, Parent>,
    at: &VfRef,
    running: &netswitch_model::config::Config,
    vnic_devices: impl Iterator<Item = &'a String>,
) -> Vec<String> {
    let Ok(pf) = find_pf_why(sysfs, parents, &at.pf) else {
        return Vec::new();
    };
    let netdevs = vf_netdevs(sysfs, parents, &pf, Some(at.vf));
    if netdevs.is_empty() {
        return Vec::new();
    }
    vf_users(running, vnic_devices, &netdevs)
        .into_iter()
        .map(|u| format!("{u} (on its netdev {})", netdevs.join(", ")))
        .collect()
}

impl crate::Engine {
    /// Sets VF settings (MAC, VLAN, spoofchk, trust, link state) on the PF
    /// by netlink and answers what the PF reports back for that VF. For a
    /// vNIC on a VF: the caller holds the transaction lock (a plug does).
    /// Refused, nothing changed: 23 for a PF that is not one, 21 for a VF
    /// number the PF does not have or a bad MAC, 26 for a VLAN over 4094.
    pub fn set_vf(&self, at: &VfRef, s: &VfSettings) -> Result<VfSettings, EngineError> {
        let sysfs = Sysfs::default();
        let parents = parents(&*self.observe(false)?);
        let pf = find_pf(&sysfs, &parents, &at.pf)?;
        let have = sysfs.info(&pf.dir).map_or(0, |i| i.numvfs);
        let name = format!("{}:{}", pf.name, at.vf);
        if at.vf >= have {
            return Err(refuse(
                Code::BadParams,
                &name,
                format!("vf: the PF has {have} VFs"),
            ));
        }
        if s.vlan.is_some_and(|v| v > 4094) {
            return Err(refuse(Code::BadVlan, &name, "vlan: not in 0..4094"));
        }
        netswitch_sriov::set_vf(&pf.name, at.vf, s).map_err(|e| match e {
            netswitch_sriov::SriovError::Netlink(io)
                if io.kind() == std::io::ErrorKind::InvalidInput =>
            {
                refuse(Code::BadParams, &name, io.to_string())
            }
            e => backend(format!("sriov {name}: {e}")),
        })?;
        let back = netswitch_sriov::vfs_of(&pf.name)
            .map_err(|e| backend(format!("sriov {name}: reading back: {e}")))?;
        info!(vf = %name, "VF settings set");
        Ok(back
            .into_iter()
            .find(|(n, _)| *n == at.vf)
            .map(|(_, v)| v)
            .unwrap_or_default())
    }

    /// Puts a VF back as it was before a vNIC used it
    /// ([`VfSettings::reset`]).
    pub fn reset_vf(&self, at: &VfRef) -> Result<VfSettings, EngineError> {
        self.set_vf(at, &VfSettings::reset())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netswitch_model::config::{Config, NetAttrs};

    #[test]
    fn a_network_bond_or_vnic_on_a_vf_is_a_user() {
        let mut c = Config::default();
        c.networks.insert(
            "vmnet".into(),
            NetAttrs {
                nic: Some("eth1v0".into()),
                ..NetAttrs::default()
            },
        );
        c.networks.insert(
            "other".into(),
            NetAttrs {
                nic: Some("eth2".into()),
                ..NetAttrs::default()
            },
        );
        c.bonds.insert(
            "bond0".into(),
            serde_json::from_value(
                json!({"nics": ["eth1v1"], "options": "mode=1", "switch": "legacy"}),
            )
            .unwrap(),
        );
        let vnics = ["eth1v2".to_string(), "tap0".to_string()];
        let vfs: Vec<String> = ["eth1v0", "eth1v1", "eth1v2"].map(String::from).to_vec();
        assert_eq!(
            vf_users(&c, vnics.iter(), &vfs),
            ["network vmnet", "bond bond0", "vNIC eth1v2"]
        );
        assert!(vf_users(&c, vnics.iter(), &["eth9v0".to_string()]).is_empty());
    }

    /// A fake sysfs: PF 0000:03:00.0 (eth1) whose VF 1 (0000:03:02.1) is
    /// the netdev eth1v1, VF 0 without one (as netdevsim's).
    fn sysfs_tree() -> tempfile::TempDir {
        use std::os::unix::fs::symlink;
        let t = tempfile::tempdir().unwrap();
        let pci = t.path().join("bus/pci/devices");
        let pf = pci.join("0000:03:00.0");
        std::fs::create_dir_all(pf.join("net/eth1")).unwrap();
        std::fs::write(pf.join("sriov_numvfs"), "2\n").unwrap();
        for (n, addr) in ["0000:03:02.0", "0000:03:02.1"].iter().enumerate() {
            std::fs::create_dir_all(pci.join(addr)).unwrap();
            symlink(format!("../{addr}"), pf.join(format!("virtfn{n}"))).unwrap();
        }
        std::fs::create_dir_all(pci.join("0000:03:02.1/net/eth1v1")).unwrap();
        t
    }

    #[test]
    fn a_vf_whose_netdev_carries_a_network_is_used() {
        let t = sysfs_tree();
        let sysfs = Sysfs::new(t.path());
        let parents: BTreeMap<String, Parent> = [(
            "eth1".to_string(),
            Parent {
                bus: "pci".into(),
                name: "0000:03:00.0".into(),
            },
        )]
        .into();
        let mut c = Config::default();
        c.networks.insert(
            "vmnet".into(),
            NetAttrs {
                nic: Some("eth1v1".into()),
                ..NetAttrs::default()
            },
        );
        let vf = |vf| VfRef {
            pf: "eth1".into(),
            vf,
        };
        let none: [String; 0] = [];
        assert_eq!(
            one_vf_users(&sysfs, &parents, &vf(1), &c, none.iter()),
            ["network vmnet (on its netdev eth1v1)"]
        );
        assert!(one_vf_users(&sysfs, &parents, &vf(0), &c, none.iter()).is_empty());
        let tap = ["eth1v1".to_string()];
        assert_eq!(
            one_vf_users(&sysfs, &parents, &vf(1), &Config::default(), tap.iter()),
            ["vNIC eth1v1 (on its netdev eth1v1)"]
        );
    }

    #[test]
    fn a_vf_is_named_pf_colon_number() {
        let r: VfRef = "eth1:3".parse().unwrap();
        assert_eq!((r.pf.as_str(), r.vf), ("eth1", 3));
        let r: VfRef = "0000:03:00.0:1".parse().unwrap();
        assert_eq!((r.pf.as_str(), r.vf), ("0000:03:00.0", 1));
        for bad in ["eth1", ":1", "eth1:x", "eth1:-1"] {
            assert!(bad.parse::<VfRef>().is_err(), "{bad}");
        }
    }
}
