//! LLDP (IEEE 802.1AB) for netswitch: which switch port is each nic
//! plugged into, reported per nic in the shape of VDSM's `Host.getLldp`.
//!
//! **Why our own parser.** VDSM asked `lldpad` and parsed `lldptool`'s text
//! output, which only worked on the Linux bridge (lldpad and OVS fight over
//! the port) and needs a daemon of its own. An LLDPDU is a flat list of
//! type-length-value records; reading it ourselves from an `AF_PACKET`
//! socket is a few hundred lines, works the same under a Linux bridge, an
//! OVS bridge or on a bare nic, and lets us bound everything a neighbor
//! can make us do.
//!
//! **Pieces.**
//! - [`parse`] — an LLDPDU into an [`Lldpdu`] (pure, safe, never panics,
//!   allocates in proportion to the frame, at most [`MAX_TLVS`] TLVs);
//!   [`tlvs`] turns it into report TLVs with lldptool's names, values all
//!   strings. Unknown TLVs are kept raw and reported as hex.
//! - [`build`] — our own LLDPDU from an [`Announce`].
//! - [`Receiver`] — a thread reading ethertype 0x88cc from every interface
//!   of its namespace (joining 01:80:c2:00:00:0e on each, rescanned every
//!   second), filling a [`Neighbors`] table: per interface the last good
//!   LLDPDU, expired after its TTL (on read too), malformed frames counted
//!   and dropped, [`Event`]s for appeared/changed/expired neighbors.
//!   [`Neighbors::report`] answers `Host.getLldp {filter: {devices}}`.
//! - [`Transmitter`] — optional: our LLDPDU on an interface every 30 s.
//!
//! **Bounds.** One frame buffer of [`MAX_FRAME`] bytes per receiver; one
//! LLDPDU (at most a frame's size) per interface; one thread; the table's
//! lock is held only for a map operation.
//!
//! **Namespaces and the daemon.** Sockets and threads live in the network
//! namespace of the thread that creates them, so call [`Receiver::spawn`]
//! from a thread inside the target namespace. The receiver uses blocking
//! reads with a short timeout on its own OS thread; from tokio, forward
//! events with an unbounded channel sender in the callback.

#![warn(missing_docs)]

mod build;
mod neighbors;
mod pdu;
mod receiver;
mod report;
mod sock;
mod transmit;

pub use build::{build, Announce, BuildError};
pub use neighbors::{Event, Neighbors};
pub use pdu::{
    parse, tlv_type, Capabilities, Id, Lldpdu, ManagementAddress, OrgTlv, ParseError, MAX_TLVS,
    OUI_IEEE_8021, OUI_IEEE_8023,
};
pub use receiver::{open_socket, Receiver, MAX_FRAME};
pub use report::{capability_names, tlvs, DeviceReport, TlvReport};
pub use sock::{ETHERTYPE_LLDP, LLDP_MULTICAST};
pub use transmit::{send_once, RawSender, TransmitError, Transmitter, TX_INTERVAL};
