//! The blocking snapshot: the six rtnetlink dumps on two plain sockets
//! (one on a scoped side thread), each reply parsed in place from the
//! receive buffer, and link speeds from one ethtool-netlink dump.
//!
//! It builds the same [`HostState`] as [`crate::snapshot_with`] (the
//! rtnetlink + netlink-packet-route reader, kept for callers that hold a
//! connection and as this one's reference in `tests/fast_snapshot.rs`),
//! in a fraction of the time: no runtime, no per-message allocation beyond
//! the state's own strings, only the attributes the state needs looked at,
//! and the kernel filling two dumps at once.

use std::collections::HashMap;
use std::time::Instant;

use netswitch_model::host::{HostState, Rule};
use netswitch_netlink::{Message, Socket, NETLINK_ROUTE};

use crate::dump::DumpKind;
use crate::raw::*;
use crate::{addr, ethtool, link, route, NetinfoError};

/// What the side thread brings: the addresses and routes, their links
/// still ifindexes.
type Side = (Vec<addr::RawAddr>, Vec<route::RawRoute>);

/// Takes the snapshot of the calling thread's network namespace; see
/// [`crate::snapshot`].
///
/// Two sockets work at once, since most of a snapshot's time is the kernel
/// filling dumps. The split follows the kernel's locking: the link dump and
/// the ethtool dump take the RTNL mutex, the address and route dumps run
/// under RCU. So this thread dumps links, then the ethtool speeds, then
/// rules, while a scoped side thread (it inherits this thread's namespace)
/// dumps addresses and routes; those keep their links as ifindexes until
/// the link dump has named them. Should the side thread not start, its
/// work runs here afterwards.
pub(crate) fn snapshot() -> Result<HostState, NetinfoError> {
    let started = Instant::now();
    let (main, side) = std::thread::scope(|s| {
        let side = std::thread::Builder::new()
            .name("netinfo-dumps".into())
            .spawn_scoped(s, addrs_and_routes);
        let main = links_speeds_rules();
        let side = match side {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(e) => {
                tracing::debug!(error = %e, "no side thread; dumping addresses and routes after the rest");
                addrs_and_routes()
            }
        };
        (main, side)
    });
    let (raws, by_index, rules) = main?;
    let (addrs, routes) = side?;

    let names: HashMap<u32, String> = raws
        .iter()
        .map(|r| (r.index(), r.name().to_string()))
        .collect();
    let addrs = addrs
        .into_iter()
        .filter_map(|a| a.resolve(&names))
        .collect();
    let routes = routes
        .into_iter()
        .filter_map(|r| r.resolve(&names))
        .collect();

    let ioctl = match by_index {
        None if raws.iter().any(|r| link::has_speed(r.kind())) => ethtool::Ethtool::open(),
        _ => None,
    };
    let links = link::assemble_by(raws.iter(), |l| match &by_index {
        Some(speeds) => speeds.get(&l.index).copied().flatten(),
        None => ioctl.as_ref().and_then(|e| e.speed(&l.name)),
    });

    let state = HostState {
        links,
        addrs,
        routes,
        rules,
        ovs: None,
        tc: Default::default(),
    };
    tracing::debug!(
        links = state.links.len(),
        addrs = state.addrs.len(),
        routes = state.routes.len(),
        rules = state.rules.len(),
        netlink_speeds = by_index.is_some(),
        elapsed_us = started.elapsed().as_micros() as u64,
        "netlink snapshot taken"
    );
    Ok(state)
}

/// Ethtool-netlink speeds by ifindex (`None`: use the ioctl).
type Speeds = Option<HashMap<u32, Option<u32>>>;

/// The link dump, the ethtool speeds (when some link is of a kind that has
/// one) and the rule dumps.
#[allow(clippy::type_complexity)]
fn links_speeds_rules() -> Result<(Vec<link::RawLink>, Speeds, Vec<Rule>), NetinfoError> {
    let mut sock = Socket::open(NETLINK_ROUTE).map_err(NetinfoError::Connect)?;
    let links = dump(
        &mut sock,
        DumpKind::Links,
        RTM_GETLINK,
        &link_request(),
        |m| {
            (m.kind == RTM_NEWLINK)
                .then(|| link::read_link_bytes(m.payload))
                .flatten()
        },
    )?;
    let speeds = if links.iter().any(|r| link::has_speed(r.kind())) {
        let started = Instant::now();
        let speeds = ethtool::speeds_by_index();
        tracing::debug!(
            devices = speeds.as_ref().map(HashMap::len),
            elapsed_us = started.elapsed().as_micros() as u64,
            "ethtool speeds dumped"
        );
        speeds
    } else {
        None
    };
    let mut rules = Vec::new();
    for (kind, family) in [(DumpKind::Rules4, AF_INET), (DumpKind::Rules6, AF_INET6)] {
        let body = family_request(family);
        rules.extend(dump(&mut sock, kind, RTM_GETRULE, &body, |m| {
            (m.kind == RTM_NEWRULE)
                .then(|| route::build_rule_bytes(m.payload))
                .flatten()
        })?);
    }
    Ok((links, speeds, rules))
}

/// The address dump (every family) and the IPv4 and IPv6 route dumps.
fn addrs_and_routes() -> Result<Side, NetinfoError> {
    let mut sock = Socket::open(NETLINK_ROUTE).map_err(NetinfoError::Connect)?;
    let addrs = dump(
        &mut sock,
        DumpKind::Addresses,
        RTM_GETADDR,
        &addr_request(),
        |m| {
            (m.kind == RTM_NEWADDR)
                .then(|| addr::read_addr_bytes(m.payload))
                .flatten()
        },
    )?;
    let mut routes = Vec::new();
    for (kind, family) in [(DumpKind::Routes4, AF_INET), (DumpKind::Routes6, AF_INET6)] {
        let body = family_request(family);
        routes.extend(dump(&mut sock, kind, RTM_GETROUTE, &body, |m| {
            (m.kind == RTM_NEWROUTE)
                .then(|| route::read_route_bytes(m.payload))
                .flatten()
        })?);
    }
    Ok((addrs, routes))
}

/// One dump on the shared socket (retried when interrupted), its failure
/// named by `kind`.
pub(crate) fn dump<T>(
    sock: &mut Socket,
    kind: DumpKind,
    msg_type: u16,
    body: &[u8],
    parse: impl FnMut(&Message<'_>) -> Option<T>,
) -> Result<Vec<T>, NetinfoError> {
    sock.dump(&kind, msg_type, body, parse)
        .map_err(|source| NetinfoError::DumpIo { kind, source })
}
