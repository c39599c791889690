//! `netswitch mirror add|remove|list` on this machine's kernel, in a
//! scratch namespace: OVS (userspace datapath) with traffic between two
//! "VM" namespaces copied to a third device and nothing of a second
//! network; refusals that change nothing on both switches; a target that
//! goes takes its mirror along, in-process and in the daemon; the daemon
//! keeps the mirrors over a restart. Legacy mirroring itself (tc prio and
//! matchall) needs the kernel lab: `lab_mirror.rs`.

mod common;
#[path = "support/daemon.rs"]
mod daemon;

use std::time::{Duration, Instant};

use common::Host;
use daemon::Daemon;
use netswitch_testkit::{Netns, Ovs};
use serde_json::{json, Value};

/// No IPv6 in `ns`: its router solicitations and neighbour discovery
/// would be frames of the mirrored network that no test sent.
fn quiet(ns: &Netns) {
    for key in ["all", "default"] {
        ns.exec(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{key}.disable_ipv6=1"),
        ]);
    }
}

/// A host with IPv6 off and OVS (when `ovs`).
fn host(ovs: bool) -> (Host, Option<Ovs>) {
    let mut h = Host::empty();
    quiet(&h.ns);
    h.ns.veth("veth_a0", "veth_a1");
    h.ns.veth("veth_b0", "veth_b1");
    let o = ovs.then(|| Ovs::start(&h.ns));
    if let Some(o) = &o {
        h.use_ovs(o);
    }
    (h, o)
}

/// A "VM": its own namespace with `eth0` (`ip`/24), whose peer `tap` is
/// left in the host's namespace.
fn vm(h: &Host, tap: &str, ip: Option<&str>) -> Netns {
    let vm = Netns::new();
    quiet(&vm);
    let peer = format!("{tap}p");
    h.ns.ip(&["link", "add", tap, "type", "veth", "peer", "name", &peer]);
    h.ns.ip(&["link", "set", &peer, "netns", vm.name()]);
    vm.ip(&["link", "set", &peer, "name", "eth0"]);
    if let Some(ip) = ip {
        vm.ip(&["addr", "add", &format!("{ip}/24"), "dev", "eth0"]);
    }
    vm.ip(&["link", "set", "eth0", "up"]);
    vm
}

/// Frames `ns`'s `eth0` received so far.
fn rx(ns: &Netns) -> u64 {
    let s = ns.sysfs("eth0/statistics/rx_packets").expect("rx_packets");
    s.trim().parse().expect("a number")
}

/// 20 pings from `from` to `ip`; all must be answered (generous wait).
fn ping(from: &Netns, ip: &str) {
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
        .args(["-w", "60", ip])
        .output()
        .expect("ping");
    assert!(
        out.status.success(),
        "ping {ip}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// How many frames `cap` receives while `from` pings `ip` 20 times.
fn copies(cap: &Netns, from: &Netns, ip: &str) -> u64 {
    let before = rx(cap);
    ping(from, ip);
    rx(cap) - before
}

fn no_check(networks: Value) -> Value {
    json!({"networks": networks, "options": {"connectivityCheck": false}})
}

fn plug(h: &Host, vm: &str, net: &str, dev: &str, extra: &[&str]) {
    let id = dev.bytes().fold(0u8, |a, b| a.wrapping_add(b));
    let mac = format!("52:54:00:00:01:{id:02x}");
    let mut args = vec!["vnic", "plug", "--vm", vm, "--mac", &mac, "--network", net];
    args.extend_from_slice(extra);
    args.push(dev);
    let (code, out, err) = h.netswitch(&args, None);
    assert_eq!(code, 0, "{err}{out}");
}

fn mirror(h: &Host, args: &[&str]) -> (i32, Value) {
    let mut full = vec!["--json", "mirror"];
    full.extend_from_slice(args);
    let (code, out, err) = h.netswitch(&full, None);
    let v = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}{err}"));
    (code, v)
}

fn list(h: &Host) -> Value {
    let (code, v) = mirror(h, &["list"]);
    assert_eq!(code, 0, "{v}");
    v["mirrors"].clone()
}

/// netswitch's Mirror rows, as `ovs-vsctl` shows them.
fn mirror_rows(ovs: &Ovs) -> Vec<Value> {
    let out = ovs.vsctl(&["--format=json", "list", "Mirror"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let head: Vec<String> = v["headings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_string())
        .collect();
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let cols = row.as_array().unwrap();
            Value::Object(head.iter().cloned().zip(cols.iter().cloned()).collect())
        })
        .collect()
}

/// Makes ovs-vswitchd revalidate its datapath flows (OVS does not when a
/// Mirror row changes; the module doc of the engine's OVS mirrors).
fn purge(ovs: &Ovs) {
    let ctl = ovs.dir().join("ovs-vswitchd.ctl");
    let out = std::process::Command::new("ovs-appctl")
        .arg("-t")
        .arg(&ctl)
        .arg("revalidator/purge")
        .output()
        .expect("ovs-appctl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ovs_mirror_copies_its_network_and_nothing_else() {
    let (h, ovs) = host(true);
    let ovs = ovs.unwrap();
    // Two networks on one OVS bridge (one nic), told apart by VLAN.
    h.setup(no_check(json!({
        "vmnet": {"nic": "veth_a0", "switch": "ovs", "vlan": 42},
        "other": {"nic": "veth_a0", "switch": "ovs", "vlan": 43},
    })));
    let vm1 = vm(&h, "tap1", Some("198.51.100.1"));
    let _vm2 = vm(&h, "tap2", Some("198.51.100.2"));
    let vm4 = vm(&h, "tap4", Some("198.51.100.4"));
    let _vm5 = vm(&h, "tap5", Some("198.51.100.5"));
    let cap = vm(&h, "tap3", None);
    plug(&h, "vm-1", "vmnet", "tap1", &[]);
    plug(&h, "vm-2", "vmnet", "tap2", &[]);
    plug(&h, "vm-4", "other", "tap4", &[]);
    plug(&h, "vm-5", "other", "tap5", &[]);
    // The monitoring VM's vNIC asks for the mirror itself.
    plug(&h, "vm-3", "vmnet", "tap3", &["--mirror", "vmnet"]);

    let rows = mirror_rows(&ovs);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["select_vlan"], 42, "{rows:?}");
    let tap3 = ovs.vsctl(&["get", "Port", "tap3", "_uuid"]);
    assert_eq!(rows[0]["output_port"][1], tap3.trim(), "{rows:?}");
    assert_eq!(list(&h)["vmnet"]["devices"], json!(["tap3"]));
    assert_eq!(
        h.caps()["networks"]["vmnet"]["portMirroring"],
        json!(["tap3"])
    );
    assert!(h.caps()["networks"]["other"].get("portMirroring").is_none());

    // Adding it again is one mirror.
    let (code, v) = mirror(&h, &["add", "vmnet", "tap3"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(mirror_rows(&ovs).len(), 1);

    purge(&ovs);
    let n = copies(&cap, &vm1, "198.51.100.2");
    assert!(n >= 20, "the target got {n} frames of 20 pings on vmnet");
    let n = copies(&cap, &vm4, "198.51.100.5");
    assert!(n < 5, "the target got {n} frames of the other network");

    // Removed: the rows go, and the copies stop.
    let (code, v) = mirror(&h, &["remove", "vmnet", "tap3"]);
    assert_eq!(code, 0, "{v}");
    assert!(mirror_rows(&ovs).is_empty());
    assert_eq!(list(&h), json!({}));
    purge(&ovs);
    let n = copies(&cap, &vm1, "198.51.100.2");
    assert!(n < 5, "the target still got {n} frames after the removal");
    let (code, v) = mirror(&h, &["remove", "vmnet", "tap3"]);
    assert_eq!(code, 23, "removing what is not there: {v}");

    // A device that is no port of the network's bridge: 21, no row.
    let _x = vm(&h, "tap9", None);
    let (code, v) = mirror(&h, &["add", "vmnet", "tap9"]);
    assert_eq!(code, 21, "{v}");
    let text = v["status"]["message"].as_str().unwrap();
    assert!(text.contains("vmnet") && text.contains("tap9"), "{text}");
    assert!(mirror_rows(&ovs).is_empty());

    // Unplugging a target takes its mirror along.
    let (code, v) = mirror(&h, &["add", "vmnet", "tap3"]);
    assert_eq!(code, 0, "{v}");
    let (code, _, err) = h.netswitch(&["vnic", "unplug", "tap3"], None);
    assert_eq!(code, 0, "{err}");
    assert!(mirror_rows(&ovs).is_empty());
    assert_eq!(list(&h), json!({}));

    // So does a target device that goes: `list` at once, the rows with
    // the next verb.
    plug(&h, "vm-3", "vmnet", "tap3", &["--mirror", "vmnet"]);
    assert_eq!(mirror_rows(&ovs).len(), 1);
    h.ns.ip(&["link", "del", "tap3"]);
    assert_eq!(list(&h), json!({}));
    let (code, v) = mirror(&h, &["remove", "vmnet", "tap3"]);
    assert_eq!(code, 23, "{v}");
    assert!(mirror_rows(&ovs).is_empty());
    assert!(!h.state.path().join("lib/mirrors/vmnet").exists());
}

#[test]
fn refused_mirrors_change_nothing() {
    let (h, _) = host(false);
    h.setup(no_check(json!({
        "vmnet": {"nic": "veth_a0"},
        "bl": {"nic": "veth_b0", "bridged": false},
    })));
    let _vm1 = vm(&h, "tap1", None);
    let qdiscs = || h.ns.exec(&["tc", "qdisc", "show", "dev", "vmnet"]);
    let before = qdiscs();
    let cases: [(&[&str], i32, &str); 7] = [
        (&["add", "nosuch", "tap1"], 27, "nosuch"),
        (&["add", "vmnet", "tap9"], 23, "tap9"),
        (&["add", "bl", "tap1"], 21, "bl"),
        (&["add", "vmnet", "veth_a0"], 24, "veth_a0"),
        (&["add", "vmnet", "vmnet"], 24, "vmnet"),
        (&["remove", "vmnet", "tap1"], 23, "tap1"),
        (&["remove", "nosuch", "tap1"], 27, "nosuch"),
    ];
    for (args, want, named) in cases {
        let (code, v) = mirror(&h, args);
        assert_eq!(code, want, "{args:?}: {v}");
        let text = v["status"]["message"].as_str().unwrap();
        assert!(text.contains(named), "{args:?}: {text}");
    }
    assert_eq!(qdiscs(), before);
    assert_eq!(list(&h), json!({}));
    let flags = h.link("vmnet").unwrap()["flags"].clone();
    assert!(
        !flags.as_array().unwrap().contains(&json!("PROMISC")),
        "{flags}"
    );
    assert!(!h.state.path().join("lib/mirrors/vmnet").exists());
}

/// Waits (generously: no timing) until `f` holds.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A daemon on `h` that talks to the test's OVS.
fn daemon(h: &Host, ovs: &Ovs) -> Daemon {
    let db = ovs.db();
    let extra = ["--ovs-db", &db, "--ovs-datapath", ovs.datapath];
    Daemon::start_args(
        h,
        std::path::Path::new(env!("CARGO_BIN_EXE_netswitch")),
        &extra,
    )
}

#[test]
fn the_daemon_keeps_mirrors_and_follows_their_targets() {
    let (h, ovs) = host(true);
    let ovs = ovs.unwrap();
    h.setup(no_check(
        json!({"vmnet": {"nic": "veth_a0", "switch": "ovs"}}),
    ));
    let _vm3 = vm(&h, "tap3", None);
    plug(&h, "vm-3", "vmnet", "tap3", &[]);
    let d = daemon(&h, &ovs);
    let (code, out, err) = d.via(&h, &["--json", "mirror", "add", "vmnet", "tap3"], None);
    assert_eq!(code, 0, "{err}{out}");
    let (code, out, _) = d.via(&h, &["--json", "caps"], None);
    assert_eq!(code, 0);
    let caps: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(caps["networks"]["vmnet"]["portMirroring"], json!(["tap3"]));
    drop(d);

    let d = daemon(&h, &ovs);
    let mut c = d.client();
    let v = c.call("Host.listPortMirroring", json!({})).unwrap();
    assert_eq!(v["mirrors"]["vmnet"]["devices"], json!(["tap3"]), "{v}");
    match c.call("Host.setPortMirroring", json!({"network": "vmnet"})) {
        Err(netswitch_daemon::ClientError::Rpc { code, message }) => {
            assert_eq!(code, 21, "{message}");
        }
        other => panic!("{other:?}"),
    }
    match c.call(
        "Host.setPortMirroring",
        json!({"network": "nosuch", "device": "tap3"}),
    ) {
        Err(netswitch_daemon::ClientError::Rpc { code, message }) => {
            assert_eq!(code, 27, "{message}");
        }
        other => panic!("{other:?}"),
    }
    // A vNIC plugged over JSON-RPC with `portMirroring` gets its mirror.
    let _vm7 = vm(&h, "tap7", None);
    let vnic = json!({"vnic": {"vmId": "vm-7", "mac": "52:54:00:00:00:07", "network": "vmnet",
                               "device": "tap7", "portMirroring": ["vmnet"]}});
    c.call("Host.plugVnic", vnic).unwrap();
    let v = c.call("Host.listPortMirroring", json!({})).unwrap();
    assert_eq!(
        v["mirrors"]["vmnet"]["devices"],
        json!(["tap3", "tap7"]),
        "{v}"
    );
    assert_eq!(mirror_rows(&ovs).len(), 2);
    c.call("Host.unplugVnic", json!({"device": "tap7"}))
        .unwrap();
    assert_eq!(mirror_rows(&ovs).len(), 1);

    // The target goes: the daemon drops its mirror by itself.
    h.ns.ip(&["link", "del", "tap3"]);
    eventually("the daemon drops the mirror of a removed target", || {
        mirror_rows(&ovs).is_empty() && !h.state.path().join("lib/mirrors/vmnet").exists()
    });
    let v = c.call("Host.listPortMirroring", json!({})).unwrap();
    assert_eq!(v["mirrors"], json!({}));
}
