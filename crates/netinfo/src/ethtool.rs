//! A nic's speed through the ethtool ioctl, the one thing netlink's link
//! dump does not carry.
//!
//! `ETHTOOL_GSET` is used rather than `ETHTOOL_GLINKSETTINGS`: both read the
//! driver's `get_link_ksettings`, and the speed comes out the same, but the
//! legacy call is one ioctl per nic where the new one needs a size
//! handshake of two. With thousands of veths that halves the cost.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::libc;

use netswitch_netlink::Socket;

use crate::wire;

/// `SIOCETHTOOL` from `<linux/sockios.h>` (libc does not export it).
const SIOCETHTOOL: u64 = 0x8946;
/// `ETHTOOL_GSET` from `<linux/ethtool.h>`.
const ETHTOOL_GSET: u32 = 0x0000_0001;
/// `SPEED_UNKNOWN`: the driver does not know (no carrier, virtual device).
const SPEED_UNKNOWN: u32 = u32::MAX;

/// `struct ethtool_cmd` from `<linux/ethtool.h>` (44 bytes).
#[repr(C)]
#[derive(Default)]
struct EthtoolCmd {
    cmd: u32,
    supported: u32,
    advertising: u32,
    speed: u16,
    duplex: u8,
    port: u8,
    phy_address: u8,
    transceiver: u8,
    autoneg: u8,
    mdio_support: u8,
    maxtxpkt: u32,
    maxrxpkt: u32,
    speed_hi: u16,
    eth_tp_mdix: u8,
    eth_tp_mdix_ctrl: u8,
    lp_advertising: u32,
    reserved: [u32; 2],
}

const _: () = assert!(std::mem::size_of::<EthtoolCmd>() == 44);

/// An `AF_INET` datagram socket to aim ethtool ioctls through; it belongs
/// to the network namespace of the thread that opened it.
pub(crate) struct Ethtool {
    sock: OwnedFd,
}

impl Ethtool {
    /// Opens the socket; `None` (speeds unknown) when that fails.
    pub(crate) fn open() -> Option<Self> {
        // SAFETY: plain socket(2) call; the result is checked before use.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            tracing::debug!(
                error = %std::io::Error::last_os_error(),
                "no socket for ethtool; link speeds unknown"
            );
            return None;
        }
        // SAFETY: `fd` is a fresh descriptor nothing else owns.
        Some(Self {
            sock: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// The link speed of `ifname` in Mbit/s; `None` when the driver reports
    /// it unknown or has no ethtool support (loopback).
    pub(crate) fn speed(&self, ifname: &str) -> Option<u32> {
        let name = ifname.as_bytes();
        if name.len() >= libc::IFNAMSIZ {
            return None;
        }
        let mut cmd = EthtoolCmd {
            cmd: ETHTOOL_GSET,
            ..EthtoolCmd::default()
        };
        // SAFETY: an all-zero ifreq is a valid value (name and union).
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in req.ifr_name.iter_mut().zip(name) {
            *dst = *src as libc::c_char;
        }
        req.ifr_ifru.ifru_data = (&mut cmd as *mut EthtoolCmd).cast();
        // SAFETY: `req` names a NUL-terminated interface and points at a
        // live `ethtool_cmd` of the size the kernel copies for ETHTOOL_GSET;
        // both outlive the call.
        let rc = unsafe { libc::ioctl(self.sock.as_raw_fd(), SIOCETHTOOL as _, &mut req) };
        if rc < 0 {
            return None;
        }
        known((u32::from(cmd.speed_hi) << 16) | u32::from(cmd.speed))
    }
}

/// A driver's speed, `None` when it says unknown (`SPEED_UNKNOWN`, or the
/// 0 and 0xffff some drivers use for it).
fn known(speed: u32) -> Option<u32> {
    (speed != SPEED_UNKNOWN && speed != 0 && speed != u32::from(u16::MAX)).then_some(speed)
}

/// `GENL_ID_CTRL`, `CTRL_CMD_GETFAMILY`, `CTRL_ATTR_FAMILY_ID`,
/// `CTRL_ATTR_FAMILY_NAME` from `<linux/genetlink.h>`.
const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
/// `sizeof(struct genlmsghdr)`.
const GENL_HDRLEN: usize = 4;
/// From `<linux/ethtool_netlink.h>`.
const ETHTOOL_GENL_VERSION: u8 = 1;
const ETHTOOL_MSG_LINKMODES_GET: u8 = 4;
const ETHTOOL_A_LINKMODES_HEADER: u16 = 1;
const ETHTOOL_A_LINKMODES_SPEED: u16 = 5;
const ETHTOOL_A_HEADER_DEV_INDEX: u16 = 1;
const ETHTOOL_A_HEADER_FLAGS: u16 = 3;
const ETHTOOL_FLAG_COMPACT_BITSETS: u32 = 1;
const NLA_F_NESTED: u16 = 0x8000;

/// A genetlink message body: `genlmsghdr`, then the attributes.
fn genl_body(cmd: u8, version: u8, attrs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut b = vec![cmd, version, 0, 0];
    for (kind, value) in attrs {
        wire::push(&mut b, *kind, value);
    }
    b
}

/// The speed of every device whose driver reports link settings, by
/// ifindex, from one ethtool-netlink `LINKMODES_GET` dump: the same
/// `get_link_ksettings` call [`Ethtool::speed`] makes, for all devices in
/// one round trip instead of one ioctl each. A device the dump leaves out
/// has no link settings (the ioctl would fail with `EOPNOTSUPP`).
///
/// `None` when the kernel has no ethtool netlink (before 5.6) or the dump
/// fails (a driver error other than "not supported" ends it); the caller
/// then falls back to the ioctl per device.
pub(crate) fn speeds_by_index() -> Option<HashMap<u32, Option<u32>>> {
    let attempt = || -> std::io::Result<HashMap<u32, Option<u32>>> {
        let mut sock = Socket::open(netswitch_netlink::NETLINK_GENERIC)?;
        let mut family = None;
        let ask = genl_body(
            CTRL_CMD_GETFAMILY,
            1,
            &[(CTRL_ATTR_FAMILY_NAME, b"ethtool\0")],
        );
        sock.request(GENL_ID_CTRL, 0, &ask, |m| {
            family = wire::Attrs::new(m.payload.get(GENL_HDRLEN..).unwrap_or_default())
                .find_kind(CTRL_ATTR_FAMILY_ID)
                .and_then(wire::u16_of);
        })?;
        let family = family.ok_or_else(|| std::io::Error::other("no ethtool genetlink family"))?;
        let mut header = Vec::new();
        header.extend(8u16.to_ne_bytes());
        header.extend(ETHTOOL_A_HEADER_FLAGS.to_ne_bytes());
        header.extend(ETHTOOL_FLAG_COMPACT_BITSETS.to_ne_bytes());
        let body = genl_body(
            ETHTOOL_MSG_LINKMODES_GET,
            ETHTOOL_GENL_VERSION,
            &[(ETHTOOL_A_LINKMODES_HEADER | NLA_F_NESTED, &header)],
        );
        let speeds = sock.dump(&"ethtool linkmodes", family, &body, |m| {
            let mut index = None;
            let mut speed = None;
            for (t, v) in wire::Attrs::new(m.payload.get(GENL_HDRLEN..).unwrap_or_default()) {
                match t {
                    ETHTOOL_A_LINKMODES_HEADER => {
                        index = wire::Attrs::new(v)
                            .find_kind(ETHTOOL_A_HEADER_DEV_INDEX)
                            .and_then(wire::u32_of);
                    }
                    ETHTOOL_A_LINKMODES_SPEED => speed = wire::u32_of(v),
                    _ => {}
                }
            }
            Some((index?, speed.and_then(known)))
        })?;
        Ok(speeds.into_iter().collect())
    };
    match attempt() {
        Ok(speeds) => Some(speeds),
        Err(e) => {
            tracing::debug!(error = %e, "no ethtool netlink dump; reading speeds one ioctl per link");
            None
        }
    }
}
