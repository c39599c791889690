//! A SEND's body as JSON-RPC: run through the registry, answered as the
//! bytes of a MESSAGE body; and the MESSAGE frames themselves.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use netswitch_stomp::{Command, Frame};
use serde_json::json;
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use crate::codes;
use crate::registry::Call;
use crate::rpc::{self, Body, Out, RpcError};
use crate::server::Server;
use crate::transport::{Identity, Policy};

/// Bytes for the writer: its own, or an answer the daemon keeps.
#[derive(Clone)]
pub(crate) enum Part {
    Owned(Vec<u8>),
    Shared(Arc<Vec<u8>>),
}

impl Part {
    pub fn bytes(&self) -> &[u8] {
        match self {
            Part::Owned(v) => v,
            Part::Shared(v) => v,
        }
    }
}

/// What the writer is told.
pub(crate) enum Wire {
    /// One frame, in parts.
    Frame(Vec<Part>),
    /// Write nothing more; close.
    Close,
}

/// A connection's subscriptions and outgoing queue, shared with the
/// tasks answering its requests.
pub(crate) struct Outbox {
    pub tx: mpsc::Sender<Wire>,
    subs: Mutex<Vec<(String, String)>>,
    next_id: AtomicU64,
}

impl Outbox {
    pub fn new(tx: mpsc::Sender<Wire>) -> Outbox {
        Outbox {
            tx,
            subs: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0),
        }
    }

    fn subs(&self) -> std::sync::MutexGuard<'_, Vec<(String, String)>> {
        self.subs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds subscription `id` to `dest`; false if the id is taken.
    pub fn subscribe(&self, id: &str, dest: &str) -> bool {
        let mut subs = self.subs();
        if subs.iter().any(|(i, _)| i == id) {
            return false;
        }
        subs.push((id.to_string(), dest.to_string()));
        true
    }

    /// Removes subscription `id`; false if there is none.
    pub fn unsubscribe(&self, id: &str) -> bool {
        let mut subs = self.subs();
        let before = subs.len();
        subs.retain(|(i, _)| i != id);
        subs.len() != before
    }

    /// A MESSAGE of `body` for every subscription to `dest` (none if
    /// nobody subscribed: as a broker, the message is dropped).
    pub fn messages(&self, dest: &str, body: &[Part]) -> Vec<Wire> {
        let len = body.iter().map(|p| p.bytes().len()).sum();
        let subs: Vec<String> = self
            .subs()
            .iter()
            .filter(|(_, d)| d == dest)
            .map(|(i, _)| i.clone())
            .collect();
        subs.into_iter()
            .map(|sub| {
                let n = self.next_id.fetch_add(1, Ordering::Relaxed);
                let head = Frame::new(Command::Message)
                    .header("destination", dest)
                    .header("subscription", sub)
                    .header("message-id", n.to_string())
                    .header("content-type", "application/json")
                    .encode_head(len);
                let mut parts = Vec::with_capacity(body.len() + 2);
                parts.push(Part::Owned(head));
                parts.extend(body.iter().cloned());
                parts.push(Part::Owned(vec![0]));
                Wire::Frame(parts)
            })
            .collect()
    }
}

/// An [`Out`] (answer or notification) as body parts.
pub(crate) fn parts(out: Out) -> Vec<Part> {
    match out {
        Out::Line(l) => vec![Part::Owned(l)],
        Out::Framed { head, body } => vec![
            Part::Owned(head),
            Part::Shared(body),
            Part::Owned(b"}".to_vec()),
        ],
    }
}

/// Who is asking, and through what.
pub(crate) struct Caller {
    pub server: Arc<Server>,
    pub policy: Arc<dyn Policy>,
    pub who: Identity,
    /// Notifications of `Host.subscribe`, for `jms.queue.events`.
    pub events: mpsc::Sender<Out>,
}

/// The answer to a SEND's body (a request or a batch); `None` when it
/// holds only notifications.
pub(crate) async fn answer(caller: &Caller, body: &[u8]) -> Option<Vec<Part>> {
    let trimmed = body.trim_ascii_start();
    if trimmed.first() == Some(&b'[') {
        if let Ok(batch) = serde_json::from_slice::<Vec<Box<RawValue>>>(trimmed) {
            return answer_batch(caller, batch).await;
        }
    }
    one(caller, body).await.map(parts)
}

async fn answer_batch(caller: &Caller, batch: Vec<Box<RawValue>>) -> Option<Vec<Part>> {
    if batch.is_empty() {
        let e = RpcError::new(codes::INVALID_REQUEST, "an empty batch");
        return Some(vec![Part::Owned(rpc::error_line(&None, &e))]);
    }
    let mut out = vec![Part::Owned(b"[".to_vec())];
    let mut any = false;
    for request in batch {
        if let Some(answer) = one(caller, request.get().as_bytes()).await {
            if any {
                out.push(Part::Owned(b",".to_vec()));
            }
            out.extend(parts(answer));
            any = true;
        }
    }
    out.push(Part::Owned(b"]".to_vec()));
    any.then_some(out)
}

/// One request through the registry. `Host.setupNetworks` answers as VDSM
/// does over this wire: `{"code": 0, "message": "Done"}`.
async fn one(caller: &Caller, bytes: &[u8]) -> Option<Out> {
    let request = match rpc::parse(bytes) {
        Ok(r) => r,
        Err(refused) => return Some(Out::Line(rpc::error_line(&refused.id, &refused.error))),
    };
    let call = Call {
        daemon: caller.server.daemon.clone(),
        params: request.params,
        out: caller.events.clone(),
        slot: None,
    };
    let mut result = caller
        .server
        .registry
        .dispatch(&*caller.policy, &caller.who, &request.method, call)
        .await;
    if request.method == "Host.setupNetworks" && result.is_ok() {
        result = Ok(Body::json(&json!({"code": 0, "message": "Done"})));
    }
    if let Err(e) = &result {
        tracing::debug!(method = %request.method, code = e.code, message = %e.message, "error");
    }
    rpc::answer(&request.id, result)
}
