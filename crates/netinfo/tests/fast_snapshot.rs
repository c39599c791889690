//! The fast [`snapshot`] (dump bytes read in place) builds exactly the
//! [`HostState`] that [`snapshot_with`] (rtnetlink + netlink-packet-route)
//! builds of the same namespace: every link with its kind, master, MACs,
//! states, speed, bridge options and ports, VLAN and bond details; every
//! address, route of every table, and rule.
//!
//! The two readings are taken one after the other, and bridge timers and
//! address lifetimes tick in between (they are compared as present or
//! absent), while IPv6 autoconfiguration may still be changing the host; so
//! each comparison reads old, new, old, and only judges a round in which the
//! two old readings agree.
//!
//! [`snapshot`]: netswitch_netinfo::snapshot
//! [`snapshot_with`]: netswitch_netinfo::snapshot_with

use netswitch_model::host::{HostState, LinkKind};
use netswitch_testkit::{in_lab, Netns};

/// The rtnetlink reader, on its own runtime and connection.
fn old_snapshot() -> HostState {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (conn, handle, _) = netswitch_netinfo::rtnetlink::new_connection().expect("netlink");
        let driver = tokio::spawn(conn);
        let state = netswitch_netinfo::snapshot_with(&handle)
            .await
            .expect("old snapshot");
        driver.abort();
        state
    })
}

/// The state with its clocks stopped: bridge timers (`*_timer`, in
/// centiseconds, running whenever a bridge is up) and finite address
/// lifetimes (seconds) set to zero, kept only as present or absent. They
/// tick between two readings, and in the kernel lab (TCG) a reading takes
/// longer than a tick.
fn without_clocks(mut s: HostState) -> HostState {
    for link in s.links.values_mut() {
        if let Some(bridge) = link.bridge.as_mut() {
            let options = std::sync::Arc::make_mut(&mut bridge.options);
            for (key, value) in options.iter_mut() {
                if key.ends_with("_timer") {
                    *value = "0".into();
                }
            }
        }
    }
    for a in &mut s.addrs {
        a.valid_lft = a.valid_lft.map(|_| 0);
        a.preferred_lft = a.preferred_lft.map(|_| 0);
    }
    s
}

/// Asserts the fast reader's state equals the old reader's, on a round
/// where nothing moved but the clocks; returns the state compared.
fn assert_readers_agree(ns: &Netns) -> HostState {
    ns.run(|| {
        for _ in 0..50 {
            let before = without_clocks(old_snapshot());
            let fast = without_clocks(netswitch_netinfo::snapshot().expect("fast snapshot"));
            let after = without_clocks(old_snapshot());
            if before != after {
                std::thread::sleep(std::time::Duration::from_millis(20));
                continue;
            }
            for (name, link) in &before.links {
                assert_eq!(fast.links.get(name), Some(link), "link {name}");
            }
            assert_eq!(
                fast.links.keys().collect::<Vec<_>>(),
                before.links.keys().collect::<Vec<_>>()
            );
            assert_eq!(fast.addrs, before.addrs, "addresses");
            assert_eq!(fast.routes, before.routes, "routes");
            assert_eq!(fast.rules, before.rules, "rules");
            assert_eq!(fast, before);
            return fast;
        }
        panic!("the namespace never held still between two old readings");
    })
}

/// veths (one with its peer in another namespace), a bridge with
/// non-default options and two ports, a second bridge left down, a tun and
/// a vxlan device; IPv4/IPv6 addresses (secondary, finite lifetimes, on a
/// bridge); routes in main, 100 and 1000, ECMP, typed routes, a prefsrc;
/// rules of both families with every selector the state keeps.
fn fixture() -> (Netns, Netns) {
    let ns = Netns::new();
    let other = Netns::new();
    ns.veth("veth_a", "veth_b");
    ns.veth("veth_c", "veth_d");
    ns.veth("veth_e", "veth_f");
    ns.ip(&[
        "link",
        "add",
        "veth_x",
        "type",
        "veth",
        "peer",
        "name",
        "veth_y",
        "netns",
        other.name(),
    ]);
    ns.ip(&[
        "link",
        "add",
        "br_t",
        "type",
        "bridge",
        "stp_state",
        "1",
        "forward_delay",
        "400",
        "hello_time",
        "300",
        "max_age",
        "2500",
        "ageing_time",
        "12345",
        "priority",
        "4096",
        "group_fwd_mask",
        "8",
        "vlan_protocol",
        "802.1ad",
        "vlan_default_pvid",
        "7",
        "mcast_snooping",
        "0",
        "mcast_router",
        "2",
        "mcast_querier",
        "1",
        "mcast_igmp_version",
        "3",
        "mcast_mld_version",
        "2",
        "mcast_last_member_interval",
        "200",
        "mcast_stats_enabled",
        "1",
        "no_linklocal_learn",
        "1",
    ]);
    ns.ip(&["link", "add", "br_down", "type", "bridge"]);
    ns.ip(&["link", "set", "veth_c", "master", "br_t"]);
    ns.ip(&["link", "set", "veth_e", "master", "br_t"]);
    ns.ip(&["link", "set", "veth_d", "mtu", "1400"]);
    ns.ip(&["link", "set", "veth_b", "address", "02:aa:bb:cc:dd:ee"]);
    ns.ip(&["tuntap", "add", "dev", "tap_t", "mode", "tap"]);
    ns.ip(&[
        "link",
        "add",
        "vx_t",
        "type",
        "vxlan",
        "id",
        "42",
        "dstport",
        "4789",
        "local",
        "10.10.0.1",
    ]);
    for l in [
        "veth_a", "veth_b", "veth_c", "veth_d", "veth_e", "veth_f", "veth_x", "br_t",
    ] {
        ns.ip(&["link", "set", l, "up"]);
    }

    for (addr, dev) in [
        ("10.10.0.1/24", "veth_a"),
        ("10.10.0.2/24", "veth_a"),
        ("10.20.0.1/24", "br_t"),
        ("10.60.0.1/32", "veth_x"),
    ] {
        ns.ip(&["addr", "add", addr, "dev", dev]);
    }
    ns.ip(&["addr", "add", "fd00:10::1/64", "dev", "veth_a", "nodad"]);
    ns.ip(&["addr", "add", "fd00:20::1/64", "dev", "br_t", "nodad"]);
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

    let routes: [&[&str]; 9] = [
        &[
            "route",
            "add",
            "default",
            "via",
            "10.10.0.254",
            "dev",
            "veth_a",
        ],
        &[
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
        ],
        &[
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
        ],
        &[
            "route",
            "add",
            "10.31.0.0/16",
            "dev",
            "br_t",
            "table",
            "1000",
            "src",
            "10.20.0.1",
        ],
        &[
            "route",
            "add",
            "10.40.0.0/24",
            "nexthop",
            "via",
            "10.10.0.253",
            "dev",
            "veth_a",
            "nexthop",
            "via",
            "10.20.0.253",
            "dev",
            "br_t",
        ],
        &["route", "add", "blackhole", "10.99.0.0/16", "table", "100"],
        &[
            "route",
            "add",
            "unreachable",
            "10.98.0.0/16",
            "metric",
            "50",
        ],
        &[
            "-6",
            "route",
            "add",
            "fd00:99::/48",
            "via",
            "fd00:20::fe",
            "dev",
            "br_t",
            "table",
            "1000",
            "proto",
            "186",
        ],
        &[
            "route",
            "add",
            "10.61.0.0/24",
            "dev",
            "veth_x",
            "scope",
            "link",
        ],
    ];
    for r in routes {
        ns.ip(r);
    }
    let rules: [&[&str]; 4] = [
        &[
            "rule",
            "add",
            "from",
            "10.10.0.0/24",
            "table",
            "100",
            "priority",
            "100",
        ],
        &["rule", "add", "to", "10.31.0.0/16", "table", "1000"],
        &[
            "rule", "add", "iif", "veth_a", "oif", "br_t", "table", "100", "priority", "300",
        ],
        &[
            "-6",
            "rule",
            "add",
            "from",
            "fd00:10::/64",
            "table",
            "1000",
            "priority",
            "400",
        ],
    ];
    for r in rules {
        ns.ip(r);
    }
    (ns, other)
}

#[test]
fn fast_snapshot_equals_the_rtnetlink_snapshot() {
    let (ns, _other) = fixture();
    let state = assert_readers_agree(&ns);

    // The fixture's features really were in the compared state.
    let br = state.links["br_t"].bridge.as_ref().expect("bridge");
    assert!(br.stp);
    assert_eq!(br.ports, ["veth_c", "veth_e"]);
    assert_eq!(br.options["group_fwd_mask"], "0x8");
    assert_eq!(br.options["no_linklocal_learn"], "1");
    assert_eq!(br.options["priority"], "4096");
    assert!(br.options["bridge_id"].starts_with("1000."));
    assert_eq!(state.links["veth_a"].speed, Some(10000));
    assert_eq!(state.links["veth_a"].kind, LinkKind::Veth);
    assert_eq!(state.links["tap_t"].kind, LinkKind::Tun);
    assert_eq!(
        state.links["veth_b"].mac.as_deref(),
        Some("02:aa:bb:cc:dd:ee")
    );
    assert!(state.addrs.iter().any(|a| a.secondary));
    assert!(state
        .addrs
        .iter()
        .any(|a| a.valid_lft.is_some() && a.preferred_lft.is_some()));
    assert!(state.routes.iter().any(|r| r.table == 1000));
    assert!(state.routes.iter().any(|r| r.kind == "blackhole"));
    assert!(state.routes.iter().any(|r| r.prefsrc.is_some()));
    assert!(state
        .rules
        .iter()
        .any(|r| r.iif.is_some() && r.oif.is_some()));
    assert!(state.rules.iter().any(|r| r.family == 6 && r.src.is_some()));
}

#[test]
fn fast_snapshot_of_an_empty_namespace_is_its_loopback() {
    let ns = Netns::new();
    let state = assert_readers_agree(&ns);
    assert_eq!(state.links.keys().collect::<Vec<_>>(), ["lo"]);
    assert_eq!(state.links["lo"].speed, None);
}

/// Two bonds (active-backup with a primary and an ARP target, 802.3ad with
/// non-default options) over dummies, a VLAN on the first, a bridge over
/// the VLAN.
fn bond_fixture() -> Netns {
    let ns = Netns::new();
    for d in ["dummy_1", "dummy_2", "dummy_3", "dummy_4"] {
        ns.ip(&["link", "add", d, "type", "dummy"]);
    }
    ns.ip(&[
        "link",
        "add",
        "bond0",
        "type",
        "bond",
        "mode",
        "active-backup",
        "miimon",
        "100",
        "primary",
        "dummy_2",
    ]);
    ns.ip(&[
        "link",
        "add",
        "bond1",
        "type",
        "bond",
        "mode",
        "802.3ad",
        "miimon",
        "100",
        "lacp_rate",
        "fast",
        "xmit_hash_policy",
        "layer3+4",
        "ad_actor_sys_prio",
        "100",
        "ad_actor_system",
        "02:00:00:00:01:01",
        "min_links",
        "1",
    ]);
    ns.ip(&[
        "link",
        "add",
        "bond2",
        "type",
        "bond",
        "mode",
        "active-backup",
        "arp_interval",
        "1000",
        "arp_ip_target",
        "10.0.0.1,10.0.0.2",
    ]);
    for (slave, bond) in [
        ("dummy_1", "bond0"),
        ("dummy_2", "bond0"),
        ("dummy_3", "bond1"),
        ("dummy_4", "bond1"),
    ] {
        ns.ip(&["link", "set", slave, "master", bond]);
    }
    ns.ip(&[
        "link",
        "add",
        "link",
        "bond0",
        "name",
        "bond0.100",
        "type",
        "vlan",
        "id",
        "100",
    ]);
    ns.ip(&["link", "add", "br_v", "type", "bridge"]);
    ns.ip(&["link", "set", "bond0.100", "master", "br_v"]);
    for l in [
        "dummy_1",
        "dummy_2",
        "dummy_3",
        "dummy_4",
        "bond0",
        "bond1",
        "bond0.100",
        "br_v",
    ] {
        ns.ip(&["link", "set", l, "up"]);
    }
    ns
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn fast_snapshot_equals_the_rtnetlink_snapshot_with_bonds_and_vlans() {
    if !in_lab() {
        eprintln!("skipped: not in the kernel lab (NETSWITCH_LAB=1 unset)");
        return;
    }
    let ns = bond_fixture();
    let state = assert_readers_agree(&ns);
    let b0 = state.links["bond0"].bond.as_ref().expect("bond0");
    assert_eq!(b0.slaves, ["dummy_1", "dummy_2"]);
    assert_eq!(b0.options["primary"], "dummy_2");
    let b1 = state.links["bond1"].bond.as_ref().expect("bond1");
    assert_eq!(b1.options["mode"], "4");
    assert_eq!(b1.options["ad_actor_system"], "02:00:00:00:01:01");
    let b2 = state.links["bond2"].bond.as_ref().expect("bond2");
    assert_eq!(b2.options["arp_ip_target"], "10.0.0.1,10.0.0.2");
    assert!(state.links["dummy_1"].bond_slave.is_some());
    let v = state.links["bond0.100"].vlan.as_ref().expect("vlan");
    assert_eq!((v.id, v.parent.as_str()), (100, "bond0"));
    assert_eq!(
        state.links["br_v"].bridge.as_ref().unwrap().ports,
        ["bond0.100"]
    );
}
