//! `netswitch vnic plug --vf PF:N` refusals that need no SR-IOV device
//! (the plug itself is tested on netdevsim in the lab, lab_sriov.rs):
//! each is coded, names the VF and the attribute at fault, and leaves no
//! record, no intent and no vNIC behind, in-process and through the
//! daemon.

mod common;
#[path = "support/daemon.rs"]
mod daemon;

use common::Host;
use daemon::Daemon;
use serde_json::{json, Value};

fn plug_vf(h: &Host, vf: &str, net: &str, extra: &[&str]) -> (i32, String) {
    let rest = [&["--vf", vf][..], extra].concat();
    let (code, out, err) = h.plug_vnic("vm-1", "52:54:00:00:00:01", net, &rest);
    (code, format!("{out}{err}"))
}

/// Nothing kept: no record, no intent, an empty listing.
fn nothing_kept(h: &Host) {
    let lib = h.state.path().join("lib");
    for dir in ["vnics", "vnic-plugging"] {
        let left: Vec<_> = std::fs::read_dir(lib.join(dir))
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{dir}: {left:?}");
    }
    let (code, out, err) = h.netswitch(&["--json", "vnic", "list"], None);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["vnics"], json!({}));
}

#[test]
fn vf_plugs_without_an_sriov_pf_are_refused_and_change_nothing() {
    let h = Host::new();
    h.setup(json!({
        "networks": {"vmnet": {"nic": "veth_a0"}, "isolated": {}},
        "options": {"connectivityCheck": false},
    }));
    let cases: [(&str, &str, &[&str], i32, &str); 8] = [
        // A veth has no device, let alone SR-IOV.
        ("veth_b0:0", "vmnet", &[], 23, "vnic veth_b0:0: vf"),
        ("nosuch:1", "vmnet", &[], 23, "vnic nosuch:1: vf"),
        ("0000:7f:1f.7:1", "vmnet", &[], 23, "vf"),
        ("veth_b0", "vmnet", &[], 21, "vnic veth_b0: vf"),
        ("veth_b0:x", "vmnet", &[], 21, "vnic veth_b0:x: vf"),
        ("veth_b0:0", "nosuch", &[], 27, "vnic veth_b0:0: network"),
        // A network with no nic has no wire for a VF.
        ("veth_b0:0", "isolated", &[], 21, "vnic veth_b0:0: network"),
        (
            "veth_b0:0",
            "vmnet",
            &["--mtu", "1400"],
            21,
            "vnic veth_b0:0: mtu",
        ),
    ];
    for (vf, net, extra, want, names) in cases {
        let (code, text) = plug_vf(&h, vf, net, extra);
        assert_eq!(code, want, "{vf} on {net} {extra:?}: {text}");
        assert!(text.contains(names), "{vf} on {net}: {text}");
    }
    // A VF and a device are two devices: the command line refuses both.
    let (code, text) = plug_vf(&h, "veth_b0:0", "vmnet", &["veth_b1"]);
    assert_ne!(code, 0, "{text}");
    let (code, _, err) = h.netswitch(&["vnic", "unplug", "veth_b0:0"], None);
    assert_eq!(code, 23, "unplugging a VF that is no vNIC: {err}");
    nothing_kept(&h);

    // Over JSON-RPC the same, and what the CLI cannot send.
    let d = Daemon::start(&h);
    let mut c = netswitch_daemon::Client::connect(&d.socket).unwrap();
    let base = json!({"vmId": "vm-1", "mac": "52:54:00:00:00:01", "network": "vmnet",
                      "vf": "veth_b0:0"});
    for (key, value, want) in [
        ("device", json!("veth_b1"), 21),
        ("portMirroring", json!(["vmnet"]), 21),
        ("mac", json!("01:00:5e:00:00:01"), 21),
        ("vf", json!("veth_b0:0"), 23),
    ] {
        let mut v = base.clone();
        v[key] = value;
        match c.call("Host.plugVnic", json!({"vnic": v})) {
            Err(netswitch_daemon::ClientError::Rpc { code, message }) => {
                assert_eq!(code, want, "{key}: {message}");
                assert!(message.contains(&format!(": {key}")), "{message}");
            }
            other => panic!("{key}: {other:?}"),
        }
    }
    match c.call("Host.unplugVnic", json!({"vf": "veth_b0:0"})) {
        Err(netswitch_daemon::ClientError::Rpc { code, .. }) => assert_eq!(code, 23),
        other => panic!("{other:?}"),
    }
    drop(c);
    drop(d);
    nothing_kept(&h);
}
