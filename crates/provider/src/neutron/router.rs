//! Routers as Logical_Routers (id in `external_ids:neutron:router_id`, or
//! the row uuid for routers made elsewhere). An interface is a Neutron port
//! of type `router` on the subnet's switch, peered with a Logical_Router_Port
//! `lrp-<port id>` holding the subnet's gateway address. The external
//! gateway is the same on the external network, plus a default route and,
//! with `enable_snat`, one SNAT NAT row per interface subnet. `routes`
//! are static routes of their own (`routes`).

use std::net::Ipv4Addr;

use netswitch_ovsdb::datum::{named_uuid, set, str_map};
use netswitch_ovsdb::{row, Condition, Mutation, Mutator, Op, Row, Uuid};
use serde_json::{json, Value};

use super::attrs::{self, Obj};
use super::gwchassis;
use super::ident::{Guard, ROUTER};
use super::network::{self, set_map_keys};
use super::port;
use super::routes;
use super::secgroup::add_to_insert;
use super::subnet::{self, Subnet};
use super::{Created, Ctx, Plan};
use crate::error::ApiError;
use crate::ids;
use crate::nb::{key, rows, s, uuids};

const LR: &str = "Logical_Router";
const RES: &str = "router";

/// Where a router's new rows attach: a committed row or this plan's insert.
#[derive(Clone)]
pub(super) enum Target {
    Row(Uuid),
    Planned(usize),
}

pub(super) fn attach(p: &mut Plan, t: &Target, col: &str, v: Value) {
    match t {
        Target::Planned(i) => add_to_insert(p, *i, col, v),
        Target::Row(u) => {
            p.push(Op::mutate(
                LR,
                vec![Condition::uuid(u)],
                vec![Mutation::new(col, Mutator::Insert, set([v]))],
            ));
        }
    }
}

pub(super) fn detach_ref(p: &mut Plan, lr: &Uuid, col: &str, v: &Uuid) {
    p.push(Op::mutate(
        LR,
        vec![Condition::uuid(lr)],
        vec![Mutation::new(col, Mutator::Delete, set([v.to_json()]))],
    ));
}

/// A router's id.
pub fn router_id(u: &Uuid, r: &Row) -> String {
    key(r, "external_ids", "neutron:router_id").map_or_else(|| u.0.clone(), str::to_owned)
}

/// Router `id`, or 404.
pub fn find<'a>(c: &Ctx<'a>, id: &str) -> Result<(&'a Uuid, &'a Row), ApiError> {
    rows(c.r, LR)
        .find(|(u, r)| router_id(u, r) == id)
        .ok_or_else(|| ApiError::not_found("RouterNotFound", "Router", id))
}

/// Every router.
pub fn list(c: &Ctx) -> Vec<Value> {
    rows(c.r, LR).map(|(u, r)| render(c, u, r)).collect()
}

/// One router.
pub fn show(c: &Ctx, id: &str) -> Result<Value, ApiError> {
    find(c, id).map(|(u, r)| render(c, u, r))
}

fn render(c: &Ctx, u: &Uuid, r: &Row) -> Value {
    let ext = |k: &str| key(r, "external_ids", k);
    let project = ext("neutron:project_id").unwrap_or(c.project);
    let gw = ext("neutron:gw_port_id").and_then(|g| port::find(c, g).ok()).map(|(_, gp)| {
        let net = ext("neutron:gw_network_id").unwrap_or_default();
        let subnets = subnet::all(c);
        let fixed: Vec<Value> = port::ips(gp).iter().map(|ip| {
            let sn = subnets.iter().find(|s| s.network == net && s.cidr.contains(*ip));
            json!({"subnet_id": sn.map(|s| s.id.clone()), "ip_address": ip.to_string()})
        }).collect();
        json!({"network_id": net, "enable_snat": ext("neutron:enable_snat") != Some("false"), "external_fixed_ips": fixed})
    });
    json!({
        "id": router_id(u, r), "name": ext("neutron:router_name").unwrap_or_else(|| s(r, "name")),
        "tenant_id": project, "project_id": project, "status": "ACTIVE",
        "admin_state_up": crate::nb::opt_bool(r, "enabled") != Some(false),
        "external_gateway_info": gw, "routes": routes::render(c, r), "distributed": false, "ha": false,
        "description": ext("neutron:description").unwrap_or_default(), "tags": [],
        "availability_zones": [], "availability_zone_hints": [], "revision_number": 0,
        "created_at": ext("neutron:created_at"), "updated_at": ext("neutron:created_at"),
    })
}

/// Plans a router create.
pub fn create(c: &Ctx, p: &mut Plan, o: &Obj) -> Result<(), ApiError> {
    attrs::only(
        RES,
        o,
        &[
            "name",
            "admin_state_up",
            "external_gateway_info",
            "tenant_id",
            "project_id",
            "description",
            "distributed",
            "ha",
            "availability_zone_hints",
            "tags",
            "flavor_id",
        ],
    )?;
    let id = ids::uuid4();
    p.guard(ROUTER.guard(&id));
    let name = attrs::name(RES, o, "name")?.unwrap_or_default();
    let project = attrs::string(RES, o, "project_id")?
        .or(attrs::string(RES, o, "tenant_id")?)
        .unwrap_or_else(|| c.project.to_owned());
    let now = ids::iso8601(ids::now());
    let ext = [
        ("neutron:router_id", id.as_str()),
        ("neutron:router_name", name.as_str()),
        ("neutron:project_id", project.as_str()),
        ("neutron:created_at", now.as_str()),
        (
            "neutron:description",
            &attrs::string(RES, o, "description")?.unwrap_or_default(),
        ),
    ];
    let mut r = row([
        ("name", json!(name)),
        ("external_ids", str_map(ext.iter().map(|(k, v)| (*k, &**v)))),
    ]);
    if let Some(up) = attrs::boolean(RES, o, "admin_state_up")? {
        r.insert("enabled".into(), json!(up));
    }
    let n = p.name("lr");
    let i = p.push(Op::insert_named(LR, &n, r));
    if let Some(gw) = o
        .get("external_gateway_info")
        .filter(|g| g.as_object().is_some_and(|m| !m.is_empty()))
    {
        let kv = set_gateway(c, p, &Target::Planned(i), &id, &[], gw)?;
        let mut ext_now: Vec<(String, String)> = ext
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ext_now.extend(kv);
        if let Some(Op::Insert { row, .. }) = p.ops.get_mut(i) {
            row.insert(
                "external_ids".into(),
                str_map(ext_now.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            );
        }
    }
    p.created.push(Created::Id(id));
    Ok(())
}

/// Plans the gateway: a port on the external network, its router port, a
/// default route, and SNAT for `inside` subnets. Returns the router's new
/// `external_ids` keys.
fn set_gateway(
    c: &Ctx,
    p: &mut Plan,
    lr: &Target,
    id: &str,
    inside: &[Subnet],
    gw: &Value,
) -> Result<Vec<(String, String)>, ApiError> {
    let o = gw
        .as_object()
        .ok_or_else(|| ApiError::bad("external_gateway_info of router: not an object"))?;
    let net = attrs::string(RES, o, "network_id")?
        .ok_or_else(|| ApiError::bad("external_gateway_info.network_id of router: required"))?;
    let ls = network::find(c, &net)?;
    if key(ls, "external_ids", "neutron:router_external") != Some("true") {
        return Err(ApiError::bad(format!(
            "Bad router request: Network {net} is not an external network"
        )));
    }
    let snat = attrs::boolean(RES, o, "enable_snat")?.unwrap_or(true);
    let want = o
        .get("external_fixed_ips")
        .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()));
    let ips = port::allocate(c, p, &net, want, None)?;
    let ip = *ips.first().ok_or_else(|| {
        ApiError::bad(format!(
            "Bad router request: network {net} has no subnet for the gateway"
        ))
    })?;
    let sn = subnet::all(c)
        .into_iter()
        .find(|s| s.network == net && s.cidr.contains(ip))
        .ok_or_else(|| ApiError::bad("external subnet not found"))?;
    let port_id = router_port(c, p, lr, id, &net, &sn, ip, "network:router_gateway")?;
    if let Some(nh) = sn.gateway {
        let n = p.name("route");
        p.push(Op::insert_named(
            "Logical_Router_Static_Route",
            &n,
            row([
                ("ip_prefix", json!("0.0.0.0/0")),
                ("nexthop", json!(nh.to_string())),
                ("external_ids", str_map([("neutron:gateway", "true")])),
            ]),
        ));
        attach(p, lr, "static_routes", named_uuid(&n));
    }
    if snat {
        for s in inside {
            add_snat(p, lr, ip, s);
        }
    }
    Ok(vec![
        ("neutron:gw_port_id".into(), port_id),
        ("neutron:gw_network_id".into(), net),
        ("neutron:gw_ip".into(), ip.to_string()),
        ("neutron:enable_snat".into(), snat.to_string()),
    ])
}

pub(super) fn add_snat(p: &mut Plan, lr: &Target, ext_ip: Ipv4Addr, s: &Subnet) {
    let n = p.name("nat");
    p.push(Op::insert_named(
        "NAT",
        &n,
        row([
            ("type", json!("snat")),
            ("external_ip", json!(ext_ip.to_string())),
            ("logical_ip", json!(s.cidr.to_string())),
            (
                "external_ids",
                str_map([("neutron:subnet_id", s.id.as_str())]),
            ),
        ]),
    ));
    attach(p, lr, "nat", named_uuid(&n));
}

/// A router-owned port `ip` on `net` and its peer router port; returns the
/// port id.
#[allow(clippy::too_many_arguments)]
pub(super) fn router_port(
    c: &Ctx,
    p: &mut Plan,
    lr: &Target,
    id: &str,
    net: &str,
    sn: &Subnet,
    ip: Ipv4Addr,
    owner: &str,
) -> Result<String, ApiError> {
    let port_id = ids::uuid4();
    let ls_u = network::lookup(c, net)?.0.clone();
    let mac = port::choose_mac(c, p, net, None, None)?;
    let lrp = format!("lrp-{port_id}");
    p.guard(Guard::name("Logical_Router_Port", &lrp));
    let mut lrp_row = row([
        ("name", json!(lrp)),
        ("mac", json!(mac)),
        ("networks", json!(format!("{ip}/{}", sn.cidr.prefix))),
        ("external_ids", str_map([("neutron:router_id", id)])),
    ]);
    if owner == "network:router_gateway" {
        let chassis = gwchassis::for_gateway(c, id, net);
        if !chassis.is_empty() {
            lrp_row.insert("gateway_chassis".into(), gateway_chassis(p, &lrp, &chassis));
        }
    }
    let n = p.name("lrp");
    p.push(Op::insert_named("Logical_Router_Port", &n, lrp_row));
    attach(p, lr, "ports", named_uuid(&n));
    let ext = [
        ("neutron:device_owner", owner),
        ("neutron:device_id", id),
        ("neutron:mac", &mac),
        ("neutron:ips", &ip.to_string()),
        ("neutron:port_security", "false"),
        ("neutron:project_id", c.project),
    ];
    let n = p.name("lsp");
    p.push(Op::insert_named(
        "Logical_Switch_Port",
        &n,
        row([
            ("name", json!(port_id)),
            ("type", json!("router")),
            ("addresses", json!("router")),
            ("options", str_map([("router-port", lrp.as_str())])),
            ("external_ids", str_map(ext.iter().map(|(k, v)| (*k, &**v)))),
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
    Ok(port_id)
}

/// One `Gateway_Chassis` row per chosen chassis (`gwchassis`) for router port
/// `lrp`, the first listed the most preferred (highest priority), as
/// `ovn-nbctl lrp-set-gateway-chassis` makes them; returns the set the
/// port's `gateway_chassis` column takes. The rows are not root: they go
/// with the port.
fn gateway_chassis(p: &mut Plan, lrp: &str, chassis: &[String]) -> Value {
    let mut refs = Vec::with_capacity(chassis.len());
    for (i, ch) in chassis.iter().enumerate() {
        let n = p.name("gwc");
        p.push(Op::insert_named(
            "Gateway_Chassis",
            &n,
            row([
                ("name", json!(format!("{lrp}_{ch}"))),
                ("chassis_name", json!(ch)),
                ("priority", json!(chassis.len() - i)),
            ]),
        ));
        refs.push(named_uuid(&n));
    }
    set(refs)
}

/// The router's interface ports and their subnets.
pub(super) fn interfaces<'a>(c: &Ctx<'a>, id: &str) -> Vec<(&'a Uuid, &'a Row, Option<Subnet>)> {
    let subnets = subnet::all(c);
    rows(c.r, "Logical_Switch_Port")
        .filter(|(_, r)| {
            key(r, "external_ids", "neutron:device_owner") == Some("network:router_interface")
                && key(r, "external_ids", "neutron:device_id") == Some(id)
        })
        .map(|(u, r)| {
            let ip = port::ips(r).first().copied();
            let sn = ip.and_then(|ip| subnets.iter().find(|s| s.cidr.contains(ip)).cloned());
            (u, r, sn)
        })
        .collect()
}

/// The router port peered with switch port `port_id`.
pub(super) fn lrp_of<'a>(c: &Ctx<'a>, port_id: &str) -> Option<&'a Uuid> {
    let name = format!("lrp-{port_id}");
    rows(c.r, "Logical_Router_Port")
        .find(|(_, r)| s(r, "name") == name)
        .map(|(u, _)| u)
}

/// Plans the gateway's removal.
fn clear_gateway(c: &Ctx, p: &mut Plan, lr_u: &Uuid, lr: &Row) -> Result<(), ApiError> {
    let Some(gw) = key(lr, "external_ids", "neutron:gw_port_id") else {
        return Ok(());
    };
    if let Some((nu, _)) = uuids(lr, "nat")
        .iter()
        .filter_map(|u| c.r.row("NAT", u).map(|n| (u, n)))
        .find(|(_, n)| s(n, "type") == "dnat_and_snat")
    {
        return Err(ApiError::conflict(
            "RouterExternalGatewayInUseByFloatingIp",
            format!(
                "Gateway cannot be updated for router {}: floating IPs use it (NAT {})",
                router_id(lr_u, lr),
                nu.0
            ),
        ));
    }
    if let Ok((pu, _)) = port::find(c, gw) {
        port::detach(c, p, pu);
    }
    if let Some(lrp) = lrp_of(c, gw) {
        detach_ref(p, lr_u, "ports", lrp);
    }
    for u in uuids(lr, "static_routes") {
        if c.r
            .row("Logical_Router_Static_Route", &u)
            .is_some_and(|r| key(r, "external_ids", "neutron:gateway").is_some())
        {
            detach_ref(p, lr_u, "static_routes", &u);
        }
    }
    for u in uuids(lr, "nat") {
        if c.r.row("NAT", &u).is_some_and(|n| s(n, "type") == "snat") {
            detach_ref(p, lr_u, "nat", &u);
        }
    }
    p.push(Op::mutate(
        LR,
        vec![Condition::uuid(lr_u)],
        vec![Mutation::new(
            "external_ids",
            Mutator::Delete,
            set([
                "neutron:gw_port_id",
                "neutron:gw_network_id",
                "neutron:gw_ip",
                "neutron:enable_snat",
            ]
            .map(|k| json!(k))),
        )],
    ));
    Ok(())
}

/// Plans a router update; a new `external_gateway_info` replaces the old.
pub fn update(c: &Ctx, p: &mut Plan, id: &str, o: &Obj) -> Result<(), ApiError> {
    let (u, r) = find(c, id)?;
    attrs::only(
        RES,
        o,
        &[
            "name",
            "admin_state_up",
            "external_gateway_info",
            "description",
            "routes",
            "distributed",
            "ha",
        ],
    )?;
    let mut kv = Vec::new();
    if let Some(n) = attrs::name(RES, o, "name")? {
        kv.push(("neutron:router_name".to_owned(), n.clone()));
        p.push(Op::update(
            LR,
            vec![Condition::uuid(u)],
            row([("name", json!(n))]),
        ));
    }
    if let Some(d) = attrs::string(RES, o, "description")? {
        kv.push(("neutron:description".into(), d));
    }
    if let Some(up) = attrs::boolean(RES, o, "admin_state_up")? {
        p.push(Op::update(
            LR,
            vec![Condition::uuid(u)],
            row([("enabled", json!(up))]),
        ));
    }
    let new_routes = o.get("routes").map(routes::parse).transpose()?;
    if let Some(rs) = &new_routes {
        // Before the gateway's ops: see `routes::replace`.
        routes::replace(c, p, u, r, rs);
    }
    let mut gw_now = routes::gateway_of(r);
    if let Some(gw) = o.get("external_gateway_info") {
        clear_gateway(c, p, u, r)?;
        if gw.as_object().is_some_and(|m| !m.is_empty()) {
            let inside: Vec<Subnet> = interfaces(c, id)
                .into_iter()
                .filter_map(|(_, _, s)| s)
                .collect();
            kv.extend(set_gateway(c, p, &Target::Row(u.clone()), id, &inside, gw)?);
        }
        let get = |k: &str| kv.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
        gw_now =
            get("neutron:gw_network_id").zip(get("neutron:gw_ip").and_then(|g| g.parse().ok()));
    }
    if let Some(rs) = &new_routes {
        routes::validate(c, id, &gw_now, rs)?;
    }
    p.ops.extend(set_map_keys(LR, u, "external_ids", &kv));
    Ok(())
}

/// Plans `add_extraroutes` / `remove_extraroutes` (`{"router":
/// {"routes": [...]}}`): the router's routes with these added or taken
/// out, checked and replaced as an update's are.
pub fn extra_routes(
    c: &Ctx,
    p: &mut Plan,
    id: &str,
    body: &Obj,
    add: bool,
) -> Result<(), ApiError> {
    let (u, r) = find(c, id)?;
    let given = body
        .get(RES)
        .and_then(|o| o.get("routes"))
        .ok_or_else(|| ApiError::bad("the body must hold \"router\": {\"routes\": [...]}"))?;
    let given = routes::parse(given)?;
    if add {
        // Only the new ones: the router's own were checked when set.
        routes::validate(c, id, &routes::gateway_of(r), &given)?;
    }
    let want = routes::combine(c, r, &given, add);
    routes::replace(c, p, u, r, &want);
    Ok(())
}

/// Plans a router delete: refused while it has interfaces.
pub fn delete(c: &Ctx, p: &mut Plan, id: &str) -> Result<(), ApiError> {
    let (u, r) = find(c, id)?;
    if let Some((_, ip, _)) = interfaces(c, id).first() {
        return Err(ApiError::conflict(
            "RouterInUse",
            format!(
                "Router {id} still has ports (interface port {}).",
                s(ip, "name")
            ),
        ));
    }
    clear_gateway(c, p, u, r)?;
    p.push(Op::delete(LR, vec![Condition::uuid(u)]));
    Ok(())
}

/// The router that can NAT between `ext_net` and a port on `net`: its
/// gateway on the one and an interface on the other.
pub fn for_floating(c: &Ctx, ext_net: &str, net: &str) -> Option<Uuid> {
    rows(c.r, LR)
        .find(|(u, r)| {
            key(r, "external_ids", "neutron:gw_network_id") == Some(ext_net)
                && interfaces(c, &router_id(u, r))
                    .iter()
                    .any(|(_, _, s)| s.as_ref().is_some_and(|s| s.network == net))
        })
        .map(|(u, _)| u.clone())
}
