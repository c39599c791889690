//! SR-IOV as sysfs shows it, read (and `sriov_numvfs` written) under a
//! root path: `/sys` on a host, a fake tree in tests.
//!
//! A PF's device directory has `sriov_numvfs` (the VFs it has now),
//! `sriov_totalvfs` (the most it can have) and `virtfnN` links to its VFs'
//! devices; a VF's has `physfn`, a link to its PF's. netdevsim (the lab's
//! stand-in for an SR-IOV nic) has `sriov_numvfs` but no `sriov_totalvfs`:
//! its limit is `max_vfs` in debugfs, read when debugfs is mounted.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::{Parent, SriovError};

/// A PF's VF counts, as caps reports them under `nics[x].sriov`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SriovInfo {
    /// The most VFs the device can have; absent when the device does not
    /// say (netdevsim without debugfs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub totalvfs: Option<u32>,
    /// The VFs it has now.
    pub numvfs: u32,
}

/// What a numvfs change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Numvfs {
    /// The count before.
    pub from: u32,
    /// The count after.
    pub to: u32,
    /// Whether it went through 0 (drivers refuse a change between two
    /// non-zero counts).
    pub via_zero: bool,
}

/// sysfs under a root path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sysfs {
    root: PathBuf,
}

impl Default for Sysfs {
    fn default() -> Self {
        Self::new("/sys")
    }
}

impl Sysfs {
    /// sysfs mounted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root path.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The device directory of `nic`: `bus/<bus>/devices/<name>` of its
    /// parent when known, else `class/net/<nic>/device`; `None` for a
    /// virtual link.
    pub fn device_dir(&self, nic: &str, parent: Option<&Parent>) -> Option<PathBuf> {
        let dir = match parent {
            Some(p) => self
                .root
                .join("bus")
                .join(&p.bus)
                .join("devices")
                .join(&p.name),
            None => self.root.join("class/net").join(nic).join("device"),
        };
        dir.is_dir().then_some(dir)
    }

    /// The device directory of the PCI device `addr`.
    pub fn pci_dir(&self, addr: &str) -> Option<PathBuf> {
        let dir = self.root.join("bus/pci/devices").join(addr);
        dir.is_dir().then_some(dir)
    }

    /// The VF counts of the device at `dev`; `None` when it has no SR-IOV.
    pub fn info(&self, dev: &Path) -> Option<SriovInfo> {
        let numvfs = read_u32(&dev.join("sriov_numvfs"))?;
        let totalvfs = read_u32(&dev.join("sriov_totalvfs")).or_else(|| self.netdevsim_max(dev));
        Some(SriovInfo { totalvfs, numvfs })
    }

    /// netdevsim's limit, from debugfs (`netdevsim/netdevsimN/max_vfs`).
    fn netdevsim_max(&self, dev: &Path) -> Option<u32> {
        let name = dev.file_name()?.to_str()?;
        if !name.starts_with("netdevsim") {
            return None;
        }
        read_u32(
            &self
                .root
                .join("kernel/debug/netdevsim")
                .join(name)
                .join("max_vfs"),
        )
    }

    /// The PCI address of the device at `dev`, when it is a PCI device.
    pub fn pci_address(&self, dev: &Path) -> Option<String> {
        let subsystem = fs::read_link(dev.join("subsystem")).ok()?;
        if subsystem.file_name()? != "pci" {
            return None;
        }
        let real = fs::canonicalize(dev).ok()?;
        Some(real.file_name()?.to_str()?.to_string())
    }

    /// The PCI address of the PF of the VF at `dev`; `None` for a device
    /// that is no VF.
    pub fn physfn(&self, dev: &Path) -> Option<String> {
        let target = fs::read_link(dev.join("physfn")).ok()?;
        Some(target.file_name()?.to_str()?.to_string())
    }

    /// The PCI addresses of the VFs of the PF at `dev`, by VF number.
    pub fn vfs(&self, dev: &Path) -> Vec<String> {
        let Ok(entries) = fs::read_dir(dev) else {
            return Vec::new();
        };
        let mut vfs: Vec<(u32, String)> = entries
            .flatten()
            .filter_map(|e| {
                let n = e
                    .file_name()
                    .to_str()?
                    .strip_prefix("virtfn")?
                    .parse()
                    .ok()?;
                let target = fs::read_link(e.path()).ok()?;
                Some((n, target.file_name()?.to_str()?.to_string()))
            })
            .collect();
        vfs.sort();
        vfs.into_iter().map(|(_, a)| a).collect()
    }

    /// The netdevs of the device at `dev` (`net/*`), as the reader's
    /// network namespace sees them.
    pub fn netdevs(&self, dev: &Path) -> Vec<String> {
        let Ok(entries) = fs::read_dir(dev.join("net")) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        names
    }

    /// Sets the VF count of the PF at `dev` to `to`, through 0 when both
    /// the old and the new count are non-zero (drivers answer EBUSY to a
    /// direct change). When the new count fails after going through 0, the
    /// old count is put back (best effort) and the failure returned.
    pub fn set_numvfs(&self, dev: &Path, to: u32) -> Result<Numvfs, SriovError> {
        let path = dev.join("sriov_numvfs");
        let from = read_u32(&path).ok_or_else(|| SriovError::Io {
            path: path.clone(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        })?;
        let mut done = Numvfs {
            from,
            to,
            via_zero: false,
        };
        if from == to {
            return Ok(done);
        }
        if from != 0 && to != 0 {
            write_u32(&path, 0)?;
            done.via_zero = true;
        }
        if let Err(e) = write_u32(&path, to) {
            if done.via_zero {
                if let Err(back) = write_u32(&path, from) {
                    tracing::warn!(path = %path.display(), from, "could not put the old VF count back: {back}");
                }
            }
            return Err(e);
        }
        tracing::info!(path = %path.display(), from, to, via_zero = done.via_zero, "VF count changed");
        Ok(done)
    }
}

fn read_u32(path: &Path) -> Option<u32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn write_u32(path: &Path, n: u32) -> Result<(), SriovError> {
    fs::write(path, n.to_string()).map_err(|source| SriovError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A fake sysfs: a PF 0000:03:00.0 (eth1, 8 VFs total, 2 now) with two
    /// VFs that are netdevs, a PCI nic without SR-IOV (eth2), a netdevsim
    /// device with debugfs' max_vfs.
    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let pci = r.join("bus/pci/devices");
        let pf = pci.join("0000:03:00.0");
        fs::create_dir_all(pf.join("net/eth1")).unwrap();
        fs::write(pf.join("sriov_totalvfs"), "8\n").unwrap();
        fs::write(pf.join("sriov_numvfs"), "2\n").unwrap();
        for (n, addr) in ["0000:03:02.0", "0000:03:02.1"].iter().enumerate() {
            let vf = pci.join(addr);
            fs::create_dir_all(vf.join(format!("net/eth1v{n}"))).unwrap();
            symlink("../0000:03:00.0", vf.join("physfn")).unwrap();
            symlink(format!("../{addr}"), pf.join(format!("virtfn{n}"))).unwrap();
            symlink(r.join("bus/pci"), vf.join("subsystem")).unwrap();
        }
        symlink(r.join("bus/pci"), pf.join("subsystem")).unwrap();
        let plain = pci.join("0000:04:00.0");
        fs::create_dir_all(plain.join("net/eth2")).unwrap();
        symlink(r.join("bus/pci"), plain.join("subsystem")).unwrap();
        fs::create_dir_all(r.join("class/net/eth2")).unwrap();
        symlink(&plain, r.join("class/net/eth2/device")).unwrap();
        let nsim = r.join("bus/netdevsim/devices/netdevsim7");
        fs::create_dir_all(&nsim).unwrap();
        fs::write(nsim.join("sriov_numvfs"), "0\n").unwrap();
        let dbg = r.join("kernel/debug/netdevsim/netdevsim7");
        fs::create_dir_all(&dbg).unwrap();
        fs::write(dbg.join("max_vfs"), "4\n").unwrap();
        t
    }

    fn pci(addr: &str) -> Parent {
        Parent {
            bus: "pci".into(),
            name: addr.into(),
        }
    }

    #[test]
    fn a_pf_reports_its_counts_vfs_and_address() {
        let t = tree();
        let s = Sysfs::new(t.path());
        let pf = s.device_dir("eth1", Some(&pci("0000:03:00.0"))).unwrap();
        assert_eq!(
            s.info(&pf),
            Some(SriovInfo {
                totalvfs: Some(8),
                numvfs: 2
            })
        );
        assert_eq!(s.pci_address(&pf).as_deref(), Some("0000:03:00.0"));
        assert_eq!(s.vfs(&pf), ["0000:03:02.0", "0000:03:02.1"]);
        assert_eq!(s.physfn(&pf), None, "a PF is no VF");
        assert_eq!(s.netdevs(&pf), ["eth1"]);
    }

    #[test]
    fn a_vf_names_its_pf_and_is_a_netdev() {
        let t = tree();
        let s = Sysfs::new(t.path());
        let vf = s.pci_dir("0000:03:02.1").unwrap();
        assert_eq!(s.physfn(&vf).as_deref(), Some("0000:03:00.0"));
        assert_eq!(s.netdevs(&vf), ["eth1v1"]);
        assert_eq!(s.info(&vf), None, "a VF has no VFs");
    }

    #[test]
    fn a_nic_without_sriov_has_no_info_and_is_found_by_class_net() {
        let t = tree();
        let s = Sysfs::new(t.path());
        let dev = s.device_dir("eth2", None).unwrap();
        assert_eq!(s.info(&dev), None);
        assert_eq!(s.pci_address(&dev).as_deref(), Some("0000:04:00.0"));
        assert!(s.device_dir("br0", None).is_none(), "a virtual link");
    }

    #[test]
    fn netdevsim_takes_its_total_from_debugfs() {
        let t = tree();
        let s = Sysfs::new(t.path());
        let p = Parent {
            bus: "netdevsim".into(),
            name: "netdevsim7".into(),
        };
        let dev = s.device_dir("eth0", Some(&p)).unwrap();
        assert_eq!(
            s.info(&dev),
            Some(SriovInfo {
                totalvfs: Some(4),
                numvfs: 0
            })
        );
        assert_eq!(s.pci_address(&dev), None, "not on the PCI bus");
    }

    #[test]
    fn a_change_between_two_nonzero_counts_goes_through_zero() {
        let t = tree();
        let s = Sysfs::new(t.path());
        let pf = s.pci_dir("0000:03:00.0").unwrap();
        let done = s.set_numvfs(&pf, 4).unwrap();
        assert_eq!((done.from, done.to, done.via_zero), (2, 4, true));
        assert_eq!(s.info(&pf).unwrap().numvfs, 4);
        let done = s.set_numvfs(&pf, 0).unwrap();
        assert!(!done.via_zero);
        let same = s.set_numvfs(&pf, 0).unwrap();
        assert_eq!((same.from, same.to, same.via_zero), (0, 0, false));
        let eth2 = s.pci_dir("0000:04:00.0").unwrap();
        assert!(s.set_numvfs(&eth2, 1).is_err(), "no sriov_numvfs");
    }
}
