//! vNICs that survive: two "VM" namespaces behind veths plugged into a
//! legacy network keep pinging each other after the network moves to OVS
//! (the Linux bridge goes, an OVS bridge comes), is retagged there, and
//! is restored to its persistent (legacy) self; `vnic list` and caps keep them. A plug killed after the
//! device joined the bridge leaves nothing once the next verb has run. A
//! vNIC plugged with `--mac-spoof false` gets nowhere once its VM changes
//! its MAC.

mod common;

use common::{reaches, Host};
use netswitch_testkit::{Netns, Ovs};
use serde_json::{json, Value};

fn no_check(networks: Value) -> Value {
    json!({"networks": networks, "options": {"connectivityCheck": false}})
}

/// The plugged vNICs as `vnic list` gives them, without where they went
/// (which a switch change moves).
fn who(h: &Host) -> Value {
    let (code, out, err) = h.netswitch(&["--json", "vnic", "list"], None);
    assert_eq!(code, 0, "{err}");
    let all: Value = serde_json::from_str(&out).expect("json");
    let mut who = serde_json::Map::new();
    for (dev, p) in all["vnics"].as_object().expect("vnics") {
        who.insert(dev.clone(), p["vnic"].clone());
    }
    Value::Object(who)
}

fn caps_vnics(h: &Host) -> Value {
    let mut v = h.caps()["vnics"].clone();
    for (_, r) in v.as_object_mut().expect("vnics").iter_mut() {
        r.as_object_mut().expect("vnic").remove("switch");
    }
    v
}

#[test]
fn a_switch_change_there_and_back_keeps_the_vnics_plugged() {
    let mut h = Host::new();
    let ovs = Ovs::start(&h.ns);
    h.use_ovs(&ovs);
    h.setup(no_check(json!({"vmnet": {"nic": "veth_a0"}})));
    let (code, _, err) = h.netswitch(&["commit"], None);
    assert_eq!(code, 0, "{err}");
    let vm1 = h.vm("tap1", None, "198.51.100.1");
    let _vm2 = h.vm("tap2", None, "198.51.100.2");
    for (tap, id, mac) in [
        ("tap1", "vm-1", "52:54:00:00:00:01"),
        ("tap2", "vm-2", "52:54:00:00:00:02"),
    ] {
        let (code, _, err) = h.plug_vnic(id, mac, "vmnet", &[tap]);
        assert_eq!(code, 0, "{err}");
    }
    assert!(reaches(&vm1, "198.51.100.2", 30), "before");
    let before = who(&h);
    let caps_before = caps_vnics(&h);

    // Legacy -> OVS: the Linux bridge vmnet is deleted (releasing the
    // taps), an OVS bridge carries the network now.
    h.setup(no_check(
        json!({"vmnet": {"nic": "veth_a0", "switch": "ovs", "vlan": 7}}),
    ));
    let br = ovs.vsctl(&["port-to-br", "vmnet"]);
    for tap in ["tap1", "tap2"] {
        assert_eq!(
            ovs.vsctl(&["port-to-br", tap]),
            br,
            "{tap} on the OVS bridge"
        );
        assert_eq!(ovs.vsctl(&["get", "Port", tap, "tag"]), "7", "{tap} tagged");
    }
    assert!(reaches(&vm1, "198.51.100.2", 30), "after the move to OVS");
    assert_eq!(who(&h), before);
    assert_eq!(caps_vnics(&h), caps_before);
    assert_eq!(h.caps()["vnics"]["tap1"]["switch"], "ovs");

    // A retag on OVS: the ports follow the network's new VLAN.
    h.setup(no_check(
        json!({"vmnet": {"nic": "veth_a0", "switch": "ovs", "vlan": 8}}),
    ));
    for tap in ["tap1", "tap2"] {
        assert_eq!(
            ovs.vsctl(&["get", "Port", tap, "tag"]),
            "8",
            "{tap} retagged"
        );
    }
    assert!(reaches(&vm1, "198.51.100.2", 30), "after the retag");

    // OVS -> legacy by `restore --force` (the persistent config is the
    // legacy one): the OVS bridge goes, the Linux bridge comes back.
    let (code, _, err) = h.netswitch(&["restore", "--force"], None);
    assert_eq!(code, 0, "{err}");
    for tap in ["tap1", "tap2"] {
        assert_eq!(h.link(tap).expect(tap)["master"], "vmnet", "{tap}");
    }
    assert!(reaches(&vm1, "198.51.100.2", 30), "after the move back");
    assert_eq!(who(&h), before);
    assert_eq!(caps_vnics(&h), caps_before);
    assert_eq!(h.caps()["vnics"]["tap1"]["switch"], "legacy");
}

#[test]
fn a_plug_killed_midway_is_undone_by_the_next_verb() {
    let mut h = Host::new();
    h.setup(no_check(json!({"vmnet": {"nic": "veth_a0"}})));
    let _vm1 = h.vm("tap1", None, "198.51.100.1");
    let plug = [
        "vnic",
        "plug",
        "--vm",
        "vm-1",
        "--mac",
        "52:54:00:00:00:01",
        "--network",
        "vmnet",
        "tap1",
    ];
    // Killed (SIGKILL) after the device joined the bridge, before the
    // plug was complete.
    h.env
        .push(("NETSWITCH_TEST_CRASH_AT".into(), "vnic-joined".into()));
    let (code, _, err) = h.netswitch(&plug, None);
    h.env.pop();
    assert_eq!(code, -1, "killed by a signal: {err}");
    assert_eq!(
        h.link("tap1").expect("tap1")["master"],
        "vmnet",
        "the half-made port"
    );
    // The listing has no half plug; the next verb (caps here) undoes it.
    assert_eq!(who(&h), json!({}));
    let caps = h.caps();
    assert_eq!(caps["vnics"], json!({}), "{}", caps["vnics"]);
    assert!(
        h.link("tap1").expect("tap1")["master"].is_null(),
        "the port is gone"
    );
    let lib = h.state.path().join("lib");
    assert!(!lib.join("vnics/tap1").exists(), "no record");
    let left: Vec<_> = std::fs::read_dir(lib.join("vnic-plugging"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "no intent left: {left:?}");
    // A plug now is a whole one.
    let (code, _, err) = h.netswitch(&plug, None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(who(&h)["tap1"]["vmId"], "vm-1");
    assert!(!lib.join("vnic-plugging/tap1").exists());
}

/// A setup killed after it rebuilt the bridge under a vNIC: the next
/// verb's recovery rolls it back (killed before the save) or finishes it
/// (killed after), and puts the vNIC back on whichever bridge the network
/// then has.
#[test]
fn a_setup_killed_after_a_rebuild_leaves_the_vnic_plugged() {
    let mut h = Host::new();
    let ovs = Ovs::start(&h.ns);
    h.use_ovs(&ovs);
    h.setup(no_check(json!({"vmnet": {"nic": "veth_a0"}})));
    let _vm1 = h.vm("tap1", None, "198.51.100.1");
    let (code, _, err) = h.plug_vnic("vm-1", "52:54:00:00:00:01", "vmnet", &["tap1"]);
    assert_eq!(code, 0, "{err}");
    let to_ovs = no_check(json!({"vmnet": {"nic": "veth_a0", "switch": "ovs"}}));
    let killed_at = |h: &mut Host, point: &str| {
        h.env.push(("NETSWITCH_TEST_CRASH_AT".into(), point.into()));
        let (code, _, err) = h.netswitch(&["setup", "-"], Some(&to_ovs));
        h.env.pop();
        assert_eq!(code, -1, "killed at {point}: {err}");
    };

    // Killed before the save: the Linux bridge was deleted with the tap's
    // port; recovery rolls back to it and the tap joins it again.
    killed_at(&mut h, "applied");
    assert!(
        h.link("tap1").expect("tap1")["master"].is_null(),
        "released"
    );
    let caps = h.caps();
    assert_eq!(
        caps["vnics"]["tap1"]["switch"], "legacy",
        "{}",
        caps["vnics"]
    );
    assert_eq!(
        h.link("tap1").expect("tap1")["master"],
        "vmnet",
        "back on the Linux bridge"
    );

    // Killed after the save: recovery finishes the move, and the tap is a
    // port of the network's OVS bridge.
    killed_at(&mut h, "saved-running");
    let caps = h.caps();
    assert_eq!(caps["vnics"]["tap1"]["switch"], "ovs", "{}", caps["vnics"]);
    let br = ovs.vsctl(&["port-to-br", "vmnet"]);
    assert_eq!(ovs.vsctl(&["port-to-br", "tap1"]), br, "on the OVS bridge");
}

/// One quick try: the negative case of the MAC test (a loaded machine can
/// only make it pass spuriously, never fail).
fn reaches_quickly(from: &Netns, ip: &str) -> bool {
    std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            from.name(),
            "ping",
            "-c",
            "2",
            "-i",
            "0.5",
            "-w",
            "3",
            ip,
        ])
        .output()
        .expect("ping")
        .status
        .success()
}

#[test]
fn a_protected_vnic_sends_only_from_its_own_mac() {
    let h = Host::new();
    h.setup(no_check(json!({"vmnet": {"nic": "veth_a0"}})));
    let vm1 = h.vm("tap1", None, "198.51.100.1");
    let _vm2 = h.vm("tap2", None, "198.51.100.2");
    vm1.ip(&["link", "set", "eth0", "address", "52:54:00:00:00:01"]);
    let (code, _, err) = h.plug_vnic(
        "vm-1",
        "52:54:00:00:00:01",
        "vmnet",
        &["--mac-spoof", "false", "tap1"],
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = h.plug_vnic("vm-2", "52:54:00:00:00:02", "vmnet", &["tap2"]);
    assert_eq!(code, 0, "{err}");
    // What an operator sees: the port locked, learning off, one static
    // entry for the vNIC's MAC.
    let port = h.ns.ip(&["-d", "link", "show", "tap1"]);
    assert!(
        port.contains("locked on") && port.contains("learning off"),
        "{port}"
    );
    let fdb = h.ns.exec(&["bridge", "fdb", "show", "dev", "tap1"]);
    assert!(
        fdb.contains("52:54:00:00:00:01 master vmnet static"),
        "{fdb}"
    );
    let free = h.ns.ip(&["-d", "link", "show", "tap2"]);
    assert!(free.contains("locked off"), "tap2 is not protected: {free}");
    assert!(reaches(&vm1, "198.51.100.2", 30), "with its own MAC");

    vm1.ip(&["link", "set", "eth0", "address", "52:54:00:00:00:99"]);
    assert!(
        !reaches_quickly(&vm1, "198.51.100.2"),
        "a spoofed MAC got through"
    );
    vm1.ip(&["link", "set", "eth0", "address", "52:54:00:00:00:01"]);
    assert!(reaches(&vm1, "198.51.100.2", 30), "with its own MAC again");

    // Unplugged, the port's lock goes with its membership.
    let (code, _, err) = h.netswitch(&["vnic", "unplug", "tap1"], None);
    assert_eq!(code, 0, "{err}");
    let fdb = h.ns.exec(&["bridge", "fdb", "show", "dev", "tap1"]);
    assert!(!fdb.contains("static"), "{fdb}");

    // On OVS the tap's ingress is guarded (enforced on the kernel
    // datapath: lab_vnic_spoof.rs). A kernel without tc's `gact` action
    // (this machine's) cannot: the plug fails whole (29), nothing left.
    let mut o = Host::new();
    let ovs = Ovs::start(&o.ns);
    o.use_ovs(&ovs);
    o.setup(no_check(
        json!({"vmnet": {"nic": "veth_a0", "switch": "ovs"}}),
    ));
    o.ns.ip(&[
        "link", "add", "tap9", "type", "veth", "peer", "name", "tap9p",
    ]);
    let plug9 = [
        "vnic",
        "plug",
        "--vm",
        "vm-9",
        "--mac",
        "52:54:00:00:00:09",
        "--network",
        "vmnet",
        "--mac-spoof",
        "false",
        "tap9",
    ];
    let (code, _, err) = o.netswitch(&plug9, None);
    let ingress = |o: &Host| o.ns.exec(&["tc", "qdisc", "show", "dev", "tap9"]);
    if code == 0 {
        let filters =
            o.ns.exec(&["tc", "filter", "show", "dev", "tap9", "ingress"]);
        assert!(
            filters.contains("pref 40003 u32") && filters.contains("at -8"),
            "{filters}"
        );
        let (code, _, err) = o.netswitch(&["vnic", "unplug", "tap9"], None);
        assert_eq!(code, 0, "{err}");
    } else {
        eprintln!("this kernel cannot drop by tc (no gact): {err}");
        assert_eq!(code, 29, "{err}");
        assert!(err.contains("vnic tap9: macSpoof"), "{err}");
        assert_eq!(who(&o), json!({}));
        let ports = ovs.vsctl(&["list-ports", &ovs.vsctl(&["port-to-br", "vmnet"])]);
        assert!(!ports.contains("tap9"), "{ports}");
    }
    assert!(!ingress(&o).contains("ingress"), "{}", ingress(&o));
    assert!(!o.state.path().join("lib/vnics/tap9").exists());
}
