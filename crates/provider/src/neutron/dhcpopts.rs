//! Ports' `extra_dhcp_opts` as networking-ovn maps them: a port with
//! options gets a DHCP_Options row of its own, its subnet's `cidr` and
//! `options` with the port's overrides on top, which the switch port's
//! `dhcpv4_options` points at instead of the subnet's row. The row's
//! `external_ids` mark it: `neutron:port_id`, `neutron:subnet_id` and
//! `neutron:port_options` (the OVN option names the port overrides, so a
//! change of the subnet's options reaches the row without undoing them).
//! It carries no `neutron:network_id`, so it is never taken for a subnet.
//!
//! The port keeps the options as Neutron shows them (a JSON list) in
//! `external_ids:neutron:extra_dhcp_opts`.
//!
//! Rows go by a `delete` on `external_ids:neutron:port_id`, not by uuid,
//! and a new row is inserted after it in the same transaction: a call
//! re-sent after a leader's death removes what its first attempt made.

use std::collections::BTreeMap;

use netswitch_ovsdb::datum::{empty_set, named_uuid, str_map};
use netswitch_ovsdb::{row, Condition, Function, Op, Uuid};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::dhcpnames::ovn_value;
use super::subnet::{unset_map_keys, Subnet};
use super::Plan;
use super::{network::set_map_keys, Ctx};
use crate::error::ApiError;
use crate::nb::{key, map, rows, s};

const DO: &str = "DHCP_Options";
/// Where a port keeps its options.
pub const KEY: &str = "neutron:extra_dhcp_opts";
/// The port a DHCP_Options row belongs to.
pub const PORT_KEY: &str = "neutron:port_id";
/// The subnet a port's row copies.
pub const SUBNET_KEY: &str = "neutron:subnet_id";
/// The OVN option names a port's row overrides (space separated).
pub const OVERRIDES_KEY: &str = "neutron:port_options";

/// One option as Neutron shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opt {
    /// The Neutron (dnsmasq) name, as given.
    pub opt_name: String,
    /// The value, as given.
    pub opt_value: String,
    /// Always 4 (IPv6 is refused).
    pub ip_version: u8,
}

fn bad(what: impl std::fmt::Display) -> ApiError {
    ApiError::bad(format!("Invalid input for extra_dhcp_opts of port: {what}"))
}

/// One item of a body's list: `(name, value)`, the value `None` when
/// null (an update's way to remove the option).
fn parse_item(it: &Value) -> Result<(String, Option<String>), ApiError> {
    let o = it
        .as_object()
        .ok_or_else(|| bad(format!("{it} is not an object")))?;
    if let Some(k) = o
        .keys()
        .find(|k| !["opt_name", "opt_value", "ip_version"].contains(&k.as_str()))
    {
        return Err(bad(format!("unrecognized key '{k}' in {it}")));
    }
    let name = o
        .get("opt_name")
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| bad(format!("{it}: opt_name is required")))?;
    let version = match o.get("ip_version") {
        None | Some(Value::Null) => 4,
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
        Some(_) => 0,
    };
    match version {
        4 => {}
        6 => {
            return Err(bad(format!(
                "option '{name}': ip_version 6 is not served; this provider maps IPv4 only"
            )))
        }
        _ => return Err(bad(format!("option '{name}': ip_version must be 4"))),
    }
    let value = match o.get("opt_value") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Some(v.to_string()),
        Some(v) => return Err(bad(format!("option '{name}': value {v} is not a string"))),
    };
    if let Some(v) = &value {
        ovn_value(name, v)?;
    }
    Ok((name.to_owned(), value))
}

/// The port's options after a body's `extra_dhcp_opts` (`v`), as Neutron
/// merges them: an item replaces the option of its name, one with a null
/// value removes it, others are added; null is no change.
pub fn merge(now: Vec<Opt>, v: &Value) -> Result<Vec<Opt>, ApiError> {
    let items = match v {
        Value::Null => return Ok(now),
        Value::Array(a) => a,
        v => return Err(bad(format!("{v} is not a list"))),
    };
    let mut out = now;
    for it in items {
        let (name, value) = parse_item(it)?;
        out.retain(|o| o.opt_name != name);
        if let Some(opt_value) = value {
            out.push(Opt {
                opt_name: name,
                opt_value,
                ip_version: 4,
            });
        }
    }
    Ok(out)
}

/// The options a port row keeps.
pub fn decode(stored: Option<&str>) -> Vec<Opt> {
    stored
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default()
}

/// The options as the port keeps them.
pub fn encode(opts: &[Opt]) -> String {
    serde_json::to_string(opts).unwrap_or_else(|_| "[]".into())
}

/// The port's own DHCP_Options rows.
fn rows_of<'a>(c: &Ctx<'a>, port_id: &str) -> Vec<(&'a Uuid, &'a netswitch_ovsdb::Row)> {
    rows(c.r, DO)
        .filter(|(_, r)| key(r, "external_ids", PORT_KEY) == Some(port_id))
        .collect()
}

fn delete_op(port_id: &str) -> Op {
    Op::delete(
        DO,
        vec![Condition::new(
            "external_ids",
            Function::Includes,
            str_map([(PORT_KEY, port_id)]),
        )],
    )
}

/// Plans the removal of port `port_id`'s own row, if it has one.
pub fn remove(c: &Ctx, p: &mut Plan, port_id: &str) {
    if !rows_of(c, port_id).is_empty() {
        p.push(delete_op(port_id));
    }
}

/// What the port's `dhcpv4_options` is: with options and a subnet that
/// serves DHCP, the port's own row (kept when `changed` is false and it
/// still copies `sn`, else made anew); without options, the subnet's row.
pub fn plan(
    c: &Ctx,
    p: &mut Plan,
    port_id: &str,
    sn: Option<&Subnet>,
    opts: &[Opt],
    changed: bool,
) -> Result<Option<Value>, ApiError> {
    let Some(sn) = sn else {
        remove(c, p, port_id);
        return Ok(None);
    };
    if opts.is_empty() {
        remove(c, p, port_id);
        return Ok(Some(sn.row.to_json()));
    }
    let mine = rows_of(c, port_id);
    if let [(u, r)] = mine.as_slice() {
        if !changed && key(r, "external_ids", SUBNET_KEY) == Some(sn.id.as_str()) {
            return Ok(Some(u.to_json()));
        }
    }
    insert_row(p, port_id, sn, opts, subnet_options(c, sn)).map(Some)
}

/// The options subnet `sn`'s row has.
fn subnet_options(c: &Ctx, sn: &Subnet) -> BTreeMap<String, String> {
    c.r.row(DO, &sn.row)
        .map(|r| map(r, "options"))
        .unwrap_or_default()
}

/// Plans port `port_id`'s row anew (its old one deleted first): `options`
/// (the subnet's) with the port's `opts` on top; returns its named uuid.
fn insert_row(
    p: &mut Plan,
    port_id: &str,
    sn: &Subnet,
    opts: &[Opt],
    mut options: BTreeMap<String, String>,
) -> Result<Value, ApiError> {
    p.push(delete_op(port_id));
    let mut names = Vec::new();
    for o in opts {
        let (ovn, value) = ovn_value(&o.opt_name, &o.opt_value)?;
        options.insert(ovn.to_owned(), value);
        names.push(ovn);
    }
    names.sort_unstable();
    names.dedup();
    let names = names.join(" ");
    let n = p.name("portdhcp");
    p.push(Op::insert_named(
        DO,
        &n,
        row([
            ("cidr", json!(sn.cidr.to_string())),
            (
                "options",
                str_map(options.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            ),
            (
                "external_ids",
                str_map([
                    (PORT_KEY, port_id),
                    (SUBNET_KEY, sn.id.as_str()),
                    (OVERRIDES_KEY, names.as_str()),
                ]),
            ),
        ]),
    ));
    Ok(named_uuid(&n))
}

/// Plans carrying a change of subnet `sn`'s options (`set` and `unset`)
/// to the rows of its ports with options of their own, but for the
/// options each port overrides.
pub fn follow_subnet(
    c: &Ctx,
    p: &mut Plan,
    sn: &Subnet,
    set: &[(String, String)],
    unset: &[String],
) {
    for (u, r) in rows(c.r, DO) {
        if key(r, "external_ids", SUBNET_KEY) != Some(sn.id.as_str())
            || key(r, "external_ids", PORT_KEY).is_none()
        {
            continue;
        }
        let own: Vec<&str> = key(r, "external_ids", OVERRIDES_KEY)
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        let kv: Vec<(String, String)> = set
            .iter()
            .filter(|(k, _)| !own.contains(&k.as_str()))
            .cloned()
            .collect();
        let gone: Vec<String> = unset
            .iter()
            .filter(|k| !own.contains(&k.as_str()))
            .cloned()
            .collect();
        p.ops.extend(set_map_keys(DO, u, "options", &kv));
        p.ops.extend(unset_map_keys(DO, u, "options", &gone));
    }
}

/// Plans carrying a change of subnet `sn`'s `enable_dhcp` to `on` to the
/// ports whose DHCP it serves (those whose first address it holds; router
/// and floating IP ports have none): off, they point at no row and their
/// own rows go; on, at the subnet's row, or at a row of their own made
/// anew from the subnet's options as this same update leaves them (`set`,
/// `unset`) with theirs on top.
pub fn follow_enable(
    c: &Ctx,
    p: &mut Plan,
    sn: &Subnet,
    on: bool,
    (set, unset): (&[(String, String)], &[String]),
) -> Result<(), ApiError> {
    let mut base = subnet_options(c, sn);
    base.extend(set.iter().cloned());
    base.retain(|k, _| !unset.contains(k));
    for (u, id, opts) in served_ports(c, sn) {
        let dhcp = if !on {
            remove(c, p, &id);
            empty_set()
        } else if opts.is_empty() {
            sn.row.to_json()
        } else {
            insert_row(p, &id, sn, &opts, base.clone())?
        };
        p.push(Op::update(
            "Logical_Switch_Port",
            vec![Condition::uuid(&u)],
            row([("dhcpv4_options", dhcp)]),
        ));
    }
    Ok(())
}

/// The ports whose DHCP subnet `sn` serves: row uuid, id and options.
fn served_ports(c: &Ctx, sn: &Subnet) -> Vec<(Uuid, String, Vec<Opt>)> {
    let Some((_, ls)) = super::ident::NETWORK.find(c.r, &sn.network) else {
        return Vec::new();
    };
    crate::nb::uuids(ls, "ports")
        .into_iter()
        .filter_map(|u| c.r.row("Logical_Switch_Port", &u).map(|r| (u, r)))
        .filter(|(_, r)| {
            s(r, "type").is_empty()
                && key(r, "external_ids", "neutron:device_owner") != Some("network:floatingip")
                && super::port::ips(r)
                    .first()
                    .is_some_and(|ip| sn.cidr.contains(*ip))
        })
        .map(|(u, r)| {
            let opts = decode(key(r, "external_ids", KEY));
            (u, s(r, "name").to_owned(), opts)
        })
        .collect()
}
