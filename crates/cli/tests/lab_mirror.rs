//! Port mirroring on the legacy switch, in the kernel lab (this machine's
//! kernel has no `prio` qdisc and no `matchall` filter): two "VM"
//! namespaces plugged into a bridged network, a third device whose peer
//! namespace counts what it receives; the tc tree read back with `tc -j`
//! after each step; a second network's traffic never copied; a second
//! target; a target that goes; removal down to nothing. Lean on purpose:
//! every process costs under TCG.

mod common;

use common::Host;
use netswitch_testkit::Netns;
use serde_json::{json, Value};

/// No IPv6 in `ns` (also on devices moved in later): its solicitations
/// would be frames no test sent.
fn quiet(ns: &Netns) {
    ns.exec(&[
        "sysctl",
        "-qw",
        "net.ipv6.conf.all.disable_ipv6=1",
        "net.ipv6.conf.default.disable_ipv6=1",
    ]);
}

/// A lab host with dummy_1 and dummy_2 (up) as nics, IPv6 off; `None`
/// outside the lab. Every process counts under TCG, so the fixture is
/// built with few of them (`ip -batch`).
fn lab_host() -> Option<Host> {
    if !netswitch_testkit::in_lab() {
        eprintln!("skipped: needs the kernel lab (tests/lab/run)");
        return None;
    }
    let h = Host::empty();
    quiet(&h.ns);
    h.ns.ip_batch(
        "link add dummy_1 up type dummy\nlink add dummy_2 up type dummy\n\
         link add tap6 up type veth peer name tap6p\n",
    );
    Some(h)
}

/// "VMs": for each `(tap, ip)` a namespace with `eth0` (`ip`/24 when
/// given) whose peer `tap` (up) stays in the host's namespace.
fn vms(h: &Host, specs: &[(&str, Option<&str>)]) -> Vec<Netns> {
    let mut host_script = String::new();
    let vms: Vec<Netns> = specs
        .iter()
        .map(|(tap, _)| {
            let vm = Netns::new();
            quiet(&vm);
            host_script.push_str(&format!(
                "link add {tap} type veth peer name eth0 netns {}\nlink set {tap} up\n",
                vm.name()
            ));
            vm
        })
        .collect();
    h.ns.ip_batch(&host_script);
    for (vm, (_, ip)) in vms.iter().zip(specs) {
        let addr = ip.map(|ip| format!("addr add {ip}/24 dev eth0\n"));
        vm.ip_batch(&format!("{}link set eth0 up\n", addr.unwrap_or_default()));
    }
    vms
}

fn rx(ns: &Netns) -> u64 {
    let s = ns.sysfs("eth0/statistics/rx_packets").expect("rx_packets");
    s.trim().parse().expect("a number")
}

/// How many frames `cap` receives while `from` pings `ip` 10 times.
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

/// The qdisc kinds of `dev`, sorted, and the root `prio` qdisc's handle
/// (`8001:` and the like).
fn qdiscs(h: &Host, dev: &str) -> (Vec<String>, Option<String>) {
    let all = tc(h, &["qdisc", "show", "dev", dev]);
    let mut kinds: Vec<String> = all
        .iter()
        .map(|q| q["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    kinds.sort();
    let root = all
        .iter()
        .find(|q| q["kind"] == "prio")
        .and_then(|q| q["handle"].as_str().map(str::to_string));
    (kinds, root)
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
    let Some(h) = lab_host() else { return };
    let t = std::time::Instant::now();
    h.setup(json!({"networks": {
        "vmnet": {"nic": "dummy_1"},
        "other": {"nic": "dummy_2", "ipaddr": "198.51.101.1", "prefix": 24},
    }, "options": {"connectivityCheck": false}}));
    let v = vms(
        &h,
        &[
            ("tap1", Some("198.51.100.1")),
            ("tap2", Some("198.51.100.2")),
            ("tap4", Some("198.51.101.4")),
            ("tap3", None),
        ],
    );
    let (vm1, vm4, cap) = (&v[0], &v[2], &v[3]);
    plug(&h, "vm-1", "vmnet", "tap1");
    plug(&h, "vm-2", "vmnet", "tap2");
    plug(&h, "vm-4", "other", "tap4");
    let (before, _) = qdiscs(&h, "vmnet");
    eprintln!("lab_mirror: host ready after {:?}", t.elapsed());

    netswitch(&h, &["mirror", "add", "vmnet", "tap3"]);
    let (kinds, root) = qdiscs(&h, "vmnet");
    assert_eq!(kinds, ["ingress", "prio"]);
    let root = root.expect("a root prio qdisc");
    assert_eq!(targets(&h, "vmnet", "ffff:"), ["tap3"]);
    assert_eq!(targets(&h, "vmnet", &root), ["tap3"]);
    assert!(promisc(&h, "vmnet"));

    let n = copies(cap, vm1, "198.51.100.2");
    assert!(n >= 10, "the target got {n} frames of 10 pings on vmnet");
    // The other network: a VM and the host's address on its bridge.
    let n = copies(cap, vm4, "198.51.101.1");
    assert!(n < 5, "the target got {n} frames of the other network");

    // A second target: one action per target in each filter.
    netswitch(&h, &["mirror", "add", "vmnet", "tap6"]);
    assert_eq!(targets(&h, "vmnet", "ffff:"), ["tap3", "tap6"]);
    assert_eq!(targets(&h, "vmnet", &root), ["tap3", "tap6"]);

    netswitch(&h, &["mirror", "remove", "vmnet", "tap3"]);
    assert_eq!(targets(&h, "vmnet", "ffff:"), ["tap6"]);
    let n = copies(cap, vm1, "198.51.100.2");
    assert!(n < 5, "a removed target still got {n} frames");

    // A target that goes: gone from the list at once, from the bridge
    // with the next verb.
    h.ns.ip(&["link", "del", "tap6"]);
    assert_eq!(netswitch(&h, &["mirror", "list"])["mirrors"], json!({}));
    netswitch(&h, &["mirror", "add", "vmnet", "tap3"]);
    assert_eq!(targets(&h, "vmnet", "ffff:"), ["tap3"]);
    // The qdiscs went with the last target and came back.
    let root = qdiscs(&h, "vmnet").1.expect("a root prio qdisc");
    assert_eq!(targets(&h, "vmnet", &root), ["tap3"]);

    // The last one: the qdiscs and the promiscuous flag go.
    netswitch(&h, &["mirror", "remove", "vmnet", "tap3"]);
    assert_eq!(qdiscs(&h, "vmnet").0, before);
    assert!(!promisc(&h, "vmnet"));
    assert_eq!(netswitch(&h, &["mirror", "list"])["mirrors"], json!({}));
    eprintln!("lab_mirror: done after {:?}", t.elapsed());
}
