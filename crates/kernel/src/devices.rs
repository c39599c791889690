//! Link names to interface indexes, as they will be when the kernel reaches
//! each op of a plan.
//!
//! Netlink names links by index (`IFLA_MASTER`, `IFLA_LINK`, `ifa_index`,
//! `RTA_OIF`), but a link created earlier in the same batch has no index
//! until the kernel has processed its creation, which is after the whole
//! batch has been encoded. So the applier picks the index itself: every
//! created link asks for (highest index known so far) + 1 in `ifi_index`,
//! which the kernel honours on `RTM_NEWLINK` with `NLM_F_CREATE` (or refuses
//! with `EBUSY` if something else took it meanwhile).

use std::collections::HashMap;

use netswitch_model::host::HostState;

use crate::encode::EncodeError;

/// The name -> index map, walked forward op by op while a plan is encoded.
#[derive(Debug, Clone)]
pub(crate) struct Devices {
    by_name: HashMap<String, u32>,
    /// The index the next created link gets.
    next: u32,
}

impl Devices {
    /// Starts from the host's links.
    pub(crate) fn new(host: &HostState) -> Self {
        let by_name: HashMap<String, u32> = host
            .links
            .values()
            .map(|l| (l.name.clone(), l.index))
            .collect();
        let max = by_name.values().copied().max().unwrap_or(0);
        Self {
            by_name,
            next: max.saturating_add(1),
        }
    }

    /// The index of a link that exists at this point of the plan.
    pub(crate) fn get(&self, name: &str) -> Result<u32, EncodeError> {
        self.by_name.get(name).copied().ok_or_else(|| {
            EncodeError::no_device(format!(
                "no link named {name:?} on the host or created earlier in the plan"
            ))
        })
    }

    /// Allocates the index of a link the plan creates. A name that exists
    /// already is not refused here: the kernel answers `EEXIST` for it,
    /// which is the error a caller expects.
    pub(crate) fn create(&mut self, name: &str) -> u32 {
        let index = self.next;
        self.next = self.next.saturating_add(1);
        self.by_name.insert(name.to_string(), index);
        index
    }

    /// Forgets a link the plan deletes; returns the index to delete.
    pub(crate) fn delete(&mut self, name: &str) -> Result<u32, EncodeError> {
        let index = self.get(name)?;
        self.by_name.remove(name);
        Ok(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netswitch_model::host::{Link, LinkKind};

    fn host() -> HostState {
        let mut h = HostState::default();
        for (i, n) in [(1, "lo"), (7, "veth_a"), (3, "veth_b")] {
            h.links
                .insert(n.to_string(), Link::new(i, n, LinkKind::Veth));
        }
        h
    }

    #[test]
    fn created_links_get_indexes_above_the_highest_one_in_turn() {
        let mut d = Devices::new(&host());
        assert_eq!(d.create("br0"), 8);
        assert_eq!(d.create("br1"), 9);
        assert_eq!(d.get("br0").unwrap(), 8);
        assert_eq!(d.get("veth_b").unwrap(), 3);
    }

    #[test]
    fn deleted_links_are_gone_and_indexes_are_not_reused() {
        let mut d = Devices::new(&host());
        assert_eq!(d.delete("veth_a").unwrap(), 7);
        assert!(d.get("veth_a").is_err());
        assert!(d.delete("veth_a").is_err());
        assert_eq!(d.create("veth_a"), 8);
    }

    #[test]
    fn an_unknown_name_is_refused_with_enodev() {
        let d = Devices::new(&HostState::default());
        let e = d.get("nope").unwrap_err();
        assert_eq!(e.errno, libc::ENODEV);
        assert!(e.message.contains("\"nope\""), "{}", e.message);
    }
}
