//! TLS on the provider's listeners: the server's certificate and key from
//! PEM files, client certificates required when a CA is configured, TLS
//! 1.2 and 1.3 through rustls with the ring provider (as the daemon's
//! STOMP listener). The handshake runs on the connection's own thread and
//! is bounded in time, so a peer that never finishes it holds nothing for
//! long; a peer speaking plain HTTP to a TLS port gets a plain 400 that
//! says so, not a silent reset.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};

use crate::config::TlsFiles;
use crate::error::Error;

/// A TLS stream over the accepted socket.
pub type TlsStream = StreamOwned<ServerConnection, TcpStream>;

/// The first byte of a TLS record carrying a handshake (RFC 8446 §5.1);
/// anything else opening a connection is not a ClientHello.
const HANDSHAKE_RECORD: u8 = 0x16;

/// Builds the rustls config of one listener from its files; an unreadable
/// or empty file is a config error naming the file.
pub fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, Error> {
    let bad = |path: &Path, why: String| Error::Config(format!("{}: {why}", path.display()));
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|it| it.collect())
        .map_err(|e| bad(&files.cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(bad(&files.cert, "no certificate in the file".into()));
    }
    let key =
        PrivateKeyDer::from_pem_file(&files.key).map_err(|e| bad(&files.key, e.to_string()))?;
    // ring, not aws-lc-rs: the workspace builds without cmake and a C
    // toolchain of its own (see the daemon's STOMP listener).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| bad(&files.cert, e.to_string()))?;
    let builder = match &files.ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let roots = roots(ca)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| bad(ca, e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| bad(&files.key, e.to_string()))?;
    Ok(Arc::new(config))
}

/// The CA certificates client certificates must chain to.
fn roots(ca: &Path) -> Result<RootCertStore, Error> {
    let bad = |why: String| Error::Config(format!("{}: {why}", ca.display()));
    let cas: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
        .and_then(|it| it.collect())
        .map_err(|e| bad(e.to_string()))?;
    let mut roots = RootCertStore::empty();
    for c in cas {
        roots.add(c).map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("no CA certificate in the file".into()));
    }
    Ok(roots)
}

/// Why a connection never became a TLS stream.
#[derive(Debug)]
pub enum Refused {
    /// The peer spoke something else first (plain HTTP): answer it in
    /// plain text, then close.
    NotTls,
    /// The handshake failed or took longer than allowed.
    Handshake(io::Error),
}

/// Runs the server side of the handshake on `tcp` within `limit`, reading
/// and writing with timeouts shrunk to what is left of it.
pub fn accept(
    config: &Arc<ServerConfig>,
    mut tcp: TcpStream,
    limit: Duration,
) -> Result<TlsStream, (TcpStream, Refused)> {
    let deadline = Instant::now() + limit;
    if let Err(e) = set_timeouts(&tcp, deadline) {
        return Err((tcp, Refused::Handshake(e)));
    }
    let mut first = [0u8; 1];
    match tcp.peek(&mut first) {
        Ok(1) if first[0] == HANDSHAKE_RECORD => {}
        Ok(1) => return Err((tcp, Refused::NotTls)),
        Ok(_) => return Err((tcp, Refused::Handshake(io::ErrorKind::UnexpectedEof.into()))),
        Err(e) => return Err((tcp, Refused::Handshake(e))),
    }
    let mut conn = match ServerConnection::new(Arc::clone(config)) {
        Ok(c) => c,
        Err(e) => return Err((tcp, Refused::Handshake(io::Error::other(e)))),
    };
    while conn.is_handshaking() {
        let step = set_timeouts(&tcp, deadline).and_then(|()| conn.complete_io(&mut tcp));
        if let Err(e) = step {
            return Err((tcp, Refused::Handshake(e)));
        }
    }
    Ok(StreamOwned::new(conn, tcp))
}

/// Sets both socket timeouts to the time left before `deadline` (an
/// error once it has passed).
fn set_timeouts(tcp: &TcpStream, deadline: Instant) -> io::Result<()> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "TLS handshake took too long",
        ));
    }
    tcp.set_read_timeout(Some(left))?;
    tcp.set_write_timeout(Some(left))
}

/// Tells a plain-HTTP peer that this port wants TLS, reading what it sent
/// first so the close does not turn into a reset before it reads this.
pub fn refuse_plain(mut tcp: TcpStream) {
    let mut junk = [0u8; 4096];
    let _ = tcp.set_read_timeout(Some(Duration::from_millis(200)));
    let _ = tcp.read(&mut junk);
    let body = r#"{"NeutronError": {"type": "HTTPBadRequest", "message": "this port speaks TLS: use https://", "detail": ""}}"#;
    let head = format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = tcp.write_all(head.as_bytes());
    let _ = tcp.write_all(body.as_bytes());
    let _ = tcp.flush();
    let _ = tcp.shutdown(std::net::Shutdown::Write);
}
