//! The engine's wire: `netswitch daemon --listen` in a scratch namespace,
//! driven by stomp.py (the venv of `tests/ensure-venv`) with certificates
//! made here by the openssl CLI, as `docs/howto-engine.md` makes them.

mod common;
#[path = "support/daemon.rs"]
mod daemon;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::Host;
use daemon::{steady, Daemon};
use netswitch_testkit::pki::{Pki, CLIENT_EXT, SERVER_EXT};
use serde_json::{json, Value};

const PORT: &str = "54321";

/// The venv's python: `$NETSWITCH_VENV` (which must then hold one), else
/// the venv `tests/ensure-venv` makes as root; `None` (the test says it
/// skipped) only when neither is there.
fn python() -> Option<PathBuf> {
    if let Ok(venv) = std::env::var("NETSWITCH_VENV") {
        let py = Path::new(&venv).join("bin/python");
        assert!(py.exists(), "NETSWITCH_VENV={venv} has no bin/python");
        return Some(py);
    }
    let py = Path::new("/var/cache/netswitch-venv/bin/python");
    if py.exists() {
        return Some(py.to_path_buf());
    }
    eprintln!("skipped: NETSWITCH_VENV unset and no venv at /var/cache/netswitch-venv (run tests/ensure-venv)");
    None
}

/// A CA, a server certificate for 127.0.0.1, client certificates, and a
/// second CA that the daemon does not trust.
fn pki() -> Pki {
    let pki = Pki::new();
    pki.ca("ca", "/O=Test/CN=ca")
        .ca("other-ca", "/O=Test/CN=other-ca")
        .issue("server", "ca", "/CN=127.0.0.1", SERVER_EXT, 2);
    for (name, ca) in [("engine", "ca"), ("reader", "ca"), ("intruder", "other-ca")] {
        pki.issue(name, ca, &format!("/O=Test/CN={name}"), CLIENT_EXT, 2);
    }
    pki
}

/// A daemon with the STOMP listener; `engine` may change the host.
fn start(host: &Host, pki: &Pki) -> Daemon {
    let allow = pki.subject("engine");
    Daemon::start_daemon_args(
        host,
        &[
            "--listen",
            &format!("127.0.0.1:{PORT}"),
            "--cert",
            &pki.path("server.pem"),
            "--key",
            &pki.path("server.key"),
            "--ca",
            &pki.path("ca.pem"),
            "--allow-mutating",
            &allow,
        ],
    )
}

/// Runs a script of `tests/stomp/` with `who`'s certificate, in the
/// host's namespace; its exit code and printed JSON.
fn script(
    host: &Host,
    py: &Path,
    pki: &Pki,
    file: &str,
    who: &str,
    extra: &[&str],
    stdin: &Value,
) -> (i32, Value) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/stomp")
        .join(file);
    let mut child = Command::new("ip")
        .args(["netns", "exec", host.ns.name()])
        .arg(py)
        .arg(script)
        .args(["127.0.0.1", PORT])
        .args([
            pki.path(&format!("{who}.pem")),
            pki.path(&format!("{who}.key")),
            pki.path("ca.pem"),
        ])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(text.trim()).unwrap_or_else(|_| {
        panic!(
            "{file}: not JSON: {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), v)
}

/// `bare.py` as `who` (or without a certificate): must be refused at TLS
/// (exit 3); returns what it printed.
fn bare(host: &Host, py: &Path, pki: &Pki, who: Option<&str>) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/stomp/bare.py");
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", host.ns.name()])
        .arg(py)
        .arg(script)
        .args(["127.0.0.1", PORT, &pki.path("ca.pem")]);
    if let Some(who) = who {
        cmd.args([
            pki.path(&format!("{who}.pem")),
            pki.path(&format!("{who}.key")),
        ]);
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(3), "{who:?} not refused: {text}");
    text
}

fn engine(host: &Host, py: &Path, pki: &Pki, who: &str, job: Value) -> Value {
    let (code, v) = script(host, py, pki, "engine.py", who, &[], &job);
    assert_eq!(code, 0, "{v}");
    v
}

fn rpc(id: u64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

#[test]
fn an_engine_reads_caps_and_sets_up_networks_over_stomp() {
    let Some(py) = python() else { return };
    let host = Host::new();
    let pki = pki();
    let d = start(&host, &pki);

    let good = json!({"networks": {"net_a": {"nic": "veth_a0", "ipaddr": "10.1.0.2", "prefix": 24}},
        "bondings": {}, "options": {"connectivityCheck": false}});
    let bad = json!({"networks": {"net_b": {"nic": "nosuchnic0"}}, "bondings": {},
        "options": {"connectivityCheck": false}});
    let job = json!({"reply_to": "jms.topic.my_replies", "events": true, "wait_event": "setup.done",
        "requests": [rpc(1, "Host.setupNetworks", good), rpc(2, "Host.setupNetworks", bad),
            [rpc(3, "Host.getNetworkCapabilities", json!({})), rpc(4, "No.such", json!({}))]]});
    let v = engine(&host, &py, &pki, "engine", job);
    assert_eq!(v["connected"]["version"], "1.2", "{v}");
    // The daemon beats no faster than every 10 s, whatever it is asked.
    assert_eq!(v["connected"]["heart-beat"], "10000,10000", "{v}");
    let a = &v["answers"];
    assert_eq!(a[0]["result"], json!({"code": 0, "message": "Done"}), "{v}");
    assert_eq!(a[1]["error"]["code"], 23, "{v}");
    assert!(
        a[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nosuchnic0"),
        "{v}"
    );
    assert_eq!(a[3]["error"]["code"], -32601, "{v}");
    // What the engine read is what the Unix socket says, and what the
    // kernel has: the good setup made its bridge, the bad one nothing.
    let caps = steady(a[2]["result"].clone());
    let mut client = d.client();
    let local = steady(
        client
            .call("Host.getNetworkCapabilities", json!({}))
            .unwrap(),
    );
    assert_eq!(caps, local);
    assert_eq!(caps["networks"]["net_a"]["addr"], "10.1.0.2", "{caps}");
    assert!(caps["networks"].get("net_b").is_none());
    assert!(
        host.link("net_a").is_some(),
        "the bridge net_a is in the kernel"
    );
    assert!(host.link("net_b").is_none());
    // The setup's event reached the events subscription.
    let events = v["events"].to_string();
    assert!(events.contains("setup.done"), "{events}");
}

#[test]
fn foreign_or_missing_certificates_are_refused_and_a_reader_may_not_change_the_host() {
    let Some(py) = python() else { return };
    let host = Host::new();
    let pki = pki();
    let _d = start(&host, &pki);
    // A certificate of another CA, then none at all: refused at TLS.
    let text = bare(&host, &py, &pki, Some("intruder"));
    assert!(
        text.contains("UNKNOWN_CA")
            || text.contains("unknown ca")
            || text.contains("BAD_CERTIFICATE"),
        "a certificate of another CA got in: {text}"
    );
    let text = bare(&host, &py, &pki, None);
    assert!(
        text.contains("CERTIFICATE_REQUIRED") || text.contains("certificate required"),
        "no client certificate, yet: {text}"
    );

    // A certificate of the CA that the config does not list: reads yes,
    // changes no, with the code and who is asking.
    let req =
        json!({"networks": {"net_r": {"nic": "veth_b0"}}, "options": {"connectivityCheck": false}});
    let provider = json!({"name": "p", "authUrl": "http://127.0.0.1:1/v3", "user": "u",
        "password": "x"});
    let job = json!({"requests": [rpc(1, "Host.getNetworkCapabilities", json!({})),
        rpc(2, "Host.setupNetworks", req), rpc(3, "Host.getProviders", json!({})),
        rpc(4, "Host.addProvider", provider)]});
    let v = engine(&host, &py, &pki, "reader", job);
    assert!(v["answers"][0]["result"]["networks"].is_object(), "{v}");
    let e = &v["answers"][1]["error"];
    assert_eq!(e["code"], -32001, "{v}");
    assert!(
        e["message"].as_str().unwrap().contains("CN=reader,O=Test"),
        "{v}"
    );
    assert!(host.link("net_r").is_none());
    // The provider client's methods alike.
    assert_eq!(v["answers"][2]["result"]["providers"], json!([]), "{v}");
    assert_eq!(v["answers"][3]["error"]["code"], -32001, "{v}");
    assert!(!host.state.path().join("lib/providers").exists());
}

/// A client that promised heart-beats every second and went silent is
/// closed with an ERROR once twice the negotiated period (max(1 s, the
/// daemon's 10 s) = 10 s) passed: a dead peer does not keep its session.
#[test]
fn a_silent_client_is_closed_after_twice_its_heart_beat() {
    let Some(py) = python() else { return };
    let host = Host::new();
    let pki = pki();
    let _d = start(&host, &pki);
    let (code, v) = script(&host, &py, &pki, "silent.py", "reader", &[], &json!({}));
    assert_eq!(code, 0, "{v}");
    assert!(
        v["connected"].as_str().unwrap().starts_with("CONNECTED\n"),
        "{v}"
    );
    let after = v["after"].as_f64().unwrap();
    // Not before the 20 s it was promised (no upper bound worth asserting
    // on a loaded machine beyond the script's own 300 s).
    assert!(after >= 19.0, "closed after {after} s");
    assert!(v["last"].as_str().unwrap().contains("ERROR"), "{v}");
}

fn rss_kib(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap()
}

#[test]
fn a_thousand_connections_and_ten_thousand_fuzzed_frames_leave_it_serving() {
    let Some(py) = python() else { return };
    let host = Host::new();
    let pki = pki();
    let mut d = start(&host, &pki);
    let caps = json!({"requests": [rpc(1, "Host.getNetworkCapabilities", json!({}))]});
    engine(&host, &py, &pki, "engine", caps.clone());
    let before = rss_kib(d.pid());

    // 1000 connections that never say a word, held open while an engine
    // comes: it gets in (idle ones make room) and is answered.
    let held = host.ns.run(|| {
        raise_fd_limit(4096);
        (0..1000)
            .filter_map(|_| std::net::TcpStream::connect(format!("127.0.0.1:{PORT}")).ok())
            .collect::<Vec<_>>()
    });
    assert!(held.len() >= 900, "only {} connects", held.len());
    let v = engine(&host, &py, &pki, "engine", caps.clone());
    assert!(v["answers"][0]["result"]["networks"].is_object(), "{v}");
    drop(held);

    let (code, v) = script(
        &host,
        &py,
        &pki,
        "fuzz.py",
        "engine",
        &["10000"],
        &json!({}),
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["frames"], 10000);
    eprintln!("fuzz: {v}");
    let v = engine(&host, &py, &pki, "engine", caps);
    assert!(v["answers"][0]["result"]["networks"].is_object(), "{v}");
    assert!(d.alive());
    let after = rss_kib(d.pid());
    eprintln!("daemon RSS: {before} KiB before, {after} KiB after");
    assert!(
        after < before + 32 * 1024,
        "RSS grew from {before} to {after} KiB"
    );
}

fn raise_fd_limit(n: u64) {
    let lim = libc::rlimit {
        rlim_cur: n,
        rlim_max: n,
    };
    // SAFETY: setrlimit with a valid struct.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
}

/// Certificates that cannot be used, and a status page on a non-loopback
/// address, stop the daemon at start, naming the file or the flag.
#[test]
fn unusable_listener_flags_stop_the_daemon_at_start() {
    let host = Host::new();
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("api.sock");
    let socket = socket.to_str().unwrap();
    let missing = dir.path().join("missing.pem");
    let missing = missing.to_str().unwrap();
    let listen = format!("127.0.0.1:{PORT}");
    let (key, ca, cert) = (
        pki.path("server.key"),
        pki.path("ca.pem"),
        pki.path("server.pem"),
    );
    let cases: [(Vec<&str>, &str, Option<i32>); 3] = [
        (
            vec![
                "--listen", &listen, "--cert", missing, "--key", &key, "--ca", &ca,
            ],
            "missing.pem",
            Some(29),
        ),
        (vec!["--cert", &cert], "--listen", None),
        (
            vec!["--http", "0.0.0.0:8080"],
            "not a loopback address",
            Some(29),
        ),
    ];
    for (flags, named, want) in cases {
        let mut args = vec!["--socket", socket, "daemon"];
        args.extend(flags.iter().copied());
        let (code, out, err) = host.netswitch(&args, None);
        assert_ne!(code, 0, "{args:?}: {out}");
        if let Some(want) = want {
            assert_eq!(code, want, "{args:?}: {err}{out}");
        }
        assert!(
            err.contains(named) || out.contains(named),
            "{args:?}: {err}{out}"
        );
    }
}
