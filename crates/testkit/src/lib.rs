//! Throwaway network namespaces for tests, and the `ip` calls that build
//! fixtures in them and read them back.
//!
//! Tests never touch the machine's own root namespace (docs/testing.md): each one
//! makes a [`Netns`], builds its links inside with `ip -n`, runs the code
//! under test inside with [`Netns::run`], and the namespace (with anything
//! still running in it) is gone when the value drops, even on panic.
//!
//! Shelling out to `ip` is fine here and only here: product crates read and
//! write the kernel through netlink.

#![warn(missing_docs)]

pub mod netdevsim;
pub mod ovn;
pub mod ovs;
pub mod ovsdb_cluster;
pub mod pki;

pub use ovn::{Central, Chassis, Controller};
pub use ovs::Ovs;
pub use ovsdb_cluster::OvsdbCluster;

use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// Tells namespace names of one test process apart.
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// True inside the kernel lab VM (`tests/lab/run` sets `NETSWITCH_LAB=1`),
/// where bonding, 8021q, dummy and openvswitch modules exist.
pub fn in_lab() -> bool {
    std::env::var("NETSWITCH_LAB").is_ok_and(|v| v == "1")
}

/// A network namespace that lives as long as the value.
///
/// Named `ns-test-<pid>-<n>`, so parallel tests and parallel test binaries
/// never collide; loopback is up inside. Dropping it kills every process
/// still in it and deletes it.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates a fresh namespace and brings `lo` up in it.
    ///
    /// Panics when `ip netns add` fails (not root, no iproute2): a test
    /// cannot go on without its namespace.
    #[allow(clippy::new_without_default)] // creating one has side effects
    pub fn new() -> Self {
        let name = format!(
            "ns-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let added = run_ip(&["netns", "add", &name]);
        if !added.status.success() {
            // A namespace of this name can only be left over from an
            // earlier process with our pid that died before its Drop ran.
            let _ = run_ip(&["netns", "del", &name]);
            check(&["netns", "add", &name], run_ip(&["netns", "add", &name]));
        }
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// The namespace's name, as `ip netns` and `netswitch --netns` take it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n NAME ARGS...`; returns its stdout, panics with its
    /// stderr when it fails.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut full = vec!["-n", &self.name];
        full.extend_from_slice(args);
        check(&full, run_ip(&full))
    }

    /// Runs `ip -n NAME ARGS...` and reports failure instead of panicking,
    /// for tests that expect the kernel to refuse.
    pub fn try_ip(&self, args: &[&str]) -> Result<String, String> {
        let mut full = vec!["-n", &self.name];
        full.extend_from_slice(args);
        let out = run_ip(&full);
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Runs `ip -n NAME -j ARGS...` and parses its JSON output.
    pub fn ip_json(&self, args: &[&str]) -> serde_json::Value {
        let mut full = vec!["-j"];
        full.extend_from_slice(args);
        let out = self.ip(&full);
        if out.trim().is_empty() {
            // Some `ip` versions print nothing for an empty list.
            return serde_json::Value::Array(Vec::new());
        }
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("ip -n {} -j {args:?}: bad JSON ({e}): {out}", self.name))
    }

    /// Runs `ip -n NAME -batch -` with `script` (one command per line) on
    /// stdin: thousands of objects in one process, for scale fixtures.
    pub fn ip_batch(&self, script: &str) {
        use std::io::Write;
        let mut child = Command::new("ip")
            .args(["-n", &self.name, "-batch", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run ip -batch: {e}"));
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(script.as_bytes())
                .unwrap_or_else(|e| panic!("ip -batch: cannot write the script: {e}"));
        }
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("ip -batch: {e}"));
        check(&["-n", &self.name, "-batch", "-"], out);
    }

    /// Creates the veth pair `a`/`b` inside and sets both ends up.
    pub fn veth(&self, a: &str, b: &str) {
        self.ip(&["link", "add", a, "type", "veth", "peer", "name", b]);
        self.ip(&["link", "set", a, "up"]);
        self.ip(&["link", "set", b, "up"]);
    }

    /// Runs a program inside with `ip netns exec NAME ARGV...`, which also
    /// mounts the namespace's own `/sys`; returns stdout, panics with stderr
    /// on failure.
    pub fn exec(&self, argv: &[&str]) -> String {
        let mut full = vec!["netns", "exec", &self.name];
        full.extend_from_slice(argv);
        check(&full, run_ip(&full))
    }

    /// Reads a file under `/sys/class/net` as the namespace sees it
    /// (`rel` like `br0/bridge/stp_state`); `None` when it cannot be read.
    pub fn sysfs(&self, rel: &str) -> Option<String> {
        let path = format!("/sys/class/net/{rel}");
        let out = run_ip(&["netns", "exec", &self.name, "cat", &path]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    }

    /// Runs `f` on a fresh thread that has entered the namespace, and
    /// returns its result (a panic in `f` is re-raised here). The calling
    /// thread stays where it is.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            let worker = s.spawn(|| {
                if let Err(e) = netswitch_netinfo::enter_netns(&self.name) {
                    panic!("cannot enter {}: {e}", self.name);
                }
                f()
            });
            match worker.join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
}

impl Drop for Netns {
    /// Kills what runs inside (dnsmasq, ovsdb-server, ...) and deletes the
    /// namespace. Never panics: it may run while a test is unwinding.
    fn drop(&mut self) {
        let me = std::process::id().to_string();
        let pids = run_ip(&["netns", "pids", &self.name]);
        for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
            if pid == me || pid.parse::<u32>().is_err() {
                continue;
            }
            let _ = Command::new("kill").args(["-KILL", pid]).output();
        }
        let del = run_ip(&["netns", "del", &self.name]);
        if !del.status.success() {
            eprintln!(
                "testkit: cannot delete netns {}: {}",
                self.name,
                String::from_utf8_lossy(&del.stderr).trim()
            );
        }
    }
}

fn run_ip(args: &[&str]) -> Output {
    Command::new("ip").args(args).output().unwrap_or_else(|e| {
        // No `ip` at all: report it as a failed command.
        Output {
            status: failed_status(),
            stdout: Vec::new(),
            stderr: format!("cannot run ip: {e}").into_bytes(),
        }
    })
}

fn failed_status() -> std::process::ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    std::process::ExitStatus::from_raw(1 << 8)
}

fn check(args: &[&str], out: Output) -> String {
    if !out.status.success() {
        panic!(
            "ip {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_is_there_while_alive_and_gone_after_drop() {
        let ns = Netns::new();
        let name = ns.name().to_string();
        ns.veth("veth_t0", "veth_t1");
        let links = ns.ip_json(&["link"]);
        let names: Vec<&str> = links
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|l| l["ifname"].as_str())
            .collect();
        assert!(names.contains(&"veth_t0") && names.contains(&"veth_t1"));
        assert_eq!(ns.sysfs("veth_t0/mtu").as_deref(), Some("1500"));
        drop(ns);
        let list = String::from_utf8_lossy(&run_ip(&["netns", "list"]).stdout).into_owned();
        assert!(
            !list.split_whitespace().any(|n| n == name),
            "{name} left behind"
        );
    }

    #[test]
    fn run_executes_inside_and_reraises_panics() {
        let ns = Netns::new();
        ns.veth("veth_r0", "veth_r1");
        let state = ns.run(|| netswitch_netinfo::snapshot().unwrap());
        assert!(state.link("veth_r0").is_some());
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ns.run(|| panic!("inside"));
        }));
        assert!(caught.is_err());
    }

    #[test]
    fn a_namespace_is_deleted_when_the_test_panics() {
        let name = std::sync::Mutex::new(String::new());
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let ns = Netns::new();
            *name.lock().unwrap() = ns.name().to_string();
            ns.ip(&["link", "add", "nonsense-kind-x", "type", "no-such-kind"]);
        }));
        assert!(caught.is_err());
        let name = name.into_inner().unwrap();
        let list = String::from_utf8_lossy(&run_ip(&["netns", "list"]).stdout).into_owned();
        assert!(
            !list.split_whitespace().any(|n| n == name),
            "{name} left behind"
        );
    }
}
