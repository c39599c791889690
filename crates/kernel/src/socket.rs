//! The raw `NETLINK_ROUTE` socket a plan goes out on, and its acks coming
//! back.
//!
//! The kernel handles every message of one `sendmsg` inside that call, in
//! order, queueing one `NLMSG_ERROR` ack per message on this socket, and
//! drops acks (flagging `ENOBUFS`) once the receive buffer is full. So the
//! receive buffer is raised first (`SO_RCVBUFFORCE`; this needs
//! `CAP_NET_ADMIN`, as every op does) and a batch never holds more messages
//! than their acks can fill ([`Limits`]). Acks are read with `recvmmsg`,
//! hundreds per call. `NETLINK_CAP_ACK` keeps the requests out of the acks
//! and `NETLINK_EXT_ACK` puts the kernel's error text in. The socket, its
//! `recvmmsg` and the ack reader are `netswitch-netlink`'s, shared with
//! netinfo and DHCP; this file keeps the configurator's sizing.

use std::ops::ControlFlow;
use std::time::Duration;

use netswitch_netlink::{parse_acks, Socket, NETLINK_ROUTE};

use crate::KernelError;

/// One `NLMSG_ERROR` from the kernel (the shared reader's).
pub(crate) use netswitch_netlink::Ack;

/// Receive buffer asked for (the kernel doubles it for bookkeeping).
const RCVBUF: usize = 8 << 20;
/// Send buffer asked for; a batch's bytes must fit in it.
const SNDBUF: usize = 4 << 20;
/// The most bytes one `sendmsg` carries, whatever the buffer.
const MAX_BATCH_BYTES: usize = 2 << 20;
/// What one queued ack costs the receive buffer (its skb's truesize; about
/// 768 bytes measured on 6.1, 832 on 6.18, a little more with an error text)
/// with a margin.
const ACK_COST: usize = 1536;
/// Receive slots per `recvmmsg`, and the size of each: an ack is 36 bytes,
/// with an extended-ack text a few hundred at most.
const SLOTS: usize = 1024;
const SLOT_BYTES: usize = 512;
/// How long to wait for an ack the kernel owes us before giving up.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// How big one `sendmsg` may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub bytes: usize,
    pub messages: usize,
}

/// What a socket did, for [`crate::ApplyStats`].
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counters {
    pub sendmsg: usize,
    pub recvmmsg: usize,
    pub bytes: usize,
}

/// The configurator's socket: the shared netlink socket, tuned for
/// batches of ops and their acks.
pub(crate) struct NlSocket {
    sock: Socket,
    pub limits: Limits,
    pub counters: Counters,
}

impl NlSocket {
    /// Opens and tunes the socket in the calling thread's namespace.
    pub(crate) fn open() -> Result<Self, KernelError> {
        let mut sock = Socket::open(NETLINK_ROUTE).map_err(KernelError::Open)?;
        let setup = |what: &'static str| move |source| KernelError::Setup { what, source };
        sock.set_ext_ack(true).map_err(setup("NETLINK_EXT_ACK"))?;
        sock.set_cap_ack(true).map_err(setup("NETLINK_CAP_ACK"))?;
        let rcvbuf = sock.grow_rcvbuf(RCVBUF).map_err(setup("SO_RCVBUF"))?;
        let sndbuf = sock.grow_sndbuf(SNDBUF).map_err(setup("SO_SNDBUF"))?;
        sock.set_timeout(ACK_TIMEOUT)
            .map_err(setup("SO_RCVTIMEO"))?;
        sock.set_slot_bytes(SLOT_BYTES);
        let limits = Limits {
            // The kernel refuses a message longer than the send buffer
            // less 32 bytes.
            bytes: sndbuf.saturating_sub(64).clamp(4096, MAX_BATCH_BYTES),
            messages: (rcvbuf / ACK_COST).max(16),
        };
        tracing::trace!(rcvbuf, sndbuf, ?limits, "netlink socket open");
        Ok(Self {
            sock,
            limits,
            counters: Counters::default(),
        })
    }

    /// One `sendmsg` with a batch of whole messages.
    pub(crate) fn send(&mut self, bytes: &[u8]) -> Result<(), KernelError> {
        let result = self.sock.send(bytes).map_err(KernelError::Send);
        self.counters.sendmsg = self.sock.counters.sendmsg;
        self.counters.bytes = self.sock.counters.bytes;
        result
    }

    /// Reads acks until `expected` of them have been taken (`take`
    /// returns whether an ack was one it waited for). Stops early with an
    /// error when the kernel reports it dropped acks (`ENOBUFS`) or none
    /// come within the timeout; acks read before that have been taken.
    /// A datagram longer than a slot is cut, which only loses ack TLVs.
    pub(crate) fn recv_acks(
        &mut self,
        expected: usize,
        mut take: impl FnMut(Ack) -> bool,
    ) -> Result<(), KernelError> {
        let mut remaining = expected;
        while remaining > 0 {
            let got = self
                .sock
                .recv_batch(remaining.min(SLOTS), 0, |datagram, _cut| {
                    for ack in parse_acks(datagram) {
                        if take(ack) {
                            remaining = remaining.saturating_sub(1);
                        }
                    }
                    ControlFlow::Continue(())
                });
            self.counters.recvmmsg = self.sock.counters.recvmmsg;
            got.map_err(KernelError::Recv)?;
        }
        Ok(())
    }
}
