//! A snapshot taken inside a namespace says what `ip` says about the same
//! namespace: every link, address, route of every table, and rule.
//!
//! `ip` is the reference here because operators check a host with it. Each
//! comparison reads `ip`, snapshots, reads `ip` again, and retries until the
//! two `ip` readings agree, so IPv6 autoconfiguration settling in the
//! background cannot make a test flaky.

use std::collections::BTreeMap;

use netswitch_model::host::{HostState, LinkKind};
use netswitch_testkit::Netns;
use serde_json::Value;

mod common;
use common::*;

/// veth_a/veth_b and veth_c/veth_d, veth_c a port of the STP bridge br_t;
/// v4 and v6 addresses (one v4 secondary, one with finite lifetimes);
/// default routes, routes in tables 100 and 1000, an ECMP route, typed
/// routes; rules of both families.
fn fixture() -> Netns {
    let ns = Netns::new();
    ns.veth("veth_a", "veth_b");
    ns.veth("veth_c", "veth_d");
    ns.ip(&["link", "add", "br_t", "type", "bridge", "stp_state", "1"]);
    ns.ip(&["link", "set", "veth_c", "master", "br_t"]);
    ns.ip(&["link", "set", "br_t", "up"]);
    ns.ip(&["link", "set", "veth_d", "mtu", "1400"]);

    for (addr, dev) in [
        ("10.10.0.1/24", "veth_a"),
        ("10.10.0.2/24", "veth_a"), // secondary: same subnet
        ("10.20.0.1/24", "br_t"),
    ] {
        ns.ip(&["addr", "add", addr, "dev", dev]);
    }
    ns.ip(&["addr", "add", "fd00:10::1/64", "dev", "veth_a", "nodad"]);
    ns.ip(&[
        "addr",
        "add",
        "10.50.0.1/24",
        "dev",
        "veth_b",
        "valid_lft",
        "1000",
        "preferred_lft",
        "500",
    ]);

    ns.ip(&[
        "route",
        "add",
        "default",
        "via",
        "10.10.0.254",
        "dev",
        "veth_a",
    ]);
    ns.ip(&[
        "-6",
        "route",
        "add",
        "default",
        "via",
        "fd00:10::fe",
        "dev",
        "veth_a",
        "metric",
        "300",
    ]);
    ns.ip(&[
        "route",
        "add",
        "10.30.0.0/24",
        "via",
        "10.10.0.254",
        "dev",
        "veth_a",
        "table",
        "100",
        "proto",
        "static",
        "metric",
        "50",
    ]);
    ns.ip(&[
        "route",
        "add",
        "default",
        "via",
        "10.10.0.253",
        "table",
        "100",
    ]);
    ns.ip(&[
        "route",
        "add",
        "10.40.0.0/24",
        "dev",
        "veth_a",
        "table",
        "1000",
        "proto",
        "77",
    ]);
    ns.ip(&[
        "-6",
        "route",
        "add",
        "default",
        "via",
        "fd00:10::fe",
        "dev",
        "veth_a",
        "table",
        "100",
    ]);
    ns.ip(&[
        "route",
        "add",
        "10.60.0.0/24",
        "table",
        "100",
        "nexthop",
        "via",
        "10.10.0.252",
        "dev",
        "veth_a",
        "nexthop",
        "via",
        "10.10.0.251",
        "dev",
        "veth_a",
    ]);
    ns.ip(&["route", "add", "blackhole", "10.70.0.0/24"]);
    ns.ip(&[
        "route",
        "add",
        "unreachable",
        "10.71.0.0/24",
        "table",
        "100",
    ]);
    ns.ip(&["route", "add", "prohibit", "10.72.0.0/24"]);
    ns.ip(&[
        "route",
        "add",
        "10.80.0.0/24",
        "dev",
        "veth_a",
        "src",
        "10.10.0.2",
        "proto",
        "dhcp",
    ]);

    ns.ip(&[
        "rule",
        "add",
        "from",
        "10.10.0.0/24",
        "table",
        "100",
        "priority",
        "1000",
    ]);
    ns.ip(&[
        "rule",
        "add",
        "to",
        "10.40.0.0/24",
        "iif",
        "veth_b",
        "table",
        "1000",
    ]);
    ns.ip(&[
        "rule", "add", "oif", "veth_a", "table", "100", "priority", "2000",
    ]);
    ns.ip(&["-6", "rule", "add", "from", "fd00:10::/64", "table", "100"]);
    ns
}

/// Reads `ip` around a snapshot until two `ip` readings agree.
#[test]
fn links_match_ip_link() {
    let ns = fixture();
    // `-d` for the kind; its bridge and port timers tick all the time and
    // are not compared here (bridge_options_match_sysfs does the options).
    let read = || {
        let mut links = ns.ip_json(&["-d", "link"]);
        for l in links.as_array_mut().into_iter().flatten() {
            if let Some(info) = l.get_mut("linkinfo").and_then(Value::as_object_mut) {
                info.remove("info_data");
                info.remove("info_slave_data");
            }
        }
        links
    };
    let (ip, state) = stable(&ns, read);
    let ip = arr(&ip);
    assert_eq!(
        state.links.keys().collect::<Vec<_>>(),
        {
            let mut n: Vec<&str> = ip.iter().filter_map(|l| l["ifname"].as_str()).collect();
            n.sort();
            n
        },
        "same link names"
    );
    for l in ip {
        let name = l["ifname"].as_str().unwrap();
        let ours = &state.links[name];
        assert_eq!(
            u64::from(ours.index),
            l["ifindex"].as_u64().unwrap(),
            "{name} index"
        );
        let kind = l["linkinfo"]["info_kind"].as_str();
        assert_eq!(ours.kind, LinkKind::from_kernel(kind), "{name} kind");
        assert_eq!(ours.master, s(&l["master"]), "{name} master");
        assert_eq!(
            u64::from(ours.mtu),
            l["mtu"].as_u64().unwrap(),
            "{name} mtu"
        );
        assert_eq!(ours.mac, s(&l["address"]), "{name} mac");
        match s(&l["permaddr"]) {
            Some(perm) => assert_eq!(
                ours.perm_mac.as_deref(),
                Some(perm.as_str()),
                "{name} permaddr"
            ),
            None => assert!(
                ours.perm_mac.is_none() || ours.perm_mac == ours.mac,
                "{name} permaddr"
            ),
        }
        assert_eq!(
            ours.oper_state,
            l["operstate"].as_str().unwrap().to_lowercase(),
            "{name} operstate"
        );
        let up = arr(&l["flags"]).iter().any(|f| f == "UP");
        assert_eq!(ours.admin_up, up, "{name} admin up");
    }

    // What the fixture built, said plainly.
    let br = &state.links["br_t"];
    assert_eq!(br.kind, LinkKind::Bridge);
    let bridge = br.bridge.as_ref().expect("br_t has bridge details");
    assert!(bridge.stp);
    assert_eq!(bridge.ports, ["veth_c"]);
    assert_eq!(state.links["veth_c"].master.as_deref(), Some("br_t"));
    assert_eq!(state.links["veth_d"].mtu, 1400);
    assert_eq!(state.links["veth_a"].kind, LinkKind::Veth);
    assert!(state.links["veth_a"].vlan.is_none());
    assert!(state.links["veth_a"].bond.is_none() && state.links["veth_a"].bond_slave.is_none());
}

#[test]
fn bridge_options_match_sysfs() {
    let ns = fixture();
    let state = ns.run(|| netswitch_netinfo::snapshot().expect("snapshot"));
    let bridge = state.links["br_t"].bridge.clone().expect("bridge details");
    let files = ns.exec(&["ls", "/sys/class/net/br_t/bridge"]);
    // Timers count down between the two reads; flush is write-only.
    let volatile = [
        "hello_timer",
        "tcn_timer",
        "topology_change_timer",
        "gc_timer",
        "flush",
    ];
    let mut compared = 0;
    for file in files.split_whitespace() {
        if volatile.contains(&file) {
            continue;
        }
        let sysfs = ns.sysfs(&format!("br_t/bridge/{file}")).expect("readable");
        assert_eq!(
            bridge.options.get(file),
            Some(&sysfs),
            "bridge option {file}"
        );
        compared += 1;
    }
    // Netlink reports vlan_filtering even where the kernel is built without
    // VLAN filtering, which is also when sysfs has no vlan_* files.
    let vlan_only = [
        "vlan_filtering",
        "vlan_protocol",
        "default_pvid",
        "vlan_stats_enabled",
        "vlan_stats_per_port",
    ];
    for key in bridge.options.keys() {
        assert!(
            files.split_whitespace().any(|f| f == key) || vlan_only.contains(&key.as_str()),
            "option {key} has no sysfs file of that name"
        );
    }
    assert!(compared >= 30, "only {compared} options compared");
    assert_eq!(bridge.options["stp_state"], "1");
    assert_eq!(bridge.options["forward_delay"], "1500");
}

#[test]
fn nic_speed_matches_sysfs() {
    let ns = fixture();
    let state = ns.run(|| netswitch_netinfo::snapshot().expect("snapshot"));
    for nic in ["veth_a", "veth_b"] {
        let sysfs: u32 = ns.sysfs(&format!("{nic}/speed")).unwrap().parse().unwrap();
        assert_eq!(state.links[nic].speed, Some(sysfs), "{nic} speed");
    }
    assert_eq!(state.links["lo"].speed, None, "loopback has no speed");
    assert_eq!(state.links["br_t"].speed, None, "speed is for nics only");
}

#[test]
fn addresses_match_ip_addr() {
    let ns = fixture();
    let (ip, state) = stable(&ns, || ns.ip_json(&["addr"]));
    let mut theirs = ip_addr_rows(&ip);
    let mut ours: Vec<AddrRow> = state.addrs.iter().map(our_addr_row).collect();
    theirs.sort();
    ours.sort();
    assert_addrs_equal(ours, &theirs);

    let secondary = state
        .addrs
        .iter()
        .find(|a| a.address.to_string() == "10.10.0.2")
        .unwrap();
    assert!(secondary.secondary && secondary.link == "veth_a" && secondary.scope == "global");
    let finite = state
        .addrs
        .iter()
        .find(|a| a.address.to_string() == "10.50.0.1")
        .unwrap();
    assert!(finite.dynamic);
    assert!(finite.valid_lft.is_some_and(|v| v <= 1000 && v > 900));
    let v6 = state
        .addrs
        .iter()
        .find(|a| a.address.to_string() == "fd00:10::1")
        .unwrap();
    assert_eq!((v6.prefix_len, v6.valid_lft, v6.dynamic), (64, None, false));
}

#[test]
fn routes_of_every_table_match_ip_route() {
    let ns = fixture();
    let read = || {
        Value::Array(vec![
            ns.ip_json(&["-4", "route", "show", "table", "all"]),
            ns.ip_json(&["-6", "route", "show", "table", "all"]),
        ])
    };
    let (ip, state) = stable(&ns, read);
    let mut theirs: Vec<RouteRow> = arr(&ip[0])
        .iter()
        .map(|r| ip_route_row(r, false))
        .chain(arr(&ip[1]).iter().map(|r| ip_route_row(r, true)))
        .collect();
    let mut ours: Vec<RouteRow> = state.routes.iter().map(our_route_row).collect();
    theirs.sort();
    ours.sort();
    assert_eq!(ours, theirs);

    let find = |table: u32, dst: &str| {
        state
            .routes
            .iter()
            .find(|r| r.table == table && r.dst.to_string() == dst)
            .unwrap_or_else(|| panic!("no {dst} in table {table}"))
    };
    let r = find(100, "10.30.0.0/24");
    assert_eq!((r.protocol.as_str(), r.metric), ("static", Some(50)));
    assert_eq!(find(1000, "10.40.0.0/24").protocol, "77");
    assert!(find(254, "0.0.0.0/0").is_default());
    assert_eq!(
        find(100, "::/0").gateway.map(|g| g.to_string()).as_deref(),
        Some("fd00:10::fe")
    );
    assert_eq!(find(254, "10.70.0.0/24").kind, "blackhole");
    assert_eq!(find(100, "10.71.0.0/24").kind, "unreachable");
    assert_eq!(find(254, "10.80.0.0/24").protocol, "dhcp");
    assert_eq!(find(255, "10.10.0.1/32").kind, "local");
}

#[test]
fn rules_match_ip_rule() {
    let ns = fixture();
    let read = || Value::Array(vec![ns.ip_json(&["rule"]), ns.ip_json(&["-6", "rule"])]);
    let (ip, state) = stable(&ns, read);
    let mut theirs: Vec<RuleRow> = arr(&ip[0])
        .iter()
        .map(|r| ip_rule_row(r, false))
        .chain(arr(&ip[1]).iter().map(|r| ip_rule_row(r, true)))
        .collect();
    let mut ours: Vec<RuleRow> = state.rules.iter().map(our_rule_row).collect();
    theirs.sort();
    ours.sort();
    assert_eq!(ours, theirs);

    let from = state
        .rules
        .iter()
        .find(|r| r.priority == Some(1000))
        .expect("the from-rule");
    assert_eq!(
        (from.family, from.table, from.src.map(|n| n.to_string())),
        (4, 100, Some("10.10.0.0/24".to_string()))
    );
    assert!(state.rules.iter().any(|r| r.family == 6 && r.table == 100));
}

#[test]
fn entering_a_missing_namespace_names_it() {
    let err = std::thread::spawn(|| netswitch_netinfo::enter_netns("ns-test-does-not-exist"))
        .join()
        .unwrap()
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("ns-test-does-not-exist"), "{text}");
    assert!(matches!(
        err,
        netswitch_netinfo::NetinfoError::NetnsOpen { .. }
    ));
}

#[test]
fn a_snapshot_serializes_and_round_trips() {
    let ns = fixture();
    let state = ns.run(|| netswitch_netinfo::snapshot().expect("snapshot"));
    let json = serde_json::to_string(&state).unwrap();
    let back: HostState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, state);
    let by_kind: BTreeMap<String, usize> =
        state.links.values().fold(BTreeMap::new(), |mut m, l| {
            *m.entry(format!("{:?}", l.kind)).or_default() += 1;
            m
        });
    assert_eq!(by_kind.get("Veth"), Some(&4));
}
