//! Parse a setupNetworks request from JSON or YAML into its canonical form.
//!
//! The text is read into a generic value first and then walked by hand:
//! serde's derive would stop at the first type error with a message that
//! names a column, not the network and attribute an operator must fix, and
//! could not accept VDSM's loose forms (`"yes"`, `"1500"`, `"on"`).
//! Canonicalisation (defaults, normal forms) happens during the walk, so a
//! `Request` only ever holds canonical attributes.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde_json::{Map, Value};

use crate::bondopts::BondOptions;
use crate::config::{BondAttrs, Custom, NetAttrs, SwitchType};
use crate::error::{Code, RequestError};
use crate::request::{BondChange, NetChange, Options, Request};

/// The largest request text accepted (a 1000-network request is ~300 KiB).
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;
/// The most networks one request may carry.
pub const MAX_NETWORKS: usize = 10_000;
/// The least MTU the kernel keeps IPv6 on a device at (RFC 8200).
const IPV6_MIN_MTU: u32 = 1280;
/// The most bonds one request may carry.
pub const MAX_BONDS: usize = 1_000;

/// Reads a request from JSON or YAML text (JSON when it starts with `{`).
pub fn parse_request(text: &[u8]) -> Result<Request, RequestError> {
    let value = parse_document(text)?;
    request_from_value(&value)
}

/// Reads JSON or YAML text into a generic value, bounded in size.
pub fn parse_document(text: &[u8]) -> Result<Value, RequestError> {
    if text.len() > MAX_REQUEST_BYTES {
        return Err(RequestError::request(
            Code::BadParams,
            format!(
                "request is {} bytes; at most {MAX_REQUEST_BYTES} are accepted",
                text.len()
            ),
        ));
    }
    let text = std::str::from_utf8(text).map_err(|e| {
        RequestError::request(Code::BadParams, format!("request is not UTF-8 text: {e}"))
    })?;
    let trimmed = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    if trimmed.is_empty() {
        return Err(RequestError::request(Code::BadParams, "request is empty"));
    }
    if trimmed.starts_with('{') {
        serde_json::from_str(trimmed).map_err(|e| {
            RequestError::request(Code::BadParams, format!("request is not valid JSON: {e}"))
        })
    } else {
        serde_saphyr::from_str::<Value>(trimmed).map_err(|e| {
            RequestError::request(
                Code::BadParams,
                format!("request is not valid YAML: {}", first_line(&e.to_string())),
            )
        })
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// Builds a canonical request from a parsed document.
pub fn request_from_value(value: &Value) -> Result<Request, RequestError> {
    let Value::Object(top) = value else {
        return Err(RequestError::request(
            Code::BadParams,
            "request must be a mapping with networks, bondings and options",
        ));
    };
    let mut req = Request::default();
    for (key, v) in top {
        match key.as_str() {
            "networks" => {
                req.networks = entities(v, "networks", "networks", MAX_NETWORKS, parse_network)?
            }
            "bondings" => req.bondings = entities(v, "bondings", "bonds", MAX_BONDS, parse_bond)?,
            "options" => {
                let opts = section(v, "options")?;
                req.options = parse_options(opts)?;
                req.options_given = opts.keys().cloned().collect();
            }
            other => {
                return Err(RequestError::request(
                    Code::BadParams,
                    format!(
                        "unknown top-level key {other:?} (expected networks, bondings, options)"
                    ),
                ))
            }
        }
    }
    Ok(req)
}

/// One of the request's name -> attributes sections (`what`, whose entries
/// are `noun`), bounded in size, each entry parsed by `parse`.
fn entities<T>(
    v: &Value,
    what: &str,
    noun: &str,
    max: usize,
    parse: fn(&str, &Value) -> Result<T, RequestError>,
) -> Result<BTreeMap<String, T>, RequestError> {
    let entries = section(v, what)?;
    if entries.len() > max {
        return Err(RequestError::request(
            Code::BadParams,
            format!(
                "request carries {} {noun}; at most {max} are accepted",
                entries.len()
            ),
        ));
    }
    entries
        .iter()
        .map(|(name, attrs)| Ok((name.clone(), parse(name, attrs)?)))
        .collect()
}

fn section<'a>(v: &'a Value, name: &str) -> Result<&'a Map<String, Value>, RequestError> {
    match v {
        Value::Object(m) => Ok(m),
        Value::Null => {
            static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
            Ok(EMPTY.get_or_init(Map::new))
        }
        _ => Err(RequestError::request(
            Code::BadParams,
            format!("{name} must be a mapping of name to attributes"),
        )),
    }
}

// ---------------------------------------------------------------- values

/// VDSM's bool-ish forms: true/false, yes/no, on/off, 1/0, as booleans,
/// numbers or strings (any case).
pub fn boolish(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_u64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Some(true),
            "false" | "no" | "off" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A non-negative whole number given as a number or a string of digits.
pub fn uint(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => {
            let s = s.trim();
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse().ok()
            } else {
                None
            }
        }
        _ => None,
    }
}

pub(crate) fn describe(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 40 {
        let cut: String = text.chars().take(40).collect();
        format!("{cut}...")
    } else {
        text
    }
}

/// A MAC address in lower-case colon form, from colon or dash form.
pub fn canonical_mac(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6
        || parts
            .iter()
            .any(|p| p.len() != 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return None;
    }
    Some(parts.join(":").to_ascii_lowercase())
}

/// `mac` (canonical) if a device may carry it: the kernel refuses a
/// multicast or all-zero address (`EADDRNOTAVAIL`).
fn unicast_mac(mac: String) -> Result<String, String> {
    let first = u8::from_str_radix(&mac[..2], 16).unwrap_or(1);
    if first & 1 == 1 {
        return Err(format!("{mac} is a multicast address"));
    }
    if mac == "00:00:00:00:00:00" {
        return Err(format!("{mac} is not an address a device may carry"));
    }
    Ok(mac)
}

/// The netmask of a prefix length (0..=32).
pub fn prefix_to_netmask(prefix: u8) -> Ipv4Addr {
    let bits = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    };
    Ipv4Addr::from(bits)
}

/// The prefix length of a contiguous netmask.
pub fn netmask_to_prefix(mask: Ipv4Addr) -> Option<u8> {
    let bits = u32::from(mask);
    let ones = bits.leading_ones();
    if bits.checked_shl(ones).unwrap_or(0) == 0 {
        Some(ones as u8)
    } else {
        None
    }
}

// ---------------------------------------------------------------- names

use crate::names::check_store_name;
pub use crate::names::{check_bond_name, check_device_name};

// ---------------------------------------------------------------- networks

const NET_KEYS: &[&str] = &[
    "nic",
    "bonding",
    "vlan",
    "bridged",
    "stp",
    "STP",
    "mtu",
    "ipaddr",
    "netmask",
    "prefix",
    "gateway",
    "bootproto",
    "dhcpv6",
    "ipv6autoconf",
    "ipv6addr",
    "ipv6gateway",
    "defaultRoute",
    "nameservers",
    "switch",
    "hostQos",
    "custom",
    "remove",
    "blockingdhcp",
];

fn parse_network(name: &str, v: &Value) -> Result<NetChange, RequestError> {
    let err = |code, attr: Option<&str>, why: String| RequestError::net(code, name, attr, why);
    check_store_name(name).map_err(|why| err(Code::BadBridge, None, why))?;
    let Value::Object(m) = v else {
        return Err(err(
            Code::BadParams,
            None,
            format!("attributes must be a mapping, not {}", describe(v)),
        ));
    };
    for key in m.keys() {
        if !NET_KEYS.contains(&key.as_str()) {
            return Err(err(Code::BadParams, Some(key), "unknown attribute".into()));
        }
    }
    let flag = |key: &str, default: bool| -> Result<bool, RequestError> {
        match m.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => boolish(v).ok_or_else(|| {
                err(
                    Code::BadParams,
                    Some(key),
                    format!(
                        "{} is not a boolean (true/false, yes/no, on/off, 1/0)",
                        describe(v)
                    ),
                )
            }),
        }
    };
    let string = |key: &str, code: Code| -> Result<Option<String>, RequestError> {
        match m.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(err(
                code,
                Some(key),
                format!("{} is not a string", describe(v)),
            )),
        }
    };

    if flag("remove", false)? {
        if let Some(other) = m
            .keys()
            .find(|k| !matches!(k.as_str(), "remove" | "custom"))
        {
            return Err(err(
                Code::BadParams,
                Some(other),
                "only custom may accompany remove".into(),
            ));
        }
        return Ok(NetChange::Remove);
    }

    let mut a = NetAttrs {
        nic: string("nic", Code::BadParams)?,
        ..NetAttrs::default()
    };
    if a.nic.as_deref() == Some("") {
        return Err(err(Code::BadNic, Some("nic"), "nic is empty".into()));
    }
    a.bonding = string("bonding", Code::BadBonding)?;
    if let Some(b) = &a.bonding {
        check_bond_name(b)
            .map_err(|why| err(Code::BadBonding, Some("bonding"), format!("{b:?}: {why}")))?;
    }
    if a.nic.is_some() && a.bonding.is_some() {
        return Err(err(
            Code::BadParams,
            Some("nic"),
            "nic and bonding exclude each other".into(),
        ));
    }
    if let Some(v) = m.get("vlan").filter(|v| !v.is_null()) {
        let id = uint(v).filter(|id| *id <= 4094).ok_or_else(|| {
            err(
                Code::BadVlan,
                Some("vlan"),
                format!("{} is not a VLAN id in 0..4094", describe(v)),
            )
        })?;
        a.vlan = Some(id as u16);
    }
    a.bridged = flag("bridged", true)?;
    a.stp = if m.contains_key("stp") {
        flag("stp", false)?
    } else {
        flag("STP", false)?
    } && a.bridged;
    if let Some(v) = m.get("mtu").filter(|v| !v.is_null()) {
        let mtu = uint(v)
            .filter(|mtu| (68..=65535).contains(mtu))
            .ok_or_else(|| {
                err(
                    Code::BadParams,
                    Some("mtu"),
                    format!("{} is not an MTU in 68..65535", describe(v)),
                )
            })?;
        a.mtu = mtu as u32;
    }
    a.switch = match string("switch", Code::BadParams)?.as_deref() {
        None | Some("legacy") => SwitchType::Legacy,
        Some("ovs") => SwitchType::Ovs,
        Some(other) => {
            return Err(err(
                Code::BadParams,
                Some("switch"),
                format!("{other:?} is neither legacy nor ovs"),
            ))
        }
    };
    if a.bridged || a.switch == SwitchType::Ovs {
        check_device_name(name).map_err(|why| {
            err(
                Code::BadBridge,
                None,
                format!("{why} (the network names a bridge or port)"),
            )
        })?;
    }
    if let (Some(base), Some(id)) = (a.base(), a.vlan) {
        crate::names::check_vlan_device(base, id)
            .map_err(|why| err(Code::BadBridge, Some("vlan"), why))?;
    }
    crate::ipattrs::parse_ipv4(&mut a, m, name)?;
    crate::ipattrs::parse_ipv6(&mut a, m, name, &flag)?;
    let ipv6 = a.ipv6addr.is_some() || a.dhcpv6 || a.ipv6autoconf;
    if ipv6 && a.mtu < IPV6_MIN_MTU {
        return Err(err(
            Code::BadParams,
            Some("mtu"),
            format!(
                "{} is below {IPV6_MIN_MTU}, the least MTU IPv6 runs on; the kernel would turn IPv6 off",
                a.mtu
            ),
        ));
    }
    a.default_route = flag("defaultRoute", false)?;
    a.nameservers = crate::ipattrs::parse_nameservers(m, name)?;
    if !a.nameservers.is_empty() && !a.default_route {
        return Err(err(
            Code::BadParams,
            Some("nameservers"),
            "nameservers may only be set on the defaultRoute network".into(),
        ));
    }
    if let Some(q) = m.get("hostQos").filter(|v| !v.is_null()) {
        a.host_qos = Some(crate::qos::parse_qos(q, name)?);
    }
    if let Some(c) = m.get("custom").filter(|v| !v.is_null()) {
        a.custom = parse_custom(c, name, a.stp)?;
        if !a.bridged && a.custom.as_ref().is_some_and(|c| c.bridge_opts.is_some()) {
            return Err(err(
                Code::BadParams,
                Some("custom.bridge_opts"),
                "a bridgeless network has no bridge to set options on".into(),
            ));
        }
    }
    let blocking_dhcp = flag("blockingdhcp", false)?;
    Ok(NetChange::Set {
        attrs: a,
        blocking_dhcp,
    })
}

/// How deep `custom` may nest, counting the `custom` mapping itself.
///
/// `custom` is the one attribute that takes any value, and every internal
/// format wraps a network in more structure: the crash journal (a plan,
/// the configs before and after) and the daemon's JSON-RPC envelope add
/// levels, and their readers stop at serde_json's recursion limit (128).
/// A request nested near that limit would be applied and then be
/// unreadable in the journal, so crash recovery could not roll it back.
/// 32 levels leave room for any envelope while being far more than any
/// real `custom` value needs.
pub const MAX_CUSTOM_DEPTH: usize = 32;

/// How many levels of arrays and mappings `v` holds (a scalar is 0),
/// without recursion.
fn nesting(v: &Value) -> usize {
    let mut deepest = 0;
    let mut stack: Vec<(&Value, usize)> = vec![(v, 0)];
    while let Some((v, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(m) => Box::new(m.values()),
            _ => continue,
        };
        deepest = deepest.max(depth + 1);
        stack.extend(children.map(|c| (c, depth + 1)));
    }
    deepest
}

/// `stp` is the network's, for the options whose range depends on it.
fn parse_custom(v: &Value, name: &str, stp: bool) -> Result<Option<Custom>, RequestError> {
    let bad = |attr: &str, why: String| RequestError::net(Code::BadParams, name, Some(attr), why);
    let Value::Object(m) = v else {
        return Err(bad("custom", "must be a mapping".into()));
    };
    let mut custom = Custom::default();
    for (k, v) in m {
        if k == "bridge_opts" {
            let Value::String(s) = v else {
                return Err(bad(
                    "custom.bridge_opts",
                    "must be a string of key=value pairs".into(),
                ));
            };
            let mut opts: BTreeMap<&str, &str> = BTreeMap::new();
            for token in s.split_whitespace() {
                let Some((key, value)) = token.split_once('=') else {
                    return Err(bad(
                        "custom.bridge_opts",
                        format!("{token:?} is not key=value"),
                    ));
                };
                if key.is_empty()
                    || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    || value.is_empty()
                {
                    return Err(bad(
                        "custom.bridge_opts",
                        format!("{token:?} is not key=value"),
                    ));
                }
                if opts.insert(key, value).is_some() {
                    return Err(bad("custom.bridge_opts", format!("{key} is given twice")));
                }
                crate::bridgeopts::check(key, value, stp)
                    .map_err(|why| bad("custom.bridge_opts", why))?;
            }
            if !opts.is_empty() {
                let joined: Vec<String> = opts.iter().map(|(k, v)| format!("{k}={v}")).collect();
                custom.bridge_opts = Some(joined.join(" "));
            }
        } else {
            let depth = 1 + nesting(v);
            if depth > MAX_CUSTOM_DEPTH {
                return Err(bad(
                    "custom",
                    format!(
                        "{k} nests {depth} levels deep; custom values may nest at most {MAX_CUSTOM_DEPTH}"
                    ),
                ));
            }
            custom.other.insert(k.clone(), v.clone());
        }
    }
    Ok(if custom == Custom::default() {
        None
    } else {
        Some(custom)
    })
}

// ---------------------------------------------------------------- bonds

fn parse_bond(name: &str, v: &Value) -> Result<BondChange, RequestError> {
    let err = |code, attr: Option<&str>, why: String| RequestError::bond(code, name, attr, why);
    check_bond_name(name).map_err(|why| err(Code::BadBonding, None, why))?;
    let Value::Object(m) = v else {
        return Err(err(
            Code::BadParams,
            None,
            format!("attributes must be a mapping, not {}", describe(v)),
        ));
    };
    for key in m.keys() {
        if !matches!(
            key.as_str(),
            "nics" | "options" | "hwaddr" | "switch" | "remove"
        ) {
            return Err(err(Code::BadParams, Some(key), "unknown attribute".into()));
        }
    }
    if let Some(r) = m.get("remove") {
        let remove = boolish(r).ok_or_else(|| {
            err(
                Code::BadParams,
                Some("remove"),
                format!("{} is not a boolean", describe(r)),
            )
        })?;
        if remove {
            if let Some(other) = m.keys().find(|k| *k != "remove") {
                return Err(err(
                    Code::BadParams,
                    Some(other),
                    "nothing may accompany remove".into(),
                ));
            }
            return Ok(BondChange::Remove);
        }
    }
    let nics = match m.get("nics") {
        Some(Value::Array(items)) => {
            let mut nics = Vec::new();
            for item in items {
                match item {
                    Value::String(s) if !s.is_empty() => nics.push(s.clone()),
                    other => {
                        return Err(err(
                            Code::BadParams,
                            Some("nics"),
                            format!("{} is not a nic name", describe(other)),
                        ))
                    }
                }
            }
            nics.sort();
            if let Some(w) = nics.windows(2).find(|w| w[0] == w[1]) {
                return Err(err(
                    Code::BadParams,
                    Some("nics"),
                    format!("{} is listed twice", w[0]),
                ));
            }
            nics
        }
        None | Some(Value::Null) => Vec::new(),
        Some(v) => {
            return Err(err(
                Code::BadParams,
                Some("nics"),
                format!("{} is not a list of nics", describe(v)),
            ))
        }
    };
    if nics.is_empty() {
        return Err(err(
            Code::BadParams,
            Some("nics"),
            "a bond needs at least one nic".into(),
        ));
    }
    let options = match m.get("options") {
        None | Some(Value::Null) => BondOptions::parse(""),
        Some(Value::String(s)) => BondOptions::parse(s),
        Some(v) => {
            return Err(err(
                Code::BadBonding,
                Some("options"),
                format!("{} is not an option string", describe(v)),
            ))
        }
    }
    .map_err(|e| err(Code::BadBonding, Some("options"), e.0))?;
    let hwaddr = match m.get("hwaddr") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            canonical_mac(s)
                .ok_or_else(|| format!("{s:?} is not a MAC address"))
                .and_then(unicast_mac)
                .map_err(|why| err(Code::BadBonding, Some("hwaddr"), why))?,
        ),
        Some(v) => {
            return Err(err(
                Code::BadBonding,
                Some("hwaddr"),
                format!("{} is not a MAC address", describe(v)),
            ))
        }
    };
    let switch = match m.get("switch") {
        None | Some(Value::Null) => SwitchType::Legacy,
        Some(Value::String(s)) if s == "legacy" => SwitchType::Legacy,
        Some(Value::String(s)) if s == "ovs" => SwitchType::Ovs,
        Some(v) => {
            return Err(err(
                Code::BadParams,
                Some("switch"),
                format!("{} is neither legacy nor ovs", describe(v)),
            ))
        }
    };
    Ok(BondChange::Set(BondAttrs {
        nics,
        options,
        hwaddr,
        switch,
    }))
}

// ---------------------------------------------------------------- options

fn parse_options(m: &Map<String, Value>) -> Result<Options, RequestError> {
    let mut o = Options::default();
    for (k, v) in m {
        let flag = || {
            boolish(v).ok_or_else(|| {
                RequestError::option(
                    Code::BadParams,
                    k,
                    format!("{} is not a boolean", describe(v)),
                )
            })
        };
        match k.as_str() {
            "connectivityCheck" => o.connectivity_check = flag()?,
            "commitOnSuccess" => o.commit_on_success = flag()?,
            "dryRun" => o.dry_run = flag()?,
            "connectivityTimeout" => {
                let secs = match v {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => s.trim().parse::<f64>().ok(),
                    _ => None,
                }
                .filter(|s| s.is_finite() && *s >= 0.0 && *s <= 3600.0)
                .ok_or_else(|| {
                    RequestError::option(
                        Code::BadParams,
                        k,
                        format!("{} is not a number of seconds in 0..3600", describe(v)),
                    )
                })?;
                o.connectivity_timeout = secs;
            }
            _ => return Err(RequestError::option(
                Code::BadParams,
                k,
                "unknown option (connectivityCheck, connectivityTimeout, commitOnSuccess, dryRun)",
            )),
        }
    }
    Ok(o)
}
