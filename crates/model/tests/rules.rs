//! One test per rule of docs/api.md §3.1, §5.2 and §5.6: the code, and that the
//! message names the network or bond and the attribute at fault.

use netswitch_model::config::{BondAttrs, Config, NetAttrs};
use netswitch_model::host::{HostState, Link, LinkKind, VlanInfo};
use netswitch_model::{prepare, NicPolicy, RequestError};
use serde_json::json;

fn host() -> HostState {
    let mut h = HostState::default();
    let mut add = |name: &str, kind: LinkKind| {
        let index = h.links.len() as u32 + 1;
        let mut l = Link::new(index, name, kind);
        l.mac = Some(format!("02:00:00:00:00:{index:02x}"));
        h.links.insert(name.into(), l);
    };
    add("lo", LinkKind::Device);
    add("eth0", LinkKind::Device);
    for n in ["veth_a0", "veth_a1", "veth_b0", "veth_b1", "dummy_x"] {
        add(n, LinkKind::Veth);
    }
    add("notanic", LinkKind::Veth);
    add("br_foreign", LinkKind::Bridge);
    add("bond_x", LinkKind::Dummy);
    add("veth_b1.7", LinkKind::Vlan);
    h.links.get_mut("veth_b1.7").unwrap().vlan = Some(VlanInfo {
        id: 7,
        parent: "veth_b1".into(),
    });
    h
}

fn running() -> Config {
    let mut c = Config::default();
    c.networks.insert(
        "mgmt".into(),
        NetAttrs {
            nic: Some("veth_a0".into()),
            ipaddr: Some("192.0.2.10".parse().unwrap()),
            netmask: Some("255.255.255.0".parse().unwrap()),
            gateway: Some("192.0.2.1".parse().unwrap()),
            default_route: true,
            nameservers: vec!["192.0.2.53".parse().unwrap()],
            ..NetAttrs::default()
        },
    );
    c.networks.insert(
        "onbond".into(),
        NetAttrs {
            bonding: Some("bond0".into()),
            vlan: Some(10),
            ..NetAttrs::default()
        },
    );
    c.bonds.insert(
        "bond0".into(),
        BondAttrs {
            nics: vec!["veth_b0".into()],
            options: netswitch_model::bondopts::BondOptions::parse("mode=1").unwrap(),
            hwaddr: None,
            switch: Default::default(),
        },
    );
    c
}

fn check(req: serde_json::Value) -> Result<Config, RequestError> {
    prepare(
        req.to_string().as_bytes(),
        &running(),
        &host(),
        &NicPolicy::default(),
    )
    .map(|(_, d)| d)
}

/// `rejects!(test_name, request, code, words the message must contain...)`
macro_rules! rejects {
    ($name:ident, $req:expr, $code:expr, $($word:expr),+) => {
        #[test]
        fn $name() {
            let err = check($req).expect_err("request must be rejected");
            assert_eq!(err.code(), $code, "wrong code for: {err}");
            let msg = err.to_string();
            $( assert!(msg.contains($word), "message {msg:?} does not name {:?}", $word); )+
        }
    };
}

// ---- syntax and types (21)
rejects!(malformed_json_is_21, json!("{"), 21, "request");
rejects!(unknown_top_level_key_is_21, json!({"nets": {}}), 21, "nets");
rejects!(
    unknown_network_attribute_is_21,
    json!({"networks": {"n1": {"nic": "veth_a1", "colour": "red"}}}),
    21,
    "n1",
    "colour"
);
rejects!(
    non_boolean_bridged_is_21,
    json!({"networks": {"n1": {"nic": "veth_a1", "bridged": "maybe"}}}),
    21,
    "n1",
    "bridged"
);
rejects!(
    mtu_out_of_range_is_21,
    json!({"networks": {"n1": {"nic": "veth_a1", "mtu": 70000}}}),
    21,
    "n1",
    "mtu"
);
rejects!(
    mtu_wrong_type_is_21,
    json!({"networks": {"n1": {"nic": "veth_a1", "mtu": [1500]}}}),
    21,
    "n1",
    "mtu"
);
rejects!(
    unknown_switch_is_21,
    json!({"networks": {"n1": {"nic": "veth_a1", "switch": "vpp"}}}),
    21,
    "n1",
    "switch"
);
rejects!(
    unknown_option_is_21,
    json!({"options": {"rollback": true}}),
    21,
    "rollback"
);
rejects!(
    bad_connectivity_timeout_is_21,
    json!({"options": {"connectivityTimeout": "soon"}}),
    21,
    "connectivityTimeout"
);
rejects!(
    network_attrs_not_a_mapping_is_21,
    json!({"networks": {"n1": 5}}),
    21,
    "n1"
);
rejects!(
    remove_with_other_attrs_is_21,
    json!({"networks": {"mgmt": {"remove": true, "nic": "veth_a1"}}}),
    21,
    "mgmt",
    "nic"
);
rejects!(
    nic_and_bonding_together_is_21,
    json!({"networks": {"n1": {"nic": "veth_a1", "bonding": "bond0"}}}),
    21,
    "n1",
    "nic"
);
rejects!(
    bridgeless_without_southbound_is_21,
    json!({"networks": {"n1": {"bridged": false}}}),
    21,
    "n1",
    "bridged"
);
rejects!(
    two_default_routes_is_21,
    json!({"networks": {
    "n1": {"nic": "veth_a1", "defaultRoute": true}, "n2": {"nic": "veth_b1", "defaultRoute": true}}}),
    21,
    "n2",
    "defaultRoute",
    "n1"
);
rejects!(
    nameservers_off_the_default_route_network_is_21,
    json!({"networks": {
    "n1": {"nic": "veth_a1", "nameservers": ["192.0.2.53"]}}}),
    21,
    "n1",
    "nameservers"
);
rejects!(
    mixing_switch_types_is_21,
    json!({"networks": {
    "n1": {"nic": "veth_a1", "switch": "ovs"}, "n2": {"nic": "veth_b1"}}}),
    21,
    "ovs",
    "legacy"
);
rejects!(
    partial_switch_change_is_21,
    json!({"networks": {
    "mgmt": {"nic": "veth_a0", "switch": "ovs"}}}),
    21,
    "onbond",
    "switch"
);
rejects!(
    two_networks_on_one_vlan_of_a_device_is_21,
    json!({"networks": {
    "n1": {"nic": "veth_a1", "vlan": 5}, "n2": {"nic": "veth_a1", "vlan": 5}}}),
    21,
    "n2",
    "VLAN 5 on veth_a1",
    "n1"
);
rejects!(
    two_untagged_networks_on_one_device_is_21,
    json!({"networks": {
    "n1": {"nic": "veth_a0"}}}),
    21,
    "n1",
    "untagged",
    "mgmt"
);
rejects!(
    bond_without_nics_is_21,
    json!({"bondings": {"bond1": {"nics": []}}}),
    21,
    "bond1",
    "nics"
);
rejects!(
    bad_qos_curve_is_21,
    json!({"networks": {
    "n1": {"nic": "veth_a1", "hostQos": {"out": {"ul": {"m2": 10}}}}}}),
    21,
    "n1",
    "hostQos"
);
rejects!(
    qos_on_vlan_0_is_21,
    json!({"networks": {
    "n1": {"nic": "veth_a1", "vlan": 0, "hostQos": {"out": {"ls": {"m2": 10}}}}}}),
    21,
    "n1",
    "hostQos"
);
rejects!(
    qos_ul_below_ls_is_21,
    json!({"networks": {
    "n1": {"nic": "veth_a1", "hostQos": {"out": {"ls": {"m2": 10}, "ul": {"m2": 9}}}}}}),
    21,
    "n1",
    "hostQos.out.ul.m2"
);
rejects!(
    qos_without_southbound_is_21,
    json!({"networks": {
    "n1": {"hostQos": {"out": {"ls": {"m2": 10}}}}}}),
    21,
    "n1",
    "hostQos"
);
rejects!(
    malformed_bridge_opts_is_21,
    json!({"networks": {
    "n1": {"nic": "veth_a1", "custom": {"bridge_opts": "multicast_snooping"}}}}),
    21,
    "n1",
    "bridge_opts"
);
rejects!(
    too_many_networks_is_21,
    {
        let nets: serde_json::Map<String, serde_json::Value> =
            (0..10_001).map(|i| (format!("n{i}"), json!({}))).collect();
        json!({"networks": nets})
    },
    21,
    "10001 networks"
);

// ---- addresses (22)
rejects!(
    bad_ipaddr_is_22,
    json!({"networks": {"n1": {"nic": "veth_a1", "ipaddr": "10.0.0.300", "prefix": 24}}}),
    22,
    "n1",
    "ipaddr"
);
rejects!(
    ipaddr_without_netmask_is_22,
    json!({"networks": {"n1": {"nic": "veth_a1", "ipaddr": "10.0.0.3"}}}),
    22,
    "n1",
    "netmask"
);
rejects!(
    non_contiguous_netmask_is_22,
    json!({"networks": {"n1": {"nic": "veth_a1", "ipaddr": "10.0.0.3", "netmask": "255.0.255.0"}}}),
    22,
    "n1",
    "netmask"
);
rejects!(
    prefix_and_netmask_together_is_21,
    json!({"networks": {"n1": {"nic": "veth_a1", "ipaddr": "10.0.0.3", "netmask": "255.0.0.0", "prefix": 8}}}),
    21,
    "n1",
    "prefix"
);
rejects!(
    bad_prefix_is_22,
    json!({"networks": {"n1": {"nic": "veth_a1", "ipaddr": "10.0.0.3", "prefix": 33}}}),
    22,
    "n1",
    "prefix"
);
rejects!(
    gateway_without_ipaddr_is_22,
    json!({"networks": {"n1": {"nic": "veth_a1", "gateway": "10.0.0.1"}}}),
    22,
    "n1",
    "gateway"
);
rejects!(
    dhcp_with_static_address_is_22,
    json!({"networks": {"n1": {"nic": "veth_a1", "bootproto": "dhcp", "ipaddr": "10.0.0.3", "prefix": 24}}}),
    22,
    "n1",
    "ipaddr"
);
rejects!(
    bad_ipv6addr_is_22,
    json!({"networks": {"n1": {"nic": "veth_a1", "ipv6addr": "fd00::zz/64"}}}),
    22,
    "n1",
    "ipv6addr"
);
rejects!(
    bad_ipv6_prefix_is_22,
    json!({"networks": {"n1": {"nic": "veth_a1", "ipv6addr": "fd00::1/129"}}}),
    22,
    "n1",
    "ipv6addr"
);
rejects!(
    bad_ipv6gateway_is_22,
    json!({"networks": {"n1": {"nic": "veth_a1", "ipv6addr": "fd00::1/64", "ipv6gateway": "nope"}}}),
    22,
    "n1",
    "ipv6gateway"
);
rejects!(
    bad_nameserver_is_22,
    json!({"networks": {"mgmt": {"nic": "veth_a0", "defaultRoute": true, "nameservers": ["8.8.8"]}}}),
    22,
    "mgmt",
    "nameservers"
);

// ---- nics (23, 24)
rejects!(
    missing_nic_is_23,
    json!({"networks": {"n1": {"nic": "eth9"}}}),
    23,
    "n1",
    "nic",
    "eth9"
);
rejects!(
    non_nic_device_is_23,
    json!({"networks": {"n1": {"nic": "notanic"}}}),
    23,
    "n1",
    "notanic"
);
rejects!(
    missing_bond_slave_is_23,
    json!({"bondings": {"bond1": {"nics": ["veth_a1", "eth7"]}}}),
    23,
    "bond1",
    "eth7"
);
rejects!(
    nic_both_slave_and_network_nic_is_24,
    json!({"networks": {"n1": {"nic": "veth_b0"}}}),
    24,
    "n1",
    "veth_b0",
    "bond0"
);
rejects!(
    nic_in_two_bonds_is_24,
    json!({"bondings": {"bond1": {"nics": ["veth_b0"]}}}),
    24,
    "bond1",
    "veth_b0",
    "bond0"
);
rejects!(
    bond_slave_carrying_foreign_vlan_is_24,
    json!({"bondings": {"bond1": {"nics": ["veth_b1"]}}}),
    24,
    "bond1",
    "veth_b1.7"
);

// ---- bonds (25, 31)
rejects!(
    bad_bond_name_is_25,
    json!({"bondings": {"team0": {"nics": ["veth_a1"]}}}),
    25,
    "team0"
);
rejects!(
    bad_bonding_reference_name_is_25,
    json!({"networks": {"n1": {"bonding": "eth1"}}}),
    25,
    "n1",
    "bonding"
);
rejects!(
    undefined_bond_is_25,
    json!({"networks": {"n1": {"bonding": "bond7"}}}),
    25,
    "n1",
    "bond7"
);
rejects!(
    option_not_valid_for_mode_is_25,
    json!({"bondings": {"bond1": {"nics": ["veth_a1"], "options": "mode=active-backup lacp_rate=fast"}}}),
    25,
    "bond1",
    "lacp_rate"
);
rejects!(
    unknown_bond_mode_is_25,
    json!({"bondings": {"bond1": {"nics": ["veth_a1"], "options": "mode=7"}}}),
    25,
    "bond1",
    "mode"
);
rejects!(
    bad_bond_hwaddr_is_25,
    json!({"bondings": {"bond1": {"nics": ["veth_a1"], "hwaddr": "zz:00"}}}),
    25,
    "bond1",
    "hwaddr"
);
rejects!(
    removing_missing_bond_is_25,
    json!({"bondings": {"bond9": {"remove": true}}}),
    25,
    "bond9"
);
rejects!(
    bond_name_taken_by_another_device_is_25,
    json!({"bondings": {"bond_x": {"nics": ["veth_a1"]}}}),
    25,
    "bond_x",
    "not a bond"
);
rejects!(
    removing_bond_in_use_is_31,
    json!({"bondings": {"bond0": {"remove": true}}}),
    31,
    "bond0",
    "onbond"
);

// ---- VLANs (26)
rejects!(
    vlan_out_of_range_is_26,
    json!({"networks": {"n1": {"nic": "veth_a1", "vlan": 4095}}}),
    26,
    "n1",
    "vlan"
);
rejects!(
    negative_vlan_is_26,
    json!({"networks": {"n1": {"nic": "veth_a1", "vlan": -1}}}),
    26,
    "n1",
    "vlan"
);
rejects!(
    vlan_without_device_is_26,
    json!({"networks": {"n1": {"vlan": 5}}}),
    26,
    "n1",
    "vlan"
);

// ---- names (27)
rejects!(
    long_bridge_name_is_27,
    json!({"networks": {"a_very_long_network": {"nic": "veth_a1"}}}),
    27,
    "a_very_long_network"
);
rejects!(
    bridge_name_with_dot_is_27,
    json!({"networks": {"a.b": {"nic": "veth_a1"}}}),
    27,
    "a.b"
);
rejects!(
    bridge_name_with_colon_is_27,
    json!({"networks": {"a:b": {"nic": "veth_a1"}}}),
    27,
    "a:b"
);
rejects!(
    bridge_name_with_space_is_27,
    json!({"networks": {"a b": {"nic": "veth_a1"}}}),
    27,
    "a b"
);
rejects!(
    bridge_name_with_dash_first_is_27,
    json!({"networks": {"-ab": {"nic": "veth_a1"}}}),
    27,
    "-ab"
);
rejects!(
    network_name_with_slash_is_27,
    json!({"networks": {"../etc": {"nic": "veth_a1", "bridged": false}}}),
    27,
    "../etc"
);
rejects!(
    network_name_with_control_byte_is_27,
    json!({"networks": {"a\u{1}b": {"nic": "veth_a1", "bridged": false}}}),
    27,
    "network"
);
#[test]
fn ovs_port_name_taken_by_any_device_is_27() {
    let req =
        json!({"networks": {"br_foreign": {"nic": "veth_b1", "switch": "ovs", "bridged": false}}});
    let e = prepare(
        req.to_string().as_bytes(),
        &Config::default(),
        &host(),
        &NicPolicy::default(),
    )
    .unwrap_err();
    assert_eq!(e.code(), 27, "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("br_foreign") && msg.contains("internal port"),
        "{msg}"
    );
}
rejects!(
    bridge_name_taken_by_a_nic_is_27,
    json!({"networks": {"veth_a1": {"nic": "veth_b1"}}}),
    27,
    "veth_a1",
    "not a bridge"
);
rejects!(
    removing_missing_network_is_27,
    json!({"networks": {"ghost": {"remove": true}}}),
    27,
    "ghost"
);

#[test]
fn a_bridgeless_network_may_have_a_long_name() {
    check(json!({"networks": {"a_long_bridgeless_net": {"nic": "veth_a1", "bridged": false}}}))
        .unwrap();
}

#[test]
fn a_valid_request_yields_the_desired_config() {
    let desired = check(json!({
        "bondings": {"bond1": {"nics": ["veth_a1", "dummy_x"], "options": "mode=4 miimon=100"}},
        "networks": {"n1": {"bonding": "bond1", "vlan": 100}, "mgmt": {"remove": true}},
    }))
    .unwrap();
    assert!(desired.networks.contains_key("n1") && !desired.networks.contains_key("mgmt"));
    assert_eq!(
        desired.bonds["bond1"].options.to_string(),
        "mode=4 miimon=100"
    );
}

/// The requests under `examples/` (README, `--help`, the demo point there)
/// pass parse, canonicalize and validate against a host with the nics they
/// name and a running `ovirtmgmt` (which `remove-mgmt.json` removes).
#[test]
fn every_example_request_is_valid() {
    let mut h = host();
    for n in ["dummy_1", "dummy_2"] {
        let l = Link::new(h.links.len() as u32 + 1, n, LinkKind::Dummy);
        h.links.insert(n.into(), l);
    }
    let mut running = Config::default();
    running.networks.insert(
        "ovirtmgmt".into(),
        NetAttrs {
            nic: Some("veth_a0".into()),
            ..NetAttrs::default()
        },
    );
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/") {
        let path = entry.unwrap().path();
        let text = std::fs::read(&path).unwrap();
        if let Err(e) = prepare(&text, &running, &h, &NicPolicy::default()) {
            panic!("{}: {e}", path.display());
        }
        seen += 1;
    }
    assert!(seen >= 4, "examples/ holds the README's requests ({seen})");
}
