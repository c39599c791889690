//! The netlink messages of one received datagram.

use crate::{align, attr::u32_at, NLMSG_HDRLEN};

/// One message of a datagram: its header fields and its payload (the
/// bytes after `nlmsghdr`), borrowed from the receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// `nlmsg_type`.
    pub kind: u16,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// `nlmsg_seq`.
    pub seq: u32,
    /// Everything after the header, up to `nlmsg_len`.
    pub payload: &'a [u8],
}

/// Iterator over the messages of a datagram; see [`messages`].
#[derive(Debug, Clone)]
pub struct Messages<'a> {
    rest: &'a [u8],
}

/// The messages of one datagram, in order. The walk stops at the first
/// header whose length does not fit (a cut datagram), as the kernel's own
/// `nlmsg_ok` loop does.
pub fn messages(datagram: &[u8]) -> Messages<'_> {
    Messages { rest: datagram }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Message<'a>;

    fn next(&mut self) -> Option<Message<'a>> {
        let data = self.rest;
        if data.len() < NLMSG_HDRLEN {
            return None;
        }
        let len = u32_at(data, 0) as usize;
        if len < NLMSG_HDRLEN || len > data.len() {
            self.rest = &[];
            return None;
        }
        self.rest = &data[align(len).min(data.len())..];
        Some(Message {
            kind: u16::from_ne_bytes([data[4], data[5]]),
            flags: u16::from_ne_bytes([data[6], data[7]]),
            seq: u32_at(data, 8),
            payload: &data[NLMSG_HDRLEN..len],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::push_message;

    #[test]
    fn a_datagram_splits_into_its_messages_and_a_cut_one_ends_the_walk() {
        let mut b = Vec::new();
        push_message(&mut b, 16, 2, 7, &[1, 2, 3]);
        push_message(&mut b, 3, 0, 8, &[0; 4]);
        let got: Vec<_> = messages(&b).collect();
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].kind, got[0].flags, got[0].seq), (16, 2, 7));
        assert_eq!(got[0].payload, &[1, 2, 3]);
        assert_eq!((got[1].kind, got[1].seq), (3, 8));
        assert_eq!(messages(&b[..b.len() - 2]).count(), 1);
    }
}
