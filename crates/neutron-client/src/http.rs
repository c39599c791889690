//! HTTP/1.1 as far as Keystone and Neutron need it: one request per
//! connection (`Connection: close`; a host agent makes a handful of calls
//! per verb, so keep-alive would buy nothing), JSON bodies, answers by
//! `Content-Length`, chunked or to the end, over TCP or rustls.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::url::Url;
use crate::Error;

/// The CA bundle used for https when no CA file is given.
pub const SYSTEM_CA: &str = "/etc/ssl/certs/ca-certificates.crt";
/// The largest answer read (a list of 10,000 ports is a few MiB).
const MAX_BODY: usize = 64 << 20;
const MAX_HEAD: usize = 64 << 10;

/// An answer: status, headers (names lowercased) and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// The first header called `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How requests go out: the timeout and, for https, the trusted CAs.
#[derive(Clone)]
pub struct Transport {
    timeout: Duration,
    tls: Option<Arc<ClientConfig>>,
    tls_error: Option<String>,
}

impl Transport {
    /// A transport trusting the certificates in `ca` (PEM), or the
    /// system bundle. A CA file that cannot be read fails the first https
    /// request, naming the file, not plain http ones.
    pub fn new(ca: Option<&Path>, timeout: Duration) -> Transport {
        let path = ca.unwrap_or(Path::new(SYSTEM_CA));
        let (tls, tls_error) = match tls_config(path) {
            Ok(c) => (Some(Arc::new(c)), None),
            Err(e) => (None, Some(e)),
        };
        Transport {
            timeout,
            tls,
            tls_error,
        }
    }

    /// Sends one request to `tail` (path and query) below `url`'s path.
    pub fn send(
        &self,
        url: &Url,
        method: &str,
        tail: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Answer, Error> {
        let full = url.join(tail);
        let mut stream = self.connect(url, &full)?;
        let mut head = format!(
            "{method} {}{tail} HTTP/1.1\r\nHost: {}\r\nUser-Agent: netswitch\r\nAccept: application/json\r\nConnection: close\r\n",
            url.path,
            url.authority()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(b) = body {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        head.push_str("\r\n");
        let io = |e: std::io::Error| io_error(&full, e);
        stream.write_all(head.as_bytes()).map_err(io)?;
        if let Some(b) = body {
            stream.write_all(b).map_err(io)?;
        }
        stream.flush().map_err(io)?;
        read_answer(BufReader::new(stream), &full)
    }

    fn connect(&self, url: &Url, full: &str) -> Result<Box<dyn Stream>, Error> {
        let addrs = url
            .authority()
            .to_socket_addrs()
            .map_err(|e| Error::Unreachable {
                url: full.into(),
                why: format!("cannot resolve {}: {e}", url.host),
            })?;
        let mut last = None;
        let mut tcp = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, self.timeout) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let tcp = tcp.ok_or_else(|| Error::Unreachable {
            url: full.into(),
            why: last.map_or("no address".into(), |e| e.to_string()),
        })?;
        let io = |e: std::io::Error| io_error(full, e);
        tcp.set_read_timeout(Some(self.timeout)).map_err(io)?;
        tcp.set_write_timeout(Some(self.timeout)).map_err(io)?;
        if !url.tls {
            return Ok(Box::new(tcp));
        }
        self.tls_stream(url, full, tcp)
    }

    fn tls_stream(&self, url: &Url, full: &str, tcp: TcpStream) -> Result<Box<dyn Stream>, Error> {
        let tls_err = |why: String| Error::Tls {
            url: full.into(),
            why,
        };
        let config = match (&self.tls, &self.tls_error) {
            (Some(c), _) => c.clone(),
            (None, e) => return Err(tls_err(e.clone().unwrap_or_default())),
        };
        let name = ServerName::try_from(url.host.clone())
            .map_err(|e| tls_err(format!("bad server name {}: {e}", url.host)))?;
        let mut conn = ClientConnection::new(config, name).map_err(|e| tls_err(e.to_string()))?;
        let mut tcp = tcp;
        // The handshake here, so that whatever breaks it (a plain-HTTP
        // server, an untrusted certificate, silence) is reported as TLS.
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp)
                .map_err(|e| tls_err(format!("handshake: {e}")))?;
        }
        Ok(Box::new(StreamOwned::new(conn, tcp)))
    }
}

/// Anything requests go over.
trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

/// A broken exchange: a TLS failure says so (rustls reports it as an
/// I/O error carrying its own error), everything else is unreachable.
fn io_error(url: &str, e: std::io::Error) -> Error {
    let tls = e
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some());
    if tls || e.kind() == std::io::ErrorKind::InvalidData {
        Error::Tls {
            url: url.into(),
            why: e.to_string(),
        }
    } else {
        Error::Unreachable {
            url: url.into(),
            why: e.to_string(),
        }
    }
}

fn tls_config(ca: &Path) -> Result<ClientConfig, String> {
    let bad = |why: String| format!("CA file {}: {why}", ca.display());
    let cas: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
        .and_then(|it| it.collect())
        .map_err(|e| bad(e.to_string()))?;
    let mut roots = RootCertStore::empty();
    let (_, ignored) = roots.add_parsable_certificates(cas);
    if roots.is_empty() {
        return Err(bad(format!(
            "no usable CA certificate ({ignored} unparsable)"
        )));
    }
    // ring, as the daemon's listener: no C toolchain of aws-lc-rs.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn read_answer(mut rd: impl BufRead, url: &str) -> Result<Answer, Error> {
    let proto = |why: &str| Error::Protocol {
        url: url.into(),
        why: why.into(),
    };
    let mut line = String::new();
    let mut head_len = 0;
    read_line(&mut rd, &mut line, url)?;
    let status = line
        .strip_prefix("HTTP/1.")
        .and_then(|r| r.get(2..5))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| proto("not an HTTP/1.x status line"))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        head_len += read_line(&mut rd, &mut line, url)?;
        if head_len > MAX_HEAD {
            return Err(proto("headers too long"));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let mut a = Answer {
        status,
        headers,
        body: Vec::new(),
    };
    a.body = read_body(&mut rd, &a, url)?;
    Ok(a)
}

fn read_line(rd: &mut impl BufRead, line: &mut String, url: &str) -> Result<usize, Error> {
    let n = rd
        .take(MAX_HEAD as u64)
        .read_line(line)
        .map_err(|e| io_error(url, e))?;
    if n == 0 {
        return Err(Error::Protocol {
            url: url.into(),
            why: "the connection closed before an answer".into(),
        });
    }
    Ok(n)
}

fn read_body(rd: &mut impl BufRead, a: &Answer, url: &str) -> Result<Vec<u8>, Error> {
    let io = |e: std::io::Error| io_error(url, e);
    let too_big = || Error::Protocol {
        url: url.into(),
        why: format!("an answer above {MAX_BODY} bytes"),
    };
    let mut body = Vec::new();
    if a.header("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        loop {
            let mut size = String::new();
            read_line(rd, &mut size, url)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| Error::Protocol {
                    url: url.into(),
                    why: "bad chunk size".into(),
                })?;
            if body.len() + n > MAX_BODY {
                return Err(too_big());
            }
            let start = body.len();
            body.resize(start + n, 0);
            rd.read_exact(&mut body[start..]).map_err(io)?;
            let mut crlf = String::new();
            read_line(rd, &mut crlf, url)?;
            if n == 0 {
                return Ok(body);
            }
        }
    }
    if let Some(len) = a.header("content-length") {
        let n: usize = len.parse().map_err(|_| Error::Protocol {
            url: url.into(),
            why: "bad Content-Length".into(),
        })?;
        if n > MAX_BODY {
            return Err(too_big());
        }
        body.resize(n, 0);
        rd.read_exact(&mut body).map_err(io)?;
        return Ok(body);
    }
    rd.take(MAX_BODY as u64 + 1)
        .read_to_end(&mut body)
        .map_err(io)?;
    if body.len() > MAX_BODY {
        return Err(too_big());
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_by_length_chunked_and_to_the_end() {
        let a = read_answer(
            &b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nX-Subject-Token: t\r\n\r\n{}"[..],
            "u",
        )
        .unwrap();
        assert_eq!((a.status, a.body.as_slice()), (201, &b"{}"[..]));
        assert_eq!(a.header("x-subject-token"), Some("t"));
        let a = read_answer(
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"[..],
            "u",
        )
        .unwrap();
        assert_eq!(a.body, b"{}");
        let a = read_answer(&b"HTTP/1.0 404 Not Found\r\n\r\nnope"[..], "u").unwrap();
        assert_eq!((a.status, a.body.as_slice()), (404, &b"nope"[..]));
        assert!(read_answer(&b"SSH-2.0\r\n"[..], "u").is_err());
        assert!(read_answer(&b""[..], "u").is_err());
    }
}
