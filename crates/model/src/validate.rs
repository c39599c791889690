//! The rules a request must pass against the running config and the host
//! (docs/api.md §3.1, §5.2, §5.6), and the one canonicalisation that needs the
//! running config: moving the default route.
//!
//! Validation judges the *desired* config (running ⊕ request), so a rule
//! holds whether its two halves come from the request or from what runs.
//! Networks and bonds are checked in name order, so the same bad request
//! always gets the same error.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{Config, NetAttrs, SwitchType};
use crate::error::{Code, RequestError};
use crate::host::{HostState, LinkKind};
use crate::request::{BondChange, NetChange, Request};

/// Which links count as nics.
///
/// Physical devices always do; VDSM's `fake_nics` convention adds devices
/// by name pattern (`dummy_*`, `veth_*` by default) so dummies and veths can
/// stand in for nics in tests and demos.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicPolicy {
    /// Glob patterns with a single trailing `*` or exact names.
    pub fake_nics: Vec<String>,
}

impl Default for NicPolicy {
    fn default() -> Self {
        Self {
            fake_nics: vec!["dummy_*".into(), "veth_*".into()],
        }
    }
}

impl NicPolicy {
    /// Whether the named link of the host counts as a nic.
    pub fn is_nic(&self, host: &HostState, name: &str) -> bool {
        let Some(link) = host.link(name) else {
            return false;
        };
        if self.fake_nics.iter().any(|p| glob(p, name)) {
            return true;
        }
        link.kind == LinkKind::Device
            && name != "lo"
            && link
                .mac
                .as_deref()
                .is_some_and(|m| m != "00:00:00:00:00:00")
    }
}

fn glob(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// Makes `req` move the default route: when it gives `defaultRoute` to a
/// network, the running holder not mentioned in the request is added to
/// it with the role (and its nameservers, which belong to the role)
/// taken away, as VDSM does.
pub fn move_default_route(req: &mut Request, running: &Config) {
    let takes_role = req
        .networks
        .values()
        .any(|c| c.attrs().is_some_and(|a| a.default_route));
    if !takes_role {
        return;
    }
    for (name, attrs) in &running.networks {
        if attrs.default_route && !req.networks.contains_key(name) {
            let mut moved = attrs.clone();
            moved.default_route = false;
            moved.nameservers.clear();
            req.networks.insert(
                name.clone(),
                NetChange::Set {
                    attrs: moved,
                    blocking_dhcp: false,
                },
            );
        }
    }
}

/// Checks a canonical request against the running config and the host.
/// Returns the desired config it would produce.
pub fn validate(
    req: &Request,
    running: &Config,
    host: &HostState,
    nics: &NicPolicy,
) -> Result<Config, RequestError> {
    check_request_level(req, running)?;
    let desired = running.apply(req);
    check_removals(req, running, &desired)?;
    for (name, change) in &req.networks {
        if let NetChange::Set { attrs, .. } = change {
            check_network(name, attrs, &desired, running, host, nics)?;
        }
    }
    for (name, change) in &req.bondings {
        if let BondChange::Set(attrs) = change {
            for nic in &attrs.nics {
                if !nics.is_nic(host, nic) {
                    let why = if host.link(nic).is_some() {
                        format!("{nic} is not a nic")
                    } else {
                        format!("nic {nic} does not exist on this host")
                    };
                    return Err(RequestError::bond(Code::BadNic, name, Some("nics"), why));
                }
            }
            if let Some(link) = host.link(name) {
                if link.kind != LinkKind::Bond {
                    return Err(RequestError::bond(
                        Code::BadBonding,
                        name,
                        None,
                        format!("a device named {name} exists and is not a bond"),
                    ));
                }
            }
        }
    }
    check_desired(&desired, running, host)?;
    Ok(desired)
}

/// Checks a canonical request as a whole config of its own, without a host:
/// the rules that hold between its networks and bonds (one defaultRoute,
/// bonds that exist, one network per nic and VLAN, a nic in one bond) but
/// not those about the host's devices. For a config that is not applied
/// now (an imported VDSM persistence), so nothing that could never be
/// applied is saved. Returns the config.
pub fn validate_offline(req: &Request) -> Result<Config, RequestError> {
    let empty = Config::default();
    check_request_level(req, &empty)?;
    let desired = empty.apply(req);
    for (name, change) in &req.networks {
        if let NetChange::Set { attrs, .. } = change {
            check_network_shape(name, attrs, &desired)?;
        }
    }
    check_desired(&desired, &empty, &HostState::default())?;
    Ok(desired)
}

fn check_request_level(req: &Request, running: &Config) -> Result<(), RequestError> {
    let holders: Vec<&String> = req
        .networks
        .iter()
        .filter(|(_, c)| c.attrs().is_some_and(|a| a.default_route))
        .map(|(n, _)| n)
        .collect();
    if holders.len() > 1 {
        return Err(RequestError::net(
            Code::BadParams,
            holders[1],
            Some("defaultRoute"),
            format!(
                "only one network may have defaultRoute; {} has it too",
                holders[0]
            ),
        ));
    }

    // One switch type per request.
    let mut switches: BTreeMap<SwitchType, String> = BTreeMap::new();
    for (n, c) in &req.networks {
        if let Some(a) = c.attrs() {
            switches
                .entry(a.switch)
                .or_insert_with(|| format!("network {n}"));
        }
    }
    for (b, c) in &req.bondings {
        if let Some(a) = c.attrs() {
            switches
                .entry(a.switch)
                .or_insert_with(|| format!("bond {b}"));
        }
    }
    if switches.len() > 1 {
        let who: Vec<String> = switches
            .iter()
            .map(|(s, w)| format!("{w} is {}", s.as_str()))
            .collect();
        return Err(RequestError::request(
            Code::BadParams,
            format!("one request may not mix switch types: {}", who.join(", ")),
        ));
    }

    // A switch-type change is for the host as a whole.
    if let Some((&target, _)) = switches.iter().next() {
        let current = running.switch();
        let running_has_any = !running.networks.is_empty() || !running.bonds.is_empty();
        if running_has_any && target != current {
            let change = format!(
                "changing the switch type from {} to {}",
                current.as_str(),
                target.as_str()
            );
            for n in running.networks.keys() {
                if !matches!(req.networks.get(n), Some(NetChange::Set { .. })) {
                    return Err(RequestError::net(
                        Code::BadParams,
                        n,
                        Some("switch"),
                        format!("{change} must carry every running network and bond; this one is missing or removed"),
                    ));
                }
            }
            for b in running.bonds.keys() {
                if !matches!(req.bondings.get(b), Some(BondChange::Set(_))) {
                    return Err(RequestError::bond(
                        Code::BadParams,
                        b,
                        Some("switch"),
                        format!("{change} must carry every running network and bond; this one is missing or removed"),
                    ));
                }
            }
            if let Some(n) = req
                .networks
                .iter()
                .find(|(_, c)| matches!(c, NetChange::Remove))
                .map(|(n, _)| n)
            {
                return Err(RequestError::net(
                    Code::BadParams,
                    n,
                    Some("remove"),
                    format!("{change} may not remove networks"),
                ));
            }
            if let Some(b) = req
                .bondings
                .iter()
                .find(|(_, c)| matches!(c, BondChange::Remove))
                .map(|(b, _)| b)
            {
                return Err(RequestError::bond(
                    Code::BadParams,
                    b,
                    Some("remove"),
                    format!("{change} may not remove bonds"),
                ));
            }
        }
    }
    Ok(())
}

fn check_removals(req: &Request, running: &Config, desired: &Config) -> Result<(), RequestError> {
    for (name, change) in &req.networks {
        if matches!(change, NetChange::Remove) && !running.networks.contains_key(name) {
            return Err(RequestError::net(
                Code::BadBridge,
                name,
                Some("remove"),
                "cannot remove a network that does not exist",
            ));
        }
    }
    for (name, change) in &req.bondings {
        if matches!(change, BondChange::Remove) {
            if !running.bonds.contains_key(name) {
                return Err(RequestError::bond(
                    Code::BadBonding,
                    name,
                    Some("remove"),
                    "cannot remove a bond that does not exist",
                ));
            }
            if let Some((net, _)) = desired
                .networks
                .iter()
                .find(|(_, a)| a.bonding.as_deref() == Some(name))
            {
                return Err(RequestError::bond(
                    Code::BondInUse,
                    name,
                    Some("remove"),
                    format!("bond is still used by network {net}"),
                ));
            }
        }
    }
    Ok(())
}

fn check_network(
    name: &str,
    a: &NetAttrs,
    desired: &Config,
    running: &Config,
    host: &HostState,
    nics: &NicPolicy,
) -> Result<(), RequestError> {
    let err = |code, attr: Option<&str>, why: String| RequestError::net(code, name, attr, why);
    if let Some(nic) = &a.nic {
        if !nics.is_nic(host, nic) {
            let why = if host.link(nic).is_some() {
                format!("{nic} exists but is not a nic")
            } else {
                format!("nic {nic} does not exist on this host")
            };
            return Err(err(Code::BadNic, Some("nic"), why));
        }
    }
    check_network_shape(name, a, desired)?;
    check_network_devices(name, a, running, host)
}

/// The rules for one network that need no host: its bond is defined, a
/// VLAN, a bridgeless network and host QoS have a device under them.
fn check_network_shape(name: &str, a: &NetAttrs, desired: &Config) -> Result<(), RequestError> {
    let err = |code, attr: Option<&str>, why: String| RequestError::net(code, name, attr, why);
    if let Some(bond) = &a.bonding {
        if !desired.bonds.contains_key(bond) {
            return Err(err(
                Code::BadBonding,
                Some("bonding"),
                format!("bond {bond} is neither running nor defined in the request's bondings"),
            ));
        }
    }
    if a.vlan.is_some() && a.base().is_none() {
        return Err(err(
            Code::BadVlan,
            Some("vlan"),
            "a VLAN needs a nic or a bonding".into(),
        ));
    }
    if !a.bridged && a.base().is_none() {
        return Err(err(
            Code::BadParams,
            Some("bridged"),
            "a bridgeless network needs a nic or a bonding".into(),
        ));
    }
    if a.host_qos.is_some() && a.base().is_none() {
        return Err(err(
            Code::BadParams,
            Some("hostQos"),
            "host QoS needs a nic or a bonding to shape".into(),
        ));
    }
    if a.host_qos.is_some() && a.vlan == Some(0) {
        // A class is named by its tag (`1389:<tag>`); `1389:0` is the
        // qdisc itself.
        return Err(err(
            Code::BadParams,
            Some("hostQos"),
            "host QoS on VLAN 0 has no class of its own".into(),
        ));
    }
    Ok(())
}

/// The rules for one network about the host's devices of its name.
fn check_network_devices(
    name: &str,
    a: &NetAttrs,
    running: &Config,
    host: &HostState,
) -> Result<(), RequestError> {
    let err = |code, attr: Option<&str>, why: String| RequestError::net(code, name, attr, why);
    // The device of this name is the network's own when it runs: a legacy
    // bridge or OVS internal port that a switch change replaces.
    let own = running
        .networks
        .get(name)
        .is_some_and(|r| r.switch == SwitchType::Ovs || r.bridged);
    if a.switch == SwitchType::Ovs && !own {
        if let Some(link) = host.link(name) {
            return Err(err(
                Code::BadBridge,
                None,
                format!(
                    "a device named {name} ({:?}) exists; an OVS network's internal port needs the name",
                    link.kind
                ),
            ));
        }
    }
    if a.bridged && a.switch == SwitchType::Legacy && !own {
        if let Some(link) = host.link(name) {
            if link.kind != LinkKind::Bridge {
                return Err(err(
                    Code::BadBridge,
                    None,
                    format!("a device named {name} exists and is not a bridge; a bridged network needs the name"),
                ));
            }
        }
    }
    Ok(())
}

fn check_desired(desired: &Config, running: &Config, host: &HostState) -> Result<(), RequestError> {
    // One network per (southbound, vlan).
    let mut seen: BTreeMap<(&str, Option<u16>), &str> = BTreeMap::new();
    for (name, a) in &desired.networks {
        if let Some(base) = a.base() {
            if let Some(other) = seen.insert((base, a.vlan), name) {
                let what = match a.vlan {
                    Some(v) => format!("VLAN {v} on {base}"),
                    None => format!("the untagged slot of {base}"),
                };
                return Err(RequestError::net(
                    Code::BadParams,
                    name,
                    Some(if a.vlan.is_some() { "vlan" } else { "nic" }),
                    format!("{what} is already taken by network {other}"),
                ));
            }
        }
    }

    // A nic belongs to one bond, and a bond slave carries no network.
    let mut slave_of: BTreeMap<&str, &str> = BTreeMap::new();
    for (bond, b) in &desired.bonds {
        for nic in &b.nics {
            if let Some(other) = slave_of.insert(nic, bond) {
                return Err(RequestError::bond(
                    Code::UsedNic,
                    bond,
                    Some("nics"),
                    format!("nic {nic} is already a slave of bond {other}"),
                ));
            }
        }
    }
    for (name, a) in &desired.networks {
        if let Some(nic) = a.nic.as_deref() {
            if let Some(bond) = slave_of.get(nic) {
                return Err(RequestError::net(
                    Code::UsedNic,
                    name,
                    Some("nic"),
                    format!("nic {nic} is a slave of bond {bond} and cannot also carry a network"),
                ));
            }
        }
    }

    // A bond slave may not carry a VLAN device netswitch does not own.
    let owned_vlans: BTreeSet<String> = running
        .networks
        .values()
        .filter_map(|a| Some(format!("{}.{}", a.base()?, a.vlan?)))
        .collect();
    for link in host.links.values() {
        if let Some(vlan) = &link.vlan {
            if let Some(bond) = slave_of.get(vlan.parent.as_str()) {
                if !owned_vlans.contains(&link.name) {
                    return Err(RequestError::bond(
                        Code::UsedNic,
                        bond,
                        Some("nics"),
                        format!(
                            "nic {} carries VLAN device {} and cannot be a bond slave",
                            vlan.parent, link.name
                        ),
                    ));
                }
            }
        }
    }

    // The host runs one switch type.
    let mut types = desired
        .networks
        .values()
        .map(|a| a.switch)
        .chain(desired.bonds.values().map(|b| b.switch));
    if let Some(first) = types.next() {
        if types.any(|t| t != first) {
            return Err(RequestError::request(
                Code::BadParams,
                "the request would leave the host with networks of both switch types",
            ));
        }
    }
    Ok(())
}
