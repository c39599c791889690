//! Load and fuzz at the scale an engine's API must take: 1000 clients
//! connected at once (bounded: those over the connection cap get a coded
//! 503, none goes unanswered) and 10,000 fuzzed requests over keep-alive
//! connections. Every request gets a coded answer, each create that was
//! answered 201 is one NB row (nothing lost, nothing duplicated), memory
//! stays bounded, and the provider serves a normal call afterwards.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{provider, token, Http, Nb};
use serde_json::{json, Value};

/// The test process's resident set (the provider runs in it), in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The status of the first answer on `s`, or `None` if the connection
/// ended without one.
fn status_of(s: &TcpStream) -> Option<u16> {
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    line.split(' ').nth(1)?.parse().ok()
}

#[test]
fn a_thousand_clients_at_once_each_get_an_answer() {
    let nb = Nb::start();
    let p = provider(&nb);
    let t = token(&p);
    let rss0 = rss_kib();
    let req = format!("GET /v2.0/networks HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {t}\r\n\r\n");
    // Eight threads connect 125 clients each; every client sends its
    // request at once and keeps its connection open until all have read.
    let conns: Vec<TcpStream> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                sc.spawn(|| {
                    (0..125)
                        .map(|_| {
                            let mut s = TcpStream::connect(p.neutron).expect("connect");
                            s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
                            s.write_all(req.as_bytes()).expect("send");
                            s
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("client thread"))
            .collect()
    });
    let (mut ok, mut busy, mut lost) = (0, 0, 0);
    for s in &conns {
        match status_of(s) {
            Some(200) => ok += 1,
            Some(503) => busy += 1,
            other => {
                lost += 1;
                eprintln!("unexpected answer: {other:?}");
            }
        }
    }
    let rss1 = rss_kib();
    drop(conns);
    eprintln!(
        "1000 clients: {ok} served, {busy} told 503 (over the cap), {lost} lost; RSS {} -> {} MiB",
        rss0 / 1024,
        rss1 / 1024
    );
    assert_eq!(lost, 0, "every client gets an answer");
    assert!(ok >= 1, "some are served");
    assert!(
        rss1 < rss0 + 256 * 1024,
        "memory bounded: {rss0} -> {rss1} KiB"
    );
    // And it still serves.
    let mut h = Http::connect(p.neutron);
    assert_eq!(h.call("GET", "/v2.0/networks", Some(&t), None).status, 200);
}

/// A small deterministic generator (splitmix64), so a failure replays.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn one<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[(self.next() % v.len() as u64) as usize]
    }
}

/// One fuzzed request: method, path, token or not, body (JSON junk,
/// a near-valid object, or bytes).
fn fuzzed(g: &mut Gen, token: &str) -> (String, String, Option<String>, Vec<u8>) {
    let methods = [
        "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "POST",
    ];
    let more = [
        "/v2.0/networks/00000000-0000-0000-0000-000000000000",
        "/v2.0/ports?limit=x&marker=y&sort_dir=sideways",
        "/v2.0/networks?fields=id&fields=&name=%zz",
        "/v2.0/",
        "/v2.0/extensions/nope",
        "/../../etc/passwd",
        "/v2.0/routers/x/add_router_interface",
    ];
    let paths: Vec<&str> = common::COLLECTIONS.iter().chain(&more).copied().collect();
    let tokens = [
        Some(token.to_string()),
        None,
        Some("nope".into()),
        Some(String::new()),
    ];
    let junk = common::junk();
    let keys = [
        "name",
        "network_id",
        "cidr",
        "mtu",
        "fixed_ips",
        "mac_address",
        "direction",
        "protocol",
        "ip_version",
        "admin_state_up",
        "provider:network_type",
        "port_range_min",
    ];
    let method = g.one(&methods).to_string();
    let path = g.one(&paths).to_string();
    let tok = g.one(&tokens).clone();
    let body = match g.next() % 4 {
        0 => Vec::new(),
        1 => g.one(&junk).to_string().into_bytes(),
        2 => {
            let singular = path
                .trim_start_matches("/v2.0/")
                .split(['/', '?'])
                .next()
                .unwrap_or("")
                .trim_end_matches('s')
                .replace('-', "_");
            let mut obj = serde_json::Map::new();
            for _ in 0..(g.next() % 4) {
                obj.insert((*g.one(&keys)).to_string(), g.one(&junk).clone());
            }
            json!({ singular: obj }).to_string().into_bytes()
        }
        _ => (0..(g.next() % 64)).map(|_| g.next() as u8).collect(),
    };
    (method, path, tok, body)
}

#[test]
fn ten_thousand_fuzzed_requests_each_get_a_coded_answer() {
    let nb = Nb::start();
    let p = provider(&nb);
    let t = token(&p);
    let rss0 = rss_kib();
    let networks_made = AtomicUsize::new(0);
    let answered = AtomicUsize::new(0);
    let threads = 8;
    std::thread::scope(|sc| {
        for i in 0..threads {
            let (t, networks_made, answered) = (&t, &networks_made, &answered);
            sc.spawn(move || {
                let mut g = Gen(0x5eed + i as u64);
                let mut c = Http::connect(p.neutron);
                for _ in 0..10_000 / threads {
                    let (method, path, tok, body) = fuzzed(&mut g, t);
                    let mut req = format!(
                        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n",
                        body.len()
                    );
                    if let Some(tok) = &tok {
                        req.push_str(&format!("X-Auth-Token: {tok}\r\n"));
                    }
                    let mut bytes = req.into_bytes();
                    bytes.extend_from_slice(b"\r\n");
                    bytes.extend_from_slice(&body);
                    let a = c.raw(&bytes).expect("an answer to every request");
                    check(&method, &path, &a);
                    let collection = path.split('?').next();
                    if method == "POST" && collection == Some("/v2.0/networks") && a.status == 201 {
                        networks_made.fetch_add(1, Ordering::SeqCst);
                    }
                    answered.fetch_add(1, Ordering::SeqCst);
                    if a.header("connection")
                        .is_some_and(|v| v.eq_ignore_ascii_case("close"))
                    {
                        c = Http::connect(p.neutron);
                    }
                }
            });
        }
    });
    let rss1 = rss_kib();
    let made = networks_made.load(Ordering::SeqCst);
    eprintln!(
        "10k fuzzed: {} answered, {made} networks created; RSS {} -> {} MiB",
        answered.load(Ordering::SeqCst),
        rss0 / 1024,
        rss1 / 1024
    );
    assert_eq!(answered.load(Ordering::SeqCst), 10_000);
    assert_eq!(
        nb.count("Logical_Switch"),
        made,
        "one row per 201, no other"
    );
    assert!(
        rss1 < rss0 + 128 * 1024,
        "memory bounded: {rss0} -> {rss1} KiB"
    );
    let mut h = Http::connect(p.neutron);
    assert_eq!(h.call("GET", "/v2.0/networks", Some(&t), None).status, 200);
}

/// A fuzzed request's answer is a known status with a coded body.
fn check(method: &str, path: &str, a: &common::Answer) {
    let what = format!("{method} {path}: {} {:?}", a.status, a.body);
    assert!(
        matches!(
            a.status,
            200 | 201 | 204 | 300 | 400 | 401 | 404 | 405 | 409 | 413
        ),
        "{what}"
    );
    if a.status >= 400 && method != "HEAD" {
        let e: &Value = &a.body["NeutronError"];
        let coded = e["message"].is_string() || a.body["error"]["message"].is_string();
        assert!(coded, "not a coded error: {what}");
    }
}
