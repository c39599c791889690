//! A snapshot of the host's network state: what the kernel carries now.
//!
//! `netswitch-netinfo` fills it from netlink dumps; validation, planning and
//! the caps report read it. Keeping it here, free of I/O, lets every pure
//! crate be tested with hand-built hosts.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Everything netswitch needs to know about the host's networking, taken in
/// one pass (one dump per object kind).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostState {
    /// Links by name. Names are unique within a network namespace.
    pub links: BTreeMap<String, Link>,
    /// Every address of every family on every link.
    pub addrs: Vec<Addr>,
    /// Routes of all tables (main, local, and source-routing tables).
    pub routes: Vec<Route>,
    /// Policy routing rules of both families.
    pub rules: Vec<Rule>,
    /// What Open vSwitch carries, read from OVSDB; `None` when netswitch
    /// did not look (no OVS networks running or asked for), so a host
    /// without OVS never needs its database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ovs: Option<OvsState>,
    /// Traffic control (qdiscs, classes, filters) of the devices that
    /// carry host QoS, by device; read by the engine next to the links
    /// (`netswitch-tc`), empty when nobody looked.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tc: BTreeMap<String, crate::tc::TcTree>,
}

/// Open vSwitch's configuration as netswitch needs it: bridges with their
/// ports, and the OVN bridge mappings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OvsState {
    /// Bridges by name.
    pub bridges: BTreeMap<String, OvsBridge>,
    /// `Open_vSwitch.external_ids:ovn-bridge-mappings`, if set.
    pub bridge_mappings: Option<String>,
}

/// One OVS bridge.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OvsBridge {
    pub name: String,
    pub datapath_type: String,
    /// Where netswitch marks the bridges it owns (docs/api.md §7).
    pub external_ids: BTreeMap<String, String>,
    /// Ports by name (the bridge's own local port included).
    pub ports: BTreeMap<String, OvsPort>,
}

/// One OVS port with its (first) interface.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OvsPort {
    pub name: String,
    /// Access VLAN tag.
    pub tag: Option<u16>,
    /// Interface type `internal` (a network's port) rather than a system
    /// device attached to the bridge (the southbound).
    pub internal: bool,
    pub mtu_request: Option<u32>,
    pub external_ids: BTreeMap<String, String>,
    /// `Interface.error`, when OVS could not open the device.
    pub error: Option<String>,
}

impl OvsState {
    /// The bridge holding a port of this name.
    pub fn bridge_of_port(&self, port: &str) -> Option<&OvsBridge> {
        self.bridges.values().find(|b| b.ports.contains_key(port))
    }
}

/// What kind of device a link is, as the kernel's `IFLA_INFO_KIND` says.
/// Physical nics have no kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkKind {
    /// No `IFLA_INFO_KIND`: a physical nic (or loopback).
    Device,
    Bridge,
    Bond,
    Vlan,
    Veth,
    Dummy,
    Tun,
    /// An OVS internal port or datapath device (`openvswitch` kind).
    Openvswitch,
    /// Any other kind, named as the kernel names it.
    Other(String),
}

impl LinkKind {
    /// Maps the kernel's kind string; `None` means a physical device.
    pub fn from_kernel(kind: Option<&str>) -> Self {
        match kind {
            None => Self::Device,
            Some("bridge") => Self::Bridge,
            Some("bond") => Self::Bond,
            Some("vlan") => Self::Vlan,
            Some("veth") => Self::Veth,
            Some("dummy") => Self::Dummy,
            Some("tun") => Self::Tun,
            Some("openvswitch") => Self::Openvswitch,
            Some(other) => Self::Other(other.to_string()),
        }
    }
}

/// One network device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub kind: LinkKind,
    /// Name of the bridge or bond this link is enslaved to.
    pub master: Option<String>,
    pub mtu: u32,
    /// Current MAC address, lower-case colon form; `None` for devices
    /// without one (tun in L3 mode, some tunnels).
    pub mac: Option<String>,
    /// Permanent MAC (`IFLA_PERM_ADDRESS`), which differs from `mac` on
    /// bond slaves; VDSM reports it as `permhwaddr`.
    pub perm_mac: Option<String>,
    /// Administratively up (`IFF_UP`).
    pub admin_up: bool,
    /// Operational state as the kernel names it (`up`, `down`, `unknown`,
    /// `lowerlayerdown`, ...).
    pub oper_state: String,
    /// Link speed in Mbit/s when the driver reports one.
    pub speed: Option<u32>,
    pub vlan: Option<VlanInfo>,
    pub bond: Option<BondInfo>,
    pub bridge: Option<BridgeInfo>,
    /// Bond slave details when this link is enslaved to a bond.
    pub bond_slave: Option<BondSlaveInfo>,
    /// The device behind the link (`IFLA_PARENT_DEV_BUS_NAME`,
    /// `IFLA_PARENT_DEV_NAME`): `pci`/`0000:03:00.0` for a PCI nic, none
    /// for virtual links. SR-IOV finds a nic's device by it, since
    /// `bus/<bus>/devices/` in sysfs is the same in every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_device: Option<ParentDevice>,
}

/// A link's parent device: its bus and its name on that bus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentDevice {
    pub bus: String,
    pub name: String,
}

impl Link {
    /// A bare link of a kind, for building hosts in tests.
    pub fn new(index: u32, name: &str, kind: LinkKind) -> Self {
        Self {
            index,
            name: name.to_string(),
            kind,
            master: None,
            mtu: 1500,
            mac: None,
            perm_mac: None,
            admin_up: false,
            oper_state: "down".into(),
            speed: None,
            vlan: None,
            bond: None,
            bridge: None,
            bond_slave: None,
            parent_device: None,
        }
    }
}

/// 802.1Q device details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VlanInfo {
    pub id: u16,
    /// Name of the underlying device.
    pub parent: String,
}

/// Bond master details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BondInfo {
    /// Options as the kernel reports them, keyed by sysfs name, including
    /// `mode` and the defaults (the report drops defaults). Values are
    /// strings in one canonical form: enum-valued options (`mode`,
    /// `xmit_hash_policy`, `lacp_rate`, `arp_validate`, `fail_over_mac`,
    /// `primary_reselect`, `ad_select`, `arp_all_targets`) by their number,
    /// booleans as `0`/`1`, address lists comma-separated, MACs lower-case.
    pub options: BTreeMap<String, String>,
    /// Names of the enslaved links, in kernel order.
    pub slaves: Vec<String>,
    /// The current active slave (active-backup, tlb, alb).
    pub active_slave: Option<String>,
}

/// Details of a link enslaved to a bond.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BondSlaveInfo {
    /// The slave's permanent MAC as the bond saw it on enslaving.
    pub perm_mac: Option<String>,
}

/// Bridge master details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeInfo {
    pub stp: bool,
    /// Options by sysfs name (`forward_delay`, `hello_time`, ...), values as
    /// sysfs prints them. Shared: live netinfo hands out a new host state
    /// after every change, and copying 40 options of each of 1000 bridges
    /// for that would cost more than the rest of the state.
    pub options: std::sync::Arc<BTreeMap<String, String>>,
    /// Names of the enslaved ports.
    pub ports: Vec<String>,
}

/// One address on a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Addr {
    /// Name of the link carrying it.
    pub link: String,
    pub address: IpAddr,
    pub prefix_len: u8,
    /// `host`, `link`, `global`...
    pub scope: String,
    /// Assigned by DHCP or autoconf (not `IFA_F_PERMANENT`).
    pub dynamic: bool,
    /// Seconds; `None` means forever.
    pub valid_lft: Option<u32>,
    pub preferred_lft: Option<u32>,
    /// `IFA_F_SECONDARY`: not the primary address of its subnet.
    pub secondary: bool,
}

impl Addr {
    /// The address with its prefix as a network value.
    pub fn net(&self) -> Option<IpNet> {
        IpNet::new(self.address, self.prefix_len).ok()
    }
}

/// One route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Routing table id (254 main, 255 local, 253 default).
    pub table: u32,
    /// Destination; `0.0.0.0/0` or `::/0` for a default route.
    pub dst: IpNet,
    pub gateway: Option<IpAddr>,
    /// Output link name.
    pub oif: Option<String>,
    pub prefsrc: Option<IpAddr>,
    pub metric: Option<u32>,
    /// `kernel`, `boot`, `static`, `dhcp`, `ra`, or the number.
    pub protocol: String,
    /// `universe`, `link`, `host`...
    pub scope: String,
    /// `unicast`, `local`, `broadcast`, `multicast`, `unreachable`...
    pub kind: String,
}

impl Route {
    /// A default route of either family (`/0`).
    pub fn is_default(&self) -> bool {
        self.dst.prefix_len() == 0
    }
}

/// One policy routing rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// `4` or `6`.
    pub family: u8,
    pub priority: Option<u32>,
    pub table: u32,
    pub src: Option<IpNet>,
    pub dst: Option<IpNet>,
    pub iif: Option<String>,
    pub oif: Option<String>,
}

impl HostState {
    /// The link of that name, if the host has it.
    pub fn link(&self, name: &str) -> Option<&Link> {
        self.links.get(name)
    }

    /// Addresses on the named link, in dump order.
    pub fn addrs_of<'a>(&'a self, link: &'a str) -> impl Iterator<Item = &'a Addr> + 'a {
        self.addrs.iter().filter(move |a| a.link == link)
    }

    /// Routes leaving through the named link in one table.
    pub fn routes_of<'a>(
        &'a self,
        link: &'a str,
        table: u32,
    ) -> impl Iterator<Item = &'a Route> + 'a {
        self.routes
            .iter()
            .filter(move |r| r.table == table && r.oif.as_deref() == Some(link))
    }
}

/// The main routing table's id.
pub const MAIN_TABLE: u32 = 254;
