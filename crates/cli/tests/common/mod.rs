//! Shared by the CLI's integration tests: a scratch host to run netswitch on.
#![allow(dead_code)] // each test binary uses a different part

use std::process::{Command, Stdio};

use netswitch_engine::{Facts, Store, Which};
use netswitch_testkit::{Controller, Netns, Ovs};
use serde_json::Value;

/// A scratch namespace with its own state dir and resolv.conf, and the
/// netswitch binary pointed at both.
pub struct Host {
    pub ns: Netns,
    pub state: tempfile::TempDir,
    /// Extra environment for every netswitch run (e.g. the OVS database).
    pub env: Vec<(String, String)>,
}

impl Host {
    /// A namespace with two veth pairs as nics: veth_a0-veth_a1, veth_b0-veth_b1.
    pub fn new() -> Host {
        let h = Host::empty();
        h.ns.veth("veth_a0", "veth_a1");
        h.ns.veth("veth_b0", "veth_b1");
        h
    }

    /// In the kernel lab, a namespace with dummies dummy_1..dummy_4 (up) as
    /// nics; outside it `None`, and the test says it skipped.
    pub fn lab() -> Option<Host> {
        if !netswitch_testkit::in_lab() {
            eprintln!("skipped: needs the kernel lab (tests/lab/run)");
            return None;
        }
        let h = Host::empty();
        for i in 1..=4 {
            let name = format!("dummy_{i}");
            h.ns.ip(&["link", "add", &name, "type", "dummy"]);
            h.ns.ip(&["link", "set", &name, "up"]);
        }
        Some(h)
    }

    /// A file under /sys/class/net inside the namespace; panics if missing.
    pub fn sysfs(&self, path: &str) -> String {
        self.ns
            .sysfs(path)
            .unwrap_or_else(|| panic!("no /sys/class/net/{path}"))
    }

    /// A namespace with no nics yet.
    pub fn empty() -> Host {
        let ns = Netns::new();
        let state = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            state.path().join("resolv.conf"),
            "search example.org\nnameserver 10.9.9.9\n",
        )
        .unwrap();
        Host {
            ns,
            state,
            env: Vec::new(),
        }
    }

    /// Points netswitch at a test's private OVS.
    pub fn use_ovs(&mut self, ovs: &netswitch_testkit::Ovs) {
        self.env.push(("NETSWITCH_OVS_DB".into(), ovs.db()));
        self.env
            .push(("NETSWITCH_OVS_DATAPATH".into(), ovs.datapath.into()));
    }

    pub fn netswitch(&self, args: &[&str], stdin: Option<&Value>) -> (i32, String, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_netswitch"));
        cmd.args(["--netns", self.ns.name()])
            .arg("--state-dir")
            .arg(self.state.path().join("lib"))
            .arg("--resolv-conf")
            .arg(self.state.path().join("resolv.conf"))
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn netswitch");
        let text = stdin.map(|v| v.to_string()).unwrap_or_default();
        // A netswitch that refused its command line exits without reading
        // its input: a broken pipe here is its answer, not the test's fault.
        let _ = std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes());
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `netswitch --json vnic plug --vm VM --mac MAC --network NET` and
    /// then `rest` (the device, `--vf PF:N`, more flags).
    pub fn plug_vnic(
        &self,
        vm: &str,
        mac: &str,
        net: &str,
        rest: &[&str],
    ) -> (i32, String, String) {
        let args = [
            "--json",
            "vnic",
            "plug",
            "--vm",
            vm,
            "--mac",
            mac,
            "--network",
            net,
        ];
        self.netswitch(&[&args[..], rest].concat(), None)
    }

    /// Applies a request and insists it succeeds.
    pub fn setup(&self, req: Value) {
        let (code, out, err) = self.netswitch(&["setup", "-"], Some(&req));
        assert_eq!(code, 0, "setup failed: {err}{out}");
    }

    pub fn setup_code(&self, req: &Value, extra: &[&str]) -> (i32, String) {
        let mut args = vec!["setup"];
        args.extend_from_slice(extra);
        args.push("-");
        let (code, _, err) = self.netswitch(&args, Some(req));
        (code, err)
    }

    pub fn caps(&self) -> Value {
        let (code, out, err) = self.netswitch(&["--json", "caps"], None);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    }

    pub fn link(&self, dev: &str) -> Option<Value> {
        self.ns
            .try_ip(&["-j", "-d", "link", "show", "dev", dev])
            .ok()
            .map(|t| serde_json::from_str::<Value>(&t).unwrap()[0].clone())
    }

    pub fn addrs(&self, dev: &str) -> Vec<String> {
        let v = self.ns.ip_json(&["addr", "show", "dev", dev]);
        v[0]["addr_info"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["scope"] != "link")
            .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
            .collect()
    }

    pub fn routes(&self, family: &str, table: &str) -> Vec<Value> {
        self.ns
            .ip_json(&[family, "route", "show", "table", table])
            .as_array()
            .unwrap()
            .clone()
    }

    pub fn running(&self) -> netswitch_model::Config {
        Store::new(self.state.path().join("lib"))
            .load(Which::Running)
            .unwrap()
    }

    /// Asserts that the running config on disk is what the host carries:
    /// fed back as a request, it plans nothing.
    pub fn assert_in_sync(&self) {
        let running = self.running();
        let req = serde_json::json!({"networks": running.networks, "bondings": running.bonds});
        let (code, out, err) = self.netswitch(&["setup", "--dry-run", "-"], Some(&req));
        assert_eq!(code, 0, "the running config as a request: {err}{out}");
        assert!(
            out.contains("nothing to do"),
            "the host differs from the running config:\n{out}"
        );
    }

    /// Runs `f` while `ip monitor link` watches the namespace and returns
    /// the link notifications `f` caused (`ip -o` lines). A marker bridge,
    /// left out of the result, tells when the monitor listens and when it
    /// has seen everything up to the end of `f`.
    pub fn link_events<T>(&self, f: impl FnOnce() -> T) -> (T, Vec<String>) {
        use std::io::BufRead;
        use std::sync::mpsc;
        use std::time::{Duration, Instant};

        struct Monitor(std::process::Child);
        impl Drop for Monitor {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        const MARK: &str = "zz_mark";
        self.ns.ip(&["link", "add", MARK, "type", "bridge"]);
        let mut mon = Monitor(
            Command::new("ip")
                .args(["-n", self.ns.name(), "-o", "monitor", "link"])
                .stdout(Stdio::piped())
                .spawn()
                .expect("ip monitor"),
        );
        let (tx, rx) = mpsc::channel::<String>();
        let stdout = mon.0.stdout.take().expect("monitor stdout");
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut mtu = 1000;
        let mut sync = |seen: &mut Vec<String>| {
            // Poke the marker until the monitor reports the poke.
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                mtu += 1;
                self.ns.ip(&["link", "set", MARK, "mtu", &mtu.to_string()]);
                let want = format!("mtu {mtu} ");
                let until = Instant::now() + Duration::from_secs(2);
                while let Ok(line) =
                    rx.recv_timeout(until.saturating_duration_since(Instant::now()))
                {
                    if line.contains(MARK) {
                        if line.contains(&want) {
                            return;
                        }
                    } else {
                        seen.push(line);
                    }
                }
                assert!(Instant::now() < deadline, "ip monitor reports nothing");
            }
        };
        let mut before = Vec::new();
        sync(&mut before);
        let out = f();
        let mut events = Vec::new();
        sync(&mut events);
        drop(mon);
        self.ns.ip(&["link", "del", MARK]);
        (out, events)
    }

    pub fn facts(&self) -> Facts {
        Facts::of(&self.ns.run(|| netswitch_netinfo::snapshot().unwrap()))
    }
}

impl Host {
    /// A "VM": its own namespace with `eth0` (address `ip`/24, and `mac`
    /// when given), whose veth peer `tap` is left in the host's namespace
    /// for netswitch to plug.
    pub fn vm(&self, tap: &str, mac: Option<&str>, ip: &str) -> Netns {
        let vm = Netns::new();
        let peer = format!("{tap}p");
        self.ns
            .ip(&["link", "add", tap, "type", "veth", "peer", "name", &peer]);
        self.ns.ip(&["link", "set", &peer, "netns", vm.name()]);
        vm.ip(&["link", "set", &peer, "name", "eth0"]);
        if let Some(mac) = mac {
            vm.ip(&["link", "set", "eth0", "address", mac]);
        }
        vm.ip(&["addr", "add", &format!("{ip}/24"), "dev", "eth0"]);
        vm.ip(&["link", "set", "eth0", "up"]);
        vm
    }
}

/// Whether `from` reaches `ip`: three pings, waiting at most `secs` (a
/// generous bound for a loaded machine or a lab under TCG; no timing).
pub fn reaches(from: &Netns, ip: &str, secs: u32) -> bool {
    let out = Command::new("ip")
        .args(["netns", "exec", from.name(), "ping", "-c", "3", "-i", "0.5"])
        .args(["-w", &secs.to_string(), ip])
        .output()
        .expect("ping");
    eprintln!(
        "ping {ip}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.status.success()
}

/// An OVN chassis: a host namespace with its own OVS and ovn-controller,
/// netswitch pointed at that OVS. Fields drop in order: controller, OVS,
/// host.
pub struct Chassis {
    pub ctl: Controller,
    pub ovs: Ovs,
    pub h: Host,
}

impl Chassis {
    /// Makes `h` a chassis (`Host::new()` on the host, `Host::empty()` in
    /// the lab); `netswitch ovn configure` is the test's own step.
    pub fn on(mut h: Host) -> Self {
        let ovs = Ovs::start(&h.ns);
        h.use_ovs(&ovs);
        let ctl = Controller::start(&h.ns, &ovs);
        Chassis { ctl, ovs, h }
    }
}
