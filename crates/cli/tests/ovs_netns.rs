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
    let out = ovs.vsctl(&["get", "Open_vSwitch", ".", "external_ids"]);
    let v = out.split("ovn-bridge-mappings=").nth(1).map(|r| {
        r.split(['}', ','])
            .next()
            .unwrap_or("")
            .trim_matches('"')
            .to_string()
    });
    v.unwrap_or_default()
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
