//! Bridge options by sysfs name to `IFLA_BR_*` attributes.
//!
//! Values are written as sysfs takes them: timers and intervals in clock_t
//! (centiseconds), which is also what netlink carries, so no conversion
//! happens; numbers in decimal or `0x` hex (sysfs prints `group_fwd_mask`
//! and `vlan_protocol` in hex); booleans `0`/`1`; `group_addr` a MAC.

use std::collections::BTreeMap;

use netlink_packet_route::link::{
    BridgeBooleanOptionFlags, BridgeBooleanOptions, BridgeMulticastRouterType, BridgeStpState,
    InfoBridge, VlanProtocol,
};

use crate::encode::{parse_mac, EncodeError};

/// The bridge options (sysfs names) this crate can set, sorted. `stp_state`
/// is not among them: it is the op's `stp` field.
pub const BRIDGE_OPTIONS: &[&str] = &[
    "ageing_time",
    "default_pvid",
    "forward_delay",
    "group_addr",
    "group_fwd_mask",
    "hash_elasticity",
    "hash_max",
    "hello_time",
    "max_age",
    "multicast_igmp_version",
    "multicast_last_member_count",
    "multicast_last_member_interval",
    "multicast_membership_interval",
    "multicast_mld_version",
    "multicast_querier",
    "multicast_querier_interval",
    "multicast_query_interval",
    "multicast_query_response_interval",
    "multicast_query_use_ifaddr",
    "multicast_router",
    "multicast_snooping",
    "multicast_startup_query_count",
    "multicast_startup_query_interval",
    "multicast_stats_enabled",
    "nf_call_arptables",
    "nf_call_ip6tables",
    "nf_call_iptables",
    "no_linklocal_learn",
    "priority",
    "vlan_filtering",
    "vlan_protocol",
    "vlan_stats_enabled",
    "vlan_stats_per_port",
];

/// `IFLA_BR_STP_STATE` plus one attribute per option, in name order.
pub(crate) fn attributes(
    bridge: &str,
    stp: bool,
    options: &BTreeMap<String, String>,
) -> Result<Vec<InfoBridge>, EncodeError> {
    let mut out = Vec::with_capacity(options.len() + 1);
    out.push(InfoBridge::StpState(BridgeStpState::from(u32::from(stp))));
    for (name, value) in options {
        out.push(option(name, value).map_err(|why| {
            EncodeError::invalid(format!("bridge {bridge}: option {name}={value:?}: {why}"))
        })?);
    }
    Ok(out)
}

fn option(name: &str, v: &str) -> Result<InfoBridge, String> {
    Ok(match name {
        "forward_delay" => InfoBridge::ForwardDelay(num(v)?),
        "hello_time" => InfoBridge::HelloTime(num(v)?),
        "max_age" => InfoBridge::MaxAge(num(v)?),
        "ageing_time" => InfoBridge::AgeingTime(num(v)?),
        "priority" => InfoBridge::Priority(num(v)?),
        "vlan_filtering" => InfoBridge::VlanFiltering(flag(v)?),
        "vlan_protocol" => InfoBridge::VlanProtocol(VlanProtocol::from(num::<u16>(v)?)),
        "group_fwd_mask" => InfoBridge::GroupFwdMask(num(v)?),
        "group_addr" => {
            InfoBridge::GroupAddr(parse_mac(v).ok_or_else(|| "not a MAC address".to_string())?)
        }
        "default_pvid" => InfoBridge::VlanDefaultPvid(num(v)?),
        "multicast_router" => {
            InfoBridge::MulticastRouter(BridgeMulticastRouterType::from(num::<u8>(v)?))
        }
        "multicast_snooping" => InfoBridge::MulticastSnooping(flag(v)?),
        "multicast_query_use_ifaddr" => InfoBridge::MulticastQueryUseIfaddr(flag(v)?),
        "multicast_querier" => InfoBridge::MulticastQuerier(flag(v)?),
        "hash_elasticity" => InfoBridge::MulticastHashElasticity(num(v)?),
        "hash_max" => InfoBridge::MulticastHashMax(num(v)?),
        "multicast_last_member_count" => InfoBridge::MulticastLastMemberCount(num(v)?),
        "multicast_startup_query_count" => InfoBridge::MulticastStartupQueryCount(num(v)?),
        "multicast_last_member_interval" => InfoBridge::MulticastLastMemberInterval(num(v)?),
        "multicast_membership_interval" => InfoBridge::MulticastMembershipInterval(num(v)?),
        "multicast_querier_interval" => InfoBridge::MulticastQuerierInterval(num(v)?),
        "multicast_query_interval" => InfoBridge::MulticastQueryInterval(num(v)?),
        "multicast_query_response_interval" => InfoBridge::MulticastQueryResponseInterval(num(v)?),
        "multicast_startup_query_interval" => InfoBridge::MulticastStartupQueryInterval(num(v)?),
        "nf_call_iptables" => InfoBridge::NfCallIpTables(flag(v)?),
        "nf_call_ip6tables" => InfoBridge::NfCallIp6Tables(flag(v)?),
        "nf_call_arptables" => InfoBridge::NfCallArpTables(flag(v)?),
        "vlan_stats_enabled" => InfoBridge::VlanStatsEnabled(flag(v)?),
        "vlan_stats_per_port" => InfoBridge::VlanStatsPerPort(flag(v)?),
        "multicast_stats_enabled" => InfoBridge::MulticastStatsEnabled(flag(v)?),
        "multicast_igmp_version" => InfoBridge::MulticastIgmpVersion(num(v)?),
        "multicast_mld_version" => InfoBridge::MulticastMldVersion(num(v)?),
        "no_linklocal_learn" => {
            let mask = BridgeBooleanOptionFlags::NoLinkLocalLearn;
            let value = if flag(v)? {
                mask
            } else {
                BridgeBooleanOptionFlags::empty()
            };
            InfoBridge::MultiBoolOpt(BridgeBooleanOptions { value, mask })
        }
        _ => {
            return Err(format!(
                "unknown bridge option (supported: {})",
                BRIDGE_OPTIONS.join(", ")
            ))
        }
    })
}

/// A whole number in decimal or `0x` hex that fits `T`.
fn num<T: TryFrom<u64>>(v: &str) -> Result<T, String> {
    let n = parse_number(v).ok_or_else(|| "not a whole number".to_string())?;
    T::try_from(n).map_err(|_| format!("{n} is out of range"))
}

pub(crate) fn parse_number(v: &str) -> Option<u64> {
    let v = v.trim();
    match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) if !hex.is_empty() => u64::from_str_radix(hex, 16).ok(),
        Some(_) => None,
        None if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => v.parse().ok(),
        None => None,
    }
}

fn flag(v: &str) -> Result<bool, String> {
    match v.trim() {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err("not 0 or 1".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_listed_option_encodes_and_the_list_is_sorted() {
        for name in BRIDGE_OPTIONS {
            let value = match *name {
                "group_addr" => "01:80:c2:00:00:00",
                "vlan_protocol" => "0x8100",
                _ => "1",
            };
            option(name, value).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let mut sorted = BRIDGE_OPTIONS.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, BRIDGE_OPTIONS);
    }

    #[test]
    fn sysfs_forms_are_understood() {
        let attrs = attributes(
            "br0",
            true,
            &opts(&[
                ("forward_delay", "1500"),
                ("group_fwd_mask", "0x4000"),
                ("multicast_snooping", "0"),
            ]),
        )
        .unwrap();
        assert_eq!(
            attrs,
            vec![
                InfoBridge::StpState(BridgeStpState::from(1)),
                InfoBridge::ForwardDelay(1500),
                InfoBridge::GroupFwdMask(0x4000),
                InfoBridge::MulticastSnooping(false),
            ]
        );
    }

    #[test]
    fn unknown_names_and_bad_values_name_the_option() {
        let e = attributes("br0", false, &opts(&[("bogus", "1")])).unwrap_err();
        assert!(
            e.message.contains("br0") && e.message.contains("bogus"),
            "{}",
            e.message
        );
        assert_eq!(e.errno, libc::EINVAL);
        let e = attributes("br0", false, &opts(&[("priority", "70000")])).unwrap_err();
        assert!(e.message.contains("priority"), "{}", e.message);
        let e = attributes("br0", false, &opts(&[("vlan_filtering", "yes")])).unwrap_err();
        assert!(e.message.contains("vlan_filtering"), "{}", e.message);
    }
}
