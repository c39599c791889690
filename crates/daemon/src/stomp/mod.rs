//! The engine's wire: JSON-RPC 2.0 carried by STOMP 1.2 on mutual TLS, as
//! VDSM serves it on port 54321 (`docs/api.md`, "STOMP").
//!
//! The same method registry as the Unix socket; what differs is who the
//! caller is (the subject of its certificate, which rustls has verified
//! against the configured CA) and who may change the host (the subjects
//! the config lists; none by default). Connections are bounded; one still
//! in its handshake or before `CONNECT`, or stalled in a partial frame, is
//! the first dropped to make room, so idle sockets cannot lock the engine
//! out.

mod reply;
mod session;
mod subject;
mod tls;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::limits::{Conns, Limits, Ticket};
use crate::server::Server;
use crate::transport::{Identity, Policy};

/// Where and how the STOMP listener serves.
#[derive(Debug, Clone)]
pub struct StompConfig {
    /// The TCP address (VDSM's port is 54321).
    pub listen: SocketAddr,
    /// The server's certificate chain (PEM).
    pub cert: PathBuf,
    /// The server's private key (PEM).
    pub key: PathBuf,
    /// The CA(s) client certificates must chain to (PEM).
    pub ca: PathBuf,
    /// Certificate subjects (RFC 4514) that may call mutating verbs.
    pub mutating: Vec<String>,
    /// STOMP connections open at once.
    pub max_connections: usize,
}

/// Why the listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// A certificate, key or CA file is unusable.
    #[error("{path}: {why}")]
    Tls {
        /// The file.
        path: String,
        /// What is wrong with it.
        why: String,
    },
    /// The address could not be bound.
    #[error("--listen {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The subjects file could not be read.
    #[error("{path}: {source}")]
    Subjects {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Reads a subjects file: one RFC 4514 subject a line; blank lines and
/// lines starting with `#` are skipped.
pub fn read_subjects(path: &Path) -> Result<Vec<String>, RemoteError> {
    let text = std::fs::read_to_string(path).map_err(|source| RemoteError::Subjects {
        path: path.display().to_string(),
        source,
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect())
}

/// Who may change the host over STOMP: the listed certificate subjects.
struct Subjects(BTreeSet<String>);

impl Policy for Subjects {
    fn may_change_host(&self, who: &Identity) -> Result<(), String> {
        match who {
            Identity::Certificate { subject } if self.0.contains(subject) => Ok(()),
            _ => Err("only the certificate subjects the daemon authorizes \
                 (--allow-mutating, --authorized-subjects) may call it"
                .into()),
        }
    }
}

/// A bound, configured listener, ready to serve once the runtime runs.
pub(crate) struct Listener {
    tcp: std::net::TcpListener,
    acceptor: TlsAcceptor,
    policy: Arc<Subjects>,
    conns: Arc<Conns>,
}

/// How long a TLS handshake may take.
const HANDSHAKE: Duration = Duration::from_secs(10);

impl Listener {
    /// Loads the certificates and binds, on the caller's thread (in the
    /// daemon's namespace): a bad file or a taken port stops the daemon at
    /// start.
    pub fn bind(config: &StompConfig) -> Result<Listener, RemoteError> {
        let tls = tls::server_config(&config.cert, &config.key, &config.ca)?;
        let bind_err = |source| RemoteError::Bind {
            addr: config.listen,
            source,
        };
        let tcp = std::net::TcpListener::bind(config.listen).map_err(bind_err)?;
        tcp.set_nonblocking(true).map_err(bind_err)?;
        let limits = Limits {
            max_connections: config.max_connections.max(1),
            ..Limits::default()
        };
        Ok(Listener {
            tcp,
            acceptor: TlsAcceptor::from(Arc::new(tls)),
            policy: Arc::new(Subjects(config.mutating.iter().cloned().collect())),
            conns: Conns::new(limits),
        })
    }

    /// Accepts connections for the daemon's life.
    pub async fn run(self, server: Arc<Server>) {
        let tcp = match tokio::net::TcpListener::from_std(self.tcp) {
            Ok(l) => l,
            Err(e) => return warn!(error = %e, "the STOMP listener could not start"),
        };
        info!(addr = ?tcp.local_addr().ok(), "serving STOMP over TLS");
        let shared = Arc::new((self.acceptor, self.policy));
        loop {
            let (stream, peer) = match tcp.accept().await {
                Ok(a) => a,
                Err(e) => {
                    warn!(error = %e, "STOMP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Some(ticket) = self.conns.admit() else {
                debug!(%peer, "refused a STOMP connection: at the bound of connections");
                continue;
            };
            let (server, shared) = (server.clone(), shared.clone());
            tokio::spawn(async move {
                let (acceptor, policy) = &*shared;
                connection(server, acceptor, policy.clone(), stream, ticket).await;
            });
        }
    }
}

/// One connection: the handshake (droppable to make room until the
/// session is open), then the STOMP session.
async fn connection(
    server: Arc<Server>,
    acceptor: &TlsAcceptor,
    policy: Arc<Subjects>,
    stream: TcpStream,
    ticket: Ticket,
) {
    let _ = stream.set_nodelay(true);
    // Evictable until CONNECT: one byte "held" marks it so.
    ticket.hold(1);
    let tls = tokio::select! {
        r = tokio::time::timeout(HANDSHAKE, acceptor.accept(stream)) => match r {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => return debug!(error = %e, "TLS handshake refused"),
            Err(_) => return debug!("TLS handshake timed out"),
        },
        _ = ticket.evicted.notified() => return,
    };
    let subject = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|c| subject::of_certificate(c));
    let who = match subject {
        Some(subject) => Identity::Certificate { subject },
        None => Identity::Unknown,
    };
    session::run(server, policy, tls, who, ticket).await;
}
