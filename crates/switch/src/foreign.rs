//! Devices netswitch did not make: refused, never adopted.
//!
//! A bridge an administrator built (with its own ports and addresses) has
//! the name a request may give a network; a nic may already be a port of
//! such a bridge. Planning over them would strip the bridge's addresses,
//! pull its ports, and delete it with the network later: another owner's
//! device silently taken over. VDSM refuses a bridge already in use; so
//! does netswitch, before anything changes.
//!
//! "netswitch's" means a device of the running config's topology (its
//! bridges, VLAN devices, bonds and the nics under them, OVS networks'
//! internal ports). Only new or changed networks of a setup request are
//! judged; rollback, crash recovery and restore plan from configs netswitch
//! wrote and do not come through here, so a device of a previous
//! generation stays usable for them.

use std::collections::BTreeSet;

use netswitch_model::config::{Config, SwitchType};
use netswitch_model::error::{Code, RequestError};
use netswitch_model::host::HostState;
use netswitch_model::request::{BondChange, NetChange, Request};

use crate::topology::{place, Topology};

/// The device names the running config owns.
fn owned(running: &Config) -> BTreeSet<String> {
    let t = Topology::of(running);
    let mut names: BTreeSet<String> = t.devices.into_keys().collect();
    names.extend(t.ovs.into_keys());
    names.extend(t.places.into_values().filter_map(|p| p.northbound));
    names
}

/// Refuses a request that would take over a device netswitch did not
/// make: a network whose northbound device (its bridge, VLAN device or
/// OVS internal port) exists and is not netswitch's (27, naming the
/// network and the device), and a network's nic or a bond's slave that is
/// a port of a bridge or bond netswitch does not own (24).
pub fn check(req: &Request, running: &Config, host: &HostState) -> Result<(), RequestError> {
    let owned = owned(running);
    for (name, change) in &req.networks {
        let NetChange::Set { attrs, .. } = change else {
            continue;
        };
        let p = place(name, attrs);
        let northbound = if attrs.switch == SwitchType::Ovs {
            Some(name.clone())
        } else {
            p.northbound.clone()
        };
        // A bridgeless network's northbound is its nic or bond: judged
        // below as a port, not as a device to create.
        if let Some(nb) = northbound.filter(|nb| Some(nb) != p.base.as_ref()) {
            if host.link(&nb).is_some() && !owned.contains(&nb) {
                return Err(RequestError::net(
                    Code::BadBridge,
                    name,
                    None,
                    format!(
                        "device {nb} already exists and was not made by netswitch; \
                         it is left as it is (remove it or pick another network name)"
                    ),
                ));
            }
        }
        if let Some(nic) = attrs.nic.as_deref() {
            check_port(nic, &owned, host)
                .map_err(|why| RequestError::net(Code::UsedNic, name, Some("nic"), why))?;
        }
    }
    for (name, change) in &req.bondings {
        let BondChange::Set(attrs) = change else {
            continue;
        };
        // An existing bond of the requested name is taken over with the
        // slaves it has (as VDSM does); only other masters are foreign.
        let mut owned = owned.clone();
        owned.insert(name.clone());
        for nic in &attrs.nics {
            check_port(nic, &owned, host)
                .map_err(|why| RequestError::bond(Code::UsedNic, name, Some("nics"), why))?;
        }
    }
    Ok(())
}

/// Why `nic` may not be used: it is a port of a master netswitch does not
/// own. A nic netswitch already uses is its own to move.
fn check_port(nic: &str, owned: &BTreeSet<String>, host: &HostState) -> Result<(), String> {
    if owned.contains(nic) {
        return Ok(());
    }
    match host.link(nic).and_then(|l| l.master.as_deref()) {
        Some(master) if !owned.contains(master) => Err(format!(
            "nic {nic} is a port of {master}, which netswitch did not make; it is left as it is"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netswitch_model::config::NetAttrs;
    use netswitch_model::host::{Link, LinkKind};

    fn host() -> HostState {
        let mut h = HostState::default();
        let mut add = |name: &str, kind: LinkKind, master: Option<&str>| {
            let mut l = Link::new(h.links.len() as u32 + 1, name, kind);
            l.master = master.map(str::to_string);
            h.links.insert(name.to_string(), l);
        };
        add("eth0", LinkKind::Device, Some("adminbr"));
        add("eth1", LinkKind::Device, None);
        add("adminbr", LinkKind::Bridge, None);
        h
    }

    fn set(nic: &str, bridged: bool) -> NetChange {
        NetChange::Set {
            attrs: NetAttrs {
                nic: Some(nic.into()),
                bridged,
                ..NetAttrs::default()
            },
            blocking_dhcp: false,
        }
    }

    fn req(name: &str, change: NetChange) -> Request {
        let mut r = Request::default();
        r.networks.insert(name.into(), change);
        r
    }

    #[test]
    fn a_foreign_bridge_of_the_network_name_is_refused_with_27() {
        let e = check(
            &req("adminbr", set("eth1", true)),
            &Config::default(),
            &host(),
        )
        .unwrap_err();
        assert_eq!(e.code(), 27);
        assert!(e.to_string().contains("network adminbr") && e.reason.contains("device adminbr"));
    }

    #[test]
    fn a_port_of_a_foreign_bridge_is_refused_with_24() {
        let e = check(&req("n", set("eth0", false)), &Config::default(), &host()).unwrap_err();
        assert_eq!(e.code(), 24);
        assert!(
            e.reason.contains("eth0") && e.reason.contains("adminbr"),
            "{e}"
        );
    }

    #[test]
    fn a_bond_slave_must_not_be_a_port_of_another_master() {
        use netswitch_model::config::BondAttrs;
        let mut h = host();
        let mut bond = Link::new(10, "bond7", LinkKind::Bond);
        bond.master = None;
        h.links.insert("bond7".into(), bond);
        h.links.get_mut("eth1").unwrap().master = Some("bond7".into());
        let bond_req = |nics: &[&str]| {
            let mut r = Request::default();
            r.bondings.insert(
                "bond7".into(),
                BondChange::Set(BondAttrs {
                    nics: nics.iter().map(|n| n.to_string()).collect(),
                    options: Default::default(),
                    hwaddr: None,
                    switch: SwitchType::Legacy,
                }),
            );
            r
        };
        // Its own slave: an existing bond is taken over with its slaves.
        check(&bond_req(&["eth1"]), &Config::default(), &h).unwrap();
        let e = check(&bond_req(&["eth0", "eth1"]), &Config::default(), &h).unwrap_err();
        assert_eq!(e.code(), 24);
        assert!(
            e.to_string().contains("bond bond7") && e.reason.contains("adminbr"),
            "{e}"
        );
    }

    #[test]
    fn devices_of_the_running_config_are_netswitch_s() {
        let mut running = Config::default();
        running.networks.insert(
            "adminbr".into(),
            NetAttrs {
                nic: Some("eth0".into()),
                bridged: true,
                ..NetAttrs::default()
            },
        );
        check(&req("adminbr", set("eth0", true)), &running, &host()).unwrap();
        // A nic moved off a netswitch bridge to another network.
        check(&req("other", set("eth0", false)), &running, &host()).unwrap();
        check(
            &req("fresh", set("eth1", true)),
            &Config::default(),
            &host(),
        )
        .unwrap();
    }
}
