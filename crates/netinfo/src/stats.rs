//! Per-link traffic counters (getNetworkStatistics): one link dump with the
//! statistics blocks the snapshot skips, and the ethtool speeds (one
//! ethtool-netlink dump).
//!
//! Counters move all the time without a notification, so they are never
//! kept live: every call is a fresh dump.

use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use serde::Serialize;

use crate::live::DumpSocket;
use crate::{ethtool, DumpKind, NetinfoError};

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
    let mut sock = DumpSocket::open()?;
    let mut req = LinkMessage::default();
    req.header.interface_family = AddressFamily::Unspec;
    let msgs = sock.dump(DumpKind::Links, RouteNetlinkMessage::GetLink(req))?;
    // One ethtool-netlink dump for every speed; the ioctl per link only on
    // kernels without it.
    let by_index = ethtool::speeds_by_index();
    let ethtool = match by_index {
        None => ethtool::Ethtool::open(),
        Some(_) => None,
    };
    let mut out = Vec::with_capacity(msgs.len());
    for m in msgs {
        let RouteNetlinkMessage::NewLink(m) = m else {
            continue;
        };
        let mut s = LinkStats::default();
        let mut have_64 = false;
        for a in &m.attributes {
            match a {
                LinkAttribute::IfName(n) => s.name = n.clone(),
                LinkAttribute::Stats64(st) => {
                    have_64 = true;
                    s.rx_bytes = st.rx_bytes;
                    s.tx_bytes = st.tx_bytes;
                    s.rx_packets = st.rx_packets;
                    s.tx_packets = st.tx_packets;
                    s.rx_errors = st.rx_errors;
                    s.tx_errors = st.tx_errors;
                    s.rx_dropped = st.rx_dropped;
                    s.tx_dropped = st.tx_dropped;
                }
                LinkAttribute::Stats(st) if !have_64 => {
                    s.rx_bytes = u64::from(st.rx_bytes);
                    s.tx_bytes = u64::from(st.tx_bytes);
                    s.rx_packets = u64::from(st.rx_packets);
                    s.tx_packets = u64::from(st.tx_packets);
                    s.rx_errors = u64::from(st.rx_errors);
                    s.tx_errors = u64::from(st.tx_errors);
                    s.rx_dropped = u64::from(st.rx_dropped);
                    s.tx_dropped = u64::from(st.tx_dropped);
                }
                _ => {}
            }
        }
        if s.name.is_empty() {
            continue;
        }
        s.speed = match &by_index {
            Some(speeds) => speeds.get(&m.header.index).copied().flatten(),
            None => ethtool.as_ref().and_then(|e| e.speed(&s.name)),
        };
        out.push(s);
    }
    Ok(out)
}
