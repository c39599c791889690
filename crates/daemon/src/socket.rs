//! The daemon's socket file: bound safely, removed only if it is still
//! ours.
//!
//! A daemon must never take another's socket away: a second daemon started
//! on a live socket refuses to start (a connect succeeds), and on its way
//! out a daemon removes the path only if it still names the very socket it
//! bound (same device and inode), so a later daemon's socket survives an
//! earlier one's exit. A symlink or any other non-socket at the path is
//! refused, never followed or deleted: `--socket` pointing at a file must
//! not cost the file.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tracing::{debug, warn};

use crate::server::DaemonError;

/// A bound listening socket and the identity of its file.
#[derive(Debug)]
pub(crate) struct Bound {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

/// Binds `path` mode 0600 (the umask is tightened around `bind`, so it
/// never exists with looser permissions). An existing socket nobody
/// listens on (connect refused) is replaced; anything else there is an
/// error and left alone.
pub(crate) fn bind(path: &Path) -> Result<(std::os::unix::net::UnixListener, Bound), DaemonError> {
    let err = |source| DaemonError::Socket {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(err)?;
    }
    clear_stale(path)?;
    // SAFETY: umask(2) cannot fail; the old mask is put back right after.
    let old = unsafe { libc::umask(0o177) };
    let bound = std::os::unix::net::UnixListener::bind(path);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let listener = bound.map_err(|e| match e.kind() {
        // Another daemon bound it between our check and our bind.
        io::ErrorKind::AddrInUse => DaemonError::InUse(path.to_path_buf()),
        _ => err(e),
    })?;
    let meta = fs::symlink_metadata(path).map_err(err)?;
    let me = Bound {
        path: path.to_path_buf(),
        dev: meta.dev(),
        ino: meta.ino(),
    };
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(err)?;
    Ok((listener, me))
}

/// Makes way for the bind: nothing at `path` is fine, a dead socket is
/// removed; a live socket, a symlink or a non-socket is refused.
fn clear_stale(path: &Path) -> Result<(), DaemonError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(DaemonError::Socket {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let kind = meta.file_type();
    if kind.is_symlink() {
        return Err(DaemonError::NotASocket {
            path: path.to_path_buf(),
            what: "a symlink",
        });
    }
    if !kind.is_socket() {
        let what = if kind.is_dir() {
            "a directory"
        } else if kind.is_file() {
            "a regular file"
        } else {
            "not a socket"
        };
        return Err(DaemonError::NotASocket {
            path: path.to_path_buf(),
            what,
        });
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(DaemonError::InUse(path.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            debug!(socket = %path.display(), "replacing a stale socket");
            fs::remove_file(path).map_err(|source| DaemonError::Socket {
                path: path.to_path_buf(),
                source,
            })
        }
        // Permission denied and the like: whether someone serves it is
        // unknown, so it is not ours to remove.
        Err(source) => Err(DaemonError::Socket {
            path: path.to_path_buf(),
            source,
        }),
    }
}

impl Bound {
    /// Whether the path still names the socket this daemon bound.
    fn still_ours(&self) -> bool {
        fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.file_type().is_socket() && m.dev() == self.dev && m.ino() == self.ino)
    }
}

impl Drop for Bound {
    /// Removes the socket file, unless someone replaced it meanwhile.
    fn drop(&mut self) {
        if !self.still_ours() {
            warn!(socket = %self.path.display(), "the socket path was replaced; left alone");
            return;
        }
        if let Err(e) = fs::remove_file(&self.path) {
            warn!(socket = %self.path.display(), error = %e, "removing the socket failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlink_a_file_or_a_live_socket_is_refused_and_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, "keep me").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        for p in [&file, &link] {
            assert!(matches!(bind(p), Err(DaemonError::NotASocket { .. })));
        }
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read_to_string(&file).unwrap(), "keep me");

        let sock = dir.path().join("api.sock");
        let (_l, first) = bind(&sock).unwrap();
        assert!(matches!(bind(&sock), Err(DaemonError::InUse(_))));
        assert!(first.still_ours());
    }

    #[test]
    fn a_dead_socket_is_replaced_and_only_its_owner_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("api.sock");
        // A daemon that died without cleaning up leaves a dead socket,
        // which the next one replaces.
        let (listener, crashed) = bind(&sock).unwrap();
        drop(listener);
        std::mem::forget(crashed);
        let (_l, old) = bind(&sock).unwrap();
        assert!(old.still_ours());
        // Someone moves the old daemon's socket aside and a new daemon
        // binds the path: the old one's exit leaves the new socket alone.
        fs::rename(&sock, dir.path().join("aside.sock")).unwrap();
        let (_l2, new) = bind(&sock).unwrap();
        assert!(!old.still_ours());
        drop(old);
        assert!(sock.exists(), "an old daemon removed the new socket");
        assert!(new.still_ours());
        drop(new);
        assert!(!sock.exists());
    }
}
