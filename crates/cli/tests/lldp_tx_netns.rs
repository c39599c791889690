//! LLDP transmission (`netswitch lldp-tx NIC on|off`, `Host.setLldpTx`):
//! the daemon announces the host on the nic `veth_t0`, and a real lldpd at
//! the other end of the cable (a veth into a "switch" namespace) learns
//! the host's name, the nic, and the nic's tagged networks as VLAN names.
//!
//! The networks are written into the running config directly (this
//! machine's kernel has no 8021q to carry a VLAN network): what is
//! announced is read from the running config, as it is after a setup.

mod common;
#[path = "support/daemon.rs"]
mod daemon;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Host;
use daemon::Daemon;
use netswitch_engine::{Store, Which};
use netswitch_testkit::Netns;
use serde_json::Value;

/// Generous: the machine is loaded.
const PATIENCE: Duration = Duration::from_secs(60);

/// lldpd on `sw0` with a private control socket; SIGKILLed on drop.
struct Lldpd {
    child: Child,
    dir: tempfile::TempDir,
}

impl Lldpd {
    fn start(ns: &Netns) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", ns.name(), "lldpd", "-d", "-I", "sw0", "-u"])
            .arg(dir.path().join("ctl.sock"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("lldpd (Debian package lldpd) must be installed");
        Lldpd { child, dir }
    }

    /// `lldpcli -f json show neighbors details`, as text.
    fn neighbors(&self, ns: &Netns) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", ns.name(), "lldpcli", "-u"])
            .arg(self.dir.path().join("ctl.sock"))
            .args(["-f", "json", "show", "neighbors", "details"])
            .output()
            .expect("lldpcli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Lldpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn lldpd_learns_the_hosts_name_and_the_nics_networks_as_vlan_names() {
    let host = Host::new();
    let switch = Netns::new();
    host.ns.ip(&[
        "link",
        "add",
        "veth_t0",
        "type",
        "veth",
        "peer",
        "name",
        "sw0",
        "netns",
        switch.name(),
    ]);
    host.ns.ip(&["link", "set", "veth_t0", "up"]);
    switch.ip(&["link", "set", "sw0", "up"]);
    let mut config = netswitch_model::Config::default();
    for (name, nic, vlan, bridged) in [
        ("vmnet100", "veth_t0", 100, true),
        ("store200", "veth_t0", 200, false),
        ("elsewhere", "veth_a0", 300, true),
    ] {
        let attrs = netswitch_model::config::NetAttrs {
            nic: Some(nic.into()),
            vlan: Some(vlan),
            bridged,
            ..Default::default()
        };
        config.networks.insert(name.into(), attrs);
    }
    Store::new(host.state.path().join("lib"))
        .save(Which::Running, &config)
        .expect("running config");

    let lldpd = Lldpd::start(&switch);
    // Listening before the host's first announcement (the next one is
    // 30 s later).
    wait_for("lldpd to answer lldpcli", || {
        lldpd.neighbors(&switch).contains("lldp").then_some(())
    });
    let d = Daemon::start(&host);
    let (code, out, err) = d.via(&host, &["lldp-tx", "veth_t0", "on"], None);
    assert_eq!(code, 0, "{out}{err}");
    let kept = std::fs::read(host.state.path().join("lib/persistent/devices/veth_t0")).unwrap();
    let kept: Value = serde_json::from_slice(&kept).unwrap();
    assert_eq!(kept, serde_json::json!({"lldp": {"tx": true}}));

    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let hostname = hostname.trim();
    let seen = wait_for("lldpd to see the host", || {
        let text = lldpd.neighbors(&switch);
        text.contains("vmnet100").then_some(text)
    });
    let v: Value = serde_json::from_str(&seen).expect("lldpcli JSON");
    let flat = v.to_string();
    for want in [
        hostname, "veth_t0", "vmnet100", "store200", "\"100\"", "\"200\"",
    ] {
        assert!(
            flat.contains(want),
            "{want} not in lldpd's neighbor: {seen}"
        );
    }
    assert!(!flat.contains("elsewhere"), "another nic's network: {seen}");

    // Refused: not a nic (23), a bad value (21); nothing changed.
    let (code, _, err) = d.via(&host, &["lldp-tx", "nosuch0", "on"], None);
    assert_eq!(code, 23, "{err}");
    assert!(err.contains("nosuch0"), "{err}");
    let (code, _, _) = d.via(&host, &["lldp-tx", "veth_t0", "maybe"], None);
    assert_eq!(code, 21);

    let (code, out, err) = d.via(&host, &["lldp-tx", "veth_t0", "off"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!host
        .state
        .path()
        .join("lib/persistent/devices/veth_t0")
        .exists());
}
