//! Applies plan ops to the kernel over rtnetlink, many per `sendmsg`.
//!
//! [`apply`] encodes the whole plan first, one netlink request per op, each
//! asking for an ack (`NLM_F_REQUEST | NLM_F_ACK`, plus `NLM_F_CREATE |
//! NLM_F_EXCL` for creations) and carrying a sequence number that maps its
//! ack back to the op. Then the requests go out back to back in as few
//! `sendmsg` calls as the socket buffers allow (one for any plan up to
//! about ten thousand ops or 2 MiB), and the acks come back through
//! `recvmmsg`, up to 1024 per call.
//!
//! - **Failures.** The kernel runs every request of one `sendmsg` in order
//!   and goes on after a failed one, so an [`Applied`] lists as `done` every
//!   op acked OK, also those behind the first failure in the same
//!   `sendmsg`; after a `sendmsg` with a failure nothing more is sent. An
//!   op that cannot even be encoded (it names a device that neither the
//!   host nor an earlier op provides, an option that does not parse) fails
//!   the plan before anything is sent.
//! - **Indexes.** Netlink names links by index, and a link created earlier
//!   in the same batch has none yet. So each created link asks for one
//!   (`ifi_index` = the highest index known + 1), which the kernel honours;
//!   a name -> index map walked op by op resolves masters, VLAN parents and
//!   the devices of addresses and routes. The snapshot must be fresh: a
//!   link created by someone else since then may take a chosen index
//!   (`EBUSY`), and existing links are addressed by their snapshot index.
//! - **Options.** Bridge options by sysfs name ([`BRIDGE_OPTIONS`]); bond
//!   options typed (`netswitch_model::bondopts::BondOptions`, canonical and
//!   checked when the op was made), never re-parsed here.
//!   Changing a bond's options is declarative (what is left out returns to
//!   its default) but sends only what differs from the bond's current
//!   values, since the kernel refuses some options on an up or enslaved
//!   bond even when they do not change.
//!
//! Nothing here reads the host: the caller passes the snapshot the plan was
//! made from (`netswitch-netinfo`). Everything happens in the calling
//! thread's network namespace, and needs `CAP_NET_ADMIN` there.

#![warn(missing_docs)]

mod bond;
mod bridge;
mod devices;
mod encode;
pub mod macguard;
mod socket;

use std::fmt;
use std::ops::Range;
use std::time::Instant;

use netswitch_model::host::HostState;
use netswitch_model::plan::{KernelOp, Op};

pub use bridge::BRIDGE_OPTIONS;

use socket::{Ack, NlSocket};

/// What applying a plan did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Applied {
    /// Indexes of the ops the kernel acknowledged as done, ascending. After
    /// a failure this may include ops behind the failed one that went out
    /// in the same `sendmsg` (the kernel does not stop at a failure).
    pub done: Vec<usize>,
    /// The first op that failed, if any; ops after its `sendmsg` were not
    /// sent. `None` means every op is in `done`.
    pub failure: Option<OpFailure>,
    /// Counts of the netlink traffic.
    pub stats: ApplyStats,
}

impl Applied {
    /// Every op was done.
    pub fn is_complete(&self) -> bool {
        self.failure.is_none()
    }
}

/// The op that failed and why.
#[derive(Debug, Clone, PartialEq)]
pub struct OpFailure {
    /// Its index in the plan.
    pub index: usize,
    /// The op itself, as a plan op (what the engine reports and undoes).
    pub op: Op,
    /// The errno: the kernel's, or the one the kernel would have given
    /// (`ENODEV` for a device the plan names but nothing provides, `EINVAL`
    /// for an option that does not parse), or the socket's.
    pub errno: i32,
    /// The op, `strerror(errno)` and the kernel's own explanation when it
    /// gave one (extended ack).
    pub message: String,
}

impl fmt::Display for OpFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op {}: {}", self.index, self.message)
    }
}

impl std::error::Error for OpFailure {}

/// Counts of one [`apply`]'s netlink traffic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyStats {
    /// Requests sent.
    pub messages: usize,
    /// Their bytes.
    pub bytes: usize,
    /// `sendmsg` calls (batches) made.
    pub sendmsg_calls: usize,
    /// `recvmmsg` calls made to collect the acks.
    pub recv_calls: usize,
}

/// A failure of the netlink socket itself, not of an op. [`apply`] reports
/// it as the [`OpFailure`] of the first op it could not get an answer for.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// No `NETLINK_ROUTE` socket (out of descriptors, or no netlink).
    #[error("cannot open a netlink route socket")]
    Open(#[source] std::io::Error),
    /// A socket option the batching relies on was refused.
    #[error("cannot set {what} on the netlink socket")]
    Setup {
        /// The option.
        what: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `sendmsg` failed: nothing of that batch was done.
    #[error("cannot send a batch of netlink requests")]
    Send(#[source] std::io::Error),
    /// Reading the acks failed (`ENOBUFS`: the kernel dropped some, the
    /// socket's receive buffer overflowed; `EAGAIN`: none came in time).
    /// The ops without an ack may or may not have been done.
    #[error("cannot read the kernel's acks")]
    Recv(#[source] std::io::Error),
}

impl KernelError {
    /// The errno behind it.
    pub fn errno(&self) -> i32 {
        let io = match self {
            Self::Open(e) | Self::Send(e) | Self::Recv(e) => e,
            Self::Setup { source, .. } => source,
        };
        io.raw_os_error().unwrap_or(libc::EIO)
    }
}

/// Knobs of [`apply_with`]; the defaults are what [`apply`] uses.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// At most this many requests per `sendmsg` (default: what the receive
    /// buffer holds acks for, thousands).
    pub max_batch_messages: Option<usize>,
    /// At most this many bytes per `sendmsg` (default: the send buffer,
    /// up to 2 MiB).
    pub max_batch_bytes: Option<usize>,
}

/// Checks that a netlink route socket can be opened and tuned here.
pub fn open_check() -> Result<(), KernelError> {
    NlSocket::open().map(drop)
}

/// Applies `ops` to the calling thread's network namespace, `host` being
/// the snapshot they were planned from. Blocking.
///
/// An op that cannot be encoded (it names a device neither the host nor an
/// earlier op provides, or an option that does not parse) fails the plan
/// before anything is sent: `done` is empty. Socket failures become the
/// failure of the first op without an ack.
pub fn apply(host: &HostState, ops: &[KernelOp]) -> Applied {
    apply_with(host, ops, &ApplyOptions::default())
}

/// [`apply`] with smaller batches (tests; a caller that wants to bound how
/// much runs past a failure).
pub fn apply_with(host: &HostState, ops: &[KernelOp], options: &ApplyOptions) -> Applied {
    let started = Instant::now();
    let mut applied = Applied::default();
    if ops.is_empty() {
        return applied;
    }
    const FIRST_SEQ: u32 = 1;
    let batch = match encode::encode_plan(host, ops, FIRST_SEQ) {
        Ok(b) => b,
        Err((index, e)) => {
            applied.failure = Some(failure(ops, index, e.errno, &e.message));
            log_result(&applied, started);
            return applied;
        }
    };
    let mut sock = match NlSocket::open() {
        Ok(s) => s,
        Err(e) => {
            applied.failure = Some(failure(ops, 0, e.errno(), &error_chain(&e)));
            log_result(&applied, started);
            return applied;
        }
    };
    let mut limits = sock.limits;
    if let Some(n) = options.max_batch_messages {
        limits.messages = limits.messages.min(n.max(1));
    }
    if let Some(n) = options.max_batch_bytes {
        limits.bytes = limits.bytes.min(n.max(1));
    }

    for chunk in chunks(&batch.spans, limits.bytes, limits.messages) {
        let bytes = batch.spans[chunk.start].start..batch.spans[chunk.end - 1].end;
        if let Err(e) = sock.send(&batch.bytes[bytes]) {
            applied.failure = Some(failure(ops, chunk.start, e.errno(), &error_chain(&e)));
            break;
        }
        applied.stats.messages += chunk.len();
        let mut acks: Vec<Option<Ack>> = vec![None; chunk.len()];
        let received = sock.recv_acks(chunk.len(), |ack| {
            let Some(i) = ack
                .seq
                .checked_sub(batch.first_seq)
                .map(|d| d as usize)
                .filter(|i| chunk.contains(i))
            else {
                tracing::debug!(seq = ack.seq, "ack for no request of this batch");
                return false;
            };
            let slot = &mut acks[i - chunk.start];
            let first = slot.is_none();
            *slot = Some(ack);
            first
        });
        for (i, ack) in chunk.clone().zip(acks) {
            match ack {
                Some(ack) if ack.errno == 0 => {
                    if let Some(text) = &ack.text {
                        tracing::warn!(op = %ops[i], index = i, kernel = %text, "kernel warning");
                    }
                    applied.done.push(i);
                }
                Some(ack) => {
                    if applied.failure.is_none() {
                        let message = kernel_message(&ops[i], &ack);
                        applied.failure = Some(OpFailure {
                            index: i,
                            op: Op::from(ops[i].clone()),
                            errno: ack.errno,
                            message,
                        });
                    }
                }
                None => {
                    if applied.failure.is_none() {
                        let (errno, why) = match &received {
                            Err(e) => (e.errno(), error_chain(e)),
                            Ok(()) => (libc::EIO, "no ack came for it".to_string()),
                        };
                        applied.failure = Some(failure(
                            ops,
                            i,
                            errno,
                            &format!("{why}; it may or may not have been done"),
                        ));
                    }
                }
            }
        }
        tracing::debug!(
            ops = chunk.len(),
            first = chunk.start,
            failed = applied.failure.is_some(),
            "netlink batch"
        );
        if applied.failure.is_some() {
            break;
        }
    }
    applied.stats.bytes = sock.counters.bytes;
    applied.stats.sendmsg_calls = sock.counters.sendmsg;
    applied.stats.recv_calls = sock.counters.recvmmsg;
    log_result(&applied, started);
    applied
}

/// Splits the messages into runs for one `sendmsg` each: as many whole
/// messages as fit both limits (a message bigger than `max_bytes` alone).
fn chunks(spans: &[Range<usize>], max_bytes: usize, max_messages: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < spans.len() {
        let mut end = start + 1;
        while end < spans.len()
            && end - start < max_messages
            && spans[end].end - spans[start].start <= max_bytes
        {
            end += 1;
        }
        out.push(start..end);
        start = end;
    }
    out
}

fn failure(ops: &[KernelOp], index: usize, errno: i32, why: &str) -> OpFailure {
    OpFailure {
        index,
        op: Op::from(ops[index].clone()),
        errno,
        message: format!("{}: {why}", ops[index]),
    }
}

/// `strerror` without the "(os error N)" std adds.
fn strerror(errno: i32) -> String {
    let s = std::io::Error::from_raw_os_error(errno).to_string();
    match s.rfind(" (os error") {
        Some(at) => s[..at].to_string(),
        None => s,
    }
}

fn kernel_message(op: &KernelOp, ack: &Ack) -> String {
    let mut m = format!("{op}: {} (errno {})", strerror(ack.errno), ack.errno);
    if let Some(text) = &ack.text {
        m.push_str(&format!("; kernel: {text}"));
    }
    if let Some(t) = ack.missing {
        m.push_str(&format!("; missing attribute type {t}"));
    }
    if let Some(off) = ack.offset {
        m.push_str(&format!(" (at byte {off} of the request)"));
    }
    m
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

fn log_result(applied: &Applied, started: Instant) {
    let elapsed_us = started.elapsed().as_micros() as u64;
    match &applied.failure {
        None => tracing::info!(
            done = applied.done.len(),
            messages = applied.stats.messages,
            bytes = applied.stats.bytes,
            sendmsg_calls = applied.stats.sendmsg_calls,
            recv_calls = applied.stats.recv_calls,
            elapsed_us,
            "plan applied"
        ),
        Some(f) => tracing::info!(
            done = applied.done.len(),
            failed = f.index,
            errno = f.errno,
            error = %f.message,
            sendmsg_calls = applied.stats.sendmsg_calls,
            elapsed_us,
            "plan failed"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(sizes: &[usize]) -> Vec<Range<usize>> {
        let mut at = 0;
        sizes
            .iter()
            .map(|s| {
                let r = at..at + s;
                at += s;
                r
            })
            .collect()
    }

    #[test]
    fn chunks_cut_at_message_boundaries_under_both_limits() {
        let s = spans(&[40, 40, 40, 40, 40]);
        assert_eq!(chunks(&s, 1000, 1000), vec![0..5]);
        assert_eq!(chunks(&s, 100, 1000), vec![0..2, 2..4, 4..5]);
        assert_eq!(chunks(&s, 1000, 2), vec![0..2, 2..4, 4..5]);
        // A message larger than the limit goes alone.
        let s = spans(&[40, 400, 40]);
        assert_eq!(chunks(&s, 100, 10), vec![0..1, 1..2, 2..3]);
        assert!(chunks(&[], 100, 10).is_empty());
    }

    #[test]
    fn messages_name_the_op_the_errno_and_the_kernels_text() {
        let op = KernelOp::SetUp { link: "br0".into() };
        let m = kernel_message(
            &op,
            &Ack {
                seq: 1,
                errno: libc::EEXIST,
                text: Some("boom".into()),
                offset: None,
                missing: None,
            },
        );
        assert_eq!(m, "set br0 up: File exists (errno 17); kernel: boom");
    }

    #[test]
    fn a_plan_that_cannot_be_encoded_sends_nothing() {
        let ops = vec![
            KernelOp::SetUp {
                link: "lo_nope".into(),
            },
            KernelOp::SetUp { link: "x".into() },
        ];
        let a = apply(&HostState::default(), &ops);
        assert!(a.done.is_empty());
        let f = a.failure.unwrap();
        assert_eq!((f.index, f.errno), (0, libc::ENODEV));
        assert!(f.message.starts_with("set lo_nope up: "), "{}", f.message);
        assert_eq!(a.stats.sendmsg_calls, 0);
    }
}
