//! Canonicalisation: every default, every normal form, the default-route move.

use netswitch_model::config::{BootProto, Config, NetAttrs, SwitchType};
use netswitch_model::parse::parse_request;
use netswitch_model::request::NetChange;
use netswitch_model::validate::move_default_route;
use netswitch_model::Request;
use serde_json::json;

fn parse(v: serde_json::Value) -> Request {
    parse_request(v.to_string().as_bytes()).unwrap()
}

fn net(req: &Request, name: &str) -> NetAttrs {
    req.networks[name].attrs().unwrap().clone()
}

#[test]
fn every_default_is_filled_in() {
    let a = net(&parse(json!({"networks": {"n": {"nic": "eth0"}}})), "n");
    assert!(a.bridged);
    assert!(!a.stp);
    assert_eq!(a.mtu, 1500);
    assert_eq!(a.bootproto, BootProto::None);
    assert!(!a.dhcpv6 && !a.ipv6autoconf && !a.default_route);
    assert!(a.nameservers.is_empty());
    assert_eq!(a.switch, SwitchType::Legacy);
    assert_eq!(
        (a.vlan, a.ipaddr, a.netmask, a.gateway, a.ipv6addr.clone()),
        (None, None, None, None, None)
    );
    let opts = parse(json!({})).options;
    assert!(opts.connectivity_check && !opts.commit_on_success && !opts.dry_run);
    assert_eq!(opts.connectivity_timeout, 4.0);
}

#[test]
fn boolish_strings_and_numbers_are_booleans() {
    for (v, want) in [
        (json!("yes"), true),
        (json!("on"), true),
        (json!("1"), true),
        (json!(1), true),
        (json!("True"), true),
        (json!("no"), false),
        (json!("off"), false),
        (json!("0"), false),
        (json!(0), false),
        (json!("false"), false),
    ] {
        let a = net(
            &parse(json!({"networks": {"n": {"nic": "eth0", "bridged": v.clone(), "stp": v}}})),
            "n",
        );
        assert_eq!(a.bridged, want);
        assert_eq!(a.stp, want);
    }
}

#[test]
fn legacy_upper_case_stp_is_accepted() {
    assert!(
        net(
            &parse(json!({"networks": {"n": {"nic": "eth0", "STP": "yes"}}})),
            "n"
        )
        .stp
    );
}

#[test]
fn stp_is_off_on_a_bridgeless_network() {
    assert!(
        !net(
            &parse(json!({"networks": {"n": {"nic": "eth0", "bridged": false, "stp": true}}})),
            "n"
        )
        .stp
    );
}

#[test]
fn strings_of_digits_are_numbers() {
    let a = net(
        &parse(json!({"networks": {"n": {"nic": "eth0", "vlan": "0100", "mtu": "9000"}}})),
        "n",
    );
    assert_eq!((a.vlan, a.mtu), (Some(100), 9000));
}

#[test]
fn prefix_becomes_a_netmask() {
    let a = net(
        &parse(json!({"networks": {"n": {"nic": "eth0", "ipaddr": "10.1.2.3", "prefix": "20"}}})),
        "n",
    );
    assert_eq!(a.netmask.unwrap().to_string(), "255.255.240.0");
    assert_eq!(a.prefix(), Some(20));
}

#[test]
fn ipv6_addresses_are_normalised_and_default_to_128() {
    let a = net(
        &parse(json!({"networks": {"n": {"nic": "eth0", "ipv6addr": "FD00:0:0::0001"}}})),
        "n",
    );
    assert_eq!(a.ipv6addr.as_deref(), Some("fd00::1/128"));
    let a = net(
        &parse(
            json!({"networks": {"n": {"nic": "eth0", "ipv6addr": "fd00:0::5/64", "ipv6gateway": "FD00::1"}}}),
        ),
        "n",
    );
    assert_eq!(a.ipv6addr.as_deref(), Some("fd00::5/64"));
    assert_eq!(a.ipv6gateway.unwrap().to_string(), "fd00::1");
}

#[test]
fn bond_options_are_normalised() {
    let req = parse(
        json!({"bondings": {"bond0": {"nics": ["b", "a"], "options": "miimon=0200 mode=active-backup fail_over_mac=active",
                                                 "hwaddr": "02-AA-BB-CC-DD-EE"}}}),
    );
    let b = req.bondings["bond0"].attrs().unwrap();
    assert_eq!(b.options.to_string(), "mode=1 fail_over_mac=1 miimon=200");
    assert_eq!(b.nics, vec!["a", "b"]);
    assert_eq!(b.hwaddr.as_deref(), Some("02:aa:bb:cc:dd:ee"));
    let b = parse(json!({"bondings": {"bond0": {"nics": ["a"]}}}));
    assert_eq!(
        b.bondings["bond0"].attrs().unwrap().options.to_string(),
        "mode=0"
    );
}

#[test]
fn bond_mode_by_name_or_by_number_is_one_canonical_form() {
    for (n, name) in netswitch_model::bondopts::MODES.iter().enumerate() {
        let canonical = |mode: String| {
            parse(
                json!({"bondings": {"bond0": {"nics": ["a"], "options": format!("mode={mode}")}}}),
            )
            .bondings["bond0"]
                .attrs()
                .unwrap()
                .options
                .to_string()
        };
        assert_eq!(canonical(name.to_string()), format!("mode={n}"), "{name}");
        assert_eq!(canonical(n.to_string()), format!("mode={n}"), "{n}");
    }
}

#[test]
fn other_booleans_and_numbers_are_normalised_too() {
    let a = net(
        &parse(
            json!({"networks": {"n": {"nic": "eth0", "dhcpv6": "yes", "ipv6autoconf": "on",
            "defaultRoute": "1", "mtu": "01500", "bootproto": "dhcp"}}}),
        ),
        "n",
    );
    assert!(a.dhcpv6 && a.ipv6autoconf && a.default_route);
    assert_eq!((a.mtu, a.bootproto), (1500, BootProto::Dhcp));
    let opts = parse(
        json!({"options": {"connectivityCheck": "no", "connectivityTimeout": "2.5",
        "commitOnSuccess": "true"}}),
    )
    .options;
    assert!(!opts.connectivity_check && opts.commit_on_success);
    assert_eq!(opts.connectivity_timeout, 2.5);
}

#[test]
fn bridge_opts_are_sorted() {
    let a = net(
        &parse(
            json!({"networks": {"n": {"nic": "eth0", "custom": {"bridge_opts": "multicast_snooping=0 forward_delay=0", "x": 1}}}}),
        ),
        "n",
    );
    let c = a.custom.unwrap();
    assert_eq!(
        c.bridge_opts.as_deref(),
        Some("forward_delay=0 multicast_snooping=0")
    );
    assert_eq!(c.other["x"], json!(1));
}

#[test]
fn nameservers_are_deduplicated_in_order() {
    let a = net(
        &parse(
            json!({"networks": {"n": {"nic": "eth0", "defaultRoute": true,
        "nameservers": ["192.0.2.2", "2001:db8::53", "192.0.2.2"]}}}),
        ),
        "n",
    );
    let ns: Vec<String> = a.nameservers.iter().map(|n| n.to_string()).collect();
    assert_eq!(ns, vec!["192.0.2.2", "2001:db8::53"]);
}

#[test]
fn yaml_requests_read_like_json() {
    let yaml = "networks:\n  n:\n    nic: eth0\n    vlan: 100\n    bridged: no\n    mtu: '9000'\noptions:\n  connectivityTimeout: 0.5\n";
    let req = parse_request(yaml.as_bytes()).unwrap();
    let a = net(&req, "n");
    assert_eq!((a.vlan, a.bridged, a.mtu), (Some(100), false, 9000));
    assert_eq!(req.options.connectivity_timeout, 0.5);
}

#[test]
fn a_new_default_route_moves_the_role_off_the_running_holder() {
    let mut running = Config::default();
    running.networks.insert(
        "old".into(),
        NetAttrs {
            nic: Some("eth0".into()),
            default_route: true,
            nameservers: vec!["192.0.2.53".parse().unwrap()],
            ..NetAttrs::default()
        },
    );
    running.networks.insert(
        "other".into(),
        NetAttrs {
            nic: Some("eth2".into()),
            ..NetAttrs::default()
        },
    );
    let mut req = parse(json!({"networks": {"new": {"nic": "eth1", "defaultRoute": true}}}));
    move_default_route(&mut req, &running);
    let old = net(&req, "old");
    assert!(!old.default_route && old.nameservers.is_empty());
    assert_eq!(old.nic.as_deref(), Some("eth0"));
    assert!(!req.networks.contains_key("other"));
    assert_eq!(running.apply(&req).default_route_net(), Some("new"));
}

#[test]
fn no_move_when_the_request_gives_no_default_route() {
    let mut running = Config::default();
    running.networks.insert(
        "old".into(),
        NetAttrs {
            nic: Some("eth0".into()),
            default_route: true,
            ..NetAttrs::default()
        },
    );
    let mut req = parse(json!({"networks": {"new": {"nic": "eth1"}}}));
    move_default_route(&mut req, &running);
    assert!(!req.networks.contains_key("old"));
}

#[test]
fn removal_is_a_remove_change_and_false_is_not() {
    let req = parse(
        json!({"networks": {"a": {"remove": true, "custom": {}}, "b": {"remove": "false", "nic": "eth0"}}}),
    );
    assert_eq!(req.networks["a"], NetChange::Remove);
    assert!(req.networks["b"].attrs().is_some());
}

#[test]
fn canonical_attrs_round_trip_through_json() {
    let a = net(
        &parse(
            json!({"networks": {"n": {"nic": "eth0", "vlan": 5, "ipaddr": "10.0.0.2", "prefix": 24, "gateway": "10.0.0.1",
        "ipv6addr": "fd00::2/64", "defaultRoute": true, "nameservers": ["10.0.0.53"],
        "hostQos": {"out": {"ls": {"m1": 10, "d": 20, "m2": 30}}}}}}),
        ),
        "n",
    );
    let text = serde_json::to_string(&a).unwrap();
    let back: NetAttrs = serde_json::from_str(&text).unwrap();
    assert_eq!(a, back);
    assert!(
        text.contains("\"defaultRoute\":true") && text.contains("\"hostQos\""),
        "{text}"
    );
}
