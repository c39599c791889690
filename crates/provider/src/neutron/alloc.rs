//! MAC and IP allocation on one network. A call indexes what the network's
//! committed ports hold once ([`Taken`], kept in the [`Plan`]) and adds what
//! it plans as it goes, so a bulk create of N ports costs N lookups, not N
//! scans of the network's ports.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use netswitch_ovsdb::{Replica, Uuid};
use serde_json::{json, Value};

use super::port::{ips, mac};
use super::subnet::{self, Subnet};
use super::{network, Ctx, Plan};
use crate::error::ApiError;
use crate::ids;
use crate::nb::uuids;

/// The MACs and IPs in use on one network.
#[derive(Debug, Default)]
pub struct Taken {
    /// MACs, lower case.
    pub macs: HashSet<String>,
    /// IPv4 addresses.
    pub ips: HashSet<Ipv4Addr>,
    /// Per subnet id, the last address this call allocated from its pools
    /// (the next search starts after it: `ips` only grows within a call).
    cursor: HashMap<String, Ipv4Addr>,
}

impl Taken {
    /// What the committed ports of `net` hold, but port `except`'s.
    fn committed(r: &Replica, ls: Option<&Uuid>, except: Option<&Uuid>) -> Self {
        let mut t = Self::default();
        let Some(ls) = ls.and_then(|u| r.row("Logical_Switch", u)) else {
            return t;
        };
        for u in uuids(ls, "ports").iter().filter(|u| Some(*u) != except) {
            if let Some(row) = r.row("Logical_Switch_Port", u) {
                t.macs.extend(mac(row));
                t.ips.extend(ips(row));
            }
        }
        t
    }
}

/// Runs `f` on what is taken on `net`, committed and planned. A create
/// (`except` none) uses the plan's index of the network, built on first
/// use; an update, which re-uses its own port's addresses, builds one
/// without them.
fn with_taken<T>(
    c: &Ctx,
    p: &mut Plan,
    net: &str,
    except: Option<&Uuid>,
    f: impl FnOnce(&mut Taken) -> T,
) -> T {
    let build = |p: &Plan| {
        let ls = network::row_uuid(c, net);
        let mut t = Taken::committed(c.r, ls.as_ref(), except);
        let planned = p.macs.iter().filter(|(n, _)| n == net);
        t.macs.extend(planned.map(|(_, m)| m.clone()));
        let planned = p.ips.iter().filter(|(n, _)| n == net);
        t.ips.extend(planned.map(|(_, ip)| *ip));
        t
    };
    if except.is_some() {
        return f(&mut build(p));
    }
    if !p.taken.contains_key(net) {
        let t = build(p);
        p.taken.insert(net.to_owned(), t);
    }
    match p.taken.get_mut(net) {
        Some(t) => f(t),
        None => f(&mut build(p)),
    }
}

/// Records what a plan claims, in the plan and in its index.
fn claim(p: &mut Plan, net: &str, m: Option<&str>, ip: Option<Ipv4Addr>) {
    let t = p.taken.get_mut(net);
    if let Some(t) = t {
        t.macs.extend(m.map(str::to_owned));
        t.ips.extend(ip);
    }
    if let Some(m) = m {
        p.macs.insert((net.to_owned(), m.to_owned()));
    }
    if let Some(ip) = ip {
        p.ips.insert((net.to_owned(), ip));
    }
}

/// Checks a MAC's form (six hex octets, unicast).
pub(super) fn parse_mac(m: &str) -> Result<String, ApiError> {
    let parts: Vec<&str> = m.split(':').collect();
    let ok = parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && u8::from_str_radix(p, 16).is_ok());
    if !ok || u8::from_str_radix(parts[0], 16).is_ok_and(|b| b & 1 == 1) {
        return Err(ApiError::bad(format!(
            "Invalid input for mac_address of port: '{m}' is not a valid unicast MAC"
        )));
    }
    Ok(m.to_ascii_lowercase())
}

/// The port's MAC: the one asked for (unique on the network) or a new one.
pub fn choose_mac(
    c: &Ctx,
    p: &mut Plan,
    net: &str,
    want: Option<String>,
    except: Option<&Uuid>,
) -> Result<String, ApiError> {
    let want = want.as_deref().map(parse_mac).transpose()?;
    let m = with_taken(c, p, net, except, |t| match want {
        Some(m) if t.macs.contains(&m) => Err(ApiError::conflict(
            "MacAddressInUse",
            format!(
                "Unable to complete operation for network {net}. The mac address {m} is in use."
            ),
        )),
        Some(m) => Ok(m),
        None => Ok(loop {
            let m = ids::mac();
            if !t.macs.contains(&m) {
                break m;
            }
        }),
    })?;
    claim(p, net, Some(&m), None);
    Ok(m)
}

/// The addresses asked for, allocated: absent means one from the
/// network's first subnet; each item may name a subnet, an address, or both.
pub fn allocate(
    c: &Ctx,
    p: &mut Plan,
    net: &str,
    want: Option<&Value>,
    except: Option<&Uuid>,
) -> Result<Vec<Ipv4Addr>, ApiError> {
    let subnets: Vec<Subnet> = subnet::all(c)
        .into_iter()
        .filter(|s| s.network == net)
        .collect();
    let items: Vec<Value> = match want {
        None | Some(Value::Null) => subnets
            .first()
            .map(|s| json!({"subnet_id": s.id}))
            .into_iter()
            .collect(),
        Some(Value::Array(a)) => a.clone(),
        Some(v) => {
            return Err(ApiError::bad(format!(
                "Invalid input for fixed_ips of port: {v} is not a list"
            )))
        }
    };
    let out = with_taken(c, p, net, except, |t| {
        let mut out = Vec::new();
        for it in &items {
            let ip = allocate_one(&subnets, net, it, t)?;
            t.ips.insert(ip);
            out.push(ip);
        }
        Ok::<_, ApiError>(out)
    })?;
    for ip in &out {
        claim(p, net, None, Some(*ip));
    }
    Ok(out)
}

fn allocate_one(
    subnets: &[Subnet],
    net: &str,
    it: &Value,
    t: &mut Taken,
) -> Result<Ipv4Addr, ApiError> {
    let used = &t.ips;
    let sub_id = it.get("subnet_id").and_then(Value::as_str);
    let by_id = match sub_id {
        Some(id) => Some(subnets.iter().find(|s| s.id == id).ok_or_else(|| {
            ApiError::bad(format!(
                "Invalid input for fixed_ips of port: subnet {id} is not a subnet of network {net}"
            ))
        })?),
        None => None,
    };
    match it.get("ip_address").and_then(Value::as_str) {
        Some(a) => {
            let ip: Ipv4Addr = a.parse().map_err(|_| {
                ApiError::bad(format!(
                    "Invalid input for fixed_ips of port: '{a}' is not an IPv4 address"
                ))
            })?;
            let sn = subnets.iter().find(|s| s.cidr.contains(ip) && by_id.is_none_or(|b| b.id == s.id)).ok_or_else(|| {
                ApiError::bad(format!("Invalid input for fixed_ips of port: {ip} is in no subnet of network {net}"))
            })?;
            if used.contains(&ip) || sn.gateway == Some(ip) {
                return Err(ApiError::conflict(
                    "IpAddressAlreadyAllocated",
                    format!("IP address {ip} already allocated in subnet {}", sn.id),
                ));
            }
            Ok(ip)
        }
        None => {
            let sn = by_id.ok_or_else(|| {
                ApiError::bad(
                    "Invalid input for fixed_ips of port: each item needs subnet_id or ip_address",
                )
            })?;
            let after = t.cursor.get(&sn.id).copied();
            let ip = super::ipam::first_free_from(&sn.pools, used, after).ok_or_else(|| {
                ApiError::conflict(
                    "IpAddressGenerationFailure",
                    format!(
                        "No more IP addresses available on network {net} (subnet {})",
                        sn.id
                    ),
                )
            })?;
            t.cursor.insert(sn.id.clone(), ip);
            Ok(ip)
        }
    }
}
