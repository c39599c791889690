//! One netlink dump: send the request, collect the replies, notice when the
//! kernel says the host changed under the dump and start it again.
//!
//! Two transports: [`dump`] over an rtnetlink connection (the async
//! [`crate::snapshot_with`]), and [`RawSocket`], a blocking socket whose
//! replies are parsed in place from its receive buffer (the fast
//! [`crate::snapshot`]).

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Instant;

use futures::StreamExt;
use netlink_packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;

use nix::libc;

use crate::{wire, NetinfoError};

/// How often a dump the kernel flagged `NLM_F_DUMP_INTR` is started again
/// before its (possibly inconsistent) result is taken as it is.
const ATTEMPTS: u32 = 3;

/// Which of the snapshot's dumps an error comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpKind {
    /// `RTM_GETLINK`, all families.
    Links,
    /// `RTM_GETADDR`, all families.
    Addresses,
    /// `RTM_GETROUTE`, IPv4, all tables.
    Routes4,
    /// `RTM_GETROUTE`, IPv6, all tables.
    Routes6,
    /// `RTM_GETRULE`, IPv4.
    Rules4,
    /// `RTM_GETRULE`, IPv6.
    Rules6,
}

impl fmt::Display for DumpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Links => "link",
            Self::Addresses => "address",
            Self::Routes4 => "IPv4 route",
            Self::Routes6 => "IPv6 route",
            Self::Rules4 => "IPv4 rule",
            Self::Rules6 => "IPv6 rule",
        })
    }
}

/// Runs one dump and keeps the replies `pick` accepts.
pub(crate) async fn dump<T>(
    handle: &rtnetlink::Handle,
    kind: DumpKind,
    request: RouteNetlinkMessage,
    mut pick: impl FnMut(RouteNetlinkMessage) -> Option<T>,
) -> Result<Vec<T>, NetinfoError> {
    let fail = |source| NetinfoError::Dump { kind, source };
    let mut attempt = 1;
    loop {
        let started = Instant::now();
        let mut req = NetlinkMessage::from(request.clone());
        req.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        let mut replies = handle.clone().request(req).map_err(fail)?;

        let mut out = Vec::new();
        let mut interrupted = false;
        while let Some(msg) = replies.next().await {
            interrupted |= msg.header.flags & NLM_F_DUMP_INTR != 0;
            if matches!(msg.payload, NetlinkPayload::Overrun(_)) {
                return Err(fail(rtnetlink::Error::UnexpectedMessage(msg)));
            }
            match msg.payload {
                NetlinkPayload::InnerMessage(inner) => out.extend(pick(inner)),
                NetlinkPayload::Error(err) if err.code.is_some() => {
                    return Err(fail(rtnetlink::Error::NetlinkError(err)));
                }
                _ => {}
            }
        }

        tracing::debug!(
            dump = %kind,
            count = out.len(),
            elapsed_us = started.elapsed().as_micros() as u64,
            interrupted,
            attempt,
            "netlink dump"
        );
        if take_or_retry(kind, interrupted, &mut attempt) {
            return Ok(out);
        }
    }
}

/// After one dump: whether to take its result (it was whole, or it was the
/// last attempt, which is taken as it is), else counts the next attempt.
fn take_or_retry(kind: DumpKind, interrupted: bool, attempt: &mut u32) -> bool {
    if !interrupted {
        return true;
    }
    if *attempt == ATTEMPTS {
        tracing::warn!(dump = %kind, attempts = ATTEMPTS, "dump kept being interrupted by changes; using the last one");
        return true;
    }
    *attempt += 1;
    false
}

/// How long a blocking dump waits for the kernel's next reply before it
/// gives up (a lost reply must not hang the caller).
const RECV_TIMEOUT_SECS: libc::time_t = 10;
/// `NLMSG_ERROR`, `NLMSG_DONE`, `NLMSG_OVERRUN` from `<linux/netlink.h>`.
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_OVERRUN: u16 = 4;
/// `sizeof(struct nlmsghdr)`.
const NLMSG_HDRLEN: usize = 16;
/// A dump's datagrams are at most 32 KiB (the kernel caps its dump
/// buffers there); twice that leaves room to spare.
const RECV_BUF: usize = 1 << 16;

/// A blocking netlink socket that runs one request at a time and hands
/// each reply's bytes to a parser as they arrive, with no copy and no
/// intermediate message type.
///
/// This is the snapshot's transport: no runtime, no channel, no per-message
/// allocation. It belongs to the network namespace of the thread that
/// opened it.
pub(crate) struct RawSocket {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
    /// Time spent in `recv` during the last request: the kernel filling
    /// the dump, as opposed to parsing it.
    recv_time: std::time::Duration,
}

impl RawSocket {
    /// Opens and binds a netlink socket of `protocol` (`NETLINK_ROUTE`,
    /// `NETLINK_GENERIC`) with a receive timeout.
    pub(crate) fn open(protocol: libc::c_int) -> io::Result<Self> {
        // SAFETY: plain socket(2); the result is checked before use.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                protocol,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: an all-zero sockaddr_nl is valid; family set below, pid 0
        // lets the kernel pick the port.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: bind with a live sockaddr_nl of the size passed.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let tv = libc::timeval {
            tv_sec: RECV_TIMEOUT_SECS,
            tv_usec: 0,
        };
        // SAFETY: setsockopt with a live timeval of the size passed.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            fd,
            seq: 0,
            buf: vec![0; RECV_BUF],
            recv_time: std::time::Duration::ZERO,
        })
    }

    /// Runs one dump of `msg_type` with `body` (the family header and any
    /// attributes) and keeps what `parse` makes of each reply's payload
    /// (the bytes after `nlmsghdr`, with the message type). A dump the
    /// kernel flags `NLM_F_DUMP_INTR` is run again, as [`dump`] does.
    pub(crate) fn dump<T>(
        &mut self,
        kind: DumpKind,
        msg_type: u16,
        body: &[u8],
        mut parse: impl FnMut(u16, &[u8]) -> Option<T>,
    ) -> Result<Vec<T>, NetinfoError> {
        let mut attempt = 1;
        loop {
            let started = Instant::now();
            let mut out = Vec::new();
            let interrupted = self
                .request(msg_type, NLM_F_DUMP, body, |t, p| out.extend(parse(t, p)))
                .map_err(|source| NetinfoError::DumpIo { kind, source })?;
            tracing::debug!(
                dump = %kind,
                count = out.len(),
                elapsed_us = started.elapsed().as_micros() as u64,
                in_kernel_us = self.recv_time.as_micros() as u64,
                interrupted,
                attempt,
                "netlink dump"
            );
            if take_or_retry(kind, interrupted, &mut attempt) {
                return Ok(out);
            }
        }
    }

    /// Sends one request (`NLM_F_REQUEST | extra_flags`) and feeds each
    /// reply of its sequence number to `each` until the end: `NLMSG_DONE`
    /// for a dump, the first reply otherwise. Returns whether any reply
    /// carried `NLM_F_DUMP_INTR`. The kernel's refusal (`NLMSG_ERROR` or a
    /// negative `NLMSG_DONE`) comes back as its errno.
    pub(crate) fn request(
        &mut self,
        msg_type: u16,
        extra_flags: u16,
        body: &[u8],
        mut each: impl FnMut(u16, &[u8]),
    ) -> io::Result<bool> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let len = NLMSG_HDRLEN + body.len();
        let mut req = Vec::with_capacity(len);
        req.extend((len as u32).to_ne_bytes());
        req.extend(msg_type.to_ne_bytes());
        req.extend((NLM_F_REQUEST | extra_flags).to_ne_bytes());
        req.extend(seq.to_ne_bytes());
        req.extend(0u32.to_ne_bytes());
        req.extend_from_slice(body);
        // SAFETY: send from a live buffer of the length passed.
        let rc = unsafe { libc::send(self.fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let dump = extra_flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut interrupted = false;
        self.recv_time = std::time::Duration::ZERO;
        loop {
            let waited = Instant::now();
            // SAFETY: recv into our own buffer, bounded by its length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            self.recv_time += waited.elapsed();
            let n = n as usize;
            if n > self.buf.len() {
                return Err(io::Error::other("netlink reply larger than the buffer"));
            }
            let mut data = &self.buf[..n];
            while data.len() >= NLMSG_HDRLEN {
                let len = wire::u32_at(data, 0) as usize;
                if len < NLMSG_HDRLEN || len > data.len() {
                    break;
                }
                let kind = u16::from_ne_bytes([data[4], data[5]]);
                let flags = u16::from_ne_bytes([data[6], data[7]]);
                let their_seq = wire::u32_at(data, 8);
                let payload = &data[NLMSG_HDRLEN..len];
                data = &data[wire::align(len).min(data.len())..];
                if their_seq != seq {
                    continue;
                }
                interrupted |= flags & NLM_F_DUMP_INTR != 0;
                match kind {
                    NLMSG_DONE | NLMSG_ERROR => {
                        // Both start with an int: 0, or a negative errno.
                        let code = wire::u32_at(payload, 0) as i32;
                        if code < 0 {
                            return Err(io::Error::from_raw_os_error(-code));
                        }
                        return Ok(interrupted);
                    }
                    NLMSG_OVERRUN => return Err(io::Error::other("netlink overrun")),
                    _ => {
                        each(kind, payload);
                        if !dump {
                            return Ok(interrupted);
                        }
                    }
                }
            }
        }
    }
}
