//! Host QoS end to end in the kernel lab (hfsc, fq_codel, cls_basic, bonds
//! and VLANs are not in the machine's own kernel): the tc tree read back
//! by a netlink dump after each step, caps, refusals, rollback at a tc op,
//! restore after the tree is wiped, and the rate actually enforced on a
//! UDP flood to a peer namespace.

mod common;

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::Host;
use netswitch_model::tc::{Handle, ServiceCurve, TcTree};
use netswitch_testkit::Netns;
use serde_json::{json, Value};

/// The tc objects of `dev` in the host's namespace, by netlink dump.
fn tree(h: &Host, dev: &str) -> TcTree {
    let dev = dev.to_string();
    h.ns.run(move || {
        let c = std::ffi::CString::new(dev.clone()).unwrap();
        // SAFETY: a NUL-terminated name living through the call.
        let ix = unsafe { libc::if_nametoindex(c.as_ptr()) } as i32;
        let devs = BTreeMap::from([(dev.clone(), ix)]);
        netswitch_tc::dump(&devs)
            .unwrap()
            .remove(&dev)
            .unwrap_or_default()
    })
}

/// The class `1389:<minor>`'s link-share and upper-limit m2, in bit/s.
fn curves(t: &TcTree, minor: u16) -> Option<(u64, Option<u64>)> {
    let c = t.class(Handle::new(0x1389, minor))?;
    let bits = |sc: Option<ServiceCurve>| sc.map(|s| u64::from(s.m2) * 8);
    Some((bits(c.ls)?, bits(c.ul)))
}

fn has_vlan_filter(t: &TcTree, tag: u16) -> bool {
    t.filter(Handle::new(0x1389, 0), tag)
        .is_some_and(|f| f.flowid == Handle::new(0x1389, tag))
}

/// `tc`'s own view: the kinds of qdisc on the device.
fn tc_qdiscs(h: &Host, dev: &str) -> String {
    h.ns.exec(&["tc", "qdisc", "show", "dev", dev])
}

fn qos(ls: u64, ul: u64) -> Value {
    json!({"out": {"ls": {"m2": ls}, "ul": {"m2": ul}}})
}

/// A peer namespace at the end of `veth_q0` (a fake nic of the host),
/// answering on VLAN 10 at 10.77.0.2.
fn peer(h: &Host) -> Netns {
    let p = Netns::new();
    h.ns.ip(&[
        "link",
        "add",
        "veth_q0",
        "type",
        "veth",
        "peer",
        "name",
        "veth_p0",
        "netns",
        p.name(),
    ]);
    h.ns.ip(&["link", "set", "veth_q0", "up"]);
    p.ip(&["link", "set", "veth_p0", "up"]);
    p.ip(&[
        "link",
        "add",
        "link",
        "veth_p0",
        "name",
        "veth_p0.10",
        "type",
        "vlan",
        "id",
        "10",
    ]);
    p.ip(&["addr", "add", "10.77.0.2/24", "dev", "veth_p0.10"]);
    p.ip(&["link", "set", "veth_p0.10", "up"]);
    p
}

/// Floods 10.77.0.2 with UDP for `secs` from the host's namespace; the
/// rate the peer received, in bit/s (its veth's rx bytes over the time).
fn flood_rate(h: &Host, p: &Netns, secs: u64) -> f64 {
    let rx = || {
        p.sysfs("veth_p0/statistics/rx_bytes")
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let before = rx();
    let started = Instant::now();
    h.ns.run(move || {
        let s = UdpSocket::bind("10.77.0.1:0").unwrap();
        let buf = [0x5au8; 1200];
        let end = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < end {
            let _ = s.send_to(&buf, "10.77.0.2:9");
        }
    });
    let got = rx() - before;
    got as f64 * 8.0 / started.elapsed().as_secs_f64()
}

/// The plan's 1-based index of the first op whose name starts `prefix`.
fn op_index(h: &Host, req: &Value, prefix: &str) -> usize {
    let (code, out, err) = h.netswitch(&["--json", "setup", "--dry-run", "-"], Some(req));
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    let ops = plan["plan"]["ops"].as_array().unwrap();
    1 + ops
        .iter()
        .position(|o| o["op"].as_str().is_some_and(|n| n.starts_with(prefix)))
        .unwrap_or_else(|| panic!("no {prefix} op in {ops:#?}"))
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn host_qos_on_a_nic_and_a_bond_from_add_to_remove() {
    let Some(mut h) = Host::lab() else { return };
    let p = peer(&h);
    // One request: a VLAN network on a nic (addressed, for the flood) and
    // one on a new bond.
    h.setup(json!({
        "bondings": {"bond0": {"nics": ["dummy_1", "dummy_2"], "options": "mode=1 miimon=100"}},
        "networks": {
            "nq": {"nic": "veth_q0", "vlan": 10, "bridged": false, "ipaddr": "10.77.0.1",
                   "netmask": "255.255.255.0", "hostQos": qos(2_000_000, 4_000_000)},
            "nb": {"bonding": "bond0", "vlan": 100, "hostQos": qos(8_000_000, 8_000_000)}}}));
    let t = tree(&h, "veth_q0");
    assert_eq!(curves(&t, 10), Some((2_000_000, Some(4_000_000))), "{t:#?}");
    assert_eq!(curves(&t, 0x1388), Some((2_000_000, None)), "{t:#?}");
    assert!(has_vlan_filter(&t, 10), "{t:#?}");
    let b = tree(&h, "bond0");
    assert_eq!(
        curves(&b, 100),
        Some((8_000_000, Some(8_000_000))),
        "{b:#?}"
    );
    assert!(has_vlan_filter(&b, 100), "{b:#?}");
    let shown = tc_qdiscs(&h, "veth_q0");
    for kind in [
        "qdisc hfsc 1389: root",
        "qdisc ingress ffff:",
        "qdisc fq_codel a: parent 1389:a",
    ] {
        assert!(shown.contains(kind), "{kind} not in {shown}");
    }
    let caps = h.caps();
    assert_eq!(
        caps["nics"]["veth_q0"]["qos"],
        json!([{"hostQos": qos(2_000_000, 4_000_000), "vlan": 10}])
    );
    assert_eq!(
        caps["bondings"]["bond0"]["qos"],
        json!([{"hostQos": qos(8_000_000, 8_000_000), "vlan": 100}])
    );
    assert_eq!(caps["networks"]["nq"]["hostQos"], qos(2_000_000, 4_000_000));

    // The limit holds: 4 Mbit/s upper limit, a margin for the VLAN
    // headers and the measuring.
    let rate = flood_rate(&h, &p, 3);
    eprintln!(
        "flood through ul 4 Mbit/s: {:.2} Mbit/s received",
        rate / 1e6
    );
    assert!(
        rate < 4_000_000.0 * 1.25,
        "{rate} bit/s through a 4 Mbit/s limit"
    );
    assert!(
        rate > 1_000_000.0,
        "hardly anything went through: {rate} bit/s"
    );

    // A second network on the nic, in its own request: its class only,
    // and the default class's link-share follows the largest.
    h.setup(json!({"networks": {
        "nq2": {"nic": "veth_q0", "vlan": 20, "bridged": false, "hostQos": qos(5_000_000, 6_000_000)}}}));
    let t = tree(&h, "veth_q0");
    assert_eq!(curves(&t, 10), Some((2_000_000, Some(4_000_000))));
    assert_eq!(curves(&t, 20), Some((5_000_000, Some(6_000_000))));
    assert_eq!(curves(&t, 0x1388), Some((5_000_000, None)));
    assert!(has_vlan_filter(&t, 10) && has_vlan_filter(&t, 20));

    // Bad curves: refused, nothing changed.
    let bad = json!({"networks": {
        "nq2": {"nic": "veth_q0", "vlan": 20, "bridged": false, "hostQos": qos(5_000_000, 1_000_000)}}});
    let (code, err) = h.setup_code(&bad, &[]);
    assert_eq!(code, 21, "{err}");
    assert!(
        err.contains("nq2") && err.contains("hostQos.out.ul.m2"),
        "{err}"
    );
    assert_eq!(tree(&h, "veth_q0"), t);

    // A failure injected at a tc op of an edit: the tree as it was.
    let edit = json!({"networks": {
        "nq": {"nic": "veth_q0", "vlan": 10, "bridged": false, "ipaddr": "10.77.0.1",
               "netmask": "255.255.255.0", "hostQos": qos(3_000_000, 3_000_000)},
        "nq3": {"nic": "veth_q0", "vlan": 30, "bridged": false, "hostQos": qos(1_000_000, 1_000_000)}}});
    // (At the last tc op, the filter: the class change, the new class and
    // its leaf before it are undone. One failure keeps the lab time short;
    // every op of such a plan is covered by the planner's undo test.)
    let at = op_index(&h, &edit, "tc_add_filter");
    let (code, err) = h.setup_code(&edit, &["--inject-failure-at", &at.to_string()]);
    assert_eq!(code, 29, "{err}");
    assert_eq!(tree(&h, "veth_q0"), t, "not rolled back");
    // Killed (SIGKILL) once the edit's tc ops are applied, before the save:
    // the next verb's recovery leaves no stray class or filter.
    h.env
        .push(("NETSWITCH_TEST_CRASH_AT".into(), "applied".into()));
    let (code, _, err) = h.netswitch(&["setup", "-"], Some(&edit));
    h.env.pop();
    assert_eq!(code, -1, "killed: {err}");
    assert_ne!(tree(&h, "veth_q0"), t, "the edit was applied when killed");
    h.caps();
    assert_eq!(tree(&h, "veth_q0"), t, "not recovered");
    // The edit itself: new rates as a class change.
    h.setup(edit);
    let t = tree(&h, "veth_q0");
    assert_eq!(curves(&t, 10), Some((3_000_000, Some(3_000_000))));
    assert_eq!(curves(&t, 30), Some((1_000_000, Some(1_000_000))));

    // Restore after the tree is wiped (as a reboot would): it comes back.
    let (code, _, err) = h.netswitch(&["commit"], None);
    assert_eq!(code, 0, "{err}");
    h.ns.exec(&["tc", "qdisc", "del", "dev", "veth_q0", "root"]);
    h.ns.exec(&["tc", "qdisc", "del", "dev", "veth_q0", "ingress"]);
    assert!(tree(&h, "veth_q0").is_empty());
    let (code, _, err) = h.netswitch(&["restore", "--force"], None);
    assert_eq!(code, 0, "{err}");
    let restored = tree(&h, "veth_q0");
    assert_eq!(curves(&restored, 10), curves(&t, 10));
    assert_eq!(curves(&restored, 30), curves(&t, 30));
    assert!(has_vlan_filter(&restored, 20) && has_vlan_filter(&restored, 30));

    // QoS off one network, another network removed: their classes go.
    h.setup(json!({"networks": {
        "nq2": {"nic": "veth_q0", "vlan": 20, "bridged": false},
        "nq3": {"remove": true}}}));
    let t = tree(&h, "veth_q0");
    assert!(
        curves(&t, 20).is_none() && curves(&t, 30).is_none(),
        "{t:#?}"
    );
    assert!(!has_vlan_filter(&t, 20) && !has_vlan_filter(&t, 30));
    assert_eq!(curves(&t, 0x1388), Some((3_000_000, None)));
    assert_eq!(
        h.caps()["nics"]["veth_q0"]["qos"].as_array().map(Vec::len),
        Some(1)
    );

    // The last ones: the trees go.
    h.setup(json!({"networks": {"nq": {"remove": true}, "nb": {"remove": true}}}));
    assert!(tree(&h, "veth_q0").is_empty(), "{:#?}", tree(&h, "veth_q0"));
    assert!(!tc_qdiscs(&h, "veth_q0").contains("hfsc"));
    assert!(h.caps()["nics"]["veth_q0"].get("qos").is_none());
}

/// An OVS network with QoS: the same tree on the bridge's southbound nic,
/// left alone by ovs-vswitchd across its reconfigurations (the southbound
/// port's QoS row is `linux-noop`), the same report, the rate enforced.
#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn host_qos_on_an_ovs_network() {
    if !netswitch_testkit::in_lab() {
        eprintln!("skipped: needs the kernel lab (tests/lab/run)");
        return;
    }
    let mut h = Host::empty();
    let p = peer(&h);
    let ovs = netswitch_testkit::Ovs::start(&h.ns);
    h.use_ovs(&ovs);
    h.setup(json!({"networks": {
        "nq": {"nic": "veth_q0", "vlan": 10, "bridged": false, "switch": "ovs",
               "ipaddr": "10.77.0.1", "netmask": "255.255.255.0",
               "hostQos": qos(2_000_000, 4_000_000)}}}));
    let t = tree(&h, "veth_q0");
    assert_eq!(curves(&t, 10), Some((2_000_000, Some(4_000_000))), "{t:#?}");
    assert!(has_vlan_filter(&t, 10), "{t:#?}");
    let caps = h.caps();
    assert_eq!(
        caps["nics"]["veth_q0"]["qos"],
        json!([{"hostQos": qos(2_000_000, 4_000_000), "vlan": 10}])
    );
    assert_eq!(caps["networks"]["nq"]["hostQos"], qos(2_000_000, 4_000_000));
    let rate = flood_rate(&h, &p, 3);
    eprintln!(
        "OVS flood through ul 4 Mbit/s: {:.2} Mbit/s received",
        rate / 1e6
    );
    assert!(
        rate < 4_000_000.0 * 1.25,
        "{rate} bit/s through a 4 Mbit/s limit"
    );
    assert!(
        rate > 500_000.0,
        "hardly anything went through: {rate} bit/s"
    );
    // Another OVS change (a second network on another bridge) makes
    // ovs-vswitchd reconfigure every port: the tree stays.
    h.ns.ip(&["link", "add", "dummy_1", "type", "dummy"]);
    h.setup(json!({"networks": {"other": {"nic": "dummy_1", "bridged": false, "switch": "ovs"}}}));
    assert_eq!(tree(&h, "veth_q0"), t);
    h.setup(json!({"networks": {"nq": {"remove": true}, "other": {"remove": true}}}));
    assert!(tree(&h, "veth_q0").is_empty());
}
