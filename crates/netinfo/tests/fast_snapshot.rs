//! The snapshot of richer namespaces than `snapshot_matches_ip.rs` builds
//! says what `ip` says: every link with its kind, master, MACs, states,
//! VLAN, bond and bridge details; every address, route of every table, and
//! rule (`tests/common`). The bridge options are held to sysfs in
//! `snapshot_matches_ip.rs`, the bond options in `lab_bond_vlan.rs`.
//!
//! `ip` is the reference because the snapshot and live netinfo share one
//! reader per message: there is no second reader in the crate to compare
//! with, and an operator checks a host with `ip`.

use netswitch_model::host::LinkKind;
use netswitch_testkit::{in_lab, Netns};

mod common;
use common::assert_snapshot_matches_ip;

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
fn a_snapshot_of_veths_bridges_tun_vxlan_and_many_tables_matches_ip() {
    let (ns, _other) = fixture();
    let state = assert_snapshot_matches_ip(&ns);

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
fn a_snapshot_of_an_empty_namespace_is_its_loopback() {
    let ns = Netns::new();
    let state = assert_snapshot_matches_ip(&ns);
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
fn a_snapshot_of_bonds_vlans_and_a_bridge_over_them_matches_ip() {
    if !in_lab() {
        eprintln!("skipped: not in the kernel lab (NETSWITCH_LAB=1 unset)");
        return;
    }
    let ns = bond_fixture();
    let state = assert_snapshot_matches_ip(&ns);
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
