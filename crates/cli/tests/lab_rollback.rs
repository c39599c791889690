//! Rollback and restore with bonds and VLANs: these need the kernel lab
//! (bonding, 8021q and dummy modules), so they are ignored on the machine's
//! own kernel and run by `tests/lab/run` with `--ignored`.

mod common;

use common::Host;
use serde_json::{json, Value};

/// A bond, a VLAN on it and a bridge over the VLAN, whose IPv4 address
/// the kernel takes but whose IPv6 address it refuses on a host made by
/// [`no_ipv6`]: the failure comes after the bond, the VLAN, the bridge and
/// the IPv4 address went in. (Validation refuses a gateway outside its
/// subnet, once the way to get here.)
fn broken_bond_vlan_bridge(vlan: u16, mode: &str) -> Value {
    json!({
        "bondings": {"bond0": {"nics": ["dummy_1", "dummy_2"], "options": format!("mode={mode} miimon=100")}},
        "networks": {"vmnet": {"bonding": "bond0", "vlan": vlan, "ipaddr": "192.0.2.10", "prefix": 24,
                               "ipv6addr": "2001:db8:5::10/64", "gateway": "192.0.2.1",
                               "defaultRoute": true, "nameservers": ["192.0.2.53"]}},
    })
}

/// Turns IPv6 off in the namespace, for the devices there and those made
/// later, so the kernel refuses an IPv6 address (`EACCES`).
fn no_ipv6(h: &Host) {
    h.ns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
    h.ns.exec(&["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn a_broken_bond_vlan_bridge_request_leaves_no_trace() {
    let Some(h) = Host::lab() else { return };
    no_ipv6(&h);
    let before = h.facts();
    let resolv = std::fs::read(h.state.path().join("resolv.conf")).unwrap();
    let (code, err) = h.setup_code(&broken_bond_vlan_bridge(100, "active-backup"), &[]);
    assert_eq!(code, 29, "{err}");
    assert!(
        err.contains("2001:db8:5::10") && err.contains("rolled back"),
        "{err}"
    );
    assert!(!err.contains("incompletely"), "{err}");
    assert_eq!(h.facts(), before, "{:#?}", before.diff(&h.facts()));
    for dev in ["bond0", "bond0.100", "vmnet"] {
        assert!(h.link(dev).is_none(), "{dev} left behind");
    }
    assert!(h.running().networks.is_empty() && h.running().bonds.is_empty());
    assert_eq!(
        std::fs::read(h.state.path().join("resolv.conf")).unwrap(),
        resolv
    );
    // The same with an address validation refuses: code 22, nothing sent.
    let mut bad = broken_bond_vlan_bridge(100, "active-backup");
    bad["networks"]["vmnet"]["ipaddr"] = json!("192.0.2.300");
    let (code, err) = h.setup_code(&bad, &[]);
    assert_eq!(code, 22, "{err}");
    assert!(err.contains("vmnet"), "{err}");
    assert_eq!(h.facts(), before);
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn a_broken_bond_vlan_bridge_request_over_an_existing_network_leaves_it_unchanged() {
    let Some(h) = Host::lab() else { return };
    no_ipv6(&h);
    h.setup(json!({
        "bondings": {"bond0": {"nics": ["dummy_1", "dummy_2"], "options": "mode=balance-xor miimon=100"}},
        "networks": {"vmnet": {"bonding": "bond0", "vlan": 100, "mtu": 9000, "ipaddr": "198.51.100.2",
                               "prefix": 24, "gateway": "198.51.100.1", "defaultRoute": true}},
    }));
    let before = h.facts();
    let running = h.running();
    let resolv = std::fs::read(h.state.path().join("resolv.conf")).unwrap();
    // Same names, another tag, another bond mode, a new IPv6 address the
    // kernel refuses.
    let (code, err) = h.setup_code(&broken_bond_vlan_bridge(200, "active-backup"), &[]);
    assert_eq!(code, 29, "{err}");
    assert!(!err.contains("incompletely"), "{err}");
    assert_eq!(h.facts(), before, "{:#?}", before.diff(&h.facts()));
    assert_eq!(h.running(), running);
    assert_eq!(
        std::fs::read(h.state.path().join("resolv.conf")).unwrap(),
        resolv
    );
    assert_eq!(h.sysfs("bond0/bonding/mode"), "balance-xor 2");
    assert_eq!(h.link("bond0.100").unwrap()["master"], "vmnet");
    assert!(h.link("bond0.200").is_none());
    assert_eq!(h.addrs("vmnet"), vec!["198.51.100.2/24"]);
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn restore_brings_back_a_removed_bond_with_the_slaves_still_present() {
    let Some(h) = Host::lab() else { return };
    h.setup(json!({
        "bondings": {"bond0": {"nics": ["dummy_1", "dummy_2"], "options": "mode=802.3ad miimon=100"}},
        "networks": {"vmnet": {"bonding": "bond0", "vlan": 30}},
    }));
    h.netswitch(&["commit"], None);
    let persisted = h.facts();
    h.setup(
        json!({"networks": {"vmnet": {"remove": true}}, "bondings": {"bond0": {"remove": true}}}),
    );
    assert!(h.link("bond0").is_none());

    let (code, _, err) = h.netswitch(&["restore", "--force"], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(h.facts(), persisted, "{:#?}", persisted.diff(&h.facts()));
    assert_eq!(h.sysfs("bond0/bonding/mode"), "802.3ad 4");
    assert_eq!(h.link("bond0.30").unwrap()["master"], "vmnet");
    assert_eq!(h.caps()["netConfigDirty"], false);

    // Gone again, and one slave gone from the host: the bond comes back
    // with the slave that is left.
    h.setup(
        json!({"networks": {"vmnet": {"remove": true}}, "bondings": {"bond0": {"remove": true}}}),
    );
    h.ns.ip(&["link", "del", "dummy_2"]);
    let (code, _, err) = h.netswitch(&["restore", "--force"], None);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("bond bond0: slaves dummy_2"), "{err}");
    assert_eq!(h.sysfs("bond0/bonding/slaves"), "dummy_1");
    assert_eq!(h.link("bond0.30").unwrap()["master"], "vmnet");
}
