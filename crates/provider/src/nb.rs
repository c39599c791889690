//! The OVN northbound DB as the provider sees it: a [`ClusterClient`] (a
//! clustered NB is served as one: the client follows the RAFT leader) with
//! a monitor-fed replica of the tables Neutron maps onto (reads never go to
//! the server), a lock that makes each REST call's plan-and-commit atomic
//! with respect to the others, and helpers that read OVSDB datums.
//!
//! Every commit goes through [`ClusterClient::transact_idempotent`]: when
//! the leader dies mid-call, the client moves to the new leader and asks
//! its replica whether the plan's guard row (`neutron::ident`) is there;
//! if so an earlier attempt committed, else the same ops are re-sent. A
//! plan without a guard inserts nothing by name (updates, deletes), and
//! its ops mean the same when applied twice.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use netswitch_ovsdb::cluster::parse_remotes;
use netswitch_ovsdb::datum::{as_str_map, as_uuid_set, set_elements};
use netswitch_ovsdb::{ClusterClient, ClusterOptions, Committed, Replica, Row, TableMonitor, Uuid};
use serde_json::Value;

use crate::error::{ApiError, Error};
use crate::neutron::Plan;

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
    // Read for the gateway chassis' load (`neutron::gwchassis`).
    "Gateway_Chassis",
];

/// The NB connection.
pub struct Nb {
    client: ClusterClient,
    write: Mutex<()>,
}

impl Nb {
    /// Connects to the NB's leader among `remotes` (each entry may list
    /// several servers, `tcp:A:6641,tcp:B:6641`, as ovn-nbctl's `--db`
    /// takes them) and starts the monitor.
    pub fn connect(remotes: &[String]) -> Result<Self, Error> {
        let mut all = Vec::new();
        for r in remotes {
            all.extend(parse_remotes(r)?);
        }
        let client = ClusterClient::connect_with(&all, NB_DB, ClusterOptions::default())?;
        let mons: Vec<TableMonitor> = TABLES.iter().map(|t| TableMonitor::all(t)).collect();
        client.monitor_cond(NB_DB, &mons)?;
        tracing::info!(remotes = %all.join(","), leader = ?client.leader_address(), "serving the OVN northbound DB");
        Ok(Self {
            client,
            write: Mutex::new(()),
        })
    }

    /// Runs `f` on the replica (the leader's).
    pub fn read<T>(&self, f: impl FnOnce(&Replica) -> T) -> T {
        self.client.with_replica(f)
    }

    /// Serializes writers: a call plans against the replica and commits
    /// under this guard, so two calls cannot allocate the same IP.
    pub fn writer(&self) -> MutexGuard<'_, ()> {
        self.write.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Commits `plan` as one transaction, its guard op included; the
    /// replica holds the result when this returns (the server sends the
    /// update before the reply, and after a failover the new leader's
    /// replica is checked for it).
    pub fn commit(&self, plan: &mut Plan) -> Result<(), ApiError> {
        plan.finish();
        if plan.ops.is_empty() {
            return Ok(());
        }
        let guard = plan.guard.clone();
        let check = |r: &Replica| guard.as_ref().is_some_and(|g| g.holds(r));
        match self.client.transact_idempotent(NB_DB, &plan.ops, check) {
            Ok(Committed::Now(_)) => Ok(()),
            Ok(Committed::Earlier) => {
                tracing::info!("a lost reply's transaction had committed; not re-sent");
                Ok(())
            }
            Err(e) => Err(ApiError::nb(&e)),
        }
    }

    /// How many times the client moved to a new leader.
    pub fn failovers(&self) -> usize {
        self.client.failovers()
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
