//! The legacy planner on hand-built hosts: what it creates, in which order,
//! what it leaves alone.

use netswitch_model::config::Config;
use netswitch_model::host::{Addr, HostState, Link, LinkKind, Route};
use netswitch_model::plan::Op;
use netswitch_model::{prepare, NicPolicy};
use netswitch_switch::legacy::plan;
use serde_json::json;

fn host() -> HostState {
    let mut h = HostState::default();
    for (i, n) in ["veth_a0", "veth_a1", "veth_b0", "eth0"].iter().enumerate() {
        let mut l = Link::new(i as u32 + 1, n, LinkKind::Veth);
        l.mac = Some(format!("02:00:00:00:00:0{i}"));
        l.admin_up = true;
        h.links.insert(n.to_string(), l);
    }
    h
}

fn desired(running: &Config, h: &HostState, req: serde_json::Value) -> Config {
    prepare(
        req.to_string().as_bytes(),
        running,
        h,
        &NicPolicy::default(),
    )
    .unwrap()
    .1
}

fn lines(ops: &[Op]) -> Vec<String> {
    ops.iter().map(|o| o.to_string()).collect()
}

fn pos(ops: &[String], prefix: &str) -> usize {
    ops.iter()
        .position(|o| o.starts_with(prefix))
        .unwrap_or_else(|| panic!("no op {prefix:?} in {ops:#?}"))
}

#[test]
fn bridged_vlan_network_with_static_ip_and_default_route() {
    let h = host();
    let d = desired(
        &Config::default(),
        &h,
        json!({"networks": {"mgmt": {
        "nic": "veth_a0", "vlan": 100, "ipaddr": "192.0.2.10", "prefix": 24, "gateway": "192.0.2.1",
        "defaultRoute": true, "nameservers": ["192.0.2.53"], "mtu": 9000}}}),
    );
    let p = plan(&h, &Config::default(), &d);
    let ops = lines(&p.ops);
    let table = u32::from("192.0.2.10".parse::<std::net::Ipv4Addr>().unwrap());
    for want in [
        "set veth_a0 mtu 9000".to_string(),
        "create vlan veth_a0.100 on veth_a0 id 100 mtu 9000".into(),
        "create bridge mgmt mtu 9000 stp off".into(),
        "set veth_a0.100 master mgmt".into(),
        "add address 192.0.2.10/24 dev mgmt".into(),
        "add route default via 192.0.2.1 dev mgmt table 254".into(),
        format!("add route default via 192.0.2.1 dev mgmt table {table}"),
        format!("add route 192.0.2.0/24 dev mgmt src 192.0.2.10 scope link table {table}"),
        format!("add rule prio 32000 from 192.0.2.0/24 table {table}"),
        format!("add rule prio 32000 from all to 192.0.2.0/24 iif mgmt table {table}"),
    ] {
        assert!(ops.contains(&want), "missing {want:?} in {ops:#?}");
    }
    assert!(pos(&ops, "set veth_a0 mtu") < pos(&ops, "create vlan"));
    assert!(pos(&ops, "create vlan") < pos(&ops, "create bridge"));
    assert!(pos(&ops, "create bridge") < pos(&ops, "set veth_a0.100 master"));
    assert!(pos(&ops, "set mgmt up") < pos(&ops, "add address"));
    assert!(pos(&ops, "add address") < pos(&ops, "add route"));
    assert_eq!(p.nameservers, Some(vec!["192.0.2.53".parse().unwrap()]));
}

#[test]
fn bond_slaves_go_down_before_they_are_enslaved() {
    let h = host();
    let d = desired(
        &Config::default(),
        &h,
        json!({
        "bondings": {"bond0": {"nics": ["veth_a1", "veth_b0"], "options": "mode=1 miimon=100"}},
        "networks": {"n": {"bonding": "bond0", "bridged": false}}}),
    );
    let ops = lines(&plan(&h, &Config::default(), &d).ops);
    assert!(pos(&ops, "create bond bond0 mode=1 miimon=100") < pos(&ops, "set veth_a1 down"));
    assert!(pos(&ops, "set veth_a1 down") < pos(&ops, "set veth_a1 master bond0"));
    assert!(pos(&ops, "set veth_a1 master bond0") < pos(&ops, "set bond0 up"));
    assert!(!ops.iter().any(|o| o.contains("bridge")), "{ops:#?}");
}

#[test]
fn removing_a_network_deletes_only_what_it_owned() {
    let h0 = host();
    let running = desired(
        &Config::default(),
        &h0,
        json!({"networks": {"n": {"nic": "veth_a0", "vlan": 7}}}),
    );
    let mut h = h0.clone();
    for (i, (name, kind)) in [
        ("veth_a0.7", LinkKind::Vlan),
        ("n", LinkKind::Bridge),
        ("foreign", LinkKind::Bridge),
    ]
    .iter()
    .enumerate()
    {
        let mut l = Link::new(10 + i as u32, name, kind.clone());
        l.admin_up = true;
        h.links.insert(name.to_string(), l);
    }
    let d = desired(&running, &h, json!({"networks": {"n": {"remove": true}}}));
    let ops = lines(&plan(&h, &running, &d).ops);
    assert_eq!(ops, vec!["delete link n", "delete link veth_a0.7"]);
}

#[test]
fn a_host_that_already_carries_the_config_needs_nothing() {
    let h0 = host();
    let running = desired(
        &Config::default(),
        &h0,
        json!({"networks": {"n": {"nic": "veth_a0", "bridged": false,
        "ipaddr": "198.51.100.2", "prefix": 24}}}),
    );
    let mut h = h0.clone();
    h.addrs.push(Addr {
        link: "veth_a0".into(),
        address: "198.51.100.2".parse().unwrap(),
        prefix_len: 24,
        scope: "global".into(),
        dynamic: false,
        valid_lft: None,
        preferred_lft: None,
        secondary: false,
    });
    assert!(plan(&h, &running, &running).is_empty());
}

#[test]
fn a_stray_address_on_a_new_bridge_port_is_removed_and_a_foreign_default_route_replaced() {
    let mut h = host();
    h.addrs.push(Addr {
        link: "veth_a0".into(),
        address: "10.9.9.9".parse().unwrap(),
        prefix_len: 8,
        scope: "global".into(),
        dynamic: false,
        valid_lft: None,
        preferred_lft: None,
        secondary: false,
    });
    h.routes.push(Route {
        table: 254,
        dst: "0.0.0.0/0".parse().unwrap(),
        gateway: Some("10.0.0.1".parse().unwrap()),
        oif: Some("eth0".into()),
        prefsrc: None,
        metric: None,
        protocol: "boot".into(),
        scope: "universe".into(),
        kind: "unicast".into(),
    });
    let d = desired(
        &Config::default(),
        &h,
        json!({"networks": {"n": {"nic": "veth_a0",
        "ipaddr": "192.0.2.2", "prefix": 24, "gateway": "192.0.2.1", "defaultRoute": true}}}),
    );
    let ops = lines(&plan(&h, &Config::default(), &d).ops);
    assert!(
        ops.contains(&"delete address 10.9.9.9/8 dev veth_a0".to_string()),
        "{ops:#?}"
    );
    assert!(
        pos(&ops, "delete route default via 10.0.0.1 dev eth0")
            < pos(&ops, "add route default via 192.0.2.1 dev n table 254")
    );
}

#[test]
fn a_device_deleted_behind_our_back_is_created_again() {
    let h0 = host();
    let running = desired(
        &Config::default(),
        &h0,
        json!({"networks": {"n": {"nic": "veth_a0", "vlan": 7}}}),
    );
    let ops = lines(&plan(&h0, &running, &running).ops);
    assert!(
        ops.contains(&"create vlan veth_a0.7 on veth_a0 id 7 mtu 1500".to_string()),
        "{ops:#?}"
    );
    assert!(
        ops.contains(&"create bridge n mtu 1500 stp off".to_string()),
        "{ops:#?}"
    );
}
