//! One rule for a request in-process and through the daemon: what one path
//! accepts the other does too (`"options": null` was accepted in-process
//! and refused through the daemon).

mod common;

use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Host;
use serde_json::{json, Value};

/// A running `netswitch daemon` for a [`Host`], killed on drop (and with
/// the test process).
struct Daemon {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    fn start(host: &Host) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("api.sock");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_netswitch"));
        cmd.args(["--netns", host.ns.name()])
            .arg("--state-dir")
            .arg(host.state.path().join("lib"))
            .arg("--resolv-conf")
            .arg(host.state.path().join("resolv.conf"))
            .arg("--socket")
            .arg(&socket)
            .arg("daemon")
            .stdin(Stdio::null());
        // SAFETY: prctl is async-signal-safe; the daemon dies with the test.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let d = Daemon {
            child: cmd.spawn().expect("spawn the daemon"),
            socket,
            _dir: dir,
        };
        // A hang guard, not a timing: the daemon comes up in well under this.
        let deadline = Instant::now() + Duration::from_secs(120);
        while UnixStream::connect(&d.socket).is_err() {
            assert!(Instant::now() < deadline, "the daemon did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn setup(h: &Host, socket: &str, req: &Value) -> (i32, String) {
    let (code, out, err) = h.netswitch(&["--socket", socket, "setup", "-"], Some(req));
    (code, format!("{err}{out}"))
}

#[test]
fn null_sections_are_read_alike_in_process_and_through_the_daemon() {
    let h = Host::new();
    let d = Daemon::start(&h);
    let remote = d.socket.to_str().unwrap().to_string();
    let local = "/nonexistent/netswitch.sock".to_string();
    for (i, path) in [&local, &remote].into_iter().enumerate() {
        let net = format!("n{i}");
        let req = json!({"networks": {&net: {"nic": "veth_a0", "bridged": false}}, "bondings": null, "options": null});
        let (code, out) = setup(&h, path, &req);
        assert_eq!(code, 0, "{path}: {out}");
        assert!(h.running().networks.contains_key(&net), "{path}");
        let (code, out) = setup(
            &h,
            path,
            &json!({"networks": {&net: {"remove": true}}, "options": null}),
        );
        assert_eq!(code, 0, "{path}: {out}");
        // An options section of the wrong type is refused alike.
        let (code, out) = setup(&h, path, &json!({"networks": {}, "options": [1]}));
        assert_eq!(code, 21, "{path}: {out}");
    }
    // A raw JSON-RPC caller gets the same rule.
    let mut client = netswitch_daemon::Client::connect(&d.socket).unwrap();
    let answer = client
        .call(
            "Host.setupNetworks",
            json!({"networks": {}, "bondings": null, "options": null}),
        )
        .expect("options null through JSON-RPC");
    assert_eq!(answer["status"]["code"], 0, "{answer}");
}
