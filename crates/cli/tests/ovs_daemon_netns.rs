//! The daemon keeps one OVSDB connection whose monitor feeds its reads of
//! OVS: setups after the first ask ovsdb-server nothing but their own
//! transactions, and see what other writers did through the replica.
//! Against a private ovsdb-server and ovs-vswitchd in the test's namespace.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Host;
use netswitch_testkit::Ovs;
use serde_json::{json, Value};

/// `netswitch daemon` in the host's namespace; SIGTERM, then SIGKILL, on
/// drop (and SIGKILL if the test process dies).
struct Daemon {
    child: Child,
    socket: PathBuf,
}

impl Daemon {
    fn start(h: &Host) -> Daemon {
        let socket = h.state.path().join("api.sock");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_netswitch"));
        cmd.args(["--netns", h.ns.name()])
            .arg("--state-dir")
            .arg(h.state.path().join("lib"))
            .arg("--resolv-conf")
            .arg(h.state.path().join("resolv.conf"))
            .arg("--socket")
            .arg(&socket)
            .arg("daemon")
            .envs(h.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        // SAFETY: prctl is async-signal-safe; nothing else runs in the child.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let d = Daemon {
            child: cmd.spawn().expect("spawn the daemon"),
            socket,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::os::unix::net::UnixStream::connect(&d.socket).is_err() {
            assert!(Instant::now() < deadline, "the daemon's socket never came");
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    fn setup(&self, h: &Host, networks: Value) {
        let req = json!({"networks": networks, "options": {"connectivityCheck": false}});
        let sock = self.socket.to_str().unwrap();
        let (code, out, err) = h.netswitch(&["--socket", sock, "setup", "-"], Some(&req));
        assert_eq!(code, 0, "{err}{out}");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn appctl(ovs: &Ovs, args: &[&str]) -> String {
    let out = Command::new("ovs-appctl")
        .arg("-t")
        .arg(ovs.dir().join("ovsdb-server.ctl"))
        .args(args)
        .output()
        .expect("run ovs-appctl");
    assert!(out.status.success(), "ovs-appctl {args:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The sessions that sent ovsdb-server a plain `monitor` request (the
/// method netswitch uses; ovs-vswitchd and ovs-vsctl use others), from its
/// debug log: one per connection netswitch made.
fn monitor_sessions(dir: &Path) -> Vec<String> {
    let log = std::fs::read_to_string(dir.join("ovsdb-server.log")).unwrap_or_default();
    log.lines()
        .filter(|l| l.contains("received request, method=\"monitor\","))
        .filter_map(|l| l.split("|DBG|").nth(1)?.split(':').next())
        .map(str::to_string)
        .collect()
}

fn mappings(ovs: &Ovs) -> String {
    ovs.vsctl(&[
        "--if-exists",
        "get",
        "Open_vSwitch",
        ".",
        "external_ids:ovn-bridge-mappings",
    ])
    .trim_matches('"')
    .to_string()
}

#[test]
fn the_daemon_reads_ovs_from_one_kept_monitor_across_setups() {
    let mut h = Host::new();
    let ovs = Ovs::start(&h.ns);
    h.use_ovs(&ovs);
    appctl(&ovs, &["vlog/set", "jsonrpc:file:dbg"]);
    let d = Daemon::start(&h);

    d.setup(&h, json!({"mgmt": {"nic": "veth_a0", "switch": "ovs"}}));
    let br = ovs.vsctl(&["port-to-br", "mgmt"]);
    assert!(br.starts_with("vdsmbr_"), "{br}");
    assert_eq!(mappings(&ovs), format!("mgmt:{br}"));

    // Another writer adds its own physical network; the daemon hears of it
    // through its monitor, and its next setup keeps the entry.
    ovs.vsctl(&[
        "--no-wait",
        "set",
        "Open_vSwitch",
        ".",
        &format!("external_ids:ovn-bridge-mappings=mgmt:{br},physnet:br-phys"),
    ]);
    d.setup(
        &h,
        json!({"red": {"nic": "veth_a0", "switch": "ovs", "vlan": 10}}),
    );
    assert_eq!(ovs.vsctl(&["get", "Port", "red", "tag"]), "10");
    assert_eq!(ovs.vsctl(&["port-to-br", "red"]), br);
    let m = mappings(&ovs);
    for want in [
        format!("mgmt:{br}"),
        format!("red:{br}"),
        "physnet:br-phys".into(),
    ] {
        assert!(m.split(',').any(|e| e == want), "{want} missing from {m}");
    }

    // A removal, read from the same replica.
    d.setup(&h, json!({"red": {"remove": true}}));
    let out = ovs.vsctl(&["list-ports", &br]);
    assert!(!out.lines().any(|p| p == "red"), "{out}");

    // All three setups went through one connection and one monitor.
    let sessions = monitor_sessions(&ovs.dir());
    assert_eq!(sessions.len(), 1, "monitor requests from {sessions:?}");
}

#[test]
fn a_cli_setup_reads_and_waits_on_one_connection() {
    let mut h = Host::new();
    let ovs = Ovs::start(&h.ns);
    h.use_ovs(&ovs);
    appctl(&ovs, &["vlog/set", "jsonrpc:file:dbg"]);
    // Read before planning, transaction, cur_cfg wait, verification read:
    // one connection, one monitor.
    h.setup(
        json!({"networks": {"mgmt": {"nic": "veth_a0", "switch": "ovs", "mtu": 1400}},
                   "options": {"connectivityCheck": false}}),
    );
    assert_eq!(
        ovs.vsctl(&["get", "Interface", "mgmt", "mtu_request"]),
        "1400"
    );
    let sessions = monitor_sessions(&ovs.dir());
    assert_eq!(sessions.len(), 1, "monitor requests from {sessions:?}");
}
