//! The parent device (bus and name) of every link, from one rtnetlink
//! link dump.

use std::collections::BTreeMap;

use netswitch_netlink::{attr, Attrs, Socket, NETLINK_ROUTE};

use crate::SriovError;

const RTM_GETLINK: u16 = 18;
const RTM_NEWLINK: u16 = 16;
const IFLA_IFNAME: u16 = 3;
const IFLA_PARENT_DEV_NAME: u16 = 56;
const IFLA_PARENT_DEV_BUS_NAME: u16 = 57;
/// `sizeof(struct ifinfomsg)`.
const IFINFOMSG_LEN: usize = 16;

/// Where a link's device sits: `bus/<bus>/devices/<name>` in sysfs
/// (`pci` and `0000:03:00.0`, or `netdevsim` and `netdevsim1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parent {
    /// The bus (`pci`, `netdevsim`).
    pub bus: String,
    /// The device's name on the bus (a PCI address for `pci`).
    pub name: String,
}

/// Every link of the current network namespace that has a parent device,
/// by link name. Virtual links (bridges, veths, bonds) have none.
pub fn parents() -> Result<BTreeMap<String, Parent>, SriovError> {
    let mut sock = Socket::open(NETLINK_ROUTE).map_err(SriovError::Netlink)?;
    let body = [0u8; IFINFOMSG_LEN];
    let found = sock
        .dump(&"links (parents)", RTM_GETLINK, &body, |m| {
            (m.kind == RTM_NEWLINK)
                .then(|| parse(m.payload.get(IFINFOMSG_LEN..)?))
                .flatten()
        })
        .map_err(SriovError::Netlink)?;
    Ok(found.into_iter().collect())
}

/// The name and parent of one link message's attributes.
fn parse(attrs: &[u8]) -> Option<(String, Parent)> {
    let (mut name, mut bus, mut dev) = (None, None, None);
    for (kind, p) in Attrs::new(attrs) {
        match kind {
            IFLA_IFNAME => name = attr::str_of(p),
            IFLA_PARENT_DEV_NAME => dev = attr::str_of(p),
            IFLA_PARENT_DEV_BUS_NAME => bus = attr::str_of(p),
            _ => {}
        }
    }
    Some((
        name?.to_string(),
        Parent {
            bus: bus?.to_string(),
            name: dev?.to_string(),
        },
    ))
}
