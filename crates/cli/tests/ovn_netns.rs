//! `netswitch ovn configure|unconfigure|show` and OVN vNICs
//! (`vnic plug --port`) against a real OVN: a private central (NB, SB,
//! ovn-northd) and one chassis, the test's namespace with its own
//! ovsdb-server, ovs-vswitchd (userspace datapath) and ovn-controller. What
//! an operator would check: the keys in `Open_vSwitch.external_ids`, br-int,
//! the caps, the chassis and bindings in the southbound database,
//! `ovn-installed` on the interfaces, and pings between two VM namespaces.

mod common;
#[path = "support/daemon.rs"]
mod daemon;

use std::time::Duration;

use common::{reaches, Chassis, Host};
use daemon::Daemon;
use netswitch_testkit::{Central, Ovs};
use serde_json::{json, Value};

fn chassis() -> Chassis {
    Chassis::on(Host::new())
}

/// `Open_vSwitch.external_ids` as a map.
fn root_ids(ovs: &Ovs) -> std::collections::BTreeMap<String, String> {
    let text = ovs.vsctl(&[
        "--format=json",
        "--columns=external_ids",
        "list",
        "Open_vSwitch",
    ]);
    // {"data": [[["map", [[k, v], ...]]]], ...}
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    v["data"][0][0][1]
        .as_array()
        .unwrap()
        .iter()
        .map(|kv| {
            (
                kv[0].as_str().unwrap().into(),
                kv[1].as_str().unwrap().into(),
            )
        })
        .collect()
}

fn configure(c: &Chassis, central: &Central, extra: &[&str]) -> (i32, String, String) {
    let sb = central.sb();
    let mut args = vec!["--json", "ovn", "configure", "--remote", sb.as_str()];
    args.extend_from_slice(extra);
    c.h.netswitch(&args, None)
}

#[test]
fn a_chassis_is_configured_shown_and_unconfigured() {
    let central = Central::start();
    let c = chassis();
    c.ovs
        .vsctl(&["set", "Open_vSwitch", ".", "external_ids:foreign=keep"]);

    // Refusals name the attribute and change nothing.
    for (args, code, attr) in [
        (vec!["--encap-ip", "300.1.1.1"], 21, "encapIp"),
        (vec!["--encap-network", "nosuch"], 27, "encapNetwork"),
        (
            vec!["--encap-ip", "192.0.2.1", "--encap-type", "gre"],
            21,
            "encapType",
        ),
        (
            vec!["--encap-ip", "192.0.2.1", "--system-id", "a b"],
            21,
            "systemId",
        ),
    ] {
        let (code_got, out, err) = configure(&c, &central, &args);
        assert_eq!(code_got, code, "{args:?}: {out}{err}");
        assert!(out.contains(attr), "{args:?}: {out}");
    }
    let (code, out, _) = c.h.netswitch(
        &[
            "--json",
            "ovn",
            "configure",
            "--remote",
            "tcp:192.0.2.1",
            "--encap-ip",
            "192.0.2.1",
        ],
        None,
    );
    assert_eq!(code, 21, "{out}");
    assert!(out.contains("remote"), "{out}");
    let ids = root_ids(&c.ovs);
    assert!(
        !ids.contains_key("ovn-remote") && !ids.contains_key("system-id"),
        "{ids:?}"
    );

    let (code, out, err) = configure(&c, &central, &["--encap-ip", "192.0.2.10"]);
    assert_eq!(code, 0, "{out}{err}");
    let ids = root_ids(&c.ovs);
    assert_eq!(ids["ovn-remote"], central.sb());
    assert_eq!(ids["ovn-encap-type"], "geneve");
    assert_eq!(ids["ovn-encap-ip"], "192.0.2.10");
    assert_eq!(ids["foreign"], "keep");
    let id = ids["system-id"].clone();
    assert_eq!(id.len(), 36, "a generated UUID: {id}");
    assert_eq!(
        c.ovs.vsctl(&["get", "Bridge", "br-int", "fail_mode"]),
        "secure"
    );
    assert_eq!(
        c.ovs.vsctl(&["get", "Bridge", "br-int", "datapath_type"]),
        c.ovs.datapath
    );

    // ovn-controller took it: the chassis is in the southbound database.
    central.wait_until("the chassis registers", Duration::from_secs(120), |ce| {
        ce.chassis().contains(&id)
    });

    let caps = c.h.caps();
    assert_eq!(caps["ovn"]["configured"], true);
    assert_eq!(caps["ovn"]["systemId"], id.as_str());
    assert_eq!(caps["ovn"]["remote"], central.sb().as_str());
    assert_eq!(caps["ovn"]["encapIp"], "192.0.2.10");
    assert_eq!(
        caps["openstack_binding_host_ids"],
        json!({"OVIRT_PROVIDER_OVN": id})
    );
    let (code, out, _) = c.h.netswitch(&["--json", "ovn", "show"], None);
    assert_eq!(code, 0);
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["ovn"]["systemId"], id.as_str());
    let (code, text, _) = c.h.netswitch(&["ovn", "show"], None);
    assert_eq!(code, 0);
    assert!(text.contains(&id), "{text}");

    // Configuring again keeps the chassis' name.
    let (code, out, err) = configure(&c, &central, &["--encap-ip", "192.0.2.11"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(root_ids(&c.ovs)["system-id"], id);
    assert_eq!(root_ids(&c.ovs)["ovn-encap-ip"], "192.0.2.11");

    let (code, out, err) = c.h.netswitch(&["--json", "ovn", "unconfigure"], None);
    assert_eq!(code, 0, "{out}{err}");
    let ids = root_ids(&c.ovs);
    for gone in ["ovn-remote", "ovn-encap-type", "ovn-encap-ip"] {
        assert!(!ids.contains_key(gone), "{gone}: {ids:?}");
    }
    assert_eq!(ids["system-id"], id, "system-id stays");
    assert_eq!(ids["foreign"], "keep", "foreign keys stay");
    let caps = c.h.caps();
    assert_eq!(caps["ovn"]["configured"], false);
    assert!(caps.get("openstack_binding_host_ids").is_none(), "{caps}");
    drop(c.ctl);
}

#[test]
fn the_encap_ip_follows_its_network_and_comes_back_at_restore() {
    let central = Central::start();
    let c = chassis();
    let net = |ip: &str| {
        json!({"networks": {"mgmt": {"nic": "veth_a0", "bootproto": "none",
            "ipaddr": ip, "netmask": "255.255.255.0"}},
            "options": {"connectivityCheck": false}})
    };
    c.h.setup(net("192.0.2.20"));
    let (code, out, err) = configure(&c, &central, &["--encap-network", "mgmt"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(root_ids(&c.ovs)["ovn-encap-ip"], "192.0.2.20");
    let caps = c.h.caps();
    assert_eq!(caps["ovn"]["encapNetwork"], "mgmt");

    c.h.setup(net("192.0.2.21"));
    assert_eq!(root_ids(&c.ovs)["ovn-encap-ip"], "192.0.2.21", "follows");

    // A boot: OVS lost the keys; restore writes them again.
    let (code, _, err) = c.h.netswitch(&["commit"], None);
    assert_eq!(code, 0, "{err}");
    c.ovs.vsctl(&[
        "remove",
        "Open_vSwitch",
        ".",
        "external_ids",
        "ovn-remote",
        "ovn-encap-ip",
    ]);
    let (code, out, err) = c.h.netswitch(&["restore", "--force"], None);
    assert_eq!(code, 0, "{out}{err}");
    let ids = root_ids(&c.ovs);
    assert_eq!(ids["ovn-remote"], central.sb());
    assert_eq!(ids["ovn-encap-ip"], "192.0.2.21");
}

fn plug(
    h: &Host,
    vm: &str,
    mac: &str,
    port: &str,
    dev: &str,
    extra: &[&str],
) -> (i32, String, String) {
    let mut args = vec![
        "--json", "vnic", "plug", "--vm", vm, "--mac", mac, "--port", port,
    ];
    args.extend_from_slice(extra);
    args.push(dev);
    h.netswitch(&args, None)
}

fn br_int_ports(ovs: &Ovs) -> Vec<String> {
    ovs.vsctl(&["list-ports", "br-int"])
        .lines()
        .map(str::to_string)
        .collect()
}

const MAC1: &str = "52:54:00:00:01:01";
const MAC2: &str = "52:54:00:00:01:02";

#[test]
fn two_vms_on_a_logical_switch_ping_and_unplug_releases_the_binding() {
    let central = Central::start();
    central.switch("sw0");
    central.port("sw0", "lp1", &format!("{MAC1} 10.0.0.1"));
    central.port("sw0", "lp2", &format!("{MAC2} 10.0.0.2"));
    let c = chassis();
    let (code, out, err) = configure(
        &c,
        &central,
        &["--encap-ip", "192.0.2.10", "--system-id", "chassis-1"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let vm1 = c.h.vm("tap1", Some(MAC1), "10.0.0.1");
    let vm2 = c.h.vm("tap2", Some(MAC2), "10.0.0.2");

    // The first binding on a chassis can be slow on a loaded machine.
    let (code, out, err) = plug(&c.h, "vm-1", MAC1, "lp1", "tap1", &["--timeout", "300"]);
    assert_eq!(code, 0, "{out}{err}\n{}", c.ctl.log_tail());
    let ids = c.ovs.vsctl(&["get", "Interface", "tap1", "external_ids"]);
    for want in [
        "iface-id=lp1",
        "ovn-installed=\"true\"",
        "vm-id=vm-1",
        "iface-status=active",
    ] {
        assert!(ids.contains(want), "{want}: {ids}");
    }
    assert!(ids.contains(&format!("attached-mac=\"{MAC1}\"")), "{ids}");
    let (code, out, err) = plug(&c.h, "vm-2", MAC2, "lp2", "tap2", &["--timeout", "300"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(central.port_chassis("lp1").as_deref(), Some("chassis-1"));
    assert!(
        reaches(&vm1, "10.0.0.2", 60),
        "vm1 cannot ping vm2\n{}",
        c.ctl.log_tail()
    );

    // Plugging again is one plug; another port on the same device is 24.
    let (code, _, err) = plug(&c.h, "vm-1", MAC1, "lp1", "tap1", &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(br_int_ports(&c.ovs), ["tap1", "tap2"]);
    let (code, out, _) = plug(&c.h, "vm-1", MAC1, "lp2", "tap1", &[]);
    assert_eq!(code, 24, "{out}");
    // MAC spoofing on OVN is the logical port's port_security: 21 here.
    let (code, out, _) = plug(&c.h, "vm-1", MAC1, "lp1", "tap1", &["--mac-spoof", "false"]);
    assert_eq!(code, 21, "{out}");
    assert!(
        out.contains("macSpoof") && out.contains("port_security"),
        "{out}"
    );
    let caps = c.h.caps();
    assert_eq!(
        caps["vnics"]["tap1"],
        json!({"vmId": "vm-1", "mac": MAC1, "network": "", "switch": "ovn", "port": "lp1"})
    );

    // Unplug: the port leaves br-int, the binding is released.
    let (code, _, err) = c.h.netswitch(&["vnic", "unplug", "tap1"], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(br_int_ports(&c.ovs), ["tap2"]);
    central.wait_until("lp1 released", Duration::from_secs(120), |ce| {
        ce.port_chassis("lp1").is_none()
    });
    assert!(c.h.link("tap1").is_some(), "the hypervisor's device stays");

    // A port no logical switch has: 29 after the timeout, nothing left.
    let _vm3 = c.h.vm("tap3", Some("52:54:00:00:01:03"), "10.0.0.3");
    let (code, out, _) = plug(
        &c.h,
        "vm-3",
        "52:54:00:00:01:03",
        "nosuch",
        "tap3",
        &["--timeout", "3"],
    );
    assert_eq!(code, 29, "{out}");
    assert!(out.contains("tap3"), "{out}");
    assert_eq!(br_int_ports(&c.ovs), ["tap2"]);
    assert!(!c.h.state.path().join("lib/vnics/tap3").exists());
    let (code, out, _) = c.h.netswitch(&["--json", "vnic", "list"], None);
    assert_eq!(code, 0);
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed["vnics"].as_object().unwrap().len(), 1, "{listed}");

    // The daemon path: plug lp1 again through the daemon.
    let db = c.ovs.db();
    let d = Daemon::start_args(
        &c.h,
        std::path::Path::new(env!("CARGO_BIN_EXE_netswitch")),
        &["--ovs-db", &db, "--ovs-datapath", c.ovs.datapath],
    );
    let (code, out, err) = d.via(
        &c.h,
        &[
            "--json",
            "vnic",
            "plug",
            "--vm",
            "vm-1",
            "--mac",
            MAC1,
            "--port",
            "lp1",
            "--timeout",
            "300",
            "tap1",
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = d.via(&c.h, &["--json", "ovn", "show"], None);
    assert_eq!(code, 0);
    assert!(out.contains("chassis-1"), "{out}");
    assert_eq!(central.port_chassis("lp1").as_deref(), Some("chassis-1"));
    assert!(reaches(&vm2, "10.0.0.1", 60), "after the daemon's plug");
    let (code, _, err) = d.via(&c.h, &["vnic", "unplug", "tap1"], None);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = d.via(&c.h, &["vnic", "unplug", "tap2"], None);
    assert_eq!(code, 0, "{err}");
    assert!(br_int_ports(&c.ovs).is_empty());
}
