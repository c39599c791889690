//! Routers' `routes` (Neutron's extraroute) as Logical_Router_Static_Route
//! rows in the router's `static_routes`, marked `neutron:extra_route` in
//! `external_ids` so they stay apart from the default route the external
//! gateway makes (`neutron:gateway`) and from routes other tools made.
//!
//! An update replaces the whole list, as Neutron does; it is planned as
//! one `update` of `static_routes` (the gateway's and foreign routes kept,
//! the new rows named), so re-sending it after a leader's death leaves the
//! same set: the rows of a first attempt lose their last reference and
//! OVSDB collects them (the table is not a root table).

use std::collections::HashSet;
use std::net::Ipv4Addr;

use netswitch_ovsdb::datum::{named_uuid, set, str_map};
use netswitch_ovsdb::{row, Condition, Op, Row, Uuid};
use serde_json::{json, Value};

use super::ipam::Cidr;
use super::port;
use super::router::interfaces;
use super::subnet::{self, Subnet};
use super::{Ctx, Plan};
use crate::error::ApiError;
use crate::nb::{key, s, uuids};

const LRSR: &str = "Logical_Router_Static_Route";
/// The `external_ids` key marking a route the router's `routes` hold.
pub const MARK: &str = "neutron:extra_route";
/// Neutron's default `max_routes`.
const MAX_ROUTES: usize = 30;

/// One route of a router's `routes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Route {
    /// Where to.
    pub destination: Cidr,
    /// Through which address.
    pub nexthop: Ipv4Addr,
}

impl Route {
    fn json(&self) -> Value {
        json!({"destination": self.destination.to_string(), "nexthop": self.nexthop.to_string()})
    }
}

fn invalid(what: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        400,
        "InvalidRoutes",
        format!("Invalid format for routes of router: {what}"),
    )
}

/// Reads a body's `routes`: a list of `{"destination": CIDR, "nexthop":
/// IPv4}` (null is the empty list), without duplicates.
pub fn parse(v: &Value) -> Result<Vec<Route>, ApiError> {
    let items = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Array(a) => a,
        v => return Err(invalid(format!("{v} is not a list"))),
    };
    if items.len() > MAX_ROUTES {
        return Err(ApiError::new(
            400,
            "RoutesExhausted",
            format!("Unable to complete operation for routes of router: the number of routes exceeds the maximum {MAX_ROUTES}"),
        ));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(items.len());
    for it in items {
        let dest = it.get("destination").and_then(Value::as_str);
        let nh = it.get("nexthop").and_then(Value::as_str);
        let destination = dest.and_then(Cidr::parse).ok_or_else(|| {
            invalid(format!(
                "{it}: destination must be an IPv4 network address/prefix (CIDR)"
            ))
        })?;
        let nexthop: Ipv4Addr = nh
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| invalid(format!("{it}: nexthop must be an IPv4 address")))?;
        let r = Route {
            destination,
            nexthop,
        };
        if !seen.insert(r) {
            return Err(invalid(format!("{it} is listed twice")));
        }
        out.push(r);
    }
    Ok(out)
}

/// The route rows of router row `lr` that its `routes` hold.
fn marked<'a>(c: &Ctx<'a>, lr: &Row) -> Vec<(Uuid, &'a Row)> {
    uuids(lr, "static_routes")
        .into_iter()
        .filter_map(|u| c.r.row(LRSR, &u).map(|r| (u, r)))
        .filter(|(_, r)| key(r, "external_ids", MARK).is_some())
        .collect()
}

/// The router's `routes`, as Neutron shows them.
pub fn render(c: &Ctx, lr: &Row) -> Vec<Value> {
    marked(c, lr)
        .iter()
        .filter_map(|(_, r)| {
            Some(
                Route {
                    destination: Cidr::parse(s(r, "ip_prefix"))?,
                    nexthop: s(r, "nexthop").parse().ok()?,
                }
                .json(),
            )
        })
        .collect()
}

/// A router's external gateway: its network and address.
pub type Gateway = Option<(String, Ipv4Addr)>;

/// The gateway router row `lr` has.
pub fn gateway_of(lr: &Row) -> Gateway {
    let ip = key(lr, "external_ids", "neutron:gw_ip")?.parse().ok()?;
    let net = key(lr, "external_ids", "neutron:gw_network_id")?;
    Some((net.to_owned(), ip))
}

/// The subnets router `id` is connected to (its interfaces' and its
/// gateway's) and the addresses it holds on them.
fn connected(c: &Ctx, id: &str, gw: &Gateway) -> (Vec<Subnet>, Vec<Ipv4Addr>) {
    let mut subnets = Vec::new();
    let mut own = Vec::new();
    for (_, pr, sn) in interfaces(c, id) {
        own.extend(port::ips(pr));
        subnets.extend(sn);
    }
    if let Some((net, ip)) = gw {
        own.push(*ip);
        subnets.extend(
            subnet::all(c)
                .into_iter()
                .find(|s| &s.network == net && s.cidr.contains(*ip)),
        );
    }
    (subnets, own)
}

/// Refuses routes whose nexthop is on no subnet router `id` is connected
/// to (with gateway `gw`: the one it has, or the one the same call
/// gives it), or is one of the router's own addresses (Neutron's checks).
pub fn validate(c: &Ctx, id: &str, gw: &Gateway, routes: &[Route]) -> Result<(), ApiError> {
    let (subnets, own) = connected(c, id, gw);
    for r in routes {
        if own.contains(&r.nexthop) {
            return Err(invalid(format!(
                "{}, the nexthop is used by router {id}",
                r.json()
            )));
        }
        if !subnets.iter().any(|s| s.cidr.contains(r.nexthop)) {
            return Err(invalid(format!(
                "{}, the nexthop is not connected with router {id}",
                r.json()
            )));
        }
    }
    Ok(())
}

/// Plans replacing the `routes` of router row `lr` with `routes` (see
/// [`validate`]). Pushed before any gateway change of the same call: its
/// `update` sets the column whole, the gateway's mutations then apply on
/// top.
pub fn replace(c: &Ctx, p: &mut Plan, lr_u: &Uuid, lr: &Row, routes: &[Route]) {
    let mine: HashSet<Uuid> = marked(c, lr).into_iter().map(|(u, _)| u).collect();
    let mut keep: Vec<Value> = uuids(lr, "static_routes")
        .into_iter()
        .filter(|u| !mine.contains(u))
        .map(|u| u.to_json())
        .collect();
    for r in routes {
        let n = p.name("xroute");
        p.push(Op::insert_named(
            LRSR,
            &n,
            row([
                ("ip_prefix", json!(r.destination.to_string())),
                ("nexthop", json!(r.nexthop.to_string())),
                ("external_ids", str_map([(MARK, "true")])),
            ]),
        ));
        keep.push(named_uuid(&n));
    }
    p.push(Op::update(
        "Logical_Router",
        vec![Condition::uuid(lr_u)],
        row([("static_routes", set(keep))]),
    ));
}

/// The router's routes after `add_extraroutes` (`add`) or
/// `remove_extraroutes` of `given`: a union or a difference.
pub fn combine(c: &Ctx, lr: &Row, given: &[Route], add: bool) -> Vec<Route> {
    let now: Vec<Route> = marked(c, lr)
        .iter()
        .filter_map(|(_, r)| {
            Some(Route {
                destination: Cidr::parse(s(r, "ip_prefix"))?,
                nexthop: s(r, "nexthop").parse().ok()?,
            })
        })
        .collect();
    if add {
        let mut out = now;
        for g in given {
            if !out.contains(g) {
                out.push(*g);
            }
        }
        out
    } else {
        now.into_iter().filter(|r| !given.contains(r)).collect()
    }
}

/// Refuses removing the interface on `sn` while a route's nexthop is in
/// it (Neutron's RouterInterfaceInUseByRoute).
pub fn check_interface_unused(c: &Ctx, id: &str, lr: &Row, sn: &Subnet) -> Result<(), ApiError> {
    let used = marked(c, lr)
        .iter()
        .filter_map(|(_, r)| s(r, "nexthop").parse::<Ipv4Addr>().ok())
        .find(|nh| sn.cidr.contains(*nh));
    match used {
        Some(nh) => Err(ApiError::conflict(
            "RouterInterfaceInUseByRoute",
            format!(
                "Router interface for subnet {} on router {id} cannot be deleted, as it is required by one or more routes (nexthop {nh}).",
                sn.id
            ),
        )),
        None => Ok(()),
    }
}
