//! The safe config in a scratch namespace: the connectivity check and
//! `confirm`, `commit`, `restore`, and importing a VDSM persistence dir.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::Host;
use serde_json::{json, Value};

fn mgmt(mtu: u32) -> Value {
    json!({"networks": {"mgmt": {"nic": "veth_a0", "mtu": mtu, "ipaddr": "192.0.2.10", "prefix": 24}}})
}

/// Starts `netswitch setup -` on `req` in the background.
fn setup_in_background(h: &Host, req: &Value, extra: &[&str]) -> std::process::Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_netswitch"))
        .args(["--netns", h.ns.name()])
        .arg("--state-dir")
        .arg(h.state.path().join("lib"))
        .arg("--resolv-conf")
        .arg(h.state.path().join("resolv.conf"))
        .arg("setup")
        .args(extra)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), req.to_string().as_bytes())
        .unwrap();
    child
}

#[test]
fn a_confirmed_change_stays() {
    let h = Host::new();
    let child = setup_in_background(&h, &mgmt(1500), &["--confirm-within", "20"]);
    // Wait until the change is in place (and the setup waits), then confirm.
    for _ in 0..200 {
        if h.link("mgmt").is_some() && h.state.path().join("lib/pending-confirmation").exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let (code, out, _) = h.netswitch(&["confirm"], None);
    assert_eq!((code, out.trim()), (0, "confirmed"));
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(h.link("mgmt").is_some());
    assert!(h.running().networks.contains_key("mgmt"));
    // Nothing waits any more.
    let (_, out, _) = h.netswitch(&["confirm"], None);
    assert!(out.contains("no setup is waiting"), "{out}");
}

#[test]
fn an_mtu_edit_without_confirmation_is_rolled_back_with_code_10() {
    let h = Host::new();
    h.setup(mgmt(1500));
    let before = h.facts();
    let running = h.running();
    let (code, err) = h.setup_code(&mgmt(9000), &["--confirm-within", "0.5"]);
    assert_eq!(code, 10, "{err}");
    assert!(
        err.contains("no connectivity confirmation within 0.5 s; rolled back"),
        "{err}"
    );
    assert_eq!(h.link("mgmt").unwrap()["mtu"], 1500);
    assert_eq!(h.link("veth_a0").unwrap()["mtu"], 1500);
    assert_eq!(h.facts(), before);
    assert_eq!(h.running(), running);
}

#[test]
fn the_requests_connectivity_check_option_turns_the_wait_on() {
    let h = Host::new();
    let mut req = mgmt(1500);
    req["options"] = json!({"connectivityCheck": true, "connectivityTimeout": 0.3});
    let (code, err) = h.setup_code(&req, &[]);
    assert_eq!(code, 10, "{err}");
    assert!(h.link("mgmt").is_none());
    assert!(h.running().networks.is_empty());
}

#[test]
fn commit_makes_the_running_config_persistent() {
    let h = Host::new();
    h.setup(mgmt(1500));
    assert_eq!(h.caps()["netConfigDirty"], true);
    let (code, out, _) = h.netswitch(&["--json", "commit"], None);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["status"]["code"],
        0
    );
    assert_eq!(h.caps()["netConfigDirty"], false);
    assert!(h.state.path().join("lib/persistent/nets/mgmt").is_file());
    // commitOnSuccess does the same in one step.
    let mut req = json!({"networks": {"other": {"nic": "veth_b0", "bridged": false}}});
    req["options"] = json!({"commitOnSuccess": true});
    h.setup(req);
    assert_eq!(h.caps()["netConfigDirty"], false);
    assert!(h.state.path().join("lib/persistent/nets/other").is_file());
}

#[test]
fn restore_brings_back_the_persistent_config() {
    let h = Host::new();
    h.setup(json!({"networks": {
        "mgmt": {"nic": "veth_a0", "ipaddr": "192.0.2.10", "prefix": 24, "gateway": "192.0.2.1", "defaultRoute": true},
        "keep": {"nic": "veth_b0"},
    }}));
    h.netswitch(&["commit"], None);
    // After the commit: the static IP edited away, a persisted network
    // removed, an unpersisted one added, and a device deleted behind our back.
    h.setup(json!({"networks": {"mgmt": {"nic": "veth_a0"}, "keep": {"remove": true}}}));
    h.setup(json!({"networks": {"extra": {"nic": "veth_b1", "bridged": false}}}));
    h.ns.ip(&["link", "del", "mgmt"]);

    let (code, out, err) = h.netswitch(&["restore", "--force"], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("carries the persistent config again"), "{out}");
    assert_eq!(
        h.addrs("mgmt"),
        vec!["192.0.2.10/24"],
        "the persisted static IP is back"
    );
    assert!(h
        .routes("-4", "main")
        .iter()
        .any(|r| r["dst"] == "default" && r["dev"] == "mgmt"));
    assert_eq!(
        h.link("veth_b0").unwrap()["master"],
        "keep",
        "the removed persisted network is back"
    );
    assert!(
        !h.running().networks.contains_key("extra"),
        "the unpersisted network is gone"
    );
    assert_eq!(h.caps()["netConfigDirty"], false);

    // Once per boot unless forced.
    let (code, out, _) = h.netswitch(&["restore"], None);
    assert_eq!(code, 0);
    assert!(out.contains("restored already"), "{out}");
}

#[test]
fn restore_leaves_out_what_this_host_lacks() {
    let h = Host::new();
    h.setup(json!({"networks": {"a": {"nic": "veth_a0"}, "b": {"nic": "veth_b0"}}}));
    h.netswitch(&["commit"], None);
    h.ns.ip(&["link", "del", "dev", "b"]);
    h.ns.ip(&["link", "del", "veth_b0"]); // takes veth_b1 with it
    let (code, _, err) = h.netswitch(&["restore", "--force"], None);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("skipped network b"), "{err}");
    assert_eq!(h.link("veth_a0").unwrap()["master"], "a");
}

#[test]
fn a_vdsm_persistence_dir_is_imported_and_restored() {
    let h = Host::new();
    let vdsm = h.state.path().join("vdsm");
    std::fs::create_dir_all(vdsm.join("nets")).unwrap();
    std::fs::create_dir_all(vdsm.join("bonds")).unwrap();
    // As VDSM writes them: strings for booleans and numbers in places.
    std::fs::write(
        vdsm.join("nets/ovirtmgmt"),
        r#"{"nic": "veth_a0", "bridged": "true", "mtu": "1500", "ipaddr": "192.0.2.77", "netmask": "255.255.255.0",
            "gateway": "192.0.2.1", "bootproto": "none", "defaultRoute": true, "switch": "legacy", "stp": false,
            "dhcpv6": false, "ipv6autoconf": false, "nameservers": ["192.0.2.53"]}"#,
    )
    .unwrap();
    let (code, out, err) = h.netswitch(&["import-vdsm", vdsm.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("imported 1 networks"), "{out}");
    let (code, _, err) = h.netswitch(&["restore", "--force"], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(h.addrs("ovirtmgmt"), vec!["192.0.2.77/24"]);
    let resolv = std::fs::read_to_string(h.state.path().join("resolv.conf")).unwrap();
    assert!(resolv.contains("nameserver 192.0.2.53"), "{resolv}");
    // A bad file is refused with its code and network.
    std::fs::write(vdsm.join("nets/bad"), r#"{"nic": "veth_b0", "vlan": 5000}"#).unwrap();
    let (code, _, err) = h.netswitch(&["import-vdsm", vdsm.to_str().unwrap()], None);
    assert_eq!(code, 26, "{err}");
    assert!(err.contains("network bad"), "{err}");
}
