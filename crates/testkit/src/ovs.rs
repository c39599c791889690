//! A private Open vSwitch for one test: its own ovsdb-server and
//! ovs-vswitchd, with their own database, sockets and logs in a tempdir,
//! running inside the test's namespace. Never the system's service.
//!
//! On this machine the bridges use the userspace datapath (`netdev`: the
//! kernel has no openvswitch module); in the kernel lab the kernel one
//! (`system`). Both daemons die with the value, or with the test process
//! (`PR_SET_PDEATHSIG`) if it is killed before its drops run.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{in_lab, Netns};

/// The schema Debian's openvswitch-common installs.
pub const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// ovsdb-server and ovs-vswitchd for one test.
#[derive(Debug)]
pub struct Ovs {
    dir: tempfile::TempDir,
    children: Vec<Child>,
    /// `datapath_type` the bridges of this test should use.
    pub datapath: &'static str,
}

fn spawn_in(ns: &Netns, dir: &Path, argv: &[String]) -> Child {
    let env: Vec<(&str, PathBuf)> = ["OVS_RUNDIR", "OVS_DBDIR", "OVS_LOGDIR", "OVS_SYSCONFDIR"]
        .into_iter()
        .map(|k| (k, dir.to_path_buf()))
        .collect();
    spawn(Some(ns), &env, argv)
}

/// Starts `argv` (inside `ns` when given) with `env`, quiet, dying with
/// the test process.
pub(crate) fn spawn(ns: Option<&Netns>, env: &[(&str, PathBuf)], argv: &[String]) -> Child {
    let mut cmd = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns.name()]).args(argv);
            c
        }
        None => {
            let mut c = Command::new(&argv[0]);
            c.args(&argv[1..]);
            c
        }
    };
    cmd.envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork
    // and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.spawn()
        .unwrap_or_else(|e| panic!("spawn {} (is it installed?): {e}", argv[0]))
}

pub(crate) fn wait_for_path(p: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !p.exists() {
        assert!(Instant::now() < deadline, "{} never appeared", p.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Seconds since the (lab) kernel booted.
fn uptime() -> f64 {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

impl Ovs {
    /// Starts both daemons inside `ns` and waits until ovs-vswitchd has
    /// taken the (empty) configuration.
    pub fn start(ns: &Netns) -> Ovs {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().to_path_buf();
        let db = d.join("conf.db");
        let st = Command::new("ovsdb-tool")
            .arg("create")
            .arg(&db)
            .arg(SCHEMA)
            .status()
            .expect("run ovsdb-tool");
        assert!(st.success(), "ovsdb-tool create failed");
        let mut ovs = Ovs {
            dir,
            children: Vec::new(),
            datapath: if in_lab() { "system" } else { "netdev" },
        };
        let p = |name: &str| d.join(name).display().to_string();
        ovs.children.push(spawn_in(
            ns,
            &d,
            &[
                "ovsdb-server".into(),
                db.display().to_string(),
                format!("--remote=punix:{}", p("db.sock")),
                format!("--unixctl={}", p("ovsdb-server.ctl")),
                "--no-chdir".into(),
                format!("--log-file={}", p("ovsdb-server.log")),
            ],
        ));
        wait_for_path(&d.join("db.sock"));
        ovs.vsctl(&["--no-wait", "init"]);
        // ovs-vswitchd 3.1 counts CPUs only once the monotonic clock is
        // past 10 s; a kernel datapath opened earlier loses every upcall.
        while in_lab() && uptime() < 11.0 {
            std::thread::sleep(Duration::from_millis(100));
        }
        ovs.children.push(spawn_in(
            ns,
            &d,
            &[
                "ovs-vswitchd".into(),
                format!("unix:{}", p("db.sock")),
                format!("--unixctl={}", p("ovs-vswitchd.ctl")),
                "--no-chdir".into(),
                "-vconsole:off".into(),
                format!("--log-file={}", p("ovs-vswitchd.log")),
            ],
        ));
        // Without --no-wait, ovs-vsctl returns once ovs-vswitchd caught up.
        ovs.vsctl(&[
            "--timeout=60",
            "set",
            "Open_vSwitch",
            ".",
            "external_ids:test=1",
        ]);
        ovs
    }

    /// The database address, as `netswitch --ovs-db` takes it.
    pub fn db(&self) -> String {
        format!("unix:{}", self.dir.path().join("db.sock").display())
    }

    /// The run dir (database, sockets, logs).
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Runs `ovs-vsctl` on this database; panics on failure.
    pub fn vsctl(&self, args: &[&str]) -> String {
        let out = Command::new("ovs-vsctl")
            .arg(format!("--db={}", self.db()))
            .args(args)
            .output()
            .expect("run ovs-vsctl");
        assert!(
            out.status.success(),
            "ovs-vsctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The tail of ovs-vswitchd's log, for assertion messages.
    pub fn log_tail(&self) -> String {
        let log =
            std::fs::read_to_string(self.dir.path().join("ovs-vswitchd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Ovs {
    fn drop(&mut self) {
        // ovs-vswitchd first, so it lets go of the database cleanly.
        for c in self.children.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
