//! Misbehaving peers (issue 14): a fake OVSDB server on a Unix socket in a
//! temp dir that floods `echo` without reading, never reads at all, or
//! streams an endless string. The client must fail with code 32 by its
//! deadline and keep its memory bounded.

use std::io::Write;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netswitch_ovsdb::{Client, Error, Options, DEFAULT_MAX_MESSAGE};

/// A one-connection fake server running `behave` on the accepted stream
/// until it fails or the test ends (`stop`).
struct FakePeer {
    _dir: tempfile::TempDir,
    addr: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakePeer {
    fn start(behave: fn(&mut UnixStream, &AtomicBool)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.sock");
        let listener = UnixListener::bind(&path).expect("bind");
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                behave(&mut stream, &s);
            }
        });
        Self {
            addr: format!("unix:{}", path.display()),
            _dir: dir,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn options(timeout: Duration) -> Options {
    Options {
        timeout,
        ..Options::default()
    }
}

/// The peer's write failing (the client dropped us) ends its loop too.
fn flood_echo(s: &mut UnixStream, stop: &AtomicBool) {
    let msg = br#"{"method":"echo","params":["netswitch-test"],"id":"echo"}"#;
    while !stop.load(Ordering::Relaxed) {
        if s.write_all(msg).is_err() {
            return;
        }
    }
}

fn never_read(_s: &mut UnixStream, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn endless_string(s: &mut UnixStream, stop: &AtomicBool) {
    if s.write_all(br#"{"id":1,"error":null,"result":""#).is_err() {
        return;
    }
    let chunk = vec![b'a'; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        if s.write_all(&chunk).is_err() {
            return;
        }
    }
}

/// Generous bound: the machine is loaded, the point is "ends", not "fast".
fn ended_in_time(started: Instant, timeout: Duration) {
    let took = started.elapsed();
    assert!(
        took < timeout * 4 + Duration::from_secs(10),
        "took {took:?} with a {timeout:?} timeout"
    );
}

#[test]
fn a_peer_flooding_echo_without_reading_fails_the_call_with_32() {
    let peer = FakePeer::start(flood_echo);
    let timeout = Duration::from_secs(2);
    let c = Client::connect_with(&peer.addr, options(timeout)).unwrap();
    let started = Instant::now();
    let err = c.list_dbs().expect_err("a flooding peer cannot answer");
    assert_eq!(err.code(), 32, "{err}");
    ended_in_time(started, timeout);
    // The connection is gone, not left half-open.
    assert!(!c.is_connected(), "{err}");
}

#[test]
fn a_peer_that_never_reads_cannot_hold_a_big_write_past_the_deadline() {
    let peer = FakePeer::start(never_read);
    let timeout = Duration::from_secs(2);
    let c = Client::connect_with(&peer.addr, options(timeout)).unwrap();
    // Far more than a socket buffer holds: the write itself would block.
    let payload = serde_json::json!(["x".repeat(16 << 20)]);
    let started = Instant::now();
    let err = c.echo(payload).expect_err("nobody answers");
    assert_eq!(err.code(), 32, "{err}");
    ended_in_time(started, timeout);
    // The next call fails as fast: by then the writer gave up on the peer.
    let deadline = Instant::now() + timeout * 3;
    while c.is_connected() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!c.is_connected(), "a stalled peer must lose its connection");
    // Later calls say why.
    let again = c.list_dbs().expect_err("the connection is gone");
    assert!(matches!(again, Error::Stalled { .. }), "{again}");
    assert_eq!(again.code(), 32);
}

#[test]
fn the_overall_deadline_caps_every_call() {
    let peer = FakePeer::start(never_read);
    let c = Client::connect_with(&peer.addr, options(Duration::from_secs(600))).unwrap();
    c.set_deadline(Some(Instant::now() + Duration::from_secs(1)));
    let started = Instant::now();
    let err = c.list_dbs().expect_err("nobody answers");
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert_eq!(err.code(), 32);
    ended_in_time(started, Duration::from_secs(1));
}

/// The process's peak resident size, from /proc.
fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM");
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmHWM kB");
    kb * 1024
}

#[test]
fn an_endless_string_is_refused_at_the_default_limit_with_bounded_memory() {
    let before = peak_rss_bytes();
    let peer = FakePeer::start(endless_string);
    let timeout = Duration::from_secs(60);
    let c = Client::connect_with(&peer.addr, options(timeout)).unwrap();
    let err = c.list_dbs().expect_err("the string never ends");
    assert!(
        matches!(err, Error::TooLarge { limit, .. } if limit == DEFAULT_MAX_MESSAGE),
        "{err}"
    );
    assert_eq!(err.code(), 32);
    assert!(!c.is_connected());
    let grew = peak_rss_bytes().saturating_sub(before);
    assert!(
        grew < 3 * DEFAULT_MAX_MESSAGE as u64,
        "peak RSS grew by {} MiB",
        grew >> 20
    );
}

#[test]
fn a_smaller_limit_is_honoured() {
    let peer = FakePeer::start(endless_string);
    let opts = Options {
        timeout: Duration::from_secs(60),
        max_message: 1 << 20,
    };
    let c = Client::connect_with(&peer.addr, opts).unwrap();
    let err = c.list_dbs().expect_err("the string never ends");
    assert!(
        matches!(err, Error::TooLarge { limit, .. } if limit == 1 << 20),
        "{err}"
    );
    let again = c.list_dbs().expect_err("the connection is gone");
    assert!(matches!(again, Error::TooLarge { .. }), "{again}");
}
