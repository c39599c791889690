//! Linux bonding options: names, value forms, the modes each applies to, and
//! the kernel's defaults (Documentation/networking/bonding.rst).
//!
//! One table serves parsing (names or numbers in), validation (option valid
//! for the mode), the canonical form (numbers for enums), and the report
//! (defaults dropped, as VDSM reports only non-default options).

use std::collections::BTreeMap;
use std::fmt;

/// Bonding modes by number, as the kernel numbers them.
pub const MODES: [&str; 7] = [
    "balance-rr",
    "active-backup",
    "balance-xor",
    "broadcast",
    "802.3ad",
    "balance-tlb",
    "balance-alb",
];

const RR: u8 = 1 << 0;
const AB: u8 = 1 << 1;
const XOR: u8 = 1 << 2;
const BCAST: u8 = 1 << 3;
const LACP: u8 = 1 << 4;
const TLB: u8 = 1 << 5;
const ALB: u8 = 1 << 6;
const ALL: u8 = RR | AB | XOR | BCAST | LACP | TLB | ALB;

/// How an option's value is written.
#[derive(Debug, Clone, Copy)]
enum Form {
    /// An integer in an inclusive range.
    Int(u64, u64),
    /// One of named values, each with its number.
    Enum(&'static [&'static str]),
    /// A MAC address.
    Mac,
    /// A comma-separated list of up to 16 IPv4 addresses.
    Ipv4List,
    /// An interface name (may be empty).
    Ifname,
}

struct Spec {
    name: &'static str,
    form: Form,
    modes: u8,
    default: &'static str,
}

/// Defaults are those of a bond created over netlink (what netswitch does),
/// read from the lab kernel's sysfs: `miimon` is 0 there, not the 100 the
/// module parameters give the module's own bonds.
const SPECS: &[Spec] = &[
    Spec {
        name: "mode",
        form: Form::Enum(&MODES),
        modes: ALL,
        default: "0",
    },
    Spec {
        name: "miimon",
        form: Form::Int(0, i32::MAX as u64),
        modes: ALL,
        default: "0",
    },
    Spec {
        name: "updelay",
        form: Form::Int(0, i32::MAX as u64),
        modes: ALL,
        default: "0",
    },
    Spec {
        name: "downdelay",
        form: Form::Int(0, i32::MAX as u64),
        modes: ALL,
        default: "0",
    },
    Spec {
        name: "peer_notif_delay",
        form: Form::Int(0, i32::MAX as u64),
        modes: ALL,
        default: "0",
    },
    Spec {
        name: "use_carrier",
        form: Form::Enum(&["0", "1"]),
        modes: ALL,
        default: "1",
    },
    Spec {
        name: "arp_interval",
        form: Form::Int(0, i32::MAX as u64),
        modes: RR | AB | XOR | BCAST,
        default: "0",
    },
    Spec {
        name: "arp_ip_target",
        form: Form::Ipv4List,
        modes: RR | AB | XOR | BCAST,
        default: "",
    },
    Spec {
        name: "arp_validate",
        form: Form::Enum(&[
            "none",
            "active",
            "backup",
            "all",
            "filter",
            "filter_active",
            "filter_backup",
        ]),
        modes: RR | AB | XOR | BCAST,
        default: "0",
    },
    Spec {
        name: "arp_all_targets",
        form: Form::Enum(&["any", "all"]),
        modes: ALL,
        default: "0",
    },
    Spec {
        name: "primary",
        form: Form::Ifname,
        modes: AB | TLB | ALB,
        default: "",
    },
    Spec {
        name: "primary_reselect",
        form: Form::Enum(&["always", "better", "failure"]),
        modes: AB | TLB | ALB,
        default: "0",
    },
    Spec {
        name: "fail_over_mac",
        form: Form::Enum(&["none", "active", "follow"]),
        modes: AB,
        default: "0",
    },
    Spec {
        name: "xmit_hash_policy",
        form: Form::Enum(&[
            "layer2",
            "layer3+4",
            "layer2+3",
            "encap2+3",
            "encap3+4",
            "vlan+srcmac",
        ]),
        modes: XOR | LACP | TLB,
        default: "0",
    },
    Spec {
        name: "resend_igmp",
        form: Form::Int(0, 255),
        modes: ALL,
        default: "1",
    },
    Spec {
        name: "num_grat_arp",
        form: Form::Int(0, 255),
        modes: ALL,
        default: "1",
    },
    Spec {
        name: "num_unsol_na",
        form: Form::Int(0, 255),
        modes: ALL,
        default: "1",
    },
    Spec {
        name: "all_slaves_active",
        form: Form::Enum(&["0", "1"]),
        modes: ALL,
        default: "0",
    },
    Spec {
        name: "min_links",
        form: Form::Int(0, i32::MAX as u64),
        modes: ALL,
        default: "0",
    },
    Spec {
        name: "lp_interval",
        form: Form::Int(1, i32::MAX as u64),
        modes: ALL,
        default: "1",
    },
    Spec {
        name: "packets_per_slave",
        form: Form::Int(0, 65535),
        modes: RR,
        default: "1",
    },
    Spec {
        name: "tlb_dynamic_lb",
        form: Form::Enum(&["0", "1"]),
        modes: TLB | ALB,
        default: "1",
    },
    Spec {
        name: "lacp_rate",
        form: Form::Enum(&["slow", "fast"]),
        modes: LACP,
        default: "0",
    },
    Spec {
        name: "lacp_active",
        form: Form::Enum(&["off", "on"]),
        modes: LACP,
        default: "1",
    },
    Spec {
        name: "ad_select",
        form: Form::Enum(&["stable", "bandwidth", "count"]),
        modes: LACP,
        default: "0",
    },
    Spec {
        name: "ad_actor_sys_prio",
        form: Form::Int(1, 65535),
        modes: LACP,
        default: "65535",
    },
    Spec {
        name: "ad_user_port_key",
        form: Form::Int(0, 1023),
        modes: LACP,
        default: "0",
    },
    Spec {
        name: "ad_actor_system",
        form: Form::Mac,
        modes: LACP,
        default: "00:00:00:00:00:00",
    },
];

/// The MII monitoring interval the kernel gives a bond whose mode cannot
/// use ARP monitoring (`BOND_DEFAULT_MIIMON`).
const MODE_MIIMON: &str = "100";

/// Whether a mode can use ARP monitoring (`bond_mode_uses_arp`): all but
/// 802.3ad, balance-tlb and balance-alb.
fn mode_uses_arp(mode: u8) -> bool {
    !matches!(mode, 4..=6)
}

fn spec(name: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.name == name)
}

/// Why a bond's options were rejected; the caller adds the bond's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BondOptError(pub String);

impl fmt::Display for BondOptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A bond's options in canonical form: sysfs names, enum values as their
/// numbers, integers without leading zeros, `mode` always present.
///
/// Written back as VDSM's option string (`mode=4 miimon=100`), mode first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BondOptions(BTreeMap<String, String>);

impl BondOptions {
    /// Parses VDSM's `"mode=4 miimon=100"` form (names or numbers) and checks
    /// every option against the mode.
    pub fn parse(text: &str) -> Result<Self, BondOptError> {
        let mut raw: Vec<(&str, &str)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for token in text.split_whitespace() {
            let Some((k, v)) = token.split_once('=') else {
                return Err(BondOptError(format!(
                    "option {token:?} is not of the form name=value"
                )));
            };
            if !seen.insert(k) {
                return Err(BondOptError(format!("option {k} is given twice")));
            }
            raw.push((k, v));
        }
        Self::from_pairs(raw)
    }

    /// Canonicalises and checks name/value pairs.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, BondOptError> {
        let mut map = BTreeMap::new();
        for (k, v) in pairs {
            let Some(spec) = spec(k) else {
                return Err(BondOptError(format!("unknown bonding option {k:?}")));
            };
            map.insert(k.to_string(), canonical_value(spec, v)?);
        }
        map.entry("mode".to_string())
            .or_insert_with(|| "0".to_string());
        let opts = Self(map);
        opts.check_modes()?;
        Ok(opts)
    }

    fn check_modes(&self) -> Result<(), BondOptError> {
        let mode = self.mode();
        for name in self.0.keys() {
            if let Some(spec) = spec(name) {
                if spec.modes & (1 << mode) == 0 {
                    return Err(BondOptError(format!(
                        "option {name} does not apply to mode {mode} ({})",
                        MODES[mode as usize]
                    )));
                }
            }
        }
        if self.0.get("arp_interval").is_some_and(|v| v != "0")
            && self.0.get("miimon").is_some_and(|v| v != "0")
        {
            return Err(BondOptError(
                "miimon and arp_interval exclude each other".into(),
            ));
        }
        Ok(())
    }

    /// The mode's number, 0..=6.
    pub fn mode(&self) -> u8 {
        self.0
            .get("mode")
            .and_then(|m| m.parse().ok())
            .filter(|m| *m < 7)
            .unwrap_or(0)
    }

    /// The options by name, canonical values.
    pub fn map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// The options as the kernel would report them, with defaults dropped
    /// but `mode` kept: what VDSM's caps show as a bond's `opts`.
    /// Defaults are the mode's ([`BondOptions::default_in`]), as VDSM keeps
    /// its defaults per mode.
    pub fn non_default(map: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mode = map
            .get("mode")
            .and_then(|m| m.parse::<u8>().ok())
            .unwrap_or(0);
        map.iter()
            .filter(|(k, v)| {
                *k == "mode" || Self::default_in(mode, k).is_none_or(|d| d != v.as_str())
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The kernel default of an option, for comparing desired with current.
    /// Mode-blind: see [`BondOptions::default_in`] for what a bond of a
    /// given mode really gets.
    pub fn default_of(name: &str) -> Option<&'static str> {
        spec(name).map(|s| s.default)
    }

    /// The value a bond in `mode` has for an option nobody asked for.
    ///
    /// Mostly the table's default, but the kernel applies its own per-mode
    /// defaults when the mode is set: a mode that cannot use ARP monitoring
    /// (802.3ad, balance-tlb, balance-alb) gets MII monitoring at 100 ms if
    /// it had none (`bond_option_mode_set`), so `mode=4` alone reads back
    /// as `mode=4 miimon=100`.
    pub fn default_in(mode: u8, name: &str) -> Option<&'static str> {
        let spec = spec(name)?;
        if name == "miimon" && !mode_uses_arp(mode) {
            return Some(MODE_MIIMON);
        }
        Some(spec.default)
    }

    /// What the host's bond should read for option `s`: the asked value,
    /// else this mode's default.
    fn want(&self, mode: u8, s: &Spec) -> &str {
        self.0
            .get(s.name)
            .map(String::as_str)
            .or_else(|| Self::default_in(mode, s.name))
            .unwrap_or(s.default)
    }

    /// Whether a bond whose kernel options are `current` (full map, as read
    /// back) is in step with these options: every option that applies to
    /// the mode reads what is asked, or the mode's default when unasked.
    /// The planner plans nothing for a bond in step, and verification
    /// after an apply accepts it.
    pub fn in_step(&self, current: &BTreeMap<String, String>) -> bool {
        self.changed(current).is_empty()
    }

    /// Whether the kernel state `current` (full option map) carries every
    /// option asked here, and the mode's defaults for the rest that are
    /// asked nowhere. Only options that apply to the mode are compared: the
    /// kernel reports the others with values that mean nothing for this
    /// mode.
    pub fn matches(&self, current: &BTreeMap<String, String>) -> bool {
        self.in_step(current)
    }
}

impl BondOptions {
    /// The options (that apply to the mode) whose kernel value `current`
    /// differs from what is asked here, an unasked option counting as its
    /// default. `mode` is compared first and listed first.
    pub fn changed(&self, current: &BTreeMap<String, String>) -> Vec<&'static str> {
        let mode = self.mode();
        SPECS
            .iter()
            .filter(|s| s.name == "mode" || s.modes & (1 << mode) != 0)
            .filter(|s| {
                let want = self.want(mode, s);
                let default = Self::default_in(mode, s.name).unwrap_or(s.default);
                // An option the kernel did not report is fine only if the
                // default is what is wanted.
                current
                    .get(s.name)
                    .map_or(want != default, |have| have != want)
            })
            .map(|s| s.name)
            .collect()
    }
}

/// Options the kernel changes only on a bond that is down and has no
/// slaves.
pub const NEED_NO_SLAVES: &[&str] = &["mode", "fail_over_mac"];

/// Options the kernel changes only on a bond that is down (802.3ad actor
/// settings; `EBUSY` otherwise).
pub const NEED_DOWN: &[&str] = &[
    "lacp_rate",
    "ad_select",
    "ad_user_port_key",
    "ad_actor_sys_prio",
    "ad_actor_system",
    "lacp_active",
];

impl fmt::Display for BondOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = self.0.get("mode").map(String::as_str).unwrap_or("0");
        write!(f, "mode={mode}")?;
        for (k, v) in self.0.iter().filter(|(k, _)| *k != "mode") {
            write!(f, " {k}={v}")?;
        }
        Ok(())
    }
}

fn canonical_value(spec: &Spec, v: &str) -> Result<String, BondOptError> {
    let bad = |why: &str| BondOptError(format!("option {}: value {v:?} {why}", spec.name));
    match spec.form {
        Form::Int(lo, hi) => {
            let n: u64 = parse_digits(v).ok_or_else(|| bad("is not a whole number"))?;
            if n < lo || n > hi {
                return Err(bad(&format!("is outside {lo}..{hi}")));
            }
            Ok(n.to_string())
        }
        Form::Enum(names) => {
            if let Some(n) = parse_digits(v) {
                if (n as usize) < names.len() {
                    return Ok(n.to_string());
                }
                return Err(bad(&format!("is outside 0..{}", names.len() - 1)));
            }
            names
                .iter()
                .position(|name| name.eq_ignore_ascii_case(v))
                .map(|i| i.to_string())
                .ok_or_else(|| bad(&format!("is none of {}", names.join(", "))))
        }
        Form::Mac => crate::parse::canonical_mac(v).ok_or_else(|| bad("is not a MAC address")),
        Form::Ipv4List => {
            let mut out = Vec::new();
            for part in v.split(',').filter(|p| !p.is_empty()) {
                let ip: std::net::Ipv4Addr = part
                    .parse()
                    .map_err(|_| bad("is not a list of IPv4 addresses"))?;
                out.push(ip.to_string());
            }
            if out.len() > 16 {
                return Err(bad("has more than 16 targets"));
            }
            Ok(out.join(","))
        }
        Form::Ifname => {
            if v.len() > 15
                || v.chars()
                    .any(|c| c == '/' || c.is_whitespace() || c.is_control())
            {
                return Err(bad("is not an interface name"));
            }
            Ok(v.to_string())
        }
    }
}

fn parse_digits(v: &str) -> Option<u64> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_numbers_and_mode_comes_first() {
        let o =
            BondOptions::parse("miimon=0150 mode=802.3ad lacp_rate=fast xmit_hash_policy=layer3+4")
                .unwrap();
        assert_eq!(
            o.to_string(),
            "mode=4 lacp_rate=1 miimon=150 xmit_hash_policy=1"
        );
    }

    #[test]
    fn missing_mode_is_balance_rr() {
        assert_eq!(BondOptions::parse("").unwrap().to_string(), "mode=0");
    }

    #[test]
    fn option_outside_its_mode_is_rejected() {
        let e = BondOptions::parse("mode=1 lacp_rate=fast").unwrap_err();
        assert!(
            e.0.contains("lacp_rate") && e.0.contains("active-backup"),
            "{e}"
        );
    }

    #[test]
    fn unknown_option_and_bad_value_are_rejected() {
        assert!(BondOptions::parse("mode=1 bogus=1")
            .unwrap_err()
            .0
            .contains("bogus"));
        assert!(BondOptions::parse("mode=9").unwrap_err().0.contains("mode"));
        assert!(BondOptions::parse("miimon=-1")
            .unwrap_err()
            .0
            .contains("miimon"));
        assert!(BondOptions::parse("mode")
            .unwrap_err()
            .0
            .contains("name=value"));
        assert!(BondOptions::parse("mode=1 mode=2")
            .unwrap_err()
            .0
            .contains("twice"));
    }

    #[test]
    fn non_default_keeps_mode_and_drops_defaults() {
        let map: BTreeMap<String, String> = [("mode", "0"), ("miimon", "100"), ("updelay", "200")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let nd = BondOptions::non_default(&map);
        assert_eq!(
            nd.keys().collect::<Vec<_>>(),
            vec!["miimon", "mode", "updelay"]
        );
    }

    fn kernel(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        // A full map as the host snapshot reads it: every option at its
        // table default, then what the kernel set.
        let mut m: BTreeMap<String, String> = SPECS
            .iter()
            .map(|s| (s.name.to_string(), s.default.to_string()))
            .collect();
        for (k, v) in pairs {
            m.insert(k.to_string(), v.to_string());
        }
        m
    }

    #[test]
    fn modes_without_arp_get_the_kernels_mii_default() {
        for (mode, name) in MODES.iter().enumerate() {
            let mode = mode as u8;
            let miimon = if (4..=6).contains(&mode) { "100" } else { "0" };
            let host = kernel(&[("mode", &mode.to_string()), ("miimon", miimon)]);
            for text in [format!("mode={mode}"), format!("mode={name}")] {
                let o = BondOptions::parse(&text).unwrap();
                assert!(o.in_step(&host), "{text}: {:?}", o.changed(&host));
                assert!(o.matches(&host), "{text}");
            }
        }
        // Nothing asked is balance-rr, whose MII default is 0.
        assert!(BondOptions::parse("").unwrap().in_step(&kernel(&[])));
    }

    #[test]
    fn an_asked_miimon_still_counts() {
        let host = kernel(&[("mode", "4"), ("miimon", "100")]);
        assert!(BondOptions::parse("mode=4 miimon=100")
            .unwrap()
            .in_step(&host));
        assert_eq!(
            BondOptions::parse("mode=4 miimon=200")
                .unwrap()
                .changed(&host),
            vec!["miimon"]
        );
        // Leaving 802.3ad for active-backup takes the MII monitor back to 0.
        assert_eq!(
            BondOptions::parse("mode=1").unwrap().changed(&host),
            vec!["mode", "miimon"]
        );
        // active-backup with the 802.3ad default is out of step.
        let ab = kernel(&[("mode", "1"), ("miimon", "100")]);
        assert_eq!(
            BondOptions::parse("mode=1").unwrap().changed(&ab),
            vec!["miimon"]
        );
    }

    #[test]
    fn the_mode_default_is_not_reported() {
        let host = kernel(&[("mode", "4"), ("miimon", "100")]);
        let nd = BondOptions::non_default(&host);
        assert_eq!(nd.keys().collect::<Vec<_>>(), vec!["mode"]);
        let host = kernel(&[("mode", "1"), ("miimon", "100")]);
        let nd = BondOptions::non_default(&host);
        assert_eq!(nd.keys().collect::<Vec<_>>(), vec!["miimon", "mode"]);
    }
}
