//! getNetworkCapabilities with 1000 networks on a host of about 4000
//! links: from the daemon (live netinfo, over the socket) beside in-process
//! (`Engine::caps`: six netlink dumps, ethtool, report), measured in the
//! same run; and the daemon's resident memory.
//!
//! `cargo bench -p netswitch-daemon --bench caps` (as root; everything
//! happens in a throwaway namespace). The host: 1000 veth pairs, one
//! bridged network with a static address on one end of each (1000 bridges),
//! plus 500 veth pairs no network uses: 4001 links with `lo`.
//! `NETSWITCH_BENCH_NETS` and `NETSWITCH_BENCH_EXTRA_VETHS` (pairs) change
//! the counts, `NETSWITCH_BENCH_ROUNDS` the rounds.
//!
//! The daemon is measured twice: steady state (nothing changed since the
//! last call: it answers from the bytes it cached) and the first call after
//! a change (an MTU flipped on a veth right before each call, so the call
//! applies the notification, rebuilds the state, the report and the JSON).
//! The daemon is this binary run again with
//! `NETSWITCH_BENCH_DAEMON=<netns>:<state dir>:<socket>`, so its RSS is a
//! process of its own.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use netswitch_daemon::Client;
use netswitch_engine::{Engine, SetupOptions};
use netswitch_testkit::Netns;
use serde_json::{json, Map, Value};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn stats(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (
        ms(v[v.len() / 2]),
        ms(v[(v.len() * 95 / 100).min(v.len() - 1)]),
    )
}

fn status_kib(pid: u32, key: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Resident KiB by kind of mapping (`[heap]`, anonymous, the binary and
/// other files, stacks), from `/proc/<pid>/smaps`: where the RSS goes.
fn rss_by_mapping(pid: u32) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut sums: std::collections::BTreeMap<String, u64> = Default::default();
    let mut kind = String::new();
    for l in text.lines() {
        let first = l.split_whitespace().next().unwrap_or("");
        if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            let name = l.split_whitespace().nth(5).unwrap_or("");
            kind = if name.is_empty() {
                "anon".into()
            } else if name.starts_with('[') {
                name.into()
            } else if name.contains("/caps-") {
                "binary".into()
            } else {
                "files".into()
            };
        } else if let Some(r) = l.strip_prefix("Rss:") {
            let kib: u64 = r
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            *sums.entry(kind.clone()).or_default() += kib;
        }
    }
    sums.iter()
        .filter(|(_, v)| **v >= 64)
        .map(|(k, v)| format!("{k} {:.1}", *v as f64 / 1024.0))
        .collect::<Vec<_>>()
        .join(", ")
}

fn engine(state: &std::path::Path) -> Engine {
    Engine::new(state.join("lib"), state.join("resolv.conf"))
}

fn main() {
    if let Ok(spec) = std::env::var("NETSWITCH_BENCH_DAEMON") {
        let mut parts = spec.splitn(3, ':');
        let (ns, state, socket) = (
            parts.next().unwrap().to_string(),
            parts.next().unwrap().to_string(),
            parts.next().unwrap().to_string(),
        );
        netswitch_netinfo::enter_netns(&ns).expect("enter netns");
        let config = netswitch_daemon::DaemonConfig {
            socket: socket.into(),
            engine: engine(std::path::Path::new(&state)),
        };
        netswitch_daemon::serve(config).expect("serve");
        return;
    }

    let nets = env_or("NETSWITCH_BENCH_NETS", 1000);
    let extra = env_or("NETSWITCH_BENCH_EXTRA_VETHS", 500);
    let rounds = env_or("NETSWITCH_BENCH_ROUNDS", 30).max(1);
    let ns = Netns::new();
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("resolv.conf"), "nameserver 10.9.9.9\n").unwrap();
    let mut script = String::new();
    for i in 0..nets {
        script.push_str(&format!(
            "link add veth_n{i} type veth peer name veth_p{i}\n"
        ));
        script.push_str(&format!("link set veth_n{i} up\nlink set veth_p{i} up\n"));
    }
    for i in 0..extra {
        script.push_str(&format!(
            "link add veth_x{i} type veth peer name veth_y{i}\n"
        ));
        script.push_str(&format!("link set veth_x{i} up\nlink set veth_y{i} up\n"));
    }
    ns.ip_batch(&script);
    let mut networks = Map::new();
    for i in 0..nets {
        networks.insert(
            format!("net{i}"),
            json!({"nic": format!("veth_n{i}"), "ipaddr": format!("10.{}.{}.1", i / 256, i % 256), "prefix": 24}),
        );
    }
    let request = json!({"networks": networks}).to_string();
    let t = Instant::now();
    ns.run(|| {
        engine(state.path())
            .setup(request.as_bytes(), &SetupOptions::default())
            .expect("setup of the networks")
    });
    eprintln!(
        "set up {nets} bridged networks in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(2));

    // In-process: what `netswitch caps` does without a daemon.
    let (local, local_caps) = ns.run(|| {
        let e = engine(state.path());
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..rounds {
            let t = Instant::now();
            let c = e.caps().expect("caps");
            times.push(t.elapsed());
            last = Some(c);
        }
        (times, serde_json::to_value(last.unwrap()).unwrap())
    });

    // The daemon's work after a change, split: live state (the change
    // applied, the state rebuilt), report, JSON.
    let changed = "veth_p0";
    let (split, links) = ns.run(|| {
        let live = netswitch_netinfo::Live::start().unwrap();
        let e = engine(state.path());
        let running = e.running().unwrap();
        let ctx = netswitch_switch::report::ReportContext {
            nameservers: vec![],
            supports_ipv6: true,
            net_config_dirty: true,
        };
        let mut t_state = Vec::new();
        let mut t_report = Vec::new();
        let mut t_json = Vec::new();
        let mut size = 0;
        for i in 0..rounds {
            let mtu = if i % 2 == 0 { "1400" } else { "1500" };
            ns.ip(&["link", "set", "dev", changed, "mtu", mtu]);
            let t = Instant::now();
            let host = live.state();
            t_state.push(t.elapsed());
            let t = Instant::now();
            let caps = netswitch_switch::report::caps(&host, &running, &e.nics, &ctx);
            t_report.push(t.elapsed());
            let t = Instant::now();
            size = serde_json::to_vec(&caps).unwrap().len();
            t_json.push(t.elapsed());
        }
        (
            (stats(t_state), stats(t_report), stats(t_json), size),
            live.counters().links,
        )
    });
    eprintln!(
        "after a change, in-process (median ms): live state {:.2}, report {:.2}, JSON {:.2}; {} bytes",
        split.0 .0, split.1 .0, split.2 .0, split.3
    );

    // The daemon, as a process of its own.
    let socket = state.path().join("api.sock");
    // NETSWITCH_BENCH_DAEMON_WRAP runs the daemon under a tool that execs
    // it in its own process (e.g. `valgrind --tool=massif`), for a look at
    // where its memory goes.
    let wrap = std::env::var("NETSWITCH_BENCH_DAEMON_WRAP").unwrap_or_default();
    let mut argv: Vec<String> = wrap.split_whitespace().map(str::to_string).collect();
    argv.push(std::env::current_exe().unwrap().display().to_string());
    let mut child: Child = Command::new(&argv[0])
        .args(&argv[1..])
        .env(
            "NETSWITCH_BENCH_DAEMON",
            format!(
                "{}:{}:{}",
                ns.name(),
                state.path().display(),
                socket.display()
            ),
        )
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while Client::connect(&socket).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "daemon did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let startup = started.elapsed();
    let rss_idle = status_kib(child.id(), "VmRSS:");
    let by_mapping_idle = rss_by_mapping(child.id());
    let stream = UnixStream::connect(&socket).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let mut line = Vec::new();
    let mut id = 0;
    let mut call = |line: &mut Vec<u8>| {
        id += 1;
        let t = Instant::now();
        writeln!(
            writer,
            r#"{{"jsonrpc":"2.0","id":{id},"method":"Host.getNetworkCapabilities"}}"#
        )
        .unwrap();
        line.clear();
        reader.read_until(b'\n', line).unwrap();
        t.elapsed()
    };

    // First call after a change: flip an MTU the report shows, then ask.
    let mut after_change = Vec::new();
    let mut parse = Vec::new();
    for i in 0..rounds {
        let mtu = if i % 2 == 0 { "1400" } else { "1500" };
        ns.ip(&["link", "set", "dev", changed, "mtu", mtu]);
        after_change.push(call(&mut line));
        let t = Instant::now();
        let v: Value = serde_json::from_slice(&line).unwrap();
        parse.push(t.elapsed());
        assert_eq!(
            v["result"]["nics"][changed]["mtu"].as_str(),
            Some(mtu),
            "the answer after a change shows the change"
        );
    }
    let rss_changes = status_kib(child.id(), "VmRSS:");

    // Steady state: nothing changed since the last call.
    let mut steady = Vec::new();
    for _ in 0..rounds {
        steady.push(call(&mut line));
    }
    let remote_caps: Value = serde_json::from_slice::<Value>(&line).unwrap()["result"].clone();
    let rss = status_kib(child.id(), "VmRSS:");
    let hwm = status_kib(child.id(), "VmHWM:");
    let by_mapping = rss_by_mapping(child.id());
    // Idle: live netinfo forgets its parsed forms 3 s after the last
    // rebuild (they serve the reads of a setup, not an idle daemon).
    std::thread::sleep(std::time::Duration::from_secs(5));
    let rss_quiet = status_kib(child.id(), "VmRSS:");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();

    let count = |c: &Value| c["networks"].as_object().map_or(0, |o| o.len());
    assert_eq!(count(&remote_caps), nets);
    assert_eq!(count(&local_caps), nets);
    let (lm, lp) = stats(local);
    let (cm, cp) = stats(after_change);
    let (sm, sp) = stats(steady);
    let (pm, _) = stats(parse);
    println!("caps with {nets} networks ({links} links), {rounds} rounds each:");
    println!("  in-process (dumps + report):             median {lm:7.1} ms   p95 {lp:7.1} ms");
    println!("  daemon, first call after a change:       median {cm:7.1} ms   p95 {cp:7.1} ms");
    println!("  daemon, steady state (cached answer):    median {sm:7.1} ms   p95 {sp:7.1} ms");
    println!(
        "  ({} bytes over the socket; the client's own JSON parse adds {pm:.1} ms)",
        line.len()
    );
    println!(
        "  daemon RSS: {:.1} MiB after start ({} ms to serve), {:.1} MiB after the calls after changes, {:.1} MiB after the steady calls (peak {:.1} MiB)",
        rss_idle as f64 / 1024.0,
        startup.as_millis(),
        rss_changes as f64 / 1024.0,
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    println!(
        "  daemon RSS by mapping (MiB): after start {by_mapping_idle}; at the end {by_mapping}"
    );
    println!(
        "  daemon RSS idle, 5 s after the last call: {:.1} MiB",
        rss_quiet as f64 / 1024.0
    );
}
