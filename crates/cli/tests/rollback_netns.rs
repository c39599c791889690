//! Rollback and restore cases of the transaction on the machine's own
//! kernel (bridges and addresses; the bond and VLAN ones are in
//! lab_rollback.rs): a failing request never touches what was there, and
//! `restore` brings the persistent config back exactly.

mod common;

use common::Host;
use serde_json::{json, Value};

fn mgmt() -> Value {
    json!({"nic": "veth_a0", "ipaddr": "192.0.2.10", "prefix": 24, "gateway": "192.0.2.1",
           "defaultRoute": true, "nameservers": ["192.0.2.53"]})
}

/// A network the kernel refuses half way, on a host made by [`no_ipv6`]:
/// its IPv6 address fails after the bridge and the IPv4 address went in.
/// (Validation cannot see it coming: it is the host's sysctl, not the
/// request, that is at fault.)
fn refused(nic: &str) -> Value {
    json!({"nic": nic, "ipaddr": "198.51.100.2", "prefix": 24, "gateway": "198.51.100.1",
           "ipv6addr": "2001:db8:5::2/64", "defaultRoute": true})
}

/// Turns IPv6 off in the namespace, for the devices there and those made
/// later, so the kernel refuses an IPv6 address (`EACCES`).
fn no_ipv6(h: &Host) {
    h.ns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
    h.ns.exec(&["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
}

fn resolv(h: &Host) -> String {
    std::fs::read_to_string(h.state.path().join("resolv.conf")).unwrap()
}

#[test]
fn an_existing_network_is_untouched_when_a_new_one_in_the_next_request_fails() {
    let h = Host::new();
    no_ipv6(&h);
    h.setup(json!({"networks": {"first": mgmt()}}));
    let (facts, running, dns) = (h.facts(), h.running(), resolv(&h));
    let (code, err) = h.setup_code(&json!({"networks": {"second": refused("veth_b0")}}), &[]);
    assert_eq!(code, 29, "{err}");
    assert!(
        err.contains("rolled back") && !err.contains("incompletely"),
        "{err}"
    );
    assert_eq!(h.facts(), facts, "{:#?}", facts.diff(&h.facts()));
    assert_eq!(h.running(), running);
    assert_eq!(resolv(&h), dns);
    // The first network still carries its address and the default route.
    assert_eq!(h.addrs("first"), vec!["192.0.2.10/24"]);
    let caps = h.caps();
    assert_eq!(caps["networks"]["first"]["ipv4defaultroute"], true);
    assert!(caps["networks"].get("second").is_none());
    assert!(h.link("second").is_none());
}

#[test]
fn one_failing_network_takes_the_whole_request_back() {
    let h = Host::new();
    no_ipv6(&h);
    let facts = h.facts();
    let (code, err) = h.setup_code(
        &json!({"networks": {"a_ok": {"nic": "veth_a0", "ipaddr": "192.0.2.10", "prefix": 24},
                             "b_bad": refused("veth_b0")}}),
        &[],
    );
    assert_eq!(code, 29, "{err}");
    assert_eq!(h.facts(), facts, "{:#?}", facts.diff(&h.facts()));
    assert!(h.link("a_ok").is_none() && h.link("b_bad").is_none());
    assert!(h.running().networks.is_empty());
}

#[test]
fn a_broken_edit_of_an_existing_network_leaves_it_unchanged() {
    let h = Host::new();
    no_ipv6(&h);
    h.setup(json!({"networks": {"first": mgmt()}}));
    let (facts, running, dns) = (h.facts(), h.running(), resolv(&h));
    // The same network, moved to the other nic with a new MTU and an
    // address the kernel refuses.
    let mut edit = refused("veth_b0");
    edit["mtu"] = json!(9000);
    edit["nameservers"] = json!(["198.51.100.53"]);
    let (code, err) = h.setup_code(&json!({"networks": {"first": edit}}), &[]);
    assert_eq!(code, 29, "{err}");
    assert!(!err.contains("incompletely"), "{err}");
    assert_eq!(h.facts(), facts, "{:#?}", facts.diff(&h.facts()));
    assert_eq!(h.running(), running);
    assert_eq!(resolv(&h), dns);
    assert_eq!(h.link("veth_a0").unwrap()["master"], "first");
    assert_eq!(h.link("veth_b0").unwrap()["mtu"], 1500);
}

#[test]
fn restore_takes_an_unpersisted_bridged_network_off_the_host() {
    let h = Host::new();
    h.setup(json!({"networks": {"kept": {"nic": "veth_a0"}}}));
    h.netswitch(&["commit"], None);
    let facts = h.facts();
    h.setup(
        json!({"networks": {"extra": {"nic": "veth_b0", "ipaddr": "203.0.113.7", "prefix": 24,
                                          "gateway": "203.0.113.1"}}}),
    );
    assert!(h.link("extra").is_some());
    let (code, _, err) = h.netswitch(&["restore", "--force"], None);
    assert_eq!(code, 0, "{err}");
    assert!(h.link("extra").is_none(), "the unpersisted bridge is gone");
    assert!(h.link("veth_b0").unwrap().get("master").is_none());
    assert_eq!(h.facts(), facts, "{:#?}", facts.diff(&h.facts()));
    assert!(!h.running().networks.contains_key("extra"));
    assert_eq!(h.caps()["netConfigDirty"], false);
}

#[test]
fn restore_brings_back_a_persisted_static_ip_with_its_routes_and_rules() {
    let h = Host::new();
    h.setup(json!({"networks": {"first": mgmt()}}));
    h.netswitch(&["commit"], None);
    let (facts, dns) = (h.facts(), resolv(&h));
    // An edit that drops the address (and with it the gateway, the
    // default route, the source-routing table and its rules).
    h.setup(json!({"networks": {"first": {"nic": "veth_a0"}}}));
    assert!(h.addrs("first").is_empty());
    assert_ne!(h.facts(), facts);
    let (code, _, err) = h.netswitch(&["restore", "--force"], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(h.addrs("first"), vec!["192.0.2.10/24"]);
    assert_eq!(h.facts(), facts, "{:#?}", facts.diff(&h.facts()));
    assert_eq!(resolv(&h), dns);
    assert_eq!(
        h.running().networks["first"].ipaddr,
        Some([192, 0, 2, 10].into())
    );
}

#[test]
fn restore_brings_back_a_removed_persisted_network() {
    let h = Host::new();
    h.setup(json!({"networks": {"a": {"nic": "veth_a0", "mtu": 9000},
                                "b": {"nic": "veth_b0", "bridged": false, "ipaddr": "198.51.100.2", "prefix": 24}}}));
    h.netswitch(&["commit"], None);
    let facts = h.facts();
    h.setup(json!({"networks": {"a": {"remove": true}, "b": {"remove": true}}}));
    assert!(h.link("a").is_none());
    let (code, _, err) = h.netswitch(&["restore", "--force"], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(h.facts(), facts, "{:#?}", facts.diff(&h.facts()));
    assert_eq!(h.link("veth_a0").unwrap()["master"], "a");
    assert_eq!(h.addrs("veth_b0"), vec!["198.51.100.2/24"]);
    let running = h.running();
    assert!(running.networks.contains_key("a") && running.networks.contains_key("b"));
}
