//! Port mirroring on the legacy switch, in the kernel lab (this machine's
//! kernel has no `prio` qdisc and no `matchall` filter): two "VM"
//! namespaces plugged into a bridged network, a third device whose peer
//! namespace counts what it receives; the tc tree read back with `tc -j`
//! after each step; a second network's traffic never copied; a second
//! target; removal down to nothing; a target that goes.

mod common;

use common::Host;
use netswitch_testkit::Netns;
use serde_json::{json, Value};

/// No IPv6 in `ns`: its solicitations would be frames no test sent.
fn quiet(ns: &Netns) {
    for key in ["all", "default"] {
        ns.exec(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{key}.disable_ipv6=1"),
        ]);
    }
}

/// A "VM" namespace with `eth0` (`ip`/24), whose peer `tap` stays in the
/// host's namespace.
fn vm(h: &Host, tap: &str, ip: Option<&str>) -> Netns {
    let vm = Netns::new();
    quiet(&vm);
    let peer = format!("{tap}p");
    h.ns.ip(&["link", "add", tap, "type", "veth", "peer", "name", &peer]);
    h.ns.ip(&["link", "set", tap, "up"]);
    h.ns.ip(&["link", "set", &peer, "netns", vm.name()]);
    vm.ip(&["link", "set", &peer, "name", "eth0"]);
    if let Some(ip) = ip {
        vm.ip(&["addr", "add", &format!("{ip}/24"), "dev", "eth0"]);
    }
    vm.ip(&["link", "set", "eth0", "up"]);
    vm
}

fn rx(ns: &Netns) -> u64 {
    let s = ns.sysfs("eth0/statistics/rx_packets").expect("rx_packets");
    s.trim().parse().expect("a number")
}

/// How many frames `cap` receives while `from` pings `ip` 20 times.
fn copies(cap: &Netns, from: &Netns, ip: &str) -> u64 {
    let before = rx(cap);
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            from.name(),
            "ping",
            "-c",
            "20",
            "-i",
            "0.2",
        ])
        .args(["-w", "90", ip])
        .output()
        .expect("ping");
    assert!(
        out.status.success(),
        "ping {ip}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    rx(cap) - before
}

fn netswitch(h: &Host, args: &[&str]) -> Value {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    let (code, out, err) = h.netswitch(&full, None);
    assert_eq!(code, 0, "{args:?}: {err}{out}");
    serde_json::from_str(&out).unwrap()
}

fn tc(h: &Host, args: &[&str]) -> Vec<Value> {
    let mut full = vec!["tc", "-j"];
    full.extend_from_slice(args);
    let out = h.ns.exec(&full);
    if out.trim().is_empty() {
        return Vec::new();
    }
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// The qdisc kinds of `dev` by parent (`root`, `ingress` as tc names them).
fn qdiscs(h: &Host, dev: &str) -> Vec<String> {
    let mut kinds: Vec<String> = tc(h, &["qdisc", "show", "dev", dev])
        .iter()
        .map(|q| q["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    kinds.sort();
    kinds
}

/// The mirred targets of the matchall filters of `dev` on `parent`.
fn targets(h: &Host, dev: &str, parent: &str) -> Vec<String> {
    let filters = tc(h, &["filter", "show", "dev", dev, "parent", parent]);
    let mut out = Vec::new();
    for f in filters.iter().filter(|f| f["kind"] == "matchall") {
        let actions = f["options"]["actions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for a in actions {
            assert_eq!(a["kind"], "mirred", "{a}");
            assert_eq!(a["mirred_action"], "mirror", "{a}");
            out.push(a["to_dev"].as_str().unwrap_or_default().to_string());
        }
    }
    out
}

/// The root qdisc's handle (`8001:` and the like).
fn root_handle(h: &Host, dev: &str) -> String {
    tc(h, &["qdisc", "show", "dev", dev])
        .iter()
        .find(|q| q["kind"] == "prio")
        .and_then(|q| q["handle"].as_str().map(str::to_string))
        .expect("a root prio qdisc")
}

fn promisc(h: &Host, dev: &str) -> bool {
    let flags = h.link(dev).unwrap()["flags"].clone();
    flags.as_array().unwrap().contains(&json!("PROMISC"))
}

fn plug(h: &Host, vm: &str, net: &str, dev: &str) {
    let id = dev.bytes().fold(0u8, |a, b| a.wrapping_add(b));
    let mac = format!("52:54:00:00:02:{id:02x}");
    netswitch(
        h,
        &[
            "vnic",
            "plug",
            "--vm",
            vm,
            "--mac",
            &mac,
            "--network",
            net,
            dev,
        ],
    );
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn legacy_mirror_copies_its_network_to_each_target_and_stops() {
    let Some(h) = Host::lab() else { return };
    quiet(&h.ns);
    h.setup(json!({"networks": {
        "vmnet": {"nic": "dummy_1"},
        "other": {"nic": "dummy_2"},
    }, "options": {"connectivityCheck": false}}));
    let vm1 = vm(&h, "tap1", Some("198.51.100.1"));
    let _vm2 = vm(&h, "tap2", Some("198.51.100.2"));
    let vm4 = vm(&h, "tap4", Some("198.51.100.4"));
    let _vm5 = vm(&h, "tap5", Some("198.51.100.5"));
    let cap = vm(&h, "tap3", None);
    let cap6 = vm(&h, "tap6", None);
    plug(&h, "vm-1", "vmnet", "tap1");
    plug(&h, "vm-2", "vmnet", "tap2");
    plug(&h, "vm-4", "other", "tap4");
    plug(&h, "vm-5", "other", "tap5");
    let before = qdiscs(&h, "vmnet");

    netswitch(&h, &["mirror", "add", "vmnet", "tap3"]);
    assert_eq!(qdiscs(&h, "vmnet"), ["ingress", "prio"]);
    assert_eq!(targets(&h, "vmnet", "ffff:"), ["tap3"]);
    assert_eq!(targets(&h, "vmnet", &root_handle(&h, "vmnet")), ["tap3"]);
    assert!(promisc(&h, "vmnet"));
    assert!(
        qdiscs(&h, "other") == before,
        "the other bridge is untouched"
    );
    // Idempotent.
    netswitch(&h, &["mirror", "add", "vmnet", "tap3"]);
    assert_eq!(targets(&h, "vmnet", "ffff:"), ["tap3"]);
    assert_eq!(
        h.caps()["networks"]["vmnet"]["portMirroring"],
        json!(["tap3"])
    );

    let n = copies(&cap, &vm1, "198.51.100.2");
    assert!(n >= 20, "the target got {n} frames of 20 pings on vmnet");
    let n = copies(&cap, &vm4, "198.51.100.5");
    assert!(n < 5, "the target got {n} frames of the other network");

    // A second target: one action per target in each filter.
    netswitch(&h, &["mirror", "add", "vmnet", "tap6"]);
    assert_eq!(targets(&h, "vmnet", "ffff:"), ["tap3", "tap6"]);
    assert_eq!(
        targets(&h, "vmnet", &root_handle(&h, "vmnet")),
        ["tap3", "tap6"]
    );
    let n = copies(&cap6, &vm1, "198.51.100.2");
    assert!(n >= 20, "the second target got {n} frames");

    netswitch(&h, &["mirror", "remove", "vmnet", "tap3"]);
    assert_eq!(targets(&h, "vmnet", "ffff:"), ["tap6"]);
    let n = copies(&cap, &vm1, "198.51.100.2");
    assert!(n < 5, "a removed target still got {n} frames");

    // The last one: the qdiscs and the promiscuous flag go.
    netswitch(&h, &["mirror", "remove", "vmnet", "tap6"]);
    assert_eq!(qdiscs(&h, "vmnet"), before);
    assert!(!promisc(&h, "vmnet"));
    let n = copies(&cap6, &vm1, "198.51.100.2");
    assert!(n < 5, "still {n} frames after the last removal");

    // A target that goes is dropped by the next verb.
    netswitch(&h, &["mirror", "add", "vmnet", "tap3"]);
    netswitch(&h, &["mirror", "add", "vmnet", "tap6"]);
    h.ns.ip(&["link", "del", "tap3"]);
    let listed = netswitch(&h, &["mirror", "list"]);
    assert_eq!(listed["mirrors"]["vmnet"]["devices"], json!(["tap6"]));
    netswitch(&h, &["mirror", "remove", "vmnet", "tap6"]);
    assert_eq!(qdiscs(&h, "vmnet"), before);
    assert_eq!(netswitch(&h, &["mirror", "list"])["mirrors"], json!({}));
}
