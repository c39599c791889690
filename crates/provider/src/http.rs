//! A small HTTP/1.1 server: one thread per connection (a provider serves a
//! handful of engines, not the internet), keep-alive, and bounds on what a
//! peer may send — header bytes, body bytes, idle time — so a bad client
//! costs a 4xx and a closed socket, never the server.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What a connection may send.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Request line plus headers, in bytes.
    pub max_header: usize,
    /// Body, in bytes (a bulk create of 1000 ports is about 300 KiB).
    pub max_body: usize,
    /// How long a connection may stay silent (between or inside requests).
    pub idle: Duration,
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// How long a TLS handshake may take, from accept to its end.
    pub handshake: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_header: 32 << 10,
            max_body: 16 << 20,
            idle: Duration::from_secs(60),
            max_connections: 512,
            handshake: Duration::from_secs(10),
        }
    }
}

/// One parsed request.
#[derive(Debug, Default)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, percent-decoded, without the query.
    pub path: String,
    /// Query pairs in order, percent-decoded (a key may repeat).
    pub query: Vec<(String, String)>,
    /// Headers with lower-case names.
    pub headers: Vec<(String, String)>,
    /// The body (empty when none).
    pub body: Vec<u8>,
}

impl Request {
    /// The first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Extra headers (Content-Length and Connection are added).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON answer.
    pub fn json(status: u16, v: &serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: v.to_string().into_bytes(),
        }
    }

    /// An empty answer (204 and the like).
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
}

/// Why a request could not be read; the ones with a status are answered
/// before the connection closes.
#[derive(Debug)]
enum ReadError {
    /// The peer closed or went silent: nothing to answer.
    Gone,
    /// A malformed or oversized request: answer this status, then close.
    Bad(u16, &'static str),
}

/// The application behind a listener.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request.
    fn handle(&self, req: &Request) -> Response;
}

/// Serves `listener` until the process ends, each connection on its own
/// thread; with `tls`, each connection first completes a TLS handshake
/// (on its own thread, within [`Limits::handshake`]).
pub fn serve(
    listener: TcpListener,
    handler: Arc<dyn Handler>,
    limits: Limits,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    let live = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        let stream = match conn {
            Ok(s) => s,
            Err(e) => {
                // Out of descriptors and the like: back off rather than spin.
                tracing::warn!(error = %e, "accept failed");
                std::thread::sleep(std::time::Duration::from_millis(100));
                continue;
            }
        };
        if live.fetch_add(1, Ordering::SeqCst) >= limits.max_connections {
            live.fetch_sub(1, Ordering::SeqCst);
            let mut s = stream;
            let _ = write_response(&mut s, &error_body(503, "too many connections"), false);
            continue;
        }
        let (h, l, live) = (Arc::clone(&handler), limits.clone(), Arc::clone(&live));
        let tls = tls.clone();
        let spawned = std::thread::Builder::new()
            .name("provider-conn".into())
            .spawn(move || {
                let peer = stream.peer_addr().ok();
                if let Err(e) = secure_connection(stream, tls, h.as_ref(), &l) {
                    tracing::debug!(?peer, error = %e, "connection ended");
                }
                live.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            tracing::warn!("cannot spawn a connection thread");
        }
    }
}

/// Binds `addr` (an error names it).
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr).map_err(|e| io::Error::new(e.kind(), format!("bind {addr}: {e}")))
}

/// Serves one accepted socket, in TLS when `tls` is set.
fn secure_connection(
    stream: TcpStream,
    tls: Option<Arc<rustls::ServerConfig>>,
    h: &dyn Handler,
    limits: &Limits,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let Some(config) = tls else {
        stream.set_read_timeout(Some(limits.idle))?;
        stream.set_write_timeout(Some(limits.idle))?;
        return connection(stream, h, limits);
    };
    match crate::tls::accept(&config, stream, limits.handshake) {
        Ok(mut s) => {
            s.sock.set_read_timeout(Some(limits.idle))?;
            s.sock.set_write_timeout(Some(limits.idle))?;
            let served = connection(&mut s, h, limits);
            // close_notify, so the peer tells our close from a truncation.
            s.conn.send_close_notify();
            let _ = s.flush();
            served
        }
        Err((tcp, crate::tls::Refused::NotTls)) => {
            tracing::debug!(peer = ?tcp.peer_addr().ok(), "plain HTTP on a TLS port");
            crate::tls::refuse_plain(tcp);
            Ok(())
        }
        Err((_, crate::tls::Refused::Handshake(e))) => {
            Err(io::Error::new(e.kind(), format!("TLS handshake: {e}")))
        }
    }
}

/// Serves requests on one connection until the peer leaves or a request
/// asks to close.
fn connection(stream: impl Read + Write, h: &dyn Handler, limits: &Limits) -> io::Result<()> {
    let mut rd = BufReader::new(stream);
    loop {
        let req = match read_request(&mut rd, limits) {
            Ok(r) => r,
            Err(ReadError::Gone) => return Ok(()),
            Err(ReadError::Bad(status, why)) => {
                write_response(rd.get_mut(), &error_body(status, why), false)?;
                return Ok(());
            }
        };
        let keep = keep_alive(&req);
        let resp = h.handle(&req);
        tracing::debug!(method = %req.method, path = %req.path, status = resp.status, "served");
        write_response(rd.get_mut(), &resp, keep)?;
        if !keep {
            return Ok(());
        }
    }
}

/// HTTP/1.1 keeps the connection unless the client says `close`.
fn keep_alive(req: &Request) -> bool {
    !req.header("connection")
        .is_some_and(|c| c.eq_ignore_ascii_case("close"))
}

/// A bare error for failures below the application (the Neutron shape is
/// harmless to Keystone clients too).
fn error_body(status: u16, why: &str) -> Response {
    Response::json(
        status,
        &serde_json::json!({"NeutronError": {"type": "HTTPBadRequest", "message": why, "detail": ""}}),
    )
}

fn read_request(rd: &mut impl BufRead, limits: &Limits) -> Result<Request, ReadError> {
    let head = read_head(rd, limits.max_header)?;
    let mut lines = head.split("\r\n").map(|l| l.trim_end_matches('\n'));
    let first = lines.next().unwrap_or_default();
    let mut parts = first.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Bad(400, "malformed request line"));
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() {
        return Err(ReadError::Bad(400, "not an HTTP/1.x request"));
    }
    let mut req = Request {
        method: method.to_owned(),
        ..Request::default()
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    req.path = percent_decode(path);
    req.query = parse_query(query);
    for l in lines.filter(|l| !l.is_empty()) {
        let Some((k, v)) = l.split_once(':') else {
            return Err(ReadError::Bad(400, "malformed header"));
        };
        req.headers
            .push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    req.body = read_body(rd, &req, limits.max_body)?;
    Ok(req)
}

/// Reads up to the blank line, refusing more than `max` bytes.
fn read_head(rd: &mut impl BufRead, max: usize) -> Result<String, ReadError> {
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = rd
            .take((max + 1 - head.len().min(max)) as u64)
            .read_until(b'\n', &mut line)
            .map_err(|_| ReadError::Gone)?;
        if n == 0 {
            return Err(ReadError::Gone);
        }
        head.extend_from_slice(&line);
        if head.len() > max {
            return Err(ReadError::Bad(431, "request headers too large"));
        }
        if line == b"\r\n" || line == b"\n" {
            if head.len() == line.len() {
                head.clear(); // a stray empty line before a request (RFC 9112 §2.2)
                continue;
            }
            break;
        }
    }
    String::from_utf8(head).map_err(|_| ReadError::Bad(400, "headers are not UTF-8"))
}

fn read_body(rd: &mut impl BufRead, req: &Request, max: usize) -> Result<Vec<u8>, ReadError> {
    if req
        .header("transfer-encoding")
        .is_some_and(|t| !t.eq_ignore_ascii_case("identity"))
    {
        return read_chunked(rd, max);
    }
    let len = match req.header("content-length") {
        None => return Ok(Vec::new()),
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| ReadError::Bad(400, "bad Content-Length"))?,
    };
    if len > max {
        return Err(ReadError::Bad(413, "request body too large"));
    }
    let mut body = vec![0; len];
    rd.read_exact(&mut body).map_err(|_| ReadError::Gone)?;
    Ok(body)
}

/// `Transfer-Encoding: chunked` (RFC 9112 §7.1), trailers ignored.
fn read_chunked(rd: &mut impl BufRead, max: usize) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        rd.take(1024)
            .read_line(&mut line)
            .map_err(|_| ReadError::Gone)?;
        let size = line.trim().split(';').next().unwrap_or_default();
        let n = usize::from_str_radix(size, 16).map_err(|_| ReadError::Bad(400, "bad chunk"))?;
        if body.len() + n > max {
            return Err(ReadError::Bad(413, "request body too large"));
        }
        if n == 0 {
            let _ = read_head(rd, 8 << 10); // trailers up to the blank line
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + n, 0);
        rd.read_exact(&mut body[start..])
            .map_err(|_| ReadError::Gone)?;
        let mut crlf = [0u8; 2];
        rd.read_exact(&mut crlf).map_err(|_| ReadError::Gone)?;
    }
}

fn write_response(w: &mut impl Write, r: &Response, keep: bool) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", r.status, reason(r.status));
    for (k, v) in &r.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n", r.body.len()));
    head.push_str(if keep {
        "Connection: keep-alive\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    });
    let mut buf = head.into_bytes();
    buf.extend_from_slice(&r.body);
    w.write_all(&buf)?;
    w.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        300 => "Multiple Choices",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// `a=1&b=x%20y` as pairs; `+` is a space (form encoding, as clients send).
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

/// Decodes `%XX` escapes; a malformed escape is kept as written.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode() {
        assert_eq!(
            parse_query("name=a%20b&fields=id&fields=name"),
            vec![
                ("name".into(), "a b".into()),
                ("fields".into(), "id".into()),
                ("fields".into(), "name".into())
            ]
        );
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }

    #[test]
    fn chunked_bodies_read() {
        let raw = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        let req = read_request(&mut &raw[..], &Limits::default()).unwrap();
        assert_eq!(req.body, b"abc");
    }

    #[test]
    fn oversized_headers_are_refused() {
        let mut raw = b"GET / HTTP/1.1\r\nX: ".to_vec();
        raw.extend(std::iter::repeat_n(b'a', 40 << 10));
        raw.extend_from_slice(b"\r\n\r\n");
        let l = Limits::default();
        assert!(matches!(
            read_request(&mut &raw[..], &l),
            Err(ReadError::Bad(431, _))
        ));
    }
}
