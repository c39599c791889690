//! The client: blocking JSON-RPC calls over a connection with a reader and
//! a writer thread (module `conn`, which also bounds what a peer can do).
//!
//! Blocking rather than tokio because every caller (the engine applying one
//! transaction per request) waits for the answer anyway, and a reader thread
//! is the simplest way to answer the server's `echo` probes and apply monitor
//! updates while nobody is calling. A caller never writes to the socket
//! itself: it queues its request and waits for the reply until its deadline,
//! so a peer that stops reading cannot hold it.
//!
//! Ordering guarantee: the reader handles messages strictly in arrival order
//! and applies monitor updates (and monitor replies) to the replica *before*
//! it hands the next reply to a caller. ovsdb-server flushes a session's
//! pending monitor updates before it sends that session's `transact` reply,
//! so when [`Client::transact`] returns, the replica already reflects the
//! commit (checked by `transact_is_visible_in_the_replica_on_return`).
//! Changes made by *other* clients arrive asynchronously: use
//! [`Client::wait_for`].

use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::conn::{self, lock, MonitorApply, Pending, Reply, Shared};
use crate::datum::Uuid;
use crate::op::{Condition, Op, OpResult};
use crate::replica::{column_kinds, ColumnKinds, Replica};
use crate::{Error, Row};

pub use crate::conn::Address;

/// A monitor to (re-)establish: sent again verbatim by `reconnect`.
#[derive(Clone, Debug, PartialEq)]
pub struct TableMonitor {
    /// Table name.
    pub table: String,
    /// Columns to monitor (`None`: all).
    pub columns: Option<Vec<String>>,
    /// Rows to monitor, `monitor_cond` only (`None`: all; ignored by plain
    /// `monitor`).
    pub conditions: Option<Vec<Condition>>,
}

impl TableMonitor {
    /// Monitor every column of `table`.
    pub fn all(table: &str) -> Self {
        Self {
            table: table.to_owned(),
            columns: None,
            conditions: None,
        }
    }

    /// Restricts a `monitor_cond` to rows matching all `conditions`.
    pub fn with_conditions(mut self, conditions: Vec<Condition>) -> Self {
        self.conditions = Some(conditions);
        self
    }

    /// Monitor only `columns` of `table` (less traffic, smaller replica).
    pub fn columns(table: &str, columns: &[&str]) -> Self {
        Self {
            table: table.to_owned(),
            columns: Some(columns.iter().map(|c| (*c).to_owned()).collect()),
            conditions: None,
        }
    }
}

#[derive(Clone, Debug)]
struct MonitorSpec {
    id: Value,
    db: String,
    tables: Vec<TableMonitor>,
    /// Column kinds for a `monitor_cond` (whose updates are diffs); `None`
    /// for a plain `monitor`.
    cond: Option<Arc<ColumnKinds>>,
}

impl MonitorSpec {
    fn params(&self) -> Value {
        let mut reqs = serde_json::Map::new();
        for t in &self.tables {
            let mut r = serde_json::Map::new();
            if let Some(c) = &t.columns {
                r.insert("columns".into(), json!(c));
            }
            if let (Some(conds), Some(_)) = (&t.conditions, &self.cond) {
                let w: Vec<Value> = conds.iter().map(Condition::to_json).collect();
                r.insert("where".into(), Value::Array(w));
            }
            reqs.insert(t.table.clone(), Value::Object(r));
        }
        json!([self.db, self.id, reqs])
    }

    fn method(&self) -> &'static str {
        if self.cond.is_some() {
            "monitor_cond"
        } else {
            "monitor"
        }
    }

    fn apply(&self) -> MonitorApply {
        MonitorApply {
            tables: self.tables.iter().map(|t| t.table.clone()).collect(),
            kinds: self.cond.clone(),
        }
    }
}

/// How a [`Client`] bounds its peer.
#[derive(Clone, Debug)]
pub struct Options {
    /// For connecting, and for each call's reply; also how long the peer
    /// may leave what we send unread before the connection is dropped.
    pub timeout: Duration,
    /// The longest message accepted from the peer, in bytes; a longer one
    /// drops the connection with [`Error::TooLarge`].
    pub max_message: usize,
}

/// The default [`Options::max_message`]: 64 MiB, far above any reply
/// ovsdb-server sends a host agent (a full vswitch dump of a thousand
/// ports is a few MiB).
pub const DEFAULT_MAX_MESSAGE: usize = 64 << 20;

impl Default for Options {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            max_message: DEFAULT_MAX_MESSAGE,
        }
    }
}

/// A connection to one ovsdb-server, with its monitor replica.
///
/// Dropping it closes the socket, which ends the reader and writer threads.
pub struct Client {
    shared: Arc<Shared>,
    /// The monitors to re-send on reconnect.
    monitors: Mutex<Vec<MonitorSpec>>,
}

impl Client {
    /// Connects to `addr` (`unix:PATH` or `tcp:HOST:PORT`) with a 30 s call
    /// timeout. An unreachable database is [`Error::Unreachable`] (code 32).
    pub fn connect(addr: &str) -> Result<Self, Error> {
        Self::connect_with(addr, Options::default())
    }

    /// Like [`Client::connect`], with `timeout` for connecting and for each
    /// call's reply.
    pub fn connect_with_timeout(addr: &str, timeout: Duration) -> Result<Self, Error> {
        Self::connect_with(
            addr,
            Options {
                timeout,
                ..Options::default()
            },
        )
    }

    /// Like [`Client::connect`], with all the bounds given.
    pub fn connect_with(addr: &str, options: Options) -> Result<Self, Error> {
        let addr = Address::parse(addr)?;
        let shared = Arc::new(Shared::new(addr, options.timeout, options.max_message));
        conn::open(&shared)?;
        Ok(Self {
            shared,
            monitors: Mutex::new(Vec::new()),
        })
    }

    /// The address this client talks to.
    pub fn address(&self) -> &Address {
        &self.shared.addr
    }

    /// Whether the connection is currently up (as far as the reader knows).
    pub fn is_connected(&self) -> bool {
        lock(&self.shared.state).queue.is_some()
    }

    /// How many server `echo` probes the reader has answered; lets tests and
    /// diagnostics see the inactivity probe is being served.
    pub fn echoes_answered(&self) -> u64 {
        self.shared.echoes_answered.load(Ordering::Relaxed)
    }

    /// Caps every call (and [`Client::wait_for`]) at `deadline` on top of
    /// the per-call timeout, so that a run of calls, such as one setup's
    /// OVS transactions, ends by one overall deadline; `None` lifts it.
    pub fn set_deadline(&self, deadline: Option<Instant>) {
        *lock(&self.shared.deadline) = deadline;
    }

    /// Re-establishes a dropped connection and re-sends every monitor, whose
    /// initial state replaces the replica's tables (rows deleted meanwhile
    /// disappear). Safe to call on a live connection: it is replaced.
    pub fn reconnect(&self) -> Result<(), Error> {
        conn::open(&self.shared)?;
        let monitors = lock(&self.monitors).clone();
        for m in &monitors {
            self.call(m.method(), m.params(), Some(m.apply()))?;
        }
        tracing::info!(addr = %self.shared.addr, monitors = monitors.len(), "ovsdb reconnected");
        Ok(())
    }

    fn call(
        &self,
        method: &str,
        params: Value,
        monitor: Option<MonitorApply>,
    ) -> Result<Value, Error> {
        let sh = &self.shared;
        let deadline = sh.call_deadline();
        let id = sh.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel();
        let msg = json!({"method": method, "params": params, "id": id});
        let bytes =
            serde_json::to_vec(&msg).map_err(|e| self.protocol("request", e.to_string()))?;
        let generation = lock(&sh.state).generation;
        lock(&sh.pending).insert(
            id,
            Pending {
                generation,
                tx,
                monitor,
            },
        );
        if let Err(e) = conn::send(sh, bytes) {
            lock(&sh.pending).remove(&id);
            return Err(e);
        }
        tracing::trace!(method, id, "ovsdb request sent");
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Reply::Ok(v)) => Ok(v),
            Ok(Reply::Err(error)) => Err(Error::Rpc {
                addr: sh.addr.to_string(),
                method: method.to_owned(),
                error,
            }),
            Ok(Reply::Lost(why)) => Err(sh.lost(why)),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(sh.lost(None)),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                lock(&sh.pending).remove(&id);
                Err(Error::Timeout {
                    addr: sh.addr.to_string(),
                    method: method.to_owned(),
                    timeout: sh.timeout,
                })
            }
        }
    }

    fn protocol(&self, what: &str, detail: impl Into<String>) -> Error {
        Error::Protocol {
            addr: self.shared.addr.to_string(),
            what: what.to_owned(),
            detail: detail.into(),
        }
    }

    /// Sends our own `echo` (keepalive / liveness check) and returns the
    /// server's copy of `payload`.
    pub fn echo(&self, payload: Value) -> Result<Value, Error> {
        let params = if payload.is_array() {
            payload
        } else {
            json!([payload])
        };
        self.call("echo", params, None)
    }

    /// The databases the server serves.
    pub fn list_dbs(&self) -> Result<Vec<String>, Error> {
        let v = self.call("list_dbs", json!([]), None)?;
        v.as_array()
            .and_then(|a| a.iter().map(|s| s.as_str().map(str::to_owned)).collect())
            .ok_or_else(|| self.protocol("list_dbs reply", v.to_string()))
    }

    /// The database schema, as the server sends it (RFC 7047 §3.2).
    pub fn get_schema(&self, db: &str) -> Result<Value, Error> {
        self.call("get_schema", json!([db]), None)
    }

    /// Runs `ops` atomically. On failure the error names the failing op's
    /// index and the server's `error`/`details`; a commit-time failure
    /// (constraint or referential integrity) has `index == ops.len()`.
    pub fn transact(&self, db: &str, ops: &[Op]) -> Result<Vec<OpResult>, Error> {
        let started = Instant::now();
        let mut params = vec![json!(db)];
        params.extend(ops.iter().map(Op::to_json));
        let v = self.call("transact", Value::Array(params), None)?;
        let results = v
            .as_array()
            .ok_or_else(|| self.protocol("transact reply", v.to_string()))?;
        let mut out = Vec::with_capacity(ops.len());
        for (index, r) in results.iter().enumerate() {
            if let Some(err) = r.get("error") {
                let op = ops.get(index).map_or("commit", Op::name).to_owned();
                let e = Error::Op {
                    db: db.to_owned(),
                    index,
                    op,
                    error: err.as_str().map_or_else(|| err.to_string(), str::to_owned),
                    details: r.get("details").and_then(Value::as_str).map(str::to_owned),
                };
                tracing::warn!(db, ops = ops.len(), error = %e, "ovsdb transaction failed");
                return Err(e);
            }
            if index < ops.len() {
                out.push(self.op_result(r)?);
            }
        }
        if out.len() != ops.len() {
            return Err(self.protocol(
                "transact reply",
                format!("{} results for {} ops", out.len(), ops.len()),
            ));
        }
        tracing::debug!(db, ops = ops.len(), elapsed = ?started.elapsed(), "ovsdb transaction committed");
        Ok(out)
    }

    fn op_result(&self, r: &Value) -> Result<OpResult, Error> {
        let mut res = OpResult::default();
        if let Some(u) = r.get("uuid") {
            res.uuid = Some(
                Uuid::from_json(u).ok_or_else(|| self.protocol("op result uuid", u.to_string()))?,
            );
        }
        if let Some(rows) = r.get("rows") {
            let rows = rows
                .as_array()
                .and_then(|a| {
                    a.iter()
                        .map(|row| {
                            row.as_object().map(|o| {
                                o.iter()
                                    .map(|(k, v)| (k.clone(), v.clone()))
                                    .collect::<Row>()
                            })
                        })
                        .collect::<Option<Vec<_>>>()
                })
                .ok_or_else(|| self.protocol("op result rows", rows.to_string()))?;
            res.rows = Some(rows);
        }
        if let Some(c) = r.get("count") {
            res.count = Some(
                c.as_u64()
                    .ok_or_else(|| self.protocol("op result count", c.to_string()))?,
            );
        }
        Ok(res)
    }

    /// Starts monitoring `tables` of `db` (RFC 7047 `monitor`): the initial
    /// rows land in the replica before this returns and every later change
    /// is applied by the reader thread. Remembered and re-sent by
    /// [`Client::reconnect`].
    pub fn monitor(&self, db: &str, tables: &[TableMonitor]) -> Result<(), Error> {
        self.start_monitor(db, tables, None)
    }

    /// Like [`Client::monitor`] but with `monitor_cond`: per-table `where`
    /// conditions ([`TableMonitor::with_conditions`]) and `update2` diffs,
    /// which carry only what changed. Fetches the schema first, since
    /// applying a diff needs each column's kind.
    pub fn monitor_cond(&self, db: &str, tables: &[TableMonitor]) -> Result<(), Error> {
        let schema = self.get_schema(db)?;
        let kinds = column_kinds(&schema).map_err(|e| self.protocol("schema", e))?;
        self.start_monitor(db, tables, Some(Arc::new(kinds)))
    }

    fn start_monitor(
        &self,
        db: &str,
        tables: &[TableMonitor],
        cond: Option<Arc<ColumnKinds>>,
    ) -> Result<(), Error> {
        let n = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let id = format!("netswitch-{n}");
        if let Some(k) = &cond {
            lock(&self.shared.cond_kinds).insert(id.clone(), Arc::clone(k));
        }
        let spec = MonitorSpec {
            id: json!(id),
            db: db.to_owned(),
            tables: tables.to_vec(),
            cond,
        };
        if let Err(e) = self.call(spec.method(), spec.params(), Some(spec.apply())) {
            lock(&self.shared.cond_kinds).remove(&id);
            return Err(e);
        }
        lock(&self.monitors).push(spec);
        Ok(())
    }

    /// A copy of the replica as of now.
    pub fn replica(&self) -> Replica {
        lock(&self.shared.replica).clone()
    }

    /// Runs `f` on the replica without copying it.
    pub fn with_replica<T>(&self, f: impl FnOnce(&Replica) -> T) -> T {
        f(&lock(&self.shared.replica))
    }

    /// Blocks until `pred` holds on the replica (re-checked after each
    /// update), or errs after `timeout` (or the client's deadline, if
    /// sooner), or as soon as the connection is lost. For changes made by
    /// other clients, which reach us asynchronously.
    pub fn wait_for(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&Replica) -> bool,
    ) -> Result<(), Error> {
        let mut deadline = Instant::now() + timeout;
        if let Some(d) = *lock(&self.shared.deadline) {
            deadline = deadline.min(d);
        }
        let mut g = lock(&self.shared.replica);
        loop {
            if pred(&g) {
                return Ok(());
            }
            if !self.is_connected() {
                return Err(self.shared.lost(None));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::ReplicaTimeout { timeout });
            }
            g = self
                .shared
                .replica_changed
                .wait_timeout(g, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let generation = lock(&self.shared.state).generation;
        conn::close(&self.shared, generation, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_both_kinds() {
        assert_eq!(
            Address::parse("unix:/a/b").unwrap(),
            Address::Unix("/a/b".into())
        );
        assert_eq!(
            Address::parse("tcp:[::1]:6640").unwrap(),
            Address::Tcp("::1".into(), 6640)
        );
        assert_eq!(
            Address::parse("tcp:[::1]:6640").unwrap().to_string(),
            "tcp:[::1]:6640"
        );
        assert_eq!(Address::parse("ssl:x:1").unwrap_err().code(), 21);
        assert_eq!(Address::parse("tcp:host").unwrap_err().code(), 21);
    }
}
