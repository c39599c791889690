//! Routes and rules: what each network's IP config asks for (its
//! main-table default route, its source-routing table and rules), what the
//! host carries of what netswitch manages, and the two steps of the plan
//! that take away what is no longer wanted (first) and add what is
//! missing (last).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::IpAddr;

use ipnet::IpNet;
use netswitch_model::config::{BootProto, Config, NetAttrs};
use netswitch_model::host::{Route, MAIN_TABLE};
use netswitch_model::plan::{KernelOp, RouteSpec, RuleSpec};

use super::builder::PlanBuilder;
use super::view::Ctx;
use crate::topology::Topology;
use netswitch_model::routing::{table6_of, table_of, RULE_PRIORITY};

/// What one config asks of routing: its routes and rules, the northbound
/// devices with their network and static addresses, and its tables.
pub(crate) struct Wanted<'a> {
    pub routes: Vec<RouteSpec>,
    pub rules: Vec<RuleSpec>,
    /// Northbound device -> (its network's attrs, the addresses it carries).
    pub ips: BTreeMap<String, (&'a NetAttrs, Vec<IpNet>)>,
    pub tables: BTreeSet<u32>,
}

pub(crate) fn wanted<'a>(config: &'a Config, topo: &Topology) -> Wanted<'a> {
    let mut w = Wanted {
        routes: Vec::new(),
        rules: Vec::new(),
        ips: BTreeMap::new(),
        tables: BTreeSet::new(),
    };
    for (net, dev) in topo.northbounds() {
        let a = &config.networks[net];
        net_routes(a, dev, &mut w.routes, &mut w.rules);
        w.tables.extend(table_of(a));
        w.tables.extend(table6_of(a));
        w.ips.insert(dev.clone(), (a, net_addrs(a)));
    }
    w
}

/// One family's side of a network's routing: its address, subnet and
/// gateway, and the table its source routing uses.
struct Side {
    subnet: IpNet,
    gateway: IpAddr,
    table: Option<u32>,
    /// The subnet route's source and scope. IPv6 gets none: the kernel
    /// refuses a tentative (still in DAD) address as a source, and the
    /// rule picks the table anyway.
    prefsrc: Option<IpAddr>,
    scope: &'static str,
}

/// The families of a network with a static address and a gateway.
fn sides(a: &NetAttrs) -> Vec<Side> {
    let mut sides = Vec::new();
    if let (Some(ip), Some(prefix), Some(gw)) = (a.ipaddr, a.prefix(), a.gateway) {
        if let Ok(subnet) = IpNet::new(IpAddr::V4(ip), prefix).map(|n| n.trunc()) {
            sides.push(Side {
                subnet,
                gateway: IpAddr::V4(gw),
                table: table_of(a),
                prefsrc: Some(IpAddr::V4(ip)),
                scope: "link",
            });
        }
    }
    if let (Some(gw6), Some((ip, prefix))) = (a.ipv6gateway, a.ipv6()) {
        if let Ok(subnet) = IpNet::new(IpAddr::V6(ip), prefix).map(|n| n.trunc()) {
            sides.push(Side {
                subnet,
                gateway: IpAddr::V6(gw6),
                table: table6_of(a),
                prefsrc: None,
                scope: "universe",
            });
        }
    }
    sides
}

/// Routes and rules one network needs, by the device carrying its IP: the
/// main-table default for the defaultRoute network, and for every family
/// with a gateway its own table (default + subnet) and two rules
/// (`from subnet`, `to subnet iif dev`). IPv6 source routing goes beyond
/// VDSM, which had it for IPv4 only.
fn net_routes(a: &NetAttrs, dev: &str, routes: &mut Vec<RouteSpec>, rules: &mut Vec<RuleSpec>) {
    if let (Some(gw6), None, true) = (a.ipv6gateway, a.ipv6(), a.default_route) {
        // A dynamic IPv6 address with a static gateway: the default only.
        routes.push(default_route(MAIN_TABLE, IpAddr::V6(gw6), dev));
    }
    for side in sides(a) {
        if a.default_route {
            routes.push(default_route(MAIN_TABLE, side.gateway, dev));
        }
        let Some(table) = side.table else { continue };
        routes.push(default_route(table, side.gateway, dev));
        routes.push(RouteSpec {
            table,
            dst: side.subnet,
            gateway: None,
            dev: dev.to_string(),
            prefsrc: side.prefsrc,
            scope: side.scope.into(),
        });
        for (src, dst, iif) in [
            (Some(side.subnet), None, None),
            (None, Some(side.subnet), Some(dev.to_string())),
        ] {
            rules.push(RuleSpec {
                priority: RULE_PRIORITY,
                table,
                src,
                dst,
                iif,
            });
        }
    }
}

fn default_route(table: u32, gateway: IpAddr, dev: &str) -> RouteSpec {
    let any = if gateway.is_ipv4() {
        "0.0.0.0/0"
    } else {
        "::/0"
    };
    RouteSpec {
        table,
        dst: any.parse().expect("literal"),
        gateway: Some(gateway),
        dev: dev.to_string(),
        prefsrc: None,
        scope: "universe".into(),
    }
}

/// The static addresses a network puts on its northbound device.
fn net_addrs(a: &NetAttrs) -> Vec<IpNet> {
    let mut out = Vec::new();
    if let (Some(ip), Some(p)) = (a.ipaddr, a.prefix()) {
        if let Ok(n) = IpNet::new(IpAddr::V4(ip), p) {
            out.push(n);
        }
    }
    if let Some((ip, p)) = a.ipv6() {
        if let Ok(n) = IpNet::new(IpAddr::V6(ip), p) {
            out.push(n);
        }
    }
    out
}

/// The routes and rules netswitch manages that the host carries now: in
/// its tables, and main-table default routes through its devices (or any,
/// when it sets one).
pub(crate) struct Current {
    routes: Vec<RouteSpec>,
    rules: Vec<RuleSpec>,
}

impl Current {
    pub(crate) fn of(ctx: &Ctx) -> Current {
        let tables: BTreeSet<u32> = ctx.have.tables.union(&ctx.want.tables).copied().collect();
        let owned_nb: BTreeSet<&String> = ctx.have.ips.keys().chain(ctx.want.ips.keys()).collect();
        let sets_default = |v4: bool| {
            ctx.want
                .routes
                .iter()
                .any(|r| r.table == MAIN_TABLE && r.dst.addr().is_ipv4() == v4)
        };
        let (sets_v4, sets_v6) = (sets_default(true), sets_default(false));
        let mut routes = Vec::new();
        for r in &ctx.host.routes {
            let Some(oif) = &r.oif else { continue };
            if dynamic_route(r, oif, ctx.want) || dynamic_route(r, oif, ctx.have) {
                continue;
            }
            let managed = if r.table == MAIN_TABLE {
                let v4 = r.dst.addr().is_ipv4();
                r.is_default()
                    && default_metric(r)
                    && (owned_nb.contains(oif) || (v4 && sets_v4) || (!v4 && sets_v6))
            } else {
                tables.contains(&r.table) && r.protocol != "kernel"
            };
            if managed {
                routes.push(RouteSpec {
                    table: r.table,
                    dst: r.dst,
                    gateway: r.gateway,
                    dev: oif.clone(),
                    prefsrc: r.prefsrc,
                    scope: r.scope.clone(),
                });
            }
        }
        let rules = ctx
            .host
            .rules
            .iter()
            .filter(|r| tables.contains(&r.table))
            .map(|r| RuleSpec {
                priority: r.priority.unwrap_or(0),
                table: r.table,
                src: r.src,
                dst: r.dst,
                iif: r.iif.clone(),
            })
            .collect();
        Current { routes, rules }
    }
}

/// Rules, then routes, the desired config does not want. (Sets for the
/// membership tests: a host with a route and a rule per network would
/// otherwise cost networks² comparisons.)
pub(crate) fn teardown(ctx: &Ctx, current: &Current, b: &mut PlanBuilder) {
    let want_rules: HashSet<&RuleSpec> = ctx.want.rules.iter().collect();
    let want_routes: HashSet<&RouteSpec> = ctx.want.routes.iter().collect();
    for r in current.rules.iter().filter(|r| !want_rules.contains(r)) {
        b.push(KernelOp::DelRule(r.clone()));
    }
    for r in current.routes.iter().filter(|r| !want_routes.contains(r)) {
        b.push(KernelOp::DelRoute(r.clone()));
    }
}

/// Routes, then rules, the host lacks; a route through a device created
/// anew is added again (the old device took it along).
pub(crate) fn build(ctx: &Ctx, current: &Current, b: &mut PlanBuilder) {
    let have_rules: HashSet<&RuleSpec> = current.rules.iter().collect();
    let have_routes: HashSet<&RouteSpec> = current.routes.iter().collect();
    for r in ctx
        .want
        .routes
        .iter()
        .filter(|r| !have_routes.contains(r) || ctx.fresh.contains(&r.dev))
    {
        b.push(KernelOp::AddRoute(r.clone()));
    }
    for r in ctx.want.rules.iter().filter(|r| !have_rules.contains(r)) {
        b.push(KernelOp::AddRule(r.clone()));
    }
}

/// Whether a route is a DHCP client's or the kernel's RA handling's on a
/// network that asks for them (protocol `dhcp` for an IPv4 DHCP network,
/// `dhcp` or `ra` for a DHCPv6 or autoconf one), in the running or the
/// desired config: those belong to the client (stopped before the plan
/// when its network goes, taking them along) and the kernel, not to the
/// plan.
fn dynamic_route(r: &Route, oif: &str, want: &Wanted) -> bool {
    let Some((a, _)) = want.ips.get(oif) else {
        return false;
    };
    match (r.dst.addr().is_ipv4(), r.protocol.as_str()) {
        (true, "dhcp") => a.bootproto == BootProto::Dhcp,
        (false, "dhcp" | "ra") => a.dhcpv6 || a.ipv6autoconf,
        _ => false,
    }
}

/// Whether a route has the metric the kernel gives a route added without
/// one: 0 for IPv4, 1024 for IPv6. Only such default routes compete with
/// the one netswitch sets.
fn default_metric(r: &Route) -> bool {
    let m = r.metric.unwrap_or(0);
    if r.dst.addr().is_ipv4() {
        m == 0
    } else {
        m == 0 || m == 1024
    }
}
