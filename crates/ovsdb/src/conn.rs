//! One connection's machinery: the socket, a reader thread that frames
//! and dispatches what the peer sends, and a writer thread that sends what
//! callers and the reader queue.
//!
//! Both directions are bounded so that a misbehaving peer cannot hold a
//! caller past its deadline or grow the process (issue 14): a message is
//! refused past [`crate::client::Options::max_message`] bytes
//! ([`crate::framing`]); nobody but the writer thread ever blocks on a
//! write, the socket's send timeout ends a write the peer does not drain,
//! and the writer's queue is short, so a peer that floods `echo` and never
//! reads loses its connection instead of filling memory with replies.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::framing::{FrameError, Framer};
use crate::replica::{ColumnKinds, Replica};
use crate::Error;

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
pub(crate) enum Stream {
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

    fn set_write_timeout(&self, t: Duration) -> std::io::Result<()> {
        match self {
            Self::Unix(s) => s.set_write_timeout(Some(t)),
            Self::Tcp(s) => s.set_write_timeout(Some(t)),
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

/// How many messages may wait for the writer thread. A server reads what
/// we send at once; a queue this long means it has stopped reading.
const WRITE_QUEUE: usize = 64;

/// How much the reader asks the socket for at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Why a connection was closed by us rather than by the peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Close {
    /// The peer sent a message longer than the limit.
    TooLarge(usize),
    /// The peer did not read what we sent.
    Stalled,
    /// The peer sent something that is not JSON.
    Malformed(String),
}

/// How the reader applies a monitor reply to the replica.
pub(crate) struct MonitorApply {
    pub(crate) tables: Vec<String>,
    pub(crate) kinds: Option<Arc<ColumnKinds>>,
}

/// What the reader sends back to a waiting caller.
pub(crate) enum Reply {
    Ok(Value),
    Err(Value),
    /// The connection ended; with our reason when we ended it.
    Lost(Option<Close>),
}

pub(crate) struct Pending {
    pub(crate) generation: u64,
    pub(crate) tx: mpsc::Sender<Reply>,
    /// Set for a monitor reply: which tables its result replaces.
    pub(crate) monitor: Option<MonitorApply>,
}

#[derive(Default)]
pub(crate) struct ConnState {
    /// The queue to the current connection's writer thread.
    pub(crate) queue: Option<SyncSender<Vec<u8>>>,
    /// The socket, to shut it down.
    stream: Option<Stream>,
    pub(crate) generation: u64,
    /// Why we closed the connection of that generation, if we did.
    closed: Option<(u64, Close)>,
}

impl ConnState {
    /// Why we closed the connection of `generation`, if we did.
    fn closed_why(&self, generation: u64) -> Option<Close> {
        self.closed
            .as_ref()
            .filter(|(g, _)| *g == generation)
            .map(|(_, w)| w.clone())
    }
}

/// Everything the client, its reader and its writer share.
pub(crate) struct Shared {
    pub(crate) addr: Address,
    pub(crate) timeout: Duration,
    pub(crate) max_message: usize,
    /// The end of the current deadline ([`crate::Client::set_deadline`]).
    pub(crate) deadline: Mutex<Option<Instant>>,
    pub(crate) state: Mutex<ConnState>,
    pub(crate) pending: Mutex<HashMap<u64, Pending>>,
    pub(crate) next_id: AtomicU64,
    pub(crate) replica: Mutex<Replica>,
    pub(crate) replica_changed: Condvar,
    /// Column kinds of each `monitor_cond`, by monitor id, for `update2`.
    pub(crate) cond_kinds: Mutex<HashMap<String, Arc<ColumnKinds>>>,
    pub(crate) echoes_answered: AtomicU64,
}

/// Poisoning only means another thread panicked mid-update; the data is
/// still the best we have, so keep going rather than cascade the panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(crate) fn new(addr: Address, timeout: Duration, max_message: usize) -> Self {
        Self {
            addr,
            timeout,
            max_message,
            deadline: Mutex::new(None),
            state: Mutex::new(ConnState::default()),
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            replica: Mutex::new(Replica::default()),
            replica_changed: Condvar::new(),
            cond_kinds: Mutex::new(HashMap::new()),
            echoes_answered: AtomicU64::new(0),
        }
    }

    /// The error a caller sees for a connection that ended for `why`.
    pub(crate) fn lost(&self, why: Option<Close>) -> Error {
        let addr = self.addr.to_string();
        match why {
            Some(Close::TooLarge(limit)) => Error::TooLarge { addr, limit },
            Some(Close::Stalled) => Error::Stalled {
                addr,
                timeout: self.timeout,
            },
            Some(Close::Malformed(detail)) => Error::Protocol {
                addr,
                what: "message".into(),
                detail,
            },
            None => Error::Disconnected { addr },
        }
    }

    /// When a call started now must give up: after the call timeout, and
    /// no later than the deadline set on the client.
    pub(crate) fn call_deadline(&self) -> Instant {
        let by_timeout = Instant::now() + self.timeout;
        match *lock(&self.deadline) {
            Some(d) => d.min(by_timeout),
            None => by_timeout,
        }
    }
}

/// Connects and starts the reader and writer threads; replaces (and shuts
/// down) any previous connection.
pub(crate) fn open(sh: &Arc<Shared>) -> Result<(), Error> {
    let unreachable = |source| Error::Unreachable {
        addr: sh.addr.to_string(),
        source,
    };
    let stream = Stream::connect(&sh.addr, sh.timeout).map_err(unreachable)?;
    // Bounds every write: a peer that does not read for this long is gone.
    stream.set_write_timeout(sh.timeout).map_err(unreachable)?;
    let reader = stream.try_clone().map_err(unreachable)?;
    let writer = stream.try_clone().map_err(unreachable)?;
    let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(WRITE_QUEUE);
    let generation = {
        let mut st = lock(&sh.state);
        if let Some(old) = st.stream.take() {
            old.shutdown();
        }
        st.generation += 1;
        st.stream = Some(stream);
        st.queue = Some(tx);
        st.generation
    };
    let (r, w) = (Arc::clone(sh), Arc::clone(sh));
    let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
        std::thread::Builder::new()
            .name(name.into())
            .spawn(f)
            .map_err(unreachable)
    };
    spawn(
        "ovsdb-writer",
        Box::new(move || writer_loop(&w, writer, rx, generation)),
    )?;
    spawn(
        "ovsdb-reader",
        Box::new(move || reader_loop(&r, reader, generation)),
    )?;
    tracing::debug!(addr = %sh.addr, generation, "ovsdb connected");
    Ok(())
}

/// Ends the connection of `generation` (if still current) for `why`: the
/// reader then sees the end of the stream and fails the pending calls.
pub(crate) fn close(sh: &Shared, generation: u64, why: Option<Close>) {
    let mut st = lock(&sh.state);
    if st.generation != generation {
        return;
    }
    if let Some(why) = why {
        // The first reason wins: the rest are its consequences.
        if !matches!(&st.closed, Some((g, _)) if *g == generation) {
            tracing::warn!(addr = %sh.addr, reason = ?why, "dropping the ovsdb connection");
            st.closed = Some((generation, why));
        }
    }
    st.queue = None;
    if let Some(s) = st.stream.take() {
        s.shutdown();
    }
}

/// Queues `bytes` for the writer of the current connection. A full queue
/// means the peer stopped reading: the connection is dropped.
pub(crate) fn send(sh: &Shared, bytes: Vec<u8>) -> Result<(), Error> {
    let (queue, generation, why) = {
        let st = lock(&sh.state);
        (
            st.queue.clone(),
            st.generation,
            st.closed_why(st.generation),
        )
    };
    let Some(queue) = queue else {
        return Err(sh.lost(why));
    };
    match queue.try_send(bytes) {
        Ok(()) => Ok(()),
        Err(TrySendError::Full(_)) => {
            close(sh, generation, Some(Close::Stalled));
            Err(sh.lost(Some(Close::Stalled)))
        }
        Err(TrySendError::Disconnected(_)) => Err(sh.lost(why)),
    }
}

fn writer_loop(sh: &Shared, mut stream: Stream, rx: mpsc::Receiver<Vec<u8>>, generation: u64) {
    for bytes in rx {
        if let Err(e) = stream.write_all(&bytes) {
            let why = matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            )
            .then_some(Close::Stalled);
            tracing::warn!(addr = %sh.addr, error = %e, "ovsdb write failed");
            close(sh, generation, why);
            return;
        }
    }
}

fn reader_loop(sh: &Shared, mut stream: Stream, generation: u64) {
    let mut framer = Framer::new(sh.max_message);
    let mut buf = vec![0u8; READ_CHUNK];
    let mut msgs = Vec::new();
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        if let Err(e) = framer.feed(&buf[..n], &mut msgs) {
            let why = match e {
                FrameError::TooLarge => Close::TooLarge(sh.max_message),
                FrameError::Malformed(d) => Close::Malformed(d),
            };
            close(sh, generation, Some(why));
            break;
        }
        for msg in msgs.drain(..) {
            handle_message(sh, msg);
        }
    }
    finish(sh, generation);
}

/// The connection is over: forget it (if still current) and fail the calls
/// waiting on it, with our reason for closing it if we did.
fn finish(sh: &Shared, generation: u64) {
    let why = {
        let mut st = lock(&sh.state);
        if st.generation == generation {
            st.queue = None;
            if let Some(s) = st.stream.take() {
                s.shutdown();
                tracing::warn!(addr = %sh.addr, "ovsdb connection lost");
            }
        }
        st.closed_why(generation)
    };
    let mut pending = lock(&sh.pending);
    let ids: Vec<u64> = pending
        .iter()
        .filter(|(_, p)| p.generation == generation)
        .map(|(id, _)| *id)
        .collect();
    for id in ids {
        if let Some(p) = pending.remove(&id) {
            let _ = p.tx.send(Reply::Lost(why.clone()));
        }
    }
    drop(pending);
    sh.replica_changed.notify_all();
}

fn handle_message(sh: &Shared, msg: Value) {
    match msg.get("method").and_then(Value::as_str) {
        Some("echo") => answer_echo(sh, &msg),
        Some("update") => {
            let Some(updates) = msg.get("params").and_then(|p| p.get(1)) else {
                tracing::warn!("monitor update without table-updates ignored");
                return;
            };
            let mut r = lock(&sh.replica);
            if let Err(e) = r.apply(updates) {
                tracing::warn!(error = %e, "malformed monitor update ignored");
            }
            drop(r);
            sh.replica_changed.notify_all();
        }
        Some("update2") => apply_update2(sh, &msg),
        Some(other) => {
            tracing::debug!(method = other, "ignoring unsupported server request");
        }
        None => handle_reply(sh, msg),
    }
}

fn answer_echo(sh: &Shared, msg: &Value) {
    let reply = json!({"result": msg.get("params").cloned().unwrap_or(json!([])),
                       "error": null,
                       "id": msg.get("id").cloned().unwrap_or(Value::Null)});
    let Ok(bytes) = serde_json::to_vec(&reply) else {
        return;
    };
    match send(sh, bytes) {
        Ok(()) => {
            sh.echoes_answered.fetch_add(1, Ordering::Relaxed);
            tracing::trace!("answered server echo");
        }
        Err(e) => tracing::warn!(error = %e, "could not answer server echo"),
    }
}

fn apply_update2(sh: &Shared, msg: &Value) {
    let params = msg.get("params");
    let id = params.and_then(|p| p.get(0)).and_then(Value::as_str);
    let kinds = id.and_then(|id| lock(&sh.cond_kinds).get(id).cloned());
    let (Some(kinds), Some(updates)) = (kinds, params.and_then(|p| p.get(1))) else {
        tracing::warn!("update2 for an unknown monitor ignored");
        return;
    };
    let mut r = lock(&sh.replica);
    if let Err(e) = r.apply2(updates, &kinds) {
        tracing::warn!(error = %e, "malformed update2 ignored");
    }
    drop(r);
    sh.replica_changed.notify_all();
}

fn handle_reply(sh: &Shared, msg: Value) {
    let Some(id) = msg.get("id").and_then(Value::as_u64) else {
        tracing::debug!("reply with foreign id ignored");
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
