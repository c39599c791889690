//! Ports as Logical_Switch_Ports named by the port id. `addresses` and
//! `port_security` hold "MAC IP..."; Neutron's attributes live in
//! `external_ids` (`neutron:ips` is what IPAM reads, so addresses of router
//! ports, which OVN spells `router`, are still counted);
//! `binding:host_id` becomes `options:requested-chassis`; security groups
//! are Port_Group memberships; `allowed_address_pairs` extend
//! `port_security` (`pairs`) and `extra_dhcp_opts` give the port a
//! DHCP_Options row of its own (`dhcpopts`).

use std::collections::HashMap;
use std::net::Ipv4Addr;

use netswitch_ovsdb::datum::{empty_set, named_uuid, set, str_map};
use netswitch_ovsdb::{row, Condition, Mutation, Mutator, Op, Row, Uuid};
use serde::Serialize;
use serde_json::{json, Value};

pub use super::alloc::{allocate, choose_mac};
use super::attrs::{self, Obj};
use super::dhcpopts::{self, Opt};
use super::ident::{Guard, NETWORK};
use super::json::{empty_object, MapSink, Sink, Writer};
use super::network::{self, set_map_keys};
use super::pairs::{self, Pair};
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
                net_of.insert(p, NETWORK.id_of(u, r).to_owned());
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

/// Writes a plain page of ports (no filters, no sort: see
/// [`ListQuery::plain`]) into `buf` as a JSON array, each port straight
/// from its row; returns how many and the last id (for the next link).
pub fn write_list(
    c: &Ctx,
    q: &ListQuery,
    buf: &mut Vec<u8>,
) -> Result<(usize, Option<String>), ApiError> {
    let idx = Index::new(c);
    let mut it = rows(c.r, LSP).filter(|(_, r)| is_port(r));
    if let Some(m) = q.marker() {
        if !it.by_ref().any(|(_, r)| s(r, "name") == m) {
            return Err(ApiError::bad(format!("marker: no object has id {m}")));
        }
    }
    let (mut n, mut last) = (0, None);
    buf.push(b'[');
    for (u, r) in it.take(q.limit().unwrap_or(usize::MAX)) {
        if n > 0 {
            buf.push(b',');
        }
        let mut w = Writer::begin(buf, &q.fields);
        emit(c, &idx, u, r, &mut w);
        w.end();
        n += 1;
        last = Some(r);
    }
    buf.push(b']');
    Ok((n, last.map(|r| s(r, "name").to_owned())))
}

/// Ports by id, for the answer of a (bulk) create: the index and the
/// name lookup built once, not per port.
pub fn show_many(c: &Ctx, ids: &[String]) -> Result<Vec<Value>, ApiError> {
    let idx = Index::new(c);
    let by_name: HashMap<&str, (&Uuid, &Row)> = rows(c.r, LSP)
        .filter(|(_, r)| is_port(r))
        .map(|(u, r)| (s(r, "name"), (u, r)))
        .collect();
    ids.iter()
        .map(|id| {
            let (u, r) = by_name
                .get(id.as_str())
                .ok_or_else(|| ApiError::not_found("PortNotFound", "Port", id))?;
            Ok(render(c, &idx, u, r))
        })
        .collect()
}

/// One port.
pub fn show(c: &Ctx, id: &str) -> Result<Value, ApiError> {
    let (u, r) = find(c, id)?;
    Ok(render(c, &Index::new(c), u, r))
}

/// The ports holding an address of `sn`.
pub fn users_of_subnet(c: &Ctx, sn: &Subnet) -> Vec<String> {
    let Some((_, ls)) = NETWORK.find(c.r, &sn.network) else {
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
    let mut m = MapSink::default();
    emit(c, idx, u, r, &mut m);
    Value::Object(m.0)
}

/// One address of a port, as `fixed_ips` shows it.
#[derive(Serialize)]
struct FixedIp<'a> {
    subnet_id: Option<&'a str>,
    ip_address: String,
}

/// A port's attributes, into `s` (one definition for shows and lists).
pub fn emit<S: Sink>(c: &Ctx, idx: &Index, u: &Uuid, r: &Row, s: &mut S) {
    let ext = |k: &str| key(r, "external_ids", k);
    let net = idx.net_of.get(u).map_or("", String::as_str);
    let fixed: Vec<FixedIp> = ips(r)
        .into_iter()
        .map(|ip| {
            let sn = idx
                .subnets
                .iter()
                .find(|sn| sn.network == net && sn.cidr.contains(ip));
            let subnet_id = sn.map(|s| s.id.as_str());
            let ip_address = ip.to_string();
            FixedIp {
                subnet_id,
                ip_address,
            }
        })
        .collect();
    let project = ext("neutron:project_id").unwrap_or(c.project);
    let host = key(r, "options", "requested-chassis").unwrap_or_default();
    let up = opt_bool(r, "up") == Some(true);
    let none: &[&str] = &[];
    s.field("id", crate::nb::s(r, "name"));
    s.field("name", ext("neutron:port_name").unwrap_or_default());
    s.field("network_id", net);
    s.field("tenant_id", project);
    s.field("project_id", project);
    s.field("mac_address", &mac(r));
    s.field("fixed_ips", &fixed);
    s.field("admin_state_up", &(opt_bool(r, "enabled") != Some(false)));
    s.field("status", if up { "ACTIVE" } else { "DOWN" });
    s.field("device_id", ext("neutron:device_id").unwrap_or_default());
    s.field(
        "device_owner",
        ext("neutron:device_owner").unwrap_or_default(),
    );
    s.field("binding:host_id", host);
    s.field(
        "binding:vif_type",
        if host.is_empty() { "unbound" } else { "ovs" },
    );
    s.field("binding:vnic_type", "normal");
    s.field("binding:profile", &empty_object());
    s.field("binding:vif_details", &empty_object());
    s.field(
        "security_groups",
        idx.sgs_of.get(u).map_or(none_strings(), Vec::as_slice),
    );
    let security = ext("neutron:port_security") != Some("false");
    s.field("port_security_enabled", &security);
    s.field("allowed_address_pairs", &pairs::decode(ext(pairs::KEY)));
    s.field("extra_dhcp_opts", &dhcpopts::decode(ext(dhcpopts::KEY)));
    s.field("tags", none);
    s.field(
        "description",
        ext("neutron:description").unwrap_or_default(),
    );
    s.field("revision_number", &0);
    s.field("created_at", &ext("neutron:created_at"));
    s.field("updated_at", &ext("neutron:created_at"));
}

fn none_strings() -> &'static [String] {
    &[]
}

/// The attributes a port row is built from.
struct Shape {
    mac: String,
    ips: Vec<Ipv4Addr>,
    security: bool,
    /// The DHCP_Options row (a uuid or this plan's named uuid).
    dhcp: Option<Value>,
    pairs: Vec<Pair>,
    opts: Vec<Opt>,
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
        let security = if self.security {
            let entries = pairs::port_security(&self.mac, &self.ips, &self.pairs);
            set(entries.into_iter().map(Value::String))
        } else {
            empty_set()
        };
        row([
            ("addresses", self.addresses()),
            ("port_security", security),
            (
                "dhcpv4_options",
                self.dhcp.clone().unwrap_or_else(empty_set),
            ),
        ])
    }

    /// The `external_ids` keys; the pairs' and options' only when set,
    /// unless `all` (an update, which may clear them).
    fn ext(&self, all: bool) -> Vec<(String, String)> {
        let mut v = self.ext_base();
        if all || !self.pairs.is_empty() {
            v.push((pairs::KEY.into(), pairs::encode(&self.pairs)));
        }
        if all || !self.opts.is_empty() {
            v.push((dhcpopts::KEY.into(), dhcpopts::encode(&self.opts)));
        }
        v
    }

    fn ext_base(&self) -> Vec<(String, String)> {
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

/// The subnet whose DHCP a port gets: its first address's, if it serves
/// DHCP.
pub(super) fn dhcp_for(c: &Ctx, net: &str, ips: &[Ipv4Addr]) -> Option<Subnet> {
    let first = ips.first()?;
    subnet::all(c)
        .into_iter()
        .find(|s| s.network == net && s.dhcp && s.cidr.contains(*first))
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
    let null = Value::Null;
    let pairs = pairs::parse(o.get("allowed_address_pairs").unwrap_or(&null), &mac)?;
    if !pairs.is_empty() && !security {
        return Err(pairs::need_security(&id));
    }
    let opts = dhcpopts::merge(Vec::new(), o.get("extra_dhcp_opts").unwrap_or(&null))?;
    let sn = dhcp_for(c, &net, &ips);
    let dhcp = if opts.is_empty() {
        sn.map(|s| s.row.to_json())
    } else {
        dhcpopts::plan(c, p, &id, sn.as_ref(), &opts, true)?
    };
    let shape = Shape {
        dhcp,
        mac,
        ips,
        security,
        pairs,
        opts,
    };
    let mut ext = shape.ext(false);
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
    p.guard(Guard::name(LSP, &id));
    let lsp = p.name("lsp");
    p.push(Op::insert_named(LSP, &lsp, r));
    let ls_uuid = network::row_uuid(c, &net).ok_or_else(|| network::not_found(&net))?;
    p.switch_ports
        .entry(ls_uuid.0)
        .or_default()
        .push(named_uuid(&lsp));
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
    let router = key(r, "external_ids", "neutron:device_owner")
        .is_some_and(|d| d.starts_with("network:router"));
    let (pairs, opts, dhcp) =
        super::port_extras::extras(c, p, (id, r), o, (&mac, &net, &ips), security, router)?;
    let shape = Shape {
        dhcp,
        mac,
        ips,
        security,
        pairs,
        opts,
    };
    let mut cols = if router {
        Row::new() // router ports keep `addresses: router`
    } else {
        shape.columns()
    };
    if let Some(up) = attrs::boolean(RES, o, "admin_state_up")? {
        cols.insert("enabled".into(), json!(up));
    }
    p.push(Op::update(LSP, vec![Condition::uuid(u)], cols));
    let mut ext = shape.ext(true);
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
    dhcpopts::remove(c, p, id);
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
