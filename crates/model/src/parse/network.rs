//! One network's attributes.

use std::ops::RangeInclusive;

use serde_json::{Map, Value};

use super::custom::parse_custom;
use super::values::{boolish, describe, uint};
use crate::config::{NetAttrs, SwitchType};
use crate::error::{Code, RequestError};
use crate::names::{check_bond_name, check_device_name, check_store_name};
use crate::request::NetChange;

/// The least MTU the kernel keeps IPv6 on a device at (RFC 8200).
const IPV6_MIN_MTU: u32 = 1280;

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

/// One network's attribute mapping with its name, so every refusal names
/// the network and the attribute at fault.
struct Fields<'a> {
    name: &'a str,
    m: &'a Map<String, Value>,
}

impl Fields<'_> {
    fn err(&self, code: Code, attr: Option<&str>, why: String) -> RequestError {
        RequestError::net(code, self.name, attr, why)
    }

    /// A present, non-null attribute.
    fn get(&self, key: &str) -> Option<&Value> {
        self.m.get(key).filter(|v| !v.is_null())
    }

    fn flag(&self, key: &str, default: bool) -> Result<bool, RequestError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => boolish(v).ok_or_else(|| {
                self.err(
                    Code::BadParams,
                    Some(key),
                    format!(
                        "{} is not a boolean (true/false, yes/no, on/off, 1/0)",
                        describe(v)
                    ),
                )
            }),
        }
    }

    fn string(&self, key: &str, code: Code) -> Result<Option<String>, RequestError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.err(code, Some(key), format!("{} is not a string", describe(v)))),
        }
    }

    /// A whole number in `range`, or a refusal saying it is not `what`.
    fn number(
        &self,
        key: &str,
        code: Code,
        range: RangeInclusive<u64>,
        what: &str,
    ) -> Result<Option<u64>, RequestError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        uint(v)
            .filter(|n| range.contains(n))
            .map(Some)
            .ok_or_else(|| self.err(code, Some(key), format!("{} is not {what}", describe(v))))
    }
}

pub(super) fn parse_network(name: &str, v: &Value) -> Result<NetChange, RequestError> {
    let bad = |code, why: String| RequestError::net(code, name, None, why);
    check_store_name(name).map_err(|why| bad(Code::BadBridge, why))?;
    let Value::Object(m) = v else {
        return Err(bad(
            Code::BadParams,
            format!("attributes must be a mapping, not {}", describe(v)),
        ));
    };
    let f = Fields { name, m };
    if let Some(key) = m.keys().find(|k| !NET_KEYS.contains(&k.as_str())) {
        return Err(f.err(Code::BadParams, Some(key), "unknown attribute".into()));
    }
    if f.flag("remove", false)? {
        if let Some(other) = m
            .keys()
            .find(|k| !matches!(k.as_str(), "remove" | "custom"))
        {
            return Err(f.err(
                Code::BadParams,
                Some(other),
                "only custom may accompany remove".into(),
            ));
        }
        return Ok(NetChange::Remove);
    }
    let mut a = NetAttrs::default();
    topology(&f, &mut a)?;
    addressing(&f, &mut a)?;
    extras(&f, &mut a)?;
    Ok(NetChange::Set {
        attrs: a,
        blocking_dhcp: f.flag("blockingdhcp", false)?,
    })
}

/// What the network rides on and how: nic or bond, VLAN, bridge, MTU,
/// switch; and the device names these make.
fn topology(f: &Fields, a: &mut NetAttrs) -> Result<(), RequestError> {
    a.nic = f.string("nic", Code::BadParams)?;
    if a.nic.as_deref() == Some("") {
        return Err(f.err(Code::BadNic, Some("nic"), "nic is empty".into()));
    }
    a.bonding = f.string("bonding", Code::BadBonding)?;
    if let Some(b) = &a.bonding {
        check_bond_name(b)
            .map_err(|why| f.err(Code::BadBonding, Some("bonding"), format!("{b:?}: {why}")))?;
    }
    if a.nic.is_some() && a.bonding.is_some() {
        return Err(f.err(
            Code::BadParams,
            Some("nic"),
            "nic and bonding exclude each other".into(),
        ));
    }
    a.vlan = f
        .number("vlan", Code::BadVlan, 0..=4094, "a VLAN id in 0..4094")?
        .map(|id| id as u16);
    a.bridged = f.flag("bridged", true)?;
    let stp_key = if f.m.contains_key("stp") {
        "stp"
    } else {
        "STP"
    };
    a.stp = f.flag(stp_key, false)? && a.bridged;
    if let Some(mtu) = f.number("mtu", Code::BadParams, 68..=65535, "an MTU in 68..65535")? {
        a.mtu = mtu as u32;
    }
    a.switch = match f.string("switch", Code::BadParams)?.as_deref() {
        None | Some("legacy") => SwitchType::Legacy,
        Some("ovs") => SwitchType::Ovs,
        Some(other) => {
            return Err(f.err(
                Code::BadParams,
                Some("switch"),
                format!("{other:?} is neither legacy nor ovs"),
            ))
        }
    };
    device_names(f, a)
}

/// The bridge or port the network's name becomes, and its VLAN device,
/// must be names the kernel takes.
fn device_names(f: &Fields, a: &NetAttrs) -> Result<(), RequestError> {
    if a.bridged || a.switch == SwitchType::Ovs {
        check_device_name(f.name).map_err(|why| {
            f.err(
                Code::BadBridge,
                None,
                format!("{why} (the network names a bridge or port)"),
            )
        })?;
    }
    if let (Some(base), Some(id)) = (a.base(), a.vlan) {
        crate::names::check_vlan_device(base, id)
            .map_err(|why| f.err(Code::BadBridge, Some("vlan"), why))?;
    }
    Ok(())
}

/// Addresses, the default route and name servers.
fn addressing(f: &Fields, a: &mut NetAttrs) -> Result<(), RequestError> {
    crate::ipattrs::parse_ipv4(a, f.m, f.name)?;
    crate::ipattrs::parse_ipv6(a, f.m, f.name, &|key, default| f.flag(key, default))?;
    let ipv6 = a.ipv6addr.is_some() || a.dhcpv6 || a.ipv6autoconf;
    if ipv6 && a.mtu < IPV6_MIN_MTU {
        return Err(f.err(
            Code::BadParams,
            Some("mtu"),
            format!(
                "{} is below {IPV6_MIN_MTU}, the least MTU IPv6 runs on; the kernel would turn IPv6 off",
                a.mtu
            ),
        ));
    }
    a.default_route = f.flag("defaultRoute", false)?;
    a.nameservers = crate::ipattrs::parse_nameservers(f.m, f.name)?;
    if !a.nameservers.is_empty() && !a.default_route {
        return Err(f.err(
            Code::BadParams,
            Some("nameservers"),
            "nameservers may only be set on the defaultRoute network".into(),
        ));
    }
    Ok(())
}

/// Host QoS and `custom`.
fn extras(f: &Fields, a: &mut NetAttrs) -> Result<(), RequestError> {
    if let Some(q) = f.get("hostQos") {
        a.host_qos = Some(crate::qos::parse_qos(q, f.name)?);
    }
    if let Some(c) = f.get("custom") {
        a.custom = parse_custom(c, f.name, a.stp)?;
        if !a.bridged && a.custom.as_ref().is_some_and(|c| c.bridge_opts.is_some()) {
            return Err(f.err(
                Code::BadParams,
                Some("custom.bridge_opts"),
                "a bridgeless network has no bridge to set options on".into(),
            ));
        }
    }
    Ok(())
}
