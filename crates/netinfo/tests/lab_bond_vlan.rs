//! Bonds and VLANs, which only the kernel lab can make (this machine's
//! kernel has no bonding, 8021q or dummy module). Run by the lab with
//! `tests/lab/run cargo test -p netswitch-netinfo -- --ignored`.
//!
//! The reference is sysfs as the namespace sees it (`ip netns exec` mounts
//! the namespace's own `/sys`), the interface VDSM itself reads bonds from.

use netswitch_model::host::{HostState, LinkKind};
use netswitch_testkit::{in_lab, Netns};

/// Options whose sysfs value is `name number` (`802.3ad 4`); the snapshot
/// keeps the number.
const ENUMS: [&str; 9] = [
    "mode",
    "xmit_hash_policy",
    "lacp_rate",
    "arp_validate",
    "fail_over_mac",
    "primary_reselect",
    "ad_select",
    "arp_all_targets",
    "lacp_active",
];

/// Two dummy-backed bonds (active-backup with a primary, and 802.3ad with
/// non-default options), VLAN 100 on the first, a bridge over that VLAN.
fn fixture() -> Netns {
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
        "updelay",
        "200",
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
        "min_links",
        "1",
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

fn snapshot(ns: &Netns) -> HostState {
    ns.run(|| netswitch_netinfo::snapshot().expect("snapshot"))
}

/// Compares every option of `bond` that has a sysfs file; returns how many.
fn options_match_sysfs(ns: &Netns, state: &HostState, bond: &str) -> usize {
    let info = state.links[bond].bond.as_ref().expect("bond details");
    let mut compared = 0;
    for (key, ours) in &info.options {
        let Some(sysfs) = ns.sysfs(&format!("{bond}/bonding/{key}")) else {
            continue; // netlink-only option (coupled_control...) or unreadable
        };
        let want = if ENUMS.contains(&key.as_str()) {
            sysfs.split_whitespace().last().unwrap_or("").to_string()
        } else if key == "arp_ip_target" || key == "ns_ip6_target" {
            sysfs.split_whitespace().collect::<Vec<_>>().join(",")
        } else {
            sysfs
        };
        assert_eq!(ours, &want, "{bond} option {key} (sysfs)");
        compared += 1;
    }
    compared
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn bond_vlan_and_bridge_details_match_sysfs() {
    if !in_lab() {
        eprintln!("skipped: not in the kernel lab (NETSWITCH_LAB=1 unset)");
        return;
    }
    let ns = fixture();
    // An active-backup bond settles on its primary once the primary has
    // been up for updelay.
    let mut state = snapshot(&ns);
    for _ in 0..100 {
        let active = state.links["bond0"]
            .bond
            .as_ref()
            .and_then(|b| b.active_slave.clone());
        if active.as_deref() == Some("dummy_2") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        state = snapshot(&ns);
    }

    for bond in ["bond0", "bond1"] {
        let link = &state.links[bond];
        assert_eq!(link.kind, LinkKind::Bond);
        let info = link.bond.as_ref().unwrap();
        let n = options_match_sysfs(&ns, &state, bond);
        assert!(n >= 20, "{bond}: only {n} options compared with sysfs");
        for key in [
            "mode",
            "miimon",
            "updelay",
            "downdelay",
            "xmit_hash_policy",
            "lacp_rate",
            "arp_interval",
            "arp_validate",
            "arp_all_targets",
            "primary",
            "primary_reselect",
            "fail_over_mac",
            "resend_igmp",
            "num_grat_arp",
            "num_unsol_na",
            "all_slaves_active",
            "min_links",
            "lp_interval",
            "packets_per_slave",
            "ad_select",
            "tlb_dynamic_lb",
            "peer_notif_delay",
            "arp_ip_target",
        ] {
            assert!(info.options.contains_key(key), "{bond} lacks option {key}");
        }
        let mut sysfs_slaves: Vec<String> = ns
            .sysfs(&format!("{bond}/bonding/slaves"))
            .unwrap()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        sysfs_slaves.sort();
        let mut ours = info.slaves.clone();
        ours.sort();
        assert_eq!(ours, sysfs_slaves, "{bond} slaves");
        let sysfs_active = ns.sysfs(&format!("{bond}/bonding/active_slave")).unwrap();
        assert_eq!(
            info.active_slave.clone().unwrap_or_default(),
            sysfs_active,
            "{bond} active slave"
        );
        for slave in &info.slaves {
            let s = &state.links[slave];
            assert_eq!(s.master.as_deref(), Some(bond));
            let perm = ns
                .sysfs(&format!("{slave}/bonding_slave/perm_hwaddr"))
                .unwrap();
            assert_eq!(
                s.bond_slave.as_ref().and_then(|b| b.perm_mac.as_deref()),
                Some(perm.as_str()),
                "{slave} perm_hwaddr"
            );
        }
    }

    let b0 = state.links["bond0"].bond.as_ref().unwrap();
    assert_eq!(b0.options["mode"], "1");
    assert_eq!(b0.options["miimon"], "100");
    assert_eq!(b0.options["updelay"], "200");
    assert_eq!(b0.options["primary"], "dummy_2");
    assert_eq!(b0.slaves, ["dummy_1", "dummy_2"]);
    assert_eq!(
        b0.active_slave.as_deref(),
        Some("dummy_2"),
        "the primary is active"
    );
    // In active-backup every slave takes the bond's MAC (the first slave's);
    // the second slave's permanent MAC is still its own.
    let d2 = &state.links["dummy_2"];
    assert_eq!(d2.mac, state.links["bond0"].mac);
    let d2_perm = d2.bond_slave.as_ref().and_then(|b| b.perm_mac.clone());
    assert!(
        d2_perm.is_some() && d2_perm != d2.mac,
        "dummy_2 keeps its own permanent MAC"
    );

    let b1 = state.links["bond1"].bond.as_ref().unwrap();
    assert_eq!(b1.options["mode"], "4");
    assert_eq!(b1.options["lacp_rate"], "1");
    assert_eq!(b1.options["xmit_hash_policy"], "1");
    assert_eq!(b1.options["ad_actor_sys_prio"], "100");
    assert_eq!(b1.options["arp_ip_target"], "");

    let vlan = &state.links["bond0.100"];
    assert_eq!(vlan.kind, LinkKind::Vlan);
    let v = vlan.vlan.as_ref().expect("vlan details");
    assert_eq!((v.id, v.parent.as_str()), (100, "bond0"));
    let ip = ns.ip_json(&["-d", "link", "show", "bond0.100"]);
    assert_eq!(ip[0]["linkinfo"]["info_data"]["id"], 100);
    assert_eq!(ip[0]["link"], "bond0");
    assert_eq!(vlan.master.as_deref(), Some("br_v"));

    let br = state.links["br_v"].bridge.as_ref().expect("bridge details");
    assert_eq!(br.ports, ["bond0.100"]);
    assert!(!br.stp);
    assert_eq!(state.links["dummy_1"].kind, LinkKind::Dummy);
    assert_eq!(state.links["dummy_1"].speed, None, "speed is for nics only");
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn arp_targets_are_comma_separated() {
    if !in_lab() {
        eprintln!("skipped: not in the kernel lab (NETSWITCH_LAB=1 unset)");
        return;
    }
    let ns = Netns::new();
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
        "arp_validate",
        "all",
    ]);
    let state = snapshot(&ns);
    let o = &state.links["bond2"].bond.as_ref().unwrap().options;
    assert_eq!(o["arp_ip_target"], "10.0.0.1,10.0.0.2");
    assert_eq!(o["arp_interval"], "1000");
    assert_eq!(o["arp_validate"], "3");
    assert_eq!(o["miimon"], "0");
    assert!(options_match_sysfs(&ns, &state, "bond2") >= 20);
}
