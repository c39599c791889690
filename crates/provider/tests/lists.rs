//! A plain port list (no filter, no sort) is written straight from the
//! replica's rows; a filtered one renders values. Both must show the same
//! objects, with `fields`, `limit` and `marker` alike.

mod common;

use common::{provider, token, Http, Nb};
use serde_json::{json, Value};

fn get(h: &mut Http, t: &str, path: &str) -> Value {
    let a = h.call("GET", path, Some(t), None);
    assert_eq!(a.status, 200, "{path}: {:?}", a.body);
    a.body
}

#[test]
fn plain_and_filtered_port_lists_show_the_same_ports() {
    let nb = Nb::start();
    let p = provider(&nb);
    let t = token(&p);
    let mut h = Http::connect(p.neutron);
    let a = h.call(
        "POST",
        "/v2.0/networks",
        Some(&t),
        Some(&json!({"network": {"name": "l"}})),
    );
    let net = a.body["network"]["id"].as_str().unwrap().to_owned();
    let sub = json!({"subnet": {"network_id": net, "cidr": "10.3.0.0/24", "ip_version": 4}});
    assert_eq!(
        h.call("POST", "/v2.0/subnets", Some(&t), Some(&sub)).status,
        201
    );
    let ports: Vec<Value> = (0..5)
        .map(|i| json!({"network_id": net, "name": format!("p{i}"), "binding:host_id": "h1"}))
        .collect();
    let a = h.call(
        "POST",
        "/v2.0/ports",
        Some(&t),
        Some(&json!({ "ports": ports })),
    );
    assert_eq!(a.status, 201, "{:?}", a.body);

    let plain = get(&mut h, &t, "/v2.0/ports");
    let filtered = get(&mut h, &t, &format!("/v2.0/ports?network_id={net}"));
    assert_eq!(plain["ports"].as_array().unwrap().len(), 5);
    assert_eq!(plain, filtered, "same objects, same order");
    let one = &plain["ports"][0];
    let shown = get(
        &mut h,
        &t,
        &format!("/v2.0/ports/{}", one["id"].as_str().unwrap()),
    );
    assert_eq!(&shown["port"], one);
    let mut ips: Vec<&str> = plain["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["fixed_ips"][0]["ip_address"].as_str().unwrap())
        .collect();
    ips.sort();
    assert_eq!(
        ips,
        ["10.3.0.2", "10.3.0.3", "10.3.0.4", "10.3.0.5", "10.3.0.6"]
    );
    assert_eq!(one["binding:host_id"], "h1");

    // fields, limit, marker and the next link on the plain path.
    let page = get(&mut h, &t, "/v2.0/ports?fields=id&fields=name&limit=2");
    let ids: Vec<&Value> = plain["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["id"])
        .collect();
    assert_eq!(
        page["ports"],
        json!([
            {"id": ids[0], "name": plain["ports"][0]["name"]},
            {"id": ids[1], "name": plain["ports"][1]["name"]},
        ])
    );
    let next = page["ports_links"][0]["href"].as_str().unwrap();
    assert!(
        next.ends_with(&format!("limit=2&marker={}", ids[1].as_str().unwrap())),
        "{next}"
    );
    let rest = get(
        &mut h,
        &t,
        &format!("/v2.0/ports?fields=id&marker={}", ids[1].as_str().unwrap()),
    );
    assert_eq!(rest["ports"].as_array().unwrap().len(), 3);
    assert!(rest.get("ports_links").is_none());
    let a = h.call("GET", "/v2.0/ports?marker=nope", Some(&t), None);
    assert_eq!(a.status, 400);
}
