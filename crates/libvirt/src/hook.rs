//! The qemu hook's rewrite: a domain XML arriving on this host (an
//! incoming migration, a restore) with each vNIC of a netswitch network
//! re-pointed at this host's switch for that network.
//!
//! A vNIC's network is found, in this order, from netswitch's own
//! `<metadata>` element (by MAC), from VDSM's `<ovirt-vm:device
//! mac_address=...><ovirt-vm:network>` metadata, from a Linux bridge named
//! after a network (no `<virtualport>`), or from this host's OVS bridge and
//! VLAN tag of a network. What is not found is not netswitch's and passes
//! through; an OVN port (`br-int` with an `interfaceid`) is the same on
//! both switch types and passes through too.
//!
//! The output is the input with a few byte ranges replaced: an
//! interface's `<source>`, and its `<virtualport>` and `<vlan>` added or
//! removed. Comments, whitespace, quoting, namespaces and attribute order
//! everywhere else are the input's own bytes.

use std::collections::BTreeMap;

use crate::build::{vlan_element, Target, INTEGRATION_BRIDGE, NS};
use crate::xml::{self, Element};
use crate::LibvirtError;

/// VDSM's namespace of its per-VM metadata (`ovirt-vm:vm`).
pub const VDSM_NS: &str = "http://ovirt.org/vm/1.0";

/// Largest domain XML read (a real one is tens of KiB).
pub const MAX_DOMAIN_BYTES: usize = 16 << 20;

/// What this host carries: each netswitch network that a vNIC can join,
/// by name ([`Target::Legacy`] or [`Target::Ovs`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    pub networks: BTreeMap<String, Target>,
}

/// One replaced byte range of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

/// A vNIC the rewrite re-pointed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    pub mac: String,
    pub network: String,
    /// The `<interface>` element's range in the input: every edit lies
    /// inside one of these.
    pub start: usize,
    pub end: usize,
}

/// The rewritten document and what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    pub xml: String,
    pub moved: Vec<Moved>,
    pub edits: Vec<Edit>,
}

/// What the hook does for libvirt's `OPERATION SUB-OPERATION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read the domain XML on stdin, write it back rewritten on stdout:
    /// `migrate begin` (incoming migration, on the destination) and
    /// `restore begin` (a saved image restored). libvirt uses the output
    /// as the domain's XML, an empty one meaning "unchanged".
    Rewrite,
    /// Nothing to do: exit 0 with no output. This includes `prepare`,
    /// whose output libvirt ignores: a domain started here was defined
    /// for this host already.
    Ignore,
}

/// The action for libvirt's arguments.
pub fn action(operation: &str, sub_operation: &str) -> Action {
    match (operation, sub_operation) {
        ("migrate" | "restore", "begin") => Action::Rewrite,
        _ => Action::Ignore,
    }
}

/// Rewrites `doc` for this host (see the module doc).
pub fn rewrite(doc: &str, view: &View) -> Result<Rewritten, LibvirtError> {
    let root = xml::parse(doc)?;
    if root.name != "domain" {
        return Err(LibvirtError::bad(
            "domain",
            format!("the root element is <{}>, not <domain>", clip(&root.name)),
        ));
    }
    let named = metadata_networks(&root);
    let mut edits = Vec::new();
    let mut moved = Vec::new();
    let ifaces = root
        .children_named("devices")
        .flat_map(|d| d.children_named("interface"));
    for iface in ifaces {
        let Some((mac, network, target)) = identify(iface, &named, view)? else {
            continue;
        };
        let mine = interface_edits(doc, iface, target);
        if !mine.is_empty() {
            edits.extend(mine);
            moved.push(Moved {
                mac,
                network,
                start: iface.start,
                end: iface.end,
            });
        }
    }
    edits.sort_by_key(|e| (e.start, e.end));
    Ok(Rewritten {
        xml: splice(doc, &edits),
        moved,
        edits,
    })
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

/// `doc` with the (sorted, disjoint) edits applied.
pub fn splice(doc: &str, edits: &[Edit]) -> String {
    let mut out = String::with_capacity(doc.len() + 256);
    let mut at = 0;
    for e in edits {
        out.push_str(doc.get(at..e.start).unwrap_or(""));
        out.push_str(&e.text);
        at = at.max(e.end);
    }
    out.push_str(doc.get(at..).unwrap_or(""));
    out
}

/// Where metadata names a vNIC's network: netswitch's own element, or
/// VDSM's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Named {
    Netswitch,
    Vdsm,
}

/// The namespace URI bound to `el`'s prefix (or the default namespace),
/// declared on `el` itself or on the root.
fn namespace<'a>(el: &'a Element, root: &'a Element) -> Option<&'a str> {
    let key = match el.prefix() {
        Some(p) => format!("xmlns:{p}"),
        None => "xmlns".to_string(),
    };
    el.attr(&key).or_else(|| root.attr(&key))
}

/// The networks `<metadata>` names, by lower-case MAC; netswitch's own
/// element wins over VDSM's.
fn metadata_networks(root: &Element) -> BTreeMap<String, (String, Named)> {
    let mut out = BTreeMap::new();
    let blocks: Vec<&Element> = root
        .children_named("metadata")
        .flat_map(|m| m.children.iter())
        .collect();
    for block in blocks
        .iter()
        .filter(|b| namespace(b, root) == Some(VDSM_NS))
    {
        for dev in block.children.iter().filter(|d| d.local() == "device") {
            let net = dev.children.iter().find(|c| c.local() == "network");
            if let (Some(mac), Some(net)) = (dev.attr("mac_address"), net) {
                let name = net.text.trim().to_string();
                if !name.is_empty() {
                    out.insert(mac.to_ascii_lowercase(), (name, Named::Vdsm));
                }
            }
        }
    }
    for block in blocks.iter().filter(|b| namespace(b, root) == Some(NS)) {
        for v in block.children.iter().filter(|v| v.local() == "vnic") {
            if let (Some(mac), Some(net)) = (v.attr("mac"), v.attr("network")) {
                out.insert(
                    mac.to_ascii_lowercase(),
                    (net.to_string(), Named::Netswitch),
                );
            }
        }
    }
    out
}

/// The VLAN an interface is tagged with: `None` for no `<vlan>`,
/// `Some(Some(id))` for a single access tag, `Some(None)` for anything
/// else (a trunk, a native mode, a bad id).
fn current_tag(iface: &Element) -> Option<Option<u16>> {
    let vlan = iface.child("vlan")?;
    let tags: Vec<&Element> = vlan.children_named("tag").collect();
    let single = match tags.as_slice() {
        [t] if vlan.attr("trunk").is_none() && t.attr("nativeMode").is_none() => {
            t.attr("id").and_then(|i| i.parse::<u16>().ok())
        }
        _ => None,
    };
    Some(single)
}

/// The interface's MAC, network and this host's target for it, when it is
/// a vNIC of a netswitch network; 27 when netswitch's own metadata names
/// a network this host lacks (it would land on nothing).
fn identify<'v>(
    iface: &Element,
    named: &BTreeMap<String, (String, Named)>,
    view: &'v View,
) -> Result<Option<(String, String, &'v Target)>, LibvirtError> {
    if iface.attr("type") != Some("bridge") || iface.close.is_none() {
        return Ok(None);
    }
    let mac = iface
        .child("mac")
        .and_then(|m| m.attr("address"))
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let bridge = iface.child("source").and_then(|s| s.attr("bridge"));
    let vport = iface.child("virtualport");
    if vport.is_some_and(|v| v.attr("type") != Some("openvswitch")) {
        return Ok(None);
    }
    let ovn = vport
        .and_then(|v| v.child("parameters"))
        .is_some_and(|p| p.attr("interfaceid").is_some());
    if ovn && bridge == Some(INTEGRATION_BRIDGE) {
        return Ok(None);
    }
    let network = match named.get(&mac) {
        Some((net, how)) => match (view.networks.get(net), how) {
            (Some(_), _) => Some(net.clone()),
            (None, Named::Netswitch) => {
                return Err(LibvirtError::MissingNetwork {
                    mac,
                    network: clip(net),
                })
            }
            (None, Named::Vdsm) => None,
        },
        None => by_wiring(bridge, vport.is_some(), current_tag(iface), view),
    };
    Ok(network.and_then(|n| {
        let t = view.networks.get(&n)?;
        Some((mac, n, t))
    }))
}

/// The network of an interface without metadata: a Linux bridge named
/// after one of this host's networks, or this host's OVS bridge and tag
/// of one.
fn by_wiring(
    bridge: Option<&str>,
    ovs: bool,
    tag: Option<Option<u16>>,
    view: &View,
) -> Option<String> {
    let bridge = bridge?;
    if !ovs {
        return view
            .networks
            .contains_key(bridge)
            .then(|| bridge.to_string());
    }
    let tag = match tag {
        None => None,
        Some(Some(t)) => Some(t),
        Some(None) => return None,
    };
    view.networks.iter().find_map(|(name, t)| match t {
        Target::Ovs { bridge: b, vlan } if b == bridge && *vlan == tag => Some(name.clone()),
        _ => None,
    })
}

/// The start of the whitespace run just before `at`.
fn ws_start(doc: &str, at: usize) -> usize {
    let before = doc.get(..at).unwrap_or("");
    before.trim_end_matches([' ', '\t', '\r', '\n']).len()
}

/// The indentation of the line `at` is on, if only whitespace precedes
/// it there.
fn indent_of(doc: &str, at: usize) -> Option<&str> {
    let before = doc.get(..at)?;
    let line = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
    line.chars().all(|c| c == ' ' || c == '\t').then_some(line)
}

/// The edits that point `iface` at `target`; none when it already is.
fn interface_edits(doc: &str, iface: &Element, target: &Target) -> Vec<Edit> {
    let (bridge, want_vport, want_tag) = match target {
        Target::Legacy { bridge } => (bridge.as_str(), false, None),
        Target::Ovs { bridge, vlan } => (bridge.as_str(), true, *vlan),
        Target::Ovn { .. } => return Vec::new(),
    };
    let source = iface.child("source");
    let vport = iface.child("virtualport");
    let vlan = iface.child("vlan");
    let source_ok = source.and_then(|s| s.attr("bridge")) == Some(bridge);
    let keep_vport = vport.is_some() == want_vport;
    let keep_vlan = match current_tag(iface) {
        None => want_tag.is_none(),
        Some(t) => t.is_some() && t == want_tag,
    };
    if source_ok && keep_vport && keep_vlan {
        return Vec::new();
    }
    let anchor = source.or_else(|| iface.child("mac"));
    let indent = anchor.and_then(|a| indent_of(doc, a.start)).unwrap_or("  ");
    let mut added = String::new();
    if want_vport && !keep_vport {
        added.push_str(&format!("\n{indent}<virtualport type='openvswitch'/>"));
    }
    if let (Some(t), false) = (want_tag, keep_vlan) {
        added.push_str(&format!("\n{indent}{}", vlan_element(t)));
    }
    let new_source = format!("<source bridge='{}'/>", xml::escape(bridge));
    let mut edits = vec![match (source, source_ok) {
        (Some(s), true) => Edit {
            start: s.end,
            end: s.end,
            text: added,
        },
        (Some(s), false) => Edit {
            start: s.start,
            end: s.end,
            text: new_source + &added,
        },
        (None, _) => {
            let at = ws_start(doc, iface.close.unwrap_or(iface.end));
            Edit {
                start: at,
                end: at,
                text: format!("\n{indent}{new_source}{added}"),
            }
        }
    }];
    for (el, keep) in [(vport, keep_vport), (vlan, keep_vlan)] {
        if let (Some(el), false) = (el, keep) {
            edits.push(Edit {
                start: ws_start(doc, el.start),
                end: el.end,
                text: String::new(),
            });
        }
    }
    edits.retain(|e| !(e.text.is_empty() && e.start == e.end));
    edits
}

#[cfg(test)]
mod tests;
