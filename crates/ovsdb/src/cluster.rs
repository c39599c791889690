//! A clustered database (three ovsdb-servers under RAFT) served as one:
//! [`ClusterClient`] takes several remotes, talks only to the one whose
//! `_Server` database says it leads the database, and fails over to the next
//! remote when the connection drops or the server stops leading.
//!
//! Why the leader only: followers forward writes, but their view lags the
//! leader's, so a replica fed by a follower can miss a commit the caller
//! just made; ovsdb-idl's `leader_only` makes the same choice.
//!
//! Each connection is a fresh [`Client`]: its replica is rebuilt from the
//! new server's monitor replies, so after a failover nothing stale of the
//! old leader is left. The `_Server` `Database` row is monitored too, so a
//! server that loses leadership without dropping us is noticed at the next
//! call (its update lands in the replica under the table `Database`).
//!
//! The retry rule (docs/architecture.md): a transaction is re-sent only when
//! it provably did not commit (`not leader`), or, through
//! [`ClusterClient::transact_idempotent`], after the caller's check on the
//! new leader's replica says it did not. A reply lost with the connection
//! leaves the outcome unknown, and a plain re-send could commit twice.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::{Client, Options, TableMonitor};
use crate::conn::{lock, Address};
use crate::op::{Condition, Op, OpResult, WaitUntil};
use crate::replica::Replica;
use crate::Error;

/// The database that describes the others (ovsdb-server(5)).
const SERVER_DB: &str = "_Server";

/// How a [`ClusterClient`] bounds its work.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Bounds of each connection ([`Options`]).
    pub call: Options,
    /// How long a failover may take in total (connect attempts around the
    /// remotes, with backoff) before [`Error::NoLeader`].
    pub failover: Duration,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            call: Options {
                timeout: Duration::from_secs(10),
                ..Options::default()
            },
            failover: Duration::from_secs(30),
        }
    }
}

/// How a [`ClusterClient::transact_idempotent`] ended.
#[derive(Debug, PartialEq)]
pub enum Committed {
    /// Committed by this call; the per-op results.
    Now(Vec<OpResult>),
    /// A reply was lost, and the caller's check found the change already
    /// in the database: an earlier attempt committed it. Its results are
    /// unknown (a new row's uuid is in the replica).
    Earlier,
}

/// A monitor to re-establish on every new connection.
#[derive(Clone, Debug)]
struct Monitor {
    db: String,
    tables: Vec<TableMonitor>,
    cond: bool,
}

/// What a failed transaction means for a retry.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// The server refused it before committing: re-send on the leader.
    NotCommitted,
    /// The reply was lost: it may or may not have committed.
    Unknown,
    /// The server answered with an error: the caller's to handle.
    Final,
}

fn classify(e: &Error) -> Outcome {
    match e {
        Error::Rpc { error, .. } if error.as_str() == Some("not leader") => Outcome::NotCommitted,
        Error::Op { error, .. } if error == "not leader" => Outcome::NotCommitted,
        // ovsdb-server reports a RAFT commit it could not finish (lost
        // leadership, shutdown, timeout) as a commit-time error: the entry
        // may still commit under the next leader.
        Error::Op { error, .. } if error == "cluster error" => Outcome::Unknown,
        Error::Disconnected { .. }
        | Error::Timeout { .. }
        | Error::Stalled { .. }
        | Error::Unreachable { .. } => Outcome::Unknown,
        _ => Outcome::Final,
    }
}

/// A client of a clustered (or standalone) database that follows its
/// leader; see the module doc.
pub struct ClusterClient {
    remotes: Vec<Address>,
    db: String,
    options: ClusterOptions,
    current: Mutex<Option<Arc<Client>>>,
    /// Index of the remote to try next.
    next: AtomicUsize,
    monitors: Mutex<Vec<Monitor>>,
    /// One failover at a time; others wait and take its result.
    failing_over: Mutex<()>,
    /// Connections made to a leader, the first one included.
    attached: AtomicUsize,
}

impl std::fmt::Debug for ClusterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterClient")
            .field("remotes", &self.remotes_string())
            .field("db", &self.db)
            .field("leader", &self.leader_address())
            .finish_non_exhaustive()
    }
}

/// Splits `tcp:A:1,tcp:B:2` (the ovn-nbctl `--db` syntax) into remotes.
pub fn parse_remotes(remotes: &str) -> Result<Vec<String>, Error> {
    let v: Vec<String> = remotes
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if v.is_empty() {
        return Err(Error::BadAddress {
            addr: remotes.to_owned(),
        });
    }
    Ok(v)
}

impl ClusterClient {
    /// Connects to the leader of `db` among `remotes` (comma-separated, as
    /// ovn-nbctl's `--db`), with default bounds.
    pub fn connect(remotes: &str, db: &str) -> Result<Self, Error> {
        Self::connect_with(&parse_remotes(remotes)?, db, ClusterOptions::default())
    }

    /// Connects to the leader of `db` among `remotes`. A bad address is
    /// [`Error::BadAddress`] (code 21) before anything is tried; no leader
    /// within `options.failover` is [`Error::NoLeader`] (code 32).
    pub fn connect_with(
        remotes: &[String],
        db: &str,
        options: ClusterOptions,
    ) -> Result<Self, Error> {
        let remotes = remotes
            .iter()
            .map(|r| Address::parse(r))
            .collect::<Result<Vec<_>, _>>()?;
        if remotes.is_empty() {
            return Err(Error::BadAddress {
                addr: String::new(),
            });
        }
        let c = Self {
            remotes,
            db: db.to_owned(),
            options,
            current: Mutex::new(None),
            next: AtomicUsize::new(0),
            monitors: Mutex::new(Vec::new()),
            failing_over: Mutex::new(()),
            attached: AtomicUsize::new(0),
        };
        c.failover(None)?;
        Ok(c)
    }

    /// The address of the server in use (the leader, as of the last call).
    pub fn leader_address(&self) -> Option<String> {
        lock(&self.current)
            .as_ref()
            .map(|c| c.address().to_string())
    }

    /// How many times the client moved to a new leader after the first
    /// connect (for diagnostics and tests).
    pub fn failovers(&self) -> usize {
        self.attached.load(Ordering::Relaxed).saturating_sub(1)
    }

    /// The connection to the leader, failing over first if the current
    /// one dropped or no longer leads. For calls this type does not wrap.
    pub fn client(&self) -> Result<Arc<Client>, Error> {
        let cur = lock(&self.current).clone();
        match cur {
            Some(c) if c.is_connected() && leads(&c, &self.db) => Ok(c),
            other => self.failover(other.as_ref()),
        }
    }

    /// Moves to a leader, unless another caller already replaced `bad`.
    fn failover(&self, bad: Option<&Arc<Client>>) -> Result<Arc<Client>, Error> {
        let _one = lock(&self.failing_over);
        if let Some(c) = lock(&self.current).clone() {
            let replaced = bad.is_none_or(|b| !Arc::ptr_eq(b, &c));
            if replaced && c.is_connected() && leads(&c, &self.db) {
                return Ok(c);
            }
        }
        *lock(&self.current) = None;
        let started = Instant::now();
        let end = started + self.options.failover;
        let mut backoff = Duration::from_millis(50);
        let mut last = String::from("no remote tried");
        loop {
            for _ in 0..self.remotes.len() {
                let i = self.next.fetch_add(1, Ordering::Relaxed) % self.remotes.len();
                match self.attach(&self.remotes[i]) {
                    Ok(c) => {
                        // Next time, start with the one after the leader:
                        // when it fails, it is the least likely to lead.
                        self.next.store(i + 1, Ordering::Relaxed);
                        let c = Arc::new(c);
                        self.attached.fetch_add(1, Ordering::Relaxed);
                        *lock(&self.current) = Some(Arc::clone(&c));
                        tracing::info!(addr = %self.remotes[i], db = %self.db, "following the ovsdb leader");
                        return Ok(c);
                    }
                    Err(e) => {
                        tracing::debug!(addr = %self.remotes[i], error = %e, "not usable as leader");
                        last = e.to_string();
                    }
                }
            }
            let now = Instant::now();
            if now >= end {
                return Err(Error::NoLeader {
                    db: self.db.clone(),
                    remotes: self.remotes_string(),
                    waited: started.elapsed(),
                    last,
                });
            }
            std::thread::sleep(backoff.min(end - now));
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }

    fn remotes_string(&self) -> String {
        let v: Vec<String> = self.remotes.iter().map(ToString::to_string).collect();
        v.join(",")
    }

    /// Connects to `addr`, checks it leads `db`, and re-establishes the
    /// monitors there.
    fn attach(&self, addr: &Address) -> Result<Client, Error> {
        let c = Client::connect_with(&addr.to_string(), self.options.call.clone())?;
        let cols = ["name", "model", "leader", "connected"];
        c.monitor(SERVER_DB, &[TableMonitor::columns("Database", &cols)])?;
        if !leads(&c, &self.db) {
            return Err(Error::NotLeader {
                addr: addr.to_string(),
                db: self.db.clone(),
            });
        }
        let monitors = lock(&self.monitors).clone();
        for m in &monitors {
            if m.cond {
                c.monitor_cond(&m.db, &m.tables)?;
            } else {
                c.monitor(&m.db, &m.tables)?;
            }
        }
        Ok(c)
    }

    /// Monitors `tables` of `db` (plain `monitor`), on this and every later
    /// leader.
    pub fn monitor(&self, db: &str, tables: &[TableMonitor]) -> Result<(), Error> {
        self.add_monitor(db, tables, false)
    }

    /// Like [`ClusterClient::monitor`], with `monitor_cond`.
    pub fn monitor_cond(&self, db: &str, tables: &[TableMonitor]) -> Result<(), Error> {
        self.add_monitor(db, tables, true)
    }

    fn add_monitor(&self, db: &str, tables: &[TableMonitor], cond: bool) -> Result<(), Error> {
        let m = Monitor {
            db: db.to_owned(),
            tables: tables.to_vec(),
            cond,
        };
        let end = Instant::now() + self.options.failover;
        loop {
            let c = self.client()?;
            // Held so that no failover attaches a new leader between the
            // monitor and its remembering (the new one would lack it).
            let one = lock(&self.failing_over);
            let still = lock(&self.current)
                .as_ref()
                .is_some_and(|cur| Arc::ptr_eq(cur, &c));
            if !still {
                continue;
            }
            let r = if cond {
                c.monitor_cond(db, tables)
            } else {
                c.monitor(db, tables)
            };
            let e = match r {
                Ok(()) => {
                    lock(&self.monitors).push(m);
                    return Ok(());
                }
                Err(e) => e,
            };
            drop(one);
            if classify(&e) == Outcome::Final || Instant::now() >= end {
                return Err(e);
            }
            self.failover(Some(&c))?;
        }
    }

    /// A copy of the current leader's replica (the monitored tables plus
    /// `_Server`'s `Database`).
    pub fn replica(&self) -> Replica {
        lock(&self.current)
            .as_ref()
            .map(|c| c.replica())
            .unwrap_or_default()
    }

    /// Runs `f` on the current leader's replica without copying it (an
    /// empty replica while no leader is connected).
    pub fn with_replica<T>(&self, f: impl FnOnce(&Replica) -> T) -> T {
        let cur = lock(&self.current).clone();
        match cur {
            Some(c) => c.with_replica(f),
            None => f(&Replica::default()),
        }
    }

    /// Blocks until `pred` holds on the replica, following failovers, or
    /// errs after `timeout`.
    pub fn wait_for(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&Replica) -> bool,
    ) -> Result<(), Error> {
        let end = Instant::now() + timeout;
        loop {
            let c = self.client()?;
            let left = end.saturating_duration_since(Instant::now());
            match c.wait_for(left, &mut pred) {
                Err(e) if classify(&e) == Outcome::Unknown && Instant::now() < end => {
                    self.failover(Some(&c))?;
                }
                r => return r,
            }
        }
    }

    /// Runs `ops` on the leader. Re-sent on the next leader only when the
    /// server said it did not commit them (`not leader`); a reply lost with
    /// the connection is [`Error::OutcomeUnknown`] (code 32), after the
    /// client has moved to the new leader, since a re-send could commit the
    /// change twice: use [`ClusterClient::transact_idempotent`] for that.
    pub fn transact(&self, db: &str, ops: &[Op]) -> Result<Vec<OpResult>, Error> {
        let end = Instant::now() + self.options.failover;
        loop {
            let c = self.client()?;
            let e = match c.transact(db, ops) {
                Ok(r) => return Ok(r),
                Err(e) => e,
            };
            match classify(&e) {
                Outcome::NotCommitted if Instant::now() < end => {
                    self.failover(Some(&c))?;
                }
                Outcome::Unknown => {
                    let _ = self.failover(Some(&c));
                    return Err(Error::OutcomeUnknown {
                        db: db.to_owned(),
                        source: Box::new(e),
                    });
                }
                _ => return Err(e),
            }
        }
    }

    /// Runs `ops` on the leader, and survives the leader's death mid-call
    /// without committing twice.
    ///
    /// `check` says, on a replica, whether the change is already in the
    /// database (e.g. "a Logical_Switch_Port named by this Neutron id
    /// exists"); it must read only monitored tables. When a reply is lost,
    /// the client moves to the new leader, whose monitors rebuild the
    /// replica from its content, and evaluates `check` there: true means an
    /// earlier attempt committed ([`Committed::Earlier`]), false means
    /// re-send. Since RAFT may still commit the lost attempt after the new
    /// leader's first reply, start `ops` with a guard such as
    /// [`Op::absent`]: a re-send that races its own earlier commit then
    /// fails harmlessly, and is reported as [`Committed::Earlier`] once
    /// `check` sees the row.
    pub fn transact_idempotent(
        &self,
        db: &str,
        ops: &[Op],
        mut check: impl FnMut(&Replica) -> bool,
    ) -> Result<Committed, Error> {
        let end = Instant::now() + self.options.failover;
        let mut uncertain = false;
        loop {
            let c = self.client()?;
            let e = match c.transact(db, ops) {
                Ok(r) => return Ok(Committed::Now(r)),
                Err(e) => e,
            };
            let outcome = classify(&e);
            if outcome == Outcome::Final {
                return self.after_refusal(&c, e, uncertain, &mut check);
            }
            if Instant::now() >= end {
                return Err(e);
            }
            tracing::info!(db, error = %e, "ovsdb transaction interrupted; retrying on the leader");
            uncertain |= outcome == Outcome::Unknown;
            let c = self.failover(Some(&c))?;
            if uncertain && c.with_replica(&mut check) {
                return Ok(Committed::Earlier);
            }
        }
    }

    /// A re-send after a lost reply was refused: if the change shows up (an
    /// earlier attempt committed late, and tripped the guard), that is
    /// success; otherwise the refusal stands.
    fn after_refusal(
        &self,
        c: &Client,
        e: Error,
        uncertain: bool,
        check: &mut impl FnMut(&Replica) -> bool,
    ) -> Result<Committed, Error> {
        if uncertain && matches!(e, Error::Op { .. }) {
            let wait = self.options.call.timeout;
            if c.wait_for(wait, |r| check(r)).is_ok() {
                return Ok(Committed::Earlier);
            }
        }
        Err(e)
    }
}

/// Whether `c`'s `_Server` replica says its server leads `db` (a
/// standalone database always does; a relay never).
fn leads(c: &Client, db: &str) -> bool {
    c.with_replica(|r| {
        let Some(rows) = r.tables.get("Database") else {
            return false;
        };
        rows.values()
            .find(|row| row.get("name").and_then(Value::as_str) == Some(db))
            .is_some_and(|row| {
                let model = row.get("model").and_then(Value::as_str);
                let flag = |k: &str| row.get(k).and_then(Value::as_bool) == Some(true);
                match model {
                    Some("standalone") => true,
                    Some("clustered") => flag("leader") && flag("connected"),
                    _ => false,
                }
            })
    })
}

impl Op {
    /// A guard that fails the transaction at once (error `timed out`)
    /// if a row of `table` matches `conditions`: makes an insert keyed by a
    /// unique name safe to re-send (see
    /// [`ClusterClient::transact_idempotent`]).
    pub fn absent(table: &str, conditions: Vec<Condition>) -> Self {
        Self::Wait {
            table: table.to_owned(),
            conditions,
            columns: vec!["_uuid".to_owned()],
            until: WaitUntil::Equal,
            rows: Vec::new(),
            timeout_ms: Some(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn remotes_split_as_ovn_nbctl_takes_them() {
        assert_eq!(
            parse_remotes("tcp:127.0.0.1:1, tcp:[::1]:2,").unwrap(),
            ["tcp:127.0.0.1:1", "tcp:[::1]:2"]
        );
        assert_eq!(parse_remotes(" , ").unwrap_err().code(), 21);
    }

    #[test]
    fn only_a_refusal_before_commit_is_resent_blindly() {
        let rpc = |e: Value| Error::Rpc {
            addr: "a".into(),
            method: "transact".into(),
            error: e,
        };
        let op = |e: &str| Error::Op {
            db: "d".into(),
            index: 1,
            op: "commit".into(),
            error: e.into(),
            details: None,
        };
        let lost = Error::Disconnected { addr: "a".into() };
        assert_eq!(classify(&rpc(json!("not leader"))), Outcome::NotCommitted);
        assert_eq!(classify(&op("not leader")), Outcome::NotCommitted);
        assert_eq!(classify(&op("cluster error")), Outcome::Unknown);
        assert_eq!(classify(&lost), Outcome::Unknown);
        assert_eq!(classify(&op("constraint violation")), Outcome::Final);
        assert_eq!(classify(&rpc(json!("unknown database"))), Outcome::Final);
    }
}
