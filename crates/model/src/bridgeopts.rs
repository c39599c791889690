//! Linux bridge options (`custom.bridge_opts`, `key=value` pairs as in
//! sysfs): which exist and which values the kernel takes.
//!
//! Checked at parse time so `--dry-run` refuses what the kernel would
//! refuse when applied (an unknown option, `hello_time=0`, a group address
//! that is not link-local), instead of failing half way through an apply.
//! Values are sysfs's: times in hundredths of a second (`USER_HZ`), numbers
//! in decimal or `0x` hex, flags `0` or `1`.

/// How an option's value is written and which the kernel takes.
#[derive(Debug, Clone, Copy)]
enum Form {
    /// A whole number in an inclusive range.
    Int(u64, u64),
    /// `0` or `1`.
    Flag,
    /// A link-local group MAC address, `01:80:c2:00:00:0X`.
    GroupAddr,
    /// A mask of link-local groups to forward; the kernel keeps the
    /// lowest three (STP, MAC pause, 802.3ad) to itself.
    FwdMask,
    /// An 802.1Q or 802.1ad ethertype.
    VlanProto,
}

const U16: u64 = u16::MAX as u64;
const U32: u64 = u32::MAX as u64;
const U64: u64 = u64::MAX;

/// Every option the kernel backend can set, by sysfs name. Ranges are the
/// kernel's (net/bridge/br_stp_if.c, br_multicast.c, br_vlan.c).
const SPECS: &[(&str, Form)] = &[
    ("ageing_time", Form::Int(0, U32)),
    ("default_pvid", Form::Int(0, 4094)),
    // 2..30 s, enforced only while STP runs (see `check`).
    ("forward_delay", Form::Int(0, U32)),
    ("group_addr", Form::GroupAddr),
    ("group_fwd_mask", Form::FwdMask),
    ("hash_elasticity", Form::Int(0, U32)),
    ("hash_max", Form::Int(0, U32)),
    ("hello_time", Form::Int(100, 1000)),
    ("max_age", Form::Int(600, 4000)),
    ("multicast_igmp_version", Form::Int(2, 3)),
    ("multicast_last_member_count", Form::Int(0, U32)),
    ("multicast_last_member_interval", Form::Int(0, U64)),
    ("multicast_membership_interval", Form::Int(0, U64)),
    ("multicast_mld_version", Form::Int(1, 2)),
    ("multicast_querier", Form::Flag),
    ("multicast_querier_interval", Form::Int(0, U64)),
    ("multicast_query_interval", Form::Int(0, U64)),
    ("multicast_query_response_interval", Form::Int(0, U64)),
    ("multicast_query_use_ifaddr", Form::Flag),
    // Disabled, learned from queries, permanent; "temporary" (3) is a
    // port's setting and a bridge refuses it.
    ("multicast_router", Form::Int(0, 2)),
    ("multicast_snooping", Form::Flag),
    ("multicast_startup_query_count", Form::Int(0, U32)),
    ("multicast_startup_query_interval", Form::Int(0, U64)),
    ("multicast_stats_enabled", Form::Flag),
    ("nf_call_arptables", Form::Flag),
    ("nf_call_ip6tables", Form::Flag),
    ("nf_call_iptables", Form::Flag),
    ("no_linklocal_learn", Form::Flag),
    ("priority", Form::Int(0, U16)),
    ("vlan_filtering", Form::Flag),
    ("vlan_protocol", Form::VlanProto),
    ("vlan_stats_enabled", Form::Flag),
    ("vlan_stats_per_port", Form::Flag),
];

/// The forward delay the kernel takes while STP runs, in 1/100 s.
const STP_FORWARD_DELAY: (u64, u64) = (200, 3000);

/// A whole number in decimal or `0x` hex.
fn number(v: &str) -> Option<u64> {
    match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) if !hex.is_empty() => u64::from_str_radix(hex, 16).ok(),
        Some(_) => None,
        None if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => v.parse().ok(),
        None => None,
    }
}

/// Checks one `name=value` for a bridge with STP on or off; the error
/// names the option and says what the kernel takes.
pub fn check(name: &str, value: &str, stp: bool) -> Result<(), String> {
    let bad = |why: String| Err(format!("option {name}={value}: {why}"));
    let Some((_, form)) = SPECS.iter().find(|(n, _)| *n == name) else {
        let known: Vec<&str> = SPECS.iter().map(|(n, _)| *n).collect();
        return bad(format!(
            "unknown bridge option (known: {})",
            known.join(", ")
        ));
    };
    let (lo, hi) = match (*form, name) {
        (Form::Int(..), "forward_delay") if stp => STP_FORWARD_DELAY,
        (Form::Int(lo, hi), _) => (lo, hi),
        (Form::Flag, _) => (0, 1),
        (Form::FwdMask, _) => (0, U16),
        (Form::VlanProto, _) => (0, U16),
        (Form::GroupAddr, _) => return group_addr(value).or_else(bad),
    };
    let Some(n) = number(value) else {
        return bad("not a whole number".into());
    };
    if n < lo || n > hi {
        let stp_note = if name == "forward_delay" {
            " with STP on"
        } else {
            ""
        };
        return bad(format!("outside {lo}..{hi}{stp_note}"));
    }
    match form {
        Form::FwdMask if n & 0x7 != 0 => {
            bad("the kernel keeps groups 0-2 (bits 0x7) to itself".into())
        }
        Form::VlanProto if n != 0x8100 && n != 0x88a8 => {
            bad("neither 802.1Q (0x8100) nor 802.1ad (0x88a8)".into())
        }
        _ => Ok(()),
    }
}

fn group_addr(value: &str) -> Result<(), String> {
    let mac = crate::parse::canonical_mac(value).ok_or("not a MAC address")?;
    match mac.strip_prefix("01:80:c2:00:00:0") {
        Some(_) => Ok(()),
        None => Err("not a link-local group address (01:80:c2:00:00:00..0f)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernels_ranges_hold() {
        for (n, v, stp) in [
            ("hello_time", "200", false),
            ("forward_delay", "0", false),
            ("forward_delay", "1500", true),
            ("group_fwd_mask", "0x8", false),
            ("group_addr", "01:80:C2:00:00:0e", false),
            ("vlan_protocol", "0x88a8", false),
            ("multicast_snooping", "0", false),
            ("priority", "65535", false),
        ] {
            assert_eq!(check(n, v, stp), Ok(()), "{n}={v}");
        }
        for (n, v, stp) in [
            ("hello_time", "0", false),
            ("forward_delay", "0", true),
            ("max_age", "100", false),
            ("group_fwd_mask", "1", false),
            ("group_addr", "01:00:5e:00:00:01", false),
            ("vlan_protocol", "0x0800", false),
            ("multicast_snooping", "yes", false),
            ("multicast_router", "3", false),
            ("priority", "65536", false),
            ("bogus", "1", false),
        ] {
            let e = check(n, v, stp).expect_err(n);
            assert!(e.contains(n), "{e}");
        }
    }
}
