//! The server: bind the socket, start live netinfo, accept connections
//! from a [`Transport`] and serve each until the daemon is told to stop.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use netswitch_engine::Engine;
use netswitch_model::host::HostState;
use netswitch_netinfo::Live;
use serde_json::{json, Value};
use tokio::net::UnixListener;
use tokio::sync::broadcast;
use tracing::{info, info_span, warn, Instrument};

use crate::limits::{Conns, Limits};
use crate::registry::Registry;
use crate::rpc::{self, RpcError};
use crate::state::{trim, Daemon};
use crate::transport::{Policy, RootOnly, Transport, UnixTransport};
use crate::{codes, socket};

/// What a daemon serves and where.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// The Unix socket to listen on (created mode 0600; a stale one is
    /// replaced; a live one, a symlink or any other file is an error).
    pub socket: PathBuf,
    /// The engine the verbs run (state dir, resolver file, nic policy).
    pub engine: Engine,
}

/// Why the daemon could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The socket path is served by a running daemon already.
    #[error("{}: another daemon is serving this socket; not started", .0.display())]
    InUse(PathBuf),
    /// Something other than a socket is at the socket path; it is left
    /// alone.
    #[error("{}: is {what}, not a socket; refusing to replace it", path.display())]
    NotASocket {
        /// The socket path.
        path: PathBuf,
        /// What is there instead.
        what: &'static str,
    },
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
    /// A remote listener could not start (certificates, address).
    #[error(transparent)]
    Remote(#[from] crate::stomp::RemoteError),
    /// The status page could not start (address).
    #[error(transparent)]
    Status(#[from] crate::status::StatusError),
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

/// What every connection shares: the state, the methods, who may change
/// the host, and the bounds.
pub(crate) struct Server {
    pub daemon: Arc<Daemon>,
    pub registry: Registry,
    pub policy: Box<dyn Policy>,
    pub conns: Arc<Conns>,
}

/// Runs the daemon with the default [`Limits`] until SIGTERM or SIGINT;
/// blocking. Call it from the thread that is in the network namespace to
/// serve: live netinfo and every runtime thread start from it.
pub fn serve(config: DaemonConfig) -> Result<(), DaemonError> {
    serve_with(config, Limits::default())
}

/// [`serve`] with chosen bounds on connections and buffered bytes.
pub fn serve_with(config: DaemonConfig, limits: Limits) -> Result<(), DaemonError> {
    serve_listeners(config, limits, Listeners::default())
}

/// Listeners the daemon serves beside its Unix socket.
#[derive(Debug, Clone, Default)]
pub struct Listeners {
    /// JSON-RPC over STOMP on mutual TLS, for an engine.
    pub stomp: Option<crate::stomp::StompConfig>,
    /// The read-only status page.
    pub http: Option<crate::status::HttpConfig>,
}

/// [`serve_with`], with more listeners beside the Unix socket.
pub fn serve_listeners(
    config: DaemonConfig,
    limits: Limits,
    listeners: Listeners,
) -> Result<(), DaemonError> {
    tune_malloc();
    // The socket first: a daemon that would be a second one stops here,
    // before it recovers a transaction or touches anything of the first.
    let (listener, bound) = socket::bind(&config.socket)?;
    listener
        .set_nonblocking(true)
        .map_err(|e| DaemonError::Socket {
            path: config.socket.clone(),
            source: e,
        })?;
    let stomp = listeners
        .stomp
        .as_ref()
        .map(crate::stomp::Listener::bind)
        .transpose()?;
    let http = listeners
        .http
        .as_ref()
        .map(crate::status::Listener::bind)
        .transpose()?;
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
    let mut daemon = Daemon::new(engine, live, events.clone());
    // Here, on the thread inside the daemon's namespace (as live netinfo).
    daemon.lldp = crate::lldp::Lldp::start(events);
    daemon.lldp_tx.refresh(&daemon.engine);
    let server = Arc::new(Server {
        daemon: Arc::new(daemon),
        registry: crate::methods::registry(),
        policy: Box::new(RootOnly),
        conns: Conns::new(limits),
    });
    let socket = config.socket;
    let result = runtime.block_on(async {
        let listener = UnixListener::from_std(listener).map_err(DaemonError::Runtime)?;
        info!(socket = %socket.display(), "serving");
        forward_live_events(&server.daemon);
        crate::mirror::follow_removals(&server.daemon);
        if let Some(stomp) = stomp {
            tokio::spawn(stomp.run(server.clone()));
        }
        if let Some(http) = http {
            tokio::spawn(http.run(server.clone()));
        }
        crate::leases::forward(
            server.daemon.engine.dhcp().dir,
            server.daemon.events.clone(),
        );
        run(server, UnixTransport::new(listener)).await
    });
    drop(bound);
    runtime.shutdown_background();
    result
}

/// Fixes glibc's allocator before any other thread allocates: two arenas
/// are plenty for a handful of threads and keep the resident size down. A
/// fixed mmap threshold: glibc otherwise raises it to the largest block
/// freed so far (the caps answer, a few MB), after which every big
/// transient buffer of a rebuild lands in the heap and stays resident.
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets the allocator's tunables.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 << 10);
    }
}

/// Accepts connections until SIGTERM or SIGINT.
async fn run<T: Transport>(server: Arc<Server>, transport: T) -> Result<(), DaemonError> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(DaemonError::Runtime)?;
    let mut next = 0u64;
    loop {
        tokio::select! {
            accepted = transport.accept() => match accepted {
                Ok((stream, who)) => {
                    next += 1;
                    admit(&server, stream, who).instrument(info_span!("conn", n = next)).await;
                }
                Err(e) => warn!(error = %e, "accept failed"),
            },
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    info!("stopping");
    Ok(())
}

/// Serves a new connection if the bounds let it in (dropping a stalled
/// one to make room); otherwise tells it so and closes it at once.
async fn admit<S>(server: &Arc<Server>, mut stream: S, who: crate::transport::Identity)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let Some(ticket) = server.conns.admit() else {
        warn!(%who, "refused a connection: at the bound of connections");
        let e = RpcError::new(
            codes::OVERLOADED,
            "the daemon is at its bound of connections; try again later",
        );
        let mut line = rpc::error_line(&None, &e);
        line.push(b'\n');
        // Best effort and never waiting on the client: the accept loop
        // must not stall behind a peer that does not read.
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let write = stream.write_all(&line);
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), write).await;
        });
        return;
    };
    let span = tracing::Span::current();
    tokio::spawn(crate::conn::serve(server.clone(), stream, who, ticket).instrument(span));
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
