//! The read-only status page (`netswitch daemon --http 127.0.0.1:PORT`):
//! `GET /` is one self-contained page (the host's picture from
//! `netswitch-draw`, the networks table, the last events), `GET /events`
//! the events as they happen (server-sent events), `GET /caps.svg` the
//! picture alone and `GET /networks` the table alone (what the page
//! fetches again to redraw itself after an event). Nothing else: no
//! method but GET, no action that changes the host, no asset from
//! elsewhere (a Content-Security-Policy says so to the browser too).
//!
//! A small HTTP/1.1 server of its own rather than a framework: two fixed
//! routes, one request per connection, bounded in size, time and number.

mod page;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, Semaphore};
use tracing::{debug, info, warn};

use crate::server::Server;

/// Connections served at once (each SSE stream is one).
const MAX_CONNECTIONS: usize = 32;
/// The request head: line and headers.
const MAX_HEAD: usize = 8 << 10;
/// How long a client may take to send its request, or to take a write.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Events the page shows when it loads.
const RECENT: usize = 50;
/// A comment line on the event stream this often, so a dead browser is
/// noticed by a failing write.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// Why the page could not be served.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// A non-loopback address without `allow_remote`.
    #[error("--http {0}: not a loopback address (the page is for this host; --http-allow-remote to serve it elsewhere)")]
    NotLoopback(SocketAddr),
    /// The address could not be bound.
    #[error("--http {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Where the status page listens.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The address (loopback unless `allow_remote`).
    pub listen: SocketAddr,
    /// Serve on a non-loopback address too.
    pub allow_remote: bool,
}

/// A bound status page listener.
pub(crate) struct Listener {
    tcp: std::net::TcpListener,
}

impl Listener {
    /// Binds on the caller's thread (in the daemon's namespace).
    pub fn bind(config: &HttpConfig) -> Result<Listener, StatusError> {
        if !config.listen.ip().is_loopback() && !config.allow_remote {
            return Err(StatusError::NotLoopback(config.listen));
        }
        let err = |source| StatusError::Bind {
            addr: config.listen,
            source,
        };
        let tcp = std::net::TcpListener::bind(config.listen).map_err(err)?;
        tcp.set_nonblocking(true).map_err(err)?;
        Ok(Listener { tcp })
    }

    /// Serves for the daemon's life.
    pub async fn run(self, server: Arc<Server>) {
        let tcp = match tokio::net::TcpListener::from_std(self.tcp) {
            Ok(l) => l,
            Err(e) => return warn!(error = %e, "the status page could not start"),
        };
        info!(addr = ?tcp.local_addr().ok(), "serving the status page");
        let recent = Arc::new(Mutex::new(VecDeque::new()));
        tokio::spawn(keep_recent(
            server.daemon.events.subscribe(),
            recent.clone(),
        ));
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let Ok((stream, _)) = tcp.accept().await else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                debug!("status page: at the bound of connections");
                continue;
            };
            let (server, recent) = (server.clone(), recent.clone());
            tokio::spawn(async move {
                let _permit = permit;
                serve(server, recent, stream).await;
            });
        }
    }
}

type Recent = Arc<Mutex<VecDeque<Value>>>;

/// Keeps the last events for the page's first view.
async fn keep_recent(mut rx: broadcast::Receiver<Value>, recent: Recent) {
    loop {
        match rx.recv().await {
            Ok(e) => {
                let mut r = recent.lock().unwrap_or_else(|e| e.into_inner());
                if r.len() == RECENT {
                    r.pop_front();
                }
                r.push_back(e);
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
}

/// One request: read its head, answer it, close.
async fn serve(server: Arc<Server>, recent: Recent, mut stream: TcpStream) {
    let Some(target) = read_request(&mut stream).await else {
        return;
    };
    let result = match target {
        Ok(path) if path == "/" || path == "/index.html" => {
            let page = render(&server, &recent).await;
            respond(&mut stream, "200 OK", HTML, page.as_bytes()).await
        }
        Ok(path) if path == "/caps.svg" => {
            let svg = from_caps(&server, |_, svg| svg).await;
            respond(&mut stream, "200 OK", SVG, svg.as_bytes()).await
        }
        Ok(path) if path == "/networks" => {
            let table = from_caps(&server, |caps, _| page::table(caps)).await;
            respond(&mut stream, "200 OK", HTML, table.as_bytes()).await
        }
        Ok(path) if path == "/events" => events(&server, &mut stream).await,
        Ok(_) => respond(&mut stream, "404 Not Found", "text/plain", b"not found\n").await,
        Err(status) => respond(&mut stream, status, "text/plain", b"GET only\n").await,
    };
    if let Err(e) = result {
        debug!(error = %e, "status page: client gone");
    }
}

/// The request's path, or the status refusing it; `None` when the client
/// sent no complete head in time or too much.
async fn read_request(stream: &mut TcpStream) -> Option<Result<String, &'static str>> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
            let n = stream.read(&mut buf).await.ok()?;
            if n == 0 || head.len() + n > MAX_HEAD {
                return None;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Some(())
    };
    tokio::time::timeout(IO_TIMEOUT, read).await.ok()??;
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim_end();
    let mut parts = line.split(' ');
    let (method, target) = (parts.next()?, parts.next()?);
    if method != "GET" {
        return Some(Err("405 Method Not Allowed"));
    }
    let path = target.split('?').next().unwrap_or(target);
    Some(Ok(path.to_string()))
}

const HTML: &str = "text/html; charset=utf-8";
const SVG: &str = "image/svg+xml; charset=utf-8";

/// The page, from the caps the daemon keeps.
async fn render(server: &Arc<Server>, recent: &Recent) -> String {
    let events: Vec<Value> = recent
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .cloned()
        .collect();
    from_caps(server, move |caps, svg| page::render(caps, &svg, &events)).await
}

/// `make` of the caps the daemon keeps and their picture, on a blocking
/// thread (the draw and the HTML grow with the host); an error paragraph
/// when the caps cannot be had.
async fn from_caps<F>(server: &Arc<Server>, make: F) -> String
where
    F: FnOnce(&netswitch_model::caps::Caps, String) -> String + Send + 'static,
{
    let daemon = server.daemon.clone();
    let made = tokio::task::spawn_blocking(move || {
        let bytes = daemon.caps().map_err(|e| e.message)?;
        let caps: netswitch_model::caps::Caps =
            serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        let svg = netswitch_draw::draw(&caps, netswitch_draw::Format::Svg);
        Ok::<_, String>(make(&caps, svg))
    })
    .await;
    match made {
        Ok(Ok(text)) => text,
        Ok(Err(why)) => format!("<p>caps failed: {}</p>", page::esc(&why)),
        Err(_) => "<p>the page worker died</p>".to_string(),
    }
}

/// Headers every answer carries: no caching, and a policy that lets the
/// page use only what it has inline, and `/events`.
const SECURITY: &str = "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; \
script-src 'unsafe-inline'; connect-src 'self'; img-src data:\r\n";

async fn respond(
    stream: &mut TcpStream,
    status: &str,
    kind: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n{SECURITY}Connection: close\r\n\r\n",
        body.len()
    );
    let write = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        stream.shutdown().await
    };
    tokio::time::timeout(IO_TIMEOUT, write)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

/// The event stream: every daemon event as one `data:` line, until the
/// browser goes away (a write fails or stalls).
async fn events(server: &Arc<Server>, stream: &mut TcpStream) -> std::io::Result<()> {
    let mut rx = server.daemon.events.subscribe();
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n{SECURITY}Connection: close\r\n\r\nretry: 2000\n\n"
    );
    write(stream, head.as_bytes()).await?;
    loop {
        let chunk = match tokio::time::timeout(KEEPALIVE, rx.recv()).await {
            Err(_) => ": keepalive\n\n".to_string(),
            Ok(Ok(e)) => format!("data: {e}\n\n"),
            Ok(Err(broadcast::error::RecvError::Lagged(n))) => {
                format!("data: {{\"event\":\"lagged\",\"missed\":{n}}}\n\n")
            }
            Ok(Err(broadcast::error::RecvError::Closed)) => return Ok(()),
        };
        write(stream, chunk.as_bytes()).await?;
    }
}

async fn write(stream: &mut TcpStream, bytes: &[u8]) -> std::io::Result<()> {
    tokio::time::timeout(IO_TIMEOUT, stream.write_all(bytes))
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}
