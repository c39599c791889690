//! `netswitch lldp` and the daemon's `Host.getLldp` against a real lldpd:
//! the host namespace's nic `veth_l0` is cabled (a veth) to `sw0` in a
//! "switch" namespace where lldpd announces itself as `tor-7`.

mod common;
#[path = "support/daemon.rs"]
mod daemon;

use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use common::Host;
use daemon::{local, Daemon};
use netswitch_testkit::Netns;
use serde_json::{json, Value};

/// Generous: the machine is loaded; a healthy run takes a few seconds.
const PATIENCE: Duration = Duration::from_secs(60);

/// The host (veth_a0..veth_b1 as nics without neighbors, and veth_l0) and
/// the switch namespace at the other end of veth_l0.
fn cabled() -> (Host, Netns) {
    let host = Host::new();
    let switch = Netns::new();
    host.ns.ip(&[
        "link",
        "add",
        "veth_l0",
        "type",
        "veth",
        "peer",
        "name",
        "sw0",
        "netns",
        switch.name(),
    ]);
    host.ns.ip(&["link", "set", "veth_l0", "up"]);
    switch.ip(&["link", "set", "sw0", "up"]);
    (host, switch)
}

/// lldpd on `sw0`, announcing every second with a TTL of a few seconds,
/// with a private control socket and config; SIGKILLed on drop (no
/// shutdown LLDPDU, so the neighbor ages out by its TTL).
struct Lldpd {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Lldpd {
    fn start(ns: &Netns) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("lldpd.conf");
        std::fs::write(
            &conf,
            "configure system hostname tor-7\n\
             configure lldp tx-interval 1\n\
             configure lldp tx-hold 3\n\
             configure ports sw0 lldp portdescription \"Ethernet1/7 to host\"\n",
        )
        .unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", ns.name(), "lldpd", "-d", "-I", "sw0", "-u"])
            .arg(dir.path().join("ctl.sock"))
            .arg("-O")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("lldpd (Debian package lldpd) must be installed");
        Lldpd { child, _dir: dir }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Lldpd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `f` until it gives Some, or panics after [`PATIENCE`].
fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The system name in a device's entry of a `Host.getLldp` answer.
fn system_name(answer: &Value, dev: &str) -> Option<String> {
    answer[dev]["tlvs"]
        .as_array()?
        .iter()
        .find(|t| t["name"] == "System Name")?["properties"]["system name"]
        .as_str()
        .map(str::to_string)
}

/// `Host.subscribe` on the daemon; notifications' params into a channel.
fn subscribe(d: &Daemon) -> Receiver<Value> {
    let mut sub = netswitch_daemon::Client::connect(&d.socket).unwrap();
    assert_eq!(
        sub.call("Host.subscribe", json!({})).unwrap()["subscribed"],
        true
    );
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        while let Ok(m) = sub.read_message() {
            if tx.send(m["params"].clone()).is_err() {
                break;
            }
        }
    });
    rx
}

/// Reads events until an `lldp.neighbor` one of `change` on `dev`.
fn wait_event(rx: &Receiver<Value>, dev: &str, change: &str) -> Value {
    let mut seen = Vec::new();
    loop {
        let Ok(e) = rx.recv_timeout(PATIENCE) else {
            panic!("no lldp.neighbor {change} on {dev}; saw {seen:?}");
        };
        if e["event"] == "lldp.neighbor" && e["device"] == dev && e["change"] == change {
            return e;
        }
        seen.push(e);
    }
}

#[test]
fn the_daemon_reports_lldpd_on_the_nic_and_announces_it_coming_and_going() {
    let (host, switch) = cabled();
    let d = Daemon::start(&host);
    let events = subscribe(&d);
    let mut lldpd = Lldpd::start(&switch);

    let appeared = wait_event(&events, "veth_l0", "appeared");
    let tlvs = json!({"veth_l0": {"tlvs": appeared["tlvs"]}});
    assert_eq!(system_name(&tlvs, "veth_l0").as_deref(), Some("tor-7"));

    // `netswitch lldp --json` through the daemon: every nic, the cabled
    // one with its neighbor.
    let answer = wait_for("tor-7 in `netswitch lldp --json`", || {
        let (code, out, err) = d.via(&host, &["--json", "lldp"], None);
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        system_name(&v, "veth_l0").map(|_| v)
    });
    assert_eq!(answer["veth_l0"]["enabled"], true, "{answer}");
    // lldpd's TTL is a few seconds (tx-interval 1, tx-hold 3).
    let left = answer["veth_l0"]["ttlLeft"].as_u64().unwrap_or(0);
    assert!((1..=10).contains(&left), "{answer}");
    assert_eq!(answer["veth_a0"], json!({"enabled": true, "tlvs": []}));
    // The table names the neighbor too.
    let (code, out, err) = d.via(&host, &["lldp", "veth_l0"], None);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("tor-7") && out.contains("Ethernet1/7 to host"),
        "{out}"
    );

    // A filter for a nic with no neighbor: listened on, nothing heard.
    let (code, out, err) = d.via(&host, &["--json", "lldp", "veth_a0"], None);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v, json!({"veth_a0": {"enabled": true, "tlvs": []}}));

    // lldpd gone without a shutdown LLDPDU: the neighbor ages out.
    lldpd.kill();
    wait_event(&events, "veth_l0", "expired");
    let (_, out, _) = d.via(&host, &["--json", "lldp", "veth_l0"], None);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v, json!({"veth_l0": {"enabled": true, "tlvs": []}}));
}

#[test]
fn in_process_lldp_listens_and_reports_what_it_heard() {
    let (host, switch) = cabled();
    let _lldpd = Lldpd::start(&switch);
    // lldpd announces every second: three seconds of listening hear it
    // (once it is up; retried while it starts under load).
    let answer = wait_for("tor-7 from `netswitch lldp --listen 3`", || {
        let (code, out, err) = local(&host, &["--json", "lldp", "--listen", "3"], None);
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        system_name(&v, "veth_l0").map(|_| v)
    });
    assert_eq!(answer["veth_l0"]["enabled"], true);
    assert_eq!(answer["veth_b0"], json!({"enabled": true, "tlvs": []}));
}

#[test]
fn listen_outside_1_to_300_seconds_is_refused_with_21() {
    let host = Host::new();
    for bad in ["0", "1000", "-1", "x"] {
        let (code, out, _) = local(&host, &["--json", "lldp", "--listen", bad], None);
        assert_eq!(code, 21, "--listen {bad}: {out}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["status"]["code"], 21);
    }
}

#[test]
fn a_malformed_filter_is_refused_with_21_naming_it() {
    let host = Host::new();
    let d = Daemon::start(&host);
    let mut c = netswitch_daemon::Client::connect(&d.socket).unwrap();
    for params in [
        json!({"filter": {"devices": "veth_a0"}}),
        json!({"filter": {"devices": [7]}}),
        json!({"filter": []}),
    ] {
        match c.call("Host.getLldp", params.clone()) {
            Err(netswitch_daemon::ClientError::Rpc { code, message, .. }) => {
                assert_eq!(code, 21, "{params}: {message}");
                assert!(message.contains("filter"), "{message}");
            }
            other => panic!("{params}: {other:?}"),
        }
    }
}

#[test]
fn without_cap_net_raw_the_daemon_serves_and_reports_lldp_off() {
    let (host, switch) = cabled();
    let _lldpd = Lldpd::start(&switch);
    // The daemon exec'd with CAP_NET_RAW out of its bounding set: root,
    // but no packet socket.
    let dir = tempfile::tempdir().unwrap();
    let wrapper = dir.path().join("netswitch-noraw");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec setpriv --bounding-set -net_raw {} \"$@\"\n",
            env!("CARGO_BIN_EXE_netswitch")
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let d = Daemon::start_with(&host, &wrapper);
    let (code, out, err) = d.via(&host, &["--json", "lldp"], None);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    for dev in ["veth_a0", "veth_b0", "veth_l0"] {
        assert_eq!(v[dev], json!({"enabled": false, "tlvs": []}), "{v}");
    }
    // Everything else is served as usual.
    let (code, _, err) = d.via(&host, &["--json", "caps"], None);
    assert_eq!(code, 0, "{err}");
}
