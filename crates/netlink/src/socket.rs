//! The blocking netlink socket every netlink user of the workspace opens.
//!
//! Sending: one `sendto` carries a whole batch of messages; the kernel
//! handles each in order inside that call and queues its replies (an ack
//! per message when asked). Receiving: `recvmmsg` with `MSG_WAITFORONE`
//! takes every datagram already queued, up to the slots, in one call. A
//! dump's next part is filled by the kernel inside the `recvmsg` that took
//! the previous one, so one `recvmmsg` takes several parts of a dump too.

use std::fmt;
use std::io;
use std::ops::ControlFlow;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use crate::{messages, Message, NLMSG_DONE, NLMSG_ERROR, NLMSG_OVERRUN};
use crate::{NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST};

/// How long a blocking receive waits for the kernel's next reply before it
/// gives up (a lost reply must not hang the caller).
const RECV_TIMEOUT: Duration = Duration::from_secs(10);
/// Receive slots per `recvmmsg` and their size, for dumps: a dump's
/// datagrams are at most 32 KiB (the kernel caps its dump buffers there),
/// twice that leaves room to spare.
const DUMP_SLOTS: usize = 4;
const DUMP_SLOT_BYTES: usize = 1 << 16;
/// How often a dump the kernel flagged `NLM_F_DUMP_INTR` is started again
/// before its (possibly inconsistent) result is taken as it is.
const DUMP_ATTEMPTS: u32 = 3;
/// `SOL_NETLINK` options from `<linux/netlink.h>`.
const NETLINK_ADD_MEMBERSHIP: libc::c_int = 1;
const NETLINK_CAP_ACK: libc::c_int = 10;
const NETLINK_EXT_ACK: libc::c_int = 11;

/// What a socket did: system calls and bytes, and time spent waiting in
/// the kernel.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counters {
    /// `sendto` calls (one per batch).
    pub sendmsg: usize,
    /// `recvmmsg` calls.
    pub recvmmsg: usize,
    /// Bytes sent.
    pub bytes: usize,
    /// Time spent inside `recvmmsg`: the kernel filling dumps, as opposed
    /// to parsing them.
    pub recv_wait: Duration,
}

/// A bound netlink socket of one protocol, in the network namespace of the
/// thread that opened it, with its own receive slots.
pub struct Socket {
    fd: OwnedFd,
    seq: u32,
    slots: Vec<u8>,
    slot_bytes: usize,
    /// What this socket did so far.
    pub counters: Counters,
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Socket {
    /// Opens and binds (kernel-picked port) a netlink socket of `protocol`
    /// ([`crate::NETLINK_ROUTE`], [`crate::NETLINK_GENERIC`]) with a
    /// receive timeout and slots sized for dumps.
    pub fn open(protocol: libc::c_int) -> io::Result<Self> {
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
        let sock = Self {
            fd,
            seq: 0,
            slots: Vec::new(),
            slot_bytes: DUMP_SLOT_BYTES,
            counters: Counters::default(),
        };
        sock.set_timeout(RECV_TIMEOUT)?;
        Ok(sock)
    }

    /// Sets how long a blocking receive waits (`SO_RCVTIMEO`).
    pub fn set_timeout(&self, timeout: Duration) -> io::Result<()> {
        let tv = libc::timeval {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_usec: timeout.subsec_micros() as libc::suseconds_t,
        };
        setsockopt(self.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)
    }

    /// Sets the size of each receive slot: 64 KiB (a whole dump part) by
    /// default; an ack-only socket takes hundreds of small ones.
    pub fn set_slot_bytes(&mut self, bytes: usize) {
        self.slot_bytes = bytes.max(64);
        self.slots.clear();
    }

    /// Raises the receive buffer to `want` bytes (`SO_RCVBUFFORCE` with
    /// `CAP_NET_ADMIN`, else as far as `net.core.rmem_max` allows);
    /// returns what the kernel granted (doubled, as getsockopt says).
    pub fn grow_rcvbuf(&self, want: usize) -> io::Result<usize> {
        grow_buffer(
            self.as_raw_fd(),
            libc::SO_RCVBUFFORCE,
            libc::SO_RCVBUF,
            want,
        )
    }

    /// [`Socket::grow_rcvbuf`] for the send buffer, which bounds a batch.
    pub fn grow_sndbuf(&self, want: usize) -> io::Result<usize> {
        grow_buffer(
            self.as_raw_fd(),
            libc::SO_SNDBUFFORCE,
            libc::SO_SNDBUF,
            want,
        )
    }

    /// `NETLINK_EXT_ACK`: errors carry the kernel's text and the offset of
    /// the attribute at fault.
    pub fn set_ext_ack(&self, on: bool) -> io::Result<()> {
        setsockopt(
            self.as_raw_fd(),
            libc::SOL_NETLINK,
            NETLINK_EXT_ACK,
            &libc::c_int::from(on),
        )
    }

    /// `NETLINK_CAP_ACK`: acks do not echo the request's payload.
    pub fn set_cap_ack(&self, on: bool) -> io::Result<()> {
        setsockopt(
            self.as_raw_fd(),
            libc::SOL_NETLINK,
            NETLINK_CAP_ACK,
            &libc::c_int::from(on),
        )
    }

    /// Joins multicast group `group` (an `RTNLGRP_*` number).
    pub fn join_group(&self, group: u32) -> io::Result<()> {
        setsockopt(
            self.as_raw_fd(),
            libc::SOL_NETLINK,
            NETLINK_ADD_MEMBERSHIP,
            &group,
        )
    }

    /// The next sequence number for a request of this socket.
    pub fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Sends a batch of whole messages (see [`crate::push_message`]) to the
    /// kernel in one call.
    pub fn send(&mut self, batch: &[u8]) -> io::Result<()> {
        // SAFETY: an all-zero sockaddr_nl with the family set addresses the
        // kernel (pid 0).
        let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        let sent = loop {
            // SAFETY: send from a live buffer of the length passed, to a
            // live address of the size passed.
            let rc = unsafe {
                libc::sendto(
                    self.as_raw_fd(),
                    batch.as_ptr().cast(),
                    batch.len(),
                    0,
                    (&kernel as *const libc::sockaddr_nl).cast(),
                    std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
                )
            };
            if rc >= 0 {
                break rc as usize;
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        };
        self.counters.sendmsg += 1;
        self.counters.bytes += sent;
        if sent != batch.len() {
            return Err(io::Error::other(format!(
                "sent {sent} of {} bytes",
                batch.len()
            )));
        }
        Ok(())
    }

    /// One `recvmmsg` of up to `max` datagrams (at least one; with
    /// `MSG_DONTWAIT` in `flags`, none is an `EAGAIN` error). Each is
    /// handed to `each` with whether it was cut to the slot size; `each`
    /// may stop the walk (the rest of this call's datagrams are dropped).
    /// Returns how many datagrams were received.
    pub fn recv_batch(
        &mut self,
        max: usize,
        flags: libc::c_int,
        mut each: impl FnMut(&[u8], bool) -> ControlFlow<()>,
    ) -> io::Result<usize> {
        let n = max.max(1);
        if self.slots.len() < n * self.slot_bytes {
            // Zeroed by the allocator (fresh pages), not by a write pass:
            // a dump touches only the slots it fills.
            self.slots = vec![0; n * self.slot_bytes];
        }
        let waited = Instant::now();
        let got = recvmmsg(
            self.fd.as_raw_fd(),
            &mut self.slots[..n * self.slot_bytes],
            n,
            flags,
        );
        self.counters.recv_wait += waited.elapsed();
        self.counters.recvmmsg += 1;
        let got = got?;
        let count = got.len();
        for (i, (len, cut)) in got.into_iter().enumerate() {
            let start = i * self.slot_bytes;
            if each(&self.slots[start..start + len], cut).is_break() {
                break;
            }
        }
        Ok(count)
    }

    /// Sends one request (`NLM_F_REQUEST | extra_flags`, `body` after the
    /// header) and feeds each reply of its sequence number to `each` until
    /// the end: `NLMSG_DONE` for a dump, the first reply otherwise.
    /// Returns whether any reply carried `NLM_F_DUMP_INTR`. The kernel's
    /// refusal (`NLMSG_ERROR` or a negative `NLMSG_DONE`) comes back as its
    /// errno.
    pub fn request(
        &mut self,
        msg_type: u16,
        extra_flags: u16,
        body: &[u8],
        mut each: impl FnMut(&Message<'_>),
    ) -> io::Result<bool> {
        let seq = self.next_seq();
        let mut req = Vec::new();
        crate::push_message(&mut req, msg_type, NLM_F_REQUEST | extra_flags, seq, body);
        self.send(&req)?;
        let dump = extra_flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut interrupted = false;
        let mut end: Option<io::Result<()>> = None;
        while end.is_none() {
            self.recv_batch(DUMP_SLOTS, 0, |datagram, cut| {
                if cut {
                    end = Some(Err(io::Error::other(
                        "netlink reply larger than the buffer",
                    )));
                    return ControlFlow::Break(());
                }
                for m in messages(datagram).filter(|m| m.seq == seq) {
                    interrupted |= m.flags & NLM_F_DUMP_INTR != 0;
                    match m.kind {
                        NLMSG_DONE | NLMSG_ERROR => {
                            // Both start with an int: 0, or a negative errno.
                            let code = crate::attr::u32_at(m.payload, 0) as i32;
                            end = Some(match code {
                                0.. => Ok(()),
                                _ => Err(io::Error::from_raw_os_error(-code)),
                            });
                        }
                        NLMSG_OVERRUN => end = Some(Err(io::Error::other("netlink overrun"))),
                        _ => {
                            each(&m);
                            if !dump {
                                end = Some(Ok(()));
                            }
                        }
                    }
                    if end.is_some() {
                        return ControlFlow::Break(());
                    }
                }
                ControlFlow::Continue(())
            })?;
        }
        end.unwrap_or(Ok(())).map(|()| interrupted)
    }

    /// Runs one dump of `msg_type` with `body` (the family header and any
    /// attributes) and keeps what `parse` makes of each reply. A dump the
    /// kernel flags `NLM_F_DUMP_INTR` (the host changed under it) is run
    /// again, up to three times; the last one is taken as it is. `what`
    /// names the dump in the logs.
    pub fn dump<T>(
        &mut self,
        what: &dyn fmt::Display,
        msg_type: u16,
        body: &[u8],
        mut parse: impl FnMut(&Message<'_>) -> Option<T>,
    ) -> io::Result<Vec<T>> {
        let mut attempt = 1;
        loop {
            let started = Instant::now();
            let waited = self.counters.recv_wait;
            let mut out = Vec::new();
            let interrupted = self.request(msg_type, NLM_F_DUMP, body, |m| out.extend(parse(m)))?;
            tracing::debug!(
                dump = %what,
                count = out.len(),
                elapsed_us = started.elapsed().as_micros() as u64,
                in_kernel_us = (self.counters.recv_wait - waited).as_micros() as u64,
                interrupted,
                attempt,
                "netlink dump"
            );
            if !interrupted {
                return Ok(out);
            }
            if attempt == DUMP_ATTEMPTS {
                tracing::warn!(dump = %what, attempts = DUMP_ATTEMPTS, "dump kept being interrupted by changes; using the last one");
                return Ok(out);
            }
            attempt += 1;
        }
    }
}

fn setsockopt<T>(fd: RawFd, level: libc::c_int, option: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: the value pointer and length describe one live `T`.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            option,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Asks for `want` bytes of buffer, past the sysctl limit when allowed;
/// returns the size the kernel granted.
fn grow_buffer(fd: RawFd, force: i32, plain: i32, want: usize) -> io::Result<usize> {
    let value = libc::c_int::try_from(want).unwrap_or(libc::c_int::MAX);
    if setsockopt(fd, libc::SOL_SOCKET, force, &value).is_err() {
        // No CAP_NET_ADMIN: as large as net.core.[rw]mem_max lets us.
        setsockopt(fd, libc::SOL_SOCKET, plain, &value)?;
    }
    let mut got: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `got` and `len` are valid for writes of the sizes given.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            plain,
            (&mut got as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(got.max(0) as usize)
}

/// Receives up to `n` datagrams into `n` equal slots of `buf` in one
/// `recvmmsg`, blocking for the first only (unless `flags` says
/// `MSG_DONTWAIT`); returns each one's length and whether it was cut.
fn recvmmsg(
    fd: RawFd,
    buf: &mut [u8],
    n: usize,
    flags: libc::c_int,
) -> io::Result<Vec<(usize, bool)>> {
    let slot = buf.len() / n;
    let mut iovs: Vec<libc::iovec> = buf
        .chunks_exact_mut(slot)
        .map(|c| libc::iovec {
            iov_base: c.as_mut_ptr().cast(),
            iov_len: c.len(),
        })
        .collect();
    let mut hdrs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .map(|iov| {
            // SAFETY: an all-zero msghdr is a valid "no name, no control" header.
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_iov = iov;
            h.msg_hdr.msg_iovlen = 1;
            h
        })
        .collect();
    loop {
        // SAFETY: `hdrs` holds `n` headers whose iovecs point into `buf`,
        // all alive for the call.
        let rc = unsafe {
            libc::recvmmsg(
                fd,
                hdrs.as_mut_ptr(),
                hdrs.len() as libc::c_uint,
                libc::MSG_WAITFORONE | flags,
                std::ptr::null_mut(),
            )
        };
        if rc >= 0 {
            return Ok(hdrs[..rc as usize]
                .iter()
                .map(|h| {
                    let cut = h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
                    ((h.msg_len as usize).min(slot), cut)
                })
                .collect());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_dump_of_this_namespace_has_loopback_and_a_bad_request_its_errno() {
        let mut sock = Socket::open(crate::NETLINK_ROUTE).expect("socket");
        // RTM_GETLINK with an all-zero ifinfomsg.
        let names = sock
            .dump(&"link", 18, &[0; 16], |m| {
                crate::Attrs::new(m.payload.get(16..)?)
                    .find_kind(3)
                    .and_then(crate::attr::str_of)
                    .map(str::to_string)
            })
            .expect("dump");
        assert!(names.iter().any(|n| n == "lo"), "{names:?}");
        // RTM_GETLINK for ifindex 0x7fffffff, which no namespace has.
        let mut body = [0u8; 16];
        body[4..8].copy_from_slice(&0x7fff_ffffu32.to_ne_bytes());
        let err = sock
            .request(18, 0, &body, |_| {})
            .expect_err("no such link");
        assert_eq!(err.raw_os_error(), Some(libc::ENODEV));
        assert!(sock.counters.recvmmsg >= 2);
    }
}
