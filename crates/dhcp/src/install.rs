//! What a lease puts on the host, over netlink: the address with the
//! lease's lifetimes (the kernel drops it on expiry even if the client
//! dies), and its router — the main table's default route for the
//! defaultRoute network, otherwise the network's own source-routing table
//! as the legacy planner builds it for static addresses (table = the
//! IPv4 address as a number, rules at priority 32000).
//!
//! Routes carry protocol `dhcp`, so the planner recognises them as the
//! client's and leaves them alone.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use netlink_packet_route::route::{RouteMessage, RouteProtocol};
use netlink_packet_route::rule::RuleMessage;
use tracing::debug;

use crate::nl::{self, Add, Handle, RouteSpec};
use crate::DhcpError;

/// Priority of the source-routing rules (the planner's).
pub use netswitch_model::routing::RULE_PRIORITY;

/// The interface index and MAC of a device, if it exists.
pub async fn link_of(handle: &Handle, dev: &str) -> Option<(u32, Vec<u8>)> {
    handle.link(dev).ok().flatten()
}

/// The device's link-local IPv6 address once duplicate address detection
/// is over (a tentative address cannot be bound to).
pub async fn link_local(handle: &Handle, index: u32) -> Option<Ipv6Addr> {
    let addrs = handle.addrs6(index).ok()?;
    addrs
        .into_iter()
        .find(|(v6, tentative)| (v6.segments()[0] & 0xffc0) == 0xfe80 && !tentative)
        .map(|(v6, _)| v6)
}

/// The source-routing table of a leased address, numbered as the planner
/// numbers a static one; `None` for the kernel's own numbers.
pub fn table_of(ip: Ipv4Addr) -> Option<u32> {
    netswitch_model::routing::table_v4(ip)
}

/// Adds or refreshes an address with lifetimes in seconds.
pub async fn put_addr(
    handle: &Handle,
    index: u32,
    addr: IpAddr,
    prefix: u8,
    valid: u32,
    preferred: u32,
) -> Result<(), DhcpError> {
    handle.put_addr(index, addr, prefix, valid, preferred)?;
    Ok(())
}

/// Waits, up to `timeout`, until one of `ips` is a resolved neighbour of
/// the device. A release goes out as unicast that may sit behind an ARP
/// query; once the neighbour answered, the packet has left the host's
/// stack, and the address and the device (an OVS internal port the plan
/// deletes next) may go.
pub async fn wait_resolved(handle: &Handle, index: u32, ips: &[IpAddr], timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if handle.resolved(index, ips).unwrap_or(false) {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Removes an address; one already gone is fine.
pub async fn del_addr(handle: &Handle, index: u32, addr: IpAddr, prefix: u8) {
    let _ = handle.del_addr(index, addr, prefix);
}

/// The routes and rules of an IPv4 lease.
struct Routing {
    routes: Vec<RouteMessage>,
    rules: Vec<RuleMessage>,
}

fn routing(
    index: u32,
    dev: &str,
    ip: Ipv4Addr,
    prefix: u8,
    gw: Ipv4Addr,
    default_route: bool,
) -> Routing {
    let mut out = Routing {
        routes: Vec::new(),
        rules: Vec::new(),
    };
    let spec = |table: u32| RouteSpec {
        table,
        dst: None,
        family: IpAddr::V4(ip),
        gateway: Some(IpAddr::V4(gw)),
        oif: index,
        prefsrc: None,
        link_scope: false,
        protocol: RouteProtocol::Dhcp,
        expires: None,
    };
    let default = |table: u32| nl::route(&spec(table));
    if default_route {
        out.routes.push(default(254));
        return out;
    }
    let Some(table) = table_of(ip) else {
        return out;
    };
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    };
    let subnet = Ipv4Addr::from(u32::from(ip) & mask);
    out.routes.push(default(table));
    out.routes.push(nl::route(&RouteSpec {
        dst: Some((IpAddr::V4(subnet), prefix)),
        gateway: None,
        prefsrc: Some(IpAddr::V4(ip)),
        link_scope: true,
        ..spec(table)
    }));
    let net = (IpAddr::V4(subnet), prefix);
    out.rules.push(nl::rule(RULE_PRIORITY, table, net, None));
    out.rules
        .push(nl::rule(RULE_PRIORITY, table, net, Some(dev)));
    out
}

/// Installs an IPv4 lease: address with lifetimes, then its routing.
#[allow(clippy::too_many_arguments)] // one lease's whole context
pub async fn install_v4(
    handle: &Handle,
    index: u32,
    dev: &str,
    ip: Ipv4Addr,
    prefix: u8,
    lease_time: u32,
    gw: Option<Ipv4Addr>,
    default_route: bool,
) -> Result<(), DhcpError> {
    put_addr(
        handle,
        index,
        IpAddr::V4(ip),
        prefix,
        lease_time,
        lease_time,
    )
    .await?;
    let Some(gw) = gw else { return Ok(()) };
    let r = routing(index, dev, ip, prefix, gw, default_route);
    for m in &r.routes {
        handle.add_route(m, Add::Replace)?;
    }
    for m in &r.rules {
        if let Err(e) = handle.add_rule(m, Add::Exclusive) {
            if !nl::is_exists(&e) {
                return Err(e.into());
            }
        }
    }
    debug!(dev, %ip, prefix, ?gw, default_route, "ipv4 lease installed");
    Ok(())
}

/// Takes an IPv4 lease off the host (best effort: parts may be gone with
/// the device already).
#[allow(clippy::too_many_arguments)]
pub async fn uninstall_v4(
    handle: &Handle,
    index: u32,
    dev: &str,
    ip: Ipv4Addr,
    prefix: u8,
    gw: Option<Ipv4Addr>,
    default_route: bool,
) {
    if let Some(gw) = gw {
        let r = routing(index, dev, ip, prefix, gw, default_route);
        for m in &r.rules {
            let _ = handle.del_rule(m);
        }
        for m in &r.routes {
            let _ = handle.del_route(m);
        }
    }
    del_addr(handle, index, IpAddr::V4(ip), prefix).await;
    debug!(dev, %ip, "ipv4 lease removed");
}
