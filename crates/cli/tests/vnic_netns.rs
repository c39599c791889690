//! `netswitch vnic plug|unplug|list` in a scratch namespace: two "VM"
//! namespaces behind veths (the host end stands for a VM's tap) plugged
//! into a legacy bridged network and into an OVS network with a VLAN; what
//! the kernel and OVSDB carry afterwards, the records on disk, the caps,
//! refusals that change nothing, and a daemon restart.

mod common;
#[path = "support/daemon.rs"]
mod daemon;

use common::{reaches, Host};
use daemon::Daemon;
use netswitch_testkit::Ovs;
use serde_json::{json, Value};

fn plug(h: &Host, vm: &str, mac: &str, net: &str, dev: &str) -> (i32, String, String) {
    h.plug_vnic(vm, mac, net, &[dev])
}

fn list(h: &Host) -> Value {
    let (code, out, err) = h.netswitch(&["--json", "vnic", "list"], None);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str::<Value>(&out).unwrap()["vnics"].clone()
}

fn master(h: &Host, dev: &str) -> Value {
    h.link(dev).expect("device")["master"].clone()
}

fn no_check(networks: Value) -> Value {
    json!({"networks": networks, "options": {"connectivityCheck": false}})
}

#[test]
fn two_vms_on_a_legacy_bridged_network() {
    let h = Host::new();
    h.setup(no_check(json!({"vmnet": {"nic": "veth_a0", "mtu": 1400}})));
    let vm1 = h.vm("tap1", None, "198.51.100.1");
    let vm2 = h.vm("tap2", None, "198.51.100.2");

    let (code, out, err) = plug(&h, "vm-1", "52:54:00:00:00:01", "vmnet", "tap1");
    assert_eq!(code, 0, "{err}{out}");
    let (code, _, err) = plug(&h, "vm-2", "52:54:00:00:00:02", "vmnet", "tap2");
    assert_eq!(code, 0, "{err}");
    for tap in ["tap1", "tap2"] {
        let l = h.link(tap).unwrap();
        assert_eq!(l["master"], "vmnet");
        assert_eq!(l["mtu"], 1400, "the network's MTU");
        assert!(l["flags"].as_array().unwrap().contains(&json!("UP")), "{l}");
    }
    assert!(reaches(&vm1, "198.51.100.2", 30), "vm1 cannot ping vm2");

    // Plugging the same vNIC again is one plug.
    let (code, _, err) = plug(&h, "vm-1", "52:54:00:00:00:01", "vmnet", "tap1");
    assert_eq!(code, 0, "{err}");
    let vnics = list(&h);
    assert_eq!(vnics.as_object().unwrap().len(), 2, "{vnics}");
    assert_eq!(vnics["tap1"]["vnic"]["vmId"], "vm-1");
    assert_eq!(vnics["tap1"]["switch"], "legacy");
    let record = h.state.path().join("lib/vnics/tap1");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&record).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    // Later setups (another network; this one's MTU) leave the ports be.
    h.setup(no_check(json!({"other": {"nic": "veth_b0"}})));
    h.setup(no_check(json!({"vmnet": {"nic": "veth_a0", "mtu": 1300}})));
    assert_eq!(master(&h, "tap1"), "vmnet");
    assert!(reaches(&vm2, "198.51.100.1", 30), "after later setups");

    let (code, text, _) = h.netswitch(&["vnic", "list"], None);
    assert_eq!(code, 0);
    assert!(text.contains("tap2") && text.contains("vm-2"), "{text}");

    // Caps report them under `vnics`.
    let caps = h.caps();
    assert_eq!(
        caps["vnics"]["tap2"],
        json!({"vmId": "vm-2", "mac": "52:54:00:00:00:02", "network": "vmnet", "switch": "legacy"})
    );

    // The network cannot go while vNICs are plugged into it.
    let (code, err) = h.setup_code(&no_check(json!({"vmnet": {"remove": true}})), &[]);
    assert_eq!(code, 21, "{err}");
    assert!(
        err.contains("vmnet") && err.contains("tap1") && err.contains("tap2"),
        "{err}"
    );
    assert!(h.link("vmnet").is_some(), "the bridge stays");

    // Unplug: the device leaves the bridge and stays.
    let (code, _, err) = h.netswitch(&["vnic", "unplug", "tap1"], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(master(&h, "tap1"), Value::Null);
    assert!(!record.exists());
    assert!(!reaches(&vm2, "198.51.100.1", 30), "vm2 still reaches vm1");
    let (code, _, _) = h.netswitch(&["vnic", "unplug", "tap1"], None);
    assert_eq!(code, 23, "unplugging what is not plugged");

    let (code, _, err) = h.netswitch(&["vnic", "unplug", "tap2"], None);
    assert_eq!(code, 0, "{err}");
    h.setup(no_check(json!({"vmnet": {"remove": true}})));
    assert!(h.link("tap2").is_some(), "the hypervisor's device stays");
}

#[test]
fn refused_plugs_change_nothing() {
    let h = Host::new();
    h.setup(no_check(json!({
        "vmnet": {"nic": "veth_a0"},
        "bl": {"nic": "veth_b0", "bridged": false},
    })));
    let _vm1 = h.vm("tap1", None, "198.51.100.1");
    let _vm3 = h.vm("tap3", None, "198.51.100.3");
    h.ns.ip(&["link", "add", "other", "type", "bridge"]);
    h.ns.ip(&["link", "set", "tap3", "master", "other"]);
    let (code, _, err) = plug(&h, "vm-1", "52:54:00:00:00:01", "vmnet", "tap1");
    assert_eq!(code, 0, "{err}");
    let before = list(&h);

    let cases: [(&str, &str, &str, &str, i32, &str); 7] = [
        // The network's own nic, already a port of its bridge.
        (
            "vm-9",
            "52:54:00:00:00:09",
            "vmnet",
            "veth_a0",
            24,
            "device",
        ),
        ("vm-9", "52:54:00:00:00:09", "nosuch", "tap9", 27, "network"),
        ("vm-9", "52:54:00:00:00:09", "vmnet", "tap9", 23, "device"),
        ("vm-9", "52:54:00:00:00:09", "bl", "veth_b1", 21, "network"),
        ("vm-3", "52:54:00:00:00:03", "vmnet", "tap3", 24, "device"),
        ("vm-9", "52:54:00:00:0g:09", "vmnet", "veth_b1", 21, "mac"),
        // The same device as another VM's vNIC: a move must be an unplug
        // and a plug.
        ("vm-2", "52:54:00:00:00:02", "vmnet", "tap1", 24, "device"),
    ];
    for (vmid, mac, net, dev, want, attr) in cases {
        let (code, out, _) = plug(&h, vmid, mac, net, dev);
        assert_eq!(code, want, "{vmid} {mac} {net} {dev}: {out}");
        let msg: Value = serde_json::from_str(&out).unwrap();
        let text = msg["status"]["message"].as_str().unwrap();
        assert!(
            text.contains(&format!("vnic {dev}: {attr}")),
            "{dev}: {text}"
        );
    }
    assert_eq!(list(&h), before);
    assert_eq!(master(&h, "tap3"), "other");
    assert_eq!(master(&h, "veth_b1"), Value::Null);
    assert_eq!(master(&h, "tap1"), "vmnet");
    assert_eq!(master(&h, "veth_a0"), "vmnet");

    // A VM that went away without an unplug: its record still unplugs,
    // and then the network can go.
    h.ns.ip(&["link", "del", "tap1"]);
    let (code, err) = h.setup_code(&no_check(json!({"vmnet": {"remove": true}})), &[]);
    assert_eq!(code, 21, "{err}");
    let (code, _, err) = h.netswitch(&["vnic", "unplug", "tap1"], None);
    assert_eq!(code, 0, "{err}");
    h.setup(no_check(json!({"vmnet": {"remove": true}})));
}

#[test]
fn a_daemon_restart_keeps_the_vnics() {
    let h = Host::new();
    h.setup(no_check(json!({"vmnet": {"nic": "veth_a0"}})));
    let _vm1 = h.vm("tap1", None, "198.51.100.1");
    let d = Daemon::start(&h);
    let (code, _, err) = d.via(
        &h,
        &[
            "vnic",
            "plug",
            "--vm",
            "vm-1",
            "--mac",
            "52:54:00:00:00:01",
            "--network",
            "vmnet",
            "tap1",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = d.via(&h, &["--json", "caps"], None);
    assert_eq!(code, 0, "{err}");
    let caps: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(caps["vnics"]["tap1"]["network"], "vmnet");
    drop(d);

    let d = Daemon::start(&h);
    let (code, out, err) = d.via(&h, &["--json", "vnic", "list"], None);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["vnics"]["tap1"]["vnic"]["mac"], "52:54:00:00:00:01",
        "{v}"
    );

    // Over JSON-RPC: a malformed vNIC is 21; unplug by VM and MAC.
    let mut c = netswitch_daemon::Client::connect(&d.socket).unwrap();
    let bad = json!({"vnic": {"vmId": "vm-2", "mac": "52:54:00:00:00:02",
                              "network": "vmnet", "device": "tap1", "color": "red"}});
    match c.call("Host.plugVnic", bad) {
        Err(netswitch_daemon::ClientError::Rpc { code, message }) => {
            assert_eq!(code, 21, "{message}");
        }
        other => panic!("{other:?}"),
    }
    let v = c
        .call(
            "Host.unplugVnic",
            json!({"vmId": "vm-1", "mac": "52:54:00:00:00:01"}),
        )
        .unwrap();
    assert_eq!(v["vnic"]["vnic"]["device"], "tap1");
    assert_eq!(master(&h, "tap1"), Value::Null);
    let v = c.call("Host.listVnics", json!({})).unwrap();
    assert_eq!(v["vnics"], json!({}));
}

#[test]
fn two_vms_on_an_ovs_network_with_a_vlan() {
    let mut h = Host::new();
    let ovs = Ovs::start(&h.ns);
    h.use_ovs(&ovs);
    h.setup(no_check(
        json!({"vmnet": {"nic": "veth_a0", "switch": "ovs", "vlan": 42}}),
    ));
    let vm1 = h.vm("tap1", None, "198.51.100.1");
    let _vm2 = h.vm("tap2", None, "198.51.100.2");
    let (code, out, err) = h.plug_vnic(
        "vm-1",
        "52:54:00:00:00:01",
        "vmnet",
        &["--iface-id", "port-1", "tap1"],
    );
    assert_eq!(code, 0, "{err}{out}");
    let (code, _, err) = plug(&h, "vm-2", "52:54:00:00:00:02", "vmnet", "tap2");
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = plug(&h, "vm-2", "52:54:00:00:00:02", "vmnet", "tap2");
    assert_eq!(code, 0, "plugging twice: {err}");

    let br = ovs.vsctl(&["port-to-br", "vmnet"]);
    assert_eq!(ovs.vsctl(&["port-to-br", "tap1"]), br);
    assert_eq!(ovs.vsctl(&["get", "Port", "tap1", "tag"]), "42");
    let ids = ovs.vsctl(&["get", "Port", "tap1", "external_ids"]);
    for want in [
        "attached-mac=\"52:54:00:00:00:01\"",
        "iface-id=port-1",
        "vm-id=vm-1",
    ] {
        assert!(ids.contains(want), "{ids}");
    }
    let ports = ovs.vsctl(&["list-ports", &br]);
    assert_eq!(ports.lines().filter(|p| *p == "tap2").count(), 1, "{ports}");
    assert!(
        reaches(&vm1, "198.51.100.2", 30),
        "vm1 cannot ping vm2 over OVS"
    );
    assert_eq!(h.caps()["vnics"]["tap1"]["switch"], "ovs");
    // A later setup of another network leaves the ports be.
    h.setup(no_check(
        json!({"other": {"nic": "veth_b0", "switch": "ovs"}}),
    ));
    assert_eq!(ovs.vsctl(&["port-to-br", "tap1"]), br);
    assert!(reaches(&vm1, "198.51.100.2", 30), "after a later setup");

    let (code, err) = h.setup_code(&no_check(json!({"vmnet": {"remove": true}})), &[]);
    assert_eq!(code, 21, "{err}");
    assert!(err.contains("tap1"), "{err}");

    // tap2's VM went away without an unplug: its port row still goes.
    h.ns.ip(&["link", "del", "tap2"]);
    for tap in ["tap1", "tap2"] {
        let (code, _, err) = h.netswitch(&["vnic", "unplug", tap], None);
        assert_eq!(code, 0, "{err}");
    }
    let ports = ovs.vsctl(&["list-ports", &br]);
    assert!(!ports.contains("tap"), "{ports}");
    assert!(h.link("tap1").is_some(), "the device stays");
    h.setup(no_check(json!({"vmnet": {"remove": true}})));
}

#[test]
fn a_plug_while_a_setup_waits_gets_40_and_changes_nothing() {
    let h = Host::new();
    h.setup(no_check(json!({"vmnet": {"nic": "veth_a0"}})));
    let _vm1 = h.vm("tap1", None, "198.51.100.1");
    std::thread::scope(|s| {
        let first = s.spawn(|| {
            h.netswitch(
                &["setup", "--confirm-within", "120", "-"],
                Some(&json!({"networks": {"net_b": {"nic": "veth_b0"}}})),
            )
        });
        // Until the setup waits for its confirmation (generous: no timing).
        let pending = h.state.path().join("lib/pending-confirmation");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !pending.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "the setup never waited"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let (code, _, err) = plug(&h, "vm-1", "52:54:00:00:00:01", "vmnet", "tap1");
        assert_eq!(code, 40, "{err}");
        let (code, _, err) = h.netswitch(&["confirm"], None);
        assert_eq!(code, 0, "{err}");
        let (code, _, err) = first.join().unwrap();
        assert_eq!(code, 0, "{err}");
    });
    assert_eq!(master(&h, "tap1"), Value::Null);
    assert_eq!(list(&h), json!({}));
}
