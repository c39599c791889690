//! The lease file a network's client keeps current: what is installed now,
//! for `blockingdhcp` waits, tests, operators, and the daemon, which turns
//! its changes into `dhcp.*` events ([`changes`]) even though the client
//! is a process of its own.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
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

/// Why a lease left the host, kept so a watcher of the lease file can
/// tell a release from an expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndReason {
    /// The client released it (stopped, network removed or changed).
    Released,
    /// It ran out without renewal or rebinding, or the client lost it.
    Expired,
}

/// The end of a family's last lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ended {
    pub address: IpAddr,
    pub reason: EndReason,
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
    /// Source-routing table the router (from router advertisements) went
    /// into (None: the defaultRoute network, whose router the kernel puts
    /// in the main table).
    #[serde(default)]
    pub table: Option<u32>,
}

/// `<dir>/<net>.lease.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseFile {
    pub dev: String,
    pub v4: Option<Lease4>,
    pub v6: Option<Lease6>,
    /// How the last IPv4 lease ended, while there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_v4: Option<Ended>,
    /// How the last IPv6 lease ended, while there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_v6: Option<Ended>,
}

/// One family's lease as the events see it.
struct Side {
    family: &'static str,
    address: IpAddr,
    prefix: u8,
    lifetime: u32,
    grants: u64,
}

fn sides(f: &LeaseFile) -> [(Option<Side>, &Option<Ended>); 2] {
    [
        (
            f.v4.as_ref().map(|l| Side {
                family: "ipv4",
                address: IpAddr::V4(l.address),
                prefix: l.prefix,
                lifetime: l.lease_time,
                grants: l.grants,
            }),
            &f.ended_v4,
        ),
        (
            f.v6.as_ref().map(|l| Side {
                family: "ipv6",
                address: IpAddr::V6(l.address),
                prefix: l.prefix,
                lifetime: l.valid_time,
                grants: l.grants,
            }),
            &f.ended_v6,
        ),
    ]
}

/// The `Host.subscribe` events between two readings of a network's lease
/// file (`None`: no file, the client is gone): `dhcp.lease` when a lease
/// is bound (`renewed` when the same address was granted again),
/// `dhcp.released` or `dhcp.expired` when one leaves the host. A file that
/// disappears with a lease in it was released by a stopped client.
pub fn changes(
    net: &str,
    old: Option<&LeaseFile>,
    new: Option<&LeaseFile>,
) -> Vec<serde_json::Value> {
    let empty = LeaseFile::default();
    let (o, n) = (old.unwrap_or(&empty), new.unwrap_or(&empty));
    let dev = if n.dev.is_empty() { &o.dev } else { &n.dev };
    let mut out = Vec::new();
    for ((was, _), (now, ended)) in sides(o).into_iter().zip(sides(n)) {
        match (was, now) {
            (Some(w), Some(n)) if w.address == n.address && w.grants == n.grants => {}
            (was, Some(n)) => out.push(serde_json::json!({
                "event": "dhcp.lease",
                "network": net,
                "device": dev,
                "family": n.family,
                "address": n.address,
                "prefix": n.prefix,
                "lifetime": n.lifetime,
                "renewed": was.is_some_and(|w| w.address == n.address),
            })),
            (Some(w), None) => {
                let reason = match ended {
                    Some(e) if e.address == w.address => e.reason,
                    _ if new.is_none() => EndReason::Released,
                    _ => EndReason::Expired,
                };
                let event = match reason {
                    EndReason::Released => "dhcp.released",
                    EndReason::Expired => "dhcp.expired",
                };
                out.push(serde_json::json!({
                    "event": event,
                    "network": net,
                    "device": dev,
                    "family": w.family,
                    "address": w.address,
                }));
            }
            (None, None) => {}
        }
    }
    out
}

impl LeaseFile {
    /// The IPv4 lease is gone, for `reason`.
    pub fn end_v4(&mut self, address: Ipv4Addr, reason: EndReason) {
        self.v4 = None;
        self.ended_v4 = Some(Ended {
            address: IpAddr::V4(address),
            reason,
        });
    }

    /// The IPv6 lease is gone, for `reason`.
    pub fn end_v6(&mut self, address: Ipv6Addr, reason: EndReason) {
        self.v6 = None;
        self.ended_v6 = Some(Ended {
            address: IpAddr::V6(address),
            reason,
        });
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(address: &str, grants: u64) -> Lease4 {
        Lease4 {
            address: address.parse().unwrap(),
            prefix: 24,
            gateway: None,
            dns: vec![],
            server: "10.0.0.1".parse().unwrap(),
            lease_time: 120,
            table: None,
            grants,
        }
    }

    fn file(l: Option<Lease4>, ended: Option<Ended>) -> LeaseFile {
        LeaseFile {
            dev: "eth0".into(),
            v4: l,
            ended_v4: ended,
            ..LeaseFile::default()
        }
    }

    fn kinds(v: &[serde_json::Value]) -> Vec<(String, bool)> {
        v.iter()
            .map(|e| {
                (
                    e["event"].as_str().unwrap().to_string(),
                    e["renewed"].as_bool().unwrap_or(false),
                )
            })
            .collect()
    }

    #[test]
    fn bind_renew_and_the_ways_a_lease_ends() {
        let none = file(None, None);
        let a1 = file(Some(v4("10.0.0.5", 1)), None);
        let a2 = file(Some(v4("10.0.0.5", 2)), None);
        let e = changes("mgmt", Some(&none), Some(&a1));
        assert_eq!(kinds(&e), [("dhcp.lease".into(), false)]);
        assert_eq!(e[0]["network"], "mgmt");
        assert_eq!(e[0]["family"], "ipv4");
        assert_eq!(e[0]["address"], "10.0.0.5");
        assert_eq!(e[0]["lifetime"], 120);
        assert!(changes("mgmt", Some(&a1), Some(&a1)).is_empty());
        assert_eq!(
            kinds(&changes("mgmt", Some(&a1), Some(&a2))),
            [("dhcp.lease".into(), true)]
        );
        let gone = |reason| {
            file(
                None,
                Some(Ended {
                    address: "10.0.0.5".parse().unwrap(),
                    reason,
                }),
            )
        };
        assert_eq!(
            kinds(&changes("mgmt", Some(&a2), Some(&gone(EndReason::Expired)))),
            [("dhcp.expired".into(), false)]
        );
        assert_eq!(
            kinds(&changes(
                "mgmt",
                Some(&a2),
                Some(&gone(EndReason::Released))
            )),
            [("dhcp.released".into(), false)]
        );
        // The file removed under a lease: a stopped client's release.
        assert_eq!(
            kinds(&changes("mgmt", Some(&a2), None)),
            [("dhcp.released".into(), false)]
        );
        assert!(changes("mgmt", None, Some(&none)).is_empty());
    }
}
