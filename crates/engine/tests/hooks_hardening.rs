//! Hooks that misbehave, run for real (shell scripts in a temp dir): a
//! flood of output is bounded, a hook that times out goes with everything
//! it started, and hooks others may change are not run as root.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use netswitch_engine::hooks::{self, AFTER_NETWORK_SETUP, BEFORE_NETWORK_SETUP};
use netswitch_engine::HookError;
use serde_json::json;

/// A hooks dir (0700) with its two stage dirs (0755).
fn hooks_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for stage in [BEFORE_NETWORK_SETUP, AFTER_NETWORK_SETUP] {
        let d = dir.path().join(stage);
        fs::create_dir(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

fn script(dir: &Path, stage: &str, name: &str, body: &str, mode: u32) -> PathBuf {
    let p = dir.join(stage).join(name);
    fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    p
}

fn request() -> serde_json::Value {
    hooks::request_value(&json!({"networks": {"n": {"nic": "eth0"}}}))
}

fn max_rss_kib() -> i64 {
    // SAFETY: getrusage(2) fills the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    ru.ru_maxrss
}

#[test]
fn a_hook_printing_50_mb_is_read_to_the_end_but_kept_to_the_limit() {
    let rss_before = max_rss_kib();
    let dir = hooks_dir();
    script(
        dir.path(),
        BEFORE_NETWORK_SETUP,
        "10-flood",
        "head -c 52428800 /dev/zero | tr '\\0' x\nhead -c 52428800 /dev/zero | tr '\\0' y >&2\nexit 3",
        0o755,
    );
    let e = hooks::before_network_setup(dir.path(), &request()).unwrap_err();
    assert_eq!(e.code(), 29);
    let text = e.to_string();
    assert!(
        text.contains("10-flood") && text.contains("xxxx"),
        "{}",
        &text[..200.min(text.len())]
    );
    assert!(
        text.len() < 4096,
        "the message is clipped: {} bytes",
        text.len()
    );
    // Neither 50 MB stream was ever held whole.
    // (The high-water mark of this process: a whole stream held would
    // raise it by 50 MB or more.)
    let grew = max_rss_kib() - rss_before;
    assert!(grew < 30 * 1024, "max RSS grew by {grew} KiB");
}

/// Whether process `pid` is gone (or a zombie waiting for init).
fn gone(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[test]
fn a_hook_that_times_out_is_killed_with_its_grandchildren() {
    let dir = hooks_dir();
    let pidfile = dir.path().join("grandchild.pid");
    script(
        dir.path(),
        BEFORE_NETWORK_SETUP,
        "10-hang",
        &format!("sleep 300 &\necho $! > {}\nsleep 300", pidfile.display()),
        0o755,
    );
    let e = hooks::before_network_setup_within(dir.path(), &request(), Duration::from_secs(2))
        .unwrap_err();
    assert!(matches!(e, HookError::Failed { .. }), "{e}");
    assert!(e.to_string().contains("killed"), "{e}");
    let pid: i32 = fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !gone(pid) {
        assert!(
            Instant::now() < deadline,
            "grandchild {pid} survived its hook"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn hooks_others_may_change_are_not_run() {
    let marker_body = |dir: &Path, name: &str| format!("touch {}", dir.join(name).display());
    // A world-writable hook.
    let dir = hooks_dir();
    script(
        dir.path(),
        BEFORE_NETWORK_SETUP,
        "10-open",
        &marker_body(dir.path(), "ran-open"),
        0o777,
    );
    let e = hooks::before_network_setup(dir.path(), &request()).unwrap_err();
    assert_eq!(e.code(), 29);
    assert!(
        e.to_string().contains("before_network_setup/10-open")
            && e.to_string().contains("writable by group or others"),
        "{e}"
    );
    assert!(!dir.path().join("ran-open").exists());

    // A trusted hook in a world-writable stage dir, and one owned by
    // another user.
    let dir = hooks_dir();
    let stage = dir.path().join(BEFORE_NETWORK_SETUP);
    script(
        dir.path(),
        BEFORE_NETWORK_SETUP,
        "10-ok",
        &marker_body(dir.path(), "ran-ok"),
        0o755,
    );
    fs::set_permissions(&stage, fs::Permissions::from_mode(0o777)).unwrap();
    let e = hooks::before_network_setup(dir.path(), &request()).unwrap_err();
    assert!(e.to_string().contains("stage dir"), "{e}");
    fs::set_permissions(&stage, fs::Permissions::from_mode(0o755)).unwrap();
    let theirs = script(
        dir.path(),
        BEFORE_NETWORK_SETUP,
        "20-theirs",
        &marker_body(dir.path(), "ran-theirs"),
        0o755,
    );
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    let e = hooks::before_network_setup(dir.path(), &request()).unwrap_err();
    assert!(e.to_string().contains("owned by uid 65534"), "{e}");
    // Refused before any ran: not even the trusted one.
    assert!(!dir.path().join("ran-ok").exists());
    assert!(!dir.path().join("ran-theirs").exists());

    // After-hooks: the untrusted one is skipped, the trusted one runs.
    let dir = hooks_dir();
    script(
        dir.path(),
        AFTER_NETWORK_SETUP,
        "10-open",
        &marker_body(dir.path(), "after-open"),
        0o777,
    );
    script(
        dir.path(),
        AFTER_NETWORK_SETUP,
        "20-ok",
        &marker_body(dir.path(), "after-ok"),
        0o755,
    );
    hooks::after_network_setup(dir.path(), &request(), 0, "Done");
    assert!(!dir.path().join("after-open").exists());
    assert!(dir.path().join("after-ok").exists());
}
