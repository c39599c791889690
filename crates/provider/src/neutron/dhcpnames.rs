//! Neutron's DHCP option names (dnsmasq's, as `extra_dhcp_opts` spells
//! them, or their option codes) mapped to the DHCPv4 options OVN serves
//! (ovn-nb(5), `DHCP_Options`), and each value written as OVN's action
//! syntax wants it: addresses bare (several as `{a, b}`), strings quoted,
//! numbers checked. The mapping is networking-ovn's; OVN's own names are
//! taken too. A name OVN cannot serve is refused rather than dropped.

use std::net::Ipv4Addr;

use super::ipam::Cidr;
use crate::error::ApiError;

/// How OVN reads an option's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    /// One or more IPv4 addresses.
    Ip,
    /// A quoted string.
    Str,
    /// An integer in the range.
    Int(u32, u32),
    /// 0 or 1.
    Bool,
    /// Classless static routes: `CIDR,NEXTHOP` pairs.
    Routes,
    /// An IPv4 address or a (quoted) host name.
    Host,
    /// A quoted list of domain names.
    Domains,
}

/// `(Neutron name, option code, OVN name, type)`.
const NAMES: &[(&str, u8, &str, Ty)] = &[
    ("netmask", 1, "netmask", Ty::Ip),
    ("router", 3, "router", Ty::Ip),
    ("dns-server", 6, "dns_server", Ty::Ip),
    ("log-server", 7, "log_server", Ty::Ip),
    ("lpr-server", 9, "lpr_server", Ty::Ip),
    ("hostname", 12, "hostname", Ty::Str),
    ("domain-name", 15, "domain_name", Ty::Str),
    ("swap-server", 16, "swap_server", Ty::Ip),
    ("ip-forward-enable", 19, "ip_forward_enable", Ty::Bool),
    ("policy-filter", 21, "policy_filter", Ty::Ip),
    ("default-ttl", 23, "default_ttl", Ty::Int(1, 255)),
    ("mtu", 26, "mtu", Ty::Int(68, 65535)),
    ("broadcast", 28, "broadcast_address", Ty::Ip),
    ("router-discovery", 31, "router_discovery", Ty::Bool),
    ("router-solicitation", 32, "router_solicitation", Ty::Ip),
    ("arp-timeout", 35, "arp_cache_timeout", Ty::Int(0, u32::MAX)),
    ("ethernet-encap", 36, "ethernet_encap", Ty::Bool),
    ("tcp-ttl", 37, "tcp_ttl", Ty::Int(1, 255)),
    (
        "tcp-keepalive",
        38,
        "tcp_keepalive_interval",
        Ty::Int(0, u32::MAX),
    ),
    ("nis-server", 41, "nis_server", Ty::Ip),
    ("ntp-server", 42, "ntp_server", Ty::Ip),
    ("netbios-ns", 44, "netbios_name_server", Ty::Ip),
    ("netbios-nodetype", 46, "netbios_node_type", Ty::Int(0, 255)),
    ("lease-time", 51, "lease_time", Ty::Int(0, u32::MAX)),
    ("server-id", 54, "server_id", Ty::Ip),
    ("tftp-server", 66, "tftp_server", Ty::Host),
    ("bootfile-name", 67, "bootfile_name", Ty::Str),
    ("domain-search", 119, "domain_search_list", Ty::Domains),
    (
        "classless-static-route",
        121,
        "classless_static_route",
        Ty::Routes,
    ),
    ("tftp-server-address", 150, "tftp_server_address", Ty::Ip),
    ("path-prefix", 210, "path_prefix", Ty::Str),
    (
        "ms-classless-static-route",
        249,
        "ms_classless_static_route",
        Ty::Routes,
    ),
    ("wpad", 252, "wpad", Ty::Str),
];

/// Names that map onto an option listed above under another name.
const ALIASES: &[(&str, &str)] = &[
    // dnsmasq's siaddr; networking-ovn serves it as the TFTP server
    // address (option 150).
    ("server-ip-address", "tftp_server_address"),
];

fn lookup(name: &str) -> Option<(&'static str, Ty)> {
    let n = name.trim();
    let n = n.strip_prefix("option:").unwrap_or(n);
    if n == "next-server" || n == "next_server" {
        return Some(("next_server", Ty::Ip));
    }
    if let Some((_, ovn)) = ALIASES.iter().find(|(a, _)| *a == n) {
        return NAMES
            .iter()
            .find(|(_, _, o, _)| o == ovn)
            .map(|(_, _, o, t)| (*o, *t));
    }
    let code: Option<u8> = n.parse().ok();
    NAMES
        .iter()
        .find(|(neutron, c, ovn, _)| *neutron == n || *ovn == n || Some(*c) == code)
        .map(|(_, _, o, t)| (*o, *t))
}

fn bad(name: &str, what: impl std::fmt::Display) -> ApiError {
    ApiError::bad(format!(
        "Invalid input for extra_dhcp_opts of port: option '{name}': {what}"
    ))
}

/// The OVN option and its value for Neutron option `name` = `value`, or
/// a 400 naming the option.
pub fn ovn_value(name: &str, value: &str) -> Result<(&'static str, String), ApiError> {
    let (ovn, ty) = lookup(name).ok_or_else(|| {
        bad(
            name,
            "not an option OVN serves (names: dnsmasq's, e.g. tftp-server, bootfile-name, dns-server, domain-name, mtu, classless-static-route)",
        )
    })?;
    let v = value.trim();
    let out = match ty {
        Ty::Ip => ip_list(name, v)?,
        Ty::Str => quoted(name, v)?,
        Ty::Int(lo, hi) => match v.parse::<u32>() {
            Ok(n) if (lo..=hi).contains(&n) => n.to_string(),
            _ => return Err(bad(name, format!("'{v}' is not an integer in {lo}..{hi}"))),
        },
        Ty::Bool => match v.to_ascii_lowercase().as_str() {
            "1" | "true" => "1".into(),
            "0" | "false" => "0".into(),
            _ => return Err(bad(name, format!("'{v}' is not 0 or 1"))),
        },
        Ty::Routes => routes(name, v)?,
        Ty::Host => match v.parse::<Ipv4Addr>() {
            Ok(ip) => ip.to_string(),
            Err(_) if is_host_name(v) => format!("\"{v}\""),
            Err(_) => {
                return Err(bad(
                    name,
                    format!("'{v}' is not an IPv4 address or a host name"),
                ))
            }
        },
        Ty::Domains => {
            if v.split(',').all(|d| is_host_name(d.trim())) {
                format!(
                    "\"{}\"",
                    v.split(',').map(str::trim).collect::<Vec<_>>().join(",")
                )
            } else {
                return Err(bad(name, format!("'{v}' is not a list of domain names")));
            }
        }
    };
    Ok((ovn, out))
}

/// Addresses separated by commas or spaces: one bare, more as a set.
fn ip_list(name: &str, v: &str) -> Result<String, ApiError> {
    let ips = v
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<Ipv4Addr>()
                .map_err(|_| bad(name, format!("'{s}' is not an IPv4 address")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    match ips.as_slice() {
        [] => Err(bad(name, "no address given")),
        [one] => Ok(one.to_string()),
        more => Ok(format!(
            "{{{}}}",
            more.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// A string OVN takes quoted: printable, without quotes or backslashes
/// (which the action syntax would read as its own).
fn quoted(name: &str, v: &str) -> Result<String, ApiError> {
    if v.is_empty() || v.len() > 255 || v.chars().any(|c| c.is_control() || c == '"' || c == '\\') {
        return Err(bad(
            name,
            format!("{v:?} must be 1 to 255 printable characters without quotes or backslashes"),
        ));
    }
    Ok(format!("\"{v}\""))
}

/// dnsmasq's `CIDR,NEXTHOP,CIDR,NEXTHOP...` as OVN's `{CIDR,NEXTHOP, ...}`.
fn routes(name: &str, v: &str) -> Result<String, ApiError> {
    let parts: Vec<&str> = v
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if parts.is_empty() || !parts.len().is_multiple_of(2) {
        return Err(bad(
            name,
            format!("'{v}' is not pairs of destination CIDR and nexthop"),
        ));
    }
    let mut out = Vec::new();
    for pair in parts.chunks(2) {
        let (d, n) = (pair[0], pair[1]);
        let ok = Cidr::parse(d).is_some() && n.parse::<Ipv4Addr>().is_ok();
        if !ok {
            return Err(bad(
                name,
                format!("'{d},{n}' is not a destination CIDR and an IPv4 nexthop"),
            ));
        }
        out.push(format!("{d},{n}"));
    }
    Ok(format!("{{{}}}", out.join(", ")))
}

/// Letters, digits, dots and hyphens, as host and domain names are.
fn is_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::ovn_value;

    #[test]
    fn names_and_values_map_as_ovn_reads_them() {
        let ok = |n: &str, v: &str| ovn_value(n, v).expect("accepted");
        assert_eq!(
            ok("tftp-server", "10.0.0.9"),
            ("tftp_server", "10.0.0.9".into())
        );
        assert_eq!(
            ok("tftp-server", "boot.example"),
            ("tftp_server", "\"boot.example\"".into())
        );
        assert_eq!(
            ok("bootfile-name", "pxelinux.0"),
            ("bootfile_name", "\"pxelinux.0\"".into())
        );
        assert_eq!(ok("67", "a.efi"), ("bootfile_name", "\"a.efi\"".into()));
        assert_eq!(
            ok("dns-server", "8.8.8.8,8.8.4.4"),
            ("dns_server", "{8.8.8.8, 8.8.4.4}".into())
        );
        assert_eq!(
            ok("dns_server", "1.1.1.1"),
            ("dns_server", "1.1.1.1".into())
        );
        assert_eq!(
            ok("server-ip-address", "10.0.0.2"),
            ("tftp_server_address", "10.0.0.2".into())
        );
        assert_eq!(ok("mtu", "1400"), ("mtu", "1400".into()));
        assert_eq!(
            ok(
                "classless-static-route",
                "10.9.0.0/24,10.0.0.5,0.0.0.0/0,10.0.0.1"
            ),
            (
                "classless_static_route",
                "{10.9.0.0/24,10.0.0.5, 0.0.0.0/0,10.0.0.1}".into()
            )
        );
        assert_eq!(
            ok("domain-search", "a.example, b.example"),
            ("domain_search_list", "\"a.example,b.example\"".into())
        );
    }

    #[test]
    fn bad_names_and_values_are_refused_naming_the_option() {
        for (n, v) in [
            ("no-such-option", "1"),
            ("mtu", "9"),
            ("mtu", "x"),
            ("router", "10.0.0.300"),
            ("domain-name", "a\"b"),
            ("classless-static-route", "10.9.0.0/24"),
            ("tftp-server", "bad host!"),
        ] {
            let e = ovn_value(n, v).expect_err(n);
            assert_eq!(e.status, 400);
            assert!(
                e.message.contains("extra_dhcp_opts") && e.message.contains(n),
                "{e}"
            );
        }
    }
}
