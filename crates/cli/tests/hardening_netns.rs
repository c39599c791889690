//! Issue 14: no input reaches a panic. Every numeric flag is range-checked
//! before anything is applied (exit 21, nothing changed), and a closed
//! stdout neither panics nor changes a verb's exit status.

mod common;

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};

use common::Host;
use serde_json::{json, Value};

const BAD_NUMBERS: &[&str] = &[
    "inf",
    "-inf",
    "nan",
    "-1",
    "1e19",
    "99999999999999999999999",
    "",
];

fn request() -> Value {
    json!({"networks": {"net1": {"nic": "veth_a0", "bridged": true}}})
}

/// Nothing of `request()` reached the host or the state dir.
fn assert_untouched(h: &Host, what: &str) {
    assert!(h.link("net1").is_none(), "{what}: the bridge was created");
    let lib = h.state.path().join("lib");
    for f in ["journal", "pending-confirmation"] {
        assert!(!lib.join(f).exists(), "{what}: {f} left behind");
    }
    assert!(
        h.caps()["networks"]
            .as_object()
            .is_none_or(|n| n.is_empty()),
        "{what}: a network is in the running config"
    );
}

#[test]
fn every_numeric_flag_out_of_range_is_refused_with_21_before_anything_runs() {
    let h = Host::new();
    let setup_flags = [
        "--confirm-within",
        "--dhcp-timeout",
        "--ovs-timeout",
        "--inject-failure-at",
    ];
    for flag in setup_flags {
        for bad in BAD_NUMBERS {
            let what = format!("setup {flag} {bad:?}");
            let value = format!("{flag}={bad}");
            let (code, out, err) = h.netswitch(&["--json", "setup", &value, "-"], Some(&request()));
            assert_eq!(code, 21, "{what}: {out}{err}");
            assert!(!err.contains("panicked"), "{what}: {err}");
            let status: Value = serde_json::from_str(&out).expect("a --json status");
            assert_eq!(status["status"]["code"], 21, "{what}: {out}");
            assert!(
                status["status"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(flag)),
                "{what}: the message names the flag: {out}"
            );
            assert_untouched(&h, &what);
        }
    }
    for bad in BAD_NUMBERS.iter().chain(&["0"]) {
        let value = format!("--count={bad}");
        let (code, _, err) = h.netswitch(&["events", &value], None);
        assert_eq!(code, 21, "events {value}: {err}");
    }
    // Without --json the same refusal, as a line on stderr.
    let (code, _, err) = h.netswitch(&["setup", "--confirm-within", "inf", "-"], Some(&request()));
    assert_eq!(code, 21, "{err}");
    assert!(err.contains("--confirm-within"), "{err}");
    assert_untouched(&h, "--confirm-within inf");
}

/// A pipe whose reading end is already closed: a write to the other end
/// fails with EPIPE, as `netswitch ... | head` once head is gone.
fn closed_pipe() -> Stdio {
    let mut fds = [0; 2];
    // SAFETY: pipe(2) fills two fresh descriptors we then own.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both were just created and are owned by nobody else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    Stdio::from(write)
}

fn run_with_stdout(h: &Host, args: &[&str], stdin: Option<&Value>, stdout: Stdio) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_netswitch"))
        .args(["--netns", h.ns.name()])
        .arg("--state-dir")
        .arg(h.state.path().join("lib"))
        .arg("--resolv-conf")
        .arg(h.state.path().join("resolv.conf"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn netswitch");
    let text = stdin.map(|v| v.to_string()).unwrap_or_default();
    let _ = std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (child.wait().unwrap().code().unwrap_or(-1), err)
}

#[test]
fn a_closed_stdout_neither_panics_nor_changes_the_exit_status() {
    let h = Host::new();
    // A setup whose report cannot be written: committed all the same.
    let (code, err) = run_with_stdout(&h, &["setup", "-"], Some(&request()), closed_pipe());
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(h.link("net1").is_some(), "the setup was applied");
    assert!(!h.state.path().join("lib/journal").exists());
    assert!(h.caps()["networks"]["net1"].is_object(), "and saved");
    // caps --json | head -c 10: the reader goes after 10 bytes.
    let mut child = Command::new(env!("CARGO_BIN_EXE_netswitch"))
        .args(["--netns", h.ns.name()])
        .arg("--state-dir")
        .arg(h.state.path().join("lib"))
        .arg("--resolv-conf")
        .arg(h.state.path().join("resolv.conf"))
        .args(["--json", "caps"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn netswitch");
    let mut head = [0u8; 10];
    child.stdout.take().unwrap().read_exact(&mut head).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // And every verb that prints, with nobody reading at all.
    for args in [
        &["--json", "caps"][..],
        &["caps"][..],
        &["stats"][..],
        &["--json", "setup", "--dry-run", "-"][..],
        &["confirm"][..],
    ] {
        let (code, err) = run_with_stdout(&h, args, Some(&request()), closed_pipe());
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // A failure's status too: 21 stays 21 with --json and no reader.
    let bad = json!({"networks": {"net9": {"nic": "veth_a0", "colour": "red"}}});
    let (code, err) = run_with_stdout(&h, &["--json", "setup", "-"], Some(&bad), closed_pipe());
    assert_eq!(code, 21, "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
