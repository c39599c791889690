//! A private ovsdb-server per test: own db file, socket and run dir in a
//! tempdir, killed on drop (even on panic). Never the system's service.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

pub struct OvsdbServer {
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    extra_remote: Option<String>,
}

impl OvsdbServer {
    /// Creates the db and starts the server on a unix socket.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// Also listens on `extra` (e.g. `ptcp:PORT:127.0.0.1`).
    pub fn start_with(extra: Option<String>) -> Self {
        Self::start_schema(SCHEMA, extra)
    }

    /// A server for the database of `schema` (any OVSDB schema file).
    pub fn start_schema(schema: &str, extra: Option<String>) -> Self {
        assert!(
            Path::new(schema).exists(),
            "{schema} is missing (tests/run-all installs the packages that ship it)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("conf.db");
        let st = Command::new("ovsdb-tool")
            .arg("create")
            .arg(&db)
            .arg(schema)
            .status()
            .expect("run ovsdb-tool");
        assert!(st.success(), "ovsdb-tool create failed");
        let mut s = Self {
            dir,
            child: None,
            extra_remote: extra,
        };
        s.spawn();
        s
    }

    pub fn sock(&self) -> PathBuf {
        self.dir.path().join("db.sock")
    }

    pub fn addr(&self) -> String {
        format!("unix:{}", self.sock().display())
    }

    pub fn ctl(&self) -> PathBuf {
        self.dir.path().join("ovsdb-server.ctl")
    }

    fn spawn(&mut self) {
        let d = self.dir.path();
        let _ = std::fs::remove_file(self.sock());
        let mut cmd = Command::new("ovsdb-server");
        cmd.arg(d.join("conf.db"))
            .arg(format!("--remote=punix:{}", self.sock().display()))
            .arg(format!("--unixctl={}", self.ctl().display()))
            .arg("--no-chdir")
            .arg(format!(
                "--pidfile={}",
                d.join("ovsdb-server.pid").display()
            ))
            .arg(format!(
                "--log-file={}",
                d.join("ovsdb-server.log").display()
            ))
            .env("OVS_RUNDIR", d)
            .env("OVS_DBDIR", d)
            .env("OVS_LOGDIR", d)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(r) = &self.extra_remote {
            cmd.arg(format!("--remote={r}"));
        }
        self.child = Some(cmd.spawn().expect("spawn ovsdb-server"));
        wait_for_path(&self.sock());
    }

    /// Kills the server, keeping the db file.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same socket and db.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

/// Waits until the server accepts on `p`: the socket file appears at
/// bind, a moment before the server listens.
fn wait_for_path(p: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::os::unix::net::UnixStream::connect(p).is_err() {
        assert!(Instant::now() < deadline, "{} never appeared", p.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for OvsdbServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TCP port free right now (the small race with other tests is accepted).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}
