//! The VM side of the picture: OVN's integration bridge (`br-int`, the
//! chassis) and the plugged vNICs, from the report's `ovn` and `vnics`.
//!
//! - `br-int` is drawn when the chassis is configured or an OVN vNIC is
//!   plugged (drifted then: a port bound to a chassis that is not set up).
//!   Its lines are the chassis id, the encapsulation and its IP (and the
//!   network that IP follows), the southbound database.
//! - Each `ovn-bridge-mappings` entry `PHYSNET:BRIDGE` is an edge into
//!   `br-int`: from the OVS network's bridge when PHYSNET is an OVS network
//!   (netswitch writes `NETWORK:vdsmbr_…`, and the report shows that bridge
//!   named after the network), else from a plain placeholder for BRIDGE
//!   (an entry someone else wrote, which netswitch keeps).
//! - A vNIC is a leaf above its network, or above `br-int` for an OVN one;
//!   one whose network the report does not hold is drifted.

use std::collections::BTreeMap;

use netswitch_model::caps::{Caps, OvnReport, VnicReport};

use crate::graph::{Builder, NodeKind, State};

/// The name OVN's integration bridge has.
const BR_INT: &str = "br-int";

/// Adds `br-int`, its mappings and the vNICs. `nets` maps network names to
/// their nodes.
pub(crate) fn add(b: &mut Builder, caps: &Caps, nets: &BTreeMap<String, usize>) {
    let ovn_vnics = caps.vnics.values().any(|v| v.switch == "ovn");
    let br_int = (caps.ovn.configured || ovn_vnics).then(|| add_br_int(b, &caps.ovn));
    if let Some(br_int) = br_int {
        add_mappings(b, caps, br_int);
    }
    for (device, v) in &caps.vnics {
        add_vnic(b, device, v, nets, br_int);
    }
}

fn add_br_int(b: &mut Builder, ovn: &OvnReport) -> usize {
    let mut lines = Vec::new();
    if let Some(id) = &ovn.system_id {
        lines.push(format!("chassis {id}"));
    }
    if let Some(ip) = &ovn.encap_ip {
        let kind = ovn.encap_type.as_deref().unwrap_or("geneve");
        let follows = ovn
            .encap_network
            .as_ref()
            .map_or(String::new(), |n| format!(" ({n})"));
        lines.push(format!("{kind} {ip}{follows}"));
    }
    if let Some(remote) = &ovn.remote {
        lines.push(format!("sb {remote}"));
    }
    if !ovn.configured {
        lines.push("chassis not configured".to_string());
    }
    let i = b.add(NodeKind::OvnBridge, BR_INT, lines);
    if !ovn.configured {
        b.g.nodes[i].state = State::Drifted;
    }
    i
}

/// One edge per bridge mapping, each into `br-int`.
fn add_mappings(b: &mut Builder, caps: &Caps, br_int: usize) {
    let Some(mappings) = caps.ovn.bridge_mappings.as_deref() else {
        return;
    };
    for entry in mappings.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (physnet, bridge) = entry.split_once(':').unwrap_or((entry, ""));
        let ovs_net = caps
            .networks
            .get(physnet)
            .filter(|n| n.switch == "ovs" && n.bridged);
        let known = ovs_net.and_then(|n| b.known(&n.iface));
        let from = match known.or_else(|| b.known(bridge)) {
            Some(i) => i,
            None => b.add(
                NodeKind::Other,
                bridge,
                vec![format!("mapped as {physnet}")],
            ),
        };
        b.g.nodes[br_int].lines.push(format!("map {entry}"));
        b.edge(from, br_int, false);
    }
}

fn add_vnic(
    b: &mut Builder,
    device: &str,
    v: &VnicReport,
    nets: &BTreeMap<String, usize>,
    br_int: Option<usize>,
) {
    let mut lines = vec![format!("vm {}", v.vm_id), v.mac.clone()];
    let ovn = v.switch == "ovn";
    let under = if ovn {
        lines.push(format!("port {}", v.port.as_deref().unwrap_or("?")));
        br_int
    } else {
        lines.push(format!("{} · {}", v.switch, v.network));
        nets.get(&v.network).copied()
    };
    let i = b.add(NodeKind::Vnic, device, lines);
    match under {
        Some(from) => b.edge(from, i, false),
        None => {
            b.g.nodes[i].state = State::Drifted;
            let what = format!("network {} missing", v.network);
            b.g.nodes[i].lines.push(what);
        }
    }
}
