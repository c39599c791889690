//! The OVS switch against a real ovsdb-server and ovs-vswitchd, started per
//! test inside the test's namespace (userspace datapath on this machine,
//! the kernel one in the lab): what OVSDB holds, what the kernel carries on
//! the internal ports, and the caps report.

mod common;

use common::Host;
use netswitch_testkit::Ovs;
use serde_json::{json, Value};

fn ovs_host() -> (Host, Ovs) {
    let mut h = Host::new();
    let ovs = Ovs::start(&h.ns);
    h.use_ovs(&ovs);
    (h, ovs)
}

fn no_check(networks: Value) -> Value {
    json!({"networks": networks, "options": {"connectivityCheck": false}})
}

fn bridges(ovs: &Ovs) -> Vec<String> {
    let out = ovs.vsctl(&["list-br"]);
    out.lines().map(str::to_string).collect()
}

fn ports(ovs: &Ovs, br: &str) -> Vec<String> {
    let out = ovs.vsctl(&["list-ports", br]);
    out.lines().map(str::to_string).collect()
}

fn get(ovs: &Ovs, table: &str, rec: &str, col: &str) -> String {
    ovs.vsctl(&["get", table, rec, col])
}

fn mappings(ovs: &Ovs) -> String {
    ovs.vsctl(&[
        "--if-exists",
        "get",
        "Open_vSwitch",
        ".",
        "external_ids:ovn-bridge-mappings",
    ])
    .trim_matches('"')
    .to_string()
}

#[test]
fn a_bridged_ovs_network_with_static_ip_default_route_and_dns() {
    let (h, ovs) = ovs_host();
    h.setup(no_check(json!({"mgmt": {
        "nic": "veth_a0", "switch": "ovs", "mtu": 1400,
        "ipaddr": "192.0.2.10", "prefix": 24, "gateway": "192.0.2.1",
        "defaultRoute": true, "nameservers": ["192.0.2.53"]}})));

    let brs = bridges(&ovs);
    assert_eq!(brs.len(), 1, "{brs:?}");
    let br = &brs[0];
    assert!(br.starts_with("vdsmbr_") && br.len() == 15, "{br}");
    assert_eq!(ports(&ovs, br), vec!["mgmt", "veth_a0"]);
    assert_eq!(get(&ovs, "Interface", "mgmt", "type"), "internal");
    assert_eq!(get(&ovs, "Interface", "mgmt", "mtu_request"), "1400");
    assert_eq!(get(&ovs, "Port", "mgmt", "tag"), "[]");
    assert_eq!(
        get(&ovs, "Bridge", br, "external_ids"),
        "{netswitch-southbound=\"dev:veth_a0\"}"
    );
    assert_eq!(get(&ovs, "Bridge", br, "datapath_type"), ovs.datapath);
    assert_eq!(mappings(&ovs), format!("mgmt:{br}"));

    // The kernel side: the internal port carries the IP config.
    let l = h.link("mgmt").expect("internal port mgmt");
    assert_eq!(l["mtu"], 1400);
    assert!(l["flags"].as_array().unwrap().contains(&json!("UP")), "{l}");
    assert_eq!(h.addrs("mgmt"), vec!["192.0.2.10/24"]);
    let main = h.routes("-4", "main");
    assert!(
        main.iter()
            .any(|r| r["dst"] == "default" && r["gateway"] == "192.0.2.1" && r["dev"] == "mgmt"),
        "{main:?}"
    );
    let table = u32::from(std::net::Ipv4Addr::new(192, 0, 2, 10)).to_string();
    let own = h.routes("-4", &table);
    assert!(own.iter().any(|r| r["dst"] == "default"), "{own:?}");
    let rules = h.ns.ip(&["rule", "show"]);
    assert!(rules.contains("from 192.0.2.0/24 lookup"), "{rules}");
    let resolv = std::fs::read_to_string(h.state.path().join("resolv.conf")).unwrap();
    assert!(resolv.contains("nameserver 192.0.2.53"), "{resolv}");

    // The report, in the legacy shape.
    let caps = h.caps();
    let n = &caps["networks"]["mgmt"];
    assert_eq!(n["switch"], "ovs");
    assert_eq!(n["bridged"], true);
    assert_eq!(n["iface"], "mgmt");
    assert_eq!(n["southbound"], "veth_a0");
    assert_eq!(n["ports"], json!(["veth_a0"]));
    assert_eq!(n["addr"], "192.0.2.10");
    assert_eq!(n["gateway"], "192.0.2.1");
    assert_eq!(n["ipv4defaultroute"], true);
    assert_eq!(n["mtu"], "1400");
    assert_eq!(caps["bridges"]["mgmt"]["ports"], json!(["veth_a0"]));
    assert!(caps["nics"]["veth_a0"].is_object());
    assert_eq!(caps["nameservers"], json!(["192.0.2.53"]));

    // Removed: nothing of it is left, in OVS or in the kernel.
    h.setup(no_check(json!({"mgmt": {"remove": true}})));
    assert!(bridges(&ovs).is_empty(), "{:?}", bridges(&ovs));
    assert!(h.link("mgmt").is_none());
    assert_eq!(mappings(&ovs), "");
    assert!(
        h.ns.ip(&["rule", "show"]).lines().count() == 3,
        "{}",
        h.ns.ip(&["rule", "show"])
    );
    assert!(h.routes("-4", &table).is_empty());
    assert!(h.caps()["networks"].as_object().unwrap().is_empty());
}

#[test]
fn one_bridge_per_southbound_and_tags_share_it() {
    let (h, ovs) = ovs_host();
    h.setup(no_check(json!({
        // Two untagged networks on two nics: two bridges.
        "a": {"nic": "veth_a0", "switch": "ovs"},
        "b": {"nic": "veth_b0", "switch": "ovs"},
        // The same tag on both nics: on the two bridges again.
        "a10": {"nic": "veth_a0", "vlan": 10, "switch": "ovs", "mtu": 9000},
        "b10": {"nic": "veth_b0", "vlan": 10, "switch": "ovs"},
    })));
    let brs = bridges(&ovs);
    assert_eq!(brs.len(), 2, "{brs:?}");
    let br_a = ovs.vsctl(&["port-to-br", "a"]);
    let br_b = ovs.vsctl(&["port-to-br", "b"]);
    assert_ne!(br_a, br_b);
    assert_eq!(ports(&ovs, &br_a), vec!["a", "a10", "veth_a0"]);
    assert_eq!(ports(&ovs, &br_b), vec!["b", "b10", "veth_b0"]);
    assert_eq!(get(&ovs, "Port", "a10", "tag"), "10");
    assert_eq!(get(&ovs, "Port", "b10", "tag"), "10");
    // The southbound takes the max of its networks' MTUs; each port its own.
    assert_eq!(h.link("veth_a0").unwrap()["mtu"], 9000);
    assert_eq!(h.link("veth_b0").unwrap()["mtu"], 1500);
    assert_eq!(h.link("a10").unwrap()["mtu"], 9000);
    assert_eq!(h.link("a").unwrap()["mtu"], 1500);
    // Fake VLAN entries in the report.
    let caps = h.caps();
    assert_eq!(caps["vlans"]["veth_a0.10"]["iface"], "veth_a0");
    assert_eq!(caps["vlans"]["veth_a0.10"]["vlanid"], 10);
    assert_eq!(caps["networks"]["a10"]["southbound"], "veth_a0.10");
    assert_eq!(caps["networks"]["a10"]["ports"], json!(["veth_a0.10"]));
    assert_eq!(mappings(&ovs).split(',').count(), 4, "{}", mappings(&ovs));

    // A re-tag, an MTU drop and a move to the other nic, in one request;
    // the moved network keeps its address.
    h.setup(no_check(json!({
        "a10": {"nic": "veth_a0", "vlan": 11, "switch": "ovs"},
        "b10": {"nic": "veth_a0", "vlan": 12, "switch": "ovs", "ipaddr": "198.51.100.2", "prefix": 24},
        "b": {"remove": true},
    })));
    assert_eq!(bridges(&ovs), {
        let mut v = vec![br_a.clone()];
        v.sort();
        v
    });
    assert_eq!(ports(&ovs, &br_a), vec!["a", "a10", "b10", "veth_a0"]);
    assert_eq!(get(&ovs, "Port", "a10", "tag"), "11");
    assert_eq!(h.link("veth_a0").unwrap()["mtu"], 1500);
    assert_eq!(h.addrs("b10"), vec!["198.51.100.2/24"]);
    assert_eq!(get(&ovs, "Port", "b10", "tag"), "12");
    // veth_b0 left OVS: no bridge, default MTU.
    assert_eq!(h.link("veth_b0").unwrap()["mtu"], 1500);

    // Nothing left to do: a no-op request plans nothing.
    let (code, out, err) = h.netswitch(
        &["--json", "setup", "--dry-run", "-"],
        Some(&no_check(json!({"a": {"nic": "veth_a0", "switch": "ovs"}}))),
    );
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["plan"]["ops"], json!([]), "{plan}");
}

#[test]
fn bridgeless_and_nicless_ovs_networks_report_in_the_legacy_shape() {
    let (h, ovs) = ovs_host();
    h.setup(no_check(json!({
        "data": {"nic": "veth_a0", "vlan": 20, "bridged": false, "switch": "ovs",
                 "ipaddr": "203.0.113.5", "prefix": 25},
        "flat": {"nic": "veth_b0", "bridged": false, "switch": "ovs",
                 "ipv6addr": "2001:db8::5/64"},
        "island": {"switch": "ovs", "ipaddr": "10.77.0.1", "prefix": 24},
    })));
    // Three bridges: two southbounds and the nicless one.
    assert_eq!(bridges(&ovs).len(), 3);
    let island_br = ovs.vsctl(&["port-to-br", "island"]);
    assert_eq!(ports(&ovs, &island_br), vec!["island"]);
    assert_eq!(
        get(&ovs, "Bridge", &island_br, "external_ids"),
        "{netswitch-southbound=\"net:island\"}"
    );
    assert_eq!(h.addrs("data"), vec!["203.0.113.5/25"]);
    assert_eq!(h.addrs("island"), vec!["10.77.0.1/24"]);

    let caps = h.caps();
    let data = &caps["networks"]["data"];
    assert_eq!(data["bridged"], false);
    assert_eq!(data["iface"], "veth_a0.20");
    assert_eq!(data["interface"], "veth_a0.20");
    assert_eq!(data["addr"], "203.0.113.5");
    // The IP block sits on the fake VLAN entry.
    assert_eq!(caps["vlans"]["veth_a0.20"]["addr"], "203.0.113.5");
    assert_eq!(caps["vlans"]["veth_a0.20"]["netmask"], "255.255.255.128");
    // Untagged bridgeless: on the nic entry.
    assert_eq!(caps["networks"]["flat"]["iface"], "veth_b0");
    assert_eq!(
        caps["nics"]["veth_b0"]["ipv6addrs"],
        json!(["2001:db8::5/64"])
    );
    assert!(caps["bridges"].get("data").is_none());
    let island = &caps["networks"]["island"];
    assert_eq!(island["bridged"], true);
    assert_eq!(island["southbound"], "");
    assert_eq!(island["ports"], json!([]));
    assert_eq!(island["addr"], "10.77.0.1");
}

#[test]
fn two_gateways_on_ovs_networks_work_at_once_through_source_routing() {
    let (h, _ovs) = ovs_host();
    h.setup(no_check(json!({
        "a": {"nic": "veth_a0", "switch": "ovs", "ipaddr": "192.0.2.10", "prefix": 24,
              "gateway": "192.0.2.1", "defaultRoute": true,
              "ipv6addr": "2001:db8:a::10/64", "ipv6gateway": "2001:db8:a::1"},
        "b": {"nic": "veth_b0", "switch": "ovs", "ipaddr": "198.51.100.10", "prefix": 24,
              "gateway": "198.51.100.1"},
    })));
    for (src, gw, dev) in [
        ("192.0.2.10", "192.0.2.1", "a"),
        ("198.51.100.10", "198.51.100.1", "b"),
    ] {
        let r = h.ns.ip(&["-j", "route", "get", "8.8.8.8", "from", src]);
        let r: Value = serde_json::from_str(&r).unwrap();
        assert_eq!(r[0]["gateway"], gw, "{r}");
        assert_eq!(r[0]["dev"], dev, "{r}");
    }
    let r = h.ns.ip(&[
        "-j",
        "-6",
        "route",
        "get",
        "2001:4860::1",
        "from",
        "2001:db8:a::10",
    ]);
    let r: Value = serde_json::from_str(&r).unwrap();
    assert_eq!(r[0]["gateway"], "2001:db8:a::1", "{r}");
    let caps = h.caps();
    assert_eq!(caps["networks"]["b"]["gateway"], "198.51.100.1");
    assert_eq!(caps["networks"]["b"]["ipv4defaultroute"], false);
    assert_eq!(caps["networks"]["a"]["ipv6gateway"], "2001:db8:a::1");
}

#[test]
fn a_failure_at_each_op_of_an_ovs_plan_leaves_no_trace() {
    let (h, ovs) = ovs_host();
    // Something running to keep: a network and a foreign mapping.
    ovs.vsctl(&[
        "set",
        "Open_vSwitch",
        ".",
        "external_ids:ovn-bridge-mappings=phys:br-ext",
    ]);
    h.setup(no_check(json!({"keep": {"nic": "veth_b0", "switch": "ovs",
        "ipaddr": "198.51.100.10", "prefix": 24, "gateway": "198.51.100.1"}})));
    let req = no_check(json!({
        "new": {"nic": "veth_a0", "vlan": 30, "switch": "ovs", "ipaddr": "192.0.2.10",
                "prefix": 24, "gateway": "192.0.2.1", "defaultRoute": true,
                "nameservers": ["192.0.2.53"]},
        "keep": {"nic": "veth_b0", "switch": "ovs", "mtu": 2000,
                 "ipaddr": "198.51.100.11", "prefix": 24, "gateway": "198.51.100.1"},
    }));
    let (_, out, _) = h.netswitch(&["--json", "setup", "--dry-run", "-"], Some(&req));
    let plan: Value = serde_json::from_str(&out).unwrap();
    let n = plan["plan"]["ops"].as_array().unwrap().len();
    assert!(n > 8, "{plan}");
    let facts = h.facts();
    let running = h.running();
    let ovs_before = ovs
        .vsctl(&["show"])
        .lines()
        .filter(|l| !l.contains("ovs_version"))
        .collect::<Vec<_>>()
        .join("\n");
    let map_before = mappings(&ovs);
    assert_eq!(map_before.split(',').next(), Some("phys:br-ext"));
    for i in 0..n {
        let at = i.to_string();
        let (code, err) = h.setup_code(&req, &["--inject-failure-at", &at]);
        assert_eq!(code, 29, "at {i}: {err}");
        assert!(err.contains("rolled back"), "at {i}: {err}");
        assert!(!err.contains("incompletely"), "at {i}: {err}");
        assert_eq!(h.facts(), facts, "host differs after a failure at op {i}");
        assert_eq!(h.running(), running, "running config differs at op {i}");
        let now = ovs
            .vsctl(&["show"])
            .lines()
            .filter(|l| !l.contains("ovs_version"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(now, ovs_before, "OVS differs after a failure at op {i}");
        assert_eq!(mappings(&ovs), map_before, "at op {i}");
    }
    // And the whole of it goes through, keeping the foreign mapping.
    h.setup(req);
    assert!(
        mappings(&ovs).starts_with("phys:br-ext,"),
        "{}",
        mappings(&ovs)
    );
    assert_eq!(h.addrs("keep"), vec!["198.51.100.11/24"]);
}

#[test]
fn an_unreachable_ovs_database_is_code_32_and_changes_nothing() {
    let mut h = Host::new();
    h.env.push((
        "NETSWITCH_OVS_DB".into(),
        "unix:/nonexistent/db.sock".into(),
    ));
    let facts = h.facts();
    let (code, err) = h.setup_code(
        &no_check(json!({"n": {"nic": "veth_a0", "switch": "ovs"}})),
        &[],
    );
    assert_eq!(code, 32, "{err}");
    assert!(err.contains("/nonexistent/db.sock"), "{err}");
    assert_eq!(h.facts(), facts);
    // A legacy request never needs the database.
    h.setup(no_check(json!({"n": {"nic": "veth_a0"}})));
}

#[test]
fn switch_change_both_ways_with_a_static_ip_and_rollbacks() {
    let (h, ovs) = ovs_host();
    let net = |switch: &str, ip: &str| {
        json!({"mgmt": {"nic": "veth_a0", "switch": switch, "ipaddr": ip,
               "prefix": 24, "gateway": "192.0.2.1", "defaultRoute": true},
               "data": {"nic": "veth_b0", "bridged": false, "switch": switch,
               "ipaddr": "198.51.100.10", "prefix": 24}})
    };
    h.setup(no_check(net("legacy", "192.0.2.10")));
    let legacy_facts = h.facts();
    assert_eq!(h.link("mgmt").unwrap()["linkinfo"]["info_kind"], "bridge");

    // Not all running networks in the request: 21, nothing changes.
    let (code, err) = h.setup_code(
        &no_check(json!({"mgmt": net("ovs", "192.0.2.10")["mgmt"]})),
        &[],
    );
    assert_eq!(code, 21, "{err}");
    // The target has a bad address: 22, the source intact.
    let mut bad = net("ovs", "192.0.2.10");
    bad["mgmt"]["gateway"] = json!("300.1.1.1");
    let (code, err) = h.setup_code(&no_check(bad), &[]);
    assert_eq!(code, 22, "{err}");
    assert_eq!(h.facts(), legacy_facts);
    // No confirmation in time: 10, the source intact.
    let (code, err) = h.setup_code(
        &no_check(net("ovs", "192.0.2.10")),
        &["--confirm-within", "0.5"],
    );
    assert_eq!(code, 10, "{err}");
    assert!(!err.contains("incompletely"), "{err}");
    assert_eq!(h.facts(), legacy_facts);
    assert!(bridges(&ovs).is_empty());

    // legacy -> ovs.
    h.setup(no_check(net("ovs", "192.0.2.10")));
    assert_eq!(bridges(&ovs).len(), 2);
    assert_eq!(get(&ovs, "Port", "mgmt", "tag"), "[]");
    assert_eq!(h.addrs("mgmt"), vec!["192.0.2.10/24"]);
    assert_eq!(h.addrs("data"), vec!["198.51.100.10/24"]);
    assert!(h.addrs("veth_b0").is_empty());
    let caps = h.caps();
    assert_eq!(caps["networks"]["mgmt"]["switch"], "ovs");
    assert_eq!(caps["networks"]["mgmt"]["gateway"], "192.0.2.1");

    // ovs -> legacy, and the host is as it was.
    h.setup(no_check(net("legacy", "192.0.2.10")));
    assert!(bridges(&ovs).is_empty());
    assert_eq!(h.link("mgmt").unwrap()["linkinfo"]["info_kind"], "bridge");
    assert_eq!(h.facts(), legacy_facts);
}
