//! A build without the `fault-injection` feature (what
//! `cargo build --release -p netswitch-cli` makes) has no way to fail on
//! purpose: no `--inject-failure-at`, no `--inject-drift`, no
//! `_injectFailureAt` over the socket, no `NETSWITCH_TEST_CRASH_AT`.
//!
//! The tests' own binary has the feature, so this builds the binary once
//! more without it: a debug build (cheaper than a release one, and the
//! feature is the only difference that matters here) into a target
//! directory of its own, `<target>/nofaults`, so it never replaces the
//! binary the other tests run.

mod common;
#[path = "support/daemon.rs"]
mod daemon;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use common::Host;
use serde_json::json;

/// The feature-less binary, built on first use.
fn plain_binary() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let ours = PathBuf::from(env!("CARGO_BIN_EXE_netswitch"));
        // <target>/debug/netswitch -> <target>/nofaults
        let target = ours
            .parent()
            .and_then(|p| p.parent())
            .expect("the test binary lives in <target>/<profile>/")
            .join("nofaults");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "netswitch-cli",
                "--bin",
                "netswitch",
            ])
            .arg("--target-dir")
            .arg(&target)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo");
        assert!(status.success(), "building the feature-less binary failed");
        target.join("debug/netswitch")
    })
}

fn run_plain(args: &[&str]) -> (i32, String) {
    let out = Command::new(plain_binary())
        .args(args)
        .output()
        .expect("run the feature-less binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_testing_flags_are_unknown_without_the_feature() {
    for flag in [&["--inject-failure-at", "1"][..], &["--inject-drift"][..]] {
        let mut args = vec!["setup", "--dry-run"];
        args.extend_from_slice(flag);
        args.push("-");
        let (code, err) = run_plain(&args);
        // clap's usage error, before anything is read or applied.
        assert_eq!(code, 2, "{flag:?}: {err}");
        assert!(err.contains("unexpected argument"), "{flag:?}: {err}");
    }
}

#[test]
fn the_crash_point_variable_is_ignored_without_the_feature() {
    let h = Host::new();
    let req = json!({"networks": {"net1": {"nic": "veth_a0", "bridged": true}}});
    let out = Command::new(plain_binary())
        .args(["--netns", h.ns.name(), "--state-dir"])
        .arg(h.state.path().join("lib"))
        .arg("--resolv-conf")
        .arg(h.state.path().join("resolv.conf"))
        .args(["setup", "-"])
        .env("NETSWITCH_TEST_CRASH_AT", "applied")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write as _;
            c.stdin
                .take()
                .unwrap()
                .write_all(req.to_string().as_bytes())?;
            c.wait_with_output()
        })
        .expect("run the feature-less binary");
    // Not SIGKILLed at "applied": the setup completes.
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(h.link("net1").is_some(), "the bridge is there");
}

#[test]
fn the_daemon_refuses_the_fault_parameter_without_the_feature() {
    let h = Host::new();
    let d = daemon::Daemon::start_with(&h, plain_binary());
    let mut client = netswitch_daemon::Client::connect(&d.socket).expect("connect");
    let req = json!({
        "networks": {"net1": {"nic": "veth_a0", "bridged": true}},
        "options": {"connectivityCheck": false},
        "_injectFailureAt": 1,
    });
    match client.call("Host.setupNetworks", req) {
        Err(netswitch_daemon::ClientError::Rpc { code, message }) => {
            assert_eq!(code, 21, "{message}");
            assert!(message.contains("_injectFailureAt"), "{message}");
        }
        other => panic!("not refused: {other:?}"),
    }
    assert!(h.link("net1").is_none(), "nothing was applied");
}
