//! OVN vNICs at scale (issue 17): N vNICs plugged into OVN by one
//! `netswitch vnic plug-batch` call (one OVSDB transaction, then one wait
//! until ovn-controller has set `ovn-installed` on every port), beside one
//! `ovs-vsctl` call adding the same ports with the same `external_ids`,
//! then one `ovs-vsctl wait-until` for the same `ovn-installed` — each on
//! a fresh chassis (its own namespace, ovsdb-server, ovs-vswitchd and
//! ovn-controller) of one private OVN central, in the same run. And one
//! legacy plug through the daemon (`Host.plugVnic` over its socket), beside
//! `ip link set master` doing the same join.
//!
//! ```sh
//! cargo bench -p netswitch-cli --bench ovn_plug              # N = 500
//! NETSWITCH_BENCH_N="100 500" cargo bench -p netswitch-cli --bench ovn_plug
//! ```
//!
//! On this machine the datapath is userspace (`netdev`). Needs root.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use netswitch_testkit::{Central, Controller, Netns, Ovs};
use serde_json::json;

fn bin() -> String {
    std::env::var("NETSWITCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_netswitch").into())
}

/// A chassis with `n` veth pairs (`tapI` / `tapIp`) to plug.
fn chassis(n: usize) -> (Controller, Ovs, Netns) {
    let ns = Netns::new();
    let script: String = (0..n)
        .map(|i| format!("link add tap{i} type veth peer name tap{i}p\nlink set tap{i} up\n"))
        .collect();
    ns.ip_batch(&script);
    let ovs = Ovs::start(&ns);
    let ctl = Controller::start(&ns, &ovs);
    (ctl, ovs, ns)
}

fn mac(i: usize) -> String {
    format!("52:54:00:10:{:02x}:{:02x}", i / 256, i % 256)
}

fn vsctl(ovs: &Ovs, args: &[String]) -> Duration {
    let t = Instant::now();
    let out = Command::new("ovs-vsctl")
        .arg(format!("--db={}", ovs.db()))
        .arg("--timeout=900")
        .args(args)
        .output()
        .expect("ovs-vsctl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.elapsed()
}

/// The reference: one `ovs-vsctl` adding the ports, one waiting for
/// `ovn-installed` on all of them.
fn reference(central: &Central, n: usize) -> (Duration, Duration) {
    let (_ctl, ovs, _ns) = chassis(n);
    Controller::configure(&ovs, central, "bench-ref", "192.0.2.1");
    central.wait_until("bench-ref registers", Duration::from_secs(300), |c| {
        c.chassis().iter().any(|x| x == "bench-ref")
    });
    let mut add = Vec::new();
    let mut wait = Vec::new();
    for i in 0..n {
        let tap = format!("tap{i}");
        add.extend(["--".into(), "add-port".into(), "br-int".into(), tap.clone()]);
        add.extend([
            "--".into(),
            "set".into(),
            "Interface".into(),
            tap.clone(),
            format!("external_ids:iface-id=r{i}"),
            format!("external_ids:attached-mac=\"{}\"", mac(i)),
            format!("external_ids:vm-id=vm-{i}"),
            "external_ids:iface-status=active".into(),
        ]);
        wait.extend([
            "--".into(),
            "wait-until".into(),
            "Interface".into(),
            tap,
            "external_ids:ovn-installed=\"true\"".into(),
        ]);
    }
    let t_add = vsctl(&ovs, &add);
    let t_wait = vsctl(&ovs, &wait);
    (t_add, t_add + t_wait)
}

/// netswitch: `ovn configure`, then one timed `vnic plug-batch`.
fn netswitch(central: &Central, n: usize) -> Duration {
    let (_ctl, ovs, ns) = chassis(n);
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("resolv.conf"), "").unwrap();
    let run = |args: &[&str]| {
        let st = Command::new(bin())
            .args(["--netns", ns.name(), "--state-dir"])
            .arg(state.path().join("lib"))
            .arg("--resolv-conf")
            .arg(state.path().join("resolv.conf"))
            .args(["--ovs-db", &ovs.db(), "--ovs-datapath", ovs.datapath])
            .args(args)
            .stdout(Stdio::null())
            .status()
            .expect("run netswitch");
        assert!(st.success(), "netswitch {args:?} failed");
    };
    let sb = central.sb();
    run(&[
        "ovn",
        "configure",
        "--remote",
        &sb,
        "--encap-ip",
        "192.0.2.2",
        "--system-id",
        "bench-ns",
    ]);
    central.wait_until("bench-ns registers", Duration::from_secs(300), |c| {
        c.chassis().iter().any(|x| x == "bench-ns")
    });
    let vnics: Vec<_> = (0..n)
        .map(|i| json!({"vmId": format!("vm-{i}"), "mac": mac(i), "port": format!("n{i}"), "device": format!("tap{i}")}))
        .collect();
    let file = state.path().join("batch.json");
    std::fs::write(&file, serde_json::to_vec(&vnics).unwrap()).unwrap();
    let f = file.display().to_string();
    let t = Instant::now();
    run(&["vnic", "plug-batch", "--timeout", "900", &f]);
    let d = t.elapsed();
    let installed = ovs.vsctl(&["--bare", "--columns=external_ids", "list", "Interface"]);
    let count = installed
        .split_whitespace()
        .filter(|t| t.starts_with("ovn-installed=") && t.trim_end_matches('"').ends_with("true"))
        .count();
    assert_eq!(count, n, "{installed}");
    d
}

/// A daemon serving `ns` and `state`, killed on drop.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn daemon(ns: &Netns, state: &Path, socket: &Path) -> Daemon {
    let mut cmd = Command::new(bin());
    cmd.args(["--netns", ns.name(), "--state-dir"])
        .arg(state.join("lib"))
        .arg("--resolv-conf")
        .arg(state.join("resolv.conf"))
        .arg("--socket")
        .arg(socket)
        .arg("daemon")
        .stdin(Stdio::null());
    // SAFETY: prctl is async-signal-safe; the daemon dies with the bench.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let d = Daemon(cmd.spawn().expect("spawn the daemon"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::os::unix::net::UnixStream::connect(socket).is_err() {
        assert!(Instant::now() < deadline, "the daemon did not come up");
        std::thread::sleep(Duration::from_millis(20));
    }
    d
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// One legacy plug through the daemon (median of `reps`), and `ip link
/// set master` joining the same kind of device (median of `reps`).
fn legacy(reps: usize) -> (Duration, Duration) {
    let ns = Netns::new();
    ns.veth("veth_a0", "veth_a1");
    let script: String = (0..2 * reps)
        .map(|i| format!("link add lt{i} type veth peer name lt{i}p\n"))
        .collect();
    ns.ip_batch(&script);
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("resolv.conf"), "").unwrap();
    let socket = state.path().join("api.sock");
    let _d = daemon(&ns, state.path(), &socket);
    let mut c = netswitch_daemon::Client::connect(&socket).expect("connect");
    c.call(
        "Host.setupNetworks",
        json!({"networks": {"vmnet": {"nic": "veth_a0"}}, "options": {"connectivityCheck": false}}),
    )
    .expect("setup vmnet");
    let mut plug = Vec::new();
    for i in 0..reps {
        let v = json!({"vnic": {"vmId": format!("vm-{i}"), "mac": mac(i), "network": "vmnet", "device": format!("lt{i}")}});
        let t = Instant::now();
        c.call("Host.plugVnic", v).expect("plugVnic");
        plug.push(t.elapsed());
    }
    let mut ip = Vec::new();
    for i in reps..2 * reps {
        let dev = format!("lt{i}");
        let t = Instant::now();
        ns.ip(&["link", "set", &dev, "master", "vmnet", "up"]);
        ip.push(t.elapsed());
    }
    (median(plug), median(ip))
}

fn main() {
    let list = std::env::var("NETSWITCH_BENCH_N").unwrap_or_else(|_| "500".into());
    println!("OVN vNICs: wall time until ovn-controller has installed every port");
    println!(
        "{:>5} | {:>22} | {:>17} | {:>24} | {:>8}",
        "N", "netswitch plug-batch", "ovs-vsctl add", "ovs-vsctl add + wait", "ratio"
    );
    for n in list
        .split_whitespace()
        .filter_map(|s| s.parse::<usize>().ok())
    {
        // A central each: a chassis would otherwise also program the
        // other run's bound ports.
        let ports = |prefix: &str| {
            let central = Central::start();
            let mut args = vec!["ls-add".to_string(), "sw0".to_string()];
            for i in 0..n {
                let p = format!("{prefix}{i}");
                args.extend(["--".into(), "lsp-add".into(), "sw0".into(), p.clone()]);
                args.extend(["--".into(), "lsp-set-addresses".into(), p, mac(i)]);
            }
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            central.nbctl(&refs);
            central.nbctl(&["--timeout=600", "--wait=sb", "sync"]);
            central
        };
        let (t_add, t_ref) = reference(&ports("r"), n);
        let t_ns = netswitch(&ports("n"), n);
        println!(
            "{:>5} | {:>20.2} s | {:>15.2} s | {:>22.2} s | {:>7.2}×",
            n,
            t_ns.as_secs_f64(),
            t_add.as_secs_f64(),
            t_ref.as_secs_f64(),
            t_ns.as_secs_f64() / t_ref.as_secs_f64()
        );
    }
    let (plug, ip) = legacy(20);
    println!(
        "legacy plug through the daemon (median of 20): {:.2} ms; `ip link set master` (a process each): {:.2} ms",
        plug.as_secs_f64() * 1e3,
        ip.as_secs_f64() * 1e3
    );
}
