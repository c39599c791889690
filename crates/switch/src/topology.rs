//! The devices a config implies, with derived MTUs: the legacy switch's
//! kernel devices and the OVS switch's internal ports.
//!
//! Computed the same way for the running and the desired config, so the
//! planner's "what do we own now / what must exist" is one diff of two
//! values, and the report knows each network's northbound and southbound.

use std::collections::BTreeMap;

use netswitch_model::bondopts::BondOptions;
use netswitch_model::config::{Config, NetAttrs, SwitchType, DEFAULT_MTU};

/// What a device is in the topology, with what defines it.
#[derive(Debug, Clone, PartialEq)]
pub enum DevKind {
    /// A nic netswitch uses but does not create.
    Nic,
    Bond {
        options: BondOptions,
        hwaddr: Option<String>,
    },
    Vlan {
        parent: String,
        id: u16,
    },
    Bridge {
        stp: bool,
        options: BTreeMap<String, String>,
    },
}

impl DevKind {
    /// Stacking order, bottom first: nics, bonds, VLANs, bridges.
    pub fn rank(&self) -> u8 {
        match self {
            DevKind::Nic => 0,
            DevKind::Bond { .. } => 1,
            DevKind::Vlan { .. } => 2,
            DevKind::Bridge { .. } => 3,
        }
    }
}

/// One device of the topology.
#[derive(Debug, Clone, PartialEq)]
pub struct Dev {
    pub kind: DevKind,
    /// The max of the networks on it (and over it), VDSM's rule; bond
    /// slaves take their bond's.
    pub mtu: u32,
    /// The bridge or bond it is enslaved to.
    pub master: Option<String>,
}

/// Where a network sits lives in the model (the DHCP client needs it too).
pub use netswitch_model::routing::{place, vlan_name, NetPlace};

/// An OVS network: an internal port named after it, on the bridge of its
/// base device (DESIGN §5.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OvsNet {
    /// The nic or bond attached to its bridge; `None` for a nicless network,
    /// which gets a bridge of its own.
    pub base: Option<String>,
    /// Access VLAN tag of its internal port.
    pub tag: Option<u16>,
    pub mtu: u32,
}

/// The devices of a config, by name: the kernel devices netswitch creates
/// or uses (both switches' nics and bonds, the legacy VLANs and bridges),
/// and the OVS networks' internal ports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Topology {
    pub devices: BTreeMap<String, Dev>,
    pub places: BTreeMap<String, NetPlace>,
    /// OVS networks by name.
    pub ovs: BTreeMap<String, OvsNet>,
}

fn bridge_options(a: &NetAttrs) -> BTreeMap<String, String> {
    a.custom
        .as_ref()
        .and_then(|c| c.bridge_opts.as_deref())
        .map(|s| {
            s.split_whitespace()
                .filter_map(|t| t.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

impl Topology {
    /// The devices the legacy networks and bonds of `config` need.
    pub fn of(config: &Config) -> Topology {
        let mut t = Topology::default();
        let raise = |devices: &mut BTreeMap<String, Dev>, name: &str, kind: DevKind, mtu: u32| {
            let dev = devices.entry(name.to_string()).or_insert(Dev {
                kind,
                mtu: 0,
                master: None,
            });
            dev.mtu = dev.mtu.max(mtu);
        };
        // Bonds are Linux bonds under both switches.
        for (name, b) in &config.bonds {
            let kind = DevKind::Bond {
                options: b.options.clone(),
                hwaddr: b.hwaddr.clone(),
            };
            // Sized by its networks below; a bond without any keeps the default.
            raise(&mut t.devices, name, kind, 0);
        }
        for (name, a) in config
            .networks
            .iter()
            .filter(|(_, a)| a.switch == SwitchType::Ovs)
        {
            let base = a.base().map(str::to_string);
            if let Some(b) = &base {
                if a.nic.is_some() {
                    raise(&mut t.devices, b, DevKind::Nic, a.mtu);
                } else if let Some(dev) = t.devices.get_mut(b) {
                    dev.mtu = dev.mtu.max(a.mtu);
                }
            }
            let southbound = match (&base, a.vlan) {
                (Some(b), Some(v)) => Some(vlan_name(b, v)),
                (b, _) => b.clone(),
            };
            t.places.insert(
                name.clone(),
                NetPlace {
                    base: base.clone(),
                    southbound,
                    northbound: Some(name.clone()),
                },
            );
            t.ovs.insert(
                name.clone(),
                OvsNet {
                    base,
                    tag: a.vlan,
                    mtu: a.mtu,
                },
            );
        }
        for (name, a) in config
            .networks
            .iter()
            .filter(|(_, a)| a.switch == SwitchType::Legacy)
        {
            let p = place(name, a);
            if let Some(base) = &p.base {
                if a.nic.is_some() {
                    raise(&mut t.devices, base, DevKind::Nic, a.mtu);
                } else if let Some(dev) = t.devices.get_mut(base) {
                    dev.mtu = dev.mtu.max(a.mtu);
                }
            }
            if let (Some(base), Some(id), Some(sb)) = (&p.base, a.vlan, &p.southbound) {
                raise(
                    &mut t.devices,
                    sb,
                    DevKind::Vlan {
                        parent: base.clone(),
                        id,
                    },
                    a.mtu,
                );
            }
            if a.bridged {
                let kind = DevKind::Bridge {
                    stp: a.stp,
                    options: bridge_options(a),
                };
                raise(&mut t.devices, name, kind, a.mtu);
                if let Some(sb) = &p.southbound {
                    if let Some(dev) = t.devices.get_mut(sb) {
                        dev.master = Some(name.clone());
                    }
                }
            }
            t.places.insert(name.clone(), p);
        }
        for d in t.devices.values_mut() {
            if d.mtu == 0 {
                d.mtu = DEFAULT_MTU;
            }
        }
        // A bond's MTU is only known once its networks are counted.
        let bonds: Vec<(String, Vec<String>, u32)> = config
            .bonds
            .iter()
            .map(|(n, b)| {
                (
                    n.clone(),
                    b.nics.clone(),
                    t.devices.get(n).map_or(DEFAULT_MTU, |d| d.mtu),
                )
            })
            .collect();
        for (bond, slaves, mtu) in bonds {
            for nic in slaves {
                let dev = t.devices.entry(nic).or_insert(Dev {
                    kind: DevKind::Nic,
                    mtu,
                    master: None,
                });
                dev.mtu = mtu;
                dev.master = Some(bond.clone());
            }
        }
        t
    }

    /// Devices carrying some network's IP config.
    pub fn northbounds(&self) -> impl Iterator<Item = (&String, &String)> {
        self.places
            .iter()
            .filter_map(|(net, p)| Some((net, p.northbound.as_ref()?)))
    }

    /// Devices in stacking order, bottom first (ties by name).
    pub fn bottom_up(&self) -> Vec<(&String, &Dev)> {
        let mut v: Vec<_> = self.devices.iter().collect();
        v.sort_by_key(|(n, d)| (d.kind.rank(), n.as_str()));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netswitch_model::config::BondAttrs;

    #[test]
    fn mtu_is_the_max_of_the_networks_and_slaves_follow_their_bond() {
        let mut c = Config::default();
        c.bonds.insert(
            "bond0".into(),
            BondAttrs {
                nics: vec!["eth1".into(), "eth2".into()],
                options: BondOptions::parse("mode=1").unwrap(),
                hwaddr: None,
                switch: SwitchType::Legacy,
            },
        );
        c.networks.insert(
            "a".into(),
            NetAttrs {
                bonding: Some("bond0".into()),
                vlan: Some(10),
                mtu: 9000,
                ..Default::default()
            },
        );
        c.networks.insert(
            "b".into(),
            NetAttrs {
                bonding: Some("bond0".into()),
                ..Default::default()
            },
        );
        let t = Topology::of(&c);
        assert_eq!(t.devices["bond0"].mtu, 9000);
        assert_eq!(t.devices["eth1"].mtu, 9000);
        assert_eq!(t.devices["eth1"].master.as_deref(), Some("bond0"));
        assert_eq!(t.devices["bond0.10"].master.as_deref(), Some("a"));
        assert_eq!(t.devices["bond0"].master.as_deref(), Some("b"));
        assert_eq!(t.devices["b"].mtu, 1500);
        assert_eq!(t.places["a"].northbound.as_deref(), Some("a"));
        assert_eq!(t.places["a"].southbound.as_deref(), Some("bond0.10"));
    }
}
