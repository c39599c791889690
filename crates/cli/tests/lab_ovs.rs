//! The OVS switch on the kernel datapath, in the kernel lab: Linux bonds as
//! southbound ports, tagged internal ports, traffic to a peer namespace,
//! and switch changes both ways with a bond and a static IP.

mod common;

use common::Host;
use netswitch_testkit::{Netns, Ovs};
use serde_json::{json, Value};

/// A lab host whose nic veth_a0 leads to a peer namespace carrying VLAN 100
/// with 10.200.0.2/24, plus two dummies.
fn lab_host() -> Option<(Host, Netns, Ovs)> {
    if !netswitch_testkit::in_lab() {
        eprintln!("skipped: needs the kernel lab (tests/lab/run)");
        return None;
    }
    let mut h = Host::empty();
    let peer = Netns::new();
    h.ns.veth("veth_a0", "veth_a1");
    h.ns.ip(&["link", "set", "veth_a1", "netns", peer.name()]);
    peer.ip(&["link", "set", "veth_a1", "up"]);
    peer.ip(&[
        "link", "add", "link", "veth_a1", "name", "v100", "type", "vlan", "id", "100",
    ]);
    peer.ip(&["addr", "add", "10.200.0.2/24", "dev", "v100"]);
    peer.ip(&["link", "set", "v100", "up"]);
    for d in ["dummy_1", "dummy_2"] {
        h.ns.ip(&["link", "add", d, "type", "dummy"]);
        h.ns.ip(&["link", "set", d, "up"]);
    }
    let ovs = Ovs::start(&h.ns);
    h.use_ovs(&ovs);
    Some((h, peer, ovs))
}

fn request(switch: &str) -> Value {
    json!({
        "bondings": {"bond0": {"nics": ["veth_a0"], "options": "mode=active-backup miimon=100",
                               "switch": switch}},
        "networks": {
            "net100": {"bonding": "bond0", "vlan": 100, "switch": switch, "mtu": 1400,
                       "ipaddr": "10.200.0.1", "prefix": 24},
            "side": {"nic": "dummy_1", "bridged": false, "switch": switch,
                     "ipaddr": "10.201.0.1", "prefix": 24, "gateway": "10.201.0.254",
                     "defaultRoute": true},
        },
        "options": {"connectivityCheck": false},
    })
}

fn ping(h: &Host) -> bool {
    (0..20).any(|_| {
        std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                h.ns.name(),
                "ping",
                "-c",
                "1",
                "-W",
                "1",
                "10.200.0.2",
            ])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn ovs_networks_on_a_bond_carry_traffic_and_change_switch_both_ways() {
    let Some((h, _peer, ovs)) = lab_host() else {
        return;
    };
    h.setup(request("ovs"));
    let br = ovs.vsctl(&["port-to-br", "net100"]);
    assert_eq!(
        ovs.vsctl(&["get", "Bridge", &br, "datapath_type"]),
        "system"
    );
    assert_eq!(ovs.vsctl(&["list-ports", &br]), "bond0\nnet100");
    assert_eq!(ovs.vsctl(&["get", "Port", "net100", "tag"]), "100");
    let bond = h.link("bond0").expect("bond0");
    assert_eq!(bond["master"], "ovs-system", "{bond}");
    assert_eq!(bond["mtu"], 1400);
    assert_eq!(
        h.link("net100").unwrap()["linkinfo"]["info_kind"],
        "openvswitch"
    );
    assert_eq!(
        ovs.vsctl(&["get", "Interface", "net100", "mtu_request"]),
        "1400"
    );
    assert_eq!(h.link("net100").unwrap()["mtu"], 1400);
    // mtu_request comes once the port exists: asked to size a port it has
    // not created yet, ovs-vswitchd fails and adds ports far slower.
    let log = std::fs::read_to_string(ovs.dir().join("ovs-vswitchd.log")).unwrap_or_default();
    assert!(
        !log.contains("failed to set MTU"),
        "ovs-vswitchd was asked to size a port before creating it:\n{}",
        ovs.log_tail()
    );
    assert!(
        ping(&h),
        "no traffic through the kernel datapath:\n{}",
        ovs.log_tail()
    );
    let caps = h.caps();
    assert_eq!(caps["bondings"]["bond0"]["switch"], "ovs");
    assert_eq!(caps["vlans"]["bond0.100"]["iface"], "bond0");
    assert_eq!(caps["networks"]["side"]["iface"], "dummy_1");
    assert_eq!(caps["nics"]["dummy_1"]["addr"], "10.201.0.1");

    // ovs -> legacy: a real VLAN device and a Linux bridge; the bond stays.
    h.setup(request("legacy"));
    assert_eq!(ovs.vsctl(&["list-br"]), "");
    assert_eq!(h.link("net100").unwrap()["linkinfo"]["info_kind"], "bridge");
    assert_eq!(h.link("bond0.100").unwrap()["master"], "net100");
    assert_eq!(h.addrs("net100"), vec!["10.200.0.1/24"]);
    assert_eq!(h.addrs("dummy_1"), vec!["10.201.0.1/24"]);
    assert!(ping(&h), "no traffic through the Linux bridge");
    let legacy = h.facts();

    // A failed change back leaves the legacy host as it was.
    let (code, err) = h.setup_code(&request("ovs"), &["--confirm-within", "0.5"]);
    assert_eq!(code, 10, "{err}");
    assert!(!err.contains("incompletely"), "{err}");
    assert_eq!(h.facts(), legacy);
    assert_eq!(ovs.vsctl(&["list-br"]), "");

    // legacy -> ovs again.
    h.setup(request("ovs"));
    assert!(
        h.link("bond0.100").is_none(),
        "the legacy VLAN device is gone"
    );
    assert_eq!(h.link("bond0").unwrap()["master"], "ovs-system");
    assert!(
        ping(&h),
        "no traffic after switching back:\n{}",
        ovs.log_tail()
    );

    // Everything removed: no bridge, no bond, no ports.
    h.setup(json!({
        "networks": {"net100": {"remove": true}, "side": {"remove": true}},
        "bondings": {"bond0": {"remove": true}},
        "options": {"connectivityCheck": false},
    }));
    assert_eq!(ovs.vsctl(&["list-br"]), "");
    assert!(h.link("bond0").is_none());
    assert!(h.link("net100").is_none());
    assert!(h.addrs("dummy_1").is_empty());
}
