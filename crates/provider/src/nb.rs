//! The OVN northbound DB as the provider sees it: one OVSDB connection with
//! a monitor-fed replica of the tables Neutron maps onto (reads never go to
//! the server), a lock that makes each REST call's plan-and-commit atomic
//! with respect to the others, and helpers that read OVSDB datums.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use netswitch_ovsdb::datum::{as_str_map, as_uuid_set, set_elements};
use netswitch_ovsdb::{Client, Op, OpResult, Replica, Row, TableMonitor, Uuid};
use serde_json::Value;

use crate::error::{ApiError, Error};

/// The database name.
pub const NB_DB: &str = "OVN_Northbound";

/// The tables the provider maps Neutron onto.
pub const TABLES: &[&str] = &[
    "Logical_Switch",
    "Logical_Switch_Port",
    "DHCP_Options",
    "Port_Group",
    "ACL",
    "Logical_Router",
    "Logical_Router_Port",
    "Logical_Router_Static_Route",
    "NAT",
];

/// The NB connection.
pub struct Nb {
    client: Client,
    write: Mutex<()>,
}

impl Nb {
    /// Connects to the first remote that answers and starts the monitor.
    pub fn connect(remotes: &[String]) -> Result<Self, Error> {
        let mut last = None;
        for r in remotes {
            match Client::connect_with_timeout(r, Duration::from_secs(30)) {
                Ok(client) => {
                    let mons: Vec<TableMonitor> =
                        TABLES.iter().map(|t| TableMonitor::all(t)).collect();
                    client.monitor_cond(NB_DB, &mons)?;
                    tracing::info!(remote = %r, "serving the OVN northbound DB");
                    return Ok(Self {
                        client,
                        write: Mutex::new(()),
                    });
                }
                Err(e) => {
                    tracing::warn!(remote = %r, error = %e, "NB remote unreachable");
                    last = Some(e);
                }
            }
        }
        Err(last.map_or_else(|| Error::Config("no NB remote".into()), Error::Nb))
    }

    /// Runs `f` on the replica.
    pub fn read<T>(&self, f: impl FnOnce(&Replica) -> T) -> T {
        self.client.with_replica(f)
    }

    /// Serializes writers: a call plans against the replica and commits
    /// under this guard, so two calls cannot allocate the same IP.
    pub fn writer(&self) -> MutexGuard<'_, ()> {
        self.write.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Commits `ops` as one transaction; the replica holds the result when
    /// this returns (the server sends the update before the reply).
    pub fn commit(&self, ops: &[Op]) -> Result<Vec<OpResult>, ApiError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        if !self.client.is_connected() {
            // One reconnect per call: the monitor is re-sent, the replica
            // refreshed; the ops were planned on the old one, so refuse them
            // rather than apply a stale plan.
            self.client.reconnect().map_err(|e| ApiError::nb(&e))?;
            return Err(ApiError::new(
                503,
                "NorthboundReconnected",
                "the OVN northbound DB connection was re-established; retry the call",
            ));
        }
        self.client
            .transact(NB_DB, ops)
            .map_err(|e| ApiError::nb(&e))
    }
}

/// The rows of `table`, if any.
pub fn rows<'a>(r: &'a Replica, table: &str) -> impl Iterator<Item = (&'a Uuid, &'a Row)> {
    r.tables.get(table).into_iter().flat_map(|t| t.iter())
}

/// A string column (`""` when absent or not a string).
pub fn s<'a>(row: &'a Row, col: &str) -> &'a str {
    row.get(col).and_then(Value::as_str).unwrap_or_default()
}

/// A map column of strings.
pub fn map(row: &Row, col: &str) -> BTreeMap<String, String> {
    row.get(col).and_then(as_str_map).unwrap_or_default()
}

/// One key of a string map column.
pub fn key<'a>(row: &'a Row, col: &str, key: &str) -> Option<&'a str> {
    let v = row.get(col)?;
    let pairs = v.as_array()?.get(1)?.as_array()?;
    pairs.iter().find_map(|p| {
        let p = p.as_array()?;
        (p.first()?.as_str()? == key).then(|| p.get(1)?.as_str())?
    })
}

/// A set column of strings.
pub fn strs(row: &Row, col: &str) -> Vec<String> {
    row.get(col)
        .and_then(set_elements)
        .map(|v| {
            v.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A set column of references.
pub fn uuids(row: &Row, col: &str) -> Vec<Uuid> {
    row.get(col).and_then(as_uuid_set).unwrap_or_default()
}

/// An optional boolean column (`enabled`, `up`): `None` when empty.
pub fn opt_bool(row: &Row, col: &str) -> Option<bool> {
    row.get(col)
        .and_then(set_elements)
        .and_then(|v| v.first().and_then(|b| b.as_bool()))
}

/// An optional integer column (`tag`).
pub fn opt_int(row: &Row, col: &str) -> Option<i64> {
    row.get(col)
        .and_then(set_elements)
        .and_then(|v| v.first().and_then(|b| b.as_i64()))
}
