//! `ip` as the independent reference for a snapshot: what `ip -j` says
//! about a namespace, and the same facts taken from a [`HostState`], as
//! rows both sides can say, so a test compares them whole.
//!
//! Each comparison reads `ip`, snapshots, reads `ip` again, and retries
//! until the two `ip` readings agree, so IPv6 autoconfiguration settling in
//! the background cannot make a test flaky.

#![allow(dead_code)] // each test binary uses its own part

use netswitch_model::host::{Addr, HostState, Link, LinkKind, Route, Rule};
use netswitch_testkit::Netns;
use serde_json::Value;

/// Reads `ip` with `read`, snapshots, and reads again, until both `ip`
/// readings agree; returns the reading and the snapshot between them.
pub fn stable(ns: &Netns, read: impl Fn() -> Value) -> (Value, HostState) {
    for _ in 0..20 {
        let before = read();
        let state = ns.run(|| netswitch_netinfo::snapshot().expect("snapshot"));
        if read() == before {
            return (before, state);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{} never stopped changing", ns.name());
}

pub fn arr(v: &Value) -> &Vec<Value> {
    v.as_array().unwrap_or_else(|| panic!("not an array: {v}"))
}

pub fn s(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// What `ip -j -d link` says, with the option blocks cut to the fields the
/// link rows read (the rest holds timers that tick all the time).
pub fn ip_links(ns: &Netns) -> Value {
    let mut links = ns.ip_json(&["-d", "link"]);
    for l in links.as_array_mut().into_iter().flatten() {
        if let Some(info) = l.get_mut("linkinfo").and_then(Value::as_object_mut) {
            for (key, keep) in [
                ("info_data", &["id", "mode", "miimon", "stp_state"][..]),
                ("info_slave_data", &["perm_hwaddr"][..]),
            ] {
                if let Some(data) = info.get_mut(key).and_then(Value::as_object_mut) {
                    data.retain(|k, _| keep.contains(&k.as_str()));
                }
            }
        }
    }
    links
}

/// One link as both sides can say it.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LinkRow {
    name: String,
    index: u64,
    kind: String,
    master: Option<String>,
    mtu: u64,
    mac: Option<String>,
    oper_state: String,
    up: bool,
    /// VLAN id and parent (a parent in another namespace as `ifN`).
    vlan: Option<(u64, String)>,
    /// A bond port's permanent MAC.
    slave_perm: Option<String>,
    /// A bond's mode (by number) and miimon.
    bond: Option<(String, String)>,
    /// A bridge's STP state.
    stp: Option<bool>,
}

/// Bond modes by number, as `ip` names them.
const BOND_MODES: [&str; 7] = [
    "balance-rr",
    "active-backup",
    "balance-xor",
    "broadcast",
    "802.3ad",
    "balance-tlb",
    "balance-alb",
];

pub fn ip_link_row(l: &Value) -> LinkRow {
    let info = &l["linkinfo"];
    let data = &info["info_data"];
    let kind = info["info_kind"].as_str();
    let vlan = (kind == Some("vlan")).then(|| {
        let parent = s(&l["link"]).unwrap_or_else(|| format!("if{}", l["link_index"]));
        (data["id"].as_u64().unwrap_or_default(), parent)
    });
    let bond = (kind == Some("bond")).then(|| {
        let mode = data["mode"].as_str().unwrap_or_default();
        let n = BOND_MODES
            .iter()
            .position(|m| *m == mode)
            .expect("bond mode");
        (n.to_string(), data["miimon"].to_string())
    });
    LinkRow {
        name: s(&l["ifname"]).unwrap(),
        index: l["ifindex"].as_u64().unwrap(),
        kind: format!("{:?}", LinkKind::from_kernel(kind)),
        master: s(&l["master"]),
        mtu: l["mtu"].as_u64().unwrap(),
        mac: s(&l["address"]),
        oper_state: l["operstate"].as_str().unwrap().to_lowercase(),
        up: arr(&l["flags"]).iter().any(|f| f == "UP"),
        vlan,
        slave_perm: (info["info_slave_kind"] == "bond")
            .then(|| s(&info["info_slave_data"]["perm_hwaddr"]))
            .flatten(),
        bond,
        stp: (kind == Some("bridge")).then(|| data["stp_state"].as_u64() != Some(0)),
    }
}

pub fn our_link_row(l: &Link) -> LinkRow {
    LinkRow {
        name: l.name.clone(),
        index: u64::from(l.index),
        kind: format!("{:?}", l.kind),
        master: l.master.clone(),
        mtu: u64::from(l.mtu),
        mac: l.mac.clone(),
        oper_state: l.oper_state.clone(),
        up: l.admin_up,
        vlan: l.vlan.as_ref().map(|v| (u64::from(v.id), v.parent.clone())),
        slave_perm: l.bond_slave.as_ref().and_then(|b| b.perm_mac.clone()),
        bond: l
            .bond
            .as_ref()
            .map(|b| (b.options["mode"].clone(), b.options["miimon"].clone())),
        stp: l.bridge.as_ref().map(|b| b.stp),
    }
}

/// One address as both sides can say it.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AddrRow {
    link: String,
    address: String,
    prefix: u8,
    scope: String,
    secondary: bool,
    dynamic: bool,
    valid: Option<u32>,
    preferred: Option<u32>,
}

fn lifetime(v: &Value) -> Option<u32> {
    let n = v.as_u64()?;
    (n != u64::from(u32::MAX)).then_some(n as u32)
}

/// The address rows of `ip -j addr`.
pub fn ip_addr_rows(ip: &Value) -> Vec<AddrRow> {
    let mut rows = Vec::new();
    for l in arr(ip) {
        for a in arr(&l["addr_info"]) {
            rows.push(AddrRow {
                link: s(&l["ifname"]).unwrap(),
                address: s(&a["local"]).unwrap(),
                prefix: a["prefixlen"].as_u64().unwrap() as u8,
                scope: s(&a["scope"]).unwrap(),
                secondary: a["secondary"] == true,
                dynamic: a["dynamic"] == true,
                valid: lifetime(&a["valid_life_time"]),
                preferred: lifetime(&a["preferred_life_time"]),
            });
        }
    }
    rows
}

pub fn our_addr_row(a: &Addr) -> AddrRow {
    AddrRow {
        link: a.link.clone(),
        address: a.address.to_string(),
        prefix: a.prefix_len,
        scope: a.scope.clone(),
        secondary: a.secondary,
        dynamic: a.dynamic,
        valid: a.valid_lft,
        preferred: a.preferred_lft,
    }
}

/// Asserts two sorted address lists equal, finite lifetimes within two
/// seconds of each other (they tick down between the two reads).
pub fn assert_addrs_equal(mut ours: Vec<AddrRow>, theirs: &[AddrRow]) {
    for (o, t) in ours.iter_mut().zip(theirs) {
        for (mine, other) in [(&mut o.valid, t.valid), (&mut o.preferred, t.preferred)] {
            if let (Some(m), Some(x)) = (*mine, other) {
                if m.abs_diff(x) <= 2 {
                    *mine = Some(x);
                }
            }
        }
    }
    assert_eq!(ours, theirs);
}

/// One route as both sides can say it.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RouteRow {
    table: u32,
    dst: String,
    gateway: Option<String>,
    dev: Option<String>,
    protocol: String,
    scope: String,
    kind: String,
    metric: Option<u32>,
    prefsrc: Option<String>,
}

pub fn table_id(name: &str) -> u32 {
    match name {
        "local" => 255,
        "main" => 254,
        "default" => 253,
        n => n.parse().unwrap_or_else(|_| panic!("table {n}")),
    }
}

/// `ip` names protocols from /etc/iproute2/rt_protos; the snapshot names
/// only the ones netswitch cares about and numbers the rest.
pub fn protocol(name: &str) -> String {
    const NAMED: [&str; 6] = ["redirect", "kernel", "boot", "static", "ra", "dhcp"];
    if NAMED.contains(&name) || name.parse::<u8>().is_ok() {
        return name.to_string();
    }
    let table = std::fs::read_to_string("/etc/iproute2/rt_protos").unwrap_or_default();
    table
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?, it.next()?))
        })
        .find(|(_, n)| *n == name)
        .map(|(num, _)| num.to_string())
        .unwrap_or_else(|| panic!("protocol {name}"))
}

pub fn ip_route_row(r: &Value, v6: bool) -> RouteRow {
    let dst = r["dst"].as_str().unwrap();
    let dst = match dst {
        "default" if v6 => "::/0".to_string(),
        "default" => "0.0.0.0/0".to_string(),
        d if d.contains('/') => d.to_string(),
        d => format!("{d}/{}", if v6 { 128 } else { 32 }),
    };
    // ECMP: the snapshot reports the first next hop.
    let first_hop = r["nexthops"].as_array().and_then(|h| h.first());
    let (gateway, dev) = match first_hop {
        Some(h) => (s(&h["gateway"]), s(&h["dev"])),
        None => (s(&r["gateway"]), s(&r["dev"])),
    };
    RouteRow {
        table: r["table"].as_str().map_or(254, table_id),
        dst,
        gateway,
        dev,
        protocol: r["protocol"].as_str().map_or("boot".into(), protocol),
        scope: r["scope"].as_str().unwrap_or("universe").to_string(),
        kind: r["type"].as_str().unwrap_or("unicast").to_string(),
        metric: r["metric"].as_u64().map(|m| m as u32),
        prefsrc: s(&r["prefsrc"]),
    }
}

pub fn our_route_row(r: &Route) -> RouteRow {
    RouteRow {
        table: r.table,
        dst: r.dst.to_string(),
        gateway: r.gateway.map(|g| g.to_string()),
        dev: r.oif.clone(),
        protocol: r.protocol.clone(),
        scope: r.scope.clone(),
        kind: r.kind.clone(),
        metric: r.metric,
        prefsrc: r.prefsrc.map(|p| p.to_string()),
    }
}

/// One rule as both sides can say it.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RuleRow {
    family: u8,
    priority: Option<u32>,
    table: u32,
    src: Option<String>,
    dst: Option<String>,
    iif: Option<String>,
    oif: Option<String>,
}

pub fn ip_net(r: &Value, key: &str, v6: bool) -> Option<String> {
    let addr = r[key].as_str().filter(|a| *a != "all")?;
    let full = if v6 { 128 } else { 32 };
    let len = r[format!("{key}len")].as_u64().unwrap_or(full);
    Some(format!("{addr}/{len}"))
}

pub fn ip_rule_row(r: &Value, v6: bool) -> RuleRow {
    RuleRow {
        family: if v6 { 6 } else { 4 },
        priority: r["priority"].as_u64().map(|p| p as u32),
        table: r["table"].as_str().map_or(0, table_id),
        src: ip_net(r, "src", v6),
        dst: ip_net(r, "dst", v6),
        iif: s(&r["iif"]),
        oif: s(&r["oif"]),
    }
}

pub fn our_rule_row(r: &Rule) -> RuleRow {
    RuleRow {
        family: r.family,
        priority: r.priority,
        table: r.table,
        src: r.src.map(|n| n.to_string()),
        dst: r.dst.map(|n| n.to_string()),
        iif: r.iif.clone(),
        oif: r.oif.clone(),
    }
}

/// Everything `ip` is asked, as one reading.
fn ip_everything(ns: &Netns) -> Value {
    Value::Array(vec![
        ip_links(ns),
        ns.ip_json(&["addr"]),
        ns.ip_json(&["-4", "route", "show", "table", "all"]),
        ns.ip_json(&["-6", "route", "show", "table", "all"]),
        ns.ip_json(&["rule"]),
        ns.ip_json(&["-6", "rule"]),
    ])
}

/// Asserts a snapshot of `ns` says what `ip` says of every link, address,
/// route and rule; returns the snapshot compared.
pub fn assert_snapshot_matches_ip(ns: &Netns) -> HostState {
    let (ip, state) = stable(ns, || ip_everything(ns));
    let mut theirs: Vec<LinkRow> = arr(&ip[0]).iter().map(ip_link_row).collect();
    let mut ours: Vec<LinkRow> = state.links.values().map(our_link_row).collect();
    theirs.sort();
    ours.sort();
    assert_eq!(ours, theirs, "links");

    let mut theirs = ip_addr_rows(&ip[1]);
    let mut ours: Vec<AddrRow> = state.addrs.iter().map(our_addr_row).collect();
    theirs.sort();
    ours.sort();
    assert_addrs_equal(ours, &theirs);

    let mut theirs: Vec<RouteRow> = arr(&ip[2])
        .iter()
        .map(|r| ip_route_row(r, false))
        .chain(arr(&ip[3]).iter().map(|r| ip_route_row(r, true)))
        .collect();
    let mut ours: Vec<RouteRow> = state.routes.iter().map(our_route_row).collect();
    theirs.sort();
    ours.sort();
    assert_eq!(ours, theirs, "routes");

    let mut theirs: Vec<RuleRow> = arr(&ip[4])
        .iter()
        .map(|r| ip_rule_row(r, false))
        .chain(arr(&ip[5]).iter().map(|r| ip_rule_row(r, true)))
        .collect();
    let mut ours: Vec<RuleRow> = state.rules.iter().map(our_rule_row).collect();
    theirs.sort();
    ours.sort();
    assert_eq!(ours, theirs, "rules");
    state
}
