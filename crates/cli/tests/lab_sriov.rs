//! SR-IOV on netdevsim (built for the lab kernel by tests/lab/netdevsim):
//! `netswitch sriov` sets a PF's VF count in sysfs, through 0 where the
//! driver demands it, keeps it as `devices/<nic>` in both configs, and
//! `netswitch restore` puts it back after it was reset; refused requests
//! change nothing. One test, one netdevsim device: lab time is dear.

mod common;

use common::Host;
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

    // Reset behind netswitch's back (a reboot); restore brings it back.
    std::fs::write(dev.dir().join("sriov_numvfs"), "0").expect("reset");
    let (code, out, err) = h.netswitch(&["restore", "--force"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(numvfs(&dev), "3");
    assert_eq!(h.caps()["nics"][&pf]["sriov"]["numvfs"], json!(3));
}
