//! The server: accept connections on the Unix socket, read one message per
//! line, dispatch, answer; mutating verbs one at a time on worker threads.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use netswitch_engine::{Engine, EngineError, SetupOptions, Which};
use netswitch_model::config::Config;
use netswitch_model::host::HostState;
use netswitch_netinfo::Live;
use netswitch_switch::report::{self, ReportContext};
use serde_json::{json, Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::OwnedReadHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, Semaphore};
use tracing::{debug, info, info_span, warn, Instrument};

use crate::{codes, MAX_MESSAGE_BYTES, MUTATING};

/// Requests of one connection handled at once; more wait their turn.
const PER_CONNECTION: usize = 8;

/// What a daemon serves and where.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// The Unix socket to listen on (created mode 0600; a stale one is
    /// replaced, a live one is an error).
    pub socket: PathBuf,
    /// The engine the verbs run (state dir, resolver file, nic policy).
    pub engine: Engine,
}

/// Why the daemon could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The socket path is served by a running daemon already.
    #[error("{}: another daemon is serving this socket", .0.display())]
    InUse(PathBuf),
    /// The socket could not be created.
    #[error("{}: {source}", path.display())]
    Socket {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Live netinfo could not start.
    #[error("live netinfo: {0}")]
    Netinfo(#[from] netswitch_netinfo::NetinfoError),
    /// The runtime could not start.
    #[error("runtime: {0}")]
    Runtime(io::Error),
}

impl DaemonError {
    /// The exit code: 29, as for any backend failure.
    pub fn code(&self) -> u8 {
        29
    }
}

/// A JSON-RPC error on its way out.
#[derive(Debug)]
struct RpcError {
    code: i64,
    message: String,
}

impl RpcError {
    fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<EngineError> for RpcError {
    fn from(e: EngineError) -> Self {
        RpcError::new(i64::from(e.code()), e.to_string())
    }
}

/// Where the running and persistent symlinks point: every save makes a
/// new generation directory with a unique name, so an equal key means
/// unchanged configs.
type ConfigKey = (Option<PathBuf>, Option<PathBuf>);

/// Running and persistent configs, kept until either symlink moves.
type ConfigCache = Option<(ConfigKey, Arc<(Config, Config)>)>;

/// Everything a caps answer is made of: live netinfo's generation, the
/// configs, the resolver's name servers and whether the kernel has IPv6.
#[derive(Debug, PartialEq, Eq)]
struct CapsKey {
    generation: u64,
    configs: ConfigKey,
    nameservers: Vec<String>,
    ipv6: bool,
}

/// The last caps answer, serialized, with what it was made of. A call
/// whose inputs match it is answered with these bytes: no rebuild.
struct CapsCache {
    key: CapsKey,
    answer: Arc<Vec<u8>>,
}

struct Daemon {
    engine: Engine,
    live: Arc<Live>,
    /// The mutating verb running now, if any.
    busy: Mutex<Option<&'static str>>,
    /// Notifications for subscribers, as JSON `params`.
    events: broadcast::Sender<Value>,
    configs: Mutex<ConfigCache>,
    /// Held while an answer is checked or built, so concurrent callers
    /// after a change build it once.
    caps: Mutex<Option<CapsCache>>,
}

/// Holds the one-verb-at-a-time slot; frees it on drop.
struct Slot(Arc<Daemon>);

impl Drop for Slot {
    fn drop(&mut self) {
        *self.0.busy.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Daemon {
    fn take_slot(self: &Arc<Self>, method: &'static str) -> Result<Slot, RpcError> {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(running) = *busy {
            return Err(RpcError::new(
                codes::BUSY,
                format!("{method}: another network verb is running ({running}); try again when it is done"),
            ));
        }
        *busy = Some(method);
        Ok(Slot(self.clone()))
    }

    /// Where the config symlinks point now.
    fn config_key(&self) -> ConfigKey {
        let root = self.engine.store.root();
        (
            fs::read_link(root.join("running")).ok(),
            fs::read_link(root.join("persistent")).ok(),
        )
    }

    /// Running and persistent config, read again only when a save moved
    /// one of the symlinks; with the key they were read under.
    fn configs(&self) -> Result<(ConfigKey, Arc<(Config, Config)>), EngineError> {
        let key = self.config_key();
        let mut cache = self.configs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((k, c)) = cache.as_ref() {
            if *k == key {
                return Ok((key, c.clone()));
            }
        }
        let c = Arc::new((
            self.engine.running()?,
            self.engine.store.load(Which::Persistent)?,
        ));
        *cache = Some((key.clone(), c.clone()));
        Ok((key, c))
    }

    /// getNetworkCapabilities from live netinfo: no dump. The answer is
    /// kept serialized and served again while its inputs (live netinfo's
    /// generation, the config symlinks, the name servers, IPv6) stay the
    /// same; otherwise it is built again, straight to bytes (a JSON value
    /// tree of 1000 networks would cost more time and memory than the
    /// report itself).
    fn caps(&self) -> Result<Arc<Vec<u8>>, RpcError> {
        let started = Instant::now();
        let nameservers = netswitch_engine::resolv::read_nameservers(&self.engine.resolv_conf);
        let ipv6 = Path::new("/proc/net/if_inet6").exists();
        let mut cache = self.caps.lock().unwrap_or_else(|e| e.into_inner());
        let key = CapsKey {
            generation: self.live.generation(),
            configs: self.config_key(),
            nameservers,
            ipv6,
        };
        if let Some(hit) = cache.as_ref().filter(|c| c.key == key) {
            return Ok(hit.answer.clone());
        }
        // Drop the old answer before building the new one: one at a time
        // in memory.
        let last_len = cache.take().map_or(0, |c| c.answer.len());
        let (generation, host) = self.live.state_with_generation();
        let (configs_key, configs) = self.configs()?;
        let (running, persistent) = &*configs;
        let ctx = ReportContext {
            nameservers: key.nameservers,
            supports_ipv6: ipv6,
            net_config_dirty: running != persistent,
        };
        let caps = report::caps(&host, running, &self.engine.nics, &ctx);
        // Sized as the last answer, so the buffer is not grown (and
        // copied) by doubling to twice what it needs.
        let mut answer = Vec::with_capacity(last_len + last_len / 16 + 4096);
        serde_json::to_writer(&mut answer, &caps)
            .map_err(|e| RpcError::new(codes::INTERNAL, format!("caps: {e}")))?;
        answer.shrink_to_fit();
        drop(caps);
        let answer = Arc::new(answer);
        *cache = Some(CapsCache {
            key: CapsKey {
                generation,
                configs: configs_key,
                nameservers: ctx.nameservers,
                ipv6,
            },
            answer: answer.clone(),
        });
        drop(cache);
        let links = host.links.len();
        // The state is freed (live netinfo keeps none of it) and the heap
        // trimmed after it, off the answer's path: both take longer than
        // sending 2 MB.
        let freed = std::thread::Builder::new()
            .name("netswitch-trim".into())
            .spawn(move || {
                drop(host);
                trim();
            });
        if freed.is_err() {
            trim();
        }
        debug!(
            links,
            elapsed_us = started.elapsed().as_micros() as u64,
            "caps built from live netinfo"
        );
        Ok(answer)
    }

    fn stats(&self) -> Result<Value, RpcError> {
        let stats = netswitch_netinfo::statistics()
            .map_err(|e| RpcError::new(29, format!("reading link statistics: {e}")))?;
        let mut ifaces = Map::new();
        for s in stats {
            let name = s.name.clone();
            let mut v = serde_json::to_value(&s).unwrap_or(Value::Null);
            if let Some(o) = v.as_object_mut() {
                o.remove("name");
            }
            ifaces.insert(name, v);
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        Ok(json!({"interfaces": ifaces, "sampleTime": now}))
    }

    fn setup(&self, params: Option<Value>) -> Result<Value, RpcError> {
        let mut doc = match params {
            None => Map::new(),
            Some(Value::Object(o)) => o,
            Some(Value::Array(a)) => {
                let mut o = Map::new();
                for (key, v) in ["networks", "bondings", "options"].into_iter().zip(a) {
                    o.insert(key.to_string(), v);
                }
                o
            }
            Some(_) => unreachable!("params checked by dispatch"),
        };
        // The CLI asks for the desired config back (it prints it with
        // --json); an engine gets VDSM's answer, without the cost of
        // serializing every network of the host.
        let with_desired = doc.remove("_withDesired").and_then(|v| v.as_bool()) == Some(true);
        // Testing aid, as the CLI's --inject-failure-at; without the
        // feature the parameter stays and the request is refused (21).
        #[allow(unused_mut)]
        let mut faults = netswitch_engine::Faults::default();
        #[cfg(feature = "fault-injection")]
        {
            faults.fail_at = doc
                .remove("_injectFailureAt")
                .and_then(|v| v.as_u64())
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX).saturating_sub(1));
            faults.drift = doc.remove("_injectDrift").and_then(|v| v.as_bool()) == Some(true);
        }
        // The CLI's --dhcp-timeout; the engine refuses (21) what is not a
        // number of seconds in 0..3600 (a non-number as NaN).
        let dhcp_timeout = doc
            .remove("_dhcpTimeout")
            .map(|v| v.as_f64().unwrap_or(f64::NAN));
        let text = serde_json::to_vec(&Value::Object(doc))
            .map_err(|e| RpcError::new(codes::INTERNAL, e.to_string()))?;
        // Over JSON-RPC the VDSM defaults hold: check connectivity, 4 s.
        let request = netswitch_model::parse::parse_request(&text).map_err(EngineError::from)?;
        let opts = SetupOptions {
            dry_run: false,
            faults,
            dhcp_timeout,
            confirm_within: (request.options.connectivity_check && !request.options.dry_run)
                .then_some(request.options.connectivity_timeout),
            ..SetupOptions::default()
        };
        match self.engine.setup(&text, &opts) {
            Ok(outcome) => {
                self.notify(json!({"event": "setup.done", "applied": outcome.applied}));
                let mut answer = json!({
                    "status": {"code": 0, "message": "Done"},
                    "applied": outcome.applied,
                    "commitOnSuccess": outcome.request.options.commit_on_success,
                    "plan": outcome.plan,
                });
                if with_desired {
                    answer["desired"] = json!(outcome.desired);
                }
                Ok(answer)
            }
            Err(e) => {
                let message = e.to_string();
                if message.contains("rolled back") {
                    self.notify(
                        json!({"event": "setup.rolledBack", "code": e.code(), "message": message}),
                    );
                } else {
                    self.notify(
                        json!({"event": "setup.refused", "code": e.code(), "message": message}),
                    );
                }
                Err(e.into())
            }
        }
    }

    fn notify(&self, params: Value) {
        let _ = self.events.send(params);
    }
}

/// Gives freed heap back to the kernel: a caps report of a big host is
/// megabytes that glibc would otherwise keep resident.
fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// How much of an answer the kernel may hold for a client before the
/// writer waits: a 4000-device caps answer is about 4 MB, which the default
/// (about 200 KiB) sends in twenty rounds of wake-ups on both sides.
const SEND_BUFFER: libc::c_int = 4 << 20;

/// Lets one write of a big answer go out at once. Root may exceed the
/// system's `wmem_max` (`SO_SNDBUFFORCE`); otherwise the kernel caps the
/// plain request. Best effort: a failure leaves the default.
fn widen_send_buffer(stream: &UnixStream) {
    use std::os::fd::AsRawFd;
    let fd = stream.as_raw_fd();
    for opt in [libc::SO_SNDBUFFORCE, libc::SO_SNDBUF] {
        // SAFETY: setsockopt on a socket we own, with a pointer to an int
        // and its size.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&SEND_BUFFER as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            return;
        }
    }
}

/// Runs the daemon until SIGTERM or SIGINT; blocking. Call it from the
/// thread that is in the network namespace to serve: live netinfo and
/// every runtime thread start from it.
pub fn serve(config: DaemonConfig) -> Result<(), DaemonError> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: set before any other thread allocates; two arenas are plenty
    // for a handful of threads and keep the resident size down. A fixed
    // mmap threshold: glibc otherwise raises it to the largest block freed
    // so far (the caps answer, a few MB), after which every big transient
    // buffer of a rebuild lands in the heap and stays resident.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 << 10);
    }
    // A transaction a crash left half done is rolled back (or finished)
    // before anything is served.
    match config.engine.recover() {
        Ok(Some(r)) => tracing::warn!(?r, "recovered a transaction a crash interrupted"),
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "recovering an interrupted transaction failed"),
    }
    let live = Arc::new(Live::start()?);
    trim();
    let mut engine = config.engine;
    // Setups read the host from the live state too: no dump per request.
    engine.host = Arc::new(LiveHost(live.clone()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(8)
        .enable_all()
        .thread_name("netswitch-rpc")
        .build()
        .map_err(DaemonError::Runtime)?;
    let (events, _) = broadcast::channel(4096);
    let daemon = Arc::new(Daemon {
        engine,
        live,
        busy: Mutex::new(None),
        events,
        configs: Mutex::new(None),
        caps: Mutex::new(None),
    });
    let socket = config.socket;
    let result = runtime.block_on(async {
        let listener = bind(&socket)?;
        info!(socket = %socket.display(), "serving");
        forward_live_events(&daemon);
        crate::leases::forward(daemon.engine.dhcp().dir, daemon.events.clone());
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(DaemonError::Runtime)?;
        let mut next = 0u64;
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        next += 1;
                        widen_send_buffer(&stream);
                        let d = daemon.clone();
                        tokio::spawn(connection(d, stream).instrument(info_span!("conn", n = next)));
                    }
                    Err(e) => warn!(error = %e, "accept failed"),
                },
                _ = term.recv() => break,
                _ = tokio::signal::ctrl_c() => break,
            }
        }
        info!("stopping");
        Ok(())
    });
    let _ = fs::remove_file(&socket);
    runtime.shutdown_background();
    result
}

/// Creates the socket mode 0600 (the umask is tightened around `bind`, so
/// it never exists with looser permissions), replacing a stale one.
fn bind(path: &Path) -> Result<UnixListener, DaemonError> {
    let err = |source| DaemonError::Socket {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(err)?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(DaemonError::InUse(path.to_path_buf()));
        }
        fs::remove_file(path).map_err(err)?;
    }
    // SAFETY: umask(2) cannot fail; the old mask is put back right after.
    let old = unsafe { libc::umask(0o177) };
    let bound = UnixListener::bind(path);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let listener = bound.map_err(err)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(err)?;
    Ok(listener)
}

/// The engine's view of the host, from live netinfo.
///
/// The kernel queues a change's notifications before it acknowledges the
/// change, and [`Live::state`] applies everything queued, so a read after
/// an apply sees the apply, as a dump would. A lost notification (ENOBUFS)
/// makes live netinfo dump again.
struct LiveHost(Arc<Live>);

impl std::fmt::Debug for LiveHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiveHost")
    }
}

impl netswitch_engine::HostSource for LiveHost {
    fn read(&self) -> Result<Arc<HostState>, netswitch_netinfo::NetinfoError> {
        Ok(self.0.state())
    }

    fn generation(&self) -> Option<u64> {
        Some(self.0.generation())
    }

    fn changed_since(&self, generation: u64) -> Option<std::collections::BTreeSet<String>> {
        self.0.changed_since(generation)
    }
}

/// Turns live netinfo's events into subscriber notifications.
fn forward_live_events(daemon: &Arc<Daemon>) {
    let mut rx = daemon.live.subscribe();
    let tx = daemon.events.clone();
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(e) => {
                    let _ = tx.send(serde_json::to_value(&e).unwrap_or(Value::Null));
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    let _ = tx.send(json!({"event": "lagged", "missed": n}));
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
}

/// One client: read messages, answer each on its own task (so a
/// `confirmConnectivity` gets through while a setup of the same connection
/// waits for it), write answers and notifications in one writer task.
async fn connection(daemon: Arc<Daemon>, stream: UnixStream) {
    let uid = stream.peer_cred().ok().map(|c| c.uid());
    debug!(?uid, "connected");
    let (rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Out>(64);
    let writer = tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            let written = match out {
                Out::Line(mut line) => {
                    line.push(b'\n');
                    wr.write_all(&line).await
                }
                Out::Framed { head, body } => {
                    let mut r = wr.write_all(&head).await;
                    if r.is_ok() {
                        r = wr.write_all(&body).await;
                    }
                    if r.is_ok() {
                        r = wr.write_all(b"}\n").await;
                    }
                    r
                }
            };
            if written.is_err() {
                break;
            }
        }
    });
    let limit = Arc::new(Semaphore::new(PER_CONNECTION));
    let mut reader = BufReader::new(rd);
    loop {
        let line = match read_line(&mut reader).await {
            Ok(Some(Line::Message(l))) => l,
            Ok(Some(Line::TooLong)) => {
                let e = RpcError::new(
                    codes::INVALID_REQUEST,
                    format!("message longer than {MAX_MESSAGE_BYTES} bytes; discarded"),
                );
                let _ = tx.send(Out::Line(error_response(Value::Null, e))).await;
                continue;
            }
            Ok(None) | Err(_) => break,
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let Ok(permit) = limit.clone().acquire_owned().await else {
            break;
        };
        let d = daemon.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Some(reply) = handle(d, uid, &line, &tx).await {
                let _ = tx.send(reply).await;
            }
        });
    }
    drop(tx);
    let _ = writer.await;
    debug!("disconnected");
}

enum Line {
    Message(Vec<u8>),
    TooLong,
}

/// Reads up to the next newline, never holding more than the message
/// bound: a longer line is skipped to its end and reported.
async fn read_line(reader: &mut BufReader<OwnedReadHalf>) -> io::Result<Option<Line>> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            // EOF: a last line without newline still counts.
            return Ok(match (too_long, line.is_empty()) {
                (true, _) => Some(Line::TooLong),
                (false, true) => None,
                (false, false) => Some(Line::Message(line)),
            });
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if !too_long {
            if line.len() + chunk.len() > MAX_MESSAGE_BYTES {
                too_long = true;
                line = Vec::new();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        let used = done.unwrap_or(buf.len());
        reader.consume(used);
        if done.is_some() {
            return Ok(Some(if too_long {
                Line::TooLong
            } else {
                Line::Message(line)
            }));
        }
    }
}

fn error_response(id: Value, e: RpcError) -> Vec<u8> {
    let v = json!({"jsonrpc": "2.0", "id": id, "error": {"code": e.code, "message": e.message}});
    serde_json::to_vec(&v).unwrap_or_default()
}

/// One message for the client, written as one line.
enum Out {
    Line(Vec<u8>),
    /// An answer around a result the daemon keeps (the caps): the envelope
    /// up to `"result":`, then the kept bytes, then `}`. Written in three
    /// parts so a 4 MB answer is not copied (nor a fresh 4 MB buffer
    /// faulted in) for every call.
    Framed {
        head: Vec<u8>,
        body: Arc<Vec<u8>>,
    },
}

/// Validates the envelope, runs the method; `None` for a notification
/// (a request without id), which gets no answer.
async fn handle(
    daemon: Arc<Daemon>,
    uid: Option<u32>,
    line: &[u8],
    tx: &mpsc::Sender<Out>,
) -> Option<Out> {
    let msg: Value = match serde_json::from_slice(line) {
        Ok(v) => v,
        Err(e) => {
            return Some(Out::Line(error_response(
                Value::Null,
                RpcError::new(codes::PARSE_ERROR, format!("not JSON: {e}")),
            )))
        }
    };
    let Value::Object(mut msg) = msg else {
        return Some(Out::Line(error_response(
            Value::Null,
            RpcError::new(
                codes::INVALID_REQUEST,
                "a request must be a JSON object (batches are not supported)",
            ),
        )));
    };
    let id = msg.remove("id");
    let id_ok = matches!(
        id,
        None | Some(Value::Null | Value::String(_) | Value::Number(_))
    );
    let reply_id = if id_ok {
        id.clone().unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let invalid = |why: &str| {
        Some(Out::Line(error_response(
            reply_id.clone(),
            RpcError::new(codes::INVALID_REQUEST, why),
        )))
    };
    if !id_ok {
        return invalid("id must be a string, a number or null");
    }
    if msg.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return invalid("jsonrpc must be \"2.0\"");
    }
    let Some(method) = msg
        .get("method")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return invalid("method must be a string");
    };
    let params = msg.remove("params");
    if !matches!(params, None | Some(Value::Object(_) | Value::Array(_))) {
        return Some(Out::Line(error_response(
            reply_id,
            RpcError::new(
                codes::INVALID_PARAMS,
                format!("{method}: params must be an object or an array"),
            ),
        )));
    }
    let span = info_span!("rpc", method = %method);
    let result = call(daemon, uid, &method, params, tx)
        .instrument(span)
        .await;
    id.as_ref()?;
    match result {
        Ok(result) => {
            let mut head = Vec::with_capacity(64);
            head.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
            head.extend(serde_json::to_vec(&reply_id).unwrap_or_else(|_| b"null".to_vec()));
            head.extend_from_slice(b",\"result\":");
            match result {
                Body::Shared(body) => Some(Out::Framed { head, body }),
                Body::Owned(body) => {
                    let mut out = head;
                    out.reserve(body.len() + 2);
                    out.extend_from_slice(&body);
                    out.push(b'}');
                    Some(Out::Line(out))
                }
            }
        }
        Err(e) => {
            debug!(code = e.code, message = %e.message, "error");
            Some(Out::Line(error_response(reply_id, e)))
        }
    }
}

/// Runs blocking engine work on a plain thread (the engine builds its own
/// runtime for netlink dumps, which a runtime thread may not do).
async fn on_thread<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RpcError> + Send + 'static,
) -> Result<T, RpcError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("netswitch-verb".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| RpcError::new(codes::INTERNAL, format!("cannot start a worker: {e}")))?;
    rx.await
        .unwrap_or_else(|_| Err(RpcError::new(codes::INTERNAL, "the worker died")))
}

fn param<'a>(params: &'a Option<Value>, name: &str, pos: usize) -> Option<&'a Value> {
    match params {
        Some(Value::Object(o)) => o.get(name),
        Some(Value::Array(a)) => a.get(pos),
        _ => None,
    }
}

/// A method's serialized result: its own bytes, or an answer the daemon
/// keeps (the caps), shared rather than copied.
enum Body {
    Owned(Vec<u8>),
    Shared(Arc<Vec<u8>>),
}

impl AsRef<[u8]> for Body {
    fn as_ref(&self) -> &[u8] {
        match self {
            Body::Owned(v) => v,
            Body::Shared(v) => v,
        }
    }
}

async fn call(
    daemon: Arc<Daemon>,
    uid: Option<u32>,
    method: &str,
    params: Option<Value>,
    tx: &mpsc::Sender<Out>,
) -> Result<Body, RpcError> {
    if method == "Host.getNetworkCapabilities" {
        let d = daemon.clone();
        return tokio::task::spawn_blocking(move || d.caps())
            .await
            .unwrap_or_else(|_| Err(RpcError::new(codes::INTERNAL, "caps worker died")))
            .map(Body::Shared);
    }
    call_value(daemon, uid, method, params, tx)
        .await
        .map(|v| Body::Owned(serde_json::to_vec(&v).unwrap_or_default()))
}

async fn call_value(
    daemon: Arc<Daemon>,
    uid: Option<u32>,
    method: &str,
    params: Option<Value>,
    tx: &mpsc::Sender<Out>,
) -> Result<Value, RpcError> {
    let method: &'static str = match method {
        "Host.setupNetworks" => "Host.setupNetworks",
        "Host.setSafeNetworkConfig" => "Host.setSafeNetworkConfig",
        "Host.restoreNetworks" => "Host.restoreNetworks",
        "Host.confirmConnectivity" => "Host.confirmConnectivity",
        "Host.getNetworkStatistics" => "Host.getNetworkStatistics",
        "Host.subscribe" => "Host.subscribe",
        other => {
            return Err(RpcError::new(
                codes::METHOD_NOT_FOUND,
                format!("no method {}", netswitch_model::error::clip(other, 80)),
            ))
        }
    };
    if MUTATING.contains(&method) && uid != Some(0) {
        let who = uid.map_or("an unknown uid".to_string(), |u| format!("uid {u}"));
        return Err(RpcError::new(
            codes::PERMISSION_DENIED,
            format!(
                "{method}: permission denied: only root (uid 0) may call it; the caller is {who}"
            ),
        ));
    }
    match method {
        "Host.getNetworkStatistics" => on_thread(move || daemon.stats()).await,
        "Host.confirmConnectivity" => {
            on_thread(move || {
                let confirmed = daemon.engine.confirm()?;
                Ok(json!({"confirmed": confirmed}))
            })
            .await
        }
        "Host.subscribe" => {
            let mut rx = daemon.events.subscribe();
            // Weak: the subscription must not keep the connection open
            // after the client closed its side and its requests are done.
            let tx = tx.downgrade();
            tokio::spawn(async move {
                loop {
                    let params = match rx.recv().await {
                        Ok(p) => p,
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            json!({"event": "lagged", "missed": n})
                        }
                        Err(broadcast::error::RecvError::Closed) => break,
                    };
                    let n = json!({"jsonrpc": "2.0", "method": "Host.event", "params": params});
                    let Some(tx) = tx.upgrade() else { break };
                    if tx
                        .send(Out::Line(serde_json::to_vec(&n).unwrap_or_default()))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            });
            Ok(json!({"subscribed": true}))
        }
        _ => {
            // Mutating: one at a time. The slot is taken here, at once, so
            // a concurrent caller gets 40 without waiting.
            let force = param(&params, "force", 0)
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let slot = daemon.take_slot(method)?;
            on_thread(move || {
                let _slot = slot;
                match method {
                    "Host.setupNetworks" => daemon.setup(params),
                    "Host.setSafeNetworkConfig" => {
                        let c = daemon.engine.commit()?;
                        Ok(json!({"networks": c.networks.len(), "bonds": c.bonds.len()}))
                    }
                    _ => {
                        let r = daemon.engine.restore(force)?;
                        Ok(json!({"ran": r.ran, "applied": r.applied, "skipped": r.skipped}))
                    }
                }
            })
            .await
        }
    }
}
