//! Networks as Logical_Switches. The network id is made here and kept in
//! `external_ids:neutron:network_id` (`ident`); switches without it
//! (made by ovirt-provider-ovn, whose ids are row uuids, or `ovn-nbctl`)
//! are served under their row uuid. Neutron's attributes live in
//! `external_ids`; a provider network (`flat`/`vlan` on a physical
//! network) gets a `localnet` port.

use netswitch_ovsdb::datum::{named_uuid, set, str_map};
use netswitch_ovsdb::{row, Condition, Mutation, Mutator, Op, Row, Uuid};
use serde_json::{json, Value};

use super::attrs::{self, Obj};
use super::ident::NETWORK;
use super::{subnet, Created, Ctx, Plan};
use crate::error::ApiError;
use crate::ids;
use crate::nb::{key, rows, s};

const LS: &str = "Logical_Switch";
const RES: &str = "network";
const CREATE: &[&str] = &[
    "name",
    "admin_state_up",
    "tenant_id",
    "project_id",
    "shared",
    "mtu",
    "port_security_enabled",
    "provider:network_type",
    "provider:physical_network",
    "provider:segmentation_id",
    "router:external",
    "description",
    "availability_zone_hints",
    "dns_domain",
    "qos_policy_id",
    "is_default",
    "tags",
];
const UPDATE: &[&str] = &[
    "name",
    "admin_state_up",
    "shared",
    "mtu",
    "port_security_enabled",
    "router:external",
    "description",
    "dns_domain",
    "qos_policy_id",
    "is_default",
];

/// The switch of network `id`, or 404.
pub fn find<'a>(c: &Ctx<'a>, id: &str) -> Result<&'a Row, ApiError> {
    lookup(c, id).map(|(_, r)| r)
}

/// The switch's row uuid and row of network `id`, or 404.
pub fn lookup<'a>(c: &Ctx<'a>, id: &str) -> Result<(&'a Uuid, &'a Row), ApiError> {
    NETWORK.find(c.r, id).ok_or_else(|| not_found(id))
}

/// The 404 of network `id`.
pub fn not_found(id: &str) -> ApiError {
    ApiError::not_found("NetworkNotFound", "Network", id)
}

/// The switch row of network `id`, if it exists.
pub fn row_uuid(c: &Ctx, id: &str) -> Option<Uuid> {
    NETWORK.find(c.r, id).map(|(u, _)| u.clone())
}

/// Every network.
pub fn list(c: &Ctx) -> Vec<Value> {
    let subnets = subnet::by_network(c);
    rows(c.r, LS)
        .map(|(u, r)| {
            let id = NETWORK.id_of(u, r);
            render(c, id, r, subnets.get(id).cloned().unwrap_or_default())
        })
        .collect()
}

/// One network.
pub fn show(c: &Ctx, id: &str) -> Result<Value, ApiError> {
    let r = find(c, id)?;
    let subnets = subnet::by_network(c).remove(id).unwrap_or_default();
    Ok(render(c, id, r, subnets))
}

/// Whether port security is on for new ports of this network (default on).
pub fn port_security(r: &Row) -> bool {
    key(r, "external_ids", "neutron:port_security_enabled") != Some("false")
}

fn ext<'a>(r: &'a Row, k: &str) -> Option<&'a str> {
    key(r, "external_ids", k)
}

fn render(c: &Ctx, id: &str, r: &Row, subnets: Vec<String>) -> Value {
    let flag = |k: &str, d: bool| ext(r, k).map_or(d, |v| v == "true");
    let name = ext(r, "neutron:network_name").unwrap_or_else(|| s(r, "name"));
    let project = ext(r, "neutron:project_id").unwrap_or(c.project);
    let mtu: i64 = ext(r, "neutron:mtu")
        .and_then(|m| m.parse().ok())
        .unwrap_or(1442);
    let seg: Option<i64> = ext(r, "neutron:segmentation_id").and_then(|m| m.parse().ok());
    json!({
        "id": id, "name": name, "tenant_id": project, "project_id": project,
        "admin_state_up": flag("neutron:admin_state_up", true), "status": "ACTIVE",
        "subnets": subnets, "shared": flag("neutron:shared", false), "mtu": mtu,
        "port_security_enabled": port_security(r),
        "provider:network_type": ext(r, "neutron:network_type").unwrap_or("geneve"),
        "provider:physical_network": ext(r, "neutron:physical_network"),
        "provider:segmentation_id": seg,
        "router:external": flag("neutron:router_external", false),
        "description": ext(r, "neutron:description").unwrap_or_default(),
        "availability_zones": [], "availability_zone_hints": [], "tags": [],
        "ipv4_address_scope": null, "ipv6_address_scope": null, "is_default": false,
        "qos_policy_id": null, "dns_domain": "", "revision_number": 0,
        "created_at": ext(r, "neutron:created_at"), "updated_at": ext(r, "neutron:created_at"),
    })
}

/// The provider attributes, checked together.
struct Provider {
    kind: String,
    physnet: Option<String>,
    seg: Option<i64>,
}

fn provider(o: &Obj) -> Result<Provider, ApiError> {
    let physnet = attrs::name(RES, o, "provider:physical_network")?;
    let seg = attrs::int(RES, o, "provider:segmentation_id", 0, 16_777_215)?;
    let kind = attrs::string(RES, o, "provider:network_type")?
        .unwrap_or_else(|| if physnet.is_some() { "flat" } else { "geneve" }.into());
    match (kind.as_str(), &physnet, seg) {
        ("flat", Some(_), None) | ("geneve", None, _) => {}
        ("vlan", Some(_), Some(1..=4094)) => {}
        ("flat", ..) => return Err(ApiError::bad("provider:network_type flat needs provider:physical_network and no segmentation_id")),
        ("vlan", ..) => return Err(ApiError::bad("provider:network_type vlan needs provider:physical_network and provider:segmentation_id 1..4094")),
        ("geneve", ..) => return Err(ApiError::bad("provider:network_type geneve takes no provider:physical_network")),
        (t, ..) => return Err(ApiError::bad(format!("provider:network_type '{t}' is not flat, vlan or geneve"))),
    }
    Ok(Provider { kind, physnet, seg })
}

/// Plans a network create.
pub fn create(c: &Ctx, p: &mut Plan, o: &Obj) -> Result<(), ApiError> {
    attrs::only(RES, o, CREATE)?;
    let name = attrs::name(RES, o, "name")?.unwrap_or_default();
    let prov = provider(o)?;
    let mtu = attrs::int(RES, o, "mtu", 68, 65_535)?.unwrap_or(1442);
    let id = ids::uuid4();
    let mut ext = vec![
        (NETWORK.key.to_owned(), id.clone()),
        ("neutron:network_name".to_owned(), name.clone()),
        (
            "neutron:project_id".into(),
            attrs::string(RES, o, "project_id")?
                .or(attrs::string(RES, o, "tenant_id")?)
                .unwrap_or_else(|| c.project.to_owned()),
        ),
        ("neutron:mtu".into(), mtu.to_string()),
        ("neutron:network_type".into(), prov.kind.clone()),
        ("neutron:created_at".into(), ids::iso8601(ids::now())),
    ];
    for (k, attr) in [
        ("neutron:admin_state_up", "admin_state_up"),
        ("neutron:shared", "shared"),
        ("neutron:port_security_enabled", "port_security_enabled"),
        ("neutron:router_external", "router:external"),
    ] {
        if let Some(b) = attrs::boolean(RES, o, attr)? {
            ext.push((k.into(), b.to_string()));
        }
    }
    if let Some(d) = attrs::string(RES, o, "description")? {
        ext.push(("neutron:description".into(), d));
    }
    if let Some(pn) = &prov.physnet {
        ext.push(("neutron:physical_network".into(), pn.clone()));
    }
    if let Some(seg) = prov.seg {
        ext.push(("neutron:segmentation_id".into(), seg.to_string()));
    }
    let ls_name = p.name("ls");
    let mut ls = row([
        ("name", json!(name)),
        (
            "external_ids",
            str_map(ext.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        ),
    ]);
    if let Some(pn) = &prov.physnet {
        let lsp = p.name("localnet");
        let mut port = row([
            ("name", json!(format!("provnet-{}", ids::uuid4()))),
            ("type", json!("localnet")),
            ("addresses", json!("unknown")),
            ("options", str_map([("network_name", pn.as_str())])),
        ]);
        if prov.kind == "vlan" {
            port.insert("tag".into(), json!(prov.seg));
        }
        p.push(Op::insert_named("Logical_Switch_Port", &lsp, port));
        ls.insert("ports".into(), set([named_uuid(&lsp)]));
    }
    p.guard(NETWORK.guard(&id));
    p.push(Op::insert_named(LS, &ls_name, ls));
    p.created.push(Created::Id(id));
    Ok(())
}

/// Plans a network update (provider attributes are fixed at create).
pub fn update(c: &Ctx, p: &mut Plan, id: &str, o: &Obj) -> Result<(), ApiError> {
    let (uuid, _) = lookup(c, id)?;
    attrs::only(RES, o, UPDATE)?;
    let mut set_ext: Vec<(String, String)> = Vec::new();
    let mut cols = Row::new();
    if let Some(n) = attrs::name(RES, o, "name")? {
        cols.insert("name".into(), json!(n));
        set_ext.push(("neutron:network_name".into(), n));
    }
    if let Some(m) = attrs::int(RES, o, "mtu", 68, 65_535)? {
        set_ext.push(("neutron:mtu".into(), m.to_string()));
    }
    for (k, attr) in [
        ("neutron:admin_state_up", "admin_state_up"),
        ("neutron:shared", "shared"),
        ("neutron:port_security_enabled", "port_security_enabled"),
        ("neutron:router_external", "router:external"),
    ] {
        if let Some(b) = attrs::boolean(RES, o, attr)? {
            set_ext.push((k.into(), b.to_string()));
        }
    }
    if let Some(d) = attrs::string(RES, o, "description")? {
        set_ext.push(("neutron:description".into(), d));
    }
    if !cols.is_empty() {
        p.push(Op::update(LS, vec![Condition::uuid(uuid)], cols));
    }
    p.ops
        .extend(set_map_keys(LS, uuid, "external_ids", &set_ext));
    Ok(())
}

/// Ops that set `keys` of a map column: delete the old values, insert the
/// new (a map `insert` keeps an existing key's value).
pub fn set_map_keys(table: &str, uuid: &Uuid, col: &str, kv: &[(String, String)]) -> Vec<Op> {
    if kv.is_empty() {
        return Vec::new();
    }
    // Later pairs win: a set may not hold a key twice.
    let kv: std::collections::BTreeMap<&str, &str> =
        kv.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let keys = set(kv.keys().map(|k| json!(k)));
    vec![Op::mutate(
        table,
        vec![Condition::uuid(uuid)],
        vec![
            Mutation::new(col, Mutator::Delete, keys),
            Mutation::new(col, Mutator::Insert, str_map(kv)),
        ],
    )]
}

/// Plans a network delete: refused while it has ports (localnet aside);
/// its subnets' DHCP_Options go with it.
pub fn delete(c: &Ctx, p: &mut Plan, id: &str) -> Result<(), ApiError> {
    let (uuid, ls) = lookup(c, id)?;
    let busy = crate::nb::uuids(ls, "ports").iter().any(|u| {
        c.r.row("Logical_Switch_Port", u)
            .is_some_and(|lsp| s(lsp, "type") != "localnet")
    });
    if busy {
        return Err(ApiError::conflict("NetworkInUse", format!(
            "Unable to complete operation on network {id}. There are one or more ports still in use on the network.")));
    }
    for sn in subnet::all(c).into_iter().filter(|sn| sn.network == id) {
        p.push(Op::delete("DHCP_Options", vec![Condition::uuid(&sn.row)]));
    }
    p.push(Op::delete(LS, vec![Condition::uuid(uuid)]));
    Ok(())
}
