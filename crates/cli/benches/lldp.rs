//! LLDP's cost to the daemon: getNetworkCapabilities on a host of 64 nics
//! while every nic's neighbor sends LLDPDUs (1000 per second in all)
//! beside the same calls with the neighbors silent, measured in the same
//! run; and the daemon's CPU while it receives 1000 LLDPDUs/s beside its
//! CPU over as long a silent stretch.
//!
//! `cargo bench -p netswitch-cli --bench lldp` (as root; everything
//! happens in two throwaway namespaces: the host's 64 veths `veth_h0..63`
//! are cabled to `p0..63` in a peer namespace, from which this process
//! sends the LLDPDUs). `NETSWITCH_BENCH_ROUNDS` (default 200) caps calls
//! per phase, `NETSWITCH_BENCH_SECS` (default 10) the CPU windows.
//!
//! Caps is measured twice per phase: steady (the daemon answers from the
//! bytes it kept) and after a change (an MTU flipped right before each
//! call, so the call rebuilds the report).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netswitch_daemon::Client;
use netswitch_lldp::{build, Announce, RawSender};
use netswitch_testkit::Netns;
use serde_json::json;

const NICS: usize = 64;
const RATE: u64 = 1000;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn p50_p95(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (
        ms(v[v.len() / 2]),
        ms(v[(v.len() * 95 / 100).min(v.len() - 1)]),
    )
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)
}

fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

/// Sends `RATE` LLDPDUs per second, round-robin over the peers, from one
/// packet socket, until
/// `stop`; counts what went out.
fn sender(peer: &Netns, stop: Arc<AtomicBool>, sent: Arc<AtomicU64>) {
    let pdus: Vec<(String, Vec<u8>)> = (0..NICS)
        .map(|i| {
            let a = Announce {
                chassis_mac: [0x02, 0, 0, 0, 0, i as u8],
                port_name: format!("Ethernet1/{i}"),
                ttl: 120,
                system_name: Some(format!("tor-{i}")),
                port_description: Some(format!("to host port {i}")),
                vlans: vec![(100, "vmnet100".into()), (200, "store200".into())],
            };
            (format!("p{i}"), build(&a).expect("an LLDPDU"))
        })
        .collect();
    peer.run(|| {
        let tx = RawSender::open().expect("a packet socket");
        let pdus: Vec<(u32, &Vec<u8>)> = pdus
            .iter()
            .map(|(dev, pdu)| (RawSender::ifindex(dev).expect("a peer"), pdu))
            .collect();
        let start = Instant::now();
        let mut n: u64 = 0;
        while !stop.load(Ordering::Relaxed) {
            // Where the schedule says we should be; catch up in one go.
            let due = (start.elapsed().as_secs_f64() * RATE as f64) as u64;
            while n < due {
                let (dev, pdu) = &pdus[(n as usize) % NICS];
                if tx.send(*dev, pdu).is_ok() {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
}

struct Daemon {
    child: Child,
    socket: std::path::PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_daemon(host: &Netns, dir: &Path) -> Daemon {
    let socket = dir.join("api.sock");
    let child = Command::new(env!("CARGO_BIN_EXE_netswitch"))
        .args(["--netns", host.name()])
        .arg("--state-dir")
        .arg(dir.join("lib"))
        .arg("--resolv-conf")
        .arg(dir.join("resolv.conf"))
        .arg("--socket")
        .arg(&socket)
        .arg("daemon")
        .stdin(Stdio::null())
        .spawn()
        .expect("the daemon");
    let start = Instant::now();
    while Client::connect(&socket).is_err() {
        assert!(start.elapsed() < Duration::from_secs(120), "no daemon");
        std::thread::sleep(Duration::from_millis(100));
    }
    Daemon { child, socket }
}

/// (steady, after a change) caps timings.
fn caps_rounds(d: &Daemon, host: &Netns, rounds: u64) -> (Vec<Duration>, Vec<Duration>) {
    let mut c = Client::connect(&d.socket).expect("client");
    let (mut steady, mut changed) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        let t = Instant::now();
        c.call("Host.getNetworkCapabilities", json!({}))
            .expect("caps");
        steady.push(t.elapsed());
        let mtu = if r % 2 == 0 { "1400" } else { "1500" };
        host.ip(&["link", "set", "veth_h0", "mtu", mtu]);
        let t = Instant::now();
        c.call("Host.getNetworkCapabilities", json!({}))
            .expect("caps");
        changed.push(t.elapsed());
    }
    (steady, changed)
}

fn cpu_window(pid: u32, secs: u64) -> f64 {
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(secs));
    (cpu_ticks(pid) - before) as f64 / ticks_per_sec() / secs as f64 * 100.0
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rounds = env_or("NETSWITCH_BENCH_ROUNDS", 200);
    let secs = env_or("NETSWITCH_BENCH_SECS", 10);
    let host = Netns::new();
    let peer = Netns::new();
    let mut script = String::new();
    for i in 0..NICS {
        script += &format!(
            "link add veth_h{i} type veth peer name p{i} netns {}\nlink set veth_h{i} up\n",
            peer.name()
        );
    }
    host.ip_batch(&script);
    let up: String = (0..NICS).map(|i| format!("link set p{i} up\n")).collect();
    peer.ip_batch(&up);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("resolv.conf"), "").unwrap();
    let d = start_daemon(&host, dir.path());
    let pid = d.child.id();

    let (quiet_steady, quiet_changed) = caps_rounds(&d, &host, rounds);
    let quiet_cpu = cpu_window(pid, secs);

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    std::thread::scope(|s| {
        s.spawn(|| sender(&peer, stop.clone(), sent.clone()));
        std::thread::sleep(Duration::from_secs(2));
        let (busy_steady, busy_changed) = caps_rounds(&d, &host, rounds);
        let n0 = sent.load(Ordering::Relaxed);
        let busy_cpu = cpu_window(pid, secs);
        let rate = (sent.load(Ordering::Relaxed) - n0) as f64 / secs as f64;
        let mut c = Client::connect(&d.socket).expect("client");
        let t = Instant::now();
        let lldp = c.call("Host.getLldp", json!({})).expect("getLldp");
        let get_lldp = t.elapsed();
        stop.store(true, Ordering::Relaxed);
        let heard = lldp
            .as_object()
            .map(|o| {
                o.values()
                    .filter(|v| v["tlvs"].as_array().is_some_and(|t| !t.is_empty()))
                    .count()
            })
            .unwrap_or(0);
        let row = |what: &str, v: (f64, f64)| {
            println!("{what:<44} p50 {:>8.3} ms  p95 {:>8.3} ms", v.0, v.1)
        };
        println!("lldp bench: {NICS} nics, {rounds} caps calls per phase, {secs} s CPU windows");
        row(
            "caps steady, neighbors silent (reference)",
            p50_p95(quiet_steady),
        );
        row("caps steady, 1000 LLDPDUs/s", p50_p95(busy_steady));
        row(
            "caps after a change, neighbors silent (ref)",
            p50_p95(quiet_changed),
        );
        row("caps after a change, 1000 LLDPDUs/s", p50_p95(busy_changed));
        println!("daemon CPU, neighbors silent (reference)      {quiet_cpu:>6.2} % of a core");
        println!("daemon CPU, {rate:.0} LLDPDUs/s received          {busy_cpu:>6.2} % of a core");
        println!(
            "Host.getLldp, {heard} nics with a neighbor       {:>8.3} ms",
            get_lldp.as_secs_f64() * 1000.0
        );
    });
}
