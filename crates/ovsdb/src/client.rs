//! The connection: a blocking JSON-RPC client with one reader thread.
//!
//! Blocking rather than tokio because every caller (the engine applying one
//! transaction per request) waits for the answer anyway, and a reader thread
//! is the simplest way to answer the server's `echo` probes and apply monitor
//! updates while nobody is calling.
//!
//! Ordering guarantee: the reader handles messages strictly in arrival order
//! and applies monitor updates (and monitor replies) to the replica *before*
//! it hands the next reply to a caller. ovsdb-server flushes a session's
//! pending monitor updates before it sends that session's `transact` reply,
//! so when [`Client::transact`] returns, the replica already reflects the
//! commit (checked by `transact_is_visible_in_the_replica_on_return`).
//! Changes made by *other* clients arrive asynchronously: use
//! [`Client::wait_for`].

use std::collections::HashMap;
use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::datum::Uuid;
use crate::op::{Condition, Op, OpResult};
use crate::replica::{column_kinds, ColumnKinds, Replica};
use crate::{Error, Row};

/// Where the database listens, parsed from the OVS address syntax.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// `unix:PATH`
    Unix(String),
    /// `tcp:HOST:PORT` (IPv6 hosts in brackets)
    Tcp(String, u16),
}

impl Address {
    /// Parses `unix:PATH` or `tcp:HOST:PORT`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let bad = || Error::BadAddress { addr: s.to_owned() };
        if let Some(p) = s.strip_prefix("unix:") {
            if p.is_empty() {
                return Err(bad());
            }
            return Ok(Self::Unix(p.to_owned()));
        }
        if let Some(hp) = s.strip_prefix("tcp:") {
            let (h, p) = hp.rsplit_once(':').ok_or_else(bad)?;
            let h = h.trim_start_matches('[').trim_end_matches(']');
            let port = p.parse().map_err(|_| bad())?;
            if h.is_empty() {
                return Err(bad());
            }
            return Ok(Self::Tcp(h.to_owned(), port));
        }
        Err(bad())
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unix(p) => write!(f, "unix:{p}"),
            Self::Tcp(h, p) if h.contains(':') => write!(f, "tcp:[{h}]:{p}"),
            Self::Tcp(h, p) => write!(f, "tcp:{h}:{p}"),
        }
    }
}

/// The socket, either kind; cloned into a reader half and a writer half.
enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    fn connect(addr: &Address, timeout: Duration) -> std::io::Result<Self> {
        match addr {
            Address::Unix(p) => UnixStream::connect(p).map(Self::Unix),
            Address::Tcp(h, port) => {
                let mut last = None;
                for sa in (h.as_str(), *port).to_socket_addrs()? {
                    match TcpStream::connect_timeout(&sa, timeout) {
                        Ok(s) => {
                            s.set_nodelay(true)?;
                            return Ok(Self::Tcp(s));
                        }
                        Err(e) => last = Some(e),
                    }
                }
                Err(last.unwrap_or_else(|| std::io::Error::other("no address resolved")))
            }
        }
    }

    fn try_clone(&self) -> std::io::Result<Self> {
        match self {
            Self::Unix(s) => s.try_clone().map(Self::Unix),
            Self::Tcp(s) => s.try_clone().map(Self::Tcp),
        }
    }

    fn shutdown(&self) {
        // Errors mean it is already closed, which is what we want.
        let _ = match self {
            Self::Unix(s) => s.shutdown(Shutdown::Both),
            Self::Tcp(s) => s.shutdown(Shutdown::Both),
        };
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Unix(s) => s.read(buf),
            Self::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Unix(s) => s.write(buf),
            Self::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Unix(s) => s.flush(),
            Self::Tcp(s) => s.flush(),
        }
    }
}

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

/// How the reader applies a monitor reply to the replica.
struct MonitorApply {
    tables: Vec<String>,
    kinds: Option<Arc<ColumnKinds>>,
}

/// What the reader sends back to a waiting caller.
enum Reply {
    Ok(Value),
    Err(Value),
    Lost,
}

struct Pending {
    generation: u64,
    tx: mpsc::Sender<Reply>,
    /// Set for a monitor reply: which tables its result replaces.
    monitor: Option<MonitorApply>,
}

struct ConnState {
    writer: Option<Stream>,
    generation: u64,
}

struct Shared {
    addr: Address,
    timeout: Duration,
    state: Mutex<ConnState>,
    pending: Mutex<HashMap<u64, Pending>>,
    next_id: AtomicU64,
    replica: Mutex<Replica>,
    replica_changed: Condvar,
    monitors: Mutex<Vec<MonitorSpec>>,
    /// Column kinds of each `monitor_cond`, by monitor id, for `update2`.
    cond_kinds: Mutex<HashMap<String, Arc<ColumnKinds>>>,
    echoes_answered: AtomicU64,
}

/// Poisoning only means another thread panicked mid-update; the data is
/// still the best we have, so keep going rather than cascade the panic.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A connection to one ovsdb-server, with its monitor replica.
///
/// Dropping it closes the socket, which ends the reader thread.
pub struct Client {
    shared: Arc<Shared>,
}

impl Client {
    /// Connects to `addr` (`unix:PATH` or `tcp:HOST:PORT`) with a 30 s call
    /// timeout. An unreachable database is [`Error::Unreachable`] (code 32).
    pub fn connect(addr: &str) -> Result<Self, Error> {
        Self::connect_with_timeout(addr, Duration::from_secs(30))
    }

    /// Like [`Client::connect`], with `timeout` for connecting and for each
    /// call's reply.
    pub fn connect_with_timeout(addr: &str, timeout: Duration) -> Result<Self, Error> {
        let addr = Address::parse(addr)?;
        let shared = Arc::new(Shared {
            addr,
            timeout,
            state: Mutex::new(ConnState {
                writer: None,
                generation: 0,
            }),
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            replica: Mutex::new(Replica::default()),
            replica_changed: Condvar::new(),
            monitors: Mutex::new(Vec::new()),
            cond_kinds: Mutex::new(HashMap::new()),
            echoes_answered: AtomicU64::new(0),
        });
        let client = Self { shared };
        client.open()?;
        Ok(client)
    }

    /// The address this client talks to.
    pub fn address(&self) -> &Address {
        &self.shared.addr
    }

    /// Whether the connection is currently up (as far as the reader knows).
    pub fn is_connected(&self) -> bool {
        lock(&self.shared.state).writer.is_some()
    }

    /// How many server `echo` probes the reader has answered; lets tests and
    /// diagnostics see the inactivity probe is being served.
    pub fn echoes_answered(&self) -> u64 {
        self.shared.echoes_answered.load(Ordering::Relaxed)
    }

    fn open(&self) -> Result<(), Error> {
        let sh = &self.shared;
        let unreachable = |source| Error::Unreachable {
            addr: sh.addr.to_string(),
            source,
        };
        let stream = Stream::connect(&sh.addr, sh.timeout).map_err(unreachable)?;
        let reader = stream.try_clone().map_err(unreachable)?;
        let generation = {
            let mut st = lock(&sh.state);
            if let Some(old) = st.writer.take() {
                old.shutdown();
            }
            st.generation += 1;
            st.writer = Some(stream);
            st.generation
        };
        let shared = Arc::clone(sh);
        thread::Builder::new()
            .name("ovsdb-reader".into())
            .spawn(move || reader_loop(shared, reader, generation))
            .map_err(unreachable)?;
        tracing::debug!(addr = %sh.addr, generation, "ovsdb connected");
        Ok(())
    }

    /// Re-establishes a dropped connection and re-sends every monitor, whose
    /// initial state replaces the replica's tables (rows deleted meanwhile
    /// disappear). Safe to call on a live connection: it is replaced.
    pub fn reconnect(&self) -> Result<(), Error> {
        self.open()?;
        let monitors = lock(&self.shared.monitors).clone();
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
        let addr = || sh.addr.to_string();
        let id = sh.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel();
        let msg = json!({"method": method, "params": params, "id": id});
        let bytes = serde_json::to_vec(&msg).map_err(|e| Error::Protocol {
            addr: addr(),
            what: "request".into(),
            detail: e.to_string(),
        })?;
        {
            let mut st = lock(&sh.state);
            let generation = st.generation;
            let Some(w) = st.writer.as_mut() else {
                return Err(Error::Disconnected { addr: addr() });
            };
            lock(&sh.pending).insert(
                id,
                Pending {
                    generation,
                    tx,
                    monitor,
                },
            );
            if let Err(e) = w.write_all(&bytes) {
                tracing::warn!(addr = %sh.addr, method, error = %e, "ovsdb write failed");
                lock(&sh.pending).remove(&id);
                return Err(Error::Disconnected { addr: addr() });
            }
        }
        tracing::trace!(method, id, "ovsdb request sent");
        match rx.recv_timeout(sh.timeout) {
            Ok(Reply::Ok(v)) => Ok(v),
            Ok(Reply::Err(error)) => Err(Error::Rpc {
                addr: addr(),
                method: method.to_owned(),
                error,
            }),
            Ok(Reply::Lost) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(Error::Disconnected { addr: addr() })
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                lock(&sh.pending).remove(&id);
                Err(Error::Timeout {
                    addr: addr(),
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
        lock(&self.shared.monitors).push(spec);
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
    /// update), or errs after `timeout`. For changes made by other clients,
    /// which reach us asynchronously.
    pub fn wait_for(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&Replica) -> bool,
    ) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        let mut g = lock(&self.shared.replica);
        loop {
            if pred(&g) {
                return Ok(());
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
        if let Some(w) = lock(&self.shared.state).writer.take() {
            w.shutdown();
        }
    }
}

fn reader_loop(sh: Arc<Shared>, stream: Stream, generation: u64) {
    let de = serde_json::Deserializer::from_reader(BufReader::new(stream));
    // The stream deserializer finds message boundaries itself: replies come
    // back-to-back without separators and may be split across reads.
    for msg in de.into_iter::<Value>() {
        let msg = match msg {
            Ok(m) => m,
            Err(e) => {
                if !e.is_eof() && !e.is_io() {
                    tracing::warn!(addr = %sh.addr, error = %e, "ovsdb sent malformed JSON; dropping connection");
                }
                break;
            }
        };
        handle_message(&sh, generation, msg);
    }
    // Connection over: forget the writer (if still ours) and fail our calls.
    {
        let mut st = lock(&sh.state);
        if st.generation == generation {
            // No writer left: the client closed it (dropped), not the server.
            if let Some(w) = st.writer.take() {
                w.shutdown();
                tracing::warn!(addr = %sh.addr, "ovsdb connection lost");
            }
        }
    }
    let mut pending = lock(&sh.pending);
    let ids: Vec<u64> = pending
        .iter()
        .filter(|(_, p)| p.generation == generation)
        .map(|(id, _)| *id)
        .collect();
    for id in ids {
        if let Some(p) = pending.remove(&id) {
            let _ = p.tx.send(Reply::Lost);
        }
    }
}

fn handle_message(sh: &Shared, generation: u64, msg: Value) {
    match msg.get("method").and_then(Value::as_str) {
        Some("echo") => {
            let reply = json!({"result": msg.get("params").cloned().unwrap_or(json!([])),
                               "error": null,
                               "id": msg.get("id").cloned().unwrap_or(Value::Null)});
            let mut st = lock(&sh.state);
            if st.generation == generation {
                if let Some(w) = st.writer.as_mut() {
                    match serde_json::to_vec(&reply).map(|b| w.write_all(&b)) {
                        Ok(Ok(())) => {
                            sh.echoes_answered.fetch_add(1, Ordering::Relaxed);
                            tracing::trace!("answered server echo");
                        }
                        Ok(Err(e)) => tracing::warn!(error = %e, "could not answer server echo"),
                        Err(e) => tracing::warn!(error = %e, "could not encode echo reply"),
                    }
                }
            }
        }
        Some("update") => {
            let updates = msg.get("params").and_then(|p| p.get(1));
            let Some(updates) = updates else {
                tracing::warn!(%msg, "monitor update without table-updates ignored");
                return;
            };
            let mut r = lock(&sh.replica);
            if let Err(e) = r.apply(updates) {
                tracing::warn!(error = %e, "malformed monitor update ignored");
            }
            drop(r);
            sh.replica_changed.notify_all();
        }
        Some("update2") => {
            let params = msg.get("params");
            let id = params.and_then(|p| p.get(0)).and_then(Value::as_str);
            let kinds = id.and_then(|id| lock(&sh.cond_kinds).get(id).cloned());
            let (Some(kinds), Some(updates)) = (kinds, params.and_then(|p| p.get(1))) else {
                tracing::warn!(%msg, "update2 for an unknown monitor ignored");
                return;
            };
            let mut r = lock(&sh.replica);
            if let Err(e) = r.apply2(updates, &kinds) {
                tracing::warn!(error = %e, "malformed update2 ignored");
            }
            drop(r);
            sh.replica_changed.notify_all();
        }
        Some(other) => {
            tracing::debug!(method = other, "ignoring unsupported server request");
        }
        None => {
            let Some(id) = msg.get("id").and_then(Value::as_u64) else {
                tracing::debug!(%msg, "reply with foreign id ignored");
                return;
            };
            let Some(p) = lock(&sh.pending).remove(&id) else {
                tracing::debug!(id, "reply to a call nobody waits for");
                return;
            };
            let reply = match msg.get("error") {
                Some(e) if !e.is_null() => Reply::Err(e.clone()),
                _ => {
                    let result = msg.get("result").cloned().unwrap_or(Value::Null);
                    if let Some(m) = &p.monitor {
                        let mut r = lock(&sh.replica);
                        let applied = match &m.kinds {
                            Some(k) => r.reset2(&m.tables, &result, k),
                            None => r.reset(&m.tables, &result),
                        };
                        if let Err(e) = applied {
                            tracing::warn!(error = %e, "malformed monitor reply");
                        }
                        drop(r);
                        sh.replica_changed.notify_all();
                    }
                    Reply::Ok(result)
                }
            };
            let _ = p.tx.send(reply);
        }
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
