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
//! and `NETLINK_EXT_ACK` puts the kernel's error text in.

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::KernelError;

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

const NLMSG_ERROR: u16 = 2;
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;
const NLMSGERR_ATTR_OFFS: u16 = 2;
const NLMSGERR_ATTR_MISS_TYPE: u16 = 5;

/// How big one `sendmsg` may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub bytes: usize,
    pub messages: usize,
}

/// One `NLMSG_ERROR` from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ack {
    pub seq: u32,
    /// 0 for success, else a positive errno.
    pub errno: i32,
    /// `NLMSGERR_ATTR_MSG`: the kernel's explanation (or, on success, a
    /// warning).
    pub text: Option<String>,
    /// `NLMSGERR_ATTR_OFFS`: byte offset of the offending attribute in the
    /// request.
    pub offset: Option<u32>,
    /// `NLMSGERR_ATTR_MISS_TYPE`: the attribute type that was missing.
    pub missing: Option<u16>,
}

/// What a socket did, for [`crate::ApplyStats`].
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counters {
    pub sendmsg: usize,
    pub recvmmsg: usize,
    pub bytes: usize,
}

pub(crate) struct NlSocket {
    sock: Socket,
    kernel: SocketAddr,
    pub limits: Limits,
    pub counters: Counters,
    slots: Vec<u8>,
}

impl NlSocket {
    /// Opens and tunes the socket in the calling thread's namespace.
    pub(crate) fn open() -> Result<Self, KernelError> {
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(KernelError::Open)?;
        sock.bind_auto().map_err(KernelError::Open)?;
        let setup = |what: &'static str| move |source| KernelError::Setup { what, source };
        sock.set_ext_ack(true).map_err(setup("NETLINK_EXT_ACK"))?;
        sock.set_cap_ack(true).map_err(setup("NETLINK_CAP_ACK"))?;
        let fd = sock.as_raw_fd();
        let rcvbuf = grow_buffer(fd, libc::SO_RCVBUFFORCE, libc::SO_RCVBUF, RCVBUF)
            .map_err(setup("SO_RCVBUF"))?;
        let sndbuf = grow_buffer(fd, libc::SO_SNDBUFFORCE, libc::SO_SNDBUF, SNDBUF)
            .map_err(setup("SO_SNDBUF"))?;
        set_rcvtimeo(fd, ACK_TIMEOUT).map_err(setup("SO_RCVTIMEO"))?;
        let limits = Limits {
            // The kernel refuses a message longer than the send buffer
            // less 32 bytes.
            bytes: sndbuf.saturating_sub(64).clamp(4096, MAX_BATCH_BYTES),
            messages: (rcvbuf / ACK_COST).max(16),
        };
        tracing::trace!(rcvbuf, sndbuf, ?limits, "netlink socket open");
        Ok(Self {
            sock,
            kernel: SocketAddr::new(0, 0),
            limits,
            counters: Counters::default(),
            slots: Vec::new(),
        })
    }

    /// One `sendmsg` with a batch of whole messages.
    pub(crate) fn send(&mut self, bytes: &[u8]) -> Result<(), KernelError> {
        self.counters.sendmsg += 1;
        let sent = self
            .sock
            .send_to(bytes, &self.kernel, 0)
            .map_err(KernelError::Send)?;
        if sent != bytes.len() {
            return Err(KernelError::Send(io::Error::other(format!(
                "sent {sent} of {} bytes",
                bytes.len()
            ))));
        }
        self.counters.bytes += sent;
        Ok(())
    }

    /// Reads acks until `expected` of them have been taken (`take`
    /// returns whether an ack was one it waited for). Stops early with an
    /// error when the kernel reports it dropped acks (`ENOBUFS`) or none
    /// come within the timeout; acks read before that have been taken.
    pub(crate) fn recv_acks(
        &mut self,
        expected: usize,
        mut take: impl FnMut(Ack) -> bool,
    ) -> Result<(), KernelError> {
        let mut remaining = expected;
        loop {
            if remaining == 0 {
                return Ok(());
            }
            let n = remaining.min(SLOTS);
            if self.slots.len() < n * SLOT_BYTES {
                self.slots.resize(n * SLOT_BYTES, 0);
            }
            self.counters.recvmmsg += 1;
            let lens = recvmmsg(self.sock.as_raw_fd(), &mut self.slots[..n * SLOT_BYTES], n)
                .map_err(KernelError::Recv)?;
            for (i, len) in lens.into_iter().enumerate() {
                let datagram = &self.slots[i * SLOT_BYTES..i * SLOT_BYTES + len];
                for ack in parse_acks(datagram) {
                    if take(ack) {
                        remaining = remaining.saturating_sub(1);
                    }
                }
            }
        }
    }
}

/// Asks for `want` bytes of buffer, past the sysctl limit when allowed;
/// returns the size the kernel granted (doubled, as getsockopt says).
fn grow_buffer(fd: i32, force: i32, plain: i32, want: usize) -> io::Result<usize> {
    let value = want as libc::c_int;
    if setsockopt_int(fd, force, value).is_err() {
        // No CAP_NET_ADMIN: as large as net.core.[rw]mem_max lets us.
        setsockopt_int(fd, plain, value)?;
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

fn setsockopt_int(fd: i32, option: i32, value: libc::c_int) -> io::Result<()> {
    // SAFETY: the value pointer and length describe one c_int.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn set_rcvtimeo(fd: i32, timeout: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: the value pointer and length describe one timeval.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Receives up to `n` datagrams into `n` equal slots of `buf` in one
/// `recvmmsg`, blocking for the first only; returns their lengths (a
/// datagram longer than a slot is cut, which only loses ack TLVs).
fn recvmmsg(fd: i32, buf: &mut [u8], n: usize) -> io::Result<Vec<usize>> {
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
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if rc >= 0 {
            return Ok(hdrs[..rc as usize]
                .iter()
                .map(|h| (h.msg_len as usize).min(slot))
                .collect());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// The acks in one datagram (an ack datagram holds one; a multi-part reply
/// could hold several). Anything that is not `NLMSG_ERROR` is skipped.
pub(crate) fn parse_acks(mut buf: &[u8]) -> Vec<Ack> {
    let mut out = Vec::new();
    while buf.len() >= 16 {
        let len = u32::from_ne_bytes(buf[0..4].try_into().unwrap_or_default()) as usize;
        let kind = u16::from_ne_bytes([buf[4], buf[5]]);
        let flags = u16::from_ne_bytes([buf[6], buf[7]]);
        let seq = u32::from_ne_bytes(buf[8..12].try_into().unwrap_or_default());
        // A cut datagram: take what is there.
        let msg = &buf[..len.clamp(16, buf.len())];
        if kind == NLMSG_ERROR && msg.len() >= 20 {
            out.push(parse_error(msg, flags, seq));
        }
        if len < 16 {
            break;
        }
        let next = len.next_multiple_of(4);
        if next >= buf.len() {
            break;
        }
        buf = &buf[next..];
    }
    out
}

fn parse_error(msg: &[u8], flags: u16, seq: u32) -> Ack {
    let code = i32::from_ne_bytes(msg[16..20].try_into().unwrap_or_default());
    let mut ack = Ack {
        seq,
        errno: code.saturating_neg().max(0),
        text: None,
        offset: None,
        missing: None,
    };
    // struct nlmsgerr: the error, then the request's header, then (unless
    // capped) the request's payload; then the TLVs.
    let mut at = 20 + 16;
    if flags & NLM_F_CAPPED == 0 && msg.len() >= 36 {
        let orig_len = u32::from_ne_bytes(msg[20..24].try_into().unwrap_or_default()) as usize;
        at = 20 + orig_len.max(16).next_multiple_of(4);
    }
    if flags & NLM_F_ACK_TLVS == 0 {
        return ack;
    }
    while at + 4 <= msg.len() {
        let nla_len = u16::from_ne_bytes([msg[at], msg[at + 1]]) as usize;
        let nla_type = u16::from_ne_bytes([msg[at + 2], msg[at + 3]]) & 0x3fff;
        if nla_len < 4 || at + nla_len > msg.len() {
            break; // malformed, or cut off with its datagram
        }
        let value = &msg[at + 4..at + nla_len];
        match nla_type {
            NLMSGERR_ATTR_MSG => {
                let text = value.split(|b| *b == 0).next().unwrap_or_default();
                ack.text = Some(String::from_utf8_lossy(text).into_owned());
            }
            NLMSGERR_ATTR_OFFS if value.len() >= 4 => {
                ack.offset = Some(u32::from_ne_bytes(
                    value[..4].try_into().unwrap_or_default(),
                ));
            }
            NLMSGERR_ATTR_MISS_TYPE if value.len() >= 4 => {
                ack.missing =
                    Some(u32::from_ne_bytes(value[..4].try_into().unwrap_or_default()) as u16);
            }
            _ => {}
        }
        at += nla_len.next_multiple_of(4);
    }
    ack
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(value);
        v.resize(v.len().next_multiple_of(4), 0);
        v
    }

    fn ack_bytes(seq: u32, code: i32, flags: u16, tlvs: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&code.to_ne_bytes());
        // The request's header, capped: len 40, RTM_NEWLINK, seq.
        body.extend_from_slice(&40u32.to_ne_bytes());
        body.extend_from_slice(&16u16.to_ne_bytes());
        body.extend_from_slice(&5u16.to_ne_bytes());
        body.extend_from_slice(&seq.to_ne_bytes());
        body.extend_from_slice(&0u32.to_ne_bytes());
        body.extend_from_slice(tlvs);
        let mut m = Vec::new();
        m.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        m.extend_from_slice(&flags.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&body);
        m
    }

    #[test]
    fn an_ok_ack_and_an_error_with_the_kernels_text_are_read() {
        let ok = ack_bytes(7, 0, NLM_F_CAPPED, &[]);
        assert_eq!(
            parse_acks(&ok),
            vec![Ack {
                seq: 7,
                errno: 0,
                text: None,
                offset: None,
                missing: None
            }]
        );
        let mut tlvs = nla(NLMSGERR_ATTR_MSG, b"Nexthop has invalid gateway\0");
        tlvs.extend(nla(NLMSGERR_ATTR_OFFS, &52u32.to_ne_bytes()));
        let err = ack_bytes(8, -libc::ENETUNREACH, NLM_F_CAPPED | NLM_F_ACK_TLVS, &tlvs);
        let mut both = ok.clone();
        both.extend_from_slice(&err);
        let acks = parse_acks(&both);
        assert_eq!(acks.len(), 2);
        assert_eq!(acks[1].seq, 8);
        assert_eq!(acks[1].errno, libc::ENETUNREACH);
        assert_eq!(acks[1].text.as_deref(), Some("Nexthop has invalid gateway"));
        assert_eq!(acks[1].offset, Some(52));
    }

    #[test]
    fn a_cut_datagram_still_gives_its_error_code() {
        let mut tlvs = nla(NLMSGERR_ATTR_MSG, b"a long explanation\0");
        tlvs.extend(nla(NLMSGERR_ATTR_MISS_TYPE, &3u32.to_ne_bytes()));
        let err = ack_bytes(9, -libc::EINVAL, NLM_F_CAPPED | NLM_F_ACK_TLVS, &tlvs);
        let acks = parse_acks(&err[..40]);
        assert_eq!(acks.len(), 1);
        assert_eq!(acks[0].errno, libc::EINVAL);
        assert_eq!(acks[0].text, None);
        assert_eq!(parse_acks(&err)[0].missing, Some(3));
    }
}
