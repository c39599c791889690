//! Reads the host's network state through netlink dumps into a [`HostState`].
//!
//! No writes happen here; see `netswitch-kernel` for those. One dump per
//! object kind (links, addresses, IPv4 and IPv6 routes of every table, IPv4
//! and IPv6 rules), never one request per device, and no `ip` subprocess.
//! The only per-device call is the ethtool ioctl that reads a nic's speed,
//! which netlink does not carry.
//!
//! [`snapshot`] is the blocking entry point for the CLI, the engine and
//! tests, and reads the dumps' bytes in place (see `fast.rs`); [`Live`]
//! keeps a state current from notifications. Both run on the workspace's
//! one netlink socket (`netswitch-netlink`) and read messages with the
//! same byte readers: one reader per message kind and per attribute.
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

use netswitch_model::host::HostState;
use nix::sched::{setns, CloneFlags};

pub use dump::DumpKind;
pub use live::{Live, LiveCounters, LiveEvent};
pub use stats::{statistics, LinkStats};

/// Why a snapshot or a namespace switch failed.
#[derive(Debug, thiserror::Error)]
pub enum NetinfoError {
    /// Live netinfo's background thread could not be started.
    #[error("cannot start the live netinfo thread")]
    Runtime(#[source] std::io::Error),
    /// The netlink route socket could not be opened (no `NETLINK_ROUTE`, or
    /// out of file descriptors).
    #[error("cannot open a netlink route socket")]
    Connect(#[source] std::io::Error),
    /// A dump failed to send or receive, or the kernel refused it (its
    /// errno); `kind` says which.
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
/// Call it from plain threads (the CLI, tests) or from a blocking task.
pub fn snapshot() -> Result<HostState, NetinfoError> {
    fast::snapshot()
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
