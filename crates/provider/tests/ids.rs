//! Neutron ids: made by the provider and kept in `external_ids`
//! (`neutron:network_id` on a switch, `subnet_id` on DHCP_Options,
//! `neutron:security_group_rule_id` on an ACL), so a create's outcome can
//! be found after a lost reply; rows made without them (by ovirt-provider-ovn,
//! whose ids are row uuids, or by `ovn-nbctl`) keep their row uuid as id.

mod common;

use common::{provider, token, Http, Nb};
use serde_json::{json, Value};

fn call(h: &mut Http, t: &str, m: &str, path: &str, body: Option<Value>) -> Value {
    let a = h.call(m, path, Some(t), body.as_ref());
    assert!(a.status < 300, "{m} {path}: {} {:?}", a.status, a.body);
    a.body
}

#[test]
fn new_rows_carry_their_id_and_old_rows_keep_their_uuid() {
    let nb = Nb::start();
    let p = provider(&nb);
    let t = token(&p);
    let mut h = Http::connect(p.neutron);

    // Made by the provider: the id is in external_ids, not the row uuid.
    let net = call(
        &mut h,
        &t,
        "POST",
        "/v2.0/networks",
        Some(json!({"network": {"name": "new"}})),
    );
    let id = net["network"]["id"].as_str().unwrap().to_owned();
    let found = nb.ctl(&[
        "--bare",
        "--columns=_uuid",
        "find",
        "Logical_Switch",
        &format!("external_ids:neutron\\:network_id={id}"),
    ]);
    assert_eq!(found.lines().count(), 1, "{found}");
    assert_ne!(found.trim(), id);
    let sub = call(
        &mut h,
        &t,
        "POST",
        "/v2.0/subnets",
        Some(json!({"subnet": {"network_id": id, "cidr": "10.1.0.0/24", "ip_version": 4}})),
    );
    let sub_id = sub["subnet"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        nb.ctl(&[
            "--bare",
            "--columns=cidr",
            "find",
            "DHCP_Options",
            &format!("external_ids:subnet_id={sub_id}")
        ]),
        "10.1.0.0/24"
    );

    // Made by ovn-nbctl, as ovirt-provider-ovn leaves them: served under
    // the row uuid, and usable.
    nb.ctl(&["ls-add", "old"]);
    let old = nb.ctl(&[
        "--bare",
        "--columns=_uuid",
        "find",
        "Logical_Switch",
        "name=old",
    ]);
    let shown = call(&mut h, &t, "GET", &format!("/v2.0/networks/{old}"), None);
    assert_eq!(shown["network"]["name"], "old");
    let dhcp = nb.ctl(&[
        "dhcp-options-create",
        "10.2.0.0/24",
        &format!("neutron:network_id={old}"),
    ]);
    let _ = dhcp;
    let old_sub = nb.ctl(&[
        "--bare",
        "--columns=_uuid",
        "find",
        "DHCP_Options",
        "cidr=\"10.2.0.0/24\"",
    ]);
    let subs = call(
        &mut h,
        &t,
        "GET",
        &format!("/v2.0/subnets?network_id={old}"),
        None,
    );
    assert_eq!(subs["subnets"][0]["id"], old_sub.as_str(), "{subs}");
    let port = call(
        &mut h,
        &t,
        "POST",
        "/v2.0/ports",
        Some(json!({"port": {"network_id": old}})),
    );
    assert_eq!(port["port"]["network_id"], old.as_str());
    assert_eq!(port["port"]["fixed_ips"][0]["subnet_id"], old_sub.as_str());
    let pid = port["port"]["id"].as_str().unwrap();
    assert!(nb.get("Logical_Switch", &old, "ports").contains(&nb.ctl(&[
        "--bare",
        "--columns=_uuid",
        "find",
        "Logical_Switch_Port",
        &format!("name={pid}")
    ])));
    call(&mut h, &t, "DELETE", &format!("/v2.0/ports/{pid}"), None);
    call(
        &mut h,
        &t,
        "DELETE",
        &format!("/v2.0/subnets/{old_sub}"),
        None,
    );
    call(&mut h, &t, "DELETE", &format!("/v2.0/networks/{old}"), None);
    call(&mut h, &t, "DELETE", &format!("/v2.0/networks/{id}"), None);
    assert_eq!(nb.count("Logical_Switch"), 0);
    assert_eq!(nb.count("DHCP_Options"), 0);
}
