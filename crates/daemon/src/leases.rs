//! DHCP lease events for `Host.subscribe`. The clients are supervisor
//! processes of their own (they outlive a CLI setup and the daemon), so the
//! daemon learns of their leases from the lease files they keep current in
//! `<state-dir>/dhcp/`: an inotify watch on that directory, each change of
//! a `NET.lease.json` compared with the last reading
//! ([`netswitch_dhcp::lease::changes`]).
//!
//! Self-contained: the server only starts it.

use std::collections::HashMap;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use netswitch_dhcp::lease::{changes, LeaseFile};
use serde_json::Value;
use tokio::io::unix::AsyncFd;
use tokio::sync::broadcast;
use tracing::{debug, warn};

const SUFFIX: &str = ".lease.json";

/// The lease files of `dir`, by network.
fn read_all(dir: &Path) -> HashMap<String, LeaseFile> {
    let mut out = HashMap::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(net) = name.strip_suffix(SUFFIX) {
            out.insert(net.to_string(), LeaseFile::read(&e.path()));
        }
    }
    out
}

/// An inotify instance watching `dir` for files written, renamed in and
/// removed.
fn watch(dir: &Path) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the fd is owned right after.
    let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let path = CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mask = libc::IN_CLOSE_WRITE | libc::IN_MOVED_TO | libc::IN_DELETE | libc::IN_MOVED_FROM;
    // SAFETY: fd is valid, path NUL-terminated.
    if unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), mask) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// The networks whose lease file an inotify buffer names.
fn named(buf: &[u8]) -> Vec<String> {
    const HEADER: usize = std::mem::size_of::<libc::inotify_event>();
    let mut out = Vec::new();
    let mut at = 0;
    while at + HEADER <= buf.len() {
        // `len` (the name's padded length) is the header's last u32.
        let len_at = at + HEADER - 4;
        let len = u32::from_ne_bytes([
            buf[len_at],
            buf[len_at + 1],
            buf[len_at + 2],
            buf[len_at + 3],
        ]) as usize;
        let name = buf.get(at + HEADER..at + HEADER + len).unwrap_or(&[]);
        let name = name.split(|b| *b == 0).next().unwrap_or(&[]);
        if let Some(net) = String::from_utf8_lossy(name).strip_suffix(SUFFIX) {
            if !out.iter().any(|n| n == net) {
                out.push(net.to_string());
            }
        }
        at += HEADER + len;
    }
    out
}

/// Starts the watch of `dir` (created if missing) on the current runtime;
/// its events go to `tx`. A failure to watch is logged, and the daemon
/// serves on without lease events.
pub(crate) fn forward(dir: PathBuf, tx: broadcast::Sender<Value>) {
    if let Err(e) = std::fs::create_dir_all(&dir) {
        warn!(dir = %dir.display(), error = %e, "no DHCP lease events");
        return;
    }
    // SAFETY: the OwnedFd moves into the AsyncFd and is closed only by it.
    let fd = match watch(&dir)
        .and_then(|fd| unsafe { AsyncFd::register(fd) }.map_err(io::Error::from))
    {
        Ok(fd) => fd,
        Err(e) => {
            warn!(dir = %dir.display(), error = %e, "no DHCP lease events");
            return;
        }
    };
    let mut known = read_all(&dir);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let Ok(mut ready) = fd.readable().await else {
                break;
            };
            let n = match ready.try_io(|fd| {
                // SAFETY: reads into our own buffer, within its length.
                let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            }) {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => {
                    warn!(error = %e, "reading the lease watch; no more DHCP lease events");
                    break;
                }
                Err(_would_block) => continue,
            };
            for net in named(&buf[..n]) {
                let path = dir.join(format!("{net}{SUFFIX}"));
                let new = path.exists().then(|| LeaseFile::read(&path));
                for e in changes(&net, known.get(&net), new.as_ref()) {
                    debug!(event = %e, "lease event");
                    let _ = tx.send(e);
                }
                match new {
                    Some(f) => known.insert(net, f),
                    None => known.remove(&net),
                };
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_lease_files_in_an_inotify_buffer() {
        fn event(name: &str) -> Vec<u8> {
            let mut padded = name.as_bytes().to_vec();
            padded.resize(name.len().div_ceil(16) * 16 + 16, 0);
            let mut b = Vec::new();
            b.extend(1i32.to_ne_bytes());
            b.extend(libc::IN_MOVED_TO.to_ne_bytes());
            b.extend(0u32.to_ne_bytes());
            b.extend((padded.len() as u32).to_ne_bytes());
            b.extend(padded);
            b
        }
        let mut buf = event("mgmt.lease.json");
        buf.extend(event("mgmt.lease.json.tmp"));
        buf.extend(event("vms.pid"));
        buf.extend(event("vms.lease.json"));
        buf.extend(event("mgmt.lease.json"));
        assert_eq!(named(&buf), ["mgmt", "vms"]);
    }
}
