//! Bonds and VLANs applied by `netswitch setup`: these need the kernel lab
//! (bonding, 8021q and dummy modules), so they are ignored on the machine's
//! own kernel and run by `tests/lab/run` with `--ignored`.

mod common;

use common::Host;
use serde_json::{json, Value};

fn vlan_of(h: &Host, dev: &str) -> (String, u64) {
    let l = h.link(dev).unwrap_or_else(|| panic!("{dev} missing"));
    let id = l["linkinfo"]["info_data"]["id"].as_u64().unwrap();
    (l["link"].as_str().unwrap_or_default().to_string(), id)
}

fn bonded_vlans() -> Value {
    json!({
        "bondings": {"bond0": {"nics": ["dummy_1", "dummy_2"], "options": "mode=802.3ad miimon=100 lacp_rate=fast"}},
        "networks": {
            "vmnet100": {"bonding": "bond0", "vlan": 100, "mtu": 9000},
            "vmnet200": {"bonding": "bond0", "vlan": 200},
            "mgmt": {"bonding": "bond0", "bridged": false, "ipaddr": "192.0.2.10", "prefix": 24},
        }
    })
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn bridged_vlans_on_a_bond() {
    let Some(h) = Host::lab() else { return };
    h.setup(bonded_vlans());
    assert_eq!(h.sysfs("bond0/bonding/mode"), "802.3ad 4");
    assert_eq!(h.sysfs("bond0/bonding/miimon"), "100");
    assert_eq!(h.sysfs("bond0/bonding/lacp_rate"), "fast 1");
    let mut slaves: Vec<String> = h
        .sysfs("bond0/bonding/slaves")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    slaves.sort();
    assert_eq!(slaves, vec!["dummy_1", "dummy_2"]);
    assert_eq!(vlan_of(&h, "bond0.100"), ("bond0".into(), 100));
    assert_eq!(vlan_of(&h, "bond0.200"), ("bond0".into(), 200));
    assert_eq!(h.link("bond0.100").unwrap()["master"], "vmnet100");
    assert_eq!(h.link("bond0.100").unwrap()["mtu"], 9000);
    assert_eq!(h.link("bond0.200").unwrap()["mtu"], 1500);
    assert_eq!(
        h.link("bond0").unwrap()["mtu"],
        9000,
        "the bond carries the max of its networks"
    );
    assert_eq!(
        h.link("dummy_1").unwrap()["mtu"],
        9000,
        "slaves follow the bond"
    );
    assert_eq!(
        h.addrs("bond0"),
        vec!["192.0.2.10/24"],
        "the bridgeless untagged network's address is on the bond"
    );

    let caps = h.caps();
    let b = &caps["bondings"]["bond0"];
    assert_eq!(b["slaves"], json!(["dummy_1", "dummy_2"]));
    assert_eq!(b["opts"]["mode"], "4");
    assert_eq!(b["opts"]["lacp_rate"], "1");
    assert_eq!(caps["vlans"]["bond0.100"]["iface"], "bond0");
    assert_eq!(caps["vlans"]["bond0.100"]["vlanid"], 100);
    assert_eq!(caps["networks"]["vmnet100"]["southbound"], "bond0.100");
    assert_eq!(caps["networks"]["vmnet100"]["vlanid"], 100);
    assert_eq!(caps["networks"]["mgmt"]["iface"], "bond0");
    assert_eq!(caps["networks"]["mgmt"]["addr"], "192.0.2.10");
    assert!(caps["nics"]["dummy_1"]["permhwaddr"].is_string());
    assert_eq!(caps["bondings"]["bond0"]["mtu"], "9000");
    h.assert_in_sync();

    // The 9000 network leaves: the bond and its slaves fall back to the
    // max of the networks left on them, without touching those networks.
    h.setup(json!({"networks": {"vmnet100": {"remove": true}}}));
    assert!(h.link("bond0.100").is_none() && h.link("vmnet100").is_none());
    assert_eq!(h.link("bond0").unwrap()["mtu"], 1500);
    assert_eq!(h.link("dummy_1").unwrap()["mtu"], 1500);
    assert_eq!(h.link("bond0.200").unwrap()["master"], "vmnet200");
    assert_eq!(h.addrs("bond0"), vec!["192.0.2.10/24"]);
    let caps = h.caps();
    assert_eq!(caps["bondings"]["bond0"]["mtu"], "1500");
    assert!(caps["networks"].get("vmnet100").is_none());
    h.assert_in_sync();

    // Tear down: everything owned goes, the dummies stay.
    h.setup(
        json!({"networks": {"vmnet200": {"remove": true}, "mgmt": {"remove": true}},
                   "bondings": {"bond0": {"remove": true}}}),
    );
    for dev in ["bond0", "bond0.100", "bond0.200", "vmnet100", "vmnet200"] {
        assert!(h.link(dev).is_none(), "{dev} left over");
    }
    assert_eq!(h.link("dummy_1").unwrap()["mtu"], 1500);
    assert!(h.running().networks.is_empty() && h.running().bonds.is_empty());
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn bond_options_slaves_and_mode_are_edited() {
    let Some(h) = Host::lab() else { return };
    h.setup(bonded_vlans());
    let mac = h.link("bond0").unwrap()["address"].clone();
    // New miimon, a slave swapped.
    h.setup(json!({"bondings": {"bond0": {"nics": ["dummy_1", "dummy_3"], "options": "mode=4 miimon=200 lacp_rate=fast"}}}));
    assert_eq!(h.sysfs("bond0/bonding/miimon"), "200");
    let mut slaves: Vec<String> = h
        .sysfs("bond0/bonding/slaves")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    slaves.sort();
    assert_eq!(slaves, vec!["dummy_1", "dummy_3"]);
    assert!(h.link("dummy_2").unwrap().get("master").is_none());
    assert_eq!(h.link("dummy_3").unwrap()["mtu"], 9000);
    assert_eq!(
        h.link("bond0.100").unwrap()["master"],
        "vmnet100",
        "the VLANs stayed"
    );
    // An 802.3ad actor option, which the kernel takes only on a down bond.
    h.setup(json!({"bondings": {"bond0": {"nics": ["dummy_1", "dummy_3"], "options": "mode=4 miimon=200 lacp_rate=slow"}}}));
    assert_eq!(h.sysfs("bond0/bonding/lacp_rate"), "slow 0");
    assert!(h.link("bond0").unwrap()["flags"]
        .as_array()
        .unwrap()
        .contains(&json!("UP")));
    assert_eq!(
        h.sysfs("bond0/bonding/slaves").split_whitespace().count(),
        2
    );
    // Mode change.
    h.setup(json!({"bondings": {"bond0": {"nics": ["dummy_1", "dummy_3"], "options": "mode=active-backup miimon=100"}}}));
    assert_eq!(h.sysfs("bond0/bonding/mode"), "active-backup 1");
    assert_eq!(h.caps()["bondings"]["bond0"]["opts"]["mode"], "1");
    assert!(!h.caps()["bondings"]["bond0"]["active_slave"]
        .as_str()
        .unwrap()
        .is_empty());
    assert_eq!(
        h.link("bond0").unwrap()["address"],
        mac,
        "the bond kept its MAC"
    );
    // A set hwaddr.
    h.setup(json!({"bondings": {"bond0": {"nics": ["dummy_1", "dummy_3"], "options": "mode=1", "hwaddr": "02:11:22:33:44:55"}}}));
    assert_eq!(h.link("bond0").unwrap()["address"], "02:11:22:33:44:55");
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn untagged_and_tagged_on_one_nic_and_the_same_tag_on_two() {
    let Some(h) = Host::lab() else { return };
    h.setup(json!({"networks": {
        "plain": {"nic": "dummy_1"},
        "t10a": {"nic": "dummy_1", "vlan": 10},
        "t10b": {"nic": "dummy_2", "vlan": 10, "bridged": false, "ipaddr": "198.51.100.2", "prefix": 24},
        "t0": {"nic": "dummy_3", "vlan": 0},
        "t4094": {"nic": "dummy_4", "vlan": 4094},
    }}));
    assert_eq!(h.link("dummy_1").unwrap()["master"], "plain");
    assert_eq!(vlan_of(&h, "dummy_1.10"), ("dummy_1".into(), 10));
    assert_eq!(h.link("dummy_1.10").unwrap()["master"], "t10a");
    assert_eq!(vlan_of(&h, "dummy_2.10"), ("dummy_2".into(), 10));
    assert_eq!(h.addrs("dummy_2.10"), vec!["198.51.100.2/24"]);
    assert_eq!(vlan_of(&h, "dummy_3.0"), ("dummy_3".into(), 0));
    assert_eq!(vlan_of(&h, "dummy_4.4094"), ("dummy_4".into(), 4094));
    assert_eq!(h.link("dummy_4.4094").unwrap()["master"], "t4094");
    let caps = h.caps();
    assert_eq!(caps["vlans"]["dummy_4.4094"]["vlanid"], 4094);
    assert_eq!(caps["networks"]["t4094"]["vlanid"], 4094);
    assert_eq!(caps["networks"]["t10b"]["interface"], "dummy_2.10");
    assert_eq!(caps["networks"]["t10b"]["addr"], "198.51.100.2");
    assert_eq!(caps["networks"]["plain"]["ports"], json!(["dummy_1"]));
    assert_eq!(caps["bridges"]["plain"]["stp"], "off");
    h.assert_in_sync();
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn a_network_moves_from_a_bond_to_one_of_its_slaves_in_one_request() {
    let Some(h) = Host::lab() else { return };
    h.setup(json!({"bondings": {"bond0": {"nics": ["dummy_1", "dummy_2"], "options": "mode=1"}},
                   "networks": {"n": {"bonding": "bond0", "vlan": 5, "ipaddr": "192.0.2.7", "prefix": 24}}}));
    h.setup(json!({"bondings": {"bond0": {"remove": true}},
                   "networks": {"n": {"nic": "dummy_1", "vlan": 5, "ipaddr": "192.0.2.7", "prefix": 24}}}));
    assert!(h.link("bond0").is_none());
    assert_eq!(vlan_of(&h, "dummy_1.5"), ("dummy_1".into(), 5));
    assert_eq!(h.link("dummy_1.5").unwrap()["master"], "n");
    assert_eq!(h.addrs("n"), vec!["192.0.2.7/24"]);
    let caps = h.caps();
    assert!(caps["bondings"].get("bond0").is_none());
    assert_eq!(caps["networks"]["n"]["southbound"], "dummy_1.5");
    h.assert_in_sync();
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn a_network_moves_from_a_nic_to_a_new_bond_of_that_nic_in_one_request() {
    let Some(h) = Host::lab() else { return };
    h.setup(json!({"networks": {"n": {"nic": "dummy_1", "vlan": 5, "ipaddr": "192.0.2.7", "prefix": 24}}}));
    h.setup(json!({"bondings": {"bond0": {"nics": ["dummy_1", "dummy_2"], "options": "mode=1"}},
                   "networks": {"n": {"bonding": "bond0", "vlan": 5, "ipaddr": "192.0.2.7", "prefix": 24}}}));
    assert!(h.link("dummy_1.5").is_none());
    assert_eq!(h.link("dummy_1").unwrap()["master"], "bond0");
    assert_eq!(vlan_of(&h, "bond0.5"), ("bond0".into(), 5));
    assert_eq!(h.link("bond0.5").unwrap()["master"], "n");
    assert_eq!(h.addrs("n"), vec!["192.0.2.7/24"]);
    let caps = h.caps();
    assert_eq!(caps["networks"]["n"]["southbound"], "bond0.5");
    assert_eq!(
        caps["bondings"]["bond0"]["slaves"],
        json!(["dummy_1", "dummy_2"])
    );
    h.assert_in_sync();
}

/// Asserts that none of `devs` went down or away in `events`.
fn assert_stayed_up(events: &[String], devs: &[&str]) {
    for l in events {
        let Some(dev) = devs
            .iter()
            .find(|d| l.contains(&format!(" {d}:")) || l.contains(&format!(" {d}@")))
        else {
            continue;
        };
        assert!(
            !l.starts_with("Deleted") && !l.contains("state DOWN") && !l.contains("NO-CARRIER"),
            "{dev} flapped: {l}"
        );
        assert!(
            l.contains(",UP") || l.contains("<UP"),
            "{dev} went admin-down: {l}"
        );
    }
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn an_mtu_only_edit_on_a_bond_flaps_no_link() {
    let Some(h) = Host::lab() else { return };
    h.setup(bonded_vlans());
    // Let the new links settle (carrier, IPv6 ifinfo notifications).
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let ((), events) = h.link_events(|| {
        h.setup(json!({"networks": {"vmnet100": {"bonding": "bond0", "vlan": 100, "mtu": 4000}}}))
    });
    assert!(
        events
            .iter()
            .any(|l| l.contains(" bond0:") && l.contains("mtu 4000 ")),
        "the bond's MTU change was seen: {events:#?}"
    );
    assert_stayed_up(
        &events,
        &[
            "dummy_1",
            "dummy_2",
            "bond0",
            "bond0.100",
            "bond0.200",
            "vmnet100",
            "vmnet200",
        ],
    );
    for l in events
        .iter()
        .filter(|l| l.contains("vmnet200") || l.contains("bond0.200"))
    {
        assert!(l.contains("mtu 1500"), "network vmnet200 changed: {l}");
    }
    assert_eq!(h.link("bond0").unwrap()["mtu"], 4000);
    assert_eq!(h.link("dummy_2").unwrap()["mtu"], 4000);
    assert_eq!(h.link("vmnet100").unwrap()["mtu"], 4000);
    assert_eq!(h.caps()["networks"]["vmnet100"]["mtu"], "4000");
    h.assert_in_sync();
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn an_existing_unowned_bond_is_adopted_with_its_mac() {
    let Some(h) = Host::lab() else { return };
    h.ns.ip(&[
        "link",
        "add",
        "bond7",
        "type",
        "bond",
        "mode",
        "active-backup",
    ]);
    h.ns.ip(&["link", "set", "bond7", "address", "02:aa:bb:cc:dd:ee"]);
    h.ns.ip(&["link", "set", "dummy_4", "down"]);
    h.ns.ip(&["link", "set", "dummy_4", "master", "bond7"]);
    h.setup(
        json!({"bondings": {"bond7": {"nics": ["dummy_3", "dummy_4"], "options": "mode=1"}},
                   "networks": {"n": {"bonding": "bond7"}}}),
    );
    assert_eq!(h.link("bond7").unwrap()["address"], "02:aa:bb:cc:dd:ee");
    assert_eq!(h.link("bond7").unwrap()["master"], "n");
    let mut slaves: Vec<String> = h
        .sysfs("bond7/bonding/slaves")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    slaves.sort();
    assert_eq!(slaves, vec!["dummy_3", "dummy_4"]);
    let caps = h.caps();
    assert_eq!(caps["bondings"]["bond7"]["hwaddr"], "02:aa:bb:cc:dd:ee");
    assert_eq!(caps["networks"]["n"]["ports"], json!(["bond7"]));
    h.assert_in_sync();
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn a_failure_at_each_op_of_a_bond_plan_leaves_no_trace() {
    let Some(h) = Host::lab() else { return };
    h.setup(json!({"networks": {"old": {"nic": "dummy_4", "vlan": 44}}}));
    let before = h.facts();
    let running = h.running();
    let req = bonded_vlans();
    let (code, out, _) = h.netswitch(&["--json", "setup", "--dry-run", "-"], Some(&req));
    assert_eq!(code, 0);
    let n = serde_json::from_str::<Value>(&out).unwrap()["plan"]["ops"]
        .as_array()
        .unwrap()
        .len();
    for i in 1..=n {
        let (code, err) = h.setup_code(&req, &["--inject-failure-at", &i.to_string()]);
        assert_eq!(code, 29, "op {i}: {err}");
        assert!(!err.contains("incompletely"), "op {i}: {err}");
        assert_eq!(h.facts(), before, "op {i}: {:#?}", before.diff(&h.facts()));
        assert_eq!(h.running(), running);
    }
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn a_vlan_device_deleted_behind_our_back_is_recreated() {
    let Some(h) = Host::lab() else { return };
    h.setup(json!({"networks": {"v": {"nic": "dummy_1", "vlan": 30}}}));
    h.ns.ip(&["link", "del", "dummy_1.30"]);
    h.setup(json!({"networks": {"w": {"nic": "dummy_2"}}}));
    assert_eq!(vlan_of(&h, "dummy_1.30"), ("dummy_1".into(), 30));
    assert_eq!(h.link("dummy_1.30").unwrap()["master"], "v");
    assert_eq!(h.caps()["networks"]["v"]["southbound"], "dummy_1.30");
    h.assert_in_sync();
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn a_bond_in_every_mode_by_name_and_by_number() {
    let Some(h) = Host::lab() else { return };
    let names = [
        "balance-rr",
        "active-backup",
        "balance-xor",
        "broadcast",
        "802.3ad",
        "balance-tlb",
        "balance-alb",
    ];
    for (n, name) in names.iter().enumerate() {
        // Alternate the spelling: by name for even modes, by number for odd.
        let mode = if n % 2 == 0 {
            name.to_string()
        } else {
            n.to_string()
        };
        h.setup(json!({"bondings": {"bond0": {"nics": ["dummy_1", "dummy_2"], "options": format!("mode={mode} miimon=100")}},
                       "networks": {"n": {"bonding": "bond0"}}}));
        assert_eq!(h.sysfs("bond0/bonding/mode"), format!("{name} {n}"));
        assert_eq!(h.caps()["bondings"]["bond0"]["opts"]["mode"], n.to_string());
        assert_eq!(h.link("bond0").unwrap()["master"], "n");
    }
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn a_slave_moves_between_bonds_without_touching_the_other_slaves() {
    let Some(h) = Host::lab() else { return };
    h.setup(json!({"bondings": {
        "bond0": {"nics": ["dummy_1", "dummy_2"], "options": "mode=1"},
        "bond1": {"nics": ["dummy_3"], "options": "mode=1"}}}));
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let ((), events) = h.link_events(|| {
        h.setup(json!({"bondings": {
            "bond0": {"nics": ["dummy_1"], "options": "mode=1"},
            "bond1": {"nics": ["dummy_2", "dummy_3"], "options": "mode=1"}}}))
    });
    // dummy_2 goes down to change bonds; nothing else does.
    assert!(
        events
            .iter()
            .any(|l| l.contains(" dummy_2:") && l.contains("master bond1")),
        "dummy_2 joining bond1 was seen: {events:#?}"
    );
    assert_stayed_up(&events, &["dummy_1", "dummy_3", "bond0", "bond1"]);
    assert_eq!(h.sysfs("bond0/bonding/slaves"), "dummy_1");
    let mut slaves: Vec<String> = h
        .sysfs("bond1/bonding/slaves")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    slaves.sort();
    assert_eq!(slaves, vec!["dummy_2", "dummy_3"]);
    let caps = h.caps();
    assert_eq!(caps["bondings"]["bond0"]["slaves"], json!(["dummy_1"]));
    assert_eq!(
        caps["bondings"]["bond1"]["slaves"],
        json!(["dummy_2", "dummy_3"])
    );
    h.assert_in_sync();
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn a_bond_mode_edit_without_confirmation_is_rolled_back_with_code_10() {
    let Some(h) = Host::lab() else { return };
    h.setup(json!({"bondings": {"bond0": {"nics": ["dummy_1", "dummy_2"], "options": "mode=active-backup miimon=100"}},
                   "networks": {"n": {"bonding": "bond0", "vlan": 7}}}));
    let before = h.facts();
    let (code, err) = h.setup_code(
        &json!({"bondings": {"bond0": {"nics": ["dummy_1", "dummy_2"], "options": "mode=802.3ad miimon=100"}}}),
        &["--confirm-within", "0.5"],
    );
    assert_eq!(code, 10, "{err}");
    assert_eq!(h.sysfs("bond0/bonding/mode"), "active-backup 1");
    assert_eq!(h.facts(), before, "{:#?}", before.diff(&h.facts()));
}
