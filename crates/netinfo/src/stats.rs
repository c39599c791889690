//! Per-link traffic counters (getNetworkStatistics): one link dump with the
//! statistics blocks the snapshot skips, and the ethtool speeds (one
//! ethtool-netlink dump).
//!
//! Counters move all the time without a notification, so they are never
//! kept live: every call is a fresh dump.

use netswitch_netlink::{Attrs, Socket, NETLINK_ROUTE};
use serde::Serialize;

use crate::raw::{link_request_with_stats, IFINFOMSG_LEN, RTM_GETLINK, RTM_NEWLINK};
use crate::{ethtool, fast, wire, DumpKind, NetinfoError};

/// `IFLA_IFNAME`, `IFLA_STATS` (`rtnl_link_stats`, 32-bit counters) and
/// `IFLA_STATS64` (`rtnl_link_stats64`).
const IFLA_IFNAME: u16 = 3;
const IFLA_STATS: u16 = 7;
const IFLA_STATS64: u16 = 23;

/// One link's counters since it was created, as the kernel keeps them
/// (`rtnl_link_stats64`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkStats {
    /// The link's name.
    pub name: String,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Transmit errors.
    pub tx_errors: u64,
    /// Packets dropped on receive.
    pub rx_dropped: u64,
    /// Packets dropped on transmit.
    pub tx_dropped: u64,
    /// Link speed in Mbit/s, when the driver reports one.
    pub speed: Option<u32>,
}

/// Counters of every link of the calling thread's network namespace, in
/// ifindex order.
pub fn statistics() -> Result<Vec<LinkStats>, NetinfoError> {
    let mut sock = Socket::open(NETLINK_ROUTE).map_err(NetinfoError::Connect)?;
    let body = link_request_with_stats();
    let mut links = fast::dump(&mut sock, DumpKind::Links, RTM_GETLINK, &body, |m| {
        (m.kind == RTM_NEWLINK)
            .then(|| read_stats(m.payload))
            .flatten()
    })?;
    // One ethtool-netlink dump for every speed; the ioctl per link only on
    // kernels without it.
    let by_index = ethtool::speeds_by_index();
    let ethtool = match by_index {
        None => ethtool::Ethtool::open(),
        Some(_) => None,
    };
    for (index, s) in &mut links {
        s.speed = match &by_index {
            Some(speeds) => speeds.get(index).copied().flatten(),
            None => ethtool.as_ref().and_then(|e| e.speed(&s.name)),
        };
    }
    Ok(links.into_iter().map(|(_, s)| s).collect())
}

/// One link's ifindex and counters, from `IFLA_STATS64` (or the 32-bit
/// `IFLA_STATS` of a kernel without it); `None` for a link without a name.
fn read_stats(m: &[u8]) -> Option<(u32, LinkStats)> {
    let mut s = LinkStats::default();
    let mut c64: Option<[u64; 8]> = None;
    let mut c32: Option<[u64; 8]> = None;
    for (t, p) in Attrs::new(m.get(IFINFOMSG_LEN..)?) {
        match t {
            IFLA_IFNAME => s.name = wire::str_of(p)?.to_string(),
            // The first eight counters, in the same order in both structs:
            // rx/tx packets, rx/tx bytes, rx/tx errors, rx/tx dropped.
            IFLA_STATS64 if p.len() >= 64 => {
                c64 = Some(std::array::from_fn(|i| {
                    wire::u64_of(&p[i * 8..i * 8 + 8]).unwrap_or_default()
                }))
            }
            IFLA_STATS if p.len() >= 32 => {
                c32 = Some(std::array::from_fn(|i| u64::from(wire::u32_at(p, i * 4))))
            }
            _ => {}
        }
    }
    if s.name.is_empty() {
        return None;
    }
    let c = c64.or(c32).unwrap_or_default();
    [
        s.rx_packets,
        s.tx_packets,
        s.rx_bytes,
        s.tx_bytes,
        s.rx_errors,
        s.tx_errors,
        s.rx_dropped,
        s.tx_dropped,
    ] = c;
    Some((wire::u32_at(m, 4), s))
}
