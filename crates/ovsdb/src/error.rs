//! The one error type of the crate, carrying the docs/api.md §4 code.

use std::time::Duration;

use serde_json::Value;

/// Everything that can go wrong talking to ovsdb-server.
///
/// Each variant names the database address (or database and op) at fault so
/// the engine can report it verbatim; [`Error::code`] maps it to the VDSM
/// error code the caller expects.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The address could not be parsed; nothing was attempted.
    #[error("bad OVSDB address {addr:?}: expected unix:PATH or tcp:HOST:PORT")]
    BadAddress {
        /// The address as given.
        addr: String,
    },
    /// Connecting failed: the server is not running or not listening there.
    #[error("OVS database {addr} unreachable: {source}")]
    Unreachable {
        /// The address we tried.
        addr: String,
        /// Why the connect failed.
        #[source]
        source: std::io::Error,
    },
    /// The connection dropped (or was never re-established after a drop);
    /// call [`crate::Client::reconnect`].
    #[error("OVS database {addr}: connection lost")]
    Disconnected {
        /// The address of the lost connection.
        addr: String,
    },
    /// The server did not answer in time.
    #[error("OVS database {addr}: no reply to {method} within {timeout:?}")]
    Timeout {
        /// The address of the connection.
        addr: String,
        /// The JSON-RPC method that went unanswered.
        method: String,
        /// How long we waited.
        timeout: Duration,
    },
    /// The peer sent a message longer than the client's limit
    /// ([`crate::Options::max_message`]); the connection was dropped
    /// rather than buffer it.
    #[error("OVS database {addr}: a message longer than {limit} bytes; connection dropped")]
    TooLarge {
        /// The address of the connection.
        addr: String,
        /// The limit it passed.
        limit: usize,
    },
    /// The peer left what we sent unread for the whole timeout (or stopped
    /// reading while flooding us); the connection was dropped.
    #[error("OVS database {addr}: the peer did not read our messages within {timeout:?}; connection dropped")]
    Stalled {
        /// The address of the connection.
        addr: String,
        /// How long a write may wait.
        timeout: Duration,
    },
    /// The server answered the JSON-RPC request with an `error`.
    #[error("OVS database {addr}: {method} failed: {error}")]
    Rpc {
        /// The address of the connection.
        addr: String,
        /// The JSON-RPC method that failed.
        method: String,
        /// The server's `error` member, verbatim.
        error: Value,
    },
    /// One operation of a transaction failed (or the commit itself, in which
    /// case `index` equals the number of ops and `op` is `"commit"`).
    #[error("OVSDB transaction on {db}: op {index} ({op}) failed: {error}{}", details.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Op {
        /// The database the transaction ran against.
        db: String,
        /// Index of the failing op in the request (ops.len() for commit).
        index: usize,
        /// The op name (`insert`, `mutate`, ...) or `commit`.
        op: String,
        /// The server's short error tag, e.g. `constraint violation`.
        error: String,
        /// The server's human-readable `details`, when given.
        details: Option<String>,
    },
    /// The server sent something RFC 7047 does not allow here.
    #[error("OVS database {addr}: malformed {what}: {detail}")]
    Protocol {
        /// The address of the connection.
        addr: String,
        /// What we were decoding.
        what: String,
        /// What was wrong with it.
        detail: String,
    },
    /// The replica did not reach the expected state in time.
    #[error("OVSDB replica did not reach the expected state within {timeout:?}")]
    ReplicaTimeout {
        /// How long we waited.
        timeout: Duration,
    },
    /// No remote of a clustered database led it within the failover bound
    /// ([`crate::ClusterOptions::failover`]).
    #[error("OVS database {db}: no leader among {remotes} within {waited:?} (last: {last})")]
    NoLeader {
        /// The database whose leader was sought.
        db: String,
        /// The remotes tried, comma-separated.
        remotes: String,
        /// How long we tried.
        waited: Duration,
        /// Why the last remote tried was not usable.
        last: String,
    },
    /// The server answers but does not lead the clustered database.
    #[error("OVS database {addr}: not the leader of {db}")]
    NotLeader {
        /// The server's address.
        addr: String,
        /// The database.
        db: String,
    },
    /// A transaction's reply was lost with its connection: it may or may
    /// not have committed ([`crate::ClusterClient::transact_idempotent`]
    /// resolves that).
    #[error("OVSDB transaction on {db}: outcome unknown: {source}")]
    OutcomeUnknown {
        /// The database the transaction ran against.
        db: String,
        /// How the reply was lost.
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// Whether this is the failure of the guard at `index` of the
    /// transaction ([`crate::Op::unchanged`]): another client changed what
    /// the transaction was computed from, so re-read and try again.
    pub fn is_guard_failure(&self, index: usize) -> bool {
        matches!(self, Self::Op { index: i, op, error, .. }
            if *i == index && op == "wait" && error == "timed out")
    }

    /// The VDSM error code an engine expects (docs/api.md §4): 32 when the
    /// database cannot be reached, 21 for a bad address, 29 otherwise (a
    /// backend operation failed).
    pub fn code(&self) -> u8 {
        match self {
            Self::BadAddress { .. } => 21,
            Self::Unreachable { .. }
            | Self::Disconnected { .. }
            | Self::Timeout { .. }
            | Self::TooLarge { .. }
            | Self::Stalled { .. }
            | Self::NoLeader { .. }
            | Self::NotLeader { .. }
            | Self::OutcomeUnknown { .. } => 32,
            Self::Rpc { .. }
            | Self::Op { .. }
            | Self::Protocol { .. }
            | Self::ReplicaTimeout { .. } => 29,
        }
    }
}
