//! One client connection, whatever its transport: read messages, answer
//! each on its own task (so a `confirmConnectivity` gets through while a
//! setup of the same connection waits for it), write answers and
//! notifications in one writer task.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, Semaphore};
use tracing::{debug, info_span, Instrument};

use crate::limits::Ticket;
use crate::registry::Call;
use crate::rpc::{self, Out, RpcError};
use crate::server::Server;
use crate::transport::Identity;
use crate::{codes, MAX_MESSAGE_BYTES};

/// Requests of one connection handled at once; more wait their turn.
const PER_CONNECTION: usize = 8;

/// Serves one connection until the client closes it, stalls on a partial
/// line, or is dropped to make room.
pub(crate) async fn serve<S>(server: Arc<Server>, stream: S, who: Identity, ticket: Ticket)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    debug!(%who, "connected");
    let who = Arc::new(who);
    let (rd, wr) = tokio::io::split(stream);
    let (tx, rx) = mpsc::channel::<Out>(64);
    let writer = tokio::spawn(write_all(wr, rx));
    let limit = Arc::new(Semaphore::new(PER_CONNECTION));
    let mut reader = BufReader::new(rd);
    let stall = server.conns.limits.stall;
    loop {
        let read = tokio::select! {
            r = read_line(&mut reader, &ticket, stall) => r,
            _ = ticket.evicted.notified() => Err(Gone::Evicted),
        };
        let line = match read {
            Ok(Line::Message(l)) => l,
            Ok(Line::TooLong) => {
                let e = RpcError::new(
                    codes::INVALID_REQUEST,
                    format!("message longer than {MAX_MESSAGE_BYTES} bytes; discarded"),
                );
                let _ = tx.send(Out::Line(rpc::error_line(&None, &e))).await;
                continue;
            }
            Err(gone) => {
                farewell(&tx, gone, stall).await;
                break;
            }
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let Ok(permit) = limit.clone().acquire_owned().await else {
            break;
        };
        let (server, who, tx) = (server.clone(), who.clone(), tx.clone());
        tokio::spawn(async move {
            let _permit = permit;
            if let Some(reply) = handle(server, &who, &line, &tx).await {
                let _ = tx.send(reply).await;
            }
        });
    }
    drop(tx);
    let _ = writer.await;
    debug!("disconnected");
}

/// Tells a client why it is being closed, when that is not its own doing.
async fn farewell(tx: &mpsc::Sender<Out>, gone: Gone, stall: Duration) {
    let why = match gone {
        Gone::Closed | Gone::Io(_) => return,
        Gone::Stalled => format!(
            "a partial message got no byte for {} s; connection closed",
            stall.as_secs()
        ),
        Gone::Evicted => "the daemon is at its bound of connections or buffered bytes; \
             this connection, stalled on a partial message, was closed"
            .to_string(),
    };
    debug!(%why, "closing");
    let e = RpcError::new(codes::OVERLOADED, why);
    let _ = tx.send(Out::Line(rpc::error_line(&None, &e))).await;
}

/// Writes answers and notifications as they come, one line each.
async fn write_all<W: AsyncWrite + Unpin>(mut wr: W, mut rx: mpsc::Receiver<Out>) {
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
    let _ = wr.shutdown().await;
}

/// Parses one line and runs its method through the registry; `None` for
/// a notification (a request without id), which gets no answer.
async fn handle(
    server: Arc<Server>,
    who: &Identity,
    line: &[u8],
    tx: &mpsc::Sender<Out>,
) -> Option<Out> {
    let request = match rpc::parse(line) {
        Ok(r) => r,
        Err(refused) => return Some(Out::Line(rpc::error_line(&refused.id, &refused.error))),
    };
    let call = Call {
        daemon: server.daemon.clone(),
        params: request.params,
        out: tx.clone(),
        slot: None,
    };
    let span = info_span!("rpc", method = %request.method);
    let result = server
        .registry
        .dispatch(&*server.policy, who, &request.method, call)
        .instrument(span)
        .await;
    if let Err(e) = &result {
        debug!(code = e.code, message = %e.message, "error");
    }
    rpc::answer(&request.id, result)
}

enum Line {
    Message(Vec<u8>),
    TooLong,
}

/// Why a connection ends.
#[derive(Debug)]
enum Gone {
    /// The client closed its side.
    Closed,
    Io(#[allow(dead_code)] io::Error),
    /// A partial line got no byte for the stall time.
    Stalled,
    /// Dropped to make room, or its line could not be held.
    Evicted,
}

/// Reads up to the next newline, never holding more than the message bound
/// (a longer line is skipped to its end and reported) nor more than the
/// daemon-wide bound lets it. A partial line that stalls ends the
/// connection; between lines a connection may wait forever.
async fn read_line<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    ticket: &Ticket,
    stall: Duration,
) -> Result<Line, Gone> {
    let mut line = Vec::new();
    let mut too_long = false;
    let result = loop {
        let partial = too_long || !line.is_empty();
        let buf = if partial {
            match tokio::time::timeout(stall, reader.fill_buf()).await {
                Ok(r) => r,
                Err(_) => break Err(Gone::Stalled),
            }
        } else {
            reader.fill_buf().await
        };
        let buf = match buf {
            Ok(b) => b,
            Err(e) => break Err(Gone::Io(e)),
        };
        if buf.is_empty() {
            // EOF: a last line without newline still counts.
            break match (too_long, line.is_empty()) {
                (true, _) => Ok(Line::TooLong),
                (false, true) => Err(Gone::Closed),
                (false, false) => Ok(Line::Message(line)),
            };
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if !too_long {
            if line.len() + chunk.len() > MAX_MESSAGE_BYTES {
                too_long = true;
                line = Vec::new();
                ticket.hold(0);
            } else if !grow(&mut line, chunk.len(), ticket) {
                break Err(Gone::Evicted);
            } else {
                line.extend_from_slice(chunk);
            }
        }
        let used = done.unwrap_or(buf.len());
        reader.consume(used);
        if done.is_some() {
            break Ok(if too_long {
                Line::TooLong
            } else {
                Line::Message(line)
            });
        }
    };
    // The line now belongs to its handler (or is gone): no longer partial.
    ticket.hold(0);
    result
}

/// Makes room for `more` bytes in `line`, growing it by doubling (up to the
/// message bound) with the daemon-wide bound's leave; false without it.
fn grow(line: &mut Vec<u8>, more: usize, ticket: &Ticket) -> bool {
    let need = line.len() + more;
    if need <= line.capacity() {
        return true;
    }
    let cap = need.max(line.capacity() * 2).min(MAX_MESSAGE_BYTES);
    if !ticket.hold(cap) {
        return false;
    }
    line.reserve_exact(cap - line.len());
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{Conns, Limits};
    use tokio::io::AsyncWriteExt;

    fn conns() -> Arc<Conns> {
        Conns::new(Limits {
            max_connections: 4,
            max_buffered: 1 << 20,
            stall: Duration::from_millis(200),
        })
    }

    #[tokio::test]
    async fn a_partial_line_that_stalls_ends_the_connection() {
        let conns = conns();
        let ticket = conns.admit().unwrap();
        let (client, server) = tokio::net::UnixStream::pair().unwrap();
        let mut reader = BufReader::new(server);
        let mut client = client;
        client.write_all(b"{\"a\":1}\n{\"jsonrpc\"").await.unwrap();
        let stall = Duration::from_millis(200);
        let first = read_line(&mut reader, &ticket, stall).await;
        assert!(matches!(first, Ok(Line::Message(ref l)) if l == b"{\"a\":1}"));
        let second = read_line(&mut reader, &ticket, stall).await;
        assert!(matches!(second, Err(Gone::Stalled)), "{second:?}");
        assert_eq!(conns.buffered(), 0);
    }

    #[tokio::test]
    async fn a_line_over_the_daemon_wide_bound_is_given_up() {
        let conns = conns();
        let ticket = conns.admit().unwrap();
        let (mut client, server) = tokio::net::UnixStream::pair().unwrap();
        let writer = tokio::spawn(async move {
            let _ = client.write_all(&vec![b'x'; 2 << 20]).await;
            client
        });
        let mut reader = BufReader::new(server);
        let r = read_line(&mut reader, &ticket, Duration::from_secs(60)).await;
        assert!(matches!(r, Err(Gone::Evicted)), "{r:?}");
        assert_eq!(conns.buffered(), 0);
        drop(reader);
        let _ = writer.await;
    }

    impl std::fmt::Debug for Line {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                Line::Message(l) => write!(f, "Message({} bytes)", l.len()),
                Line::TooLong => f.write_str("TooLong"),
            }
        }
    }
}
