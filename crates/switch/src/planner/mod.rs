//! The planner: one module per capability over a merged per-device view.
//!
//! Pure: from the host as it is, the running config (what netswitch owns)
//! and the desired config, the ordered ops that make the host carry the
//! desired config. The host decides what must be done, so a device deleted
//! behind netswitch's back is created again; the running config decides
//! what netswitch may take away, so devices it does not own are left alone.
//!
//! Order: tear down first (rules, routes, addresses, removed devices, MTU
//! decreases top-down), then build (bonds and slaves, MTU increases
//! bottom-up, the OVS transaction, VLANs, bridges, ports, links up,
//! addresses, routes, rules).
//!
//! - [`qos`]: host QoS, VDSM's tc layout on a nic or bond;
//! - [`view`]: each device's desired, running and host side, side by side;
//! - [`builder`]: the ops, indexed by what later steps ask of them;
//! - [`routing`] (with the table numbering of `netswitch_model::routing`), [`addresses`],
//!   [`links`], [`bonds`], [`vlans`], [`bridges`], [`ovs`]: one capability
//!   each; [`ordering`]: the build's order and the links going up.
//!
//! A new capability (QoS, mirrors, ...) is a module with a teardown and/or
//! a build step, called from [`plan`] where its ops must run.

mod addresses;
mod bonds;
mod bridges;
mod builder;
mod links;
mod ordering;
mod ovs;
pub mod qos;
mod routing;
mod view;
mod vlans;

use std::net::IpAddr;

use netswitch_model::config::Config;
use netswitch_model::host::HostState;
use netswitch_model::plan::Plan;

use crate::topology::Topology;
use builder::PlanBuilder;
use view::Ctx;

/// Plans moving `host` from `running` to `desired`, both switches.
pub fn plan(host: &HostState, running: &Config, desired: &Config) -> Plan {
    let cur = Topology::of(running);
    let des = Topology::of(desired);
    let have = routing::wanted(running, &cur);
    let want = routing::wanted(desired, &des);
    let ovs_ops = crate::ovs::ops(host, &cur, &des);
    let fresh = ovs::fresh(host, &des, &ovs_ops);
    let ctx = Ctx::new(host, &cur, &des, &have, &want, fresh);
    let order = des.bottom_up();
    let mut b = PlanBuilder::default();

    // Tear down.
    let current = routing::Current::of(&ctx);
    routing::teardown(&ctx, &current, &mut b);
    let addr_adds = addresses::teardown(&ctx, &mut b);
    let deleted = links::leaving(&ctx, &mut b);
    let mut qos_build = Vec::new();
    qos::plan(host, running, desired, &deleted, &mut b, &mut qos_build);
    links::release_stale(&ctx, &order, &deleted, &mut b);
    links::mtu_decreases(&ctx, &order, &mut b);

    // Build.
    let mut ups = ordering::build(&ctx, &order, ovs_ops, &mut b);
    ovs::ups(&ctx, &mut ups);
    bridges::join_ports(&ctx, &order, &mut b);
    ordering::set_up(&ctx, ups, &mut b);
    b.extend(addr_adds);
    routing::build(&ctx, &current, &mut b);
    b.extend(qos_build);

    Plan {
        ops: b.into_ops(),
        nameservers: nameservers(running, desired),
    }
}

/// Name servers to write: the defaultRoute network's, when they change.
/// An empty list keeps the host's own resolver configuration.
fn nameservers(running: &Config, desired: &Config) -> Option<Vec<IpAddr>> {
    let of = |c: &Config| {
        c.default_route_net()
            .map(|n| c.networks[n].nameservers.clone())
            .unwrap_or_default()
    };
    let want = of(desired);
    (!want.is_empty() && want != of(running)).then_some(want)
}
