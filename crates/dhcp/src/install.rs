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

use futures::TryStreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, CacheInfo};
use netlink_packet_route::link::LinkAttribute;
use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourState};
use netlink_packet_route::route::{RouteProtocol, RouteScope};
use netlink_packet_route::rule::RuleMessage;
use rtnetlink::{Handle, RouteMessageBuilder};
use tracing::debug;

use crate::DhcpError;

/// Priority of the source-routing rules (the planner's).
pub use netswitch_model::routing::RULE_PRIORITY;

/// The interface index and MAC of a device, if it exists.
pub async fn link_of(handle: &Handle, dev: &str) -> Option<(u32, Vec<u8>)> {
    let mut s = handle.link().get().match_name(dev.to_string()).execute();
    let msg = s.try_next().await.ok()??;
    let mac = msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::Address(m) => Some(m.clone()),
        _ => None,
    })?;
    Some((msg.header.index, mac))
}

/// The device's link-local IPv6 address once duplicate address detection
/// is over (a tentative address cannot be bound to).
pub async fn link_local(handle: &Handle, index: u32) -> Option<Ipv6Addr> {
    let mut s = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .execute();
    while let Ok(Some(msg)) = s.try_next().await {
        let mut addr = None;
        let mut tentative = false;
        for a in &msg.attributes {
            match a {
                AddressAttribute::Address(IpAddr::V6(v6)) => addr = Some(*v6),
                AddressAttribute::Flags(f) => tentative = f.contains(AddressFlags::Tentative),
                _ => {}
            }
        }
        if let Some(v6) = addr {
            if (v6.segments()[0] & 0xffc0) == 0xfe80 && !tentative {
                return Some(v6);
            }
        }
    }
    None
}

/// The source-routing table of a leased address, numbered as the planner
/// numbers a static one; `None` for the kernel's own numbers.
pub fn table_of(ip: Ipv4Addr) -> Option<u32> {
    netswitch_model::routing::table_v4(ip)
}

/// Whether a netlink request failed because its object exists already.
pub(crate) fn is_exists(e: &rtnetlink::Error) -> bool {
    matches!(e, rtnetlink::Error::NetlinkError(m) if m.raw_code() == -libc::EEXIST)
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
    let mut req = handle.address().add(index, addr, prefix).replace();
    req.message_mut()
        .attributes
        .push(AddressAttribute::CacheInfo({
            let mut c = CacheInfo::default();
            c.ifa_preferred = preferred;
            c.ifa_valid = valid;
            c
        }));
    req.execute().await?;
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
        let mut s = handle.neighbours().get().execute();
        while let Ok(Some(msg)) = s.try_next().await {
            if msg.header.ifindex != index {
                continue;
            }
            let resolved = matches!(
                msg.header.state,
                NeighbourState::Reachable
                    | NeighbourState::Stale
                    | NeighbourState::Delay
                    | NeighbourState::Probe
                    | NeighbourState::Permanent
            );
            let hit = msg.attributes.iter().any(|a| match a {
                NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => {
                    ips.contains(&IpAddr::V4(*v4))
                }
                NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => {
                    ips.contains(&IpAddr::V6(*v6))
                }
                _ => false,
            });
            if hit && resolved {
                return;
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Removes an address; one already gone is fine.
pub async fn del_addr(handle: &Handle, index: u32, addr: IpAddr, prefix: u8) {
    let mut s = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .set_address_filter(addr)
        .set_prefix_length_filter(prefix)
        .execute();
    while let Ok(Some(msg)) = s.try_next().await {
        let _ = handle.address().del(msg).execute().await;
    }
}

/// The routes and rules of an IPv4 lease.
struct Routing {
    routes: Vec<netlink_packet_route::route::RouteMessage>,
    rules: Vec<RuleMessage>,
}

fn routing(
    handle: &Handle,
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
    let default = |table: u32| {
        RouteMessageBuilder::<Ipv4Addr>::new()
            .table_id(table)
            .gateway(gw)
            .output_interface(index)
            .protocol(RouteProtocol::Dhcp)
            .build()
    };
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
    out.routes.push(
        RouteMessageBuilder::<Ipv4Addr>::new()
            .table_id(table)
            .destination_prefix(subnet, prefix)
            .output_interface(index)
            .pref_source(ip)
            .scope(RouteScope::Link)
            .protocol(RouteProtocol::Dhcp)
            .build(),
    );
    let mut from = handle
        .rule()
        .add()
        .v4()
        .priority(RULE_PRIORITY)
        .table_id(table)
        .source_prefix(subnet, prefix);
    out.rules.push(from.message_mut().clone());
    let mut to = handle
        .rule()
        .add()
        .v4()
        .priority(RULE_PRIORITY)
        .table_id(table)
        .destination_prefix(subnet, prefix)
        .input_interface(dev.to_string());
    out.rules.push(to.message_mut().clone());
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
    let r = routing(handle, index, dev, ip, prefix, gw, default_route);
    for m in r.routes {
        handle.route().add(m).replace().execute().await?;
    }
    for m in r.rules {
        let mut req = handle.rule().add();
        *req.message_mut() = m;
        if let Err(e) = req.execute().await {
            if !is_exists(&e) {
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
        let r = routing(handle, index, dev, ip, prefix, gw, default_route);
        for m in r.rules {
            let _ = handle.rule().del(m).execute().await;
        }
        for m in r.routes {
            let _ = handle.route().del(m).execute().await;
        }
    }
    del_addr(handle, index, IpAddr::V4(ip), prefix).await;
    debug!(dev, %ip, "ipv4 lease removed");
}
