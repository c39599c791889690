//! `netswitch setup` applied in a scratch namespace (veth pairs as nics):
//! the kernel state read back with `ip -j`, the caps report, the running
//! config on disk, and rollback leaving no trace.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::Host;
use serde_json::{json, Value};

fn mgmt() -> Value {
    json!({"networks": {"mgmt": {
        "nic": "veth_a0", "ipaddr": "192.0.2.10", "prefix": 24, "gateway": "192.0.2.1",
        "ipv6addr": "2001:db8:1::10/64", "ipv6gateway": "2001:db8:1::1",
        "defaultRoute": true, "nameservers": ["192.0.2.53"]}}})
}

const MGMT_TABLE: &str = "3221225994"; // 192.0.2.10 as a number

#[test]
fn a_bridged_network_with_static_ip_default_route_and_dns() {
    let h = Host::new();
    h.setup(mgmt());

    let br = h.link("mgmt").expect("bridge mgmt exists");
    assert_eq!(br["linkinfo"]["info_kind"], "bridge");
    assert!(br["flags"].as_array().unwrap().contains(&json!("UP")));
    assert_eq!(h.link("veth_a0").unwrap()["master"], "mgmt");
    let mut addrs = h.addrs("mgmt");
    addrs.sort();
    assert_eq!(addrs, vec!["192.0.2.10/24", "2001:db8:1::10/64"]);
    assert!(h.addrs("veth_a0").is_empty(), "the port carries no address");

    let main4 = h.routes("-4", "main");
    assert!(
        main4
            .iter()
            .any(|r| r["dst"] == "default" && r["gateway"] == "192.0.2.1" && r["dev"] == "mgmt"),
        "{main4:?}"
    );
    let main6 = h.routes("-6", "main");
    assert!(
        main6.iter().any(|r| r["dst"] == "default"
            && r["gateway"] == "2001:db8:1::1"
            && r["dev"] == "mgmt"),
        "{main6:?}"
    );
    let own = h.routes("-4", MGMT_TABLE);
    assert!(
        own.iter()
            .any(|r| r["dst"] == "default" && r["gateway"] == "192.0.2.1"),
        "{own:?}"
    );
    assert!(
        own.iter()
            .any(|r| r["dst"] == "192.0.2.0/24" && r["prefsrc"] == "192.0.2.10"),
        "{own:?}"
    );
    let rules = h.ns.ip_json(&["rule"]).to_string();
    assert!(
        rules.contains("\"src\":\"192.0.2.0\",\"srclen\":24") && rules.contains(MGMT_TABLE),
        "{rules}"
    );

    let resolv = std::fs::read_to_string(h.state.path().join("resolv.conf")).unwrap();
    assert!(
        resolv.contains("nameserver 192.0.2.53")
            && !resolv.contains("10.9.9.9")
            && resolv.contains("search example.org"),
        "{resolv}"
    );

    let caps = h.caps();
    let n = &caps["networks"]["mgmt"];
    assert_eq!(n["iface"], "mgmt");
    assert_eq!(n["ports"], json!(["veth_a0"]));
    assert_eq!(n["addr"], "192.0.2.10");
    assert_eq!(n["netmask"], "255.255.255.0");
    assert_eq!(n["gateway"], "192.0.2.1");
    assert_eq!(n["ipv4defaultroute"], true);
    assert_eq!(n["ipv6gateway"], "2001:db8:1::1");
    assert_eq!(caps["nameservers"], json!(["192.0.2.53"]));
    assert_eq!(caps["netConfigDirty"], true);

    // The running config on disk is what the host carries.
    let running = h.running();
    assert_eq!(running.networks.len(), 1);
    assert_eq!(
        running.networks["mgmt"].ipaddr.unwrap().to_string(),
        "192.0.2.10"
    );
    // And applying it again is a no-op.
    let (code, out, _) = h.netswitch(&["setup", "--dry-run", "-"], Some(&mgmt()));
    assert_eq!(code, 0);
    assert!(out.contains("nothing to do"), "{out}");
}

#[test]
fn removing_a_network_leaves_nothing_behind() {
    let h = Host::new();
    let before = h.facts();
    h.setup(mgmt());
    h.setup(json!({"networks": {"mgmt": {"remove": true}}}));
    assert!(h.link("mgmt").is_none());
    assert!(h.link("veth_a0").unwrap().get("master").is_none());
    assert!(h.routes("-4", MGMT_TABLE).is_empty());
    assert!(!h.ns.ip_json(&["rule"]).to_string().contains(MGMT_TABLE));
    assert_eq!(h.facts(), before, "{:#?}", before.diff(&h.facts()));
    assert!(h.running().networks.is_empty());
}

#[test]
fn bridgeless_and_bridged_networks_with_mtu_and_source_routing() {
    let h = Host::new();
    h.setup(json!({"networks": {
        "storage": {"nic": "veth_b0", "bridged": false, "mtu": 9000, "ipaddr": "198.51.100.20", "netmask": "255.255.255.0", "gateway": "198.51.100.1"},
        "vmnet": {"nic": "veth_a0", "mtu": 9000, "stp": true, "custom": {"bridge_opts": "forward_delay=500"}},
    }}));
    let b0 = h.link("veth_b0").unwrap();
    assert_eq!(b0["mtu"], 9000);
    assert_eq!(h.addrs("veth_b0"), vec!["198.51.100.20/24"]);
    let vm = h.link("vmnet").unwrap();
    assert_eq!(vm["mtu"], 9000);
    assert_eq!(vm["linkinfo"]["info_data"]["stp_state"], 1);
    assert_eq!(vm["linkinfo"]["info_data"]["forward_delay"], 500);
    assert_eq!(h.link("veth_a0").unwrap()["mtu"], 9000);
    // storage has a gateway but no default route: its own table only.
    assert!(!h.routes("-4", "main").iter().any(|r| r["dst"] == "default"));
    let table = u32::from("198.51.100.20".parse::<std::net::Ipv4Addr>().unwrap()).to_string();
    assert!(h
        .routes("-4", &table)
        .iter()
        .any(|r| r["dst"] == "default" && r["gateway"] == "198.51.100.1"));
    let caps = h.caps();
    assert_eq!(caps["networks"]["storage"]["bridged"], false);
    assert_eq!(caps["networks"]["storage"]["interface"], "veth_b0");
    assert_eq!(caps["networks"]["storage"]["gateway"], "198.51.100.1");
    assert_eq!(caps["networks"]["storage"]["ipv4defaultroute"], false);
    assert_eq!(caps["networks"]["vmnet"]["stp"], "on");

    // Removing both returns the nics to MTU 1500.
    h.setup(json!({"networks": {"storage": {"remove": true}, "vmnet": {"remove": true}}}));
    assert_eq!(h.link("veth_b0").unwrap()["mtu"], 1500);
    assert_eq!(h.link("veth_a0").unwrap()["mtu"], 1500);
    assert!(h.addrs("veth_b0").is_empty());
}

#[test]
fn a_failure_at_each_op_leaves_host_and_running_config_unchanged() {
    let h = Host::new();
    h.setup(json!({"networks": {
        "old": {"nic": "veth_b0", "ipaddr": "203.0.113.5", "prefix": 24, "gateway": "203.0.113.1", "defaultRoute": true},
    }}));
    // A stray address on the nic the next request takes: the plan removes it,
    // a rollback must put it back.
    h.ns.ip(&["addr", "add", "10.77.0.1/16", "dev", "veth_a0"]);
    let before = h.facts();
    let running = h.running();
    let resolv = std::fs::read(h.state.path().join("resolv.conf")).unwrap();
    let req = json!({"networks": {
        "old": {"remove": true},
        "mgmt": {"nic": "veth_a0", "mtu": 9000, "ipaddr": "192.0.2.10", "prefix": 24, "gateway": "192.0.2.1",
                 "defaultRoute": true, "nameservers": ["192.0.2.53"]},
        "store": {"nic": "veth_b1", "bridged": false, "ipaddr": "198.51.100.2", "prefix": 24},
    }});
    let (code, out, err) = h.netswitch(&["--json", "setup", "--dry-run", "-"], Some(&req));
    assert_eq!(code, 0, "{err}");
    let n = serde_json::from_str::<Value>(&out).unwrap()["plan"]["ops"]
        .as_array()
        .unwrap()
        .len();
    assert!(n >= 10, "a multi-op plan ({n} ops)");
    for i in 1..=n {
        let (code, err) = h.setup_code(&req, &["--inject-failure-at", &i.to_string()]);
        assert_eq!(code, 29, "failure at op {i}: {err}");
        assert!(
            err.contains(&format!("op {i} ")) && err.contains("rolled back"),
            "{err}"
        );
        assert!(!err.contains("incompletely"), "op {i}: {err}");
        let now = h.facts();
        assert_eq!(
            now,
            before,
            "failure at op {i} left: {:#?}",
            before.diff(&now)
        );
        assert_eq!(
            h.running(),
            running,
            "failure at op {i} changed the running config"
        );
        assert_eq!(
            std::fs::read(h.state.path().join("resolv.conf")).unwrap(),
            resolv,
            "op {i}: resolv.conf"
        );
    }
    // Without the injected failure the same request goes through.
    h.setup(req);
    assert!(h.link("old").is_none() && h.link("mgmt").is_some());
}

#[test]
fn a_host_that_does_not_verify_is_rolled_back() {
    let h = Host::new();
    h.setup(json!({"networks": {
        "old": {"nic": "veth_b0", "ipaddr": "203.0.113.5", "prefix": 24},
    }}));
    let before = h.facts();
    let running = h.running();
    // Something changes the host between the apply and the verification
    // (here: an MTU set behind netswitch's back): the read-back host is
    // not the desired one, so nothing is kept.
    let req = json!({"networks": {
        "old": {"remove": true},
        "vm": {"nic": "veth_a0", "bridged": true, "mtu": 1400, "ipaddr": "192.0.2.10", "prefix": 24},
    }});
    let (code, err) = h.setup_code(&req, &["--inject-drift"]);
    assert_eq!(code, 29, "{err}");
    assert!(
        err.contains("verification failed") && err.contains("mtu") && err.contains("rolled back"),
        "{err}"
    );
    assert!(!err.contains("incompletely"), "{err}");
    let now = h.facts();
    assert_eq!(now, before, "left: {:#?}", before.diff(&now));
    assert_eq!(h.running(), running);
    // Without the drift the same request goes through.
    h.setup(req);
    assert_eq!(h.link("vm").unwrap()["mtu"], 1400);
}

#[test]
fn a_kernel_refusal_rolls_back_and_names_the_op() {
    let h = Host::new();
    // IPv6 off for the devices made from now on: the kernel refuses the
    // IPv6 address after the bridge and the IPv4 address went in.
    // (Validation refuses a gateway outside its subnet, once the way to
    // get here.)
    h.ns.exec(&["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
    let before = h.facts();
    let (code, err) = h.setup_code(
        &json!({"networks": {"n1": {"nic": "veth_a0", "ipaddr": "192.0.2.10", "prefix": 24,
                                    "ipv6addr": "2001:db8:5::10/64", "gateway": "192.0.2.1", "defaultRoute": true}}}),
        &[],
    );
    assert_eq!(code, 29, "{err}");
    assert!(
        err.contains("2001:db8:5::10") && err.contains("rolled back"),
        "{err}"
    );
    assert_eq!(h.facts(), before);
    assert!(h.running().networks.is_empty());
}

#[test]
fn a_bad_request_changes_nothing() {
    let h = Host::new();
    h.setup(mgmt());
    let before = h.facts();
    let (code, _) = h.setup_code(
        &json!({"networks": {"mgmt": {"nic": "veth_a0", "vlan": 9999}}}),
        &[],
    );
    assert_eq!(code, 26);
    assert_eq!(h.facts(), before);
}

#[test]
fn an_mtu_only_edit_keeps_every_link_up() {
    let h = Host::new();
    h.setup(json!({"networks": {"a": {"nic": "veth_a0"}, "b": {"nic": "veth_b0"}}}));
    // Let the new bridges settle (carrier, IPv6 ifinfo notifications).
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let mut monitor = Command::new("ip")
        .args(["-n", h.ns.name(), "-o", "monitor", "link"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    h.setup(json!({"networks": {"a": {"nic": "veth_a0", "mtu": 9000}}}));
    std::thread::sleep(std::time::Duration::from_millis(300));
    monitor.kill().unwrap();
    let lines: Vec<String> = BufReader::new(monitor.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .collect();
    assert!(!lines.is_empty(), "the edit produced link events");
    for l in &lines {
        assert!(
            !l.contains("state DOWN") && !l.starts_with("Deleted"),
            "a link flapped: {l}"
        );
        assert!(
            l.contains(",UP") || l.contains("<UP"),
            "a link went admin-down: {l}"
        );
    }
    // Network b's links may see IPv6 ifinfo notifications, never a change.
    for l in lines
        .iter()
        .filter(|l| l.contains(" b:") || l.contains("veth_b0"))
    {
        assert!(l.contains("mtu 1500"), "network b changed: {l}");
    }
    let _ = monitor.wait();
    assert_eq!(h.link("a").unwrap()["mtu"], 9000);
}

#[test]
fn a_device_deleted_behind_our_back_comes_back_with_the_next_request() {
    let h = Host::new();
    h.setup(mgmt());
    h.ns.ip(&["link", "del", "mgmt"]);
    h.setup(json!({"networks": {"other": {"nic": "veth_b0", "bridged": false}}}));
    assert_eq!(h.link("veth_a0").unwrap()["master"], "mgmt");
    let mut addrs = h.addrs("mgmt");
    addrs.sort();
    assert_eq!(addrs, vec!["192.0.2.10/24", "2001:db8:1::10/64"]);
    assert!(h
        .routes("-4", "main")
        .iter()
        .any(|r| r["dst"] == "default" && r["dev"] == "mgmt"));
}

/// The gateway and device the kernel picks for `dst` from source `src`.
fn route_get(h: &Host, family: &str, dst: &str, src: &str) -> (String, String) {
    let v = h.ns.ip_json(&[family, "route", "get", dst, "from", src]);
    let r = &v[0];
    (
        r["gateway"].as_str().unwrap_or("-").to_string(),
        r["dev"].as_str().unwrap_or("-").to_string(),
    )
}

#[test]
fn several_gateways_work_at_once_through_source_routing() {
    let h = Host::new();
    h.setup(json!({"networks": {
        "front": {"nic": "veth_a0", "ipaddr": "192.0.2.10", "prefix": 24, "gateway": "192.0.2.1",
                  "ipv6addr": "2001:db8:a::10/64", "ipv6gateway": "2001:db8:a::1", "defaultRoute": true},
        "back": {"nic": "veth_b0", "bridged": false, "ipaddr": "198.51.100.20", "prefix": 24, "gateway": "198.51.100.1",
                 "ipv6addr": "2001:db8:b::20/64", "ipv6gateway": "2001:db8:b::1"},
    }}));
    // Replies leave through the gateway of the network they are from.
    assert_eq!(
        route_get(&h, "-4", "203.0.113.9", "192.0.2.10"),
        ("192.0.2.1".into(), "front".into())
    );
    assert_eq!(
        route_get(&h, "-4", "203.0.113.9", "198.51.100.20"),
        ("198.51.100.1".into(), "veth_b0".into())
    );
    assert_eq!(
        route_get(&h, "-6", "2001:db8:ffff::9", "2001:db8:a::10"),
        ("2001:db8:a::1".into(), "front".into())
    );
    assert_eq!(
        route_get(&h, "-6", "2001:db8:ffff::9", "2001:db8:b::20"),
        ("2001:db8:b::1".into(), "veth_b0".into())
    );
    let caps = h.caps();
    assert_eq!(caps["networks"]["back"]["gateway"], "198.51.100.1");
    assert_eq!(caps["networks"]["back"]["ipv6gateway"], "2001:db8:b::1");
    assert_eq!(caps["networks"]["back"]["ipv4defaultroute"], false);
    assert_eq!(caps["networks"]["front"]["ipv4defaultroute"], true);
    // Removing the second network takes its table and rules with it.
    h.setup(json!({"networks": {"back": {"remove": true}}}));
    let rules = h.ns.ip_json(&["-6", "rule"]).to_string();
    assert!(!rules.contains("2001:db8:b::"), "{rules}");
}

#[test]
fn devices_netswitch_does_not_own_are_left_alone() {
    let h = Host::new();
    h.ns.ip(&["link", "add", "br_foreign", "type", "bridge"]);
    h.ns.ip(&["link", "set", "veth_b1", "master", "br_foreign"]);
    h.ns.ip(&["addr", "add", "10.20.30.40/24", "dev", "br_foreign"]);
    h.ns.ip(&["addr", "add", "10.99.0.1/16", "dev", "veth_a0"]);
    h.setup(mgmt());
    assert!(
        h.addrs("veth_a0").is_empty(),
        "a nic that joins a network loses stray addresses"
    );
    h.setup(json!({"networks": {"mgmt": {"remove": true}}}));
    assert_eq!(h.link("veth_b1").unwrap()["master"], "br_foreign");
    assert_eq!(h.addrs("br_foreign"), vec!["10.20.30.40/24"]);
    assert!(h.caps()["bridges"]["br_foreign"]["ports"] == json!(["veth_b1"]));
}

#[test]
fn a_network_moves_to_another_nic_in_one_request() {
    let h = Host::new();
    h.setup(mgmt());
    let mut moved = mgmt();
    moved["networks"]["mgmt"]["nic"] = json!("veth_b0");
    h.setup(moved);
    assert_eq!(h.link("veth_b0").unwrap()["master"], "mgmt");
    assert!(h.link("veth_a0").unwrap().get("master").is_none());
    let mut addrs = h.addrs("mgmt");
    addrs.sort();
    assert_eq!(addrs, vec!["192.0.2.10/24", "2001:db8:1::10/64"]);
    assert_eq!(h.caps()["networks"]["mgmt"]["ports"], json!(["veth_b0"]));
}

#[test]
fn a_nicless_bridge_carries_its_address_and_goes_away_cleanly() {
    let h = Host::new();
    h.setup(json!({"networks": {"isolated": {"ipaddr": "10.10.0.1", "prefix": 24, "mtu": 9000}}}));
    let br = h.link("isolated").expect("bridge isolated");
    assert_eq!(br["linkinfo"]["info_kind"], "bridge");
    assert_eq!(br["mtu"], 9000);
    assert!(h
        .ns
        .ip_json(&["link", "show", "master", "isolated"])
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(h.addrs("isolated"), vec!["10.10.0.1/24"]);
    let n = &h.caps()["networks"]["isolated"];
    assert_eq!(n["ports"], json!([]));
    assert_eq!(n["southbound"], "");
    h.setup(json!({"networks": {"isolated": {"remove": true}}}));
    assert!(h.link("isolated").is_none());
}

#[test]
fn a_new_default_route_network_takes_the_role_off_the_old_holder() {
    let h = Host::new();
    h.setup(mgmt());
    // The new holder names no name servers: the resolver configuration
    // written for mgmt stays (the host's own is kept when none are given).
    h.setup(json!({"networks": {"store": {
        "nic": "veth_b0", "bridged": false, "ipaddr": "198.51.100.20", "prefix": 24,
        "gateway": "198.51.100.1", "defaultRoute": true}}}));
    let main4 = h.routes("-4", "main");
    let defaults: Vec<&Value> = main4.iter().filter(|r| r["dst"] == "default").collect();
    assert_eq!(defaults.len(), 1, "one IPv4 default route: {main4:?}");
    assert_eq!(defaults[0]["gateway"], "198.51.100.1");
    assert_eq!(defaults[0]["dev"], "veth_b0");
    assert!(
        !h.routes("-6", "main")
            .iter()
            .any(|r| r["dst"] == "default" && r["dev"] == "mgmt"),
        "mgmt's IPv6 default left the main table"
    );
    // mgmt keeps its gateway in its own source-routing table.
    assert!(h
        .routes("-4", MGMT_TABLE)
        .iter()
        .any(|r| r["dst"] == "default" && r["gateway"] == "192.0.2.1"));
    assert_eq!(
        route_get(&h, "-4", "203.0.113.9", "192.0.2.10"),
        ("192.0.2.1".into(), "mgmt".into())
    );
    let resolv = std::fs::read_to_string(h.state.path().join("resolv.conf")).unwrap();
    assert!(resolv.contains("nameserver 192.0.2.53"), "{resolv}");

    let caps = h.caps();
    assert_eq!(caps["networks"]["mgmt"]["ipv4defaultroute"], false);
    assert_eq!(caps["networks"]["mgmt"]["gateway"], "192.0.2.1");
    assert_eq!(caps["networks"]["store"]["ipv4defaultroute"], true);
    assert_eq!(caps["nameservers"], json!(["192.0.2.53"]));
    let running = h.running();
    assert!(!running.networks["mgmt"].default_route);
    assert!(running.networks["mgmt"].nameservers.is_empty());
    assert!(running.networks["store"].default_route);
    h.assert_in_sync();

    // A holder that names name servers replaces the old ones.
    h.setup(json!({"networks": {"store": {
        "nic": "veth_b0", "bridged": false, "ipaddr": "198.51.100.20", "prefix": 24,
        "gateway": "198.51.100.1", "defaultRoute": true, "nameservers": ["198.51.100.53"]}}}));
    assert_eq!(h.caps()["nameservers"], json!(["198.51.100.53"]));
    h.assert_in_sync();
}

#[test]
fn stp_and_bridge_opts_are_edited_on_the_same_bridge() {
    let h = Host::new();
    h.setup(json!({"networks": {"vmnet": {"nic": "veth_a0", "stp": true,
        "custom": {"bridge_opts": "forward_delay=500"}}}}));
    let before = h.link("vmnet").unwrap();
    assert_eq!(before["linkinfo"]["info_data"]["stp_state"], 1);
    h.setup(
        json!({"networks": {"vmnet": {"nic": "veth_a0", "stp": "off",
        "custom": {"bridge_opts": "multicast_snooping=0 forward_delay=300"}}}}),
    );
    let after = h.link("vmnet").unwrap();
    assert_eq!(after["ifindex"], before["ifindex"], "the bridge was kept");
    let info = &after["linkinfo"]["info_data"];
    assert_eq!(info["stp_state"], 0);
    assert_eq!(info["forward_delay"], 300);
    assert_eq!(info["mcast_snooping"], 0);
    let caps = h.caps();
    assert_eq!(caps["networks"]["vmnet"]["stp"], "off");
    assert_eq!(caps["bridges"]["vmnet"]["opts"]["forward_delay"], "300");
    assert_eq!(caps["bridges"]["vmnet"]["opts"]["multicast_snooping"], "0");
    assert_eq!(
        h.running().networks["vmnet"]
            .custom
            .as_ref()
            .and_then(|c| c.bridge_opts.as_deref()),
        Some("forward_delay=300 multicast_snooping=0")
    );
    h.assert_in_sync();
}
