//! Addresses: a northbound device carries exactly its network's static
//! addresses; other devices netswitch uses carry none. Stray addresses go
//! early (with the routes and rules), new ones are added once their
//! devices are up.

use std::net::IpAddr;

use ipnet::IpNet;
use netswitch_model::config::{BootProto, NetAttrs};
use netswitch_model::host::{Addr, LinkKind};
use netswitch_model::plan::KernelOp;

use super::builder::PlanBuilder;
use super::view::{Ctx, DevView};

/// Pushes the deletions of addresses no longer wanted and returns the
/// additions, which the plan makes last.
pub(crate) fn teardown(ctx: &Ctx, b: &mut PlanBuilder) -> Vec<KernelOp> {
    let mut adds = Vec::new();
    for (dev, v) in &ctx.views {
        if v.desired.is_none() && v.want_ip.is_none() && v.have_ip.is_none() {
            continue;
        }
        device(ctx, dev, v, b, &mut adds);
    }
    adds
}

fn device(ctx: &Ctx, dev: &str, v: &DevView, b: &mut PlanBuilder, adds: &mut Vec<KernelOp>) {
    // An internal port the OVS transaction deletes takes its addresses.
    if ctx.cur.ovs.contains_key(dev)
        && !ctx.des.ovs.contains_key(dev)
        && v.desired.is_none()
        && v.want_ip.is_none()
    {
        return;
    }
    let wanted: &[IpNet] = v.want_ip.map_or(&[], |(_, a)| a.as_slice());
    let Some(link) = v.link.filter(|_| !ctx.fresh.contains(dev)) else {
        // Created by this plan: it only gets its addresses.
        adds.extend(wanted.iter().map(|net| add(dev, *net)));
        return;
    };
    let gone = v.desired.is_none() && v.want_ip.is_none();
    if gone
        && matches!(
            link.kind,
            LinkKind::Bridge | LinkKind::Vlan | LinkKind::Bond
        )
        && v.running.is_some()
    {
        return; // deleted with its addresses
    }
    for a in ctx.addrs_of(dev) {
        let Some(net) = a.net() else { continue };
        if is_link_local(&a.address) || a.scope == "host" || wanted.contains(&net) {
            continue;
        }
        // A device that leaves netswitch entirely keeps what netswitch did not put there.
        let ours_before = v.have_ip.is_some_and(|(_, ips)| ips.contains(&net));
        if dynamic_kept(a, v) || (gone && !ours_before) {
            continue;
        }
        b.push(KernelOp::DelAddr {
            link: dev.to_string(),
            addr: net,
        });
    }
    for net in wanted {
        if !ctx.addrs_of(dev).any(|a| a.net().as_ref() == Some(net)) {
            adds.push(add(dev, *net));
        }
    }
}

/// A lease belongs to its client: kept while the network stays dynamic,
/// and taken along by the client (stopped before the plan) when it was
/// dynamic before.
fn dynamic_kept(a: &Addr, v: &DevView) -> bool {
    let dynamic_of = |at: &NetAttrs| match a.address {
        IpAddr::V4(_) => at.bootproto == BootProto::Dhcp,
        IpAddr::V6(_) => at.dhcpv6 || at.ipv6autoconf,
    };
    let was_dynamic = a.dynamic
        && v.have_ip.is_some_and(|(at, _)| match a.address {
            IpAddr::V4(_) => at.bootproto == BootProto::Dhcp,
            // The DHCPv6 client's /128; SLAAC ones are the plan's to remove.
            IpAddr::V6(_) => at.dhcpv6 && a.prefix_len == 128,
        });
    (a.dynamic && v.want_ip.is_some_and(|(at, _)| dynamic_of(at))) || was_dynamic
}

fn add(dev: &str, addr: IpNet) -> KernelOp {
    KernelOp::AddAddr {
        link: dev.to_string(),
        addr,
    }
}

fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}
