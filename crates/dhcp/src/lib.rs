//! Dynamic addressing for netswitch networks: a DHCPv4 and DHCPv6 client
//! per network, what a lease puts on the host, IPv6 autoconf sysctls, and
//! the supervision of the clients.
//!
//! The protocol is nmstate's `mozim` crate; this crate decides what a lease
//! means for the host (the address with its lifetimes, the default route
//! only for the defaultRoute network, otherwise the network's own
//! source-routing table, DNS only for the defaultRoute network without
//! explicit name servers) and installs it over netlink.
//!
//! Layers, so the daemon can host clients in-process while the CLI runs
//! one supervisor process per network:
//! - [`spec`]: which networks need a client and how (pure, from a `Config`);
//! - [`client::run`]: one network's clients until told to stop (async);
//! - [`supervise`]: the CLI's per-network supervisor processes (start,
//!   stop, wait for leases) and the lease files they write;
//! - [`sysctl`]: the kernel's own RA handling per device;
//! - [`ra`]: the router of a non-default DHCPv6 network, from its RAs,
//!   into the network's own table.

pub mod client;
pub mod install;
pub mod lease;
pub mod nl;
pub mod ra;
pub mod resolv;
pub mod spec;
pub mod supervise;
pub mod sysctl;

pub use lease::{Lease4, Lease6, LeaseFile};
pub use spec::{specs, ClientSpec};
pub use supervise::Supervisor;

/// A failure of dynamic addressing.
#[derive(Debug, thiserror::Error)]
pub enum DhcpError {
    /// A netlink request failed (the kernel's errno, or the socket's).
    #[error("netlink: {0}")]
    Netlink(#[from] std::io::Error),
    /// A DHCP protocol step failed.
    #[error("dhcp client on {dev}: {message}")]
    Protocol { dev: String, message: String },
    /// The device to run on is not there.
    #[error("device {0} does not exist")]
    NoDevice(String),
    /// A file of the supervision could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// A supervisor could not be started, or no lease came in time.
    #[error("network {net}: {message}")]
    Supervise { net: String, message: String },
}

impl DhcpError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        DhcpError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
