//! The caps report as a graph of devices: what the picture shows, before any
//! format or geometry.
//!
//! The report carries no operational state (no carrier, no admin up/down),
//! so the state drawn is derived from what it does carry:
//! - a nic with speed 0 is drawn *down* (the report gives 0 for a nic whose
//!   operstate is not up; it also gives 0 when the driver reports no speed,
//!   which is why the legend says "down / no speed");
//! - a bond, VLAN, bridge or network is *down* when everything under it is
//!   down (a bridge or network with nothing under it is not);
//! - a device a network, bond or VLAN names but the report does not hold is
//!   drawn as a *drifted* placeholder, and so is the network above it, as
//!   is a bridged network whose southbound is not a port of its bridge:
//!   the host no longer matches the running config there.

use std::collections::BTreeMap;

use netswitch_model::caps::{Caps, IpBlock, NetReport};

use crate::text::rate;

/// What a node is. The layer (column) of a node follows from its kind, so a
/// new kind (vNICs above bridges, OVN logical switches above OVS bridges)
/// is a new variant with its layer, and the renderers follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NodeKind {
    /// A nic.
    Nic,
    /// A device the report names (a bridge port, a bond slave) but does not
    /// describe.
    Other,
    Bond,
    Vlan,
    /// A Linux bridge.
    Bridge,
    /// The OVS bridge of an OVS network (the report shows it in the
    /// legacy shape, as a bridge named after the network).
    OvsBridge,
    Network,
    /// OVN's integration bridge (`br-int`): the chassis. It sits beside
    /// the networks, fed by the OVS networks' bridges its bridge mappings
    /// name.
    OvnBridge,
    /// A VM's vNIC, a leaf above its network (or above `br-int` for an
    /// OVN vNIC).
    Vnic,
}

impl NodeKind {
    /// The column, counted from the wire side.
    pub fn layer(self) -> usize {
        match self {
            NodeKind::Nic | NodeKind::Other => 0,
            NodeKind::Bond => 1,
            NodeKind::Vlan => 2,
            NodeKind::Bridge | NodeKind::OvsBridge => 3,
            NodeKind::Network | NodeKind::OvnBridge => 4,
            NodeKind::Vnic => 5,
        }
    }

    /// Every kind, in legend order.
    pub const ALL: [NodeKind; 9] = [
        NodeKind::Nic,
        NodeKind::Bond,
        NodeKind::Vlan,
        NodeKind::Bridge,
        NodeKind::OvsBridge,
        NodeKind::Network,
        NodeKind::OvnBridge,
        NodeKind::Vnic,
        NodeKind::Other,
    ];

    /// The word used in labels and the legend.
    pub fn title(self) -> &'static str {
        match self {
            NodeKind::Nic => "nic",
            NodeKind::Other => "other device",
            NodeKind::Bond => "bond",
            NodeKind::Vlan => "vlan",
            NodeKind::Bridge => "linux bridge",
            NodeKind::OvsBridge => "ovs bridge",
            NodeKind::Network => "network",
            NodeKind::OvnBridge => "ovn br-int",
            NodeKind::Vnic => "vnic",
        }
    }

    /// The word in the SVG's `class` attribute (no spaces).
    pub fn class(self) -> &'static str {
        match self {
            NodeKind::Nic => "nic",
            NodeKind::Other => "other",
            NodeKind::Bond => "bond",
            NodeKind::Vlan => "vlan",
            NodeKind::Bridge => "bridge",
            NodeKind::OvsBridge => "ovs-bridge",
            NodeKind::Network => "network",
            NodeKind::OvnBridge => "ovn",
            NodeKind::Vnic => "vnic",
        }
    }

    /// A prefix that keeps node ids unique where a network and its bridge
    /// share a name.
    fn prefix(self) -> &'static str {
        match self {
            NodeKind::Network => "net",
            NodeKind::Vnic => "vnic",
            NodeKind::OvnBridge => "ovn",
            _ => "dev",
        }
    }

    /// Whether nodes of this kind are kernel devices found by name (the
    /// targets of bond slaves, VLAN parents, bridge ports).
    fn is_device(self) -> bool {
        !matches!(
            self,
            NodeKind::Network | NodeKind::Vnic | NodeKind::OvnBridge
        )
    }
}

/// The state a node is drawn in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    Up,
    /// No link under it (see the module doc for how this is derived).
    Down,
    /// The host does not match what the report's networks say.
    Drifted,
}

/// One box of the picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Unique within the graph: `net:NAME` or `dev:NAME`.
    pub id: String,
    pub kind: NodeKind,
    pub state: State,
    /// First line is the name; the rest are details (MTU, addresses, QoS).
    pub lines: Vec<String>,
}

/// A "sits on" relation: `from` is the lower device, `to` the one above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    /// The active slave of a bond.
    pub active: bool,
}

/// The whole picture, in a deterministic order (the report's maps are
/// sorted by name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    /// Host-wide facts shown under the legend (unsaved config, DNS).
    pub notes: Vec<String>,
}

/// The graph being built: nodes, and device names to node indices (nics,
/// bonds, VLANs and bridges share the kernel's one name space).
#[derive(Default)]
pub(crate) struct Builder {
    pub g: Graph,
    devices: BTreeMap<String, usize>,
}

impl Builder {
    pub(crate) fn add(&mut self, kind: NodeKind, name: &str, lines: Vec<String>) -> usize {
        let mut all = vec![name.to_string()];
        all.extend(lines);
        self.g.nodes.push(Node {
            id: format!("{}:{}", kind.prefix(), name),
            kind,
            state: State::Up,
            lines: all,
        });
        let i = self.g.nodes.len() - 1;
        if kind.is_device() {
            self.devices.insert(name.to_string(), i);
        }
        i
    }

    /// The node of a device, or a placeholder for one the report does not
    /// hold: drifted when something requires it, plain for a bridge port
    /// (a VM's tap device is a normal port the report does not list).
    pub(crate) fn device(&mut self, name: &str, required: bool) -> usize {
        if let Some(&i) = self.devices.get(name) {
            return i;
        }
        let why = if required {
            "missing from the host"
        } else {
            "port"
        };
        let i = self.add(NodeKind::Other, name, vec![why.to_string()]);
        if required {
            self.g.nodes[i].state = State::Drifted;
        }
        i
    }

    /// The node of a device the report holds, without a placeholder.
    pub(crate) fn known(&self, name: &str) -> Option<usize> {
        self.devices.get(name).copied()
    }

    pub(crate) fn edge(&mut self, from: usize, to: usize, active: bool) {
        self.g.edges.push(Edge { from, to, active });
    }
}

impl Graph {
    /// Builds the graph of a caps report.
    pub fn from_caps(caps: &Caps) -> Graph {
        let mut b = Builder::default();
        add_devices(&mut b, caps);
        link_devices(&mut b, caps);
        let mut nets = BTreeMap::new();
        for (name, net) in &caps.networks {
            nets.insert(name.clone(), add_network(&mut b, name, net, caps));
        }
        crate::vms::add(&mut b, caps, &nets);
        derive_down(&mut b.g, caps);
        if caps.net_config_dirty {
            b.g.notes
                .push("running config not saved (netConfigDirty)".to_string());
        }
        if !caps.nameservers.is_empty() {
            b.g.notes
                .push(format!("nameservers: {}", caps.nameservers.join(", ")));
        }
        b.g
    }

    /// The number of columns: one past the highest layer in use.
    pub fn layers(&self) -> usize {
        self.nodes
            .iter()
            .map(|n| n.kind.layer() + 1)
            .max()
            .unwrap_or(0)
    }
}

fn add_devices(b: &mut Builder, caps: &Caps) {
    // A plugged vNIC's device is drawn as the vNIC, never as a nic (a
    // veth standing in for a tap may match the fake-nic names).
    for (name, n) in caps
        .nics
        .iter()
        .filter(|(n, _)| !caps.vnics.contains_key(*n))
    {
        let speed = if n.speed == 0 {
            "no link".to_string()
        } else {
            format!("{} Mb/s", n.speed)
        };
        let mut lines = vec![format!("mtu {} · {speed}", n.ip.mtu)];
        lines.extend(ip_lines(&n.ip));
        b.add(NodeKind::Nic, name, lines);
    }
    for (name, bond) in &caps.bondings {
        let mode = bond.opts.get("mode").map_or("balance-rr", String::as_str);
        let mut lines = vec![format!("{mode} · mtu {}", bond.ip.mtu)];
        lines.extend(ip_lines(&bond.ip));
        b.add(NodeKind::Bond, name, lines);
    }
    for (name, v) in &caps.vlans {
        let mut lines = vec![format!("vlan {} · mtu {}", v.vlanid, v.ip.mtu)];
        lines.extend(ip_lines(&v.ip));
        b.add(NodeKind::Vlan, name, lines);
    }
    for (name, br) in &caps.bridges {
        let ovs = caps
            .networks
            .get(name)
            .is_some_and(|n| n.bridged && n.switch == "ovs");
        let (kind, first) = if ovs {
            (NodeKind::OvsBridge, format!("ovs · mtu {}", br.ip.mtu))
        } else {
            let stp = format!("stp {} · mtu {}", br.stp, br.ip.mtu);
            (NodeKind::Bridge, stp)
        };
        let mut lines = vec![first];
        lines.extend(ip_lines(&br.ip));
        b.add(kind, name, lines);
    }
}

fn link_devices(b: &mut Builder, caps: &Caps) {
    for (name, bond) in &caps.bondings {
        let to = b.devices[name.as_str()];
        for s in &bond.slaves {
            let from = b.device(s, true);
            b.edge(from, to, *s == bond.active_slave);
        }
    }
    for (name, v) in &caps.vlans {
        let to = b.devices[name.as_str()];
        let from = b.device(&v.iface, true);
        b.edge(from, to, false);
    }
    for (name, br) in &caps.bridges {
        let to = b.devices[name.as_str()];
        for p in br.ports.iter().filter(|p| !caps.vnics.contains_key(*p)) {
            let from = b.device(p, false);
            b.edge(from, to, false);
        }
    }
}

/// Adds a network and its edge from the device under it; its node.
fn add_network(b: &mut Builder, name: &str, net: &NetReport, caps: &Caps) -> usize {
    let to = b.add(NodeKind::Network, name, net_lines(net));
    let under = if net.bridged {
        Some(net.iface.as_str())
    } else {
        Some(net.southbound.as_str()).filter(|s| !s.is_empty())
    };
    let Some(under) = under else { return to };
    let from = b.device(under, true);
    b.edge(from, to, false);
    let not_port = net.bridged
        && !net.southbound.is_empty()
        && caps
            .bridges
            .get(&net.iface)
            .is_some_and(|br| !br.ports.contains(&net.southbound));
    if b.g.nodes[from].state == State::Drifted || not_port {
        b.g.nodes[to].state = State::Drifted;
    }
    if not_port {
        let line = format!("{} not on {}", net.southbound, net.iface);
        b.g.nodes[to].lines.push(line);
    }
    to
}

fn net_lines(net: &NetReport) -> Vec<String> {
    let mut head = vec![net.switch.clone()];
    if let Some(v) = net.vlanid {
        head.push(format!("vlan {v}"));
    }
    head.push(format!("mtu {}", net.ip.mtu));
    let mut lines = vec![head.join(" · ")];
    lines.extend(ip_lines(&net.ip));
    if !net.ip.gateway.is_empty() {
        let dr = if net.ip.ipv4defaultroute {
            " (default route)"
        } else {
            ""
        };
        lines.push(format!("gw {}{dr}", net.ip.gateway));
    }
    if !net.ip.ipv6gateway.is_empty() && net.ip.ipv6gateway != "::" {
        lines.push(format!("gw6 {}", net.ip.ipv6gateway));
    }
    if let Some(q) = &net.host_qos {
        let curves = [("ls", q.out.ls), ("ul", q.out.ul), ("rt", q.out.rt)];
        for (n, c) in curves {
            let Some(c) = c else { continue };
            let burst = match (c.m1, c.d) {
                (Some(m1), Some(d)) => format!("{} for {d} us, then ", rate(m1)),
                _ => String::new(),
            };
            lines.push(format!("qos {n} {burst}{}", rate(c.m2)));
        }
    }
    lines
}

/// Addresses and address sources, one line each.
fn ip_lines(ip: &IpBlock) -> Vec<String> {
    let mut lines: Vec<String> = ip.ipv4addrs.clone();
    if lines.is_empty() && !ip.addr.is_empty() {
        lines.push(format!("{} / {}", ip.addr, ip.netmask));
    }
    lines.extend(ip.ipv6addrs.iter().cloned());
    let flags: Vec<&str> = [
        (ip.dhcpv4, "dhcpv4"),
        (ip.dhcpv6, "dhcpv6"),
        (ip.ipv6autoconf, "autoconf"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, s)| *s)
    .collect();
    if !flags.is_empty() {
        lines.push(flags.join(" · "));
    }
    lines
}

/// Marks nodes down from the nics up: a nic with speed 0, then anything
/// whose every lower neighbour is down. Layers go upward, so one pass per
/// layer in layer order settles it; same-layer edges (a VLAN on a VLAN) get
/// a second pass.
fn derive_down(g: &mut Graph, caps: &Caps) {
    for n in &mut g.nodes {
        let name = &n.lines[0];
        if n.kind == NodeKind::Nic && caps.nics.get(name).is_some_and(|r| r.speed == 0) {
            n.state = State::Down;
        }
    }
    let mut order: Vec<usize> = (0..g.nodes.len()).collect();
    order.sort_by_key(|&i| g.nodes[i].kind.layer());
    for _ in 0..2 {
        for &i in &order {
            let k = g.nodes[i].kind;
            // br-int is up through its tunnels whatever its mappings do.
            let leaf = matches!(k, NodeKind::Nic | NodeKind::Other | NodeKind::OvnBridge);
            if leaf || g.nodes[i].state != State::Up {
                continue;
            }
            let mut under = g.edges.iter().filter(|e| e.to == i).peekable();
            if under.peek().is_none() {
                continue;
            }
            if under.all(|e| g.nodes[e.from].state == State::Down) {
                g.nodes[i].state = State::Down;
            }
        }
    }
}
