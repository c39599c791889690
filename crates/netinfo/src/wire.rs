//! Reading netlink bytes in place: the message and attribute (TLV) walkers
//! and the fixed-width readers the snapshot's byte-level parsers use.
//!
//! Why not netlink-packet-route: a snapshot of a few thousand links is
//! ~22,000 messages, and materializing every attribute of each into owned
//! enums cost several times what the kernel spends producing them. The
//! snapshot reads a dozen attributes per message; these helpers let it look
//! at exactly those, straight from the receive buffer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `NLA_TYPE_MASK`: the type bits of `nla_type`, without the nested and
/// byte-order flags.
const NLA_TYPE_MASK: u16 = 0x3fff;

/// Netlink's 4-byte alignment.
pub(crate) const fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// The attributes of one message or nest, as `(type, payload)`; stops at
/// the first malformed header, as the kernel's own `nla_for_each_attr` does.
#[derive(Clone)]
pub(crate) struct Attrs<'a> {
    rest: &'a [u8],
}

impl<'a> Attrs<'a> {
    /// Walks the attributes that make up `bytes`.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.len() < 4 {
            return None;
        }
        let len = usize::from(u16::from_ne_bytes([self.rest[0], self.rest[1]]));
        let kind = u16::from_ne_bytes([self.rest[2], self.rest[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > self.rest.len() {
            self.rest = &[];
            return None;
        }
        let payload = &self.rest[4..len];
        self.rest = &self.rest[align(len).min(self.rest.len())..];
        Some((kind, payload))
    }
}

/// A `u8` attribute; `None` unless the payload is exactly one byte.
pub(crate) fn u8_of(p: &[u8]) -> Option<u8> {
    match p {
        [b] => Some(*b),
        _ => None,
    }
}

/// A host-order `u16` attribute of exactly two bytes.
pub(crate) fn u16_of(p: &[u8]) -> Option<u16> {
    Some(u16::from_ne_bytes(p.try_into().ok()?))
}

/// A host-order `u32` attribute of exactly four bytes.
pub(crate) fn u32_of(p: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(p.try_into().ok()?))
}

/// A host-order `u64` attribute of exactly eight bytes.
pub(crate) fn u64_of(p: &[u8]) -> Option<u64> {
    Some(u64::from_ne_bytes(p.try_into().ok()?))
}

/// Reads a host-order `u32` at `at` of a fixed header, `0` past the end.
pub(crate) fn u32_at(p: &[u8], at: usize) -> u32 {
    p.get(at..at + 4).and_then(u32_of).unwrap_or_default()
}

/// An IPv4 or IPv6 address by payload length (4 or 16 bytes).
pub(crate) fn ip_of(p: &[u8]) -> Option<IpAddr> {
    match p.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(p).ok()?))),
        16 => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(p).ok()?))),
        _ => None,
    }
}

/// A string attribute: one trailing NUL dropped, `None` unless UTF-8.
pub(crate) fn str_of(p: &[u8]) -> Option<&str> {
    let p = p.strip_suffix(&[0]).unwrap_or(p);
    std::str::from_utf8(p).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_walked_with_padding_and_flags_masked() {
        // (len 5, type 3 | NLA_F_NESTED) "ab\0" + 3 padding, then (len 8, type 4) u32 7.
        let mut b = vec![7, 0, 0x03, 0x80, b'a', b'b', 0, 0];
        b.extend(8u16.to_ne_bytes());
        b.extend(4u16.to_ne_bytes());
        b.extend(7u32.to_ne_bytes());
        let got: Vec<_> = Attrs::new(&b).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, 3);
        assert_eq!(str_of(got[0].1), Some("ab"));
        assert_eq!((got[1].0, u32_of(got[1].1)), (4, Some(7)));
    }

    #[test]
    fn a_truncated_attribute_ends_the_walk() {
        let b = [200, 0, 1, 0, 1, 2, 3, 4];
        assert_eq!(Attrs::new(&b).count(), 0);
        assert_eq!(u32_of(&[1, 2, 3]), None);
        assert_eq!(ip_of(&[10, 0, 0, 1]), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(ip_of(&[1, 2]), None);
    }
}
