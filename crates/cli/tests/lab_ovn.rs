//! OVN end to end in the kernel lab (kernel datapath, kernel Geneve): a
//! private central and two chassis, each a namespace with its own
//! ovsdb-server, ovs-vswitchd and ovn-controller, configured by `netswitch
//! ovn configure --encap-network`; a VM per chassis plugged by `netswitch
//! vnic plug --port` pings the other across Geneve; a third VM reaches a
//! "physical" namespace through a localnet port and the
//! `ovn-bridge-mappings` entry of an OVS network. One lean test: one lab
//! boot pays for all of it.

mod common;

use std::time::Duration;

use common::{reaches, Chassis, Host};
use netswitch_testkit::{Central, Netns};
use serde_json::json;

fn chassis() -> Chassis {
    Chassis::on(Host::empty())
}

/// Plugs `(vm, mac, port, device)`s: one with `vnic plug --port`, more
/// with `vnic plug-batch`.
fn plug(c: &Chassis, vnics: &[(&str, &str, &str, &str)]) {
    let (code, out, err) = match vnics {
        [(vm, mac, port, dev)] => c.h.netswitch(
            &[
                "--json",
                "vnic",
                "plug",
                "--vm",
                vm,
                "--mac",
                mac,
                "--port",
                port,
                "--timeout",
                "300",
                dev,
            ],
            None,
        ),
        _ => {
            let list: Vec<_> = vnics
                .iter()
                .map(|(vm, mac, port, dev)| json!({"vmId": vm, "mac": mac, "port": port, "device": dev}))
                .collect();
            c.h.netswitch(
                &["--json", "vnic", "plug-batch", "--timeout", "300", "-"],
                Some(&json!(list)),
            )
        }
    };
    assert_eq!(code, 0, "{out}{err}\n{}", c.ctl.log_tail());
}

fn configure(c: &Chassis, central: &Central, id: &str, net: &str) {
    let sb = central.sb();
    let (code, out, err) = c.h.netswitch(
        &[
            "--json",
            "ovn",
            "configure",
            "--remote",
            &sb,
            "--encap-network",
            net,
            "--system-id",
            id,
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
}

const MAC1: &str = "52:54:00:00:02:01";
const MAC2: &str = "52:54:00:00:02:02";
const MAC3: &str = "52:54:00:00:02:03";

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn two_chassis_over_geneve_and_a_localnet() {
    if !netswitch_testkit::in_lab() {
        eprintln!("skipped: needs the kernel lab (tests/lab/run)");
        return;
    }
    let central = Central::start();
    central.switch("sw0");
    central.port("sw0", "lp1", &format!("{MAC1} 10.0.0.1"));
    central.port("sw0", "lp2", &format!("{MAC2} 10.0.0.2"));
    // A switch with a localnet port carries its traffic over the physical
    // network, not tunnels: the localnet gets a switch of its own.
    central.switch("sw1");
    central.port("sw1", "lp3", &format!("{MAC3} 10.1.0.3"));
    central.localnet("sw1", "ln1", "physnet");

    let a = chassis();
    let b = chassis();
    // The underlay between the chassis, and A's physical network.
    a.h.ns.ip(&[
        "link",
        "add",
        "veth_ul",
        "type",
        "veth",
        "peer",
        "name",
        "veth_ulb",
        "netns",
        b.h.ns.name(),
    ]);
    b.h.ns.ip(&["link", "set", "veth_ulb", "name", "veth_ul"]);
    let phys = Netns::new();
    a.h.ns.ip(&[
        "link",
        "add",
        "veth_ph",
        "type",
        "veth",
        "peer",
        "name",
        "ph1",
        "netns",
        phys.name(),
    ]);
    phys.ip(&["addr", "add", "10.1.0.254/24", "dev", "ph1"]);
    phys.ip(&["link", "set", "ph1", "up"]);

    // A: an OVS host (underlay and physnet are OVS networks); B: a legacy
    // host, whose OVS serves only br-int.
    let no_check = json!({"connectivityCheck": false});
    a.h.setup(json!({"networks": {
        "underlay": {"nic": "veth_ul", "switch": "ovs", "bootproto": "none",
                     "ipaddr": "172.16.0.1", "netmask": "255.255.255.0"},
        "physnet": {"nic": "veth_ph", "switch": "ovs"}},
        "options": no_check}));
    b.h.setup(json!({"networks": {
        "underlay": {"nic": "veth_ul", "bridged": false, "bootproto": "none",
                     "ipaddr": "172.16.0.2", "netmask": "255.255.255.0"}},
        "options": no_check}));
    configure(&a, &central, "chassis-a", "underlay");
    configure(&b, &central, "chassis-b", "underlay");
    let caps = a.h.caps();
    assert_eq!(caps["ovn"]["encapIp"], "172.16.0.1");
    let mappings = caps["ovn"]["bridgeMappings"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(mappings.contains("physnet:"), "{caps}");

    let vm1 = a.h.vm("tap1", Some(MAC1), "10.0.0.1");
    let _vm2 = b.h.vm("tap2", Some(MAC2), "10.0.0.2");
    let vm3 = a.h.vm("tap3", Some(MAC3), "10.1.0.3");
    // Both chassis bind at once (the first binding on a chassis is the
    // slow part under TCG); A's two vNICs are one batch.
    std::thread::scope(|s| {
        s.spawn(|| plug(&b, &[("vm-2", MAC2, "lp2", "tap2")]));
        plug(
            &a,
            &[("vm-1", MAC1, "lp1", "tap1"), ("vm-3", MAC3, "lp3", "tap3")],
        );
    });
    assert_eq!(central.port_chassis("lp2").as_deref(), Some("chassis-b"));
    assert!(
        reaches(&vm1, "10.0.0.2", 90),
        "vm1 cannot reach vm2 across Geneve\nA: {}\nB: {}",
        a.ctl.log_tail(),
        b.ctl.log_tail()
    );
    assert!(
        reaches(&vm3, "10.1.0.254", 90),
        "vm3 cannot reach the physical network through the localnet"
    );

    let (code, _, err) = a.h.netswitch(&["vnic", "unplug", "tap1"], None);
    assert_eq!(code, 0, "{err}");
    central.wait_until("lp1 released", Duration::from_secs(120), |ce| {
        ce.port_chassis("lp1").is_none()
    });
}
