//! Keystone v2.0 and the calls oVirt engine's provider proxy makes: a
//! token without a tenant, `GET /v2.0/`, a network lookup by name before
//! each create, full subnet and port lists on allocate and deallocate —
//! raw HTTP, as engine sends it; and python-openstackclient with v2.0.

mod common;

use common::{provider, Http, Nb, Openstack, PASSWORD, USER};
use serde_json::json;

#[test]
fn engine_calls_over_keystone_v2() {
    let nb = Nb::start();
    let p = provider(&nb);
    let mut ks = Http::connect(p.keystone);
    // Engine joins its URL with a doubled slash and asks without a tenant.
    let a = ks.call(
        "POST",
        "/v2.0//tokens",
        None,
        Some(&json!({"auth": {
        "passwordCredentials": {"username": USER, "password": PASSWORD}}})),
    );
    assert_eq!(a.status, 200, "{:?}", a.body);
    let tok = a.body["access"]["token"]["id"].as_str().unwrap().to_owned();
    assert!(a.body["access"]["token"]["expires"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    assert_eq!(a.body["access"]["user"]["name"], USER);
    let cat = a.body["access"]["serviceCatalog"].as_array().unwrap();
    let net = cat
        .iter()
        .find(|s| s["type"] == "network")
        .expect("network in the catalog");
    assert_eq!(
        net["endpoints"][0]["publicURL"],
        format!("http://{}", p.neutron)
    );
    assert_eq!(net["endpoints"][0]["region"], "RegionOne");
    let bad = ks.call(
        "POST",
        "/v2.0/tokens",
        None,
        Some(&json!({"auth": {
        "passwordCredentials": {"username": USER, "password": "wrong"}}})),
    );
    assert_eq!(bad.status, 401);

    let mut n = Http::connect(p.neutron);
    let t = Some(tok.as_str());
    assert_eq!(
        n.call("GET", "/", None, None).body["versions"][0]["id"],
        "v2.0"
    );
    let root = n.call("GET", "/v2.0/", t, None);
    assert_eq!(root.status, 200);
    assert!(root.body["resources"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["collection"] == "ports"));
    assert_eq!(n.call("GET", "/v2.0/extensions", t, None).status, 200);
    assert_eq!(
        n.call("GET", "/v2.0/extensions/router", t, None).status,
        200
    );
    assert_eq!(
        n.call("GET", "/v2.0/extensions/no-such-alias", t, None)
            .status,
        404
    );

    // Lookup, then create, as engine does; numbers as strings.
    assert_eq!(
        n.call("GET", "/v2.0/networks?name=ovirt-net", t, None).body["networks"],
        json!([])
    );
    let c = n.call(
        "POST",
        "/v2.0/networks",
        t,
        Some(&json!({"network": {"name": "ovirt-net", "mtu": "1300", "admin_state_up": "True"}})),
    );
    assert_eq!(c.status, 201, "{:?}", c.body);
    let net_id = c.body["network"]["id"].as_str().unwrap().to_owned();
    assert_eq!(c.body["network"]["mtu"], 1300);
    assert_eq!(nb.get("Logical_Switch", &net_id, "name"), "ovirt-net");
    let s = n.call(
        "POST",
        "/v2.0/subnets",
        t,
        Some(&json!({"subnet": {"name": "s", "network_id": net_id,
        "cidr": "10.9.0.0/24", "ip_version": "4", "gateway_ip": "10.9.0.254", "enable_dhcp": true,
        "dns_nameservers": ["10.9.0.53"]}})),
    );
    assert_eq!(s.status, 201, "{:?}", s.body);
    assert_eq!(
        n.call("GET", "/v2.0/subnets", t, None).body["subnets"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Allocate: port lists, then the port with engine's device fields.
    assert_eq!(n.call("GET", "/v2.0/ports", t, None).status, 200);
    let port = n.call(
        "POST",
        "/v2.0/ports",
        t,
        Some(&json!({"port": {"network_id": net_id, "name": "nic1",
        "mac_address": "56:6f:ab:cd:00:01", "admin_state_up": true, "device_id": "vnic-uuid",
        "device_owner": "oVirt", "binding:host_id": "host-a"}})),
    );
    assert_eq!(port.status, 201, "{:?}", port.body);
    let pid = port.body["port"]["id"].as_str().unwrap().to_owned();
    assert_eq!(port.body["port"]["fixed_ips"][0]["ip_address"], "10.9.0.1");
    assert_eq!(
        nb.get("Logical_Switch_Port", &pid, "addresses"),
        "56:6f:ab:cd:00:01 10.9.0.1"
    );
    let found = n.call(
        "GET",
        "/v2.0/ports?device_id=vnic-uuid&fields=id&fields=mac_address",
        t,
        None,
    );
    assert_eq!(
        found.body["ports"],
        json!([{"id": pid, "mac_address": "56:6f:ab:cd:00:01"}])
    );
    // The same MAC again, and an address in use: 409.
    let dup = n.call(
        "POST",
        "/v2.0/ports",
        t,
        Some(&json!({"port": {"network_id": net_id, "mac_address": "56:6f:ab:cd:00:01"}})),
    );
    assert_eq!(dup.status, 409);
    assert_eq!(dup.body["NeutronError"]["type"], "MacAddressInUse");
    let dup = n.call(
        "POST",
        "/v2.0/ports",
        t,
        Some(&json!({"port": {"network_id": net_id, "fixed_ips": [{"ip_address": "10.9.0.1"}]}})),
    );
    assert_eq!(
        dup.body["NeutronError"]["type"],
        "IpAddressAlreadyAllocated"
    );

    // A bulk create is one transaction: a bad item leaves nothing behind.
    let before = nb.count("Logical_Switch_Port");
    let bulk = n.call(
        "POST",
        "/v2.0/ports",
        t,
        Some(&json!({"ports": [
        {"network_id": net_id}, {"network_id": net_id, "mac_address": "56:6f:ab:cd:00:01"}]})),
    );
    assert_eq!(bulk.status, 409);
    assert_eq!(nb.count("Logical_Switch_Port"), before);
    let bulk = n.call(
        "POST",
        "/v2.0/ports",
        t,
        Some(&json!({"ports": [{"network_id": net_id}, {"network_id": net_id}]})),
    );
    assert_eq!(bulk.status, 201);
    let ips: Vec<_> = bulk.body["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["fixed_ips"][0]["ip_address"].clone())
        .collect();
    assert_eq!(ips, [json!("10.9.0.2"), json!("10.9.0.3")]);
    // Paging, sorting.
    let page = n.call(
        "GET",
        "/v2.0/ports?limit=2&sort_key=mac_address&sort_dir=asc",
        t,
        None,
    );
    assert_eq!(page.body["ports"].as_array().unwrap().len(), 2);
    assert_eq!(page.body["ports"][0]["mac_address"], "56:6f:ab:cd:00:01");
    assert!(page.body["ports_links"][0]["href"]
        .as_str()
        .unwrap()
        .contains("marker="));

    // Deallocate: list, delete, list.
    assert_eq!(
        n.call("DELETE", &format!("/v2.0/ports/{pid}"), t, None)
            .status,
        204
    );
    assert_eq!(
        n.call("GET", &format!("/v2.0/ports/{pid}"), t, None).status,
        404
    );
    assert_eq!(
        n.call("GET", "/v2.0/ports", t, None).body["ports"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn openstackclient_over_keystone_v2() {
    let nb = Nb::start();
    let p = provider(&nb);
    let os = Openstack::v2(&p);
    let net = os.run(&["network", "create", "-f", "json", "v2net"]);
    let id = net["id"].as_str().unwrap().to_owned();
    assert_eq!(nb.get("Logical_Switch", &id, "name"), "v2net");
    let sub = os.run(&[
        "subnet",
        "create",
        "-f",
        "json",
        "--network",
        "v2net",
        "--subnet-range",
        "10.2.0.0/24",
        "v2sub",
    ]);
    let port = os.run(&[
        "port",
        "create",
        "-f",
        "json",
        "--network",
        "v2net",
        "v2port",
    ]);
    assert_eq!(port["fixed_ips"][0]["subnet_id"], sub["id"]);
    let listed = os.run(&["port", "list", "-f", "json"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    os.run(&["port", "delete", "v2port"]);
    os.run(&["subnet", "delete", "v2sub"]);
    os.run(&["network", "delete", "v2net"]);
    assert_eq!(nb.count("Logical_Switch"), 0);
}
