//! Plans applied in fresh network namespaces on this machine's kernel, read
//! back with `ip -j` the way an operator would check them.

use std::collections::BTreeMap;

use netswitch_kernel::{apply, apply_with, Applied, ApplyOptions};
use netswitch_model::plan::{KernelOp, RouteSpec, RuleSpec};
use netswitch_testkit::Netns;
use serde_json::Value;

const TABLE: u32 = 3221225994;

/// Snapshots the namespace and applies `ops` inside it.
fn apply_in(ns: &Netns, ops: &[KernelOp]) -> Applied {
    ns.run(|| apply(&netswitch_netinfo::snapshot().expect("snapshot"), ops))
}

/// [`apply_in`] with batch limits.
fn apply_in_with(ns: &Netns, ops: &[KernelOp], options: &ApplyOptions) -> Applied {
    ns.run(|| {
        apply_with(
            &netswitch_netinfo::snapshot().expect("snapshot"),
            ops,
            options,
        )
    })
}

fn link(ns: &Netns, name: &str) -> Option<Value> {
    let all = ns.ip_json(&["-d", "link", "show"]);
    all.as_array()?
        .iter()
        .find(|l| l["ifname"] == name)
        .cloned()
}

fn link_names(ns: &Netns) -> Vec<String> {
    ns.ip_json(&["link", "show"])
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["ifname"].as_str().unwrap().to_string())
        .collect()
}

/// `addr/prefix` of every global address on `dev`.
fn addrs(ns: &Netns, dev: &str) -> Vec<String> {
    let all = ns.ip_json(&["addr", "show", "dev", dev]);
    let mut out: Vec<String> = all[0]["addr_info"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|i| i["scope"] == "global")
                .map(|i| format!("{}/{}", i["local"].as_str().unwrap(), i["prefixlen"]))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Routes of every table except `local`, as `ip route` would print the
/// interesting parts: `table dst via gw dev proto scope src`.
fn routes(ns: &Netns) -> Vec<String> {
    let mut out = Vec::new();
    for fam in ["-4", "-6"] {
        for r in ns
            .ip_json(&[fam, "route", "show", "table", "all"])
            .as_array()
            .unwrap()
        {
            let table = r["table"].as_str().unwrap_or("main");
            if table == "local" || r["dst"].as_str().is_some_and(|d| d.starts_with("fe80")) {
                continue;
            }
            if r["type"].as_str().is_some_and(|t| t != "unicast") {
                continue; // multicast and the like, the kernel's own
            }
            let mut s = format!("{table} {}", r["dst"].as_str().unwrap());
            if let Some(gw) = r["gateway"].as_str() {
                s.push_str(&format!(" via {gw}"));
            }
            s.push_str(&format!(" dev {}", r["dev"].as_str().unwrap_or("?")));
            s.push_str(&format!(" proto {}", r["protocol"].as_str().unwrap_or("?")));
            if let Some(scope) = r["scope"].as_str() {
                s.push_str(&format!(" scope {scope}"));
            }
            if let Some(src) = r["prefsrc"].as_str() {
                s.push_str(&format!(" src {src}"));
            }
            out.push(s);
        }
    }
    out.sort();
    out
}

/// Rules as `prio from to iif table`.
fn rules(ns: &Netns) -> Vec<String> {
    let mut out = Vec::new();
    for fam in ["-4", "-6"] {
        for r in ns.ip_json(&[fam, "rule", "show"]).as_array().unwrap() {
            let mut s = format!(
                "{fam} {} from {}",
                r["priority"],
                r["src"].as_str().unwrap()
            );
            if let Some(len) = r["srclen"].as_u64() {
                s.push_str(&format!("/{len}"));
            }
            if let Some(dst) = r["dst"].as_str() {
                s.push_str(&format!(" to {dst}/{}", r["dstlen"]));
            }
            if let Some(iif) = r["iif"].as_str() {
                s.push_str(&format!(" iif {iif}"));
            }
            s.push_str(&format!(" lookup {}", r["table"].as_str().unwrap()));
            out.push(s);
        }
    }
    out.sort();
    out
}

fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn bridge(name: &str, mtu: u32, stp: bool, options: &[(&str, &str)]) -> KernelOp {
    KernelOp::CreateBridge {
        name: name.into(),
        mtu,
        stp,
        options: opts(options),
    }
}

fn set_master(link: &str, master: &str) -> KernelOp {
    KernelOp::SetMaster {
        link: link.into(),
        master: master.into(),
    }
}

fn up(link: &str) -> KernelOp {
    KernelOp::SetUp { link: link.into() }
}

fn add_addr(link: &str, addr: &str) -> KernelOp {
    KernelOp::AddAddr {
        link: link.into(),
        addr: addr.parse().unwrap(),
    }
}

fn del_addr(link: &str, addr: &str) -> KernelOp {
    KernelOp::DelAddr {
        link: link.into(),
        addr: addr.parse().unwrap(),
    }
}

fn route(
    table: u32,
    dst: &str,
    gw: Option<&str>,
    dev: &str,
    src: Option<&str>,
    scope: &str,
) -> RouteSpec {
    RouteSpec {
        table,
        dst: dst.parse().unwrap(),
        gateway: gw.map(|g| g.parse().unwrap()),
        dev: dev.into(),
        prefsrc: src.map(|s| s.parse().unwrap()),
        scope: scope.into(),
    }
}

fn rule(prio: u32, src: Option<&str>, dst: Option<&str>, iif: Option<&str>) -> RuleSpec {
    RuleSpec {
        priority: prio,
        table: TABLE,
        src: src.map(|s| s.parse().unwrap()),
        dst: dst.map(|s| s.parse().unwrap()),
        iif: iif.map(str::to_string),
    }
}

/// What a source-routed network needs, as the legacy planner emits it.
fn build_plan() -> Vec<KernelOp> {
    vec![
        KernelOp::SetMtu {
            link: "veth_a0".into(),
            mtu: 9000,
        },
        KernelOp::SetMtu {
            link: "veth_b0".into(),
            mtu: 9000,
        },
        bridge("br_one", 9000, true, &[("forward_delay", "400")]),
        bridge(
            "br_two",
            9000,
            true,
            &[("forward_delay", "500"), ("multicast_snooping", "0")],
        ),
        set_master("veth_a0", "br_one"),
        set_master("veth_b0", "br_two"),
        up("br_one"),
        up("br_two"),
        add_addr("br_one", "192.0.2.10/24"),
        add_addr("br_one", "2001:db8:1::10/64"),
        add_addr("br_two", "198.51.100.10/24"),
        KernelOp::AddRoute(route(
            254,
            "0.0.0.0/0",
            Some("192.0.2.1"),
            "br_one",
            None,
            "universe",
        )),
        KernelOp::AddRoute(route(
            TABLE,
            "198.51.100.0/24",
            None,
            "br_two",
            Some("198.51.100.10"),
            "link",
        )),
        KernelOp::AddRoute(route(
            TABLE,
            "0.0.0.0/0",
            Some("198.51.100.1"),
            "br_two",
            None,
            "universe",
        )),
        KernelOp::AddRule(rule(32000, Some("198.51.100.0/24"), None, None)),
        KernelOp::AddRule(rule(32000, None, Some("198.51.100.0/24"), Some("br_two"))),
    ]
}

/// The inverse of [`build_plan`], in teardown order.
fn teardown_plan() -> Vec<KernelOp> {
    vec![
        KernelOp::DelRule(rule(32000, Some("198.51.100.0/24"), None, None)),
        KernelOp::DelRule(rule(32000, None, Some("198.51.100.0/24"), Some("br_two"))),
        KernelOp::DelRoute(route(
            TABLE,
            "0.0.0.0/0",
            Some("198.51.100.1"),
            "br_two",
            None,
            "universe",
        )),
        KernelOp::DelRoute(route(
            TABLE,
            "198.51.100.0/24",
            None,
            "br_two",
            Some("198.51.100.10"),
            "link",
        )),
        KernelOp::DelRoute(route(
            254,
            "0.0.0.0/0",
            Some("192.0.2.1"),
            "br_one",
            None,
            "universe",
        )),
        del_addr("br_one", "192.0.2.10/24"),
        del_addr("br_one", "2001:db8:1::10/64"),
        del_addr("br_two", "198.51.100.10/24"),
        KernelOp::ReleaseMaster {
            link: "veth_a0".into(),
        },
        KernelOp::ReleaseMaster {
            link: "veth_b0".into(),
        },
        KernelOp::DeleteLink {
            name: "br_one".into(),
        },
        KernelOp::DeleteLink {
            name: "br_two".into(),
        },
        KernelOp::SetMtu {
            link: "veth_a0".into(),
            mtu: 1500,
        },
        KernelOp::SetMtu {
            link: "veth_b0".into(),
            mtu: 1500,
        },
    ]
}

fn two_veths() -> Netns {
    let ns = Netns::new();
    ns.veth("veth_a0", "veth_a1");
    ns.veth("veth_b0", "veth_b1");
    ns
}

#[test]
fn two_source_routed_bridges_are_built_in_one_sendmsg_and_torn_down_in_another() {
    let ns = two_veths();
    let rules_before = rules(&ns);
    let routes_before = routes(&ns);

    let ops = build_plan();
    let applied = apply_in(&ns, &ops);
    assert_eq!(applied.failure, None);
    assert_eq!(applied.done, (0..ops.len()).collect::<Vec<_>>());
    eprintln!("build: {} ops, {:?}", ops.len(), applied.stats);
    assert_eq!(applied.stats.sendmsg_calls, 1, "one plan, one sendmsg");
    assert_eq!(applied.stats.messages, ops.len());

    for (br, port, fd) in [("br_one", "veth_a0", 400), ("br_two", "veth_b0", 500)] {
        let l = link(&ns, br).unwrap_or_else(|| panic!("{br} missing"));
        assert_eq!(l["mtu"], 9000, "{br}: {l}");
        assert_eq!(l["linkinfo"]["info_kind"], "bridge");
        assert_eq!(l["linkinfo"]["info_data"]["stp_state"], 1);
        assert_eq!(l["linkinfo"]["info_data"]["forward_delay"], fd);
        assert!(
            l["flags"].as_array().unwrap().iter().any(|f| f == "UP"),
            "{br} is not up: {l}"
        );
        let p = link(&ns, port).unwrap();
        assert_eq!(p["master"], br);
        assert_eq!(p["mtu"], 9000);
    }
    assert_eq!(
        link(&ns, "br_two").unwrap()["linkinfo"]["info_data"]["mcast_snooping"],
        0
    );
    assert_eq!(
        link(&ns, "br_one").unwrap()["linkinfo"]["info_data"]["mcast_snooping"],
        1
    );
    assert_eq!(
        addrs(&ns, "br_one"),
        vec!["192.0.2.10/24", "2001:db8:1::10/64"]
    );
    assert_eq!(addrs(&ns, "br_two"), vec!["198.51.100.10/24"]);
    let br_one_v4 = ns.ip_json(&["-4", "addr", "show", "dev", "br_one"]);
    assert_eq!(br_one_v4[0]["addr_info"][0]["broadcast"], "192.0.2.255");

    let r = routes(&ns);
    for want in [
        "main default via 192.0.2.1 dev br_one proto static".to_string(),
        format!("{TABLE} 198.51.100.0/24 dev br_two proto static scope link src 198.51.100.10"),
        format!("{TABLE} default via 198.51.100.1 dev br_two proto static"),
    ] {
        assert!(r.contains(&want), "{want:?} not among {r:#?}");
    }
    let ru = rules(&ns);
    for want in [
        format!("-4 32000 from 198.51.100.0/24 lookup {TABLE}"),
        format!("-4 32000 from all to 198.51.100.0/24 iif br_two lookup {TABLE}"),
    ] {
        assert!(ru.contains(&want), "{want:?} not among {ru:#?}");
    }
    assert_eq!(ru.len(), rules_before.len() + 2, "{ru:#?}");

    let ops = teardown_plan();
    let applied = apply_in(&ns, &ops);
    assert_eq!(applied.failure, None);
    assert_eq!(applied.done.len(), ops.len());
    assert_eq!(applied.stats.sendmsg_calls, 1);
    let names = link_names(&ns);
    assert!(!names.iter().any(|n| n.starts_with("br_")), "{names:?}");
    for port in ["veth_a0", "veth_b0"] {
        let p = link(&ns, port).unwrap();
        assert_eq!(p.get("master"), None, "{p}");
        assert_eq!(p["mtu"], 1500);
    }
    assert_eq!(rules(&ns), rules_before);
    assert_eq!(routes(&ns), routes_before);
}

#[test]
fn a_failing_op_reports_its_index_and_the_rest_of_its_sendmsg_still_runs() {
    let ns = two_veths();
    let ops = vec![
        bridge("br_x", 1500, false, &[]),
        up("br_x"),
        add_addr("br_x", "192.0.2.10/24"),
        // No route to 203.0.113.1 from br_x: the kernel refuses.
        KernelOp::AddRoute(route(
            254,
            "0.0.0.0/0",
            Some("203.0.113.1"),
            "br_x",
            None,
            "universe",
        )),
        add_addr("br_x", "10.1.0.1/24"),
    ];
    let applied = apply_in(&ns, &ops);
    let f = applied.failure.expect("the route must fail");
    assert_eq!(f.index, 3);
    assert_eq!(f.op, ops[3].clone().into());
    assert_eq!(f.errno, libc::ENETUNREACH);
    assert!(
        f.message
            .starts_with("add route default via 203.0.113.1 dev br_x table 254: "),
        "{}",
        f.message
    );
    // The kernel's extended ack says why.
    assert!(f.message.contains("kernel: "), "{}", f.message);
    eprintln!("{}", f.message);
    // KernelOp 4 went out in the same sendmsg, and the kernel did it.
    assert_eq!(applied.done, vec![0, 1, 2, 4]);
    assert_eq!(applied.stats.sendmsg_calls, 1);
    assert_eq!(addrs(&ns, "br_x"), vec!["10.1.0.1/24", "192.0.2.10/24"]);
}

#[test]
fn nothing_after_the_failing_sendmsg_is_sent() {
    let ns = two_veths();
    let ops = vec![
        bridge("br_a", 1500, false, &[]),
        up("br_a"),
        // Batch 2: a bridge whose name a veth has, then one that is fine.
        bridge("veth_a1", 1500, false, &[]),
        bridge("br_c", 1500, false, &[]),
        // Batch 3: never sent.
        bridge("br_d", 1500, false, &[]),
        up("br_d"),
    ];
    let applied = apply_in_with(
        &ns,
        &ops,
        &ApplyOptions {
            max_batch_messages: Some(2),
            ..ApplyOptions::default()
        },
    );
    let f = applied.failure.expect("the duplicate name must fail");
    assert_eq!(f.index, 2);
    assert_eq!(f.errno, libc::EEXIST);
    assert!(
        f.message
            .starts_with("create bridge veth_a1 mtu 1500 stp off: File exists"),
        "{}",
        f.message
    );
    assert_eq!(applied.done, vec![0, 1, 3]);
    assert_eq!(applied.stats.sendmsg_calls, 2);
    assert_eq!(applied.stats.messages, 4);
    let names = link_names(&ns);
    assert!(names.contains(&"br_a".to_string()) && names.contains(&"br_c".to_string()));
    assert!(!names.contains(&"br_d".to_string()), "{names:?}");
    // veth_a1 is still the veth it was.
    assert_eq!(
        link(&ns, "veth_a1").unwrap()["linkinfo"]["info_kind"],
        "veth"
    );
}

#[test]
fn an_op_naming_an_unknown_device_fails_before_anything_is_sent() {
    let ns = two_veths();
    let before = link_names(&ns);
    let ops = vec![
        bridge("br_q", 1500, false, &[]),
        set_master("veth_a0", "br_q"),
        add_addr("veth_nope", "192.0.2.1/24"),
        up("br_q"),
    ];
    let applied = apply_in(&ns, &ops);
    let f = applied.failure.expect("must fail");
    assert_eq!((f.index, f.errno), (2, libc::ENODEV));
    assert!(f.message.contains("veth_nope"), "{}", f.message);
    assert!(applied.done.is_empty());
    assert_eq!(applied.stats.sendmsg_calls, 0);
    assert_eq!(link_names(&ns), before);

    // A device deleted earlier in the plan is unknown afterwards too.
    let ops = vec![
        KernelOp::DeleteLink {
            name: "veth_b0".into(),
        },
        up("veth_b0"),
    ];
    let f = apply_in(&ns, &ops).failure.expect("must fail");
    assert_eq!((f.index, f.errno), (1, libc::ENODEV));
    assert_eq!(link_names(&ns), before);
}

#[test]
fn an_unknown_bridge_option_is_named_and_nothing_is_sent() {
    let ns = two_veths();
    let ops = vec![
        bridge("br_ok", 1500, false, &[]),
        bridge(
            "br_bad",
            1500,
            false,
            &[("forward_delay", "400"), ("no_such_option", "1")],
        ),
    ];
    let applied = apply_in(&ns, &ops);
    let f = applied.failure.expect("must fail");
    assert_eq!((f.index, f.errno), (1, libc::EINVAL));
    assert!(f.message.contains("no_such_option"), "{}", f.message);
    assert!(!link_names(&ns).contains(&"br_ok".to_string()));
}

#[test]
fn bridge_options_change_on_an_existing_bridge() {
    let ns = two_veths();
    let applied = apply_in(&ns, &[bridge("br_o", 1500, false, &[])]);
    assert!(applied.is_complete(), "{:?}", applied.failure);
    let ops = vec![KernelOp::SetBridgeOptions {
        name: "br_o".into(),
        stp: true,
        options: opts(&[
            ("forward_delay", "300"),
            ("group_fwd_mask", "0x4000"),
            ("ageing_time", "12000"),
            ("multicast_router", "2"),
            // (vlan_filtering: this machine's kernel has no
            // CONFIG_BRIDGE_VLAN_FILTERING; the lab test sets it.)
            ("priority", "4096"),
        ]),
    }];
    let applied = apply_in(&ns, &ops);
    assert!(applied.is_complete(), "{:?}", applied.failure);
    let d = &link(&ns, "br_o").unwrap()["linkinfo"]["info_data"];
    assert_eq!(d["stp_state"], 1);
    assert_eq!(d["forward_delay"], 300);
    assert_eq!(d["group_fwd_mask"], "0x4000");
    assert_eq!(d["ageing_time"], 12000);
    assert_eq!(d["mcast_router"], 2);
    assert_eq!(d["priority"], 4096);
    assert_eq!(
        ns.sysfs("br_o/bridge/forward_delay").as_deref(),
        Some("300")
    );
}

#[test]
fn mac_mtu_down_and_ipv6_rules_apply() {
    let ns = two_veths();
    let ops = vec![
        KernelOp::SetMac {
            link: "veth_a0".into(),
            mac: "02:00:00:00:01:AA".into(),
        },
        KernelOp::SetMtu {
            link: "veth_a0".into(),
            mtu: 4000,
        },
        KernelOp::SetDown {
            link: "veth_a0".into(),
        },
        KernelOp::AddRule(RuleSpec {
            priority: 31000,
            table: 200,
            src: Some("2001:db8:5::/64".parse().unwrap()),
            dst: None,
            iif: None,
        }),
    ];
    let applied = apply_in(&ns, &ops);
    assert!(applied.is_complete(), "{:?}", applied.failure);
    let l = link(&ns, "veth_a0").unwrap();
    assert_eq!(l["address"], "02:00:00:00:01:aa");
    assert_eq!(l["mtu"], 4000);
    assert!(
        !l["flags"].as_array().unwrap().iter().any(|f| f == "UP"),
        "{l}"
    );
    assert!(
        rules(&ns).contains(&"-6 31000 from 2001:db8:5::/64 lookup 200".to_string()),
        "{:#?}",
        rules(&ns)
    );
    // The same rule again is a duplicate: NLM_F_EXCL makes it an error.
    let f = apply_in(&ns, &ops[3..]).failure.expect("duplicate rule");
    assert_eq!(f.errno, libc::EEXIST);
}

#[test]
fn a_thousand_ops_take_one_sendmsg_and_one_recvmmsg() {
    let ns = Netns::new();
    let mut ops = Vec::new();
    for i in 0..250 {
        let name = format!("br_k{i}");
        ops.push(bridge(&name, 1500, false, &[]));
        ops.push(up(&name));
        ops.push(add_addr(&name, &format!("10.{}.{}.1/24", i / 200, i % 200)));
        ops.push(add_addr(&name, &format!("2001:db8:{i:x}::1/64")));
    }
    let applied = apply_in(&ns, &ops);
    assert!(applied.is_complete(), "{:?}", applied.failure);
    assert_eq!(applied.done.len(), 1000);
    eprintln!("1000 ops: {:?}", applied.stats);
    assert_eq!(applied.stats.sendmsg_calls, 1);
    assert!(applied.stats.recv_calls <= 2, "{:?}", applied.stats);
    let bridges = ns.ip_json(&["link", "show", "type", "bridge"]);
    assert_eq!(bridges.as_array().unwrap().len(), 250);
    assert_eq!(
        addrs(&ns, "br_k249"),
        vec!["10.1.49.1/24", "2001:db8:f9::1/64"]
    );
}
