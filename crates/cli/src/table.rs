//! Human output: the caps report and plans as tables an operator scans.

use std::fmt::Write;

use comfy_table::{presets, ContentArrangement, Table};
use netswitch_engine::Outcome;
use netswitch_model::caps::{Caps, IpBlock};
use netswitch_model::request::{BondChange, NetChange};

fn new_table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(presets::UTF8_HORIZONTAL_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header);
    t
}

fn addrs(ip: &IpBlock) -> String {
    let mut all: Vec<&str> = ip.ipv4addrs.iter().map(String::as_str).collect();
    all.extend(ip.ipv6addrs.iter().map(String::as_str));
    if all.is_empty() {
        "-".into()
    } else {
        all.join("\n")
    }
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() || s == "::" {
        "-"
    } else {
        s
    }
}

fn gateways(ip: &IpBlock) -> String {
    let mut g = Vec::new();
    if !ip.gateway.is_empty() {
        g.push(if ip.ipv4defaultroute {
            format!("{} (default)", ip.gateway)
        } else {
            ip.gateway.clone()
        });
    }
    if ip.ipv6gateway != "::" {
        g.push(ip.ipv6gateway.clone());
    }
    if g.is_empty() {
        "-".into()
    } else {
        g.join("\n")
    }
}

/// The caps report as tables: networks first, then devices by kind.
pub fn caps(c: &Caps) -> String {
    let mut out = String::new();
    let mut t = new_table(&[
        "network",
        "switch",
        "bridged",
        "iface",
        "southbound",
        "vlan",
        "mtu",
        "addresses",
        "gateway",
    ]);
    for (name, n) in &c.networks {
        t.add_row(vec![
            name.clone(),
            n.switch.clone(),
            if n.bridged { "yes".into() } else { "no".into() },
            n.iface.clone(),
            or_dash(&n.southbound).to_string(),
            n.vlanid.map_or("-".into(), |v| v.to_string()),
            n.ip.mtu.clone(),
            addrs(&n.ip),
            gateways(&n.ip),
        ]);
    }
    if c.networks.is_empty() {
        out.push_str("No networks are configured by netswitch.\n\n");
    } else {
        let _ = writeln!(out, "{t}\n");
    }

    let mut t = new_table(&["device", "type", "mtu", "hwaddr", "addresses", "details"]);
    for (name, n) in &c.nics {
        let speed = if n.speed > 0 {
            format!("speed {} Mb/s", n.speed)
        } else {
            String::new()
        };
        let perm = n
            .permhwaddr
            .as_ref()
            .map(|p| format!("permhwaddr {p}"))
            .unwrap_or_default();
        let details = [speed, perm]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        t.add_row(vec![
            name.clone(),
            "nic".into(),
            n.ip.mtu.clone(),
            n.hwaddr.clone(),
            addrs(&n.ip),
            details,
        ]);
    }
    for (name, b) in &c.bondings {
        let opts: Vec<String> = b.opts.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut details = format!("slaves {}\n{}", b.slaves.join(","), opts.join(" "));
        if !b.active_slave.is_empty() {
            let _ = write!(details, "\nactive {}", b.active_slave);
        }
        t.add_row(vec![
            name.clone(),
            "bond".into(),
            b.ip.mtu.clone(),
            b.hwaddr.clone(),
            addrs(&b.ip),
            details,
        ]);
    }
    for (name, v) in &c.vlans {
        t.add_row(vec![
            name.clone(),
            "vlan".into(),
            v.ip.mtu.clone(),
            String::new(),
            addrs(&v.ip),
            format!("id {} on {}", v.vlanid, v.iface),
        ]);
    }
    for (name, b) in &c.bridges {
        let ports = if b.ports.is_empty() {
            "no ports".to_string()
        } else {
            format!("ports {}", b.ports.join(","))
        };
        t.add_row(vec![
            name.clone(),
            "bridge".into(),
            b.ip.mtu.clone(),
            String::new(),
            addrs(&b.ip),
            format!("{ports}\nstp {}", b.stp),
        ]);
    }
    let _ = writeln!(out, "{t}");
    let ns = if c.nameservers.is_empty() {
        "-".to_string()
    } else {
        c.nameservers.join(", ")
    };
    let _ = writeln!(
        out,
        "\nnameservers: {ns}   IPv6: {}   unsaved changes: {}",
        if c.supports_ipv6 { "yes" } else { "no" },
        if c.net_config_dirty {
            "yes (the running config is not the persistent one)"
        } else {
            "no"
        }
    );
    out
}

/// A dry-run plan: what the request asks, then each operation in order.
pub fn plan(p: &Outcome) -> String {
    let mut out = String::new();
    let count = |set: usize, rm: usize, what: &str| -> Option<String> {
        match (set, rm) {
            (0, 0) => None,
            (s, 0) => Some(format!("{s} {what} to set")),
            (0, r) => Some(format!("{r} {what} to remove")),
            (s, r) => Some(format!("{s} {what} to set, {r} to remove")),
        }
    };
    let nets_rm = p
        .request
        .networks
        .values()
        .filter(|c| matches!(c, NetChange::Remove))
        .count();
    let bonds_rm = p
        .request
        .bondings
        .values()
        .filter(|c| matches!(c, BondChange::Remove))
        .count();
    let asks: Vec<String> = [
        count(p.request.networks.len() - nets_rm, nets_rm, "network(s)"),
        count(p.request.bondings.len() - bonds_rm, bonds_rm, "bond(s)"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let asks = if asks.is_empty() {
        "nothing".to_string()
    } else {
        asks.join("; ")
    };
    if p.plan.is_empty() {
        let _ = writeln!(
            out,
            "Request: {asks}. The host already carries it: nothing to do."
        );
        return out;
    }
    let _ = writeln!(
        out,
        "Request: {asks}. Plan ({} operations, dry run: nothing was changed):",
        p.plan.ops.len()
    );
    let width = p.plan.ops.len().to_string().len();
    for (i, op) in p.plan.ops.iter().enumerate() {
        let _ = writeln!(out, "  {:>width$}. {op}", i + 1);
    }
    if let Some(ns) = &p.plan.nameservers {
        let list: Vec<String> = ns.iter().map(|n| n.to_string()).collect();
        let _ = writeln!(out, "  resolver: write nameservers {}", list.join(", "));
    }
    out
}

/// getNetworkStatistics as a table, one row per interface.
pub fn stats(v: &serde_json::Value) -> String {
    let mut t = new_table(&[
        "interface",
        "rx bytes",
        "rx packets",
        "rx errors",
        "rx drops",
        "tx bytes",
        "tx packets",
        "tx errors",
        "tx drops",
        "speed",
    ]);
    if let Some(ifaces) = v["interfaces"].as_object() {
        for (name, s) in ifaces {
            let n = |k: &str| s[k].as_u64().map_or("-".to_string(), |x| x.to_string());
            let speed = s["speed"]
                .as_u64()
                .map_or("-".to_string(), |x| format!("{x} Mb/s"));
            t.add_row(vec![
                name.clone(),
                n("rxBytes"),
                n("rxPackets"),
                n("rxErrors"),
                n("rxDropped"),
                n("txBytes"),
                n("txPackets"),
                n("txErrors"),
                n("txDropped"),
                speed,
            ]);
        }
    }
    format!("{t}\n")
}

/// One event as a line: its kind, then its fields as `key=value`.
pub fn event(v: &serde_json::Value) -> String {
    let mut out = v["event"].as_str().unwrap_or("event").to_string();
    if let Some(o) = v.as_object() {
        for (k, val) in o.iter().filter(|(k, _)| *k != "event") {
            let text = match val {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let _ = write!(out, " {k}={text}");
        }
    }
    out
}

/// `vnic list`: one row per plugged vNIC.
pub fn vnics(
    vnics: &std::collections::BTreeMap<String, netswitch_engine::vnic::Plugged>,
) -> String {
    if vnics.is_empty() {
        return "No vNICs are plugged.\n".into();
    }
    let mut t = new_table(&["device", "vm", "mac", "network", "switch", "bridge", "tag"]);
    for (device, p) in vnics {
        let v = &p.vnic;
        t.add_row(vec![
            device.clone(),
            v.vm_id.clone(),
            v.mac.clone(),
            v.network.clone(),
            p.switch.clone(),
            p.bridge.clone(),
            p.tag.map_or("-".into(), |t| t.to_string()),
        ]);
    }
    format!("{t}\n")
}
