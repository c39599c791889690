#![allow(dead_code)] // each test binary uses a different part
//! A `netswitch daemon` for a test's [`Host`], stopped at the end of the
//! test (SIGTERM, then SIGKILL, on drop; SIGKILL if the test process dies).

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::Host;

pub struct Daemon {
    child: Child,
    pub socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    /// The tests' `netswitch` serving `host`'s namespace and state dir.
    pub fn start(host: &Host) -> Daemon {
        Daemon::start_with(host, Path::new(env!("CARGO_BIN_EXE_netswitch")))
    }

    /// `binary` serving `host`'s namespace and state dir.
    pub fn start_with(host: &Host, binary: &Path) -> Daemon {
        Daemon::start_args(host, binary, &[])
    }

    /// The same, with more global options (`--hooks-dir DIR`, say).
    pub fn start_args(host: &Host, binary: &Path, extra: &[&str]) -> Daemon {
        Daemon::start_full(host, binary, extra, &[])
    }

    /// The tests' `netswitch` with options of `daemon` itself (`--listen`).
    pub fn start_daemon_args(host: &Host, daemon_args: &[&str]) -> Daemon {
        let binary = Path::new(env!("CARGO_BIN_EXE_netswitch"));
        Daemon::start_full(host, binary, &[], daemon_args)
    }

    /// The process id, for /proc.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn start_full(host: &Host, binary: &Path, extra: &[&str], daemon_args: &[&str]) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let socket = dir.path().join("api.sock");
        let mut cmd = Command::new(binary);
        cmd.args(["--netns", host.ns.name()])
            .arg("--state-dir")
            .arg(host.state.path().join("lib"))
            .arg("--resolv-conf")
            .arg(host.state.path().join("resolv.conf"))
            .arg("--socket")
            .arg(&socket)
            .args(extra)
            .arg("daemon")
            .args(daemon_args)
            .stdin(Stdio::null());
        // SAFETY: prctl is async-signal-safe; the daemon dies with the test.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn the daemon");
        let d = Daemon {
            child,
            socket,
            _dir: dir,
        };
        // Generous: the machine is shared and loaded; this is not a timing.
        let deadline = Instant::now() + Duration::from_secs(60);
        while UnixStream::connect(&d.socket).is_err() {
            assert!(Instant::now() < deadline, "the daemon did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    /// A JSON-RPC client on this daemon's socket.
    pub fn client(&self) -> netswitch_daemon::Client {
        netswitch_daemon::Client::connect(&self.socket).unwrap()
    }

    /// Whether the daemon process still runs.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// `netswitch ARGS` through this daemon.
    pub fn via(&self, host: &Host, args: &[&str], stdin: Option<&Value>) -> (i32, String, String) {
        let sock = self.socket.to_str().unwrap().to_string();
        let mut full = vec!["--socket", sock.as_str()];
        full.extend_from_slice(args);
        host.netswitch(&full, stdin)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: signalling our own child by its pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `netswitch ARGS` in-process (a socket path that does not exist).
pub fn local(host: &Host, args: &[&str], stdin: Option<&Value>) -> (i32, String, String) {
    let mut full = vec!["--socket", "/nonexistent/netswitch.sock"];
    full.extend_from_slice(args);
    host.netswitch(&full, stdin)
}

/// Caps without the values that move between two reads (bridge timers).
pub fn steady(mut caps: Value) -> Value {
    if let Some(bridges) = caps["bridges"].as_object_mut() {
        for b in bridges.values_mut() {
            if let Some(opts) = b["opts"].as_object_mut() {
                opts.retain(|k, _| !k.ends_with("_timer"));
            }
        }
    }
    caps
}
