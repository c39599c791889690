//! The state directory as an open directory: every file netswitch keeps
//! there (configs, journal, lock, confirmation, boot marker) is created,
//! opened, renamed and removed relative to the directory's descriptor, by
//! one path component, never following a symlink, with modes that do not
//! depend on the umask (0700 directories, 0600 files).
//!
//! Why: netswitch runs as root and the state directory decides what it
//! deletes and overwrites. A directory others may write to, or a planted
//! symlink inside it, would let an unprivileged user steer root's writes
//! and deletions anywhere on the host. So the directory is refused unless
//! it is owned by root (or by the user running netswitch, for tests and
//! unprivileged use) and writable by its owner only, and nothing under it
//! is ever reached through a link.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{openat, renameat, OFlag};
use nix::sys::stat::{fchmod, mkdirat, Mode};
use nix::unistd::{unlinkat, UnlinkatFlags};

use crate::store::StoreError;

/// Mode of every directory netswitch creates in its state.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file netswitch creates in its state.
pub const FILE_MODE: u32 = 0o600;

/// An open directory of netswitch's state, with the path it was opened by
/// (for messages).
#[derive(Debug)]
pub struct Dir {
    path: PathBuf,
    fd: File,
}

fn io_at(path: PathBuf) -> impl FnOnce(std::io::Error) -> StoreError {
    move |source| StoreError::Io { path, source }
}

fn errno_at(path: PathBuf) -> impl FnOnce(nix::errno::Errno) -> StoreError {
    move |e| StoreError::Io {
        path,
        source: std::io::Error::from(e),
    }
}

fn unsafe_dir(path: &Path, reason: String) -> StoreError {
    StoreError::Unsafe {
        path: path.to_path_buf(),
        reason,
    }
}

/// Refuses a name that is not one plain path component: everything in
/// the state directory is reached one component at a time.
fn component(dir: &Path, name: &str) -> Result<(), StoreError> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(unsafe_dir(
            &dir.join(name),
            "not a plain file name inside the state directory".into(),
        ));
    }
    Ok(())
}

fn ro_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

impl Dir {
    /// Opens the state directory `root`, creating it (0700, with any
    /// missing parents 0700) when `create`; `None` when it is missing and
    /// not to be created. Refused with [`StoreError::Unsafe`] when it is
    /// not a directory, is writable by group or others, or is owned by
    /// neither root nor the effective user.
    pub fn open_root(root: &Path, create: bool) -> Result<Option<Dir>, StoreError> {
        if create {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(root)
                .map_err(io_at(root.to_path_buf()))?;
        }
        let fd = match File::open(root) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_at(root.to_path_buf())(e)),
        };
        let meta = fd.metadata().map_err(io_at(root.to_path_buf()))?;
        check_owner_and_mode(root, &meta, "state directory")?;
        if !meta.is_dir() {
            return Err(unsafe_dir(root, "not a directory".into()));
        }
        Ok(Some(Dir {
            path: root.to_path_buf(),
            fd,
        }))
    }

    /// The path this directory was opened by.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the directory `name` inside this one, not through a link.
    pub fn subdir(&self, name: &str) -> Result<Option<Dir>, StoreError> {
        component(&self.path, name)?;
        let path = self.path.join(name);
        let flags = ro_flags() | OFlag::O_DIRECTORY;
        match openat(self.fd.as_fd(), name, flags, Mode::empty()) {
            Ok(fd) => Ok(Some(Dir {
                path,
                fd: File::from(fd),
            })),
            Err(nix::errno::Errno::ENOENT) => Ok(None),
            Err(nix::errno::Errno::ELOOP) | Err(nix::errno::Errno::ENOTDIR) => Err(unsafe_dir(
                &path,
                "a symlink or not a directory where netswitch keeps a directory".into(),
            )),
            Err(e) => Err(errno_at(path)(e)),
        }
    }

    /// Creates the directory `name` (0700) inside this one and opens it;
    /// fails if anything of that name exists.
    pub fn mkdir(&self, name: &str) -> Result<Dir, StoreError> {
        component(&self.path, name)?;
        let path = self.path.join(name);
        mkdirat(self.fd.as_fd(), name, Mode::from_bits_truncate(DIR_MODE))
            .map_err(errno_at(path.clone()))?;
        self.subdir(name)?
            .ok_or_else(|| io_at(path)(std::io::Error::from(ErrorKind::NotFound)))
    }

    /// Opens (creating, 0600) the file `name` for writing without
    /// truncating it: the transaction lock.
    pub fn open_lock(&self, name: &str) -> Result<File, StoreError> {
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        self.open_for_write(name, flags)
    }

    fn open_for_write(&self, name: &str, flags: OFlag) -> Result<File, StoreError> {
        component(&self.path, name)?;
        let path = self.path.join(name);
        let fd = openat(
            self.fd.as_fd(),
            name,
            flags,
            Mode::from_bits_truncate(FILE_MODE),
        )
        .map_err(|e| match e {
            nix::errno::Errno::ELOOP => unsafe_dir(&path, "a symlink; not written through".into()),
            e => errno_at(path.clone())(e),
        })?;
        // A file created by an older version (or under another umask)
        // keeps its mode when reopened: narrow it.
        fchmod(fd.as_fd(), Mode::from_bits_truncate(FILE_MODE)).map_err(errno_at(path))?;
        Ok(File::from(fd))
    }

    /// Creates the file `name` (0600; nothing of that name may exist),
    /// writes `bytes` and fsyncs it. A failed write removes the file.
    pub fn create_synced(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let mut f = self.open_for_write(name, flags)?;
        let path = self.path.join(name);
        let written = f.write_all(bytes).and_then(|()| f.sync_all());
        if let Err(e) = written {
            drop(f);
            let _ = self.remove_file(name);
            return Err(io_at(path)(e));
        }
        Ok(())
    }

    /// Creates the file `name` like [`Dir::create_synced`] but without the
    /// fsync: for a batch of files made durable at once by
    /// [`Dir::sync_filesystem`] (one flush instead of one per file).
    pub fn create_unsynced(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let mut f = self.open_for_write(name, flags)?;
        if let Err(e) = f.write_all(bytes) {
            drop(f);
            let _ = self.remove_file(name);
            return Err(io_at(self.path.join(name))(e));
        }
        Ok(())
    }

    /// Flushes the whole filesystem the directory is on (`syncfs`), then
    /// the directory itself: what a batch of [`Dir::create_unsynced`]
    /// files needs to be durable.
    pub fn sync_filesystem(&self) -> Result<(), StoreError> {
        nix::unistd::syncfs(self.fd.as_fd()).map_err(errno_at(self.path.clone()))?;
        self.sync()
    }

    /// Replaces the file `name` with `bytes`, atomically and durably: a
    /// temp file `<name>.tmp` is written and fsynced, renamed over `name`,
    /// and the directory fsynced. On any failure the temp file is removed
    /// on the spot (a full disk leaves nothing behind).
    pub fn replace(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let tmp = format!("{name}.tmp");
        // A temp file left by a process killed mid-write goes first.
        self.remove_file(&tmp)?;
        self.create_synced(&tmp, bytes)?;
        let path = self.path.join(name);
        if let Err(e) = renameat(self.fd.as_fd(), tmp.as_str(), self.fd.as_fd(), name) {
            let _ = self.remove_file(&tmp);
            return Err(errno_at(path)(e));
        }
        self.sync()
    }

    /// Reads the file `name`, not through a link; `None` when missing.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        component(&self.path, name)?;
        let path = self.path.join(name);
        let fd = match openat(self.fd.as_fd(), name, ro_flags(), Mode::empty()) {
            Ok(fd) => fd,
            Err(nix::errno::Errno::ENOENT) => return Ok(None),
            Err(nix::errno::Errno::ELOOP) => {
                return Err(unsafe_dir(&path, "a symlink; not read through".into()))
            }
            Err(e) => return Err(errno_at(path)(e)),
        };
        let mut out = Vec::new();
        File::from(fd).read_to_end(&mut out).map_err(io_at(path))?;
        Ok(Some(out))
    }

    /// Removes the file (or symlink) `name`, never what a link points at;
    /// a missing file is fine.
    pub fn remove_file(&self, name: &str) -> Result<(), StoreError> {
        component(&self.path, name)?;
        match unlinkat(self.fd.as_fd(), name, UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(nix::errno::Errno::ENOENT) => Ok(()),
            Err(e) => Err(errno_at(self.path.join(name))(e)),
        }
    }

    /// Renames `from` to `to`, both inside this directory.
    pub fn rename(&self, from: &str, to: &str) -> Result<(), StoreError> {
        component(&self.path, from)?;
        component(&self.path, to)?;
        renameat(self.fd.as_fd(), from, self.fd.as_fd(), to).map_err(errno_at(self.path.join(to)))
    }

    /// fsyncs the directory (its entries are durable).
    pub fn sync(&self) -> Result<(), StoreError> {
        self.fd.sync_all().map_err(io_at(self.path.clone()))
    }

    /// The open directory, for `*at` calls of the store.
    pub fn file(&self) -> &File {
        &self.fd
    }
}

/// Refuses what others than its owner may write, or what belongs to
/// neither root nor the effective user: `what` names it in the message.
pub fn check_owner_and_mode(
    path: &Path,
    meta: &std::fs::Metadata,
    what: &str,
) -> Result<(), StoreError> {
    // SAFETY: geteuid(2) takes nothing and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if meta.uid() != 0 && meta.uid() != euid {
        return Err(unsafe_dir(
            path,
            format!(
                "{what} is owned by uid {}, not by root or uid {euid}",
                meta.uid()
            ),
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(unsafe_dir(
            path,
            format!(
                "{what} is writable by group or others (mode {:o})",
                meta.mode() & 0o7777
            ),
        ));
    }
    Ok(())
}
