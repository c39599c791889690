//! Talks to ovsdb-server over OVSDB JSON-RPC (RFC 7047): transact, monitor,
//! echo, and typed rows ([`TableRow`]) for the vswitch tables the ovs switch
//! uses. The client and the replica assume no schema (tested against
//! `OVN_Northbound` too); only [`vswitch`] knows the Open_vSwitch one.
//!
//! No published crate offers both monitor and transact (docs/architecture.md), so this
//! is our own: a blocking [`Client`] with a reader thread that answers the
//! server's `echo` probes and keeps a [`Replica`] of monitored tables
//! current. Ops are plain values ([`Op`]), so planners build them without a
//! connection; [`datum`] converts the OVSDB set/map/uuid encodings.

#![warn(missing_docs)]

pub mod client;
pub mod cluster;
mod conn;
pub mod datum;
pub mod error;
mod framing;
pub mod op;
pub mod replica;
pub mod vswitch;

use std::collections::BTreeMap;

pub use client::{Address, Client, Options, TableMonitor, DEFAULT_MAX_MESSAGE};
pub use cluster::{ClusterClient, ClusterOptions, Committed};
pub use datum::Uuid;
pub use error::Error;
pub use op::{row, Condition, Function, Mutation, Mutator, Op, OpResult, WaitUntil};
pub use replica::{ColumnKind, ColumnKinds, Replica, TableRow};
pub use vswitch::{Bridge, Interface, Mirror, OpenVSwitch, Port, Qos, Queue};

/// A row: column name to datum in OVSDB JSON form. Ordered for
/// deterministic output and comparisons.
pub type Row = BTreeMap<String, serde_json::Value>;

/// The vswitch database name.
pub const VSWITCH_DB: &str = "Open_vSwitch";
