//! SR-IOV on netdevsim (built for the lab kernel by tests/lab/netdevsim):
//! `netswitch sriov` sets a PF's VF count in sysfs, through 0 where the
//! driver demands it, keeps it as `devices/<nic>` in both configs, and
//! `netswitch restore` puts it back after it was reset; refused requests
//! change nothing; a vNIC on a VF (`vnic plug --vf`) gets its MAC and its
//! network's VLAN on the VF, holds the VF count, and is reset by its
//! unplug. Two tests, one netdevsim device each: lab time is dear.

mod common;

use common::Host;
use netswitch_engine::sriov::VfRef;
use netswitch_sriov::{LinkState, VfSettings};
use netswitch_testkit::netdevsim::{self, Netdevsim};
use serde_json::{json, Value};

fn numvfs(dev: &Netdevsim) -> String {
    std::fs::read_to_string(dev.dir().join("sriov_numvfs"))
        .expect("sriov_numvfs")
        .trim()
        .to_string()
}

fn device_file(h: &Host, which: &str, nic: &str) -> Value {
    let path = h
        .state
        .path()
        .join("lib")
        .join(which)
        .join("devices")
        .join(nic);
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).expect("devices file is JSON")
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn numvfs_is_set_persisted_restored_and_refused_on_netdevsim() {
    let Some(h) = Host::lab() else { return };
    netdevsim::load().expect("netdevsim");
    let dev = Netdevsim::new(&h.ns, 100 + std::process::id() % 800, 1);
    let ports = dev.ports(&h.ns);
    let pf = ports.first().expect("a netdevsim port").clone();

    let caps = h.caps();
    assert_eq!(
        caps["nics"][&pf]["sriov"],
        json!({"totalvfs": 4, "numvfs": 0})
    );

    let (code, out, err) = h.netswitch(&["--json", "sriov", &pf, "2"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(numvfs(&dev), "2");
    for which in ["running", "persistent"] {
        assert_eq!(device_file(&h, which, &pf), json!({"sriov": {"numvfs": 2}}));
    }

    // netdevsim answers EBUSY to 2 -> 3: netswitch goes through 0.
    let (code, out, err) = h.netswitch(&["--json", "sriov", &pf, "3"], None);
    assert_eq!(code, 0, "{out}{err}");
    let answer: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(answer["sriov"]["viaZero"], json!(true), "{answer}");
    assert_eq!(numvfs(&dev), "3");

    // Refused, nothing changed: beyond the total (21), not a PF (23).
    let (code, out, err) = h.netswitch(&["sriov", &pf, "5"], None);
    assert_eq!(code, 21, "{out}{err}");
    assert!(err.contains(&pf) && err.contains("numvfs"), "{err}");
    let (code, _, err) = h.netswitch(&["sriov", "dummy_1", "1"], None);
    assert_eq!(code, 23, "{err}");
    assert!(err.contains("dummy_1"), "{err}");
    assert_eq!(numvfs(&dev), "3");
    assert_eq!(
        device_file(&h, "persistent", &pf),
        json!({"sriov": {"numvfs": 3}})
    );

    vf_settings_are_set_and_read_back(&h, &pf);

    // Reset behind netswitch's back (a reboot); restore brings it back.
    std::fs::write(dev.dir().join("sriov_numvfs"), "0").expect("reset");
    let (code, out, err) = h.netswitch(&["restore", "--force"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(numvfs(&dev), "3");
    assert_eq!(h.caps()["nics"][&pf]["sriov"]["numvfs"], json!(3));
}

/// VF 1 of `pf` as `ip -j link show` reports it.
fn vf_json(h: &Host, pf: &str, vf: u64) -> Value {
    let link = h.ns.ip_json(&["link", "show", pf]);
    link[0]["vfinfo_list"]
        .as_array()
        .and_then(|l| l.iter().find(|v| v["vf"] == json!(vf)).cloned())
        .unwrap_or_else(|| panic!("no vf {vf} on {pf}: {link}"))
}

/// The VLAN `ip -j` shows for a VF (a `vlan_list` on kernels that send
/// one, else `vlan`).
fn vlan_of(v: &Value) -> Value {
    match v["vlan_list"].as_array() {
        Some(l) => l.first().map(|e| e["vlan"].clone()).unwrap_or(Value::Null),
        None => v["vlan"].clone(),
    }
}

/// The engine's VF settings (what `vnic plug --vf` will use) on netdevsim.
fn vf_settings_are_set_and_read_back(h: &Host, pf: &str) {
    let engine = netswitch_engine::Engine::new(
        h.state.path().join("lib"),
        h.state.path().join("resolv.conf"),
    );
    let at = VfRef {
        pf: pf.to_string(),
        vf: 1,
    };
    let want = VfSettings {
        mac: Some("52:54:00:12:34:56".into()),
        vlan: Some(100),
        spoofchk: Some(false),
        trust: Some(true),
        link_state: Some(LinkState::Disable),
    };
    let back = h.ns.run(|| engine.set_vf(&at, &want)).expect("set_vf");
    assert_eq!(back, want, "read back from the PF's VF info");
    let v = vf_json(h, pf, 1);
    assert_eq!(v["address"], json!("52:54:00:12:34:56"), "{v}");
    assert_eq!(vlan_of(&v), json!(100), "{v}");
    assert_eq!(v["spoofchk"], json!(false), "{v}");
    assert_eq!(v["trust"], json!(true), "{v}");
    assert_eq!(v["link_state"], json!("disable"), "{v}");

    // A VF the PF does not have, a bad VLAN: refused, nothing changed.
    let beyond = VfRef {
        pf: pf.to_string(),
        vf: 3,
    };
    let e = h.ns.run(|| engine.set_vf(&beyond, &want)).unwrap_err();
    assert_eq!(e.code(), 21, "{e}");
    let bad_vlan = VfSettings {
        vlan: Some(5000),
        ..want.clone()
    };
    let e = h.ns.run(|| engine.set_vf(&at, &bad_vlan)).unwrap_err();
    assert_eq!(e.code(), 26, "{e}");
    assert_eq!(vlan_of(&vf_json(h, pf, 1)), json!(100));

    let reset = h.ns.run(|| engine.reset_vf(&at)).expect("reset_vf");
    assert_eq!(reset.mac.as_deref(), Some("00:00:00:00:00:00"));
    let v = vf_json(h, pf, 1);
    // ip prints no VLAN for a VF without one.
    assert!(
        matches!(vlan_of(&v), Value::Null) || vlan_of(&v) == json!(0),
        "{v}"
    );
    assert_eq!(v["spoofchk"], json!(true), "{v}");
}

/// `vnic plug --vf PF:N` and the rest of a VF vNIC's life.
fn plug_vf(h: &Host, vf: &str, vm: &str, mac: &str) -> (i32, String) {
    let (code, out, err) = h.plug_vnic(vm, mac, "vfnet", &["--vf", vf]);
    (code, format!("{out}{err}"))
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn a_vnic_on_a_vf_carries_its_mac_and_its_networks_vlan() {
    let Some(mut h) = Host::lab() else { return };
    netdevsim::load().expect("netdevsim");
    let dev = Netdevsim::new(&h.ns, 900 + std::process::id() % 90, 1);
    let pf = dev.ports(&h.ns).first().expect("a netdevsim port").clone();
    h.setup(json!({
        "networks": {"vfnet": {"nic": "dummy_1", "vlan": 100, "bridged": false}},
        "options": {"connectivityCheck": false},
    }));
    let (code, out, err) = h.netswitch(&["sriov", &pf, "2"], None);
    assert_eq!(code, 0, "{out}{err}");

    let vf1 = format!("{pf}:1");
    let (code, text) = plug_vf(&h, &vf1, "vm-1", "52:54:00:00:00:11");
    assert_eq!(code, 0, "{text}");
    // What `ip link show PF` says of VF 1.
    let v = vf_json(&h, &pf, 1);
    assert_eq!(v["address"], json!("52:54:00:00:00:11"), "{v}");
    assert_eq!(vlan_of(&v), json!(100), "{v}");
    assert_eq!(v["spoofchk"], json!(true), "{v}");
    assert_eq!(v["trust"], json!(false), "{v}");
    assert_eq!(
        h.caps()["vnics"][&vf1],
        json!({"vmId": "vm-1", "mac": "52:54:00:00:00:11", "network": "vfnet",
               "switch": "sriov", "vf": vf1})
    );
    // Again is one plug; another VM on the same VF, or a VF beyond the
    // count, is refused.
    let (code, text) = plug_vf(&h, &vf1, "vm-1", "52:54:00:00:00:11");
    assert_eq!(code, 0, "{text}");
    let (code, text) = plug_vf(&h, &vf1, "vm-2", "52:54:00:00:00:12");
    assert_eq!(code, 24, "{text}");
    assert!(text.contains(&format!("vnic {vf1}: vf")), "{text}");
    let (code, text) = plug_vf(&h, &format!("{pf}:2"), "vm-2", "52:54:00:00:00:12");
    assert_eq!(code, 21, "{text}");
    // The count cannot change under the vNIC.
    let (code, _, err) = h.netswitch(&["sriov", &pf, "3"], None);
    assert_eq!(code, 21, "{err}");
    assert!(err.contains(&vf1), "{err}");
    assert_eq!(numvfs(&dev), "2");

    // A plug killed after the PF took it is undone by the next verb.
    h.env
        .push(("NETSWITCH_TEST_CRASH_AT".into(), "vnic-joined".into()));
    let (code, text) = plug_vf(&h, &format!("{pf}:0"), "vm-3", "52:54:00:00:00:13");
    h.env.pop();
    assert_eq!(code, -1, "killed: {text}");
    assert_eq!(vf_json(&h, &pf, 0)["address"], json!("52:54:00:00:00:13"));

    // The unplug (the next verb) undoes the killed plug too.
    let (code, _, err) = h.netswitch(&["vnic", "unplug", &vf1], None);
    assert_eq!(code, 0, "{err}");
    for n in [0, 1] {
        let v = vf_json(&h, &pf, n);
        assert_eq!(v["address"], json!("00:00:00:00:00:00"), "VF {n}: {v}");
        assert!(
            matches!(vlan_of(&v), Value::Null) || vlan_of(&v) == json!(0),
            "{v}"
        );
    }
    let (code, out, err) = h.netswitch(&["--json", "vnic", "list"], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["vnics"],
        json!({})
    );
    let (code, _, err) = h.netswitch(&["sriov", &pf, "0"], None);
    assert_eq!(code, 0, "free again: {err}");
}
