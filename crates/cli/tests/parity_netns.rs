//! One path per verb: the same `netswitch` command through the daemon and
//! in-process gives byte-identical `--json` output and the same exit code,
//! for good and bad requests, dry and real, with caps the same after each;
//! and a dry run takes no lock on either path.

mod common;
#[path = "support/daemon.rs"]
mod daemon;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Host;
use daemon::{local, steady, Daemon};
use serde_json::{json, Value};

/// A case: what to send, the flags, and the request that undoes it.
struct Case {
    what: &'static str,
    request: Value,
    flags: &'static [&'static str],
    code: i32,
    undo: Option<Value>,
}

fn cases() -> Vec<Case> {
    let net1 = json!({"networks": {"net1": {"nic": "veth_a0", "bridged": true,
        "bootproto": "none", "ipaddr": "10.1.1.2", "prefix": 24}}});
    let remove = Some(json!({"networks": {"net1": {"remove": true}}}));
    vec![
        Case {
            what: "a bridged network, dry",
            request: net1.clone(),
            flags: &["--dry-run", "--dhcp-timeout", "5"],
            code: 0,
            undo: None,
        },
        Case {
            what: "a bridged network",
            request: net1.clone(),
            flags: &[],
            code: 0,
            undo: remove,
        },
        Case {
            what: "an injected failure, rolled back",
            request: net1,
            flags: &["--inject-failure-at", "2"],
            code: 29,
            undo: None,
        },
        Case {
            what: "an unknown attribute",
            request: json!({"networks": {"net1": {"nic": "veth_a0", "colour": "red"}}}),
            flags: &[],
            code: 21,
            undo: None,
        },
        Case {
            what: "a bad address",
            request: json!({"networks": {"net1": {"nic": "veth_a0", "bootproto": "none",
                "ipaddr": "10.1.1.300", "prefix": 24}}}),
            flags: &[],
            code: 22,
            undo: None,
        },
        Case {
            what: "a missing nic",
            request: json!({"networks": {"net1": {"nic": "nosuch0"}}}),
            flags: &["--dry-run"],
            code: 23,
            undo: None,
        },
        Case {
            what: "a bad bond mode",
            request: json!({"bondings": {"bond0": {"nics": ["veth_a0", "veth_b0"],
                "options": "mode=9"}}}),
            flags: &[],
            code: 25,
            undo: None,
        },
        Case {
            what: "removing a network that is not there",
            request: json!({"networks": {"nope": {"remove": true}}}),
            flags: &[],
            code: 27,
            undo: None,
        },
    ]
}

fn setup_args<'a>(flags: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--json", "setup"];
    args.extend_from_slice(flags);
    args.push("-");
    args
}

#[test]
fn every_verb_answers_the_same_through_the_daemon_and_in_process() {
    let h = Host::new();
    let d = Daemon::start(&h);
    for case in cases() {
        let args = setup_args(case.flags);
        let remote = d.via(&h, &args, Some(&case.request));
        let (_, remote_caps, _) = d.via(&h, &["--json", "caps"], None);
        if let Some(undo) = &case.undo {
            let (code, _, err) = d.via(&h, &["setup", "-"], Some(undo));
            assert_eq!(code, 0, "{}: undo through the daemon: {err}", case.what);
        }
        let here = local(&h, &args, Some(&case.request));
        let (_, local_caps, _) = local(&h, &["--json", "caps"], None);
        if let Some(undo) = &case.undo {
            let (code, _, err) = local(&h, &["setup", "-"], Some(undo));
            assert_eq!(code, 0, "{}: undo in-process: {err}", case.what);
        }
        assert_eq!(
            remote.0, case.code,
            "{}: {}{}",
            case.what, remote.1, remote.2
        );
        assert_eq!(here.0, case.code, "{}: {}{}", case.what, here.1, here.2);
        assert_eq!(remote.1, here.1, "{}: --json output differs", case.what);
        let caps = |s: &str| steady(serde_json::from_str::<Value>(s).expect("caps JSON"));
        assert_eq!(
            caps(&remote_caps),
            caps(&local_caps),
            "{}: caps differ",
            case.what
        );
    }
    for verb in [&["--json", "confirm"][..], &["--json", "commit"][..]] {
        assert_eq!(d.via(&h, verb, None), local(&h, verb, None), "{verb:?}");
    }
}

/// Runs `setup --confirm-within 600` of `req` in the background: it holds
/// the transaction lock until `netswitch confirm`.
fn waiting_setup(h: &Host, hooks_dir: &str, req: &Value) -> std::process::Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_netswitch"))
        .args([
            "--netns",
            h.ns.name(),
            "--socket",
            "/nonexistent/netswitch.sock",
        ])
        .args(["--hooks-dir", hooks_dir])
        .arg("--state-dir")
        .arg(h.state.path().join("lib"))
        .arg("--resolv-conf")
        .arg(h.state.path().join("resolv.conf"))
        .args(["setup", "--confirm-within", "600", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn setup");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), req.to_string().as_bytes())
        .unwrap();
    child
}

/// A hooks dir whose before-hook leaves a mark each time it runs.
fn marking_hooks() -> (tempfile::TempDir, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let mark = dir.path().join("ran");
    let before = dir.path().join("before_network_setup");
    std::fs::create_dir(&before).unwrap();
    let hook = before.join("10-mark");
    std::fs::write(
        &hook,
        format!("#!/bin/sh\necho x >> '{}'\n", mark.display()),
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    (dir, mark)
}

#[test]
fn a_dry_run_takes_no_lock_and_runs_no_hooks_on_either_path() {
    let h = Host::new();
    let (hooks, mark) = marking_hooks();
    let hooks_dir = hooks.path().to_str().unwrap();
    let d = Daemon::start_args(
        &h,
        std::path::Path::new(env!("CARGO_BIN_EXE_netswitch")),
        &["--hooks-dir", hooks_dir],
    );
    let first = json!({"networks": {"net1": {"nic": "veth_a0", "bridged": true}}});
    let mut waiting = waiting_setup(&h, hooks_dir, &first);
    // Waiting (and holding the lock) once its confirmation mark is there.
    let pending = h.state.path().join("lib/pending-confirmation");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !pending.exists() {
        assert!(
            Instant::now() < deadline && waiting.try_wait().unwrap().is_none(),
            "the setup did not get to wait for its confirmation"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = json!({"networks": {"net2": {"nic": "veth_b0", "bridged": true}}});
    // The waiting setup ran the hook; start counting after it.
    let _ = std::fs::remove_file(&mark);
    let args = [
        "--hooks-dir",
        hooks_dir,
        "--json",
        "setup",
        "--dry-run",
        "-",
    ];
    let remote = d.via(&h, &args, Some(&second));
    let here = local(&h, &args, Some(&second));
    assert_eq!(remote.0, 0, "through the daemon: {}{}", remote.1, remote.2);
    assert_eq!(here.0, 0, "in-process: {}{}", here.1, here.2);
    assert_eq!(remote.1, here.1);
    // The request's own dryRun too.
    let mut dry = second.clone();
    dry["options"] = json!({"dryRun": true});
    let via_option = d.via(&h, &["setup", "-"], Some(&dry));
    assert_eq!(via_option.0, 0, "dryRun option: {}", via_option.2);
    assert!(!mark.exists(), "a dry run ran the before-hook");
    // A real one is refused both ways while the lock is held.
    assert_eq!(d.via(&h, &["setup", "-"], Some(&second)).0, 40);
    let (code, _, err) = local(&h, &["confirm"], None);
    assert_eq!(code, 0, "{err}");
    assert!(waiting.wait().unwrap().success());
    // A real setup runs the hook through the daemon: the mark is worth
    // looking for.
    let third = json!({"networks": {"net3": {"nic": "veth_b0", "bridged": true}}});
    let (code, _, err) = d.via(&h, &["setup", "-"], Some(&third));
    assert_eq!(code, 0, "{err}");
    assert!(mark.exists(), "a real setup through the daemon ran no hook");
}
