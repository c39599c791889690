//! Floating IPs: the address is held by a port on the floating network
//! (owner `network:floatingip`, no OVN addresses, so IPAM counts it and OVN
//! ignores it; the floating IP's id is that port's name); associating it
//! adds a `dnat_and_snat` NAT row to the router that has its gateway on the
//! floating network and an interface on the fixed port's network.

use std::net::Ipv4Addr;

use netswitch_ovsdb::datum::{empty_set, named_uuid, set, str_map};
use netswitch_ovsdb::{row, Condition, Mutation, Mutator, Op, Row, Uuid};
use serde_json::{json, Value};

use super::attrs::{self, Obj};
use super::ident::Guard;
use super::network::{self, set_map_keys};
use super::{port, router, Created, Ctx, Plan};
use crate::error::ApiError;
use crate::ids;
use crate::nb::{key, rows, s};

const LSP: &str = "Logical_Switch_Port";
const RES: &str = "floatingip";
const OWNER: &str = "network:floatingip";

fn is_fip(r: &Row) -> bool {
    key(r, "external_ids", "neutron:device_owner") == Some(OWNER)
}

/// Floating IP `id`, or 404.
fn find<'a>(c: &Ctx<'a>, id: &str) -> Result<(&'a Uuid, &'a Row), ApiError> {
    rows(c.r, LSP)
        .find(|(_, r)| s(r, "name") == id && is_fip(r))
        .ok_or_else(|| ApiError::not_found("FloatingIPNotFound", "Floating IP", id))
}

/// Every floating IP.
pub fn list(c: &Ctx) -> Vec<Value> {
    let idx = port::Index::new(c);
    rows(c.r, LSP)
        .filter(|(_, r)| is_fip(r))
        .map(|(u, r)| render(c, &idx, u, r))
        .collect()
}

/// One floating IP.
pub fn show(c: &Ctx, id: &str) -> Result<Value, ApiError> {
    let (u, r) = find(c, id)?;
    Ok(render(c, &port::Index::new(c), u, r))
}

fn render(c: &Ctx, idx: &port::Index, u: &Uuid, r: &Row) -> Value {
    let ext = |k: &str| key(r, "external_ids", k).filter(|v| !v.is_empty());
    let project = ext("neutron:project_id").unwrap_or(c.project);
    let port_id = ext("neutron:fip_port_id");
    json!({
        "id": s(r, "name"), "floating_network_id": idx.net_of.get(u),
        "floating_ip_address": port::ips(r).first().map(ToString::to_string),
        "fixed_ip_address": ext("neutron:fip_fixed_ip"), "port_id": port_id,
        "router_id": ext("neutron:fip_router_id"),
        "status": if port_id.is_some() { "ACTIVE" } else { "DOWN" },
        "tenant_id": project, "project_id": project,
        "description": ext("neutron:description").unwrap_or_default(),
        "tags": [], "port_details": null, "revision_number": 0,
        "created_at": ext("neutron:created_at"), "updated_at": ext("neutron:created_at"),
    })
}

/// Plans a floating IP create (and its association when `port_id` is given).
pub fn create(c: &Ctx, p: &mut Plan, o: &Obj) -> Result<(), ApiError> {
    attrs::only(
        RES,
        o,
        &[
            "floating_network_id",
            "floating_ip_address",
            "port_id",
            "fixed_ip_address",
            "tenant_id",
            "project_id",
            "description",
            "subnet_id",
            "dns_name",
            "dns_domain",
            "qos_policy_id",
            "tags",
        ],
    )?;
    let net = attrs::string(RES, o, "floating_network_id")?
        .ok_or_else(|| ApiError::bad("floating_network_id: required for a floatingip"))?;
    let ls_u = network::lookup(c, &net)?.0.clone();
    let want = match (
        attrs::string(RES, o, "floating_ip_address")?,
        attrs::string(RES, o, "subnet_id")?,
    ) {
        (Some(a), sub) => Some(json!([{"ip_address": a, "subnet_id": sub}])),
        (None, Some(sub)) => Some(json!([{"subnet_id": sub}])),
        (None, None) => None,
    };
    let ips = port::allocate(c, p, &net, want.as_ref(), None)?;
    let ip = *ips.first().ok_or_else(|| {
        ApiError::bad(format!(
            "floating_network_id {net}: the network has no subnet"
        ))
    })?;
    let id = ids::uuid4();
    let mut kv = vec![
        ("neutron:device_owner".to_owned(), OWNER.to_owned()),
        ("neutron:device_id".into(), id.clone()),
        ("neutron:ips".into(), ip.to_string()),
        ("neutron:port_security".into(), "false".into()),
        ("neutron:project_id".into(), c.project.to_owned()),
        ("neutron:created_at".into(), ids::iso8601(ids::now())),
        (
            "neutron:description".into(),
            attrs::string(RES, o, "description")?.unwrap_or_default(),
        ),
    ];
    if let Some(pid) = attrs::string(RES, o, "port_id")? {
        kv.extend(associate(
            c,
            p,
            &id,
            &net,
            ip,
            &pid,
            attrs::string(RES, o, "fixed_ip_address")?,
        )?);
    }
    let n = p.name("fip");
    p.guard(Guard::name(LSP, &id));
    p.push(Op::insert_named(
        LSP,
        &n,
        row([
            ("name", json!(id)),
            ("addresses", empty_set()),
            ("enabled", json!(false)),
            (
                "external_ids",
                str_map(kv.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            ),
        ]),
    ));
    p.push(Op::mutate(
        "Logical_Switch",
        vec![Condition::uuid(&ls_u)],
        vec![Mutation::new(
            "ports",
            Mutator::Insert,
            set([named_uuid(&n)]),
        )],
    ));
    p.created.push(Created::Id(id));
    Ok(())
}

/// Plans the NAT of an association; returns the floating IP's new keys.
fn associate(
    c: &Ctx,
    p: &mut Plan,
    id: &str,
    ext_net: &str,
    ip: Ipv4Addr,
    pid: &str,
    fixed: Option<String>,
) -> Result<Vec<(String, String)>, ApiError> {
    let (pu, pr) = port::find(c, pid)?;
    let idx = port::Index::new(c);
    let net = idx.net_of.get(pu).cloned().unwrap_or_default();
    let ips = port::ips(pr);
    let fixed: Ipv4Addr = match fixed {
        Some(f) => f.parse().ok().filter(|f| ips.contains(f)).ok_or_else(|| ApiError::bad(format!(
            "Invalid input for fixed_ip_address of floatingip: {f} is not an address of port {pid}")))?,
        None => *ips.first().ok_or_else(|| ApiError::bad(format!("Bad floatingip request: port {pid} has no fixed IP")))?,
    };
    let taken = rows(c.r, "NAT").any(|(_, n)| {
        s(n, "type") == "dnat_and_snat"
            && s(n, "logical_port") == pid
            && s(n, "logical_ip") == fixed.to_string()
    });
    if taken {
        return Err(ApiError::conflict(
            "FloatingIPPortAlreadyAssociated",
            format!("Port {pid} address {fixed} already has a floating IP"),
        ));
    }
    let lr = router::for_floating(c, ext_net, &net).ok_or_else(|| ApiError::new(404, "ExternalGatewayForFloatingIPNotFound", format!(
        "External network {ext_net} is not reachable from subnet of port {pid}: no router has a gateway on it and an interface on network {net}")))?;
    let n = p.name("nat");
    let (port, addr) = (pid.to_owned(), fixed.to_string());
    p.guard(Guard::columns(
        "NAT",
        &[("logical_port", &port), ("logical_ip", &addr)],
    ));
    p.push(Op::insert_named(
        "NAT",
        &n,
        row([
            ("type", json!("dnat_and_snat")),
            ("external_ip", json!(ip.to_string())),
            ("logical_ip", json!(fixed.to_string())),
            ("logical_port", json!(pid)),
            ("external_ids", str_map([("neutron:fip_id", id)])),
        ]),
    ));
    p.push(Op::mutate(
        "Logical_Router",
        vec![Condition::uuid(&lr)],
        vec![Mutation::new("nat", Mutator::Insert, set([named_uuid(&n)]))],
    ));
    let rid =
        c.r.row("Logical_Router", &lr)
            .map(|r| router::router_id(&lr, r))
            .unwrap_or_default();
    Ok(vec![
        ("neutron:fip_port_id".into(), pid.to_owned()),
        ("neutron:fip_fixed_ip".into(), fixed.to_string()),
        ("neutron:fip_router_id".into(), rid),
    ])
}

/// Ops that remove floating IP `id`'s NAT, if any.
fn unnat(c: &Ctx, p: &mut Plan, id: &str) {
    for (nu, n) in
        rows(c.r, "NAT").filter(|(_, n)| key(n, "external_ids", "neutron:fip_id") == Some(id))
    {
        let _ = n;
        for (lu, _) in
            rows(c.r, "Logical_Router").filter(|(_, r)| crate::nb::uuids(r, "nat").contains(nu))
        {
            p.push(Op::mutate(
                "Logical_Router",
                vec![Condition::uuid(lu)],
                vec![Mutation::new("nat", Mutator::Delete, set([nu.to_json()]))],
            ));
        }
    }
}

fn cleared() -> Vec<(String, String)> {
    [
        "neutron:fip_port_id",
        "neutron:fip_fixed_ip",
        "neutron:fip_router_id",
    ]
    .iter()
    .map(|k| ((*k).to_owned(), String::new()))
    .collect()
}

/// Plans a floating IP update: `port_id` (re)associates, null dissociates.
pub fn update(c: &Ctx, p: &mut Plan, id: &str, o: &Obj) -> Result<(), ApiError> {
    let (u, r) = find(c, id)?;
    attrs::only(
        RES,
        o,
        &[
            "port_id",
            "fixed_ip_address",
            "description",
            "qos_policy_id",
        ],
    )?;
    let mut kv = Vec::new();
    if let Some(d) = attrs::string(RES, o, "description")? {
        kv.push(("neutron:description".into(), d));
    }
    if o.contains_key("port_id") {
        unnat(c, p, id);
        kv.extend(cleared());
        if let Some(pid) = attrs::string(RES, o, "port_id")? {
            let net = port::Index::new(c)
                .net_of
                .get(u)
                .cloned()
                .unwrap_or_default();
            let ip = *port::ips(r)
                .first()
                .ok_or_else(|| ApiError::bad("floating IP without an address"))?;
            kv.extend(associate(
                c,
                p,
                id,
                &net,
                ip,
                &pid,
                attrs::string(RES, o, "fixed_ip_address")?,
            )?);
        }
    }
    p.ops.extend(set_map_keys(LSP, u, "external_ids", &kv));
    Ok(())
}

/// Plans a floating IP delete.
pub fn delete(c: &Ctx, p: &mut Plan, id: &str) -> Result<(), ApiError> {
    let (u, _) = find(c, id)?;
    unnat(c, p, id);
    port::detach(c, p, u);
    Ok(())
}

/// Ops that dissociate every floating IP of port `pid` (the port goes).
pub fn disassociate_port(c: &Ctx, p: &mut Plan, pid: &str) {
    let fips: Vec<(Uuid, String)> = rows(c.r, LSP)
        .filter(|(_, r)| is_fip(r) && key(r, "external_ids", "neutron:fip_port_id") == Some(pid))
        .map(|(u, r)| (u.clone(), s(r, "name").to_owned()))
        .collect();
    for (u, id) in fips {
        unnat(c, p, &id);
        p.ops
            .extend(set_map_keys(LSP, &u, "external_ids", &cleared()));
    }
}
