//! The CLI's supervision: one small supervisor process per DHCP network
//! (`netswitch dhcp-client NET`, hidden), started and stopped by the
//! engine, each running [`crate::client::run`] until SIGTERM.
//!
//! Files under `<state-dir>/dhcp/`: `NET.spec.json` (what to run, written
//! by the starter before the spawn), `NET.pid` (written by the supervisor
//! itself, removed when it exits), `NET.lease.json` (its leases),
//! `NET.log` (its stderr). The supervisor is detached (own session,
//! double fork) because it must outlive the `netswitch setup` that
//! started it; it inherits that command's network namespace.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::client::{self, Paths};
use crate::lease::LeaseFile;
use crate::spec::ClientSpec;
use crate::DhcpError;

/// The hidden CLI verb a supervisor runs as.
pub const VERB: &str = "dhcp-client";

/// Starts, stops and waits on the supervisor processes of one state dir.
#[derive(Debug, Clone)]
pub struct Supervisor {
    /// `<state-dir>/dhcp`.
    pub dir: PathBuf,
    /// The `netswitch` binary to run as supervisor.
    pub program: PathBuf,
    /// Global arguments before the verb (state dir, resolver file).
    pub args: Vec<OsString>,
}

fn alive(pid: i32) -> bool {
    // A zombie (exited, not yet reaped by init) counts as gone.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|st| st != "Z" && st != "X"),
        Err(_) => false,
    }
}

fn cmdline(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

impl Supervisor {
    /// Supervisors of the state dir `state_dir`, run as this very program
    /// (the `netswitch` binary) with the same resolver file.
    pub fn new(state_dir: &Path, resolv_conf: &Path) -> Supervisor {
        Supervisor {
            dir: state_dir.join("dhcp"),
            program: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("netswitch")),
            args: vec![
                "--state-dir".into(),
                state_dir.as_os_str().to_owned(),
                "--resolv-conf".into(),
                resolv_conf.as_os_str().to_owned(),
                "-v".into(),
            ],
        }
    }

    fn file(&self, net: &str, ext: &str) -> PathBuf {
        self.dir.join(format!("{net}.{ext}"))
    }

    /// The lease file of a network.
    pub fn lease_file(&self, net: &str) -> PathBuf {
        self.file(net, "lease.json")
    }

    /// The pid of a network's live supervisor, checked against its command
    /// line (a stale pid file after a reboot names someone else).
    pub fn pid(&self, net: &str) -> Option<i32> {
        let pid: i32 = std::fs::read_to_string(self.file(net, "pid"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let cmd = cmdline(pid);
        (alive(pid) && cmd.iter().any(|a| a == VERB) && cmd.last().map(String::as_str) == Some(net))
            .then_some(pid)
    }

    /// Networks with a live supervisor, with the spec it runs.
    pub fn running(&self) -> BTreeMap<String, ClientSpec> {
        let mut out = BTreeMap::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return out;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(net) = name.strip_suffix(".spec.json") else {
                continue;
            };
            if self.pid(net).is_none() {
                continue;
            }
            if let Some(spec) = std::fs::read(e.path())
                .ok()
                .and_then(|b| serde_json::from_slice::<ClientSpec>(&b).ok())
            {
                out.insert(net.to_string(), spec);
            }
        }
        out
    }

    /// Starts a network's supervisor (stopping an older one first) and
    /// waits until it has written its pid.
    pub fn start(&self, spec: &ClientSpec) -> Result<(), DhcpError> {
        self.stop(&spec.net)?;
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(&self.dir)
            .map_err(|e| DhcpError::io(&self.dir, e))?;
        let spec_path = self.file(&spec.net, "spec.json");
        write_private(
            &spec_path,
            &serde_json::to_vec_pretty(spec).unwrap_or_default(),
        )
        .map_err(|e| DhcpError::io(&spec_path, e))?;
        let _ = std::fs::remove_file(self.lease_file(&spec.net));
        let log_path = self.file(&spec.net, "log");
        let log = private_options()
            .append(true)
            .open(&log_path)
            .map_err(|e| DhcpError::io(&log_path, e))?;
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .arg(VERB)
            .arg(&spec.net)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        // Detach: a session of its own, and a second fork so init adopts it.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                match libc::fork() {
                    -1 => Err(std::io::Error::last_os_error()),
                    0 => Ok(()),
                    _ => libc::_exit(0),
                }
            });
        }
        let mut child = cmd.spawn().map_err(|e| DhcpError::Supervise {
            net: spec.net.clone(),
            message: format!("starting {}: {e}", self.program.display()),
        })?;
        let _ = child.wait();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.pid(&spec.net).is_some() {
                info!(net = spec.net, dev = spec.dev, "dhcp supervisor started");
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(DhcpError::Supervise {
            net: spec.net.clone(),
            message: format!(
                "the DHCP supervisor did not start; see {}",
                log_path.display()
            ),
        })
    }

    /// Stops a network's supervisor: SIGTERM, which releases its leases
    /// and takes them off the host; waits for it to exit (SIGKILL after
    /// 5 s, then the leases stay until they expire).
    pub fn stop(&self, net: &str) -> Result<(), DhcpError> {
        if let Some(pid) = self.pid(net) {
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if alive(pid) {
                warn!(net, pid, "dhcp supervisor ignored SIGTERM; killing it");
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            info!(net, pid, "dhcp supervisor stopped");
        }
        for ext in ["pid", "spec.json", "lease.json"] {
            let _ = std::fs::remove_file(self.file(net, ext));
        }
        Ok(())
    }

    /// Stops the supervisors that `want` does not keep as they are (gone,
    /// or changed: device, families, role). Runs before a plan is applied,
    /// so a release still goes out on a device the plan deletes.
    pub fn stop_unwanted(&self, want: &BTreeMap<String, ClientSpec>) -> Result<(), DhcpError> {
        for (net, spec) in self.running() {
            if want.get(&net) != Some(&spec) {
                self.stop(&net)?;
            }
        }
        Ok(())
    }

    /// Makes the running supervisors exactly `want`: stops the others,
    /// starts the missing ones. Returns the networks started.
    pub fn sync(&self, want: &BTreeMap<String, ClientSpec>) -> Result<Vec<String>, DhcpError> {
        self.stop_unwanted(want)?;
        let running = self.running();
        let mut started = Vec::new();
        for (net, spec) in want {
            if !running.contains_key(net) {
                self.start(spec)?;
                started.push(net.clone());
            }
        }
        Ok(started)
    }

    /// Waits until each of `nets` holds the leases its spec asks for.
    pub fn wait(&self, specs: &[&ClientSpec], timeout: Duration) -> Result<(), DhcpError> {
        let deadline = Instant::now() + timeout;
        for spec in specs {
            loop {
                let l = LeaseFile::read(&self.lease_file(&spec.net));
                if (!spec.v4 || l.v4.is_some()) && (!spec.v6 || l.v6.is_some()) {
                    break;
                }
                if self.pid(&spec.net).is_none() {
                    return Err(DhcpError::Supervise {
                        net: spec.net.clone(),
                        message: "the DHCP supervisor is not running".into(),
                    });
                }
                if Instant::now() >= deadline {
                    let what = match (spec.v4 && l.v4.is_none(), spec.v6 && l.v6.is_none()) {
                        (true, true) => "DHCPv4 and DHCPv6 leases",
                        (true, false) => "DHCPv4 lease",
                        _ => "DHCPv6 lease",
                    };
                    return Err(DhcpError::Supervise {
                        net: spec.net.clone(),
                        message: format!(
                            "no {what} on {} within {} s",
                            spec.dev,
                            timeout.as_secs_f64()
                        ),
                    });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }
}

/// Opens for writing, creating 0600 whatever the umask, never through a
/// symlink: these files live in root's state directory.
fn private_options() -> std::fs::OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = std::fs::OpenOptions::new();
    o.create(true).mode(0o600).custom_flags(libc::O_NOFOLLOW);
    o
}

/// Writes a whole file of the state directory (see [`private_options`]).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let mut f = private_options().write(true).truncate(true).open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(bytes)
}

/// The supervisor process's body (`netswitch dhcp-client NET`): runs the
/// network's clients until SIGTERM or SIGINT, then releases. Writes its
/// pid first and removes it last.
pub fn serve(state_dir: &Path, resolv_conf: &Path, net: &str) -> Result<(), DhcpError> {
    let sup = Supervisor::new(state_dir, resolv_conf);
    let spec_path = sup.file(net, "spec.json");
    let spec: ClientSpec = std::fs::read(&spec_path)
        .map_err(|e| DhcpError::io(&spec_path, e))
        .and_then(|b| {
            serde_json::from_slice(&b).map_err(|e| DhcpError::Supervise {
                net: net.to_string(),
                message: format!("{}: {e}", spec_path.display()),
            })
        })?;
    let pid_path = sup.file(net, "pid");
    write_private(&pid_path, format!("{}\n", std::process::id()).as_bytes())
        .map_err(|e| DhcpError::io(&pid_path, e))?;
    let paths = Paths {
        lease_file: sup.lease_file(net),
        resolv_conf: resolv_conf.to_path_buf(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| DhcpError::io(&pid_path, e))?;
    let result = rt.block_on(async {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| DhcpError::io(&pid_path, e))?;
        let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
            .map_err(|e| DhcpError::io(&pid_path, e))?;
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
            let _ = tx.send(true);
        });
        client::run(spec, paths, rx).await
    });
    // Only remove the pid file if it is still ours (a newer supervisor may
    // have been started after a stop that timed out).
    if std::fs::read_to_string(&pid_path).is_ok_and(|p| p.trim() == std::process::id().to_string())
    {
        let _ = std::fs::remove_file(&pid_path);
    }
    result
}
