//! `netswitch sriov` on this machine's kernel (no SR-IOV device here: the
//! lab test `lab_sriov.rs` has netdevsim): what is refused, with the same
//! code in-process and through the daemon, and nothing kept on disk.

mod common;
#[path = "support/daemon.rs"]
mod daemon;

use common::Host;
use daemon::{local, Daemon};

/// A netswitch run: (exit status, stdout, stderr).
type Run<'a> = &'a dyn Fn(&[&str]) -> (i32, String, String);

fn refusals(run: Run<'_>, host: &Host) {
    // A veth is a nic without SR-IOV; a name that is nothing; a PCI
    // address that is no device here.
    for (args, code, named) in [
        (["sriov", "veth_a0", "2"], 23, "veth_a0"),
        (["sriov", "nosuch0", "1"], 23, "nosuch0"),
        (["sriov", "0000:ff:1f.7", "1"], 23, "0000:ff:1f.7"),
    ] {
        let (got, out, err) = run(&args);
        assert_eq!(got, code, "{args:?}: {out}{err}");
        assert!(
            err.contains(named) && err.contains("sriov"),
            "{args:?}: {err}"
        );
    }
    // Not a count: refused by the command line (21) before anything runs.
    for bad in ["two", "70000", "1.5"] {
        let (got, _, err) = run(&["sriov", "veth_a0", bad]);
        assert_eq!(got, 21, "{bad}: {err}");
    }
    let devices = host.state.path().join("lib/running/devices");
    let kept = std::fs::read_dir(&devices).map(|d| d.count()).unwrap_or(0);
    assert_eq!(kept, 0, "a refusal kept something in {}", devices.display());
}

#[test]
fn sriov_refusals_are_coded_in_process_and_through_the_daemon() {
    let host = Host::new();
    refusals(&|args| local(&host, args, None), &host);
    let d = Daemon::start(&host);
    refusals(&|args| d.via(&host, args, None), &host);
    // The method itself: a bad parameter shape is 21.
    let mut c = d.client();
    let e = c
        .call(
            "Host.hostdevChangeNumvfs",
            serde_json::json!({"deviceName": "veth_a0", "numvfs": "many"}),
        )
        .unwrap_err();
    assert!(
        e.to_string().contains("21") || e.to_string().contains("numvfs"),
        "{e}"
    );
}
