//! Canonical configuration: the attributes of networks and bonds after
//! parsing and canonicalisation, and the running config they form.
//!
//! These are what is persisted (one JSON file per entity, docs/api.md §6), what
//! the planner reads, and what the report joins with live state. Every field
//! has its default filled in, so two equal configs are equal values.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::bondopts::BondOptions;

/// Which switch carries a network or bond (docs/api.md §1).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum SwitchType {
    #[default]
    Legacy,
    Ovs,
}

impl SwitchType {
    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            SwitchType::Legacy => "legacy",
            SwitchType::Ovs => "ovs",
        }
    }
}

/// How IPv4 is configured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BootProto {
    #[default]
    None,
    Dhcp,
}

/// One HFSC service curve: `m1` bit/s for `d` µs, then `m2` bit/s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Curve {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub m1: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub d: Option<u64>,
    pub m2: u64,
}

/// Outbound host QoS of a network: HFSC link-share, upper-limit and
/// real-time curves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QosOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ls: Option<Curve>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ul: Option<Curve>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rt: Option<Curve>,
}

/// `hostQos` as VDSM carries it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostQos {
    pub out: QosOut,
}

/// Canonical attributes of one network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetAttrs {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub nic: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bonding: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub vlan: Option<u16>,
    pub bridged: bool,
    pub stp: bool,
    pub mtu: u32,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ipaddr: Option<Ipv4Addr>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub netmask: Option<Ipv4Addr>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gateway: Option<Ipv4Addr>,
    pub bootproto: BootProto,
    pub dhcpv6: bool,
    pub ipv6autoconf: bool,
    /// `addr/prefix`, normalised (compressed address, explicit prefix).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ipv6addr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ipv6gateway: Option<Ipv6Addr>,
    pub default_route: bool,
    #[serde(default)]
    pub nameservers: Vec<IpAddr>,
    pub switch: SwitchType,
    #[serde(rename = "hostQos", skip_serializing_if = "Option::is_none", default)]
    pub host_qos: Option<HostQos>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub custom: Option<Custom>,
}

impl Default for NetAttrs {
    fn default() -> Self {
        Self {
            nic: None,
            bonding: None,
            vlan: None,
            bridged: true,
            stp: false,
            mtu: DEFAULT_MTU,
            ipaddr: None,
            netmask: None,
            gateway: None,
            bootproto: BootProto::None,
            dhcpv6: false,
            ipv6autoconf: false,
            ipv6addr: None,
            ipv6gateway: None,
            default_route: false,
            nameservers: Vec::new(),
            switch: SwitchType::Legacy,
            host_qos: None,
            custom: None,
        }
    }
}

impl NetAttrs {
    /// The device under the network before any VLAN: its nic or bond.
    pub fn base(&self) -> Option<&str> {
        self.nic.as_deref().or(self.bonding.as_deref())
    }

    /// The prefix length of the static IPv4 netmask, if any.
    pub fn prefix(&self) -> Option<u8> {
        self.netmask.map(|m| u32::from(m).count_ones() as u8)
    }

    /// The static IPv6 address and prefix, if any.
    pub fn ipv6(&self) -> Option<(Ipv6Addr, u8)> {
        let text = self.ipv6addr.as_deref()?;
        let (a, p) = text.split_once('/')?;
        Some((a.parse().ok()?, p.parse().ok()?))
    }
}

/// `custom` attributes: `bridge_opts` is understood, the rest kept as given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Custom {
    /// `k=v k=v`, sorted by key.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bridge_opts: Option<String>,
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// Canonical attributes of one bond.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BondAttrs {
    /// Slave nics, sorted.
    pub nics: Vec<String>,
    /// VDSM's option string, canonical (`mode=4 miimon=100`).
    #[serde(with = "bond_options_string")]
    pub options: BondOptions,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub hwaddr: Option<String>,
    pub switch: SwitchType,
}

mod bond_options_string {
    use super::BondOptions;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(o: &BondOptions, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(o)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BondOptions, D::Error> {
        let text = String::deserialize(d)?;
        BondOptions::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The default MTU a network gets and a device returns to.
pub const DEFAULT_MTU: u32 = 1500;

/// The networks and bonds netswitch carries: the running config, or a
/// desired one (running ⊕ request).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub networks: BTreeMap<String, NetAttrs>,
    pub bonds: BTreeMap<String, BondAttrs>,
}

impl Config {
    /// The switch type of the host per this config (`legacy` when empty).
    pub fn switch(&self) -> SwitchType {
        self.networks
            .values()
            .map(|n| n.switch)
            .chain(self.bonds.values().map(|b| b.switch))
            .next()
            .unwrap_or_default()
    }

    /// The network holding the default route, if any.
    pub fn default_route_net(&self) -> Option<&str> {
        self.networks
            .iter()
            .find(|(_, n)| n.default_route)
            .map(|(k, _)| k.as_str())
    }

    /// `self` with a request applied: removals drop, settings replace.
    pub fn apply(&self, req: &crate::request::Request) -> Config {
        let mut out = self.clone();
        for (name, change) in &req.networks {
            match change {
                crate::request::NetChange::Remove => {
                    out.networks.remove(name);
                }
                crate::request::NetChange::Set { attrs, .. } => {
                    out.networks.insert(name.clone(), attrs.clone());
                }
            }
        }
        for (name, change) in &req.bondings {
            match change {
                crate::request::BondChange::Remove => {
                    out.bonds.remove(name);
                }
                crate::request::BondChange::Set(attrs) => {
                    out.bonds.insert(name.clone(), attrs.clone());
                }
            }
        }
        out
    }
}
