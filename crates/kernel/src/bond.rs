//! Bond options (VDSM's `"mode=4 miimon=100"`) to `IFLA_BOND_*` attributes.
//!
//! Creating a bond sends the options given; the kernel's defaults cover the
//! rest. Changing one ([`KernelOp::SetBondOptions`](netswitch_model::plan::KernelOp)) is
//! declarative, as the planner means it: an option left out returns to its
//! default. But the kernel refuses some options on a bond that is up or has
//! slaves even when the value does not change (`mode` needs both, and
//! `fail_over_mac`, `lacp_rate`, `ad_select`... one of them), so only the
//! options whose value differs from the bond's current one are sent. The
//! current values come from the host snapshot, then from the plan's own
//! earlier ops on that bond. When the mode changes (the planner has released
//! the slaves and set the bond down) every option of the new mode is sent.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use netlink_packet_route::link::{
    BondAdSelect, BondAllPortActive, BondArpAllTargets, BondArpValidate, BondFailOverMac,
    BondLacpRate, BondMode, BondPrimaryReselect, BondXmitHashPolicy, InfoBond,
};
use netswitch_model::bondopts::BondOptions;
use netswitch_model::host::HostState;

use crate::devices::Devices;
use crate::encode::{parse_mac, EncodeError};

/// Every option of `netswitch_model::bondopts`, by sysfs name, that maps to
/// an `IFLA_BOND_*` attribute. `num_grat_arp` and `num_unsol_na` are one
/// kernel setting (`IFLA_BOND_NUM_PEER_NOTIF`).
pub(crate) const BOND_OPTIONS: &[&str] = &[
    "mode",
    "miimon",
    "updelay",
    "downdelay",
    "peer_notif_delay",
    "use_carrier",
    "arp_interval",
    "arp_ip_target",
    "arp_validate",
    "arp_all_targets",
    "primary",
    "primary_reselect",
    "fail_over_mac",
    "xmit_hash_policy",
    "resend_igmp",
    "num_grat_arp",
    "num_unsol_na",
    "all_slaves_active",
    "min_links",
    "lp_interval",
    "packets_per_slave",
    "tlb_dynamic_lb",
    "lacp_rate",
    "lacp_active",
    "ad_select",
    "ad_actor_sys_prio",
    "ad_user_port_key",
    "ad_actor_system",
];

const ZERO_MAC: &str = "00:00:00:00:00:00";

/// Options the kernel takes only while MII monitoring is on.
const MIIMON_DELAYS: &[&str] = &["updelay", "downdelay", "peer_notif_delay"];

/// What the plan knows of each bond's options at the current op: full maps
/// (sysfs names, canonical values) as `BondInfo::options` has them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Bonds {
    known: HashMap<String, BTreeMap<String, String>>,
}

impl Bonds {
    pub(crate) fn new(host: &HostState) -> Self {
        let known = host
            .links
            .values()
            .filter_map(|l| Some((l.name.clone(), l.bond.as_ref()?.options.clone())))
            .collect();
        Self { known }
    }

    /// The attributes of a new bond: the options given.
    pub(crate) fn create(
        &mut self,
        bond: &str,
        parsed: &BondOptions,
        devices: &Devices,
    ) -> Result<Vec<InfoBond>, EncodeError> {
        let given = parsed.map();
        let peer_notif = peer_notif(bond, given)?;
        let mut out = Vec::new();
        for (name, value) in given {
            if name == "num_unsol_na" && given.contains_key("num_grat_arp") {
                continue; // the same kernel setting, sent once
            }
            let value = if name.starts_with("num_") {
                &peer_notif
            } else {
                value
            };
            out.push(attribute(bond, name, value, devices)?);
        }
        self.known.insert(bond.to_string(), desired(parsed)?);
        Ok(out)
    }

    /// The attributes that move an existing bond to `parsed`: the options
    /// whose value changes, `mode` first when it does.
    pub(crate) fn change(
        &mut self,
        bond: &str,
        parsed: &BondOptions,
        devices: &Devices,
    ) -> Result<Vec<InfoBond>, EncodeError> {
        let want = desired(parsed)?;
        let current = self.known.get(bond);
        let mode_changes = current.and_then(|c| c.get("mode")) != want.get("mode");
        let mut out = Vec::new();
        for (name, value) in &want {
            let unchanged = current.and_then(|c| c.get(name)) == Some(value);
            if name == "num_unsol_na" || (unchanged && (name == "mode" || !mode_changes)) {
                continue;
            }
            if name == "ad_actor_system" && value == ZERO_MAC {
                // The kernel refuses the all-zero default (not a valid
                // unicast address); it can only be left as it is.
                continue;
            }
            if MIIMON_DELAYS.contains(&name.as_str())
                && want.get("miimon").is_some_and(|m| m == "0")
            {
                // The kernel refuses these (EPERM) while miimon is 0, and
                // applies miimon before them within one message; they are
                // kept as multiples of miimon, so they read back as 0 anyway.
                continue;
            }
            let attr = attribute(bond, name, value, devices)?;
            if name == "mode" {
                out.insert(0, attr);
            } else {
                out.push(attr);
            }
        }
        self.known.insert(bond.to_string(), want);
        Ok(out)
    }

    /// A deleted bond's name may come back as a new bond.
    pub(crate) fn forget(&mut self, bond: &str) {
        self.known.remove(bond);
    }
}

/// `num_grat_arp` and `num_unsol_na` are one setting; if both are given
/// they must agree. The value to send (the default `1` when neither is).
fn peer_notif(bond: &str, given: &BTreeMap<String, String>) -> Result<String, EncodeError> {
    match (given.get("num_grat_arp"), given.get("num_unsol_na")) {
        (Some(a), Some(b)) if a != b => Err(EncodeError::invalid(format!(
            "bond {bond}: num_grat_arp={a} and num_unsol_na={b} differ, but the kernel keeps one value for both"
        ))),
        (Some(v), _) | (_, Some(v)) => Ok(v.clone()),
        (None, None) => Ok(BondOptions::default_of("num_grat_arp")
            .unwrap_or("1")
            .to_string()),
    }
}

/// The full option map a bond has after being given `parsed`: each option
/// of its mode at the given value or the default. ARP monitoring asked for
/// turns the MII monitor's default off, as the kernel itself does.
fn desired(parsed: &BondOptions) -> Result<BTreeMap<String, String>, EncodeError> {
    let given = parsed.map();
    let mode = parsed.mode();
    let arp = given.get("arp_interval").is_some_and(|v| v != "0");
    let peer = peer_notif("", given)?;
    let mut out = BTreeMap::new();
    for name in BOND_OPTIONS {
        if !applies(name, mode) {
            continue;
        }
        let value = match (*name, given.get(*name)) {
            ("num_grat_arp" | "num_unsol_na", _) => peer.clone(),
            (_, Some(v)) => v.clone(),
            ("miimon", None) if arp => "0".to_string(),
            // The mode's own default (802.3ad gets miimon=100 from the kernel).
            (_, None) => BondOptions::default_in(mode, name)
                .unwrap_or("")
                .to_string(),
        };
        out.insert(name.to_string(), value);
    }
    Ok(out)
}

/// Whether the kernel takes option `name` in bond mode `mode` (the model's
/// table of modes decides).
fn applies(name: &str, mode: u8) -> bool {
    let Some(default) = BondOptions::default_of(name) else {
        return false;
    };
    let mode = mode.to_string();
    name == "mode" || BondOptions::from_pairs([("mode", mode.as_str()), (name, default)]).is_ok()
}

fn attribute(
    bond: &str,
    name: &str,
    value: &str,
    devices: &Devices,
) -> Result<InfoBond, EncodeError> {
    let bad = || EncodeError::invalid(format!("bond {bond}: option {name}={value:?} is invalid"));
    let u32_ = || value.parse::<u32>().map_err(|_| bad());
    let u16_ = || value.parse::<u16>().map_err(|_| bad());
    let u8_ = || value.parse::<u8>().map_err(|_| bad());
    let bool_ = || match value {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(bad()),
    };
    Ok(match name {
        "mode" => InfoBond::Mode(BondMode::from(u8_()?)),
        "miimon" => InfoBond::MiiMon(u32_()?),
        "updelay" => InfoBond::UpDelay(u32_()?),
        "downdelay" => InfoBond::DownDelay(u32_()?),
        "peer_notif_delay" => InfoBond::PeerNotifDelay(u32_()?),
        "use_carrier" => InfoBond::UseCarrier(bool_()?),
        "arp_interval" => InfoBond::ArpInterval(u32_()?),
        "arp_ip_target" => {
            let mut targets = Vec::new();
            for part in value.split(',').filter(|p| !p.is_empty()) {
                targets.push(part.parse::<Ipv4Addr>().map_err(|_| bad())?);
            }
            InfoBond::ArpIpTarget(targets)
        }
        "arp_validate" => InfoBond::ArpValidate(BondArpValidate::from(u32_()?)),
        "arp_all_targets" => InfoBond::ArpAllTargets(BondArpAllTargets::from(u32_()?)),
        "primary" => InfoBond::Primary(if value.is_empty() {
            0
        } else {
            devices.get(value).map_err(|e| {
                EncodeError::no_device(format!("bond {bond}: primary: {}", e.message))
            })?
        }),
        "primary_reselect" => InfoBond::PrimaryReselect(BondPrimaryReselect::from(u8_()?)),
        "fail_over_mac" => InfoBond::FailOverMac(BondFailOverMac::from(u8_()?)),
        "xmit_hash_policy" => InfoBond::XmitHashPolicy(BondXmitHashPolicy::from(u8_()?)),
        "resend_igmp" => InfoBond::ResendIgmp(u32_()?),
        "num_grat_arp" | "num_unsol_na" => InfoBond::NumPeerNotif(u8_()?),
        "all_slaves_active" => InfoBond::AllPortsActive(BondAllPortActive::from(u8_()?)),
        "min_links" => InfoBond::MinLinks(u32_()?),
        "lp_interval" => InfoBond::LpInterval(u32_()?),
        "packets_per_slave" => InfoBond::PacketsPerPort(u32_()?),
        "tlb_dynamic_lb" => InfoBond::TlbDynamicLb(bool_()?),
        "lacp_rate" => InfoBond::AdLacpRate(BondLacpRate::from(u8_()?)),
        "lacp_active" => InfoBond::AdLacpActive(bool_()?),
        "ad_select" => InfoBond::AdSelect(BondAdSelect::from(u8_()?)),
        "ad_actor_sys_prio" => InfoBond::AdActorSysPrio(u16_()?),
        "ad_user_port_key" => InfoBond::AdUserPortKey(u16_()?),
        "ad_actor_system" => InfoBond::AdActorSystem(parse_mac(value).ok_or_else(bad)?),
        _ => {
            return Err(EncodeError::invalid(format!(
                "bond {bond}: option {name} has no netlink attribute here"
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(text: &str) -> BondOptions {
        BondOptions::parse(text).unwrap()
    }
    use netswitch_model::host::{BondInfo, Link, LinkKind};

    fn host_with_bond(options: &str) -> HostState {
        let mut h = HostState::default();
        let mut bond = Link::new(5, "bond0", LinkKind::Bond);
        let parsed = BondOptions::parse(options).unwrap();
        bond.bond = Some(BondInfo {
            options: desired(&parsed).unwrap(),
            slaves: vec!["dummy_a".into()],
            active_slave: None,
        });
        h.links.insert("bond0".into(), bond);
        h.links
            .insert("dummy_a".into(), Link::new(3, "dummy_a", LinkKind::Dummy));
        h
    }

    #[test]
    fn every_model_option_has_an_attribute() {
        let d = Devices::new(&host_with_bond("mode=1"));
        for name in BOND_OPTIONS {
            let default = BondOptions::default_of(name)
                .unwrap_or_else(|| panic!("{name} is unknown to the model"));
            let value = if *name == "primary" {
                "dummy_a"
            } else {
                default
            };
            attribute("bond0", name, value, &d).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        }
    }

    #[test]
    fn create_sends_the_options_given_with_names_as_numbers() {
        let h = HostState::default();
        let mut b = Bonds::new(&h);
        let attrs = b
            .create(
                "bond0",
                &opts("mode=802.3ad miimon=100 lacp_rate=fast xmit_hash_policy=layer3+4"),
                &Devices::new(&h),
            )
            .unwrap();
        assert_eq!(
            attrs,
            vec![
                InfoBond::AdLacpRate(BondLacpRate::Fast),
                InfoBond::MiiMon(100),
                InfoBond::Mode(BondMode::Ieee8023Ad),
                InfoBond::XmitHashPolicy(BondXmitHashPolicy::Layer34),
            ]
        );
    }

    #[test]
    fn a_change_sends_only_what_differs_and_left_out_options_return_to_default() {
        let h = host_with_bond("mode=4 miimon=100 lacp_rate=fast");
        let mut b = Bonds::new(&h);
        let attrs = b
            .change("bond0", &opts("mode=4 miimon=200"), &Devices::new(&h))
            .unwrap();
        assert_eq!(
            attrs,
            vec![
                InfoBond::AdLacpRate(BondLacpRate::Slow),
                InfoBond::MiiMon(200)
            ]
        );
        // Applying the same again is a no-op message.
        let attrs = b
            .change("bond0", &opts("mode=4 miimon=200"), &Devices::new(&h))
            .unwrap();
        assert!(attrs.is_empty(), "{attrs:?}");
    }

    #[test]
    fn a_mode_change_sends_the_mode_first_and_every_option_of_the_new_mode() {
        let h = host_with_bond("mode=4 miimon=100");
        let mut b = Bonds::new(&h);
        let attrs = b
            .change(
                "bond0",
                &opts("mode=1 miimon=100 primary=dummy_a"),
                &Devices::new(&h),
            )
            .unwrap();
        assert_eq!(attrs[0], InfoBond::Mode(BondMode::ActiveBackup));
        assert!(attrs.contains(&InfoBond::Primary(3)));
        assert!(attrs.contains(&InfoBond::MiiMon(100)));
        assert!(attrs.contains(&InfoBond::FailOverMac(BondFailOverMac::None)));
        assert!(
            !attrs.iter().any(|a| matches!(a, InfoBond::AdLacpRate(_))),
            "lacp_rate is not an active-backup option: {attrs:?}"
        );
    }

    #[test]
    fn arp_monitoring_turns_the_mii_default_off() {
        let parsed =
            BondOptions::parse("mode=1 arp_interval=1000 arp_ip_target=192.0.2.1").unwrap();
        let d = desired(&parsed).unwrap();
        assert_eq!(d["miimon"], "0");
        assert_eq!(d["arp_ip_target"], "192.0.2.1");
    }

    #[test]
    fn contradicting_peer_notification_counts_are_refused() {
        let h = HostState::default();
        let e = Bonds::new(&h)
            .create(
                "bond0",
                &opts("mode=1 num_grat_arp=2 num_unsol_na=3"),
                &Devices::new(&h),
            )
            .unwrap_err();
        assert!(e.message.contains("num_unsol_na"), "{}", e.message);
    }

    #[test]
    fn a_primary_that_does_not_exist_is_enodev() {
        let h = HostState::default();
        let e = Bonds::new(&h)
            .create("bond0", &opts("mode=1 primary=nic9"), &Devices::new(&h))
            .unwrap_err();
        assert_eq!(e.errno, libc::ENODEV);
    }
}
