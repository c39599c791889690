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

use netswitch_ovsdb::datum::{named_uuid, str_map};
use netswitch_ovsdb::{row, Condition, Function, Op, Uuid};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::dhcpnames::ovn_value;
use super::subnet::{unset_map_keys, Subnet};
use super::Plan;
use super::{network::set_map_keys, Ctx};
use crate::error::ApiError;
use crate::nb::{key, map, rows};

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
    p.push(delete_op(port_id));
    let mut options =
        c.r.row(DO, &sn.row)
            .map(|r| map(r, "options"))
            .unwrap_or_default();
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
    Ok(Some(named_uuid(&n)))
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
