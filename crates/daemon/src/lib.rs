//! `netswitch daemon`: the engine behind a JSON-RPC 2.0 Unix socket, with
//! caps served from live netinfo, and the blocking client the CLI uses.
//!
//! The wire is one JSON-RPC message per line (`\n`-terminated; JSON text
//! never contains a raw newline), at most [`MAX_MESSAGE_BYTES`] each, in
//! both directions on one connection; notifications from `Host.subscribe`
//! are interleaved with responses. See `docs/architecture.md` for the
//! methods and their codes.
//!
//! Inside: a [`transport::Transport`] (the Unix socket) hands connections
//! with the caller's [`transport::Identity`]; each line is a request
//! (`rpc`) dispatched through the method registry (`registry`, filled by
//! `methods`), which applies the [`transport::Policy`] and the
//! one-mutating-verb-at-a-time rule; [`Limits`] bound what clients make the
//! daemon hold.

#![warn(missing_docs)]

pub mod client;
mod conn;
mod leases;
mod limits;
mod lldp;
mod lldp_tx;
mod methods;
mod mirror;
mod ovn;
mod provider;
mod registry;
mod rpc;
pub mod server;
mod socket;
mod sriov;
mod state;
mod status;
mod stomp;
pub mod transport;
mod vnic;

use std::path::PathBuf;

pub use client::{Client, ClientError};
pub use limits::Limits;
pub use server::{serve, serve_listeners, serve_with, DaemonConfig, DaemonError, Listeners};
pub use status::{HttpConfig, StatusError};
pub use stomp::{read_subjects, RemoteError, StompConfig};

/// The largest message either side accepts: the same bound as a request
/// file (`model::parse::MAX_REQUEST_BYTES`).
pub const MAX_MESSAGE_BYTES: usize = netswitch_model::parse::MAX_REQUEST_BYTES;

/// JSON-RPC's own codes, for faults of the message rather than the request
/// it carries (those get the VDSM codes of `docs/api.md`).
pub mod codes {
    /// Not JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// JSON, but not a JSON-RPC 2.0 request (or too large).
    pub const INVALID_REQUEST: i64 = -32600;
    /// No such method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Parameters of the wrong shape for the method.
    pub const INVALID_PARAMS: i64 = -32602;
    /// The caller may not call this method (the transport's policy: on
    /// the Unix socket, not uid 0).
    pub const PERMISSION_DENIED: i64 = -32001;
    /// The daemon is at its bound of connections or buffered bytes: the
    /// connection is refused, or closed when it stalled on a partial
    /// message.
    pub const OVERLOADED: i64 = -32002;
    /// The daemon failed inside (a worker died); the request's effect is
    /// unknown.
    pub const INTERNAL: i64 = -32603;
    /// Another mutating verb is running (VDSM's code 40).
    pub const BUSY: i64 = 40;
}

/// The socket a daemon serves by default: `/run/netswitch/api.sock`, or
/// `/run/netswitch/netns-NAME.sock` for a daemon of network namespace NAME
/// (so a CLI run with `--netns NAME` finds that namespace's daemon and
/// never the host's).
pub fn default_socket(netns: Option<&str>) -> PathBuf {
    match netns {
        None => PathBuf::from("/run/netswitch/api.sock"),
        Some(ns) => PathBuf::from(format!("/run/netswitch/netns-{ns}.sock")),
    }
}
