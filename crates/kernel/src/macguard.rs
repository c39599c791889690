//! Locking a Linux bridge port to one source MAC (a vNIC's MAC spoofing
//! protection).
//!
//! The bridge's own mechanism, netlink only: the port gets
//! `IFLA_BRPORT_LOCKED` (Linux 5.18 and later), so the bridge drops every
//! frame arriving on it whose source MAC has no FDB entry pointing at this
//! port, and `IFLA_BRPORT_LEARNING` off, so nothing the VM sends creates
//! such an entry; then one static FDB entry (`RTM_NEWNEIGH`, `AF_BRIDGE`,
//! `NTF_MASTER`, `NUD_NOARP`: `bridge fdb add MAC dev PORT master static`)
//! lets the vNIC's own MAC through. Not `NUD_PERMANENT`: that makes a
//! "local" entry, which a locked port refuses too. All of it goes away
//! with the port's membership, so leaving the bridge undoes it.

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE,
    NLM_F_REQUEST,
};
use netlink_packet_route::link::{
    InfoBridgePort, InfoPortData, InfoPortKind, LinkAttribute, LinkInfo, LinkMessage,
};
use netlink_packet_route::neighbour::{
    NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::socket::NlSocket;

/// Locks bridge port `index` to source MAC `mac`. The error names the
/// step the kernel refused and why.
pub fn lock_port_to_mac(index: u32, mac: [u8; 6]) -> Result<(), String> {
    let mut port = LinkMessage::default();
    port.header.index = index;
    port.attributes = vec![LinkAttribute::LinkInfo(vec![
        LinkInfo::PortKind(InfoPortKind::Bridge),
        LinkInfo::PortData(InfoPortData::BridgePort(vec![
            InfoBridgePort::Learning(false),
            InfoBridgePort::Locked(true),
        ])),
    ])];
    let mut fdb = NeighbourMessage::default();
    fdb.header.family = AddressFamily::Bridge;
    fdb.header.ifindex = index;
    fdb.header.state = NeighbourState::Noarp;
    fdb.header.flags = NeighbourFlags::Controller;
    fdb.attributes = vec![NeighbourAttribute::LinkLayerAddress(mac.to_vec())];
    let mut bytes = Vec::new();
    // A new FDB entry or one replaced; a changed link (NLM_F_REPLACE on
    // an existing link is EOPNOTSUPP).
    let fdb_flags = NLM_F_CREATE | NLM_F_REPLACE;
    append(
        &mut bytes,
        RouteNetlinkMessage::NewNeighbour(fdb),
        fdb_flags,
        1,
    );
    append(&mut bytes, RouteNetlinkMessage::NewLink(port), 0, 2);
    let mut sock = NlSocket::open().map_err(|e| e.to_string())?;
    sock.send(&bytes).map_err(|e| e.to_string())?;
    let mut acks = [None, None];
    sock.recv_acks(2, |ack| match ack.seq {
        seq @ (1 | 2) => {
            acks[(seq - 1) as usize] = Some(ack);
            true
        }
        _ => false,
    })
    .map_err(|e| e.to_string())?;
    for (what, ack) in ["the static FDB entry", "locking the port"]
        .iter()
        .zip(acks)
    {
        match ack {
            Some(a) if a.errno == 0 => {}
            Some(a) => {
                let text = a.text.unwrap_or_default();
                return Err(format!(
                    "{what}: {} {text}",
                    std::io::Error::from_raw_os_error(a.errno)
                ));
            }
            None => return Err(format!("{what}: no ack")),
        }
    }
    Ok(())
}

/// Serialises one request (asking for an ack) at the end of `buf`.
fn append(buf: &mut Vec<u8>, msg: RouteNetlinkMessage, flags: u16, seq: u32) {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    header.sequence_number = seq;
    let mut nl = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
    nl.finalize();
    let len = nl.buffer_len();
    let start = buf.len();
    buf.resize(start + len.next_multiple_of(4), 0);
    nl.serialize(&mut buf[start..start + len]);
}
