//! Attributes (TLVs) walked in place, and the fixed-width readers every
//! parser of the workspace uses on their payloads.
//!
//! Why not netlink-packet-route's enums: a snapshot of a few thousand links
//! is ~22,000 messages, and materializing every attribute of each into owned
//! enums cost several times what the kernel spends producing them. A reader
//! needs a dozen attributes per message; this lets it look at exactly
//! those, straight from the receive buffer.
//!
//! Why not netlink-packet-core's `NlasIterator` either: it re-checks and
//! re-parses each header through its buffer type, which made the walk a
//! third of a snapshot's instructions (callgrind, 4000 links); the walk
//! below reads each header once.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `NLA_HDRLEN`: an attribute header's size.
pub const NLA_HEADER_SIZE: usize = 4;
/// `NLA_TYPE_MASK`: the type bits of `nla_type`, without the nested and
/// byte-order flags.
pub const NLA_TYPE_MASK: u16 = 0x3fff;

/// The attributes of one message or nest, as `(type, payload)` with the
/// nested and byte-order flags masked off the type. The walk ends at the
/// first malformed header, as the kernel's own `nla_for_each_attr` does.
#[derive(Clone)]
pub struct Attrs<'a> {
    rest: &'a [u8],
}

impl<'a> Attrs<'a> {
    /// Walks the attributes that make up `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// The payload of the first attribute of type `kind`.
    pub fn find_kind(mut self, kind: u16) -> Option<&'a [u8]> {
        self.find(|(t, _)| *t == kind).map(|(_, p)| p)
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = (u16, &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest;
        let [l0, l1, t0, t1, ..] = *rest else {
            self.rest = &[];
            return None;
        };
        let len = usize::from(u16::from_ne_bytes([l0, l1]));
        if len < NLA_HEADER_SIZE || len > rest.len() {
            self.rest = &[];
            return None;
        }
        let kind = u16::from_ne_bytes([t0, t1]) & NLA_TYPE_MASK;
        self.rest = rest.get(crate::align(len)..).unwrap_or_default();
        Some((kind, &rest[NLA_HEADER_SIZE..len]))
    }
}

/// Appends one attribute (header, `value`, padding) to `out`.
pub fn push(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = NLA_HEADER_SIZE + value.len();
    out.extend((len as u16).to_ne_bytes());
    out.extend(kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(out.len() + (crate::align(len) - len), 0);
}

/// A `u8` attribute; `None` unless the payload is exactly one byte.
pub fn u8_of(p: &[u8]) -> Option<u8> {
    match p {
        [b] => Some(*b),
        _ => None,
    }
}

/// A host-order `u16` attribute of exactly two bytes.
pub fn u16_of(p: &[u8]) -> Option<u16> {
    Some(u16::from_ne_bytes(p.try_into().ok()?))
}

/// A host-order `u32` attribute of exactly four bytes.
pub fn u32_of(p: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(p.try_into().ok()?))
}

/// A host-order `u64` attribute of exactly eight bytes.
pub fn u64_of(p: &[u8]) -> Option<u64> {
    Some(u64::from_ne_bytes(p.try_into().ok()?))
}

/// Reads a host-order `u32` at `at` of a fixed header, `0` past the end.
pub fn u32_at(p: &[u8], at: usize) -> u32 {
    p.get(at..at + 4).and_then(u32_of).unwrap_or_default()
}

/// An IPv4 or IPv6 address by payload length (4 or 16 bytes).
pub fn ip_of(p: &[u8]) -> Option<IpAddr> {
    match p.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(p).ok()?))),
        16 => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(p).ok()?))),
        _ => None,
    }
}

/// A string attribute: one trailing NUL dropped, `None` unless UTF-8.
pub fn str_of(p: &[u8]) -> Option<&str> {
    let p = p.strip_suffix(&[0]).unwrap_or(p);
    std::str::from_utf8(p).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_walked_with_padding_and_flags_masked() {
        // (len 7, type 3 | NLA_F_NESTED) "ab\0" + 1 padding, then (len 8, type 4) u32 7.
        let mut b = vec![7, 0, 0x03, 0x80, b'a', b'b', 0, 0];
        push(&mut b, 4, &7u32.to_ne_bytes());
        let got: Vec<_> = Attrs::new(&b).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, 3);
        assert_eq!(str_of(got[0].1), Some("ab"));
        assert_eq!((got[1].0, u32_of(got[1].1)), (4, Some(7)));
        assert_eq!(Attrs::new(&b).find_kind(4), Some(&7u32.to_ne_bytes()[..]));
    }

    #[test]
    fn a_truncated_attribute_ends_the_walk() {
        let b = [200, 0, 1, 0, 1, 2, 3, 4];
        assert_eq!(Attrs::new(&b).count(), 0);
        let mut ok = Vec::new();
        push(&mut ok, 1, &[9]);
        ok.extend([200, 0, 1, 0]);
        assert_eq!(Attrs::new(&ok).count(), 1);
        assert_eq!(u32_of(&[1, 2, 3]), None);
        assert_eq!(ip_of(&[10, 0, 0, 1]), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(ip_of(&[1, 2]), None);
    }
}
