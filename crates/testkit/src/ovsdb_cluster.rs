//! A private clustered (RAFT) ovsdb-server group for tests: `n` servers of
//! one schema on loopback TCP ports, each with its own db file, control
//! socket and log in one temp dir. Every server is killed (by its child
//! handle, i.e. by pid) when the value drops, even when the test panics.
//!
//! Built the way an operator builds a clustered OVN NB: `ovsdb-tool
//! create-cluster` for the first server, `ovsdb-tool join-cluster` for the
//! others, then one `ovsdb-server` per file. Who leads is read back with
//! `ovs-appctl cluster/status`, as an operator would.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One member of the cluster.
#[derive(Debug)]
struct Member {
    client_port: u16,
    child: Option<Child>,
    /// Stopped with SIGSTOP: it answers nothing, not even `ovs-appctl`.
    paused: bool,
}

/// A running RAFT cluster of ovsdb-servers; see the module doc.
#[derive(Debug)]
pub struct OvsdbCluster {
    dir: tempfile::TempDir,
    db: String,
    members: Vec<Member>,
}

/// A loopback port free right now (the kernel picks it; there is a small
/// window before the server binds it, acceptable in tests).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl OvsdbCluster {
    /// Creates and starts an `n`-server cluster of the database `db`
    /// defined by `schema`, and waits (up to 60 s) until it has a leader
    /// and every server is a member.
    pub fn start(schema: &str, db: &str, n: usize) -> Self {
        assert!(
            Path::new(schema).exists(),
            "{schema} is missing (tests/run-all installs the packages that ship it)"
        );
        assert!(n >= 1, "a cluster needs a server");
        let dir = tempfile::tempdir().expect("tempdir");
        let raft: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let raft_addr = |i: usize| format!("tcp:127.0.0.1:{}", raft[i]);
        let mut c = Self {
            dir,
            db: db.to_owned(),
            members: Vec::new(),
        };
        run(Command::new("ovsdb-tool")
            .arg("create-cluster")
            .arg(c.file(0, "db"))
            .arg(schema)
            .arg(raft_addr(0)));
        for i in 1..n {
            run(Command::new("ovsdb-tool")
                .arg("join-cluster")
                .arg(c.file(i, "db"))
                .arg(db)
                .arg(raft_addr(i))
                .arg(raft_addr(0)));
        }
        for i in 0..n {
            c.members.push(Member {
                client_port: free_port(),
                child: None,
                paused: false,
            });
            c.spawn(i);
        }
        c.wait_ready(Duration::from_secs(60));
        c
    }

    fn file(&self, i: usize, ext: &str) -> PathBuf {
        self.dir.path().join(format!("s{i}.{ext}"))
    }

    fn spawn(&mut self, i: usize) {
        let port = self.members[i].client_port;
        let child = Command::new("ovsdb-server")
            .arg(self.file(i, "db"))
            .arg(format!("--remote=ptcp:{port}:127.0.0.1"))
            .arg(format!("--unixctl={}", self.file(i, "ctl").display()))
            .arg(format!("--pidfile={}", self.file(i, "pid").display()))
            .arg(format!("--log-file={}", self.file(i, "log").display()))
            .arg("--no-chdir")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ovsdb-server");
        self.members[i].child = Some(child);
    }

    /// How many servers the cluster was made with.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Never true: a cluster has at least one server.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Server `i`'s client address, `tcp:127.0.0.1:PORT`.
    pub fn addr(&self, i: usize) -> String {
        format!("tcp:127.0.0.1:{}", self.members[i].client_port)
    }

    /// The client addresses in the order `order`, comma-separated, as
    /// `ovn-nbctl --db=` takes them.
    pub fn remotes(&self, order: &[usize]) -> String {
        let v: Vec<String> = order.iter().map(|&i| self.addr(i)).collect();
        v.join(",")
    }

    /// Server `i`'s `ovs-appctl cluster/status` output, if it answers.
    pub fn status(&self, i: usize) -> Option<String> {
        let out = Command::new("ovs-appctl")
            .arg("-t")
            .arg(self.file(i, "ctl"))
            .arg("--timeout=5")
            .arg("cluster/status")
            .arg(&self.db)
            .stderr(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The index of the server that says it leads, if one does (and is
    /// still running).
    pub fn leader(&self) -> Option<usize> {
        (0..self.len()).find(|&i| {
            self.is_running(i)
                && !self.members[i].paused
                && self.role(i).as_deref() == Some("leader")
        })
    }

    /// Server `i`'s RAFT role as `cluster/status` says it (`leader`,
    /// `follower`, `candidate`), if it answers.
    pub fn role(&self, i: usize) -> Option<String> {
        let s = self.status(i)?;
        s.lines()
            .find_map(|l| l.trim().strip_prefix("Role: ").map(str::to_owned))
    }

    /// Waits up to `timeout` for a leader; panics naming the logs if none.
    pub fn wait_leader(&self, timeout: Duration) -> usize {
        let end = Instant::now() + timeout;
        loop {
            if let Some(i) = self.leader() {
                return i;
            }
            assert!(
                Instant::now() < end,
                "no leader within {timeout:?}; logs in {}",
                self.dir.path().display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn wait_ready(&self, timeout: Duration) {
        let end = Instant::now() + timeout;
        loop {
            let members = (0..self.len())
                .filter(|&i| {
                    self.status(i)
                        .is_some_and(|s| s.contains("Status: cluster member"))
                })
                .count();
            if members == self.len() && self.leader().is_some() {
                return;
            }
            assert!(
                Instant::now() < end,
                "cluster not formed within {timeout:?}; logs in {}",
                self.dir.path().display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Kills server `i` with SIGKILL (a crash, not a clean leave) and reaps it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut ch) = self.members[i].child.take() {
            let _ = ch.kill();
            let _ = ch.wait();
        }
    }

    /// Freezes server `i` (SIGSTOP): its connections stay open but it
    /// answers nothing, so the others elect a new leader without it.
    pub fn pause(&mut self, i: usize) {
        self.signal(i, libc::SIGSTOP);
        self.members[i].paused = true;
    }

    /// Resumes a server frozen by [`OvsdbCluster::pause`] (SIGCONT).
    pub fn resume(&mut self, i: usize) {
        self.signal(i, libc::SIGCONT);
        self.members[i].paused = false;
    }

    fn signal(&self, i: usize, sig: libc::c_int) {
        let ch = self.members[i].child.as_ref().expect("server running");
        let pid = libc::pid_t::try_from(ch.id()).expect("pid fits");
        // SAFETY: kill(2) on our own child's pid; no memory is shared.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill({pid}, {sig}) failed");
    }

    /// Whether server `i` is running (not killed by [`OvsdbCluster::kill`]).
    pub fn is_running(&self, i: usize) -> bool {
        self.members[i].child.is_some()
    }
}

impl Drop for OvsdbCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}
