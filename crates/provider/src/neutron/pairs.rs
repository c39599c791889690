//! Ports' `allowed_address_pairs`: more addresses (and MACs) a port may
//! send from, put into the switch port's `port_security` as networking-ovn
//! does. The port's own entry `"MAC IP..."` gains the pairs that share its
//! MAC; a pair with another MAC is an entry of its own (one per MAC).
//! `addresses` stays the port's own. The pairs are kept in the port's
//! `external_ids:neutron:allowed_address_pairs` (`IP,MAC` separated by
//! spaces), each with its MAC resolved when set, as Neutron stores them.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::Serialize;
use serde_json::Value;

use super::alloc::parse_mac;
use super::ipam::Cidr;
use crate::error::ApiError;

/// Where a port keeps its pairs.
pub const KEY: &str = "neutron:allowed_address_pairs";

/// One pair as Neutron shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Pair {
    /// An IPv4 address or network (`10.0.0.50`, `10.0.0.0/24`).
    pub ip_address: String,
    /// The MAC it may come from.
    pub mac_address: String,
}

fn bad(what: impl std::fmt::Display) -> ApiError {
    ApiError::bad(format!(
        "Invalid input for allowed_address_pairs of port: {what}"
    ))
}

/// An IPv4 address or an IPv4 network (host bits clear), as written.
fn parse_ip(a: &str) -> Option<String> {
    if a.contains('/') {
        Cidr::parse(a).map(|c| c.to_string())
    } else {
        a.parse::<Ipv4Addr>().ok().map(|ip| ip.to_string())
    }
}

/// Reads a body's `allowed_address_pairs` (null is the empty list); a
/// pair without a MAC takes `port_mac`.
pub fn parse(v: &Value, port_mac: &str) -> Result<Vec<Pair>, ApiError> {
    let items = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Array(a) => a,
        v => return Err(bad(format!("{v} is not a list"))),
    };
    let mut out: Vec<Pair> = Vec::with_capacity(items.len());
    for it in items {
        let o = it
            .as_object()
            .ok_or_else(|| bad(format!("{it} is not an object")))?;
        if let Some(k) = o.keys().find(|k| *k != "ip_address" && *k != "mac_address") {
            return Err(bad(format!("unrecognized key '{k}' in {it}")));
        }
        let ip = o
            .get("ip_address")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("{it}: ip_address is required")))?;
        let ip_address = parse_ip(ip).ok_or_else(|| {
            bad(format!(
                "'{ip}' is not an IPv4 address or network (IPv6 is not served)"
            ))
        })?;
        let mac_address = match o.get("mac_address") {
            None | Some(Value::Null) => port_mac.to_owned(),
            Some(Value::String(m)) => parse_mac(m)
                .map_err(|_| bad(format!("mac_address '{m}' is not a valid unicast MAC")))?,
            Some(m) => return Err(bad(format!("mac_address {m} is not a string"))),
        };
        let p = Pair {
            ip_address,
            mac_address,
        };
        if out.contains(&p) {
            return Err(bad(format!("{it} is listed twice")));
        }
        out.push(p);
    }
    Ok(out)
}

/// The pairs kept in `external_ids`.
pub fn decode(stored: Option<&str>) -> Vec<Pair> {
    stored
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|t| t.split_once(','))
        .map(|(ip, mac)| Pair {
            ip_address: ip.to_owned(),
            mac_address: mac.to_owned(),
        })
        .collect()
}

/// The pairs as `external_ids` keeps them.
pub fn encode(pairs: &[Pair]) -> String {
    pairs
        .iter()
        .map(|p| format!("{},{}", p.ip_address, p.mac_address))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `port_security` entries of a port with `mac`, `ips` and `pairs`:
/// its own entry first, then one per other MAC.
pub fn port_security(mac: &str, ips: &[Ipv4Addr], pairs: &[Pair]) -> Vec<String> {
    let mut own = mac.to_owned();
    for ip in ips {
        own.push_str(&format!(" {ip}"));
    }
    let mut others: BTreeMap<&str, String> = BTreeMap::new();
    for p in pairs {
        if p.mac_address == mac {
            own.push_str(&format!(" {}", p.ip_address));
        } else {
            let e = others
                .entry(&p.mac_address)
                .or_insert_with(|| p.mac_address.clone());
            e.push_str(&format!(" {}", p.ip_address));
        }
    }
    std::iter::once(own).chain(others.into_values()).collect()
}

/// Neutron's refusal of pairs on a port without port security.
pub fn need_security(id: &str) -> ApiError {
    ApiError::conflict(
        "AddressPairAndPortSecurityRequired",
        format!("Port {id}: allowed_address_pairs need port_security_enabled (port security must be enabled and the port must have an IP address to use allowed address pairs)"),
    )
}
