//! Which chassis a router's new external gateway port is bound to.
//!
//! The config's `gateway_chassis` list, when set, is used as given. Else,
//! with `sb_remotes` set, the chassis are chosen from the southbound DB as
//! networking-ovn does: those whose `ovn-cms-options` hold
//! `enable-chassis-as-gw`; on a flat or VLAN external network those among
//! them whose `ovn-bridge-mappings` map its physical network, or all of
//! them if none does (the port is still usable where the operator maps it
//! later, and an unbound gateway does no NAT at all); at most
//! [`MAX_GATEWAY_CHASSIS`], least loaded first. Existing ports are not
//! moved when chassis come and go.

use std::collections::BTreeMap;

use super::{network, Ctx};
use crate::nb::{key, rows, s, uuids};
use crate::sb::Chassis;

/// networking-ovn's limit on one port's gateway chassis.
pub const MAX_GATEWAY_CHASSIS: usize = 5;

/// The chassis, most preferred first, for router `router`'s gateway port
/// on network `net`; empty when none is configured or eligible.
pub(super) fn for_gateway(c: &Ctx, router: &str, net: &str) -> Vec<String> {
    if !c.gateway_chassis.is_empty() {
        return c.gateway_chassis.to_vec();
    }
    let Some(sb) = c.sb else {
        return Vec::new();
    };
    let physnet = network::find(c, net)
        .ok()
        .and_then(|ls| key(ls, "external_ids", "neutron:physical_network"));
    let chosen = choose(&sb.chassis(), physnet, &load(c));
    if chosen.is_empty() {
        tracing::warn!(
            router,
            network = net,
            "no gateway-capable chassis in the southbound DB (ovn-cms-options=enable-chassis-as-gw): the router's gateway port is left unbound, so it does no SNAT or floating IPs until one is set"
        );
    }
    chosen
}

/// The pure choice: eligible chassis (those mapping `physnet` if any do),
/// ordered by `load` then name, at most [`MAX_GATEWAY_CHASSIS`].
pub fn choose(
    chassis: &[Chassis],
    physnet: Option<&str>,
    load: &BTreeMap<String, usize>,
) -> Vec<String> {
    let eligible: Vec<&Chassis> = chassis.iter().filter(|ch| ch.gateway).collect();
    let mapping: Vec<&Chassis> = match physnet {
        Some(p) => eligible
            .iter()
            .copied()
            .filter(|ch| ch.physnets.iter().any(|x| x == p))
            .collect(),
        None => Vec::new(),
    };
    let mut pick = if mapping.is_empty() {
        eligible
    } else {
        mapping
    };
    let n = |ch: &Chassis| load.get(&ch.name).copied().unwrap_or(0);
    pick.sort_by(|a, b| n(a).cmp(&n(b)).then_with(|| a.name.cmp(&b.name)));
    pick.dedup_by(|a, b| a.name == b.name);
    pick.into_iter()
        .take(MAX_GATEWAY_CHASSIS)
        .map(|ch| ch.name.clone())
        .collect()
}

/// How many router ports have each chassis as their most preferred
/// (highest priority) gateway chassis, from the NB as committed.
pub fn load(c: &Ctx) -> BTreeMap<String, usize> {
    let mut n = BTreeMap::new();
    for (_, lrp) in rows(c.r, "Logical_Router_Port") {
        let top = uuids(lrp, "gateway_chassis")
            .iter()
            .filter_map(|u| c.r.row("Gateway_Chassis", u))
            .max_by_key(|g| {
                let prio = crate::nb::opt_int(g, "priority").unwrap_or(0);
                // Ties by name, so the count is the same on every read.
                (prio, std::cmp::Reverse(s(g, "chassis_name").to_owned()))
            })
            .map(|g| s(g, "chassis_name").to_owned());
        if let Some(ch) = top {
            *n.entry(ch).or_insert(0) += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(name: &str, gateway: bool, physnets: &[&str]) -> Chassis {
        Chassis {
            name: name.into(),
            gateway,
            physnets: physnets.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    #[test]
    fn mapping_chassis_win_then_all_eligible() {
        let all = [
            ch("c", true, &[]),
            ch("b", true, &["physnet1"]),
            ch("a", false, &["physnet1"]),
        ];
        let none = BTreeMap::new();
        assert_eq!(choose(&all, Some("physnet1"), &none), ["b"]);
        assert_eq!(choose(&all, Some("physnet9"), &none), ["b", "c"]);
        assert_eq!(choose(&all, None, &none), ["b", "c"]);
    }

    #[test]
    fn least_loaded_first_then_by_name_at_most_five() {
        let all: Vec<Chassis> = ["g", "f", "e", "d", "c", "b", "a"]
            .iter()
            .map(|n| ch(n, true, &[]))
            .collect();
        let load = BTreeMap::from([("a".to_owned(), 2), ("b".to_owned(), 1)]);
        assert_eq!(choose(&all, None, &load), ["c", "d", "e", "f", "g"]);
        let load = BTreeMap::from([("a".to_owned(), 1)]);
        assert_eq!(choose(&all[5..], None, &load), ["b", "a"]);
    }

    #[test]
    fn nothing_eligible_is_empty() {
        assert!(choose(&[ch("a", false, &["p"])], Some("p"), &BTreeMap::new()).is_empty());
    }
}
