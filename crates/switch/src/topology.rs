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
/// base device (docs/api.md §7).
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

/// Adds a device of `kind` (first one wins) or raises its MTU to `mtu`.
fn raise(devices: &mut BTreeMap<String, Dev>, name: &str, kind: DevKind, mtu: u32) {
    let dev = devices.entry(name.to_string()).or_insert(Dev {
        kind,
        mtu: 0,
        master: None,
    });
    dev.mtu = dev.mtu.max(mtu);
}

impl Topology {
    /// The devices the legacy networks and bonds of `config` need.
    pub fn of(config: &Config) -> Topology {
        let mut t = Topology::default();
        // Bonds are Linux bonds under both switches.
        for (name, b) in &config.bonds {
            let kind = DevKind::Bond {
                options: b.options.clone(),
                hwaddr: b.hwaddr.clone(),
            };
            // Sized by its networks below; a bond without any keeps the default.
            raise(&mut t.devices, name, kind, 0);
        }
        let on = |sw: SwitchType| config.networks.iter().filter(move |(_, a)| a.switch == sw);
        for (name, a) in on(SwitchType::Ovs) {
            t.add_ovs(name, a);
        }
        for (name, a) in on(SwitchType::Legacy) {
            t.add_legacy(name, a);
        }
        for d in t.devices.values_mut() {
            if d.mtu == 0 {
                d.mtu = DEFAULT_MTU;
            }
        }
        t.add_slaves(config);
        t
    }

    /// A network's base: a nic it names is used (and sized); a bond is
    /// sized.
    fn size_base(&mut self, base: &str, a: &NetAttrs) {
        if a.nic.is_some() {
            raise(&mut self.devices, base, DevKind::Nic, a.mtu);
        } else if let Some(dev) = self.devices.get_mut(base) {
            dev.mtu = dev.mtu.max(a.mtu);
        }
    }

    /// An OVS network: its base sized, its internal port.
    fn add_ovs(&mut self, name: &str, a: &NetAttrs) {
        let base = a.base().map(str::to_string);
        if let Some(b) = &base {
            self.size_base(b, a);
        }
        let southbound = match (&base, a.vlan) {
            (Some(b), Some(v)) => Some(vlan_name(b, v)),
            (b, _) => b.clone(),
        };
        self.places.insert(
            name.to_string(),
            NetPlace {
                base: base.clone(),
                southbound,
                northbound: Some(name.to_string()),
            },
        );
        self.ovs.insert(
            name.to_string(),
            OvsNet {
                base,
                tag: a.vlan,
                mtu: a.mtu,
            },
        );
    }

    /// A legacy network: its base sized, its VLAN device, its bridge with
    /// the southbound as port.
    fn add_legacy(&mut self, name: &str, a: &NetAttrs) {
        let p = place(name, a);
        if let Some(base) = &p.base {
            self.size_base(base, a);
        }
        if let (Some(base), Some(id), Some(sb)) = (&p.base, a.vlan, &p.southbound) {
            let parent = base.clone();
            raise(&mut self.devices, sb, DevKind::Vlan { parent, id }, a.mtu);
        }
        if a.bridged {
            let kind = DevKind::Bridge {
                stp: a.stp,
                options: bridge_options(a),
            };
            raise(&mut self.devices, name, kind, a.mtu);
            if let Some(dev) = p
                .southbound
                .as_ref()
                .and_then(|sb| self.devices.get_mut(sb))
            {
                dev.master = Some(name.to_string());
            }
        }
        self.places.insert(name.to_string(), p);
    }

    /// Bond slaves, once each bond's MTU is known from its networks: they
    /// take their bond's.
    fn add_slaves(&mut self, config: &Config) {
        for (bond, b) in &config.bonds {
            let mtu = self.devices.get(bond).map_or(DEFAULT_MTU, |d| d.mtu);
            for nic in &b.nics {
                let dev = self.devices.entry(nic.clone()).or_insert(Dev {
                    kind: DevKind::Nic,
                    mtu,
                    master: None,
                });
                dev.mtu = mtu;
                dev.master = Some(bond.clone());
            }
        }
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
