//! Address messages to [`Addr`]s.

use std::collections::HashMap;

use netswitch_model::host::Addr;

use crate::{names, wire};

/// `ifa_valid`/`ifa_prefered` meaning "forever".
const INFINITY_LIFE_TIME: u32 = u32::MAX;

/// `sizeof(struct ifaddrmsg)`.
const IFADDRMSG_LEN: usize = 8;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_CACHEINFO: u16 = 6;
const IFA_FLAGS: u16 = 8;
/// `IFA_F_SECONDARY` and `IFA_F_PERMANENT` from `<linux/if_addr.h>`.
const IFA_F_SECONDARY: u32 = 0x01;
const IFA_F_PERMANENT: u32 = 0x80;

/// An address read from its bytes whose link is still an ifindex: the
/// address dump can run beside the link dump that names it.
pub(crate) struct RawAddr {
    addr: Addr,
    index: u32,
}

impl RawAddr {
    /// The address with its link named; `None` (and a debug event) for a
    /// link the link dump did not have (created between the two dumps).
    pub(crate) fn resolve(self, names: &HashMap<u32, String>) -> Option<Addr> {
        let Some(link) = names.get(&self.index) else {
            tracing::debug!(
                index = self.index,
                "address on a link not in the link dump; skipped"
            );
            return None;
        };
        Some(Addr {
            link: link.clone(),
            ..self.addr
        })
    }
}

/// Reads one address from the bytes of an `RTM_NEWADDR` message (the
/// payload after `nlmsghdr`), but for the link's name (see
/// [`RawAddr::resolve`]); `None` when it carries no address.
pub(crate) fn read_addr_bytes(msg: &[u8]) -> Option<RawAddr> {
    if msg.len() < IFADDRMSG_LEN {
        return None;
    }
    let index = wire::u32_at(msg, 4);
    let mut local = None;
    let mut address = None;
    let mut flags = None;
    let mut cache = None;
    for (t, p) in wire::Attrs::new(&msg[IFADDRMSG_LEN..]) {
        match t {
            IFA_LOCAL => local = wire::ip_of(p).or(local),
            IFA_ADDRESS => address = wire::ip_of(p).or(address),
            IFA_FLAGS => flags = wire::u32_of(p).or(flags),
            // struct ifa_cacheinfo: preferred, valid, cstamp, tstamp.
            IFA_CACHEINFO if p.len() >= 16 => {
                cache = Some((wire::u32_at(p, 0), wire::u32_at(p, 4)));
            }
            _ => {}
        }
    }
    // On a point-to-point link IFA_ADDRESS is the peer and IFA_LOCAL ours;
    // otherwise they are equal or only IFA_ADDRESS is sent (IPv6). The
    // 32-bit IFA_FLAGS supersedes the 8-bit header field.
    let address = local.or(address)?;
    let flags = flags.unwrap_or(u32::from(msg[2]));
    let life = |v: u32| (v != INFINITY_LIFE_TIME).then_some(v);
    Some(RawAddr {
        addr: Addr {
            link: String::new(),
            address,
            prefix_len: msg[1],
            scope: names::addr_scope(msg[3]),
            dynamic: flags & IFA_F_PERMANENT == 0,
            valid_lft: cache.and_then(|(_, valid)| life(valid)),
            preferred_lft: cache.and_then(|(preferred, _)| life(preferred)),
            secondary: flags & IFA_F_SECONDARY != 0,
        },
        index,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::Emitable;
    use netlink_packet_route::address::{
        AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope, CacheInfo,
    };

    /// The byte reader on the wire form of `m` (netlink-packet-route only
    /// encodes it here).
    fn build_addr(m: &AddressMessage, names: &HashMap<u32, String>) -> Option<Addr> {
        let mut b = vec![0; m.buffer_len()];
        m.emit(&mut b);
        read_addr_bytes(&b).and_then(|a| a.resolve(names))
    }

    #[test]
    fn flags_lifetimes_and_the_link_are_read() {
        let names = HashMap::from([(2, "veth_a".to_string())]);
        let mut cache = CacheInfo::default();
        cache.ifa_preferred = 30;
        cache.ifa_valid = 60;
        let mut m = AddressMessage::default();
        m.header.family = netlink_packet_route::AddressFamily::Inet6;
        m.header.index = 2;
        m.header.prefix_len = 64;
        m.header.scope = AddressScope::Universe;
        m.header.flags = AddressHeaderFlags::Permanent;
        m.attributes = vec![
            AddressAttribute::Address("fd00::2".parse().unwrap()),
            AddressAttribute::CacheInfo(cache),
            AddressAttribute::Flags(AddressFlags::Nodad | AddressFlags::Secondary),
        ];
        let a = build_addr(&m, &names).unwrap();
        assert_eq!(a.link, "veth_a");
        assert_eq!(
            (a.address.to_string(), a.prefix_len),
            ("fd00::2".into(), 64)
        );
        assert_eq!((a.valid_lft, a.preferred_lft), (Some(60), Some(30)));
        assert!(a.secondary && a.dynamic, "IFA_FLAGS, not the header");
        assert_eq!(a.scope, "global");
        m.attributes.truncate(1);
        let a = build_addr(&m, &names).unwrap();
        assert!(!a.dynamic && !a.secondary, "the header's flags");
        assert_eq!((a.valid_lft, a.preferred_lft), (None, None));
        m.header.index = 9;
        assert_eq!(build_addr(&m, &names), None);
    }

    #[test]
    fn header_flags_count_when_the_flags_attribute_is_missing() {
        let mut cache = CacheInfo::default();
        cache.ifa_preferred = 30;
        cache.ifa_valid = u32::MAX;
        let mut m = AddressMessage::default();
        m.header.index = 2;
        m.header.prefix_len = 24;
        m.header.scope = AddressScope::Link;
        m.header.flags = AddressHeaderFlags::Secondary | AddressHeaderFlags::Permanent;
        m.attributes = vec![
            AddressAttribute::Address("10.0.0.9".parse().unwrap()),
            AddressAttribute::Local("10.0.0.2".parse().unwrap()),
            AddressAttribute::CacheInfo(cache),
        ];
        let names = HashMap::from([(2, "veth_a".to_string())]);
        let a = build_addr(&m, &names).unwrap();
        assert_eq!(a.address.to_string(), "10.0.0.2", "IFA_LOCAL wins");
        assert!(a.secondary);
        assert!(!a.dynamic);
        assert_eq!(a.scope, "link");
        assert_eq!((a.valid_lft, a.preferred_lft), (None, Some(30)));

        m.attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
        let a = build_addr(&m, &names).unwrap();
        assert!(!a.secondary && a.dynamic, "IFA_FLAGS supersedes the header");
    }
}
