//! The daemon, started by each test in its own namespace and stopped by a
//! kill-on-drop guard: the CLI gets the same answers through it as
//! in-process, mutating verbs are serialized (40) and root-only, malformed
//! JSON-RPC never stops it, and its events and counters follow the host.

mod common;
#[path = "support/daemon.rs"]
mod daemon;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Host;
use daemon::{local, steady, Daemon};
use serde_json::{json, Value};

/// `netswitch ARGS` through the daemon's socket.
fn via(host: &Host, d: &Daemon, args: &[&str], stdin: Option<&Value>) -> (i32, String, String) {
    d.via(host, args, stdin)
}

fn caps_both_ways(host: &Host, d: &Daemon) -> (Value, Value) {
    let (c1, o1, e1) = via(host, d, &["--json", "caps"], None);
    assert_eq!(c1, 0, "{e1}");
    let (c2, o2, e2) = local(host, &["--json", "caps"], None);
    assert_eq!(c2, 0, "{e2}");
    (
        steady(serde_json::from_str(&o1).unwrap()),
        steady(serde_json::from_str(&o2).unwrap()),
    )
}

#[test]
fn caps_setup_and_errors_are_the_same_through_the_daemon_as_in_process() {
    let host = Host::new();
    host.setup(
        json!({"networks": {"net_a": {"nic": "veth_a0", "ipaddr": "10.1.0.2", "prefix": 24,
        "gateway": "10.1.0.1", "defaultRoute": true, "nameservers": ["10.9.9.8"]}}}),
    );
    let d = Daemon::start(&host);
    let (remote, here) = caps_both_ways(&host, &d);
    assert_eq!(remote, here);
    assert!(remote["networks"]["net_a"].is_object());

    // A setup through the daemon shows at once in its caps.
    let req = json!({"networks": {"net_b": {"nic": "veth_b0", "bridged": false, "mtu": 1400}}});
    let (code, out, err) = via(&host, &d, &["setup", "-"], Some(&req));
    assert_eq!(code, 0, "{err}{out}");
    assert!(out.starts_with("Applied and verified"), "{out}");
    let (remote, here) = caps_both_ways(&host, &d);
    assert_eq!(remote, here);
    assert_eq!(remote["networks"]["net_b"]["southbound"], "veth_b0");
    assert_eq!(remote["nics"]["veth_b0"]["mtu"], "1400");

    // Dry run: the same plan, nothing changes.
    let req = json!({"networks": {"net_c": {"nic": "veth_b0", "vlan": 20}}});
    let (c1, o1, _) = via(
        &host,
        &d,
        &["--json", "setup", "--dry-run", "-"],
        Some(&req),
    );
    let (c2, o2, _) = local(&host, &["--json", "setup", "--dry-run", "-"], Some(&req));
    assert_eq!((c1, c2), (0, 0));
    let (p1, p2): (Value, Value) = (
        serde_json::from_str(&o1).unwrap(),
        serde_json::from_str(&o2).unwrap(),
    );
    assert_eq!(p1["plan"], p2["plan"]);
    assert_eq!(p1["applied"], false);
    assert!(host.link("net_c").is_none());

    // Refusals: same exit code and same message both ways.
    for bad in [
        json!({"networks": {"net_x": {"nic": "veth_zz"}}}),
        json!({"networks": {"net_x": {"nic": "veth_b0", "vlan": 5000}}}),
        json!({"networks": {"net_x": {"nic": "veth_b0", "color": "red"}}}),
        json!({"networks": {"gone": {"remove": true}}}),
    ] {
        let r = via(&host, &d, &["--json", "setup", "-"], Some(&bad));
        let l = local(&host, &["--json", "setup", "-"], Some(&bad));
        assert_ne!(r.0, 0, "{bad}");
        assert_eq!((r.0, &r.1), (l.0, &l.1), "{bad}");
    }

    // commit through the daemon: netConfigDirty goes false.
    let (code, _, err) = via(&host, &d, &["commit"], None);
    assert_eq!(code, 0, "{err}");
    let (remote, here) = caps_both_ways(&host, &d);
    assert_eq!(remote, here);
    assert_eq!(remote["netConfigDirty"], false);
}

fn raw_setup(d: &Daemon, params: Value) -> Result<Value, (i64, String)> {
    d.client()
        .call("Host.setupNetworks", params)
        .map_err(|e| match e {
            netswitch_daemon::ClientError::Rpc { code, message } => (code, message),
            other => panic!("{other}"),
        })
}

#[test]
fn a_second_mutating_verb_gets_40_while_a_setup_waits_and_confirm_gets_through() {
    let host = Host::new();
    let d = Daemon::start(&host);
    // Over JSON-RPC the connectivity check is on by default (4 s).
    let waiting = std::thread::scope(|s| {
        let first = s.spawn(|| raw_setup(&d, json!({"networks": {"net_a": {"nic": "veth_a0"}}})));
        // Until the first setup waits for its confirmation.
        let pending = host.state.path().join("lib/pending-confirmation");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pending.exists() {
            assert!(Instant::now() < deadline, "the setup never waited");
            std::thread::sleep(Duration::from_millis(10));
        }
        let t = Instant::now();
        let second = raw_setup(
            &d,
            json!({"networks": {"net_b": {"nic": "veth_b0"}}, "options": {"connectivityCheck": false}}),
        );
        let (code, message) = second.expect_err("a concurrent setup must be refused");
        assert_eq!(code, 40, "{message}");
        assert!(t.elapsed() < Duration::from_secs(1), "40 must come at once");
        assert!(message.contains("Host.setupNetworks"), "{message}");
        let commit = d.client().call("Host.setSafeNetworkConfig", json!({}));
        assert!(matches!(
            commit,
            Err(netswitch_daemon::ClientError::Rpc { code: 40, .. })
        ));
        let (code, out, err) = via(&host, &d, &["--json", "confirm"], None);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("\"confirmed\":true"), "{out}");
        first.join().unwrap()
    });
    let result = waiting.expect("confirmed setup succeeds");
    assert_eq!(result["applied"], true);
    assert!(host.link("net_a").is_some());
    assert!(host.link("net_b").is_none());

    // Without a confirmation: rolled back, code 10, and a subscriber hears it.
    let mut sub = d.client();
    sub.call("Host.subscribe", json!({})).unwrap();
    let (code, message) = raw_setup(
        &d,
        json!({"networks": {"net_c": {"nic": "veth_b0"}},
        "options": {"connectivityTimeout": 0.5}}),
    )
    .expect_err("no confirmation");
    assert_eq!(code, 10, "{message}");
    assert!(host.link("net_c").is_none());
    loop {
        let n = sub.read_message().unwrap();
        if n["params"]["event"] == "setup.rolledBack" {
            assert_eq!(n["params"]["code"], 10);
            break;
        }
    }
}

#[test]
fn two_clients_racing_setups_leave_the_host_in_one_of_the_two_states() {
    let host = Host::new();
    let d = Daemon::start(&host);
    for round in 0..5 {
        let reqs = [
            json!({"networks": {"net_r": {"nic": "veth_a0", "mtu": 1400 + round}}, "options": {"connectivityCheck": false}}),
            json!({"networks": {"net_r": {"nic": "veth_b0", "mtu": 1300 + round}}, "options": {"connectivityCheck": false}}),
        ];
        let barrier = std::sync::Barrier::new(2);
        let results: Vec<Result<Value, (i64, String)>> = std::thread::scope(|s| {
            let hs: Vec<_> = reqs
                .iter()
                .map(|r| {
                    let b = &barrier;
                    let d = &d;
                    s.spawn(move || {
                        let mut c = d.client();
                        b.wait();
                        c.call("Host.setupNetworks", r.clone())
                            .map_err(|e| match e {
                                netswitch_daemon::ClientError::Rpc { code, message } => {
                                    (code, message)
                                }
                                other => panic!("{other}"),
                            })
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for r in &results {
            if let Err((code, m)) = r {
                assert_eq!(*code, 40, "{m}");
            }
        }
        assert!(results.iter().any(Result::is_ok), "{results:?}");
        let caps = host.caps();
        let nic = caps["networks"]["net_r"]["southbound"]
            .as_str()
            .unwrap()
            .to_string();
        let mtu = caps["networks"]["net_r"]["mtu"]
            .as_str()
            .unwrap()
            .to_string();
        let expect = |i: usize| {
            let r = &reqs[i]["networks"]["net_r"];
            (r["nic"].as_str().unwrap().to_string(), r["mtu"].to_string())
        };
        assert!(
            (nic.clone(), mtu.clone()) == expect(0) || (nic.clone(), mtu.clone()) == expect(1),
            "host carries {nic} mtu {mtu}: neither request's state"
        );
        let running = host.running();
        assert_eq!(running.networks["net_r"].nic.as_deref(), Some(nic.as_str()));
    }
}

/// Runs the netswitch CLI as uid/gid 65534 (nobody).
fn as_nobody(d: &Daemon, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_netswitch"));
    cmd.arg("--socket").arg(&d.socket).args(args);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setgroups/setgid/setuid are async-signal-safe syscalls.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(65534) != 0
                || libc::setuid(65534) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_non_root_client_is_refused_mutating_verbs() {
    let host = Host::new();
    let d = Daemon::start(&host);
    let mode = std::fs::metadata(&d.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let req =
        json!({"networks": {"net_a": {"nic": "veth_a0"}}, "options": {"connectivityCheck": false}})
            .to_string();

    // The socket's mode refuses the connection itself.
    let (code, _, err) = as_nobody(&d, &["caps"], "");
    assert_eq!(code, 29, "{err}");
    assert!(err.contains("Permission denied"), "{err}");

    // With the mode loosened by an admin, peer credentials still keep
    // mutating verbs to root; reads are served.
    std::fs::set_permissions(&d.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (code, out, err) = as_nobody(&d, &["--json", "setup", "-"], &req);
    assert_eq!(code, 1, "{err}{out}");
    assert!(
        out.contains("permission denied") && out.contains("uid 65534"),
        "{out}"
    );
    for verb in ["confirm", "commit", "restore"] {
        let (code, out, _) = as_nobody(&d, &["--json", verb], "");
        assert_eq!(code, 1, "{verb}: {out}");
    }
    let (code, out, err) = as_nobody(&d, &["--json", "caps"], "");
    assert_eq!(code, 0, "{err}");
    assert!(serde_json::from_str::<Value>(&out).unwrap()["nics"]["veth_a0"].is_object());
    assert!(
        host.link("net_a").is_none(),
        "the refused setup changed the host"
    );
    assert!(host.running().networks.is_empty());
}

/// A small deterministic generator (xorshift64*), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn fuzz_message(rng: &mut Rng) -> Vec<u8> {
    let methods = [
        "Host.getNetworkStatistics",
        "Host.confirmConnectivity",
        "Host.setupNetworks",
        "Host.subscribe",
        "Host.nope",
        "",
        "host.getNetworkCapabilities",
        "Host.getNetworkCapabilities\u{0}",
    ];
    let ids = [
        json!(1),
        json!("x"),
        json!(null),
        json!(1e308),
        json!(u64::MAX),
        json!(-9_223_372_036_854_775_807i64),
        json!({"a": 1}),
        json!([1, 2]),
        json!(true),
        json!("🦀".repeat(100)),
    ];
    let values = [
        json!(null),
        json!(5),
        json!("networks"),
        json!([]),
        json!({}),
        json!({"networks": 5}),
        json!({"networks": {"n": {"nic": 7}}}),
        json!({"networks": {"n": {"vlan": "x", "nic": "veth_a0"}}}),
        json!({"bondings": {"bond0": {"nics": "veth_a0"}}}),
        json!([{"n": {"remove": "yes"}}, {}, {"connectivityCheck": "maybe"}]),
        json!({"options": {"connectivityTimeout": -1}, "networks": {"n!": {}}}),
    ];
    let pick = |rng: &mut Rng, n: usize| rng.below(n as u64) as usize;
    let mut msg = json!({"jsonrpc": "2.0", "id": ids[pick(rng, ids.len())].clone(),
        "method": methods[pick(rng, methods.len())], "params": values[pick(rng, values.len())].clone()});
    match rng.below(10) {
        0 => {
            // Random bytes, newlines included.
            let n = rng.below(200) as usize;
            return (0..n).map(|_| rng.next() as u8).collect();
        }
        1 => {
            // Truncated JSON.
            let text = msg.to_string();
            let cut = rng.below(text.len() as u64) as usize;
            return text.as_bytes()[..cut].to_vec();
        }
        2 => msg["jsonrpc"] = values[pick(rng, values.len())].clone(),
        3 => msg["method"] = values[pick(rng, values.len())].clone(),
        4 => {
            msg.as_object_mut().unwrap().remove("jsonrpc");
        }
        5 => msg = values[pick(rng, values.len())].clone(),
        6 => {
            msg["id"] = json!(rng
                .next()
                .to_string()
                .repeat(20)
                .parse::<f64>()
                .unwrap_or(0.0))
        }
        _ => {}
    }
    msg.to_string().into_bytes()
}

#[test]
fn ten_thousand_malformed_messages_leave_the_daemon_serving() {
    let host = Host::new();
    let mut d = Daemon::start(&host);
    let mut rng = Rng(0x5eed_1234_abcd_0042);
    let connections = 10;
    let per = 1000;
    let batches: Vec<Vec<u8>> = (0..connections)
        .map(|_| {
            let mut all = Vec::new();
            for _ in 0..per {
                all.extend(fuzz_message(&mut rng));
                all.push(b'\n');
            }
            all
        })
        .collect();
    let answered: usize = std::thread::scope(|s| {
        let hs: Vec<_> = batches
            .iter()
            .map(|batch| {
                let d = &d;
                s.spawn(move || {
                    let stream = UnixStream::connect(&d.socket).unwrap();
                    stream
                        .set_read_timeout(Some(Duration::from_secs(60)))
                        .unwrap();
                    let reader = stream.try_clone().unwrap();
                    let counter = std::thread::spawn(move || {
                        let mut n = 0;
                        let mut r = BufReader::new(reader);
                        let mut line = String::new();
                        loop {
                            line.clear();
                            match r.read_line(&mut line) {
                                Ok(0) | Err(_) => break,
                                Ok(_) => {
                                    let v: Value = serde_json::from_str(&line)
                                        .expect("the daemon writes JSON");
                                    if v.get("error").is_some() || v.get("result").is_some() {
                                        n += 1;
                                    }
                                }
                            }
                        }
                        n
                    });
                    let mut w = &stream;
                    w.write_all(batch).unwrap();
                    stream.shutdown(std::net::Shutdown::Write).unwrap();
                    counter.join().unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert!(answered > connections * per / 2, "only {answered} answers");

    // An oversized message is refused and the connection goes on.
    let mut c = UnixStream::connect(&d.socket).unwrap();
    let huge = vec![b'x'; netswitch_daemon::MAX_MESSAGE_BYTES + 10];
    let reader = c.try_clone().unwrap();
    let t = std::thread::spawn(move || {
        let mut r = BufReader::new(reader);
        let mut first = String::new();
        r.read_line(&mut first).unwrap();
        let mut second = String::new();
        r.read_line(&mut second).unwrap();
        (first, second)
    });
    c.write_all(&huge).unwrap();
    c.write_all(b"\n{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"Host.confirmConnectivity\"}\n")
        .unwrap();
    let (first, second) = t.join().unwrap();
    assert!(first.contains("-32600"), "{first}");
    assert!(
        second.contains("\"id\":7") && second.contains("confirmed"),
        "{second}"
    );

    assert!(d.alive(), "the daemon died");
    let (remote, here) = caps_both_ways(&host, &d);
    assert_eq!(remote, here);
    assert!(
        host.running().networks.is_empty(),
        "a fuzzed setup changed the config"
    );
}

#[test]
fn a_link_taken_down_behind_the_daemons_back_is_an_event() {
    let host = Host::new();
    let d = Daemon::start(&host);
    let mut sub = d.client();
    assert_eq!(
        sub.call("Host.subscribe", json!({})).unwrap()["subscribed"],
        true
    );
    host.ns.ip(&["link", "set", "veth_b1", "down"]);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        while let Ok(m) = sub.read_message() {
            if tx.send(m).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let m = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no link.down event; saw {seen:?}"));
        assert_eq!(m["method"], "Host.event");
        if m["params"]["event"] == "link.down" && m["params"]["link"] == "veth_b1" {
            assert_eq!(m["params"]["adminUp"], false);
            break;
        }
        seen.push(m);
    }
    // The CLI's `events` prints them too. Other events (the peer's carrier
    // going down, late under load) may come first: read until ours.
    let mut child = Command::new(env!("CARGO_BIN_EXE_netswitch"))
        .args(["--json", "--socket"])
        .arg(&d.socket)
        .args(["events", "--count", "20"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    host.ns
        .ip(&["addr", "add", "10.7.0.1/24", "dev", "veth_a0"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    let line = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(text) = rx.recv_timeout(left) else {
            let _ = child.kill();
            panic!("no address.added from `netswitch events`; saw {seen:?}");
        };
        let line: Value = serde_json::from_str(&text).unwrap();
        if line["event"] == "address.added" {
            break line;
        }
        seen.push(line);
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(line["address"], "10.7.0.1/24", "{line}");
}

fn stat(v: &Value, dev: &str, key: &str) -> u64 {
    v["interfaces"][dev][key]
        .as_u64()
        .unwrap_or_else(|| panic!("{dev}.{key} in {v}"))
}

#[test]
fn stats_counters_grow_with_traffic() {
    let host = Host::new();
    let peer = netswitch_testkit::Netns::new();
    host.ns
        .ip(&["link", "set", "veth_a1", "netns", peer.name()]);
    peer.ip(&["link", "set", "veth_a1", "up"]);
    peer.ip(&["addr", "add", "10.3.0.2/24", "dev", "veth_a1"]);
    host.ns
        .ip(&["addr", "add", "10.3.0.1/24", "dev", "veth_a0"]);
    let d = Daemon::start(&host);
    let read = || {
        let (code, out, err) = via(&host, &d, &["--json", "stats"], None);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<Value>(&out).unwrap()
    };
    let before = read();
    host.ns
        .exec(&["ping", "-c", "5", "-i", "0.2", "-W", "2", "10.3.0.2"]);
    let after = read();
    assert!(stat(&after, "veth_a0", "txPackets") >= stat(&before, "veth_a0", "txPackets") + 5);
    assert!(stat(&after, "veth_a0", "rxPackets") >= stat(&before, "veth_a0", "rxPackets") + 5);
    assert!(stat(&after, "veth_a0", "txBytes") > stat(&before, "veth_a0", "txBytes"));
    assert_eq!(stat(&after, "veth_a0", "rxErrors"), 0);
    assert_eq!(after["interfaces"]["veth_a0"]["speed"], 10000);
    // The table form names the interface.
    let (code, out, _) = via(&host, &d, &["stats"], None);
    assert_eq!(code, 0);
    assert!(out.contains("veth_a0"));
}

#[test]
fn the_daemon_plans_what_a_request_reaches_and_still_repairs_a_device_deleted_behind_its_back() {
    let host = Host::new();
    host.ns.veth("veth_c0", "veth_c1");
    let d = Daemon::start(&host);
    let setup = |req: Value| {
        let (code, _, err) = via(&host, &d, &["setup", "-"], Some(&req));
        assert_eq!(code, 0, "{err}");
    };
    setup(json!({"networks": {
        "mgmt": {"nic": "veth_a0", "ipaddr": "192.0.2.10", "prefix": 24,
                 "gateway": "192.0.2.1", "defaultRoute": true},
        "other": {"nic": "veth_b0", "bridged": false},
        "third": {"nic": "veth_c0"}}}));
    // Verified in step: from here the daemon plans by scope.
    setup(json!({"networks": {"other": {"nic": "veth_b0", "bridged": false, "mtu": 1400}}}));
    assert_eq!(host.link("veth_b0").unwrap()["mtu"], 1400);

    // Behind its back: a bridge deleted, an address taken off another.
    host.ns.ip(&["link", "del", "mgmt"]);
    host.ns.ip(&["addr", "flush", "dev", "veth_b0"]);
    host.ns.ip(&["link", "set", "third", "mtu", "1300"]);

    // The next request names only `other`; `mgmt` and `third` are on
    // changed devices, so the plan reaches and repairs them too.
    setup(json!({"networks": {"other": {"nic": "veth_b0", "bridged": false, "mtu": 1450}}}));
    assert_eq!(host.link("veth_a0").unwrap()["master"], "mgmt");
    assert_eq!(host.addrs("mgmt"), vec!["192.0.2.10/24"]);
    assert!(host
        .routes("-4", "main")
        .iter()
        .any(|r| r["dst"] == "default" && r["dev"] == "mgmt"));
    assert_eq!(host.link("third").unwrap()["mtu"], 1500);
    assert_eq!(host.link("veth_b0").unwrap()["mtu"], 1450);
    host.assert_in_sync();
}
