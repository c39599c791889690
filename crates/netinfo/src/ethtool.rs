//! A nic's speed through the ethtool ioctl, the one thing netlink's link
//! dump does not carry.
//!
//! `ETHTOOL_GSET` is used rather than `ETHTOOL_GLINKSETTINGS`: both read the
//! driver's `get_link_ksettings`, and the speed comes out the same, but the
//! legacy call is one ioctl per nic where the new one needs a size
//! handshake of two. With thousands of veths that halves the cost.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::libc;

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
        let speed = (u32::from(cmd.speed_hi) << 16) | u32::from(cmd.speed);
        (speed != SPEED_UNKNOWN && speed != 0 && speed != u32::from(u16::MAX)).then_some(speed)
    }
}
