//! Bad input: unauthenticated and expired-token calls, malformed and
//! fuzzed JSON bodies, oversized bodies and headers, garbage on the wire.
//! Each gets a coded answer (Neutron's error body), a refused call
//! changes nothing in the NB, and the provider keeps serving.

mod common;

use common::{provider, token, Http, Nb};
use serde_json::{json, Value};

/// A small deterministic generator (xorshift), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[(self.next() % v.len() as u64) as usize]
    }
}

fn neutron_error(a: &common::Answer) -> &Value {
    let e = &a.body["NeutronError"];
    assert!(
        e["type"].is_string() && e["message"].is_string(),
        "not a NeutronError: {:?}",
        a.body
    );
    e
}

#[test]
fn unauthenticated_calls_are_401_and_change_nothing() {
    let nb = Nb::start();
    let p = provider(&nb);
    let mut n = Http::connect(p.neutron);
    for (m, path) in [
        ("GET", "/v2.0/networks"),
        ("POST", "/v2.0/networks"),
        ("GET", "/v2.0/"),
        ("DELETE", "/v2.0/ports/x"),
        ("GET", "/v2.0/extensions"),
    ] {
        let a = n.call(m, path, None, Some(&json!({"network": {"name": "x"}})));
        assert_eq!(a.status, 401, "{m} {path}");
        neutron_error(&a);
        let a = n.call(
            m,
            path,
            Some("not-a-token"),
            Some(&json!({"network": {"name": "x"}})),
        );
        assert_eq!(a.status, 401, "{m} {path} with a bad token");
    }
    assert_eq!(nb.count("Logical_Switch"), 0);
    let mut ks = Http::connect(p.keystone);
    let a = ks.call("POST", "/v3/auth/tokens", None, Some(&json!({"auth": {"identity": {"methods": ["password"],
        "password": {"user": {"name": "admin", "domain": {"name": "Default"}, "password": "nope"}}}}})));
    assert_eq!(a.status, 401);
    let a = ks.call("POST", "/v3/auth/tokens", None, Some(&json!({"auth": {}})));
    assert_eq!(a.status, 400);
}

#[test]
fn bad_bodies_get_coded_errors_naming_the_attribute() {
    let nb = Nb::start();
    let p = provider(&nb);
    let tok = token(&p);
    let t = Some(tok.as_str());
    let mut n = Http::connect(p.neutron);
    let cases: &[(&str, &str, Value, u16, &str)] = &[
        (
            "POST",
            "/v2.0/networks",
            json!({"network": {"name": "a", "mtu": "big"}}),
            400,
            "mtu",
        ),
        (
            "POST",
            "/v2.0/networks",
            json!({"network": {"colour": "red"}}),
            400,
            "colour",
        ),
        (
            "POST",
            "/v2.0/networks",
            json!({"network": {"provider:network_type": "vlan"}}),
            400,
            "vlan",
        ),
        (
            "POST",
            "/v2.0/networks",
            json!({"network": {"admin_state_up": "maybe"}}),
            400,
            "admin_state_up",
        ),
        (
            "POST",
            "/v2.0/networks",
            json!({"networks": []}),
            400,
            "network",
        ),
        (
            "POST",
            "/v2.0/subnets",
            json!({"subnet": {"network_id": "00000000-0000-0000-0000-000000000000", "cidr": "10.0.0.0/24"}}),
            404,
            "00000000",
        ),
        (
            "POST",
            "/v2.0/ports",
            json!({"port": {}}),
            400,
            "network_id",
        ),
        (
            "PUT",
            "/v2.0/networks/00000000-0000-0000-0000-000000000000",
            json!({"network": {"name": "b"}}),
            404,
            "Network",
        ),
        ("GET", "/v2.0/ports?limit=many", Value::Null, 400, "limit"),
        (
            "GET",
            "/v2.0/nothing-here",
            Value::Null,
            404,
            "nothing-here",
        ),
        ("PATCH", "/v2.0/networks", Value::Null, 405, "PATCH"),
    ];
    for (m, path, body, status, mention) in cases {
        let b = (!body.is_null()).then_some(body);
        let a = n.call(m, path, t, b);
        assert_eq!(a.status, *status, "{m} {path} {body}: {:?}", a.body);
        let e = neutron_error(&a);
        assert!(
            e["message"].as_str().unwrap().contains(mention),
            "{m} {path}: {e} should name {mention}"
        );
    }
    // Not JSON at all.
    let raw = format!(
        "POST /v2.0/networks HTTP/1.1\r\nX-Auth-Token: {}\r\nContent-Length: 5\r\n\r\n{{oops",
        tok
    );
    let a = n.raw(raw.as_bytes()).expect("an answer");
    assert_eq!(a.status, 400);
    assert!(neutron_error(&a)["message"]
        .as_str()
        .unwrap()
        .contains("not JSON"));
    let a = n.call("POST", "/v2.0/networks", t, Some(&json!("a string")));
    assert_eq!(a.status, 400);
    assert_eq!(nb.count("Logical_Switch"), 0);
}

#[test]
fn fuzzed_bodies_and_headers_leave_the_nb_alone_and_the_provider_serving() {
    let nb = Nb::start();
    let p = provider(&nb);
    let t = token(&p);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let paths = common::COLLECTIONS;
    let junk: &[Value] = &common::junk();
    let keys = [
        "name",
        "network_id",
        "cidr",
        "mtu",
        "fixed_ips",
        "mac_address",
        "security_group_id",
        "direction",
        "protocol",
        "port_range_min",
        "external_gateway_info",
        "floating_network_id",
        "provider:network_type",
        "admin_state_up",
        "ip_version",
        "gateway_ip",
        "allocation_pools",
    ];
    let mut n = Http::connect(p.neutron);
    for i in 0..300 {
        let path = rng.pick(&paths);
        let singular = match *path {
            "/v2.0/security-groups" => "security_group",
            "/v2.0/security-group-rules" => "security_group_rule",
            "/v2.0/floatingips" => "floatingip",
            p => p.trim_start_matches("/v2.0/").trim_end_matches('s'),
        };
        let mut obj = serde_json::Map::new();
        for _ in 0..(rng.next() % 4) {
            obj.insert((*rng.pick(&keys)).to_owned(), rng.pick(junk).clone());
        }
        let body = if i % 7 == 0 {
            rng.pick(junk).clone()
        } else {
            json!({ singular: obj })
        };
        let a = n.call("POST", path, Some(&t), Some(&body));
        assert!(
            matches!(a.status, 201 | 400 | 404 | 409),
            "{path} {body}: {} {:?}",
            a.status,
            a.body
        );
        if a.status != 201 {
            neutron_error(&a);
        }
    }
    // Raw garbage: each closes its connection; the server stays.
    let garbage: &[&[u8]] = &[
        b"\x00\x01\x02\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET / SPDY/9\r\n\r\n",
        b"POST /v2.0/networks HTTP/1.1\r\nContent-Length: -4\r\n\r\n",
        b"POST /v2.0/networks HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /v2.0/networks HTTP/1.1\r\nno colon here\r\n\r\n",
    ];
    for g in garbage {
        let mut c = Http::connect(p.neutron);
        if let Some(a) = c.raw(g) {
            assert!(
                (400..500).contains(&a.status),
                "{:?}: {}",
                String::from_utf8_lossy(g),
                a.status
            );
        }
    }
    // Oversized headers and body.
    let mut c = Http::connect(p.neutron);
    let mut big = b"GET /v2.0/networks HTTP/1.1\r\nX-Pad: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 64 << 10));
    big.extend_from_slice(b"\r\n\r\n");
    assert_eq!(c.raw(&big).map(|a| a.status), Some(431));
    let mut c = Http::connect(p.neutron);
    let head = format!(
        "POST /v2.0/networks HTTP/1.1\r\nX-Auth-Token: {t}\r\nContent-Length: {}\r\n\r\n",
        64 << 20
    );
    assert_eq!(c.raw(head.as_bytes()).map(|a| a.status), Some(413));
    // Still serving, on a fresh connection and on the fuzzed one.
    let mut c = Http::connect(p.neutron);
    assert_eq!(c.call("GET", "/v2.0/networks", Some(&t), None).status, 200);
    assert_eq!(n.call("GET", "/v2.0/ports", Some(&t), None).status, 200);
}

/// IPv6 subnets are not mapped: refused with a 400 naming `ip_version`,
/// through raw HTTP and through openstackclient, and nothing is written.
#[test]
fn ipv6_subnets_are_refused_naming_ip_version() {
    let nb = Nb::start();
    let p = provider(&nb);
    let t = token(&p);
    let mut n = Http::connect(p.neutron);
    let a = n.call(
        "POST",
        "/v2.0/networks",
        Some(&t),
        Some(&json!({"network": {"name": "v6"}})),
    );
    assert_eq!(a.status, 201, "{:?}", a.body);
    let net = a.body["network"]["id"].as_str().unwrap().to_owned();
    for sub in [
        json!({"network_id": net, "ip_version": 6, "cidr": "2001:db8::/64"}),
        json!({"network_id": net, "ip_version": "6", "cidr": "2001:db8::/64", "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"}),
        json!({"network_id": net, "cidr": "2001:db8::/64"}),
    ] {
        let a = n.call(
            "POST",
            "/v2.0/subnets",
            Some(&t),
            Some(&json!({ "subnet": sub })),
        );
        assert_eq!(a.status, 400, "{sub}: {:?}", a.body);
        let e = neutron_error(&a);
        assert_eq!(e["type"], "HTTPBadRequest");
        let msg = e["message"].as_str().unwrap();
        assert!(msg.contains("ip_version"), "{sub}: {msg}");
    }
    let os = common::Openstack::v3(&p);
    let err = os
        .try_run(&[
            "subnet",
            "create",
            "-f",
            "json",
            "--network",
            &net,
            "--ip-version",
            "6",
            "--subnet-range",
            "2001:db8:1::/64",
            "s6",
        ])
        .expect_err("openstack subnet create --ip-version 6 must fail");
    assert!(err.contains("ip_version"), "{err}");
    assert_eq!(nb.count("DHCP_Options"), 0);
    // An IPv4 subnet on the same network still works.
    let a = n.call(
        "POST",
        "/v2.0/subnets",
        Some(&t),
        Some(&json!({"subnet": {"network_id": net, "ip_version": 4, "cidr": "10.6.0.0/24"}})),
    );
    assert_eq!(a.status, 201, "{:?}", a.body);
    assert_eq!(nb.count("DHCP_Options"), 1);
}
