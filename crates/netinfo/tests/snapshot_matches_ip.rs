//! A snapshot taken inside a namespace says what `ip` says about the same
//! namespace: every link, address, route of every table, and rule.
//!
//! `ip` is the reference here because operators check a host with it. Each
//! comparison reads `ip`, snapshots, reads `ip` again, and retries until the
//! two `ip` readings agree, so IPv6 autoconfiguration settling in the
//! background cannot make a test flaky.

use std::collections::BTreeMap;

use netswitch_model::host::{HostState, LinkKind, Route, Rule};
use netswitch_testkit::Netns;
use serde_json::Value;

/// veth_a/veth_b and veth_c/veth_d, veth_c a port of the STP bridge br_t;
/// v4 and v6 addresses (one v4 secondary, one with finite lifetimes);
/// default routes, routes in tables 100 and 1000, an ECMP route, typed
/// routes; rules of both families.
fn fixture() -> Netns {
    let ns = Netns::new();
    ns.veth("veth_a", "veth_b");
    ns.veth("veth_c", "veth_d");
    ns.ip(&["link", "add", "br_t", "type", "bridge", "stp_state", "1"]);
    ns.ip(&["link", "set", "veth_c", "master", "br_t"]);
    ns.ip(&["link", "set", "br_t", "up"]);
    ns.ip(&["link", "set", "veth_d", "mtu", "1400"]);

    for (addr, dev) in [
        ("10.10.0.1/24", "veth_a"),
        ("10.10.0.2/24", "veth_a"), // secondary: same subnet
        ("10.20.0.1/24", "br_t"),
    ] {
        ns.ip(&["addr", "add", addr, "dev", dev]);
    }
    ns.ip(&["addr", "add", "fd00:10::1/64", "dev", "veth_a", "nodad"]);
    ns.ip(&[
        "addr",
        "add",
        "10.50.0.1/24",
        "dev",
        "veth_b",
        "valid_lft",
        "1000",
        "preferred_lft",
        "500",
    ]);

    ns.ip(&[
        "route",
        "add",
        "default",
        "via",
        "10.10.0.254",
        "dev",
        "veth_a",
    ]);
    ns.ip(&[
        "-6",
        "route",
        "add",
        "default",
        "via",
        "fd00:10::fe",
        "dev",
        "veth_a",
        "metric",
        "300",
    ]);
    ns.ip(&[
        "route",
        "add",
        "10.30.0.0/24",
        "via",
        "10.10.0.254",
        "dev",
        "veth_a",
        "table",
        "100",
        "proto",
        "static",
        "metric",
        "50",
    ]);
    ns.ip(&[
        "route",
        "add",
        "default",
        "via",
        "10.10.0.253",
        "table",
        "100",
    ]);
    ns.ip(&[
        "route",
        "add",
        "10.40.0.0/24",
        "dev",
        "veth_a",
        "table",
        "1000",
        "proto",
        "77",
    ]);
    ns.ip(&[
        "-6",
        "route",
        "add",
        "default",
        "via",
        "fd00:10::fe",
        "dev",
        "veth_a",
        "table",
        "100",
    ]);
    ns.ip(&[
        "route",
        "add",
        "10.60.0.0/24",
        "table",
        "100",
        "nexthop",
        "via",
        "10.10.0.252",
        "dev",
        "veth_a",
        "nexthop",
        "via",
        "10.10.0.251",
        "dev",
        "veth_a",
    ]);
    ns.ip(&["route", "add", "blackhole", "10.70.0.0/24"]);
    ns.ip(&[
        "route",
        "add",
        "unreachable",
        "10.71.0.0/24",
        "table",
        "100",
    ]);
    ns.ip(&["route", "add", "prohibit", "10.72.0.0/24"]);
    ns.ip(&[
        "route",
        "add",
        "10.80.0.0/24",
        "dev",
        "veth_a",
        "src",
        "10.10.0.2",
        "proto",
        "dhcp",
    ]);

    ns.ip(&[
        "rule",
        "add",
        "from",
        "10.10.0.0/24",
        "table",
        "100",
        "priority",
        "1000",
    ]);
    ns.ip(&[
        "rule",
        "add",
        "to",
        "10.40.0.0/24",
        "iif",
        "veth_b",
        "table",
        "1000",
    ]);
    ns.ip(&[
        "rule", "add", "oif", "veth_a", "table", "100", "priority", "2000",
    ]);
    ns.ip(&["-6", "rule", "add", "from", "fd00:10::/64", "table", "100"]);
    ns
}

/// Reads `ip` around a snapshot until two `ip` readings agree.
fn stable(ns: &Netns, read: impl Fn() -> Value) -> (Value, HostState) {
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

fn arr(v: &Value) -> &Vec<Value> {
    v.as_array().unwrap_or_else(|| panic!("not an array: {v}"))
}

fn s(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

#[test]
fn links_match_ip_link() {
    let ns = fixture();
    // `-d` for the kind; its bridge and port timers tick all the time and
    // are not compared here (bridge_options_match_sysfs does the options).
    let read = || {
        let mut links = ns.ip_json(&["-d", "link"]);
        for l in links.as_array_mut().into_iter().flatten() {
            if let Some(info) = l.get_mut("linkinfo").and_then(Value::as_object_mut) {
                info.remove("info_data");
                info.remove("info_slave_data");
            }
        }
        links
    };
    let (ip, state) = stable(&ns, read);
    let ip = arr(&ip);
    assert_eq!(
        state.links.keys().collect::<Vec<_>>(),
        {
            let mut n: Vec<&str> = ip.iter().filter_map(|l| l["ifname"].as_str()).collect();
            n.sort();
            n
        },
        "same link names"
    );
    for l in ip {
        let name = l["ifname"].as_str().unwrap();
        let ours = &state.links[name];
        assert_eq!(
            u64::from(ours.index),
            l["ifindex"].as_u64().unwrap(),
            "{name} index"
        );
        let kind = l["linkinfo"]["info_kind"].as_str();
        assert_eq!(ours.kind, LinkKind::from_kernel(kind), "{name} kind");
        assert_eq!(ours.master, s(&l["master"]), "{name} master");
        assert_eq!(
            u64::from(ours.mtu),
            l["mtu"].as_u64().unwrap(),
            "{name} mtu"
        );
        assert_eq!(ours.mac, s(&l["address"]), "{name} mac");
        match s(&l["permaddr"]) {
            Some(perm) => assert_eq!(
                ours.perm_mac.as_deref(),
                Some(perm.as_str()),
                "{name} permaddr"
            ),
            None => assert!(
                ours.perm_mac.is_none() || ours.perm_mac == ours.mac,
                "{name} permaddr"
            ),
        }
        assert_eq!(
            ours.oper_state,
            l["operstate"].as_str().unwrap().to_lowercase(),
            "{name} operstate"
        );
        let up = arr(&l["flags"]).iter().any(|f| f == "UP");
        assert_eq!(ours.admin_up, up, "{name} admin up");
    }

    // What the fixture built, said plainly.
    let br = &state.links["br_t"];
    assert_eq!(br.kind, LinkKind::Bridge);
    let bridge = br.bridge.as_ref().expect("br_t has bridge details");
    assert!(bridge.stp);
    assert_eq!(bridge.ports, ["veth_c"]);
    assert_eq!(state.links["veth_c"].master.as_deref(), Some("br_t"));
    assert_eq!(state.links["veth_d"].mtu, 1400);
    assert_eq!(state.links["veth_a"].kind, LinkKind::Veth);
    assert!(state.links["veth_a"].vlan.is_none());
    assert!(state.links["veth_a"].bond.is_none() && state.links["veth_a"].bond_slave.is_none());
}

#[test]
fn bridge_options_match_sysfs() {
    let ns = fixture();
    let state = ns.run(|| netswitch_netinfo::snapshot().expect("snapshot"));
    let bridge = state.links["br_t"].bridge.clone().expect("bridge details");
    let files = ns.exec(&["ls", "/sys/class/net/br_t/bridge"]);
    // Timers count down between the two reads; flush is write-only.
    let volatile = [
        "hello_timer",
        "tcn_timer",
        "topology_change_timer",
        "gc_timer",
        "flush",
    ];
    let mut compared = 0;
    for file in files.split_whitespace() {
        if volatile.contains(&file) {
            continue;
        }
        let sysfs = ns.sysfs(&format!("br_t/bridge/{file}")).expect("readable");
        assert_eq!(
            bridge.options.get(file),
            Some(&sysfs),
            "bridge option {file}"
        );
        compared += 1;
    }
    // Netlink reports vlan_filtering even where the kernel is built without
    // VLAN filtering, which is also when sysfs has no vlan_* files.
    let vlan_only = [
        "vlan_filtering",
        "vlan_protocol",
        "default_pvid",
        "vlan_stats_enabled",
        "vlan_stats_per_port",
    ];
    for key in bridge.options.keys() {
        assert!(
            files.split_whitespace().any(|f| f == key) || vlan_only.contains(&key.as_str()),
            "option {key} has no sysfs file of that name"
        );
    }
    assert!(compared >= 30, "only {compared} options compared");
    assert_eq!(bridge.options["stp_state"], "1");
    assert_eq!(bridge.options["forward_delay"], "1500");
}

#[test]
fn nic_speed_matches_sysfs() {
    let ns = fixture();
    let state = ns.run(|| netswitch_netinfo::snapshot().expect("snapshot"));
    for nic in ["veth_a", "veth_b"] {
        let sysfs: u32 = ns.sysfs(&format!("{nic}/speed")).unwrap().parse().unwrap();
        assert_eq!(state.links[nic].speed, Some(sysfs), "{nic} speed");
    }
    assert_eq!(state.links["lo"].speed, None, "loopback has no speed");
    assert_eq!(state.links["br_t"].speed, None, "speed is for nics only");
}

/// One address as both sides can say it.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct AddrRow {
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

#[test]
fn addresses_match_ip_addr() {
    let ns = fixture();
    let (ip, state) = stable(&ns, || ns.ip_json(&["addr"]));
    let mut theirs = Vec::new();
    for l in arr(&ip) {
        for a in arr(&l["addr_info"]) {
            theirs.push(AddrRow {
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
    let mut ours: Vec<AddrRow> = state
        .addrs
        .iter()
        .map(|a| AddrRow {
            link: a.link.clone(),
            address: a.address.to_string(),
            prefix: a.prefix_len,
            scope: a.scope.clone(),
            secondary: a.secondary,
            dynamic: a.dynamic,
            valid: a.valid_lft,
            preferred: a.preferred_lft,
        })
        .collect();
    theirs.sort();
    ours.sort();
    // Finite lifetimes tick down between the two reads: allow two seconds.
    for (o, t) in ours.iter_mut().zip(&theirs) {
        for (mine, other) in [(&mut o.valid, t.valid), (&mut o.preferred, t.preferred)] {
            if let (Some(m), Some(x)) = (*mine, other) {
                if m.abs_diff(x) <= 2 {
                    *mine = Some(x);
                }
            }
        }
    }
    assert_eq!(ours, theirs);

    let secondary = state
        .addrs
        .iter()
        .find(|a| a.address.to_string() == "10.10.0.2")
        .unwrap();
    assert!(secondary.secondary && secondary.link == "veth_a" && secondary.scope == "global");
    let finite = state
        .addrs
        .iter()
        .find(|a| a.address.to_string() == "10.50.0.1")
        .unwrap();
    assert!(finite.dynamic);
    assert!(finite.valid_lft.is_some_and(|v| v <= 1000 && v > 900));
    let v6 = state
        .addrs
        .iter()
        .find(|a| a.address.to_string() == "fd00:10::1")
        .unwrap();
    assert_eq!((v6.prefix_len, v6.valid_lft, v6.dynamic), (64, None, false));
}

/// One route as both sides can say it.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct RouteRow {
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

fn table_id(name: &str) -> u32 {
    match name {
        "local" => 255,
        "main" => 254,
        "default" => 253,
        n => n.parse().unwrap_or_else(|_| panic!("table {n}")),
    }
}

/// `ip` names protocols from /etc/iproute2/rt_protos; the snapshot names
/// only the ones netswitch cares about and numbers the rest.
fn protocol(name: &str) -> String {
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

fn ip_route_row(r: &Value, v6: bool) -> RouteRow {
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

fn our_route_row(r: &Route) -> RouteRow {
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

#[test]
fn routes_of_every_table_match_ip_route() {
    let ns = fixture();
    let read = || {
        Value::Array(vec![
            ns.ip_json(&["-4", "route", "show", "table", "all"]),
            ns.ip_json(&["-6", "route", "show", "table", "all"]),
        ])
    };
    let (ip, state) = stable(&ns, read);
    let mut theirs: Vec<RouteRow> = arr(&ip[0])
        .iter()
        .map(|r| ip_route_row(r, false))
        .chain(arr(&ip[1]).iter().map(|r| ip_route_row(r, true)))
        .collect();
    let mut ours: Vec<RouteRow> = state.routes.iter().map(our_route_row).collect();
    theirs.sort();
    ours.sort();
    assert_eq!(ours, theirs);

    let find = |table: u32, dst: &str| {
        state
            .routes
            .iter()
            .find(|r| r.table == table && r.dst.to_string() == dst)
            .unwrap_or_else(|| panic!("no {dst} in table {table}"))
    };
    let r = find(100, "10.30.0.0/24");
    assert_eq!((r.protocol.as_str(), r.metric), ("static", Some(50)));
    assert_eq!(find(1000, "10.40.0.0/24").protocol, "77");
    assert!(find(254, "0.0.0.0/0").is_default());
    assert_eq!(
        find(100, "::/0").gateway.map(|g| g.to_string()).as_deref(),
        Some("fd00:10::fe")
    );
    assert_eq!(find(254, "10.70.0.0/24").kind, "blackhole");
    assert_eq!(find(100, "10.71.0.0/24").kind, "unreachable");
    assert_eq!(find(254, "10.80.0.0/24").protocol, "dhcp");
    assert_eq!(find(255, "10.10.0.1/32").kind, "local");
}

/// One rule as both sides can say it.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct RuleRow {
    family: u8,
    priority: Option<u32>,
    table: u32,
    src: Option<String>,
    dst: Option<String>,
    iif: Option<String>,
    oif: Option<String>,
}

fn ip_net(r: &Value, key: &str, v6: bool) -> Option<String> {
    let addr = r[key].as_str().filter(|a| *a != "all")?;
    let full = if v6 { 128 } else { 32 };
    let len = r[format!("{key}len")].as_u64().unwrap_or(full);
    Some(format!("{addr}/{len}"))
}

fn ip_rule_row(r: &Value, v6: bool) -> RuleRow {
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

fn our_rule_row(r: &Rule) -> RuleRow {
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

#[test]
fn rules_match_ip_rule() {
    let ns = fixture();
    let read = || Value::Array(vec![ns.ip_json(&["rule"]), ns.ip_json(&["-6", "rule"])]);
    let (ip, state) = stable(&ns, read);
    let mut theirs: Vec<RuleRow> = arr(&ip[0])
        .iter()
        .map(|r| ip_rule_row(r, false))
        .chain(arr(&ip[1]).iter().map(|r| ip_rule_row(r, true)))
        .collect();
    let mut ours: Vec<RuleRow> = state.rules.iter().map(our_rule_row).collect();
    theirs.sort();
    ours.sort();
    assert_eq!(ours, theirs);

    let from = state
        .rules
        .iter()
        .find(|r| r.priority == Some(1000))
        .expect("the from-rule");
    assert_eq!(
        (from.family, from.table, from.src.map(|n| n.to_string())),
        (4, 100, Some("10.10.0.0/24".to_string()))
    );
    assert!(state.rules.iter().any(|r| r.family == 6 && r.table == 100));
}

#[test]
fn entering_a_missing_namespace_names_it() {
    let err = std::thread::spawn(|| netswitch_netinfo::enter_netns("ns-test-does-not-exist"))
        .join()
        .unwrap()
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("ns-test-does-not-exist"), "{text}");
    assert!(matches!(
        err,
        netswitch_netinfo::NetinfoError::NetnsOpen { .. }
    ));
}

#[test]
fn a_snapshot_serializes_and_round_trips() {
    let ns = fixture();
    let state = ns.run(|| netswitch_netinfo::snapshot().expect("snapshot"));
    let json = serde_json::to_string(&state).unwrap();
    let back: HostState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, state);
    let by_kind: BTreeMap<String, usize> =
        state.links.values().fold(BTreeMap::new(), |mut m, l| {
            *m.entry(format!("{:?}", l.kind)).or_default() += 1;
            m
        });
    assert_eq!(by_kind.get("Veth"), Some(&4));
}
