//! netdevsim devices for the SR-IOV lab tests: a simulated nic whose bus
//! device has `sriov_numvfs` and whose ports take per-VF settings.
//!
//! Debian's kernel ships no netdevsim; `tests/lab/netdevsim` builds it on
//! the host for the lab kernel and `tests/lab/run` passes its path as
//! `NETSWITCH_LAB_NETDEVSIM`. [`load`] loads it (and `psample`, which it
//! needs) the first time a test asks.

use std::path::PathBuf;
use std::process::Command;

use crate::Netns;

const BUS: &str = "/sys/bus/netdevsim";

/// Loads netdevsim (once) and mounts debugfs (where its `max_vfs` is).
/// Err says why not: no module built, or the kernel refused it.
pub fn load() -> Result<(), String> {
    if !std::path::Path::new("/sys/kernel/debug/netdevsim").exists() {
        // Mounted already or not, the mount is harmless; debugfs shows
        // netdevsim's max_vfs.
        let _ = Command::new("mount")
            .args(["-t", "debugfs", "debugfs", "/sys/kernel/debug"])
            .output();
    }
    if std::path::Path::new(BUS).exists() {
        return Ok(());
    }
    let ko = std::env::var("NETSWITCH_LAB_NETDEVSIM").map_err(|_| {
        "NETSWITCH_LAB_NETDEVSIM is not set (tests/lab/netdevsim did not build netdevsim)"
            .to_string()
    })?;
    // netdevsim's only module dependency on 6.1.
    let m = "psample";
    let out = Command::new("modprobe")
        .args(["-d", "/run/netswitch-kernel", m])
        .output()
        .map_err(|e| format!("modprobe {m}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "modprobe {m}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let out = Command::new("insmod")
        .arg(&ko)
        .output()
        .map_err(|e| format!("insmod {ko}: {e}"))?;
    if !out.status.success() && !std::path::Path::new(BUS).exists() {
        return Err(format!(
            "insmod {ko}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// A netdevsim device, deleted when the value drops.
#[derive(Debug)]
pub struct Netdevsim {
    id: u32,
}

impl Netdevsim {
    /// Makes device `id` with `ports` ports; the ports appear in `ns`
    /// (the writer's namespace). Panics when netdevsim refuses.
    pub fn new(ns: &Netns, id: u32, ports: u32) -> Self {
        ns.run(|| std::fs::write(format!("{BUS}/new_device"), format!("{id} {ports}")))
            .unwrap_or_else(|e| panic!("netdevsim new_device {id} {ports}: {e}"));
        Self { id }
    }

    /// The bus device's sysfs directory (`sriov_numvfs` is there).
    pub fn dir(&self) -> PathBuf {
        PathBuf::from(format!("{BUS}/devices/netdevsim{}", self.id))
    }

    /// The device's ports in `ns`, by name (`ip -d link`'s `parentdev`).
    pub fn ports(&self, ns: &Netns) -> Vec<String> {
        let me = format!("netdevsim{}", self.id);
        let links = ns.ip_json(&["-d", "link", "show"]);
        let mut names: Vec<String> = links
            .as_array()
            .into_iter()
            .flatten()
            .filter(|l| l["parentdev"].as_str() == Some(me.as_str()))
            .filter_map(|l| l["ifname"].as_str().map(str::to_string))
            .collect();
        names.sort();
        names
    }
}

impl Drop for Netdevsim {
    fn drop(&mut self) {
        if let Err(e) = std::fs::write(format!("{BUS}/del_device"), self.id.to_string()) {
            eprintln!("testkit: cannot delete netdevsim{}: {e}", self.id);
        }
    }
}
