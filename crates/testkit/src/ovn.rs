//! A private OVN for one test: the central part (northbound and southbound
//! ovsdb-servers and ovn-northd, [`Central`]) and chassis (a namespace's own
//! ovsdb-server, ovs-vswitchd and ovn-controller, [`Controller`] on top of
//! [`Ovs`], or all of it in one value, [`Chassis`]). Never the system's
//! services.
//!
//! The central databases listen on unix sockets in the central's run dir.
//! A socket is a file, so ovn-controllers in any namespace reach them
//! without a single address of their own; only the chassis' tunnels
//! (Geneve between encap IPs) need a network, which the test builds.
//!
//! Every daemon dies with its value, or with the test process
//! (`PR_SET_PDEATHSIG`) if it is killed before its drops run.
//!
//! `ovn-nbctl` and `ovn-sbctl` are how tests make logical switches and read
//! bindings back; the product never runs them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::ovs::{spawn, wait_for_path};
use crate::{Netns, Ovs};

/// The schemas Debian's ovn-common installs.
pub const NB_SCHEMA: &str = "/usr/share/ovn/ovn-nb.ovsschema";
/// See [`NB_SCHEMA`].
pub const SB_SCHEMA: &str = "/usr/share/ovn/ovn-sb.ovsschema";

/// The environment that keeps OVN's tools out of the system's run dirs.
fn ovn_env(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    ["OVN_RUNDIR", "OVN_DBDIR", "OVN_LOGDIR", "OVN_SYSCONFDIR"]
        .into_iter()
        .map(|k| (k, dir.to_path_buf()))
        .collect()
}

/// ovn-northd with its northbound and southbound databases.
#[derive(Debug)]
pub struct Central {
    dir: tempfile::TempDir,
    children: Vec<Child>,
}

impl Central {
    /// Starts both databases and ovn-northd (in the test's own namespace:
    /// they listen on unix sockets only) and waits until northd has
    /// connected to both.
    pub fn start() -> Central {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().to_path_buf();
        let mut c = Central {
            dir,
            children: Vec::new(),
        };
        for (name, schema) in [("nb", NB_SCHEMA), ("sb", SB_SCHEMA)] {
            let db = d.join(format!("{name}.db"));
            let st = Command::new("ovsdb-tool")
                .arg("create")
                .arg(&db)
                .arg(schema)
                .status()
                .expect("run ovsdb-tool");
            assert!(st.success(), "ovsdb-tool create {name} failed");
            let p = |f: &str| d.join(f).display().to_string();
            c.children.push(spawn(
                None,
                &ovn_env(&d),
                &[
                    "ovsdb-server".into(),
                    db.display().to_string(),
                    format!("--remote=punix:{}", p(&format!("{name}.sock"))),
                    format!("--unixctl={}", p(&format!("{name}.ctl"))),
                    "--no-chdir".into(),
                    format!("--log-file={}", p(&format!("{name}.log"))),
                ],
            ));
            wait_for_path(&d.join(format!("{name}.sock")));
        }
        let p = |f: &str| d.join(f).display().to_string();
        c.children.push(spawn(
            None,
            &ovn_env(&d),
            &[
                "ovn-northd".into(),
                format!("--ovnnb-db={}", c.nb()),
                format!("--ovnsb-db={}", c.sb()),
                format!("--unixctl={}", p("northd.ctl")),
                "--no-chdir".into(),
                format!("--log-file={}", p("northd.log")),
            ],
        ));
        // `--wait=sb` returns once northd has carried the NB change to SB.
        c.nbctl(&["--timeout=60", "--wait=sb", "sync"]);
        c
    }

    /// The northbound database's address (`unix:PATH`).
    pub fn nb(&self) -> String {
        format!("unix:{}", self.dir.path().join("nb.sock").display())
    }

    /// The southbound database's address: what chassis take as
    /// `ovn-remote`.
    pub fn sb(&self) -> String {
        format!("unix:{}", self.dir.path().join("sb.sock").display())
    }

    /// The run dir (databases, sockets, logs).
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Runs `ovn-nbctl` on the northbound database; panics on failure.
    pub fn nbctl(&self, args: &[&str]) -> String {
        run_ctl("ovn-nbctl", &self.nb(), self.dir.path(), args)
    }

    /// Runs `ovn-sbctl` on the southbound database; panics on failure.
    pub fn sbctl(&self, args: &[&str]) -> String {
        run_ctl("ovn-sbctl", &self.sb(), self.dir.path(), args)
    }

    /// Creates logical switch `name`.
    pub fn switch(&self, name: &str) {
        self.nbctl(&["ls-add", name]);
    }

    /// Adds logical port `port` to switch `ls`, with `addresses` (`"MAC
    /// IP"`, or `"unknown"`); waits until northd has carried it to SB.
    pub fn port(&self, ls: &str, port: &str, addresses: &str) {
        self.nbctl(&["lsp-add", ls, port]);
        self.nbctl(&["lsp-set-addresses", port, addresses]);
        self.nbctl(&["--timeout=60", "--wait=sb", "sync"]);
    }

    /// Adds a localnet port `port` to `ls` onto physical network
    /// `physnet` (what chassis map to a bridge with
    /// `ovn-bridge-mappings`).
    pub fn localnet(&self, ls: &str, port: &str, physnet: &str) {
        self.nbctl(&["lsp-add", ls, port]);
        self.nbctl(&["lsp-set-type", port, "localnet"]);
        self.nbctl(&["lsp-set-addresses", port, "unknown"]);
        let opt = format!("network_name={physnet}");
        self.nbctl(&["lsp-set-options", port, &opt]);
        self.nbctl(&["--timeout=60", "--wait=sb", "sync"]);
    }

    /// The chassis name (system-id) port `port` is bound to in SB, `None`
    /// when it is bound nowhere.
    pub fn port_chassis(&self, port: &str) -> Option<String> {
        let cond = format!("logical_port={port}");
        let uuid = self.sbctl(&["--bare", "--columns=chassis", "find", "Port_Binding", &cond]);
        if uuid.is_empty() {
            return None;
        }
        let name = self.sbctl(&["--bare", "--columns=name", "list", "Chassis", &uuid]);
        Some(name)
    }

    /// The chassis registered in SB, by name.
    pub fn chassis(&self) -> Vec<String> {
        let out = self.sbctl(&["--bare", "--columns=name", "list", "Chassis"]);
        out.split_whitespace().map(str::to_string).collect()
    }

    /// Waits (generously: the machine is loaded) until `f` holds; panics
    /// with `what` after `limit`.
    pub fn wait_until(&self, what: &str, limit: Duration, mut f: impl FnMut(&Central) -> bool) {
        let deadline = Instant::now() + limit;
        while !f(self) {
            assert!(
                Instant::now() < deadline,
                "{what}: not within {limit:?}; northd log:\n{}",
                tail(&self.dir.path().join("northd.log"))
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Central {
    fn drop(&mut self) {
        for c in self.children.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// An ovn-controller on a chassis' [`Ovs`], inside the chassis' namespace.
/// It idles until `Open_vSwitch.external_ids:ovn-remote` is set (by
/// `netswitch ovn configure`, or [`Controller::configure`]).
#[derive(Debug)]
pub struct Controller {
    child: Child,
    log: PathBuf,
}

impl Controller {
    /// Starts ovn-controller in `ns` on `ovs`'s database.
    pub fn start(ns: &Netns, ovs: &Ovs) -> Controller {
        let d = ovs.dir();
        let log = d.join("ovn-controller.log");
        // OVS_RUNDIR: where ovs-vswitchd's OpenFlow socket (br-int.mgmt)
        // is. ovn-controller takes no --unixctl; its control socket goes
        // to OVN_RUNDIR.
        let mut env = ovn_env(&d);
        env.push(("OVS_RUNDIR", d.clone()));
        let child = spawn(
            Some(ns),
            &env,
            &[
                "ovn-controller".into(),
                ovs.db(),
                "--no-chdir".into(),
                format!("--log-file={}", log.display()),
            ],
        );
        Controller { child, log }
    }

    /// Configures the chassis the way `vdsm-tool ovn-config` does, with
    /// `ovs-vsctl` (for tests of something other than `netswitch ovn
    /// configure`): system-id `id`, remote `central`'s SB, Geneve from
    /// `encap_ip`, and br-int (secure, the test's datapath).
    pub fn configure(ovs: &Ovs, central: &Central, id: &str, encap_ip: &str) {
        ovs.vsctl(&[
            "--may-exist",
            "add-br",
            "br-int",
            "--",
            "set",
            "Bridge",
            "br-int",
            "fail_mode=secure",
            &format!("datapath_type={}", ovs.datapath),
        ]);
        ovs.vsctl(&[
            "set",
            "Open_vSwitch",
            ".",
            &format!("external_ids:system-id={id}"),
            &format!("external_ids:ovn-remote=\"{}\"", central.sb()),
            "external_ids:ovn-encap-type=geneve",
            &format!("external_ids:ovn-encap-ip={encap_ip}"),
        ]);
    }

    /// The tail of ovn-controller's log, for assertion messages.
    pub fn log_tail(&self) -> String {
        tail(&self.log)
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A whole chassis: a namespace with its own OVS and ovn-controller. Drops
/// in the right order (ovn-controller, OVS, the namespace).
#[derive(Debug)]
pub struct Chassis {
    /// ovn-controller.
    pub controller: Controller,
    /// ovsdb-server and ovs-vswitchd.
    pub ovs: Ovs,
    /// The namespace all three run in.
    pub ns: Netns,
}

impl Chassis {
    /// A fresh namespace with OVS and an (unconfigured) ovn-controller.
    #[allow(clippy::new_without_default)] // starting one has side effects
    pub fn new() -> Chassis {
        let ns = Netns::new();
        let ovs = Ovs::start(&ns);
        let controller = Controller::start(&ns, &ovs);
        Chassis {
            controller,
            ovs,
            ns,
        }
    }
}

fn run_ctl(tool: &str, db: &str, dir: &Path, args: &[&str]) -> String {
    let out = Command::new(tool)
        .arg(format!("--db={db}"))
        .args(args)
        .envs(ovn_env(dir))
        .output()
        .unwrap_or_else(|e| panic!("run {tool} (is ovn-central installed?): {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
