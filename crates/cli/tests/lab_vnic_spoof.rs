//! MAC spoofing protection of a vNIC on OVS's kernel datapath, in the
//! kernel lab (this machine has no `gact` action and its OVS runs the
//! userspace datapath, which reads a tap before its tc ingress): two VMs
//! behind veths on an OVS network, one plugged with `--mac-spoof false`;
//! its frames pass from its own MAC and are dropped from any other, the
//! guard reads back with `tc`, and an unplug takes it off the device.

mod common;

use common::{reaches, Host};
use netswitch_testkit::{Netns, Ovs};

/// One quick try: a loaded lab can only make the negative case pass
/// spuriously, never fail.
fn reaches_quickly(from: &Netns, ip: &str) -> bool {
    std::process::Command::new("ip")
        .args(["netns", "exec", from.name(), "ping", "-c", "2", "-i", "0.5"])
        .args(["-w", "3", ip])
        .output()
        .expect("ping")
        .status
        .success()
}

/// The packets the guard's drop filters on tap1 dropped so far (`tc -s`
/// prints `Sent N bytes M pkt` under each action).
fn dropped(h: &Host) -> u64 {
    let text =
        h.ns.exec(&["tc", "-s", "filter", "show", "dev", "tap1", "ingress"]);
    text.split("action order")
        .filter(|a| a.contains("action drop"))
        .filter_map(|a| {
            let sent = a.split("Sent ").nth(1)?;
            let pkts = sent.split(" bytes ").nth(1)?;
            pkts.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum()
}

fn plug(h: &Host, vm: &str, mac: &str, tap: &str, extra: &[&str]) {
    let (code, out, err) = h.plug_vnic(vm, mac, "vmnet", &[extra, &[tap]].concat());
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn a_protected_ovs_vnic_sends_only_from_its_own_mac() {
    let Some(mut h) = Host::lab() else { return };
    let ovs = Ovs::start(&h.ns);
    h.use_ovs(&ovs);
    h.setup(serde_json::json!({
        "networks": {"vmnet": {"nic": "dummy_1", "switch": "ovs", "vlan": 10}},
        "options": {"connectivityCheck": false},
    }));
    let mac = "52:54:00:00:00:01";
    let vm1 = h.vm("tap1", Some(mac), "198.51.100.1");
    let _vm2 = h.vm("tap2", Some("52:54:00:00:00:02"), "198.51.100.2");
    plug(&h, "vm-1", mac, "tap1", &["--mac-spoof", "false"]);
    plug(&h, "vm-2", "52:54:00:00:00:02", "tap2", &[]);
    let filters =
        h.ns.exec(&["tc", "filter", "show", "dev", "tap1", "ingress"]);
    for want in [
        "pref 40000 u32",
        "pref 40001 u32",
        "pref 40002 u32",
        "pref 40003 u32",
        "match 52540000/ffffffff at -8",
        "match 00010000/ffff0000 at -4",
        "match 52540000/ffffffff at 8",
    ] {
        assert!(filters.contains(want), "{want}: {filters}");
    }
    assert!(reaches(&vm1, "198.51.100.2", 60), "with its own MAC");

    let before = dropped(&h);
    vm1.ip(&["link", "set", "eth0", "address", "52:54:00:00:00:99"]);
    assert!(
        !reaches_quickly(&vm1, "198.51.100.2"),
        "a spoofed MAC got through"
    );
    // Dropped by the guard (not lost to a stale neighbor entry).
    assert!(dropped(&h) > before, "the drop filters saw nothing");
    vm1.ip(&["link", "set", "eth0", "address", mac]);
    assert!(reaches(&vm1, "198.51.100.2", 60), "with its own MAC again");

    let (code, _, err) = h.netswitch(&["vnic", "unplug", "tap1"], None);
    assert_eq!(code, 0, "{err}");
    let qdiscs = h.ns.exec(&["tc", "qdisc", "show", "dev", "tap1"]);
    assert!(!qdiscs.contains("ingress"), "{qdiscs}");
}
