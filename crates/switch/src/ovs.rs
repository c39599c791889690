//! The OVS switch's part of a plan: bridges, ports and the OVN bridge
//! mappings, as OVSDB ops (docs/api.md §7).
//!
//! One bridge per southbound device, so two untagged networks on two nics,
//! or the same tag on two nics, land on separate bridges; a nicless network
//! gets a bridge of its own. Netswitch finds its bridges again by the mark
//! in `Bridge.external_ids` (their names are made up), never by name. Each
//! network is an internal port named after it, access-tagged with its VLAN
//! and sized with `mtu_request`; the kernel side (addresses, routes, links
//! up, the southbound's MTU and bonds) is planned with the legacy switch's
//! code, so IP on OVS works exactly as on legacy.

use std::collections::{BTreeMap, BTreeSet};

use netswitch_model::host::{HostState, OvsBridge, OvsState};
use netswitch_model::plan::OvsOp;

use crate::topology::{OvsNet, Topology};

/// The `Bridge.external_ids` key marking a bridge as netswitch's; its value
/// says what the bridge is for (`dev:<southbound>` or `net:<network>`).
pub const MARK_KEY: &str = "netswitch-southbound";

/// The `external_ids` key of a VM's port (a plugged vNIC): such ports
/// belong to the VM, and a setup leaves them on the bridge.
pub const VM_PORT_KEY: &str = "vm-id";

/// Prefix of the bridges netswitch creates, as VDSM names them.
pub const BRIDGE_PREFIX: &str = "vdsmbr_";

/// The mark of the bridge a network belongs on.
pub fn mark_of(net: &str, on: &OvsNet) -> String {
    match &on.base {
        Some(b) => format!("dev:{b}"),
        None => format!("net:{net}"),
    }
}

/// Netswitch's bridges on the host, by mark.
pub fn owned_bridges(ovs: &OvsState) -> BTreeMap<String, String> {
    ovs.bridges
        .values()
        .filter_map(|b| Some((b.external_ids.get(MARK_KEY)?.clone(), b.name.clone())))
        .collect()
}

/// A bridge name for `mark`: `vdsmbr_` and 8 characters derived from the
/// mark (so a plan is reproducible), stepping on to the next candidate
/// while the name is taken.
fn new_bridge_name(mark: &str, taken: &BTreeSet<String>) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    // FNV-1a, then base-36 digits.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in mark.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    loop {
        let mut x = h;
        let mut name = String::from(BRIDGE_PREFIX);
        for _ in 0..8 {
            name.push(char::from(ALPHABET[(x % 36) as usize]));
            x /= 36;
        }
        if !taken.contains(&name) {
            return name;
        }
        h = h.wrapping_mul(0x0100_0000_01b3) ^ 0x9e37_79b9;
    }
}

/// The `ovn-bridge-mappings` value: the host's entries for networks that are
/// not netswitch's, then `net:bridge` for each desired OVS network.
fn mappings(
    host: Option<&str>,
    cur: &Topology,
    des: &Topology,
    bridge_of: &BTreeMap<String, String>,
) -> Option<String> {
    let mut entries: Vec<String> = host
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .filter(|e| {
            let net = e.split_once(':').map_or(*e, |(n, _)| n);
            !cur.ovs.contains_key(net) && !des.ovs.contains_key(net)
        })
        .map(str::to_string)
        .collect();
    for net in des.ovs.keys() {
        if let Some(br) = bridge_of.get(net) {
            entries.push(format!("{net}:{br}"));
        }
    }
    (!entries.is_empty()).then(|| entries.join(","))
}

/// Where the desired OVS networks go: their bridges by mark (an owned
/// bridge keeps its name, a new one gets a fresh one), and each network's
/// bridge.
struct Layout<'a> {
    /// Desired bridges by mark, with their networks.
    groups: BTreeMap<String, Vec<(&'a String, &'a OvsNet)>>,
    bridge_of_mark: BTreeMap<String, String>,
    bridge_of_net: BTreeMap<String, String>,
}

impl<'a> Layout<'a> {
    fn of(
        host: &HostState,
        ovs: &OvsState,
        owned: &BTreeMap<String, String>,
        des: &'a Topology,
    ) -> Self {
        let mut taken: BTreeSet<String> = host.links.keys().cloned().collect();
        taken.extend(ovs.bridges.keys().cloned());
        let mut groups: BTreeMap<String, Vec<(&String, &OvsNet)>> = BTreeMap::new();
        for (net, on) in &des.ovs {
            groups.entry(mark_of(net, on)).or_default().push((net, on));
        }
        let mut bridge_of_mark: BTreeMap<String, String> = BTreeMap::new();
        for mark in groups.keys() {
            let name = match owned.get(mark) {
                Some(n) => n.clone(),
                None => {
                    let n = new_bridge_name(mark, &taken);
                    taken.insert(n.clone());
                    n
                }
            };
            bridge_of_mark.insert(mark.clone(), name);
        }
        let mut bridge_of_net: BTreeMap<String, String> = BTreeMap::new();
        for (mark, nets) in &groups {
            for (net, _) in nets {
                bridge_of_net.insert((*net).clone(), bridge_of_mark[mark].clone());
            }
        }
        Layout {
            groups,
            bridge_of_mark,
            bridge_of_net,
        }
    }
}

/// The OVS ops being planned: deletions run before additions and changes.
#[derive(Default)]
struct OvsPlan {
    dels: Vec<OvsOp>,
    adds: Vec<OvsOp>,
}

/// The OVSDB ops that make OVS carry the desired OVS networks: deletes
/// first, then additions and changes, then the mappings.
pub fn ops(host: &HostState, cur: &Topology, des: &Topology) -> Vec<OvsOp> {
    let empty = OvsState::default();
    let ovs = host.ovs.as_ref().unwrap_or(&empty);
    let owned = owned_bridges(ovs);
    if cur.ovs.is_empty() && des.ovs.is_empty() && owned.is_empty() {
        return Vec::new();
    }
    let layout = Layout::of(host, ovs, &owned, des);
    let mut p = OvsPlan::default();
    // Bridges of ours no network wants any more go with all their ports.
    for (mark, name) in &owned {
        if !layout.groups.contains_key(mark) {
            p.dels.push(OvsOp::DelBridge { name: name.clone() });
        }
    }
    for (mark, nets) in &layout.groups {
        let br_name = &layout.bridge_of_mark[mark];
        let existing = ovs
            .bridges
            .get(br_name)
            .filter(|_| owned.contains_key(mark));
        bridge(&layout, mark, nets, existing, &mut p);
        for (net, on) in nets {
            port(ovs, &layout, br_name, net, on, existing, &mut p);
        }
    }
    let want_map = mappings(
        ovs.bridge_mappings.as_deref(),
        cur,
        des,
        &layout.bridge_of_net,
    );
    if want_map != ovs.bridge_mappings {
        p.adds.push(OvsOp::SetMappings { mappings: want_map });
    }
    p.dels.extend(p.adds);
    p.dels
}

/// One desired bridge: added, or its stray ports removed and its
/// southbound attached.
fn bridge(
    layout: &Layout,
    mark: &str,
    nets: &[(&String, &OvsNet)],
    existing: Option<&OvsBridge>,
    p: &mut OvsPlan,
) {
    let br_name = &layout.bridge_of_mark[mark];
    let base = nets.first().and_then(|(_, on)| on.base.clone());
    let Some(br) = existing else {
        p.adds.push(OvsOp::AddBridge {
            name: br_name.clone(),
            mark: mark.to_string(),
            southbound: base,
        });
        return;
    };
    // Ports that no longer belong: anything but the local port, the
    // southbound and this bridge's networks.
    for (port, row) in &br.ports {
        let wanted = port == br_name
            || base.as_ref() == Some(port)
            || layout.bridge_of_net.get(port) == Some(br_name)
            || row.external_ids.contains_key(VM_PORT_KEY);
        if !wanted {
            p.dels.push(OvsOp::DelPort {
                bridge: br_name.clone(),
                name: port.clone(),
            });
        }
    }
    if let Some(b) = base.filter(|b| !br.ports.contains_key(b)) {
        p.adds.push(OvsOp::AddPort {
            bridge: br_name.clone(),
            name: b,
            tag: None,
            internal: false,
            mtu: None,
        });
    }
}

/// One network's internal port: its tag and MTU set, or added (moved from
/// another of our bridges that stays).
fn port(
    ovs: &OvsState,
    layout: &Layout,
    br_name: &String,
    net: &String,
    on: &OvsNet,
    existing: Option<&OvsBridge>,
    p: &mut OvsPlan,
) {
    if let Some(here) = existing
        .and_then(|b| b.ports.get(net))
        .filter(|h| h.internal)
    {
        if here.tag != on.tag || here.mtu_request != Some(on.mtu) {
            p.adds.push(OvsOp::SetPort {
                name: net.clone(),
                tag: on.tag,
                mtu: Some(on.mtu),
            });
        }
        return;
    }
    // Elsewhere on one of our bridges that stays: move it (a port of a
    // deleted bridge goes with the bridge).
    if let Some(other) = ovs.bridge_of_port(net) {
        let other_stays = other
            .external_ids
            .get(MARK_KEY)
            .is_some_and(|m| layout.groups.contains_key(m));
        if other.name != *br_name && other_stays {
            let del = OvsOp::DelPort {
                bridge: other.name.clone(),
                name: net.clone(),
            };
            if !p.dels.contains(&del) {
                p.dels.push(del);
            }
        }
    }
    p.adds.push(OvsOp::AddPort {
        bridge: br_name.clone(),
        name: net.clone(),
        tag: on.tag,
        internal: true,
        mtu: Some(on.mtu),
    });
}

/// Whether `name` is an OVS internal port on the host now.
pub fn is_internal_port(host: &HostState, name: &str) -> bool {
    host.ovs
        .as_ref()
        .and_then(|o| o.bridge_of_port(name))
        .and_then(|b| b.ports.get(name))
        .is_some_and(|p| p.internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_names_are_stable_and_avoid_taken_ones() {
        let mut taken = BTreeSet::new();
        let a = new_bridge_name("dev:eth0", &taken);
        assert_eq!(a, new_bridge_name("dev:eth0", &taken));
        assert!(a.starts_with(BRIDGE_PREFIX) && a.len() == 15, "{a}");
        taken.insert(a.clone());
        let b = new_bridge_name("dev:eth0", &taken);
        assert_ne!(a, b);
        assert_eq!(b.len(), 15);
    }
}
