//! Hardening read back as an operator would, in a scratch namespace: a
//! bridge the administrator made is refused and left intact; the resolver
//! file's symlink survives a setup and its rollback; a failed journal write
//! leaves no temp file.

mod common;

use common::Host;
use serde_json::json;

/// An administrator's bridge `adminbr` with veth_a0 as its port and an
/// address of its own.
fn admin_bridge(h: &Host) {
    h.ns.ip(&["link", "add", "adminbr", "type", "bridge"]);
    h.ns.ip(&["link", "set", "veth_a0", "master", "adminbr"]);
    h.ns.ip(&["addr", "add", "198.51.100.7/24", "dev", "adminbr"]);
    h.ns.ip(&["link", "set", "adminbr", "up"]);
}

fn admin_bridge_intact(h: &Host) {
    let br = h
        .link("adminbr")
        .expect("the admin's bridge is still there");
    assert_eq!(br["linkinfo"]["info_kind"], "bridge");
    assert_eq!(h.link("veth_a0").unwrap()["master"], "adminbr");
    assert_eq!(h.addrs("adminbr"), vec!["198.51.100.7/24"]);
}

#[test]
fn a_network_named_after_a_foreign_bridge_is_refused_with_27_and_the_bridge_kept() {
    let h = Host::new();
    admin_bridge(&h);
    let req = json!({"networks": {"adminbr": {
        "nic": "veth_b0", "bridged": true, "ipaddr": "192.0.2.10", "prefix": 24}}});
    let (code, err) = h.setup_code(&req, &[]);
    assert_eq!(code, 27, "{err}");
    assert!(
        err.contains("network adminbr") && err.contains("device adminbr"),
        "{err}"
    );
    admin_bridge_intact(&h);
    assert!(h.link("veth_b0").unwrap()["master"].is_null());
    assert!(h.running().networks.is_empty());
    // A later removal of that name cannot delete it either: it is not a
    // network of netswitch's.
    let (code, err) = h.setup_code(&json!({"networks": {"adminbr": {"remove": true}}}), &[]);
    assert_eq!(code, 27, "{err}");
    admin_bridge_intact(&h);
}

#[test]
fn a_port_of_a_foreign_bridge_is_refused_with_24_and_the_bridge_kept() {
    let h = Host::new();
    admin_bridge(&h);
    for bridged in [false, true] {
        let req = json!({"networks": {"net1": {
            "nic": "veth_a0", "bridged": bridged, "ipaddr": "192.0.2.10", "prefix": 24}}});
        let (code, err) = h.setup_code(&req, &[]);
        assert_eq!(code, 24, "bridged {bridged}: {err}");
        assert!(
            err.contains("network net1") && err.contains("veth_a0") && err.contains("adminbr"),
            "{err}"
        );
        admin_bridge_intact(&h);
        assert!(h.link("net1").is_none());
    }
}

#[test]
fn netswitch_s_own_bridge_is_still_edited_and_removed() {
    let h = Host::new();
    h.setup(json!({"networks": {"net1": {"nic": "veth_a0", "bridged": true}}}));
    h.setup(json!({"networks": {"net1": {"nic": "veth_a0", "bridged": true, "mtu": 1400}}}));
    assert_eq!(h.link("net1").unwrap()["mtu"], 1400);
    h.setup(json!({"networks": {"net1": {"remove": true}}}));
    assert!(h.link("net1").is_none());
}

/// Makes the test's resolv.conf a relative symlink into `run/`, as
/// systemd-resolved does; returns the link's target's path.
fn symlinked_resolver(h: &Host) -> std::path::PathBuf {
    let link = h.state.path().join("resolv.conf");
    let run = h.state.path().join("run");
    std::fs::create_dir(&run).unwrap();
    let target = run.join("stub-resolv.conf");
    std::fs::rename(&link, &target).unwrap();
    std::os::unix::fs::symlink("run/stub-resolv.conf", &link).unwrap();
    target
}

fn dns_net() -> serde_json::Value {
    json!({"networks": {"mgmt": {
        "nic": "veth_a0", "ipaddr": "192.0.2.10", "prefix": 24, "gateway": "192.0.2.1",
        "defaultRoute": true, "nameservers": ["192.0.2.53"]}}})
}

#[test]
fn a_symlinked_resolver_stays_a_symlink_through_a_rollback_and_a_setup() {
    let h = Host::new();
    let target = symlinked_resolver(&h);
    let link = h.state.path().join("resolv.conf");
    let old = std::fs::read(&target).unwrap();
    let is_our_link = || {
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
            && std::fs::read_link(&link).unwrap() == std::path::Path::new("run/stub-resolv.conf")
    };
    // Rolled back: no confirmation comes.
    let (code, err) = h.setup_code(&dns_net(), &["--confirm-within", "0.3"]);
    assert_eq!(code, 10, "{err}");
    assert!(is_our_link(), "the link survives the rollback");
    assert_eq!(std::fs::read(&target).unwrap(), old, "the bytes are back");
    // Applied: written through the link.
    h.setup(dns_net());
    assert!(is_our_link(), "the link survives the setup");
    let text = std::fs::read_to_string(&target).unwrap();
    assert!(text.contains("nameserver 192.0.2.53"), "{text}");
    assert!(text.contains("search example.org"), "{text}");
}

#[test]
fn a_journal_write_that_fails_leaves_no_temp_file_and_changes_nothing() {
    use std::os::unix::process::CommandExt;
    let h = Host::new();
    let state = h.state.path().join("lib");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_netswitch"));
    cmd.args(["--netns", h.ns.name()])
        .arg("--state-dir")
        .arg(&state)
        .arg("--resolv-conf")
        .arg(h.state.path().join("resolv.conf"))
        .args(["setup", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    // SAFETY: between fork and exec only async-signal-safe calls: a file
    // size limit far below any journal (as a full disk would stop it), and
    // SIGXFSZ ignored so the write fails with EFBIG instead of killing.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 64,
                rlim_max: 64,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &lim);
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let req = json!({"networks": {"net1": {"nic": "veth_a0", "bridged": true}}});
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), req.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(29), "{err}");
    assert!(err.contains("journal"), "{err}");
    let left: Vec<String> = std::fs::read_dir(&state)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, vec!["lock"], "only the lock is left");
    assert!(h.link("net1").is_none());
    assert!(h.running().networks.is_empty());
}

#[test]
fn a_full_disk_at_the_save_leaves_no_half_generation_and_rolls_back() {
    let h = Host::new();
    let state = h.state.path().join("full");
    std::fs::create_dir(&state).unwrap();
    let req = json!({"networks": {"net1": {"nic": "veth_a0", "bridged": true}}});
    // A one-page tmpfs over the state dir, in a private mount namespace
    // that goes away with the shell: the journal fits, the first config
    // file does not. The listing is taken inside, before it goes.
    let script = r#"mount -t tmpfs -o size=4k,mode=0700 netswitch-test "$1" || exit 99
"$2" --netns "$3" --state-dir "$1" --resolv-conf "$4" setup -
echo "rc=$?"
ls -A "$1""#;
    let mut child = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(&state)
        .arg(env!("CARGO_BIN_EXE_netswitch"))
        .arg(h.ns.name())
        .arg(h.state.path().join("resolv.conf"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), req.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut lines = stdout.lines().skip_while(|l| !l.starts_with("rc="));
    assert_eq!(lines.next(), Some("rc=29"), "{stdout}{stderr}");
    // The journal fit; the save of the running config did not.
    assert!(
        stderr.contains("No space left") && stderr.contains("/nets/net1"),
        "{stderr}"
    );
    let left: Vec<&str> = lines.collect();
    assert_eq!(left, vec!["lock"], "only the lock is left: {stderr}");
    // Rolled back; and nothing leaked onto the real state dir.
    assert!(h.link("net1").is_none());
    assert!(h.link("veth_a0").unwrap()["master"].is_null());
    assert_eq!(std::fs::read_dir(&state).unwrap().count(), 0);
}
