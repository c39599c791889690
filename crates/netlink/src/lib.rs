//! The one netlink layer of netswitch: a blocking socket that sends
//! batches of requests in one `sendmsg`, receives with `recvmmsg` (many
//! datagrams per call), and runs dumps with the `NLM_F_DUMP_INTR` retry;
//! the walkers over the messages of a datagram and the attributes of a
//! message, in place; and the reader of the kernel's acks.
//!
//! Every netlink user in the workspace sits on it: the snapshot and live
//! netinfo (dumps, multicast groups), ethtool-netlink speeds (genetlink),
//! the kernel configurator (batched ops and their acks) and DHCP's
//! installs. Replies are handed to the caller as byte slices of the
//! receive buffer, so a parser looks at the attributes it needs and
//! copies nothing else.

#![warn(missing_docs)]

mod ack;
pub mod attr;
mod message;
mod socket;

pub use ack::{parse_acks, Ack};
pub use attr::Attrs;
pub use message::{messages, Message, Messages};
pub use socket::{Counters, Socket};

/// `NLMSG_NOOP`, `NLMSG_ERROR`, `NLMSG_DONE`, `NLMSG_OVERRUN` from
/// `<linux/netlink.h>`.
pub const NLMSG_NOOP: u16 = 1;
/// An error or an ack (`struct nlmsgerr`).
pub const NLMSG_ERROR: u16 = 2;
/// The end of a dump.
pub const NLMSG_DONE: u16 = 3;
/// Data was lost.
pub const NLMSG_OVERRUN: u16 = 4;
/// `sizeof(struct nlmsghdr)`.
pub const NLMSG_HDRLEN: usize = 16;

pub use netlink_packet_core::{
    NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_EXCL, NLM_F_REPLACE,
    NLM_F_REQUEST,
};

/// `NETLINK_ROUTE`: rtnetlink.
pub const NETLINK_ROUTE: libc::c_int = libc::NETLINK_ROUTE;
/// `NETLINK_GENERIC`: genetlink (ethtool-netlink among others).
pub const NETLINK_GENERIC: libc::c_int = libc::NETLINK_GENERIC;

/// Netlink's 4-byte alignment of messages and attributes.
pub const fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// Appends one whole message (`nlmsghdr` with `len`, `kind`, `flags` and
/// `seq`, then `body`, padded) to a batch being built for [`Socket::send`].
pub fn push_message(batch: &mut Vec<u8>, kind: u16, flags: u16, seq: u32, body: &[u8]) {
    let len = NLMSG_HDRLEN + body.len();
    batch.reserve(align(len));
    batch.extend((len as u32).to_ne_bytes());
    batch.extend(kind.to_ne_bytes());
    batch.extend(flags.to_ne_bytes());
    batch.extend(seq.to_ne_bytes());
    batch.extend(0u32.to_ne_bytes());
    batch.extend_from_slice(body);
    batch.resize(batch.len() + (align(len) - len), 0);
}
