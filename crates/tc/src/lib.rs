//! Traffic control over rtnetlink: the qdiscs, classes and filters of
//! host QoS, encoded by netswitch (no `tc` process), applied in batches,
//! and read back by dumps.
//!
//! - [`encode`]: a [`TcOp`] as the request `tc(8)` would send for it;
//! - [`decode`]: dump and notification messages as typed objects;
//! - [`apply`]: a run of ops, many per `sendmsg`, with the kernel's acks
//!   mapped back to the ops (the same contract as the kernel backend:
//!   `done` is what was acked, `failure` the first op refused);
//! - [`dump`]: the tc objects of the given devices.
//!
//! Sits on `netswitch-netlink`'s socket; works in the calling thread's
//! network namespace and needs `CAP_NET_ADMIN` there to change anything.

#![warn(missing_docs)]

pub mod consts;
pub mod decode;
pub mod encode;
pub mod macguard;
pub mod mirror;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::ops::ControlFlow;

use netswitch_model::tc::{Handle, TcOp, TcTree};
use netswitch_netlink::{parse_acks, Socket, NETLINK_ROUTE};

use consts::*;

/// At most this many requests per `sendmsg`: their acks (~36 bytes each,
/// capped) fit the receive buffer with room to spare.
const BATCH: usize = 1024;

/// What a run of ops did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TcApplied {
    /// Indexes of the ops acked OK, ascending.
    pub done: Vec<usize>,
    /// The first op that failed.
    pub failure: Option<TcFailure>,
    /// Requests sent.
    pub messages: usize,
    /// `sendmsg` calls.
    pub sendmsg_calls: usize,
}

/// The op that failed and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcFailure {
    /// Its index in the run.
    pub index: usize,
    /// The errno (the kernel's, `ENODEV` for an unknown device, or the
    /// socket's).
    pub errno: i32,
    /// The op, `strerror`, and the kernel's explanation when it gave one.
    pub message: String,
}

/// Errors of reading tc state.
#[derive(Debug, thiserror::Error)]
pub enum TcError {
    /// The netlink socket or a dump failed.
    #[error("reading traffic control of {what}")]
    Dump {
        /// What was dumped.
        what: String,
        /// Why.
        #[source]
        source: io::Error,
    },
}

fn strerror(errno: i32) -> String {
    io::Error::from_raw_os_error(errno).to_string()
}

/// Applies `ops` in order; `index_of` gives a device's ifindex.
pub fn apply(ops: &[TcOp], index_of: &dyn Fn(&str) -> Option<i32>) -> TcApplied {
    let mut out = TcApplied::default();
    let mut reqs = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        match index_of(op.dev()) {
            Some(ix) => reqs.push(encode::encode(op, ix)),
            None => {
                out.failure = Some(TcFailure {
                    index: i,
                    errno: libc::ENODEV,
                    message: format!("{op}: no device {}", op.dev()),
                });
                return out;
            }
        }
    }
    let mut sock = match open() {
        Ok(s) => s,
        Err(e) => {
            out.failure = ops.first().map(|op| socket_failure(0, op, &e));
            return out;
        }
    };
    let mut start = 0;
    while start < reqs.len() && out.failure.is_none() {
        let end = (start + BATCH).min(reqs.len());
        if let Err((i, e)) = run_batch(&mut sock, ops, &reqs, start..end, &mut out) {
            out.failure = Some(socket_failure(i, &ops[i], &e));
        }
        start = end;
    }
    out.done.sort_unstable();
    tracing::debug!(
        ops = ops.len(),
        done = out.done.len(),
        failed = out.failure.is_some(),
        "tc ops applied"
    );
    out
}

fn open() -> io::Result<Socket> {
    let sock = Socket::open(NETLINK_ROUTE)?;
    sock.set_ext_ack(true)?;
    sock.set_cap_ack(true)?;
    sock.grow_rcvbuf(4 << 20)?;
    sock.grow_sndbuf(4 << 20)?;
    Ok(sock)
}

fn socket_failure(index: usize, op: &TcOp, e: &io::Error) -> TcFailure {
    TcFailure {
        index,
        errno: e.raw_os_error().unwrap_or(libc::EIO),
        message: format!("{op}: {e}"),
    }
}

/// Sends `reqs[range]` in one `sendmsg` and reads their acks.
fn run_batch(
    sock: &mut Socket,
    ops: &[TcOp],
    reqs: &[encode::Request],
    range: std::ops::Range<usize>,
    out: &mut TcApplied,
) -> Result<(), (usize, io::Error)> {
    let mut batch = Vec::new();
    let mut by_seq = HashMap::with_capacity(range.len());
    for i in range.clone() {
        let seq = sock.next_seq();
        by_seq.insert(seq, i);
        let r = &reqs[i];
        netswitch_netlink::push_message(&mut batch, r.kind, r.flags, seq, &r.body);
    }
    sock.send(&batch).map_err(|e| (range.start, e))?;
    out.messages += range.len();
    out.sendmsg_calls += 1;
    while !by_seq.is_empty() {
        let pending = by_seq.values().min().copied().unwrap_or(range.start);
        sock.recv_batch(64, 0, |datagram, _cut| {
            for ack in parse_acks(datagram) {
                let Some(i) = by_seq.remove(&ack.seq) else {
                    continue;
                };
                if ack.errno == 0 {
                    out.done.push(i);
                } else if out.failure.as_ref().is_none_or(|f| f.index > i) {
                    let mut message = format!("{}: {}", ops[i], strerror(ack.errno));
                    if let Some(t) = &ack.text {
                        message.push_str(&format!(" ({t})"));
                    }
                    out.failure = Some(TcFailure {
                        index: i,
                        errno: ack.errno,
                        message,
                    });
                }
            }
            ControlFlow::Continue(())
        })
        .map_err(|e| (pending, e))?;
    }
    Ok(())
}

/// The tc objects of `devs` (name -> ifindex): every qdisc, and the
/// classes and filters of an hfsc root (what host QoS makes). A device
/// without any qdisc of its own is left out.
pub fn dump(devs: &BTreeMap<String, i32>) -> Result<BTreeMap<String, TcTree>, TcError> {
    let err = |what: &str| {
        let what = what.to_string();
        move |source| TcError::Dump { what, source }
    };
    let mut sock = Socket::open(NETLINK_ROUTE).map_err(err("a socket"))?;
    let by_index: HashMap<i32, &str> = devs.iter().map(|(n, i)| (*i, n.as_str())).collect();
    let body = encode::tcmsg(0, 0, 0, 0);
    let qdiscs = sock
        .dump(&"qdiscs", RTM_GETQDISC, &body, |m| {
            let (hdr, _) = decode::split(m.payload)?;
            decode::qdisc(m.payload, by_index.get(&hdr.ifindex)?)
        })
        .map_err(err("qdiscs"))?;
    let mut out: BTreeMap<String, TcTree> = BTreeMap::new();
    for q in qdiscs.into_iter().filter(|q| q.handle.0 != 0) {
        out.entry(q.dev.clone()).or_default().qdiscs.push(q);
    }
    for (dev, tree) in out.iter_mut() {
        let Some(root) = tree.qdiscs.iter().find(|q| q.parent == Handle::ROOT) else {
            continue;
        };
        let (root, ix) = (root.handle, devs[dev]);
        let body = encode::tcmsg(ix, 0, 0, 0);
        tree.classes = sock
            .dump(&dev, RTM_GETTCLASS, &body, |m| {
                decode::class(m.payload, dev)
            })
            .map_err(err(dev))?;
        let body = encode::tcmsg(ix, 0, root.0, 0);
        let mut filters = sock
            .dump(&dev, RTM_GETTFILTER, &body, |m| {
                decode::filter(m.payload, dev)
            })
            .map_err(err(dev))?;
        filters.dedup_by(|a, b| a.parent == b.parent && a.prio == b.prio);
        tree.filters = filters;
    }
    Ok(out)
}
