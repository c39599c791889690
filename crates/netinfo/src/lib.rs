//! Reads the host's network state through netlink dumps into a [`HostState`].
//!
//! No writes happen here; see `netswitch-kernel` for those. One dump per
//! object kind (links, addresses, IPv4 and IPv6 routes of every table, IPv4
//! and IPv6 rules), never one request per device, and no `ip` subprocess.
//! The only per-device call is the ethtool ioctl that reads a nic's speed,
//! which netlink does not carry.
//!
//! [`snapshot`] is the blocking entry point for the CLI, the engine and
//! tests, and reads the dumps' bytes in place (see `fast.rs`);
//! [`snapshot_with`] runs the same dumps over an rtnetlink connection a
//! caller already holds and parses them with netlink-packet-route. Both
//! build the same [`HostState`].
//! [`enter_netns`] moves the calling thread into a named network namespace
//! so that `--netns NAME` and the namespace tests see the same code path as a
//! real host.

#![warn(missing_docs)]

mod addr;
mod dump;
mod ethtool;
mod fast;
mod link;
pub mod live;
mod names;
mod patch;
mod raw;
mod route;
mod stats;

/// The attribute walker and payload readers, shared with every netlink
/// user of the workspace.
use netswitch_netlink::attr as wire;

use std::fs::File;
use std::path::PathBuf;
use std::time::Instant;

use netlink_packet_route::{
    address::AddressMessage,
    link::{LinkAttribute, LinkExtentMask, LinkMessage},
    route::{RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType},
    rule::RuleMessage,
    AddressFamily, RouteNetlinkMessage,
};
use netswitch_model::host::HostState;
use nix::sched::{setns, CloneFlags};

pub use dump::DumpKind;
pub use live::{Live, LiveCounters, LiveEvent};
/// The netlink stack this crate speaks, re-exported so a caller of
/// [`snapshot_with`] builds its [`rtnetlink::Handle`] from the same version.
pub use rtnetlink;
pub use stats::{statistics, LinkStats};

/// Why a snapshot or a namespace switch failed.
#[derive(Debug, thiserror::Error)]
pub enum NetinfoError {
    /// A private tokio runtime (live netinfo's) could not be built.
    #[error("cannot build the runtime for a netlink snapshot")]
    Runtime(#[source] std::io::Error),
    /// The netlink route socket could not be opened (no `NETLINK_ROUTE`, or
    /// out of file descriptors).
    #[error("cannot open a netlink route socket")]
    Connect(#[source] std::io::Error),
    /// The kernel refused or broke off one dump; `kind` says which.
    #[error("netlink {kind} dump failed")]
    Dump {
        /// The dump that failed.
        kind: DumpKind,
        /// The kernel's error (an errno) or the transport's.
        #[source]
        source: rtnetlink::Error,
    },
    /// A dump on a plain (blocking) netlink socket failed to send or receive.
    #[error("netlink {kind} dump failed")]
    DumpIo {
        /// The dump that failed.
        kind: DumpKind,
        /// The socket's error.
        #[source]
        source: std::io::Error,
    },
    /// `/run/netns/NAME` could not be opened: the namespace does not exist
    /// or is not readable.
    #[error("network namespace {name}: cannot open {}", path.display())]
    NetnsOpen {
        /// The namespace asked for.
        name: String,
        /// The file that stands for it.
        path: PathBuf,
        /// Why opening failed.
        #[source]
        source: std::io::Error,
    },
    /// `setns(2)` refused the switch (not root, or not a net namespace).
    #[error("network namespace {name}: setns failed")]
    Setns {
        /// The namespace asked for.
        name: String,
        /// The errno of `setns(2)`.
        #[source]
        source: nix::Error,
    },
}

/// Takes a snapshot of the calling thread's network namespace.
///
/// Blocking, and the fast path: the six dumps (links, addresses, IPv4 and
/// IPv6 routes of every table, IPv4 and IPv6 rules) run on one plain
/// netlink socket and each reply is read in place from the receive buffer,
/// looking only at the attributes [`HostState`] needs; link speeds come
/// from one ethtool-netlink dump (an ioctl per nic on kernels without it).
/// The result is the same as [`snapshot_with`]'s. Call it from plain
/// threads (the CLI, tests) or from a blocking task.
pub fn snapshot() -> Result<HostState, NetinfoError> {
    fast::snapshot()
}

/// Takes a snapshot over an existing rtnetlink connection.
///
/// For a daemon that keeps one connection open: six dumps, run one after the
/// other (a netlink socket serves one dump at a time): links, addresses,
/// IPv4 routes, IPv6 routes, IPv4 rules, IPv6 rules. A dump the kernel
/// marks as interrupted (`NLM_F_DUMP_INTR`, the host changed mid-dump) is
/// retried a few times.
///
/// Link speeds come from an ethtool ioctl on a socket opened by the calling
/// thread, so the connection must belong to that thread's network namespace
/// (as it does when both were opened after [`enter_netns`]).
pub async fn snapshot_with(handle: &rtnetlink::Handle) -> Result<HostState, NetinfoError> {
    let started = Instant::now();

    let links = dump::dump(handle, DumpKind::Links, link_request(), |m| match m {
        RouteNetlinkMessage::NewLink(l) => Some(l),
        _ => None,
    })
    .await?;
    let addrs = dump::dump(
        handle,
        DumpKind::Addresses,
        address_request(),
        |m| match m {
            RouteNetlinkMessage::NewAddress(a) => Some(a),
            _ => None,
        },
    )
    .await?;
    let mut routes = Vec::new();
    for (kind, family) in [
        (DumpKind::Routes4, AddressFamily::Inet),
        (DumpKind::Routes6, AddressFamily::Inet6),
    ] {
        routes.extend(
            dump::dump(handle, kind, route_request(family), |m| match m {
                RouteNetlinkMessage::NewRoute(r) => Some(r),
                _ => None,
            })
            .await?,
        );
    }
    let mut rules = Vec::new();
    for (kind, family) in [
        (DumpKind::Rules4, AddressFamily::Inet),
        (DumpKind::Rules6, AddressFamily::Inet6),
    ] {
        rules.extend(
            dump::dump(handle, kind, rule_request(family), |m| match m {
                RouteNetlinkMessage::NewRule(r) => Some(r),
                _ => None,
            })
            .await?,
        );
    }

    let speeds_started = Instant::now();
    let ethtool = ethtool::Ethtool::open();
    let mut state = HostState {
        links: link::build_links(&links, |name| ethtool.as_ref().and_then(|e| e.speed(name))),
        ..HostState::default()
    };
    tracing::debug!(
        links = state.links.len(),
        elapsed_us = speeds_started.elapsed().as_micros() as u64,
        "links built (with ethtool speeds)"
    );
    let names = link::index_names(&state.links);
    state.addrs = addrs
        .iter()
        .filter_map(|a| addr::build_addr(a, &names))
        .collect();
    state.routes = routes
        .iter()
        .filter_map(|r| route::build_route(r, &names))
        .collect();
    state.rules = rules.iter().filter_map(route::build_rule).collect();

    tracing::debug!(
        links = state.links.len(),
        addrs = state.addrs.len(),
        routes = state.routes.len(),
        rules = state.rules.len(),
        elapsed_us = started.elapsed().as_micros() as u64,
        "netlink snapshot taken"
    );
    Ok(state)
}

/// Moves the calling thread into the network namespace `/run/netns/NAME`
/// (as made by `ip netns add NAME`).
///
/// Only the calling thread moves; threads it starts afterwards inherit the
/// namespace. That is why the CLI calls it first thing in `main`, before any
/// runtime or logger thread exists, and why tests call it on a fresh thread.
pub fn enter_netns(name: &str) -> Result<(), NetinfoError> {
    let path = PathBuf::from("/run/netns").join(name);
    let file = File::open(&path).map_err(|source| NetinfoError::NetnsOpen {
        name: name.to_string(),
        path: path.clone(),
        source,
    })?;
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|source| NetinfoError::Setns {
        name: name.to_string(),
        source,
    })
}

/// `RTM_GETLINK` for every family, asking the kernel to skip statistics
/// (`RTEXT_FILTER_SKIP_STATS`: it drops the per-family and VF blocks, the
/// bulk of them; `IFLA_STATS64` is sent regardless). netswitch reads none.
fn link_request() -> RouteNetlinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.interface_family = AddressFamily::Unspec;
    msg.attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
    RouteNetlinkMessage::GetLink(msg)
}

/// `RTM_GETADDR` with `AF_UNSPEC`: addresses of every family in one dump.
fn address_request() -> RouteNetlinkMessage {
    let mut msg = AddressMessage::default();
    msg.header.family = AddressFamily::Unspec;
    RouteNetlinkMessage::GetAddress(msg)
}

/// `RTM_GETROUTE` of one family with every filter field zero: table
/// `RT_TABLE_UNSPEC` makes the kernel walk all tables (a request naming
/// `main` would, on a strict-checking socket, return only main), and no
/// `RTM_F_CLONED` keeps the route cache out.
fn route_request(family: AddressFamily) -> RouteNetlinkMessage {
    let mut msg = RouteMessage::default();
    msg.header.address_family = family;
    msg.header.table = RouteHeader::RT_TABLE_UNSPEC;
    msg.header.protocol = RouteProtocol::Unspec;
    msg.header.scope = RouteScope::Universe;
    msg.header.kind = RouteType::Unspec;
    RouteNetlinkMessage::GetRoute(msg)
}

/// `RTM_GETRULE` of one family, every filter field zero.
fn rule_request(family: AddressFamily) -> RouteNetlinkMessage {
    let mut msg = RuleMessage::default();
    msg.header.family = family;
    RouteNetlinkMessage::GetRule(msg)
}
