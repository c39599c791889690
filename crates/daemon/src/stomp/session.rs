//! One STOMP 1.2 session over an authenticated TLS stream: frames in,
//! requests run on their own tasks, MESSAGEs and heart-beats out through
//! one bounded writer.

use std::io::IoSlice;
use std::sync::Arc;
use std::time::Duration;

use netswitch_stomp::{Bounds, Command, Decoder, Frame, Item};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch, Notify, Semaphore};
use tracing::debug;

use super::reply::{self, Caller, Outbox, Part, Wire};
use crate::limits::Ticket;
use crate::registry::Call;
use crate::rpc::Out;
use crate::server::Server;
use crate::transport::{Identity, Policy};
use crate::MAX_MESSAGE_BYTES;

/// Where an engine sends its requests.
pub(crate) const REQUESTS: &str = "jms.topic.vdsm_requests";
/// Where answers go when a SEND names no `reply-to`.
pub(crate) const RESPONSES: &str = "jms.topic.vdsm_responses";
/// Where events go.
pub(crate) const EVENTS: &str = "jms.queue.events";
/// The heart-beat the daemon offers both ways, in ms: it never beats
/// faster than this, nor asks the client to.
const BEAT_MS: u64 = 10_000;
/// How long a new session may take to send CONNECT.
const CONNECT_WITHIN: Duration = Duration::from_secs(10);
/// How long one write may wait for a peer that does not read.
const WRITE_STALL: Duration = Duration::from_secs(30);
/// Frames queued for the writer.
const QUEUE: usize = 64;
/// Requests of one session handled at once.
const PER_CONNECTION: usize = 8;

/// What happens after a frame.
enum Flow {
    Go,
    Close,
}

struct Session {
    outbox: Arc<Outbox>,
    caller: Arc<Caller>,
    limit: Arc<Semaphore>,
    /// The heart-beat the writer keeps, once negotiated.
    beat: watch::Sender<Option<Duration>>,
    /// How often the client promised a sign of life.
    expect: Option<Duration>,
    open: bool,
    events_on: bool,
}

/// Serves the session until DISCONNECT, an error, or the peer goes.
pub(crate) async fn run<S>(
    server: Arc<Server>,
    policy: Arc<dyn Policy>,
    stream: S,
    who: Identity,
    ticket: Ticket,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    debug!(%who, "STOMP session");
    let (mut rd, wr) = tokio::io::split(stream);
    let (tx, rx) = mpsc::channel(QUEUE);
    let (beat, beat_rx) = watch::channel(None);
    let closed = Arc::new(Notify::new());
    let writer = tokio::spawn(write_loop(wr, rx, beat_rx, closed.clone()));
    let caller = |events| Caller {
        server: server.clone(),
        policy,
        who,
        events,
    };
    let mut s = Session::new(tx, beat, caller);
    let bounds = Bounds {
        max_body: MAX_MESSAGE_BYTES,
        ..Bounds::default()
    };
    let mut dec = Decoder::new(bounds);
    let stall = server.conns.limits.stall;
    let started = tokio::time::Instant::now();
    let mut buf = vec![0u8; 16 << 10];
    loop {
        let wait = if !s.open {
            Some(CONNECT_WITHIN.saturating_sub(started.elapsed()))
        } else if dec.buffered() > 0 {
            Some(stall)
        } else {
            s.expect.map(|e| e * 2)
        };
        let read = async {
            match wait {
                Some(w) => tokio::time::timeout(w, rd.read(&mut buf)).await.ok(),
                None => Some(rd.read(&mut buf).await),
            }
        };
        let n = tokio::select! {
            r = read => match r {
                Some(Ok(0)) | Some(Err(_)) => break,
                Some(Ok(n)) => n,
                None => {
                    s.error("no frame or heart-beat in time; closing", "").await;
                    break;
                }
            },
            _ = ticket.evicted.notified() => {
                s.error("the daemon is at its bound of connections; closing", "").await;
                break;
            }
            _ = closed.notified() => break,
        };
        dec.push(&buf[..n]);
        if let Flow::Close = s.drain(&mut dec).await {
            break;
        }
        if s.open && !ticket.hold(dec.buffered()) {
            s.error("the daemon is at its bound of buffered bytes; closing", "")
                .await;
            break;
        }
    }
    let _ = s.outbox.tx.send(Wire::Close).await;
    drop(s);
    let _ = writer.await;
    debug!("STOMP session ended");
}

impl Session {
    /// A session writing to `tx`, its events pump started.
    fn new(
        tx: mpsc::Sender<Wire>,
        beat: watch::Sender<Option<Duration>>,
        caller: impl FnOnce(mpsc::Sender<Out>) -> Caller,
    ) -> Session {
        let (ev_tx, ev_rx) = mpsc::channel::<Out>(QUEUE);
        let outbox = Arc::new(Outbox::new(tx));
        tokio::spawn(pump_events(outbox.clone(), ev_rx));
        Session {
            outbox,
            caller: Arc::new(caller(ev_tx)),
            limit: Arc::new(Semaphore::new(PER_CONNECTION)),
            beat,
            expect: None,
            open: false,
            events_on: false,
        }
    }

    /// Handles every whole frame the decoder has.
    async fn drain(&mut self, dec: &mut Decoder) -> Flow {
        loop {
            match dec.next_item() {
                Ok(None) => return Flow::Go,
                Ok(Some(Item::HeartBeat)) => {}
                Ok(Some(Item::Frame(f))) => {
                    if let Flow::Close = self.frame(f).await {
                        return Flow::Close;
                    }
                }
                Err(e) => return self.error("malformed frame", &e.to_string()).await,
            }
        }
    }

    async fn frame(&mut self, f: Frame) -> Flow {
        use Command::*;
        match (self.open, f.command) {
            (false, Connect | Stomp) => self.connect(&f).await,
            (false, _) => self.error("expected CONNECT or STOMP first", "").await,
            (true, Connect | Stomp) => self.error("already connected", "").await,
            (true, Subscribe) => self.subscribe(&f).await,
            (true, Unsubscribe) => match f.get("id") {
                Some(id) if self.outbox.unsubscribe(id) => self.receipt(&f).await,
                Some(id) => self.error("no such subscription", id).await,
                None => self.error("UNSUBSCRIBE needs an id header", "").await,
            },
            (true, Send) => self.send(f).await,
            (true, Ack | Nack | Begin | Commit | Abort) => self.receipt(&f).await,
            (true, Disconnect) => {
                self.receipt(&f).await;
                Flow::Close
            }
            (_, Connected | Message | Receipt | Error) => {
                self.error("a server frame from a client", f.command.as_str())
                    .await
            }
        }
    }

    async fn connect(&mut self, f: &Frame) -> Flow {
        let versions = f.get("accept-version").unwrap_or("1.0");
        if !versions.split(',').any(|v| v.trim() == "1.2") {
            let e = Frame::new(Command::Error)
                .header("version", "1.2")
                .header("content-type", "text/plain")
                .header("message", "only STOMP 1.2 is supported")
                .body(format!("accept-version was {versions:?}"));
            self.put(e).await;
            return Flow::Close;
        }
        let Some((cx, cy)) = heart_beat(f.get("heart-beat").unwrap_or("0,0")) else {
            return self
                .error("heart-beat must be two numbers: cx,cy", "")
                .await;
        };
        let send = (cy > 0).then(|| Duration::from_millis(cy.max(BEAT_MS)));
        self.expect = (cx > 0).then(|| Duration::from_millis(cx.max(BEAT_MS)));
        let _ = self.beat.send(send);
        self.open = true;
        let ok = Frame::new(Command::Connected)
            .header("version", "1.2")
            .header("heart-beat", format!("{BEAT_MS},{BEAT_MS}"))
            .header("server", concat!("netswitch/", env!("CARGO_PKG_VERSION")));
        self.put(ok).await;
        Flow::Go
    }

    async fn subscribe(&mut self, f: &Frame) -> Flow {
        let (Some(id), Some(dest)) = (f.get("id"), f.get("destination")) else {
            return self
                .error("SUBSCRIBE needs id and destination headers", "")
                .await;
        };
        if !self.outbox.subscribe(id, dest) {
            return self.error("subscription id already in use", id).await;
        }
        if dest == EVENTS && !self.events_on {
            self.events_on = true;
            self.start_events().await;
        }
        self.receipt(f).await
    }

    /// Forwards the daemon's events to this session, as `Host.subscribe`
    /// does on the socket.
    async fn start_events(&self) {
        let server = &self.caller.server;
        let call = Call {
            daemon: server.daemon.clone(),
            params: None,
            out: self.caller.events.clone(),
            slot: None,
        };
        let who = &self.caller.who;
        let _ = server
            .registry
            .dispatch(&*self.caller.policy, who, "Host.subscribe", call)
            .await;
    }

    async fn send(&mut self, f: Frame) -> Flow {
        match f.get("destination") {
            Some(REQUESTS) => {}
            Some(other) => return self.error("unknown destination", other).await,
            None => return self.error("SEND needs a destination header", "").await,
        }
        let reply_to = f.get("reply-to").unwrap_or(RESPONSES).to_string();
        let Ok(permit) = self.limit.clone().acquire_owned().await else {
            return Flow::Close;
        };
        let (caller, outbox) = (self.caller.clone(), self.outbox.clone());
        let flow = self.receipt(&f).await;
        tokio::spawn(async move {
            let _permit = permit;
            if let Some(body) = reply::answer(&caller, &f.body).await {
                for m in outbox.messages(&reply_to, &body) {
                    if outbox.tx.send(m).await.is_err() {
                        break;
                    }
                }
            }
        });
        flow
    }

    async fn receipt(&self, f: &Frame) -> Flow {
        if let Some(r) = f.get("receipt") {
            self.put(Frame::new(Command::Receipt).header("receipt-id", r))
                .await;
        }
        Flow::Go
    }

    /// An ERROR frame; the session closes after it, as STOMP says.
    async fn error(&self, message: &str, detail: &str) -> Flow {
        debug!(message, detail, "STOMP error");
        let e = Frame::new(Command::Error)
            .header("message", message)
            .header("content-type", "text/plain")
            .body(detail.as_bytes().to_vec());
        self.put(e).await;
        Flow::Close
    }

    async fn put(&self, f: Frame) {
        let _ = self
            .outbox
            .tx
            .send(Wire::Frame(vec![Part::Owned(f.encode())]))
            .await;
    }
}

/// `cx,cy` of a heart-beat header.
fn heart_beat(h: &str) -> Option<(u64, u64)> {
    let (a, b) = h.split_once(',')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

/// Events (from `Host.subscribe`) as MESSAGEs to `jms.queue.events`
/// subscribers. Never waits on a slow reader: an event its queue has no
/// room for is dropped for it.
async fn pump_events(outbox: Arc<Outbox>, mut rx: mpsc::Receiver<Out>) {
    let mut dropped = 0u64;
    while let Some(out) = rx.recv().await {
        for m in outbox.messages(EVENTS, &reply::parts(out)) {
            if outbox.tx.try_send(m).is_err() {
                dropped += 1;
            }
        }
    }
    if dropped > 0 {
        debug!(dropped, "events dropped for a slow STOMP subscriber");
    }
}

/// Writes frames as they come, and a heart-beat (an EOL) when nothing
/// else went out for the negotiated time. A write that waits longer than
/// [`WRITE_STALL`] ends the session.
async fn write_loop<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut rx: mpsc::Receiver<Wire>,
    beat: watch::Receiver<Option<Duration>>,
    closed: Arc<Notify>,
) {
    loop {
        let every = *beat.borrow();
        let next = match every {
            Some(d) => match tokio::time::timeout(d, rx.recv()).await {
                Ok(n) => n,
                Err(_) => Some(Wire::Frame(vec![Part::Owned(b"\n".to_vec())])),
            },
            None => rx.recv().await,
        };
        let Some(Wire::Frame(parts)) = next else {
            break;
        };
        if !write_parts(&mut wr, &parts).await {
            break;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), wr.shutdown()).await;
    closed.notify_one();
}

/// Writes a frame's parts as one vectored stream: rustls then cuts full
/// 16 KiB records across the parts (a small head, the kept answer, its
/// `}` and the NUL) instead of a record per part, without copying them
/// together first.
async fn write_parts<W: AsyncWrite + Unpin>(wr: &mut W, parts: &[Part]) -> bool {
    let write = async {
        let (mut part, mut offset) = (0, 0);
        loop {
            while part < parts.len() && parts[part].bytes().len() == offset {
                (part, offset) = (part + 1, 0);
            }
            if part == parts.len() {
                break;
            }
            let slices: Vec<IoSlice<'_>> = parts[part..]
                .iter()
                .enumerate()
                .map(|(i, p)| IoSlice::new(&p.bytes()[if i == 0 { offset } else { 0 }..]))
                .collect();
            let mut n = wr.write_vectored(&slices).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            while n > 0 {
                let left = parts[part].bytes().len() - offset;
                let took = n.min(left);
                (n, offset) = (n - took, offset + took);
                if offset == parts[part].bytes().len() {
                    (part, offset) = (part + 1, 0);
                }
            }
        }
        wr.flush().await
    };
    matches!(tokio::time::timeout(WRITE_STALL, write).await, Ok(Ok(())))
}
