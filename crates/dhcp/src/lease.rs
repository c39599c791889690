//! The lease file a network's client keeps current: what is installed now,
//! for `blockingdhcp` waits, tests and operators.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::DhcpError;

/// An IPv4 lease as installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease4 {
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub server: Ipv4Addr,
    /// Seconds, as granted.
    pub lease_time: u32,
    /// Source-routing table the gateway went into (None: the main table
    /// or no gateway).
    pub table: Option<u32>,
    /// How many times the lease was granted (1 = first bind; more = renewed).
    pub grants: u64,
}

/// An IPv6 (IA_NA) lease as installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease6 {
    pub address: Ipv6Addr,
    pub prefix: u8,
    pub dns: Vec<Ipv6Addr>,
    pub valid_time: u32,
    pub preferred_time: u32,
    pub grants: u64,
}

/// `<dir>/<net>.lease.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseFile {
    pub dev: String,
    pub v4: Option<Lease4>,
    pub v6: Option<Lease6>,
}

impl LeaseFile {
    /// Reads a lease file; a missing or torn one reads as no lease.
    pub fn read(path: &Path) -> LeaseFile {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Writes it atomically (temp file and rename), so readers never see
    /// half a file.
    pub fn write(&self, path: &Path) -> Result<(), DhcpError> {
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(self).unwrap_or_default();
        std::fs::write(&tmp, text).map_err(|e| DhcpError::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| DhcpError::io(path, e))
    }
}
