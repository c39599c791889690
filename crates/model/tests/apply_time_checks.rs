//! Attributes only the kernel used to check, so they passed `--dry-run` and
//! failed (29, rolled back) when applied: each is refused at parse time with
//! its code, naming the network or bond and the attribute.

use netswitch_model::parse::parse_request;
use netswitch_model::{Culprit, RequestError};
use serde_json::{json, Value};

fn refused(net: Value, code: u8, attr: &str, words: &[&str]) -> RequestError {
    let req = json!({"networks": {"n1": net}});
    let err = parse_request(req.to_string().as_bytes()).expect_err(&req.to_string());
    assert_eq!(err.code(), code, "{req}: {err}");
    assert!(
        matches!(&err.culprit, Culprit::Network { net, attr: Some(a) } if net == "n1" && a == attr),
        "{req}: {err:?}"
    );
    for w in words {
        assert!(err.to_string().contains(w), "{req}: {err} lacks {w:?}");
    }
    err
}

fn accepted(net: Value) {
    let req = json!({"networks": {"n1": net}});
    if let Err(e) = parse_request(req.to_string().as_bytes()) {
        panic!("{req}: {e}");
    }
}

#[test]
fn an_ipv4_gateway_must_be_a_host_of_the_subnet() {
    let with = |gw: &str, prefix: u8| json!({"nic": "eth0", "ipaddr": "192.0.2.10", "prefix": prefix, "gateway": gw});
    refused(
        with("198.51.100.1", 24),
        22,
        "gateway",
        &["outside", "192.0.2.0/24"],
    );
    refused(with("192.0.2.130", 25), 22, "gateway", &["outside"]);
    refused(with("192.0.2.10", 24), 22, "gateway", &["own address"]);
    refused(with("192.0.2.255", 24), 22, "gateway", &["broadcast"]);
    refused(with("192.0.2.0", 24), 22, "gateway", &["network"]);
    accepted(with("192.0.2.1", 24));
    accepted(
        with("192.0.2.11", 31)
            .to_owned()
            .tap(|v| v["ipaddr"] = json!("192.0.2.10")),
    );
    // The netmask form is judged the same way.
    refused(
        json!({"nic": "eth0", "ipaddr": "10.0.0.2", "netmask": "255.255.0.0", "gateway": "10.1.0.1"}),
        22,
        "gateway",
        &["10.0.0.0/16"],
    );
}

trait Tap {
    fn tap(self, f: impl FnOnce(&mut Self)) -> Self;
}
impl Tap for Value {
    fn tap(mut self, f: impl FnOnce(&mut Self)) -> Self {
        f(&mut self);
        self
    }
}

#[test]
fn an_ipv6_gateway_must_be_link_local_or_on_the_prefix() {
    let with =
        |gw: &str| json!({"nic": "eth0", "ipv6addr": "2001:db8:1::10/64", "ipv6gateway": gw});
    refused(
        with("2001:db8:2::1"),
        22,
        "ipv6gateway",
        &["prefix", "2001:db8:1::/64"],
    );
    refused(with("2001:db8:1::10"), 22, "ipv6gateway", &["own address"]);
    accepted(with("2001:db8:1::1"));
    accepted(with("fe80::1"));
    // With autoconf a router may make it on-link: not judged.
    accepted(with("2001:db8:2::1").tap(|v| v["ipv6autoconf"] = json!(true)));
}

#[test]
fn bridge_options_are_checked_by_name_and_value() {
    let with = |opts: &str| json!({"nic": "eth0", "custom": {"bridge_opts": opts}});
    refused(
        with("bogus=1"),
        21,
        "custom.bridge_opts",
        &["bogus", "unknown"],
    );
    refused(
        with("hello_time=0"),
        21,
        "custom.bridge_opts",
        &["hello_time", "100..1000"],
    );
    refused(
        with("multicast_snooping=yes"),
        21,
        "custom.bridge_opts",
        &["multicast_snooping"],
    );
    refused(
        with("group_fwd_mask=0x1"),
        21,
        "custom.bridge_opts",
        &["group_fwd_mask"],
    );
    refused(
        with("forward_delay=0").tap(|v| v["stp"] = json!(true)),
        21,
        "custom.bridge_opts",
        &["forward_delay", "STP"],
    );
    accepted(with("forward_delay=0 multicast_snooping=0 priority=0x10"));
}

#[test]
fn an_mtu_below_ipv6s_least_is_refused_with_ipv6() {
    refused(
        json!({"nic": "eth0", "mtu": 1000, "ipv6addr": "2001:db8::1/64"}),
        21,
        "mtu",
        &["1280"],
    );
    refused(
        json!({"nic": "eth0", "mtu": 576, "dhcpv6": true}),
        21,
        "mtu",
        &["1280"],
    );
    accepted(json!({"nic": "eth0", "mtu": 576, "ipaddr": "192.0.2.1", "prefix": 24}));
}

#[test]
fn a_bond_hwaddr_must_be_unicast() {
    for (mac, word) in [
        ("01:00:5e:00:00:01", "multicast"),
        ("00:00:00:00:00:00", "00:00"),
    ] {
        let req = json!({"bondings": {"bond1": {"nics": ["eth0"], "hwaddr": mac}}});
        let err = parse_request(req.to_string().as_bytes()).expect_err(mac);
        assert_eq!(err.code(), 25, "{err}");
        assert!(
            matches!(&err.culprit, Culprit::Bond { bond, attr: Some(a) } if bond == "bond1" && a == "hwaddr"),
            "{err:?}"
        );
        assert!(err.to_string().contains(word), "{err}");
    }
    let ok = json!({"bondings": {"bond1": {"nics": ["eth0"], "hwaddr": "02:00:00:00:00:01"}}});
    parse_request(ok.to_string().as_bytes()).unwrap();
}
