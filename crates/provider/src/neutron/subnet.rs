//! Subnets as DHCP_Options rows (one per subnet; the id in
//! `external_ids:subnet_id`, else the row uuid, see `ident`): `cidr`,
//! the DHCP options OVN serves when `enable_dhcp`, and Neutron's attributes
//! in `external_ids`. The network's switch gets `other_config:subnet` (and
//! the gateway in `exclude_ips`) for OVN's own IPAM; addresses are still
//! allocated here, so the answer carries them.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use netswitch_ovsdb::datum::{set, str_map};
use netswitch_ovsdb::{row, Condition, Mutation, Mutator, Op, Row, Uuid};
use serde_json::{json, Value};

use super::attrs::{self, Obj};
use super::ident::{NETWORK, SUBNET};
use super::ipam::{self, Cidr, Pool};
use super::network::{self, set_map_keys};
use super::{port, Created, Ctx, Plan};
use crate::error::ApiError;
use crate::ids;
use crate::nb::{key, map, rows, s};

const DO: &str = "DHCP_Options";
const RES: &str = "subnet";
const CREATE: &[&str] = &[
    "name",
    "network_id",
    "cidr",
    "ip_version",
    "gateway_ip",
    "enable_dhcp",
    "dns_nameservers",
    "allocation_pools",
    "host_routes",
    "tenant_id",
    "project_id",
    "description",
    "subnetpool_id",
    "ipv6_ra_mode",
    "ipv6_address_mode",
    "tags",
    "service_types",
    "use_default_subnetpool",
    "segment_id",
    "prefixlen",
];
const UPDATE: &[&str] = &[
    "name",
    "gateway_ip",
    "enable_dhcp",
    "dns_nameservers",
    "allocation_pools",
    "host_routes",
    "description",
    "service_types",
];

/// A subnet's facts, decoded once.
#[derive(Clone, Debug)]
pub struct Subnet {
    /// Its id.
    pub id: String,
    /// Its DHCP_Options row.
    pub row: Uuid,
    /// Its network.
    pub network: String,
    /// Its CIDR.
    pub cidr: Cidr,
    /// Its gateway, if any.
    pub gateway: Option<Ipv4Addr>,
    /// Where addresses are allocated from.
    pub pools: Vec<Pool>,
    /// Whether OVN serves DHCP on it.
    pub dhcp: bool,
}

/// Decodes a DHCP_Options row made by Neutron (others are skipped).
pub fn decode(u: &Uuid, r: &Row) -> Option<Subnet> {
    let network = key(r, "external_ids", "neutron:network_id")?.to_owned();
    let cidr = Cidr::parse(s(r, "cidr"))?;
    let gateway = key(r, "external_ids", "neutron:gateway_ip").and_then(|g| g.parse().ok());
    let pools = key(r, "external_ids", "neutron:allocation_pools")
        .map_or_else(|| ipam::default_pools(&cidr, gateway), ipam::parse_pools);
    let dhcp = key(r, "external_ids", "neutron:enable_dhcp") != Some("false");
    Some(Subnet {
        id: SUBNET.id_of(u, r).to_owned(),
        row: u.clone(),
        network,
        cidr,
        gateway,
        pools,
        dhcp,
    })
}

/// Every subnet.
pub fn all(c: &Ctx) -> Vec<Subnet> {
    rows(c.r, DO).filter_map(|(u, r)| decode(u, r)).collect()
}

/// Subnet ids per network id.
pub fn by_network(c: &Ctx) -> HashMap<String, Vec<String>> {
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    for sn in all(c) {
        m.entry(sn.network).or_default().push(sn.id);
    }
    m
}

/// Subnet `id`, or 404.
pub fn find(c: &Ctx, id: &str) -> Result<Subnet, ApiError> {
    SUBNET
        .find(c.r, id)
        .and_then(|(u, r)| decode(u, r))
        .ok_or_else(|| ApiError::not_found("SubnetNotFound", "Subnet", id))
}

/// Every subnet, rendered.
pub fn list(c: &Ctx) -> Vec<Value> {
    rows(c.r, DO)
        .filter(|(u, r)| decode(u, r).is_some())
        .map(|(u, r)| render(c, u, r))
        .collect()
}

/// One subnet, rendered.
pub fn show(c: &Ctx, id: &str) -> Result<Value, ApiError> {
    SUBNET
        .find(c.r, id)
        .map(|(u, r)| render(c, u, r))
        .filter(|v| !v.is_null())
        .ok_or_else(|| ApiError::not_found("SubnetNotFound", "Subnet", id))
}

fn render(c: &Ctx, u: &Uuid, r: &Row) -> Value {
    let ext = map(r, "external_ids");
    let Some(sn) = decode(u, r) else {
        return Value::Null;
    };
    let get = |k: &str| ext.get(k).cloned().unwrap_or_default();
    let list = |k: &str| -> Vec<String> {
        ext.get(k)
            .map(|v| v.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let pools: Vec<Value> = sn
        .pools
        .iter()
        .map(|(a, b)| json!({"start": a.to_string(), "end": b.to_string()}))
        .collect();
    let routes: Vec<Value> = list("neutron:host_routes")
        .iter()
        .filter_map(|h| h.split_once(','))
        .map(|(d, n)| json!({"destination": d, "nexthop": n}))
        .collect();
    let project = ext
        .get("neutron:project_id")
        .map_or(c.project, String::as_str);
    json!({
        "id": sn.id, "name": get("neutron:subnet_name"), "network_id": sn.network,
        "tenant_id": project, "project_id": project, "ip_version": 4,
        "cidr": sn.cidr.to_string(), "gateway_ip": sn.gateway.map(|g| g.to_string()),
        "enable_dhcp": sn.dhcp, "dns_nameservers": list("neutron:dns_nameservers"),
        "allocation_pools": pools, "host_routes": routes,
        "ipv6_ra_mode": null, "ipv6_address_mode": null, "subnetpool_id": null,
        "description": get("neutron:description"), "tags": [], "service_types": [],
        "revision_number": 0, "segment_id": null,
        "created_at": ext.get("neutron:created_at"), "updated_at": ext.get("neutron:created_at"),
    })
}

/// The attributes of a create or update, checked.
struct Spec {
    gateway: Option<Option<Ipv4Addr>>,
    dhcp: Option<bool>,
    dns: Option<Vec<Ipv4Addr>>,
    pools: Option<Vec<Pool>>,
    routes: Option<Vec<(Cidr, Ipv4Addr)>>,
}

fn spec(o: &Obj, cidr: &Cidr) -> Result<Spec, ApiError> {
    let ip = |v: &str, what: &str| -> Result<Ipv4Addr, ApiError> {
        v.parse().map_err(|_| {
            ApiError::bad(format!(
                "Invalid input for {what} of subnet: '{v}' is not an IPv4 address"
            ))
        })
    };
    let gateway = match o.get("gateway_ip") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(_) => {
            let g = ip(
                &attrs::string(RES, o, "gateway_ip")?.unwrap_or_default(),
                "gateway_ip",
            )?;
            if !cidr.contains(g) {
                return Err(ApiError::bad(format!(
                    "Invalid input for gateway_ip of subnet: {g} is not in {cidr}"
                )));
            }
            Some(Some(g))
        }
    };
    let dns = attrs::str_list(RES, o, "dns_nameservers")?
        .map(|l| {
            l.iter()
                .map(|d| ip(d, "dns_nameservers"))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let pools = match o.get("allocation_pools") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(a.iter().map(|p| {
            let (Some(st), Some(en)) = (p["start"].as_str(), p["end"].as_str()) else {
                return Err(ApiError::bad("Invalid input for allocation_pools of subnet: each pool needs start and end"));
            };
            let (st, en) = (ip(st, "allocation_pools")?, ip(en, "allocation_pools")?);
            if st > en || !cidr.contains(st) || !cidr.contains(en) {
                return Err(ApiError::bad(format!("Invalid input for allocation_pools of subnet: {st}-{en} is not a range inside {cidr}")));
            }
            Ok((st, en))
        }).collect::<Result<Vec<_>, _>>()?),
        Some(_) => return Err(ApiError::bad("Invalid input for allocation_pools of subnet: not a list")),
    };
    let routes = match o.get("host_routes") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(a.iter().map(|h| {
            let d = h["destination"].as_str().and_then(Cidr::parse);
            let n = h["nexthop"].as_str().and_then(|n| n.parse().ok());
            d.zip(n).ok_or_else(|| ApiError::bad("Invalid input for host_routes of subnet: each needs destination (CIDR) and nexthop (IPv4)"))
        }).collect::<Result<Vec<_>, _>>()?),
        Some(_) => return Err(ApiError::bad("Invalid input for host_routes of subnet: not a list")),
    };
    Ok(Spec {
        gateway,
        dhcp: attrs::boolean(RES, o, "enable_dhcp")?,
        dns,
        pools,
        routes,
    })
}

/// The subnet's CIDR, IPv4 only. IPv6 subnets are refused naming
/// `ip_version` (Neutron's default is 4, so an IPv6 prefix without it is
/// refused the same way): serving them would need IPv6 address management,
/// `ipv6_ra_configs` on router ports and `dhcpv6_options` on switch ports,
/// none of which the mapping has yet.
fn ipv4_cidr(o: &Obj) -> Result<Cidr, ApiError> {
    let v = attrs::int(RES, o, "ip_version", 4, 6)?;
    let cidr_s = attrs::string(RES, o, "cidr")?;
    let v6_prefix = cidr_s
        .as_deref()
        .and_then(|c| c.split_once('/'))
        .is_some_and(|(a, _)| a.parse::<std::net::Ipv6Addr>().is_ok());
    match v {
        Some(6) => return Err(ApiError::bad(
            "Invalid input for ip_version of subnet: 6 is not served; this provider maps IPv4 subnets only (docs/api.md, provider)",
        )),
        Some(v) if v != 4 => return Err(ApiError::bad(format!(
            "Invalid input for ip_version of subnet: {v} is not 4 or 6"
        ))),
        _ if v6_prefix => return Err(ApiError::bad(format!(
            "Invalid input for cidr of subnet: '{}' is an IPv6 prefix, and ip_version 6 is not served; this provider maps IPv4 subnets only",
            cidr_s.as_deref().unwrap_or_default()
        ))),
        _ => {}
    }
    let cidr_s = cidr_s.ok_or_else(|| ApiError::bad("cidr: required for a subnet"))?;
    Cidr::parse(&cidr_s).ok_or_else(|| {
        ApiError::bad(format!(
            "Invalid input for cidr of subnet: '{cidr_s}' is not an IPv4 network address/prefix"
        ))
    })
}

/// Plans a subnet create.
pub fn create(c: &Ctx, p: &mut Plan, o: &Obj) -> Result<(), ApiError> {
    attrs::only(RES, o, CREATE)?;
    let net_id = attrs::string(RES, o, "network_id")?
        .ok_or_else(|| ApiError::bad("network_id: required for a subnet"))?;
    let (ls_u, ls) = network::lookup(c, &net_id)?;
    let cidr = ipv4_cidr(o)?;
    if let Some(other) = all(c)
        .iter()
        .find(|s| s.network == net_id && s.cidr.overlaps(&cidr))
    {
        return Err(ApiError::bad(format!(
            "Invalid input for cidr of subnet: {cidr} overlaps subnet {} ({}) of network {net_id}",
            other.id, other.cidr
        )));
    }
    let sp = spec(o, &cidr)?;
    let gateway = sp.gateway.unwrap_or(Some(cidr.first_host()));
    let pools = sp
        .pools
        .clone()
        .unwrap_or_else(|| ipam::default_pools(&cidr, gateway));
    let mut ext: BTreeMap<String, String> = BTreeMap::new();
    let id = ids::uuid4();
    ext.insert(SUBNET.key.into(), id.clone());
    ext.insert("neutron:network_id".into(), net_id.clone());
    ext.insert(
        "neutron:subnet_name".into(),
        attrs::name(RES, o, "name")?.unwrap_or_default(),
    );
    ext.insert(
        "neutron:project_id".into(),
        attrs::string(RES, o, "project_id")?
            .or(attrs::string(RES, o, "tenant_id")?)
            .unwrap_or_else(|| c.project.to_owned()),
    );
    ext.insert(
        "neutron:enable_dhcp".into(),
        sp.dhcp.unwrap_or(true).to_string(),
    );
    ext.insert(
        "neutron:allocation_pools".into(),
        ipam::format_pools(&pools),
    );
    ext.insert("neutron:created_at".into(), ids::iso8601(ids::now()));
    ext.insert(
        "neutron:description".into(),
        attrs::string(RES, o, "description")?.unwrap_or_default(),
    );
    if let Some(g) = gateway {
        ext.insert("neutron:gateway_ip".into(), g.to_string());
    }
    store_lists(&mut ext, &sp);
    let mtu = key(ls, "external_ids", "neutron:mtu")
        .unwrap_or("1442")
        .to_owned();
    let opts = dhcp_options(&cidr, gateway, &ext, &mtu);
    let r = row([
        ("cidr", json!(cidr.to_string())),
        (
            "options",
            str_map(opts.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        ),
        (
            "external_ids",
            str_map(ext.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        ),
    ]);
    p.guard(SUBNET.guard(&id));
    p.push(Op::insert(DO, r));
    p.created.push(Created::Id(id));
    if crate::nb::key(ls, "other_config", "subnet").is_none() {
        let mut oc = vec![("subnet".to_owned(), cidr.to_string())];
        if let Some(g) = gateway {
            oc.push(("exclude_ips".into(), g.to_string()));
        }
        p.ops
            .extend(set_map_keys("Logical_Switch", ls_u, "other_config", &oc));
    }
    Ok(())
}

fn store_lists(ext: &mut BTreeMap<String, String>, sp: &Spec) {
    if let Some(d) = &sp.dns {
        ext.insert(
            "neutron:dns_nameservers".into(),
            d.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    if let Some(r) = &sp.routes {
        ext.insert(
            "neutron:host_routes".into(),
            r.iter()
                .map(|(d, n)| format!("{d},{n}"))
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
}

/// The DHCP options OVN serves (ovn-nb(5), DHCP_Options): the server's id
/// and MAC, lease, router, DNS, MTU and classless routes.
fn dhcp_options(
    cidr: &Cidr,
    gw: Option<Ipv4Addr>,
    ext: &BTreeMap<String, String>,
    mtu: &str,
) -> Vec<(String, String)> {
    let server = gw.unwrap_or(cidr.first_host());
    let mut o = vec![
        ("server_id".to_owned(), server.to_string()),
        ("server_mac".into(), ids::mac()),
        ("lease_time".into(), "43200".into()),
        ("mtu".into(), mtu.to_owned()),
    ];
    if let Some(g) = gw {
        o.push(("router".into(), g.to_string()));
    }
    if let Some(d) = ext.get("neutron:dns_nameservers").filter(|d| !d.is_empty()) {
        o.push(("dns_server".into(), format!("{{{}}}", d.replace(' ', ", "))));
    }
    if let Some(r) = ext.get("neutron:host_routes").filter(|r| !r.is_empty()) {
        let routes: Vec<String> = r
            .split_whitespace()
            .filter_map(|h| h.split_once(','))
            .map(|(d, n)| format!("{d},{n}"))
            .collect();
        o.push((
            "classless_static_route".into(),
            format!("{{{}}}", routes.join(", ")),
        ));
    }
    o
}

/// Plans a subnet update.
pub fn update(c: &Ctx, p: &mut Plan, id: &str, o: &Obj) -> Result<(), ApiError> {
    let sn = find(c, id)?;
    attrs::only(RES, o, UPDATE)?;
    let sp = spec(o, &sn.cidr)?;
    let mut ext: BTreeMap<String, String> = BTreeMap::new();
    if let Some(n) = attrs::name(RES, o, "name")? {
        ext.insert("neutron:subnet_name".into(), n);
    }
    if let Some(d) = attrs::string(RES, o, "description")? {
        ext.insert("neutron:description".into(), d);
    }
    if let Some(d) = sp.dhcp {
        ext.insert("neutron:enable_dhcp".into(), d.to_string());
    }
    if let Some(pools) = &sp.pools {
        ext.insert("neutron:allocation_pools".into(), ipam::format_pools(pools));
    }
    store_lists(&mut ext, &sp);
    let u = sn.row.clone();
    let kv: Vec<(String, String)> = ext.into_iter().collect();
    p.ops.extend(set_map_keys(DO, &u, "external_ids", &kv));
    if let Some(g) = sp.gateway {
        let g = g.map(|g| g.to_string()).unwrap_or_default();
        p.ops.extend(set_map_keys(
            DO,
            &u,
            "external_ids",
            &[("neutron:gateway_ip".into(), g)],
        ));
    }
    let (set_opts, unset) = option_changes(&sp);
    p.ops.extend(set_map_keys(DO, &u, "options", &set_opts));
    p.ops.extend(unset_map_keys(DO, &u, "options", &unset));
    super::dhcpopts::follow_subnet(c, p, &sn, &set_opts, &unset);
    if let Some(on) = sp.dhcp.filter(|d| *d != sn.dhcp) {
        super::dhcpopts::follow_enable(c, p, &sn, on, (&set_opts, &unset))?;
    }
    Ok(())
}

/// The DHCP options an update sets and those it removes (a gateway,
/// DNS servers or host routes taken away: OVN reads an empty value as a
/// broken option, so the key goes).
fn option_changes(sp: &Spec) -> (Vec<(String, String)>, Vec<String>) {
    let (mut set, mut unset) = (Vec::new(), Vec::new());
    let list = |items: Vec<String>| format!("{{{}}}", items.join(", "));
    match sp.gateway {
        Some(Some(g)) => set.push(("router".to_owned(), g.to_string())),
        Some(None) => unset.push("router".to_owned()),
        None => {}
    }
    match &sp.dns {
        Some(d) if !d.is_empty() => set.push((
            "dns_server".into(),
            list(d.iter().map(ToString::to_string).collect()),
        )),
        Some(_) => unset.push("dns_server".into()),
        None => {}
    }
    match &sp.routes {
        Some(r) if !r.is_empty() => set.push((
            "classless_static_route".into(),
            list(r.iter().map(|(d, n)| format!("{d},{n}")).collect()),
        )),
        Some(_) => unset.push("classless_static_route".into()),
        None => {}
    }
    (set, unset)
}

/// The op that removes `keys` from map column `col` (none if no keys).
pub(super) fn unset_map_keys(table: &str, u: &Uuid, col: &str, keys: &[String]) -> Vec<Op> {
    if keys.is_empty() {
        return Vec::new();
    }
    vec![Op::mutate(
        table,
        vec![Condition::uuid(u)],
        vec![Mutation::new(
            col,
            Mutator::Delete,
            set(keys.iter().map(|k| json!(k))),
        )],
    )]
}

/// Plans a subnet delete: refused while a port holds one of its addresses.
pub fn delete(c: &Ctx, p: &mut Plan, id: &str) -> Result<(), ApiError> {
    let sn = find(c, id)?;
    if let Some(holder) = port::users_of_subnet(c, &sn).first() {
        return Err(ApiError::conflict("SubnetInUse", format!(
            "Unable to complete operation on subnet {id}: port {holder} still has an address in it.")));
    }
    if let Some((u, ls)) = NETWORK.find(c.r, &sn.network) {
        if key(ls, "other_config", "subnet") == Some(sn.cidr.to_string().as_str()) {
            p.push(Op::mutate(
                "Logical_Switch",
                vec![Condition::uuid(u)],
                vec![Mutation::new(
                    "other_config",
                    Mutator::Delete,
                    set([json!("subnet"), json!("exclude_ips")]),
                )],
            ));
        }
    }
    p.push(Op::delete(DO, vec![Condition::uuid(&sn.row)]));
    Ok(())
}
