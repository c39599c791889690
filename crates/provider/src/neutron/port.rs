//! Ports as Logical_Switch_Ports named by the port id. `addresses` and
//! `port_security` hold "MAC IP..."; Neutron's attributes live in
//! `external_ids` (`neutron:ips` is what IPAM reads, so addresses of router
//! ports, which OVN spells `router`, are still counted);
//! `binding:host_id` becomes `options:requested-chassis`; security groups
//! are Port_Group memberships.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use netswitch_ovsdb::datum::{empty_set, named_uuid, set, str_map};
use netswitch_ovsdb::{row, Condition, Mutation, Mutator, Op, Row, Uuid};
use serde_json::{json, Value};

use super::attrs::{self, Obj};
use super::network::{self, set_map_keys};
use super::query::ListQuery;
use super::subnet::{self, Subnet};
use super::{secgroup, Created, Ctx, Plan};
use crate::error::ApiError;
use crate::ids;
use crate::nb::{key, opt_bool, rows, s, strs, uuids};

const LSP: &str = "Logical_Switch_Port";
const RES: &str = "port";
const CREATE: &[&str] = &[
    "network_id",
    "name",
    "admin_state_up",
    "mac_address",
    "fixed_ips",
    "device_id",
    "device_owner",
    "binding:host_id",
    "security_groups",
    "port_security_enabled",
    "tenant_id",
    "project_id",
    "description",
    "allowed_address_pairs",
    "binding:vnic_type",
    "binding:profile",
    "extra_dhcp_opts",
    "dns_name",
    "qos_policy_id",
    "tags",
];
const UPDATE: &[&str] = &[
    "name",
    "admin_state_up",
    "mac_address",
    "fixed_ips",
    "device_id",
    "device_owner",
    "binding:host_id",
    "security_groups",
    "port_security_enabled",
    "description",
    "allowed_address_pairs",
    "binding:vnic_type",
    "binding:profile",
    "extra_dhcp_opts",
    "dns_name",
    "qos_policy_id",
];

/// What rendering a port needs besides its row.
pub struct Index {
    /// Port row uuid to network id.
    pub net_of: HashMap<Uuid, String>,
    /// Port row uuid to security group ids.
    pub sgs_of: HashMap<Uuid, Vec<String>>,
    /// Every subnet.
    pub subnets: Vec<Subnet>,
}

impl Index {
    /// Built once per call.
    pub fn new(c: &Ctx) -> Self {
        let mut net_of = HashMap::new();
        for (u, r) in rows(c.r, "Logical_Switch") {
            for p in uuids(r, "ports") {
                net_of.insert(p, u.0.clone());
            }
        }
        Self {
            net_of,
            sgs_of: secgroup::groups_of_ports(c),
            subnets: subnet::all(c),
        }
    }
}

/// Whether a switch port is a Neutron port (localnet ports are plumbing).
fn is_port(r: &Row) -> bool {
    s(r, "type") != "localnet"
}

/// The IPs a port holds: `neutron:ips`, else what `addresses` says.
pub fn ips(r: &Row) -> Vec<Ipv4Addr> {
    match key(r, "external_ids", "neutron:ips") {
        Some(v) => v
            .split_whitespace()
            .filter_map(|a| a.parse().ok())
            .collect(),
        None => strs(r, "addresses")
            .iter()
            .flat_map(|a| {
                a.split_whitespace()
                    .skip(1)
                    .filter_map(|x| x.parse().ok())
                    .collect::<Vec<_>>()
            })
            .collect(),
    }
}

/// The port's MAC.
pub fn mac(r: &Row) -> Option<String> {
    key(r, "external_ids", "neutron:mac")
        .map(str::to_owned)
        .or_else(|| {
            strs(r, "addresses").iter().find_map(|a| {
                a.split_whitespace()
                    .next()
                    .filter(|m| m.contains(':'))
                    .map(str::to_owned)
            })
        })
}

/// The port named `id`, or 404.
pub fn find<'a>(c: &Ctx<'a>, id: &str) -> Result<(&'a Uuid, &'a Row), ApiError> {
    rows(c.r, LSP)
        .find(|(_, r)| s(r, "name") == id && is_port(r))
        .ok_or_else(|| ApiError::not_found("PortNotFound", "Port", id))
}

/// Every port (filtering by network first when the query names one).
pub fn list(c: &Ctx, q: &ListQuery) -> Vec<Value> {
    let idx = Index::new(c);
    let _ = q;
    rows(c.r, LSP)
        .filter(|(_, r)| is_port(r))
        .map(|(u, r)| render(c, &idx, u, r))
        .collect()
}

/// One port.
pub fn show(c: &Ctx, id: &str) -> Result<Value, ApiError> {
    let (u, r) = find(c, id)?;
    Ok(render(c, &Index::new(c), u, r))
}

/// The ports holding an address of `sn`.
pub fn users_of_subnet(c: &Ctx, sn: &Subnet) -> Vec<String> {
    let Some(ls) = c.r.row("Logical_Switch", &Uuid(sn.network.clone())) else {
        return Vec::new();
    };
    uuids(ls, "ports")
        .iter()
        .filter_map(|u| c.r.row(LSP, u))
        .filter(|r| ips(r).iter().any(|ip| sn.cidr.contains(*ip)))
        .map(|r| s(r, "name").to_owned())
        .collect()
}

/// A port as Neutron shows it.
pub fn render(c: &Ctx, idx: &Index, u: &Uuid, r: &Row) -> Value {
    let ext = |k: &str| key(r, "external_ids", k);
    let net = idx.net_of.get(u).cloned().unwrap_or_default();
    let fixed: Vec<Value> = ips(r)
        .iter()
        .map(|ip| {
            let sn = idx
                .subnets
                .iter()
                .find(|sn| sn.network == net && sn.cidr.contains(*ip));
            json!({"subnet_id": sn.map(|s| s.id.clone()), "ip_address": ip.to_string()})
        })
        .collect();
    let project = ext("neutron:project_id").unwrap_or(c.project);
    let host = key(r, "options", "requested-chassis").unwrap_or_default();
    let up = opt_bool(r, "up") == Some(true);
    json!({
        "id": s(r, "name"), "name": ext("neutron:port_name").unwrap_or_default(),
        "network_id": net, "tenant_id": project, "project_id": project,
        "mac_address": mac(r), "fixed_ips": fixed,
        "admin_state_up": opt_bool(r, "enabled") != Some(false),
        "status": if up { "ACTIVE" } else { "DOWN" },
        "device_id": ext("neutron:device_id").unwrap_or_default(),
        "device_owner": ext("neutron:device_owner").unwrap_or_default(),
        "binding:host_id": host, "binding:vif_type": if host.is_empty() { "unbound" } else { "ovs" },
        "binding:vnic_type": "normal", "binding:profile": {}, "binding:vif_details": {},
        "security_groups": idx.sgs_of.get(u).cloned().unwrap_or_default(),
        "port_security_enabled": ext("neutron:port_security") != Some("false"),
        "allowed_address_pairs": [], "extra_dhcp_opts": [], "tags": [],
        "description": ext("neutron:description").unwrap_or_default(),
        "revision_number": 0, "created_at": ext("neutron:created_at"), "updated_at": ext("neutron:created_at"),
    })
}

/// The MACs and IPs taken on network `net`, committed and planned, but
/// for the port `except` (an update re-uses its own).
fn taken(
    c: &Ctx,
    p: &Plan,
    net: &str,
    except: Option<&Uuid>,
) -> (HashSet<String>, HashSet<Ipv4Addr>) {
    let mut macs = HashSet::new();
    let mut used = HashSet::new();
    if let Some(ls) = c.r.row("Logical_Switch", &Uuid(net.to_owned())) {
        for u in uuids(ls, "ports").iter().filter(|u| Some(*u) != except) {
            if let Some(r) = c.r.row(LSP, u) {
                macs.extend(mac(r));
                used.extend(ips(r));
            }
        }
    }
    macs.extend(
        p.macs
            .iter()
            .filter(|(n, _)| n == net)
            .map(|(_, m)| m.clone()),
    );
    used.extend(p.ips.iter().filter(|(n, _)| n == net).map(|(_, ip)| *ip));
    (macs, used)
}

/// Checks a MAC's form (six hex octets, unicast).
fn parse_mac(m: &str) -> Result<String, ApiError> {
    let parts: Vec<&str> = m.split(':').collect();
    let ok = parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && u8::from_str_radix(p, 16).is_ok());
    if !ok || u8::from_str_radix(parts[0], 16).is_ok_and(|b| b & 1 == 1) {
        return Err(ApiError::bad(format!(
            "Invalid input for mac_address of port: '{m}' is not a valid unicast MAC"
        )));
    }
    Ok(m.to_ascii_lowercase())
}

/// The port's MAC: the one asked for (unique on the network) or a new one.
pub(super) fn choose_mac(
    c: &Ctx,
    p: &mut Plan,
    net: &str,
    want: Option<String>,
    except: Option<&Uuid>,
) -> Result<String, ApiError> {
    let (macs, _) = taken(c, p, net, except);
    let m = match want {
        Some(m) => {
            let m = parse_mac(&m)?;
            if macs.contains(&m) {
                return Err(ApiError::conflict("MacAddressInUse", format!(
                    "Unable to complete operation for network {net}. The mac address {m} is in use.")));
            }
            m
        }
        None => loop {
            let m = ids::mac();
            if !macs.contains(&m) {
                break m;
            }
        },
    };
    p.macs.insert((net.to_owned(), m.clone()));
    Ok(m)
}

/// The addresses asked for, allocated: absent means one from the
/// network's first subnet; each item may name a subnet, an address, or both.
pub fn allocate(
    c: &Ctx,
    p: &mut Plan,
    net: &str,
    want: Option<&Value>,
    except: Option<&Uuid>,
) -> Result<Vec<Ipv4Addr>, ApiError> {
    let subnets: Vec<Subnet> = subnet::all(c)
        .into_iter()
        .filter(|s| s.network == net)
        .collect();
    let items: Vec<Value> = match want {
        None | Some(Value::Null) => subnets
            .first()
            .map(|s| json!({"subnet_id": s.id}))
            .into_iter()
            .collect(),
        Some(Value::Array(a)) => a.clone(),
        Some(v) => {
            return Err(ApiError::bad(format!(
                "Invalid input for fixed_ips of port: {v} is not a list"
            )))
        }
    };
    let (_, mut used) = taken(c, p, net, except);
    let mut out = Vec::new();
    for it in &items {
        let ip = allocate_one(&subnets, net, it, &used)?;
        used.insert(ip);
        p.ips.insert((net.to_owned(), ip));
        out.push(ip);
    }
    Ok(out)
}

fn allocate_one(
    subnets: &[Subnet],
    net: &str,
    it: &Value,
    used: &HashSet<Ipv4Addr>,
) -> Result<Ipv4Addr, ApiError> {
    let sub_id = it.get("subnet_id").and_then(Value::as_str);
    let by_id = match sub_id {
        Some(id) => Some(subnets.iter().find(|s| s.id == id).ok_or_else(|| {
            ApiError::bad(format!(
                "Invalid input for fixed_ips of port: subnet {id} is not a subnet of network {net}"
            ))
        })?),
        None => None,
    };
    match it.get("ip_address").and_then(Value::as_str) {
        Some(a) => {
            let ip: Ipv4Addr = a.parse().map_err(|_| {
                ApiError::bad(format!(
                    "Invalid input for fixed_ips of port: '{a}' is not an IPv4 address"
                ))
            })?;
            let sn = subnets.iter().find(|s| s.cidr.contains(ip) && by_id.is_none_or(|b| b.id == s.id)).ok_or_else(|| {
                ApiError::bad(format!("Invalid input for fixed_ips of port: {ip} is in no subnet of network {net}"))
            })?;
            if used.contains(&ip) || sn.gateway == Some(ip) {
                return Err(ApiError::conflict(
                    "IpAddressAlreadyAllocated",
                    format!("IP address {ip} already allocated in subnet {}", sn.id),
                ));
            }
            Ok(ip)
        }
        None => {
            let sn = by_id.ok_or_else(|| {
                ApiError::bad(
                    "Invalid input for fixed_ips of port: each item needs subnet_id or ip_address",
                )
            })?;
            super::ipam::first_free(&sn.pools, used).ok_or_else(|| {
                ApiError::conflict(
                    "IpAddressGenerationFailure",
                    format!(
                        "No more IP addresses available on network {net} (subnet {})",
                        sn.id
                    ),
                )
            })
        }
    }
}

/// The attributes a port row is built from.
struct Shape {
    mac: String,
    ips: Vec<Ipv4Addr>,
    security: bool,
    dhcp: Option<String>,
}

impl Shape {
    fn addresses(&self) -> Value {
        let mut a = self.mac.clone();
        for ip in &self.ips {
            a.push_str(&format!(" {ip}"));
        }
        json!(a)
    }

    fn columns(&self) -> Row {
        let addr = self.addresses();
        row([
            ("addresses", addr.clone()),
            (
                "port_security",
                if self.security { addr } else { empty_set() },
            ),
            (
                "dhcpv4_options",
                self.dhcp
                    .as_ref()
                    .map_or_else(empty_set, |d| Uuid(d.clone()).to_json()),
            ),
        ])
    }

    fn ext(&self) -> Vec<(String, String)> {
        vec![
            ("neutron:mac".into(), self.mac.clone()),
            (
                "neutron:ips".into(),
                self.ips
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            ("neutron:port_security".into(), self.security.to_string()),
        ]
    }
}

/// The DHCP_Options a port gets: its first address's subnet, if it serves DHCP.
fn dhcp_for(c: &Ctx, net: &str, ips: &[Ipv4Addr]) -> Option<String> {
    let first = ips.first()?;
    subnet::all(c)
        .into_iter()
        .find(|s| s.network == net && s.dhcp && s.cidr.contains(*first))
        .map(|s| s.id)
}

/// The plain string attributes kept in `external_ids`.
fn ext_strings(o: &Obj) -> Result<Vec<(String, String)>, ApiError> {
    let mut v = Vec::new();
    for (k, attr) in [
        ("neutron:port_name", "name"),
        ("neutron:device_id", "device_id"),
        ("neutron:device_owner", "device_owner"),
        ("neutron:description", "description"),
    ] {
        if let Some(x) = attrs::name(RES, o, attr)? {
            v.push((k.to_owned(), x));
        }
    }
    Ok(v)
}

/// Plans a port create.
pub fn create(c: &Ctx, p: &mut Plan, o: &Obj) -> Result<(), ApiError> {
    attrs::only(RES, o, CREATE)?;
    let net = attrs::string(RES, o, "network_id")?
        .ok_or_else(|| ApiError::bad("network_id: required for a port"))?;
    let ls = network::find(c, &net)?;
    let id = ids::uuid4();
    let mac = choose_mac(c, p, &net, attrs::string(RES, o, "mac_address")?, None)?;
    let ips = allocate(c, p, &net, o.get("fixed_ips"), None)?;
    let security = attrs::boolean(RES, o, "port_security_enabled")?
        .unwrap_or_else(|| network::port_security(ls));
    let sgs = attrs::str_list(RES, o, "security_groups")?;
    let shape = Shape {
        dhcp: dhcp_for(c, &net, &ips),
        mac,
        ips,
        security,
    };
    let mut ext = shape.ext();
    ext.extend(ext_strings(o)?);
    ext.push((
        "neutron:project_id".into(),
        attrs::string(RES, o, "project_id")?
            .or(attrs::string(RES, o, "tenant_id")?)
            .unwrap_or_else(|| c.project.to_owned()),
    ));
    ext.push(("neutron:created_at".into(), ids::iso8601(ids::now())));
    let mut r = shape.columns();
    r.insert("name".into(), json!(id));
    r.insert(
        "external_ids".into(),
        str_map(ext.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
    );
    if let Some(up) = attrs::boolean(RES, o, "admin_state_up")? {
        r.insert("enabled".into(), json!(up));
    }
    if let Some(h) = attrs::name(RES, o, "binding:host_id")?.filter(|h| !h.is_empty()) {
        r.insert(
            "options".into(),
            str_map([("requested-chassis", h.as_str())]),
        );
    }
    let lsp = p.name("lsp");
    p.push(Op::insert_named(LSP, &lsp, r));
    p.push(Op::mutate(
        "Logical_Switch",
        vec![Condition::uuid(&Uuid(net))],
        vec![Mutation::new(
            "ports",
            Mutator::Insert,
            set([named_uuid(&lsp)]),
        )],
    ));
    let groups = secgroup::resolve(c, p, sgs, security)?;
    secgroup::join(c, p, &groups, named_uuid(&lsp));
    p.created.push(Created::Id(id));
    Ok(())
}

/// Plans a port update.
pub fn update(c: &Ctx, p: &mut Plan, id: &str, o: &Obj) -> Result<(), ApiError> {
    let (u, r) = find(c, id)?;
    attrs::only(RES, o, UPDATE)?;
    let idx = Index::new(c);
    let net = idx.net_of.get(u).cloned().unwrap_or_default();
    let old_mac = mac(r).unwrap_or_default();
    let mac = match attrs::string(RES, o, "mac_address")? {
        Some(m) if m.to_ascii_lowercase() != old_mac => choose_mac(c, p, &net, Some(m), Some(u))?,
        _ => old_mac,
    };
    let ips = match o.get("fixed_ips") {
        Some(f) => allocate(c, p, &net, Some(f), Some(u))?,
        None => ips(r),
    };
    let security = attrs::boolean(RES, o, "port_security_enabled")?
        .unwrap_or(key(r, "external_ids", "neutron:port_security") != Some("false"));
    let shape = Shape {
        dhcp: dhcp_for(c, &net, &ips),
        mac,
        ips,
        security,
    };
    let mut cols = if key(r, "external_ids", "neutron:device_owner")
        .is_some_and(|d| d.starts_with("network:router"))
    {
        Row::new() // router ports keep `addresses: router`
    } else {
        shape.columns()
    };
    if let Some(up) = attrs::boolean(RES, o, "admin_state_up")? {
        cols.insert("enabled".into(), json!(up));
    }
    p.push(Op::update(LSP, vec![Condition::uuid(u)], cols));
    let mut ext = shape.ext();
    ext.extend(ext_strings(o)?);
    p.ops.extend(set_map_keys(LSP, u, "external_ids", &ext));
    if let Some(h) = attrs::name(RES, o, "binding:host_id")? {
        let op = if h.is_empty() {
            Op::mutate(
                LSP,
                vec![Condition::uuid(u)],
                vec![Mutation::new(
                    "options",
                    Mutator::Delete,
                    set([json!("requested-chassis")]),
                )],
            )
        } else {
            set_map_keys(LSP, u, "options", &[("requested-chassis".into(), h)]).remove(0)
        };
        p.push(op);
    }
    let sgs = attrs::str_list(RES, o, "security_groups")?;
    if sgs.is_some() || o.contains_key("port_security_enabled") {
        if !security && sgs.as_ref().is_some_and(|s| !s.is_empty()) {
            return Err(ApiError::conflict(
                "PortSecurityAndIPRequiredForSecurityGroups",
                format!("Port {id}: security_groups need port_security_enabled"),
            ));
        }
        secgroup::leave_all(c, p, u);
        let keep = sgs
            .or_else(|| Some(idx.sgs_of.get(u).cloned().unwrap_or_default()))
            .filter(|_| security);
        let groups = secgroup::resolve(c, p, keep.or(Some(Vec::new())), security)?;
        secgroup::join(c, p, &groups, u.to_json());
    }
    Ok(())
}

/// Plans a port delete: out of its switch and groups (the row then goes,
/// unreferenced); its floating IPs are disassociated.
pub fn delete(c: &Ctx, p: &mut Plan, id: &str) -> Result<(), ApiError> {
    let (u, r) = find(c, id)?;
    let owner = key(r, "external_ids", "neutron:device_owner").unwrap_or_default();
    if owner == "network:router_interface"
        || owner == "network:router_gateway"
        || owner == "network:floatingip"
    {
        return Err(ApiError::conflict("PortInUse", format!(
            "Port {id} is a router's port ({owner}): use remove_router_interface or clear the gateway")));
    }
    detach(c, p, u);
    super::fip::disassociate_port(c, p, id);
    Ok(())
}

/// Ops that take port row `u` out of its switch and groups.
pub fn detach(c: &Ctx, p: &mut Plan, u: &Uuid) {
    for (ls, r) in rows(c.r, "Logical_Switch") {
        if uuids(r, "ports").contains(u) {
            p.push(Op::mutate(
                "Logical_Switch",
                vec![Condition::uuid(ls)],
                vec![Mutation::new("ports", Mutator::Delete, set([u.to_json()]))],
            ));
        }
    }
    secgroup::leave_all(c, p, u);
}
