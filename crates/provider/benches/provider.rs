//! The provider at scale (issue 18), each figure beside the NB's own cost
//! measured in the same run on a fresh private NB ovsdb-server:
//!
//! - N ports, one `POST /v2.0/ports` each over a keep-alive connection
//!   (sequential, then 8 connections at once), beside `ovn-nbctl` making
//!   the same Logical_Switch_Ports (name, addresses, port_security,
//!   external_ids) one process per port;
//! - N ports in one bulk `POST /v2.0/ports`, beside one `ovn-nbctl`
//!   transaction making them all (each three times, medians);
//! - `GET /v2.0/ports` with 10,000 ports (from the replica), median of 5,
//!   until the whole answer is read (the client does not parse it);
//! - the process's RSS (the provider runs in it).
//!
//! The ports go on a network with `port_security_enabled: false`, so both
//! sides write the same rows (no security group membership); addresses are
//! allocated by the provider, precomputed for ovn-nbctl.
//!
//! ```sh
//! cargo bench -p netswitch-provider --bench provider          # N = 1000
//! NETSWITCH_BENCH_N=200 cargo bench -p netswitch-provider --bench provider
//! NETSWITCH_BENCH_ONLY=bulk cargo bench -p netswitch-provider --bench provider  # or calls, list
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{provider, token, Http, Nb, Running};
use serde_json::{json, Value};

fn n() -> usize {
    std::env::var("NETSWITCH_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

/// A network with a /16 subnet; returns its id.
fn network(p: &Running, tok: &str, name: &str) -> String {
    let mut h = Http::connect(p.neutron);
    let a = h.call(
        "POST",
        "/v2.0/networks",
        Some(tok),
        Some(&json!({"network": {"name": name, "port_security_enabled": false}})),
    );
    assert_eq!(a.status, 201, "{:?}", a.body);
    let id = a.body["network"]["id"].as_str().unwrap().to_owned();
    let a = h.call(
        "POST",
        "/v2.0/subnets",
        Some(tok),
        Some(&json!({"subnet": {"network_id": id, "cidr": "10.0.0.0/16", "ip_version": 4}})),
    );
    assert_eq!(a.status, 201, "{:?}", a.body);
    id
}

fn port_body(net: &str, i: usize) -> Value {
    json!({"network_id": net, "name": format!("p{i}"), "device_id": format!("vm{i}"), "device_owner": "oVirt"})
}

fn rest_one_by_one(p: &Running, tok: &str, net: &str, n: usize, conns: usize) -> Duration {
    let t = Instant::now();
    std::thread::scope(|s| {
        for c in 0..conns {
            s.spawn(move || {
                let mut h = Http::connect(p.neutron);
                for i in (c..n).step_by(conns) {
                    let a = h.call(
                        "POST",
                        "/v2.0/ports",
                        Some(tok),
                        Some(&json!({"port": port_body(net, i)})),
                    );
                    assert_eq!(a.status, 201, "{:?}", a.body);
                }
            });
        }
    });
    t.elapsed()
}

fn rest_bulk(p: &Running, tok: &str, net: &str, n: usize) -> Duration {
    let ports: Vec<Value> = (0..n).map(|i| port_body(net, i)).collect();
    let mut h = Http::connect(p.neutron);
    let t = Instant::now();
    let a = h.call(
        "POST",
        "/v2.0/ports",
        Some(tok),
        Some(&json!({ "ports": ports })),
    );
    let d = t.elapsed();
    assert_eq!(a.status, 201, "{:?}", a.body);
    d
}

/// The nbctl words making port `i` as the provider does.
fn nbctl_port(i: usize) -> Vec<String> {
    let mac = format!(
        "fa:16:3e:{:02x}:{:02x}:{:02x}",
        i >> 16 & 0xff,
        i >> 8 & 0xff,
        i & 0xff
    );
    let ip = format!("10.0.{}.{}", (i + 2) / 256, (i + 2) % 256);
    let name = format!("00000000-0000-4000-8000-{i:012}");
    let addr = format!("{mac} {ip}");
    vec![
        "lsp-add".into(),
        "ref".into(),
        name.clone(),
        "--".into(),
        "lsp-set-addresses".into(),
        name.clone(),
        addr.clone(),
        "--".into(),
        "set".into(),
        "Logical_Switch_Port".into(),
        name,
        format!("external_ids:neutron\\:port_name=p{i}"),
        format!("external_ids:neutron\\:device_id=vm{i}"),
        "external_ids:neutron\\:device_owner=oVirt".into(),
        format!("external_ids:neutron\\:ips={ip}"),
        format!("external_ids:neutron\\:mac={mac}"),
    ]
}

fn nbctl(nb: &Nb, args: &[String]) {
    let st = Command::new("ovn-nbctl")
        .arg(format!("--db={}", nb.remote()))
        .args(args)
        .status()
        .expect("ovn-nbctl");
    assert!(st.success());
}

fn nbctl_one_by_one(nb: &Nb, n: usize) -> Duration {
    nbctl(nb, &["ls-add".into(), "ref".into()]);
    let t = Instant::now();
    for i in 0..n {
        nbctl(nb, &nbctl_port(i));
    }
    t.elapsed()
}

fn nbctl_bulk(nb: &Nb, n: usize) -> Duration {
    nbctl(nb, &["ls-add".into(), "ref".into()]);
    let mut args = Vec::new();
    for i in 0..n {
        args.push("--".to_owned());
        args.extend(nbctl_port(i));
    }
    let t = Instant::now();
    nbctl(nb, &args[1..]);
    t.elapsed()
}

fn list_ports(p: &Running, tok: &str) -> (Duration, usize) {
    let mut h = Http::connect(p.neutron);
    let count = h.call("GET", "/v2.0/ports?fields=id", Some(tok), None).body["ports"]
        .as_array()
        .map_or(0, Vec::len);
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        h.get_raw("/v2.0/ports", tok);
        times.push(t.elapsed());
    }
    times.sort();
    if std::env::var("NETSWITCH_BENCH_PROBE").is_ok() {
        for q in [
            "/v2.0/ports?limit=1",
            "/v2.0/ports?fields=id",
            "/v2.0/networks",
        ] {
            let t = Instant::now();
            let len = h.get_raw(q, tok);
            println!("probe {q}: {:.1} ms, {len} bytes", ms(t.elapsed()));
        }
    }
    (times[2], count)
}

fn rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = s
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let n = n();
    println!("provider benchmark, N = {n} ports (times in ms; ratio = provider / ovn-nbctl)");

    let only = std::env::var("NETSWITCH_BENCH_ONLY").unwrap_or_default();
    let row = |case: &str, a: Duration, b: Duration| {
        println!(
            "{case:<44} {:>10.1} {:>10.1} {:>6.2}x",
            ms(a),
            ms(b),
            a.as_secs_f64() / b.as_secs_f64()
        );
    };
    println!(
        "{:<44} {:>10} {:>10} {:>7}",
        "case", "provider", "ovn-nbctl", "ratio"
    );
    if only.is_empty() || only == "calls" {
        per_call(n, &row);
    }
    if only.is_empty() || only == "bulk" {
        let (bulk, bulk_ref) = bulk(n);
        row("all ports in one call / one transaction", bulk, bulk_ref);
    }
    if only.is_empty() || only == "list" {
        list();
    }
    println!(
        "process RSS (the providers and their replicas inside): {:.1} MiB",
        rss_mib()
    );
}

/// One port per call, sequential and on 8 connections.
fn per_call(n: usize, row: &dyn Fn(&str, Duration, Duration)) {
    let reference = nbctl_one_by_one(&Nb::start(), n);
    let nb = Nb::start();
    let p = provider(&nb);
    let tok = token(&p);
    let seq = rest_one_by_one(&p, &tok, &network(&p, &tok, "seq"), n, 1);
    let nb8 = Nb::start();
    let p8 = provider(&nb8);
    let tok8 = token(&p8);
    let par = rest_one_by_one(&p8, &tok8, &network(&p8, &tok8, "par"), n, 8);
    row("one call per port, sequential (keep-alive)", seq, reference);
    row("one call per port, 8 connections", par, reference);
}

/// N ports in one bulk call beside one ovn-nbctl transaction, each on a
/// fresh NB, alternating, three times: the medians (one run of a few
/// hundred milliseconds moves by half on this loaded machine).
fn bulk(n: usize) -> (Duration, Duration) {
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        theirs.push(nbctl_bulk(&Nb::start(), n));
        let nbb = Nb::start();
        let pb = provider(&nbb);
        let tokb = token(&pb);
        ours.push(rest_bulk(&pb, &tokb, &network(&pb, &tokb, "bulk"), n));
    }
    ours.sort();
    theirs.sort();
    (ours[1], theirs[1])
}

/// Listing 10,000 ports.
fn list() {
    let nbl = Nb::start();
    let pl = provider(&nbl);
    let tokl = token(&pl);
    let net = network(&pl, &tokl, "list");
    for _ in 0..10 {
        rest_bulk(&pl, &tokl, &net, 1000);
    }
    let (list, count) = list_ports(&pl, &tokl);
    println!(
        "GET /v2.0/ports with {count} ports (median of 5): {:.1} ms (target < 100 ms)",
        ms(list)
    );
}
