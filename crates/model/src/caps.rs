//! The getNetworkCapabilities report in VDSM's exact shape (docs/api.md §5).
//!
//! Field names and value forms are the wire contract an engine parses:
//! `mtu` is a string, `gateway` is `""` and `ipv6gateway` is `"::"` when
//! there is none, `stp` is `"on"`/`"off"`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::HostQos;

/// The IP block every device entry carries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpBlock {
    /// The primary IPv4 address, `""` when none.
    pub addr: String,
    /// Its netmask, dotted; `""` when none.
    pub netmask: String,
    /// Every IPv4 address as `addr/prefix`, primary first.
    pub ipv4addrs: Vec<String>,
    /// The IPv4 default gateway through this device (any table), `""` when none.
    pub gateway: String,
    /// Whether the main table's default route leaves through this device.
    pub ipv4defaultroute: bool,
    /// Global and site IPv6 addresses as `addr/prefix` (no link-local).
    pub ipv6addrs: Vec<String>,
    /// The IPv6 default gateway through this device, `"::"` when none.
    pub ipv6gateway: String,
    pub ipv6autoconf: bool,
    pub dhcpv4: bool,
    pub dhcpv6: bool,
    /// MTU as a decimal string, as VDSM sends it.
    pub mtu: String,
}

/// A nic: a physical device or a fake nic (`dummy_*`, `veth_*`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicReport {
    #[serde(flatten)]
    pub ip: IpBlock,
    pub hwaddr: String,
    /// Mbit/s; 0 when unknown or down.
    pub speed: u32,
    /// The nic's own MAC, present on bond slaves (whose `hwaddr` is the bond's).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub permhwaddr: Option<String>,
    /// A PF's VF counts (docs/api.md §5); absent on nics without SR-IOV.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sriov: Option<SriovReport>,
    /// Host QoS of the networks on it, as VDSM reports it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub qos: Option<Vec<QosReport>>,
}

/// `nics[x].sriov`: how many VFs a PF has and can have.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SriovReport {
    /// The most it can have, when the device says.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub totalvfs: Option<u32>,
    pub numvfs: u32,
}

/// One network's host QoS on its nic or bond: `vlan` -1 when untagged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QosReport {
    #[serde(rename = "hostQos")]
    pub host_qos: HostQos,
    pub vlan: i32,
}

/// A bond.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BondReport {
    #[serde(flatten)]
    pub ip: IpBlock,
    pub hwaddr: String,
    pub slaves: Vec<String>,
    /// `""` when none.
    pub active_slave: String,
    /// `mode` and every non-default option.
    pub opts: BTreeMap<String, String>,
    pub switch: String,
    /// Host QoS of the networks on it, as VDSM reports it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub qos: Option<Vec<QosReport>>,
}

/// A VLAN device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VlanReport {
    #[serde(flatten)]
    pub ip: IpBlock,
    /// The device under the VLAN.
    pub iface: String,
    pub vlanid: u16,
}

/// A Linux bridge.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeReport {
    #[serde(flatten)]
    pub ip: IpBlock,
    pub ports: Vec<String>,
    pub stp: String,
    pub opts: BTreeMap<String, String>,
}

/// A network: the running config joined with live state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetReport {
    #[serde(flatten)]
    pub ip: IpBlock,
    /// The northbound device carrying the IP config.
    pub iface: String,
    pub bridged: bool,
    /// Bridge ports (bridged networks).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ports: Option<Vec<String>>,
    /// The device itself (bridgeless networks).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub interface: Option<String>,
    /// `on`/`off` (bridged networks).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stp: Option<String>,
    /// The device under the network (the VLAN device when tagged), `""` for
    /// a nicless network.
    pub southbound: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub vlanid: Option<u16>,
    pub switch: String,
    #[serde(rename = "hostQos", skip_serializing_if = "Option::is_none", default)]
    pub host_qos: Option<HostQos>,
    /// The devices the network's frames are mirrored to (filled by the
    /// engine from its state dir; absent when none).
    #[serde(
        rename = "portMirroring",
        skip_serializing_if = "Vec::is_empty",
        default
    )]
    pub port_mirroring: Vec<String>,
}

/// getNetworkCapabilities' networking part.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Caps {
    #[serde(rename = "networks")]
    pub networks: BTreeMap<String, NetReport>,
    pub bridges: BTreeMap<String, BridgeReport>,
    pub nics: BTreeMap<String, NicReport>,
    pub bondings: BTreeMap<String, BondReport>,
    pub vlans: BTreeMap<String, VlanReport>,
    pub nameservers: Vec<String>,
    #[serde(rename = "supportsIPv6")]
    pub supports_ipv6: bool,
    pub net_config_dirty: bool,
    /// The plugged vNICs by device (filled by the engine from its state
    /// dir, not from the host).
    #[serde(default)]
    pub vnics: BTreeMap<String, VnicReport>,
    /// The OVN chassis (filled by the engine from its state dir and OVS).
    #[serde(default)]
    pub ovn: OvnReport,
    /// VDSM's key: the chassis name oVirt's OVN provider binds ports to
    /// (`{"OVIRT_PROVIDER_OVN": systemId}`), when the chassis is configured.
    #[serde(
        rename = "openstack_binding_host_ids",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub openstack_binding_host_ids: Option<BTreeMap<String, String>>,
    /// Networks imported from external providers, by name (absent when
    /// none): read-only here, see [`ExternalNetwork`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub external_networks: BTreeMap<String, ExternalNetwork>,
}

/// A provider's network made a VM network of this host (`netswitch
/// provider import`): the provider's name here, the network's id and
/// name on it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalNetwork {
    pub provider: String,
    pub id: String,
    pub name: String,
}

/// The OVN chassis as `ovn show` and the caps report it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OvnReport {
    pub configured: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encap_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encap_ip: Option<String>,
    /// The network `encapIp` follows, when configured so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encap_network: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge_mappings: Option<String>,
}

impl OvnReport {
    /// VDSM's `openstack_binding_host_ids`: the chassis name under which
    /// oVirt's OVN provider binds ports to this host.
    pub fn binding_host_ids(&self) -> Option<BTreeMap<String, String>> {
        let id = self.system_id.clone().filter(|_| self.configured)?;
        Some(BTreeMap::from([("OVIRT_PROVIDER_OVN".to_string(), id)]))
    }
}

/// One plugged vNIC in the caps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VnicReport {
    pub vm_id: String,
    pub mac: String,
    pub network: String,
    /// `legacy`, `ovs`, `ovn`, or `sriov` for a vNIC on a VF.
    pub switch: String,
    /// OVN: the logical port (`iface-id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// SR-IOV: the VF that is the vNIC, `PF:N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vf: Option<String>,
}
