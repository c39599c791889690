//! The merged per-device view the planner works over: for each device
//! netswitch owns now or will own, what the desired config wants, what the
//! running config had and what the host carries, side by side, looked up
//! once.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ipnet::IpNet;
use netswitch_model::config::NetAttrs;
use netswitch_model::host::{Addr, HostState, Link};

use super::routing::Wanted;
use crate::ovs;
use crate::topology::{Dev, Topology};

/// One device in both configs and on the host.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DevView<'a> {
    /// In the desired topology.
    pub desired: Option<&'a Dev>,
    /// In the running topology (netswitch owns it now).
    pub running: Option<&'a Dev>,
    /// On the host now.
    pub link: Option<&'a Link>,
    /// The device carrying a network's IP config, desired: that network's
    /// attrs and its static addresses.
    pub want_ip: Option<&'a (&'a NetAttrs, Vec<IpNet>)>,
    /// The same in the running config.
    pub have_ip: Option<&'a (&'a NetAttrs, Vec<IpNet>)>,
}

/// Everything a capability's planning step reads.
pub(crate) struct Ctx<'a> {
    pub host: &'a HostState,
    pub cur: &'a Topology,
    pub des: &'a Topology,
    pub have: &'a Wanted<'a>,
    pub want: &'a Wanted<'a>,
    /// Northbound devices this plan creates anew where a device of that
    /// name is now (OVS internal ports (re)added, legacy devices replacing
    /// an internal port): what the old device carries goes with it, so
    /// they are planned as if absent.
    pub fresh: BTreeSet<String>,
    /// Devices by name, over both topologies and both configs' northbounds.
    pub views: BTreeMap<&'a str, DevView<'a>>,
    /// The host's addresses by link, once: asking the host per device is a
    /// scan of every address on it.
    addrs_by_dev: HashMap<&'a str, Vec<&'a Addr>>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(
        host: &'a HostState,
        cur: &'a Topology,
        des: &'a Topology,
        have: &'a Wanted<'a>,
        want: &'a Wanted<'a>,
        fresh: BTreeSet<String>,
    ) -> Self {
        let mut views: BTreeMap<&'a str, DevView<'a>> = BTreeMap::new();
        let names = cur
            .devices
            .keys()
            .chain(des.devices.keys())
            .chain(have.ips.keys())
            .chain(want.ips.keys());
        for name in names {
            views.entry(name.as_str()).or_insert_with(|| DevView {
                desired: des.devices.get(name),
                running: cur.devices.get(name),
                link: host.link(name),
                want_ip: want.ips.get(name),
                have_ip: have.ips.get(name),
            });
        }
        let mut addrs_by_dev: HashMap<&str, Vec<&Addr>> = HashMap::new();
        for a in &host.addrs {
            addrs_by_dev.entry(a.link.as_str()).or_default().push(a);
        }
        Ctx {
            host,
            cur,
            des,
            have,
            want,
            fresh,
            views,
            addrs_by_dev,
        }
    }

    /// The host's addresses on `dev`.
    pub(crate) fn addrs_of(&self, dev: &str) -> impl Iterator<Item = &'a Addr> + '_ {
        self.addrs_by_dev.get(dev).into_iter().flatten().copied()
    }

    /// Whether `name` is an OVS internal port on the host now.
    pub(crate) fn is_internal_port(&self, name: &str) -> bool {
        ovs::is_internal_port(self.host, name)
    }

    /// Whether netswitch owns `dev` in either config.
    pub(crate) fn owned(&self, dev: &str) -> bool {
        self.cur.devices.contains_key(dev) || self.des.devices.contains_key(dev)
    }
}
