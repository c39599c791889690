//! `netswitch setup` against a misbehaving OVSDB peer (issue 14): a fake
//! server on a Unix socket in the test's temp dir that floods `echo`
//! without reading, or streams an endless string. The setup must end with
//! code 32 by its `--ovs-timeout`, and change nothing.

mod common;

use std::io::Write;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Host;
use serde_json::json;

/// Serves every connection with `behave` until the test ends.
struct FakePeer {
    stop: Arc<AtomicBool>,
}

impl FakePeer {
    fn start(h: &mut Host, behave: fn(UnixStream, Arc<AtomicBool>)) -> FakePeer {
        let path = h.state.path().join("fake-db.sock");
        let listener = UnixListener::bind(&path).expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let _ = conn.set_nonblocking(false);
                        let s = Arc::clone(&s);
                        std::thread::spawn(move || behave(conn, s));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        h.env.push((
            "NETSWITCH_OVS_DB".into(),
            format!("unix:{}", path.display()),
        ));
        h.env.push(("NETSWITCH_OVS_TIMEOUT".into(), "2".into()));
        FakePeer { stop }
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn flood_echo(mut s: UnixStream, stop: Arc<AtomicBool>) {
    let msg = br#"{"method":"echo","params":[],"id":"echo"}"#;
    while !stop.load(Ordering::Relaxed) && s.write_all(msg).is_ok() {}
}

fn endless_string(mut s: UnixStream, stop: Arc<AtomicBool>) {
    let chunk = vec![b'a'; 64 * 1024];
    if s.write_all(br#"{"id":1,"result":""#).is_err() {
        return;
    }
    while !stop.load(Ordering::Relaxed) && s.write_all(&chunk).is_ok() {}
}

/// Sets up an OVS network against the fake peer: code 32, in time, and
/// nothing on the host or in the running config.
fn setup_fails_with_32(h: &Host, extra: &[&str]) {
    let req = json!({"networks": {"mgmt": {"nic": "veth_a0", "switch": "ovs",
        "ipaddr": "192.0.2.10", "prefix": 24}},
        "options": {"connectivityCheck": false}});
    let started = Instant::now();
    let (code, err) = h.setup_code(&req, extra);
    let took = started.elapsed();
    assert_eq!(code, 32, "{err}");
    // The deadline is 2 s; the bound is loose (loaded machine), the point
    // is that it ends.
    assert!(took < Duration::from_secs(60), "took {took:?}");
    assert!(h.link("mgmt").is_none());
    assert!(h.running().networks.is_empty());
    assert!(h.addrs("veth_a0").is_empty());
}

#[test]
fn a_peer_flooding_echo_without_reading_fails_the_setup_with_32() {
    let mut h = Host::new();
    let _peer = FakePeer::start(&mut h, flood_echo);
    setup_fails_with_32(&h, &[]);
}

#[test]
fn a_peer_streaming_an_endless_string_fails_the_setup_with_32() {
    let mut h = Host::new();
    let _peer = FakePeer::start(&mut h, endless_string);
    h.env.push(("NETSWITCH_OVS_MAX_MESSAGE".into(), "1".into()));
    setup_fails_with_32(&h, &[]);
}
