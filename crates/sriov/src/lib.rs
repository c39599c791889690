//! SR-IOV: which nics are physical functions (PFs) and how many virtual
//! functions (VFs) they have, the PF of a VF, a nic's PCI address, and the
//! change of a PF's VF count.
//!
//! Everything is read through a sysfs root path ([`Sysfs`]), so unit tests
//! point it at a fake tree in a temporary directory. The device of a nic is
//! found by its bus and device name ([`Parent`]: `IFLA_PARENT_DEV_BUS_NAME`
//! and `IFLA_PARENT_DEV_NAME`, which the host snapshot reads with the rest
//! of each link) under `bus/<bus>/devices/`:
//! unlike `class/net/`, that part of sysfs shows the same devices whatever
//! network namespace the reader is in, so a daemon working inside a
//! namespace (`--netns`) still finds its nics' devices.

#![warn(missing_docs)]

mod sysfs;
mod vf;

pub use sysfs::{Numvfs, SriovInfo, Sysfs};
pub use vf::{set_vf, vfs_of, LinkState, VfSettings};

/// A nic's device: its bus and its name on that bus (`pci`,
/// `0000:03:00.0`; netdevsim's `netdevsim`, `netdevsim1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parent {
    /// `IFLA_PARENT_DEV_BUS_NAME`.
    pub bus: String,
    /// `IFLA_PARENT_DEV_NAME`.
    pub name: String,
}

/// Why an SR-IOV read or change failed.
#[derive(Debug, thiserror::Error)]
pub enum SriovError {
    /// A sysfs file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// What the kernel said.
        source: std::io::Error,
    },
    /// A netlink dump failed.
    #[error("netlink: {0}")]
    Netlink(std::io::Error),
}
