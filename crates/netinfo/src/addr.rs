//! Address messages to [`Addr`]s.

use std::collections::HashMap;

use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netswitch_model::host::Addr;

use crate::names;

/// `ifa_valid`/`ifa_prefered` meaning "forever".
const INFINITY_LIFE_TIME: u32 = u32::MAX;

/// Builds one address; `None` (and a debug event) when it names a link the
/// link dump did not have (created between the two dumps) or carries no
/// address at all.
pub(crate) fn build_addr(msg: &AddressMessage, names: &HashMap<u32, String>) -> Option<Addr> {
    let Some(link) = names.get(&msg.header.index) else {
        tracing::debug!(
            index = msg.header.index,
            "address on a link not in the link dump; skipped"
        );
        return None;
    };
    let mut local = None;
    let mut address = None;
    let mut flags = None;
    let mut cache = None;
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Local(a) => local = Some(*a),
            AddressAttribute::Address(a) => address = Some(*a),
            // The 32-bit IFA_FLAGS supersedes the 8-bit header field.
            AddressAttribute::Flags(f) => flags = Some(*f),
            AddressAttribute::CacheInfo(c) => cache = Some(*c),
            _ => {}
        }
    }
    // On a point-to-point link IFA_ADDRESS is the peer and IFA_LOCAL ours;
    // otherwise they are equal or only IFA_ADDRESS is sent (IPv6).
    let address = local.or(address)?;
    let flags =
        flags.unwrap_or_else(|| AddressFlags::from_bits_retain(u32::from(msg.header.flags.bits())));
    let life = |v: u32| (v != INFINITY_LIFE_TIME).then_some(v);
    Some(Addr {
        link: link.clone(),
        address,
        prefix_len: msg.header.prefix_len,
        scope: names::addr_scope(u8::from(msg.header.scope)),
        dynamic: !flags.contains(AddressFlags::Permanent),
        valid_lft: cache.as_ref().and_then(|c| life(c.ifa_valid)),
        preferred_lft: cache.as_ref().and_then(|c| life(c.ifa_preferred)),
        secondary: flags.contains(AddressFlags::Secondary),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::address::{AddressHeaderFlags, AddressScope, CacheInfo};

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
