//! The daemon against what a careless admin or a hostile local client can
//! do to it: a second daemon on its socket, a `--socket` that names a
//! symlink or a file, hundreds of connections that each send a megabyte
//! and stall, ids too big for a float. Each test starts `netswitch daemon`
//! in its own namespace; the daemon dies with the test.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::Host;
use netswitch_daemon::Client;
use serde_json::{json, Value};

/// `netswitch daemon` for `host` on `socket`, dying with the test.
fn daemon_command(host: &Host, socket: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_netswitch"));
    cmd.args(["--netns", host.ns.name()])
        .arg("--state-dir")
        .arg(host.state.path().join("lib"))
        .arg("--resolv-conf")
        .arg(host.state.path().join("resolv.conf"))
        .arg("--socket")
        .arg(socket)
        .arg("daemon")
        .stdin(Stdio::null());
    // SAFETY: prctl is async-signal-safe; the daemon dies with the test.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd
}

/// A running daemon; SIGTERM, then SIGKILL, on drop.
struct Daemon {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    fn start(host: &Host) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let socket = dir.path().join("api.sock");
        let child = daemon_command(host, &socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the daemon");
        let d = Daemon {
            child,
            socket,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while UnixStream::connect(&d.socket).is_err() {
            assert!(Instant::now() < deadline, "the daemon did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    fn caps(&self) -> Value {
        Client::connect(&self.socket)
            .expect("connect")
            .call("Host.getNetworkCapabilities", json!({}))
            .expect("caps")
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .expect("VmRSS")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: signalling our own child by its pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a daemon that is expected to refuse to start; its output. A
/// daemon that starts after all is killed and fails the test.
fn refused(host: &Host, socket: &Path) -> Output {
    let mut child = daemon_command(host, socket)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the daemon started on {}", socket.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_second_daemon_on_a_live_socket_refuses_to_start_and_the_first_keeps_it() {
    let host = Host::new();
    let a = Daemon::start(&host);
    let inode = std::fs::metadata(&a.socket).unwrap().ino();
    assert!(a.caps()["nics"].is_object());

    let b = refused(&host, &a.socket);
    let stderr = String::from_utf8_lossy(&b.stderr);
    assert_ne!(b.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("another daemon is serving this socket"),
        "{stderr}"
    );
    // The first daemon's socket is the same file and it still answers.
    assert_eq!(std::fs::metadata(&a.socket).unwrap().ino(), inode);
    assert!(a.caps()["nics"].is_object());
}

#[test]
fn a_socket_path_naming_a_symlink_or_a_regular_file_is_refused_and_left_alone() {
    let host = Host::empty();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("precious");
    std::fs::write(&file, "do not delete\n").unwrap();
    let out = refused(&host, &file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("a regular file, not a socket"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "do not delete\n");

    let link = dir.path().join("api.sock");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    let out = refused(&host, &link);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("a symlink, not a socket"), "{stderr}");
    let meta = std::fs::symlink_metadata(&link).unwrap();
    assert!(meta.file_type().is_symlink(), "the symlink was replaced");
    assert_eq!(std::fs::read_link(&link).unwrap(), file);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "do not delete\n");
}

#[test]
fn a_dead_daemons_socket_is_taken_over() {
    let host = Host::empty();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("api.sock");
    // What a killed daemon leaves: a socket file nobody listens on.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let mut child = daemon_command(&host, &socket)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let answered = loop {
        if let Ok(mut c) = Client::connect(&socket) {
            break c.call("Host.getNetworkCapabilities", json!({}));
        }
        assert!(child.try_wait().unwrap().is_none(), "the daemon exited");
        assert!(Instant::now() < deadline, "the daemon did not come up");
        std::thread::sleep(Duration::from_millis(20));
    };
    // SAFETY: signalling our own child by its pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(answered.is_ok(), "{answered:?}");
    assert!(status.success(), "{status}");
    assert!(!socket.exists(), "the daemon left its socket behind");
}

/// Opens a connection and writes `bytes` of a line that never ends;
/// `None` if the daemon closed it first.
fn stall_with(socket: &Path, bytes: usize) -> Option<UnixStream> {
    let mut s = UnixStream::connect(socket).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut chunk =
        br#"{"jsonrpc":"2.0","id":1,"method":"Host.setupNetworks","params":{"x":""#.to_vec();
    chunk.resize(bytes, b'a');
    s.write_all(&chunk).ok()?;
    Some(s)
}

#[test]
fn two_hundred_stalled_megabyte_lines_keep_memory_bounded_and_caps_answered() {
    let host = Host::new();
    let d = Daemon::start(&host);
    assert!(d.caps()["nics"].is_object());
    let before = d.rss_kib();
    let socket = d.socket.clone();
    let held: Vec<UnixStream> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let socket = &socket;
                s.spawn(move || {
                    (0..25)
                        .filter_map(|_| stall_with(socket, 1 << 20))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let after = d.rss_kib();
    eprintln!("daemon RSS: {before} KiB before, {after} KiB with 200 stalled lines");
    // Unbounded, 200 lines of 1 MiB are 200 MiB and more; the bound is
    // 64 MiB across all connections.
    assert!(
        after.saturating_sub(before) < 128 << 10,
        "RSS grew from {before} KiB to {after} KiB"
    );
    // A fresh client still gets in and gets its caps.
    assert!(d.caps()["nics"].is_object());
    // The connections dropped to make room were told why.
    let mut first = held.into_iter().next().expect("a connection");
    first
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut text = String::new();
    let _ = BufReader::new(&mut first).read_line(&mut text);
    assert!(text.contains("-32002"), "{text}");
}

#[test]
fn an_id_beyond_64_bits_comes_back_as_the_same_number() {
    let host = Host::empty();
    let d = Daemon::start(&host);
    let mut s = UnixStream::connect(&d.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    for id in ["18446744073709551616", "12345678901234567890123", "1e400"] {
        let line = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"Host.getNetworkStatistics\"}}\n"
        );
        s.write_all(line.as_bytes()).unwrap();
        let mut answer = Vec::new();
        let mut byte = [0u8; 1];
        while s.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
            answer.push(byte[0]);
        }
        let answer = String::from_utf8(answer).unwrap();
        assert!(
            answer.starts_with(&format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":")),
            "{answer}"
        );
    }
}
