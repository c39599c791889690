//! The persistence store (DESIGN §5.4): `running/` and `persistent/`, each
//! with `nets/`, `bonds/`, `devices/`, one JSON file per entity holding its
//! canonical attributes.
//!
//! A whole config is swapped at once: it is written to a fresh directory,
//! every file and the directory fsynced, and a symlink renamed over the
//! old one, so a reader (or a crash) sees the old config or the new one,
//! never a mix.
//!
//! A save costs what changed, not what the host carries: an entity whose
//! attributes equal those in a live generation (running or persistent) is
//! hard-linked from there (its file was fsynced when it was first written),
//! so a one-network edit on a 1000-network host writes and fsyncs one file
//! and three directories. Generations never change once linked, so a loaded
//! config is kept and served again while the symlink still points at it.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use netswitch_model::config::{BondAttrs, Config, NetAttrs};

/// Why the store could not be read or written; always names the path.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a valid config file: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Which of the two configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Running,
    Persistent,
}

impl Which {
    fn dir(self) -> &'static str {
        match self {
            Which::Running => "running",
            Which::Persistent => "persistent",
        }
    }

    fn slot(self) -> usize {
        match self {
            Which::Running => 0,
            Which::Persistent => 1,
        }
    }
}

/// A loaded generation: the symlink's target and what it holds.
type Loaded = (PathBuf, Arc<Config>);

/// The store under one state directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    /// The last generation read or written, per config (running,
    /// persistent); shared by clones.
    cache: Arc<Mutex<[Option<Loaded>; 2]>>,
    /// Removes replaced generations off the caller's path; shared by clones.
    sweeper: Arc<Sweeper>,
}

/// The removal of a replaced generation, running on its own thread: a
/// generation of a 1000-network config is 1000 unlinks, which a one-network
/// edit should not wait for. The next save waits for it first, and so does
/// the last clone of the store when it goes (a CLI process exiting).
#[derive(Debug, Default)]
struct Sweeper(Mutex<Option<std::thread::JoinHandle<()>>>);

impl Sweeper {
    fn wait(&self) {
        let pending = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = pending {
            let _ = h.join();
        }
    }

    /// Removes `dir` in the background (here, if no thread can be had).
    fn remove(&self, dir: PathBuf) {
        self.wait();
        let spawned = std::thread::Builder::new()
            .name("store-sweep".into())
            .spawn({
                let dir = dir.clone();
                move || {
                    let _ = fs::remove_dir_all(dir);
                }
            });
        match spawned {
            Ok(h) => *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(h),
            Err(_) => {
                let _ = fs::remove_dir_all(dir);
            }
        }
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        self.wait();
    }
}

impl Store {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            cache: Arc::default(),
            sweeper: Arc::default(),
        }
    }

    /// The state directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reads a config; a store never written reads as empty.
    pub fn load(&self, which: Which) -> Result<Config, StoreError> {
        Ok(Config::clone(&*self.load_shared(which)?))
    }

    /// [`Store::load`] without the copy: the generation the symlink points
    /// at now, from the cache when it was read or written before.
    pub fn load_shared(&self, which: Which) -> Result<Arc<Config>, StoreError> {
        let link = self.root.join(which.dir());
        let target = fs::read_link(&link).ok();
        if let Some(t) = &target {
            if let Some((cached, config)) = &self.cached()[which.slot()] {
                if cached == t {
                    return Ok(config.clone());
                }
            }
        }
        let config = Arc::new(read_config(&link)?);
        if let Some(t) = target {
            self.cached()[which.slot()] = Some((t, config.clone()));
        }
        Ok(config)
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, [Option<Loaded>; 2]> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces a config as a whole, atomically.
    pub fn save(&self, which: Which, config: &Config) -> Result<(), StoreError> {
        self.sweeper.wait();
        fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        // Where unchanged entities can be linked from: the live generations.
        let mut sources: Vec<(PathBuf, Arc<Config>)> = Vec::new();
        for w in [which, other(which)] {
            if let Ok(target) = fs::read_link(self.root.join(w.dir())) {
                if let Ok(c) = self.load_shared(w) {
                    sources.push((self.root.join(target), c));
                }
            }
        }
        let stamp = format!(
            "{}.{}.{}",
            which.dir(),
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        let gen_dir = self.root.join(format!(".{stamp}"));
        for sub in ["nets", "bonds", "devices"] {
            let d = gen_dir.join(sub);
            fs::create_dir_all(&d).map_err(io(&d))?;
        }
        let (mut written, mut linked) = (0usize, 0usize);
        let nets = EntityDirs::open(&gen_dir, "nets", &sources, |c| &c.networks)?;
        for (name, attrs) in &config.networks {
            nets.place(name, attrs)?.count(&mut written, &mut linked);
        }
        let bonds = EntityDirs::open(&gen_dir, "bonds", &sources, |c| &c.bonds)?;
        for (name, attrs) in &config.bonds {
            bonds.place(name, attrs)?.count(&mut written, &mut linked);
        }
        for sub in ["nets", "bonds", "devices", ""] {
            sync_dir(&gen_dir.join(sub))?;
        }
        let link = self.root.join(which.dir());
        let old_target = fs::read_link(&link).ok();
        let tmp_link = self.root.join(format!(".{stamp}.lnk"));
        std::os::unix::fs::symlink(format!(".{stamp}"), &tmp_link).map_err(io(&tmp_link))?;
        fs::rename(&tmp_link, &link).map_err(io(&link))?;
        sync_dir(&self.root)?;
        self.cached()[which.slot()] = Some((format!(".{stamp}").into(), Arc::new(config.clone())));
        tracing::debug!(config = which.dir(), written, linked, "config saved");
        if let Some(old) = old_target {
            let old = self.root.join(old);
            if old != gen_dir {
                self.sweeper.remove(old);
            }
        }
        Ok(())
    }

    /// Waits until replaced generations are gone from the disk.
    pub fn settle(&self) {
        self.sweeper.wait();
    }

    /// Removes generation directories and temporary symlinks that neither
    /// config points to: what a process killed in the middle of a save
    /// leaves behind. Best effort; called by crash recovery, under the
    /// transaction lock.
    pub fn remove_orphans(&self) {
        self.sweeper.wait();
        let live: Vec<std::ffi::OsString> = [Which::Running, Which::Persistent]
            .iter()
            .filter_map(|w| fs::read_link(self.root.join(w.dir())).ok())
            .map(|t| t.into_os_string())
            .collect();
        let Ok(entries) = fs::read_dir(&self.root) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let text = name.to_string_lossy();
            let ours = text.starts_with(".running.") || text.starts_with(".persistent.");
            if !ours || live.contains(&name) {
                continue;
            }
            let path = entry.path();
            let removed = if text.ends_with(".lnk") {
                fs::remove_file(&path)
            } else {
                fs::remove_dir_all(&path)
            };
            if removed.is_ok() {
                tracing::info!(path = %path.display(), "removed a config generation left by a crash");
            }
        }
    }
}

fn other(which: Which) -> Which {
    match which {
        Which::Running => Which::Persistent,
        Which::Persistent => Which::Running,
    }
}

fn read_config(dir: &Path) -> Result<Config, StoreError> {
    let mut config = Config::default();
    read_entities::<NetAttrs>(&dir.join("nets"), &mut |name, attrs| {
        config.networks.insert(name, attrs);
    })?;
    read_entities::<BondAttrs>(&dir.join("bonds"), &mut |name, attrs| {
        config.bonds.insert(name, attrs);
    })?;
    Ok(config)
}

/// How an entity file got into a new generation.
enum Placed {
    Written,
    Linked,
}

impl Placed {
    fn count(self, written: &mut usize, linked: &mut usize) {
        match self {
            Placed::Written => *written += 1,
            Placed::Linked => *linked += 1,
        }
    }
}

/// One entity directory (`nets/` or `bonds/`) of a new generation, open,
/// with the same directory of each live generation and what it holds, so
/// that an unchanged entity is linked by name relative to open directories
/// (the kernel walks one path component per link, not the whole path).
struct EntityDirs<'a, T> {
    path: PathBuf,
    dir: fs::File,
    sources: Vec<(fs::File, &'a BTreeMap<String, T>)>,
}

impl<'a, T: serde::Serialize + PartialEq> EntityDirs<'a, T> {
    fn open(
        gen_dir: &Path,
        sub: &str,
        sources: &'a [(PathBuf, Arc<Config>)],
        entities: impl Fn(&'a Config) -> &'a BTreeMap<String, T>,
    ) -> Result<Self, StoreError> {
        let path = gen_dir.join(sub);
        let dir = fs::File::open(&path).map_err(io(&path))?;
        let sources = sources
            .iter()
            .filter_map(|(d, c)| Some((fs::File::open(d.join(sub)).ok()?, entities(c))))
            .collect();
        Ok(Self { path, dir, sources })
    }

    /// Puts one entity file here: a hard link to the file of a live
    /// generation that holds the same attributes when that works, else a
    /// fresh fsynced write.
    fn place(&self, name: &str, value: &T) -> Result<Placed, StoreError> {
        use std::os::fd::AsRawFd;
        let from = self
            .sources
            .iter()
            .find(|(_, held)| held.get(name) == Some(value));
        if let (Some((src, _)), Ok(c_name)) = (from, std::ffi::CString::new(name)) {
            // SAFETY: two open directory fds and a NUL-terminated name that
            // outlive the call; linkat only reads them.
            let rc = unsafe {
                libc::linkat(
                    src.as_raw_fd(),
                    c_name.as_ptr(),
                    self.dir.as_raw_fd(),
                    c_name.as_ptr(),
                    0,
                )
            };
            if rc == 0 {
                return Ok(Placed::Linked);
            }
        }
        write_synced(&self.path.join(name), value)?;
        Ok(Placed::Written)
    }
}

fn read_entities<T: serde::de::DeserializeOwned>(
    dir: &Path,
    put: &mut dyn FnMut(String, T),
) -> Result<(), StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(StoreError::Io {
                path: dir.to_path_buf(),
                source: e,
            })
        }
    };
    for entry in entries {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let text = fs::read(&path).map_err(io(&path))?;
        let value = serde_json::from_slice(&text).map_err(|source| StoreError::Corrupt {
            path: path.clone(),
            source,
        })?;
        put(name, value);
    }
    Ok(())
}

fn write_synced<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), StoreError> {
    let text = serde_json::to_vec_pretty(value).map_err(|source| StoreError::Corrupt {
        path: path.to_path_buf(),
        source,
    })?;
    let mut f = fs::File::create(path).map_err(io(path))?;
    f.write_all(&text).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_config_reads_back_equal_and_replaces_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        assert_eq!(store.load(Which::Running).unwrap(), Config::default());
        let mut c = Config::default();
        c.networks.insert(
            "a".into(),
            NetAttrs {
                nic: Some("eth0".into()),
                vlan: Some(3),
                ..NetAttrs::default()
            },
        );
        store.save(Which::Running, &c).unwrap();
        assert_eq!(store.load(Which::Running).unwrap(), c);
        assert!(dir.path().join("running/nets/a").is_file());
        let mut c2 = Config::default();
        c2.networks.insert("b".into(), NetAttrs::default());
        store.save(Which::Running, &c2).unwrap();
        assert_eq!(store.load(Which::Running).unwrap(), c2);
        // Only the live generation is left behind (once the sweep is done).
        store.settle();
        let gens = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".running")
            })
            .count();
        assert_eq!(gens, 1);
    }

    #[test]
    fn a_save_links_what_did_not_change_and_writes_what_did() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let mut c = Config::default();
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            let attrs = NetAttrs {
                nic: Some(format!("eth{i}")),
                ..NetAttrs::default()
            };
            c.networks.insert(name.to_string(), attrs);
        }
        store.save(Which::Running, &c).unwrap();
        let ino = |which: &str, name: &str| {
            fs::metadata(dir.path().join(which).join("nets").join(name))
                .unwrap()
                .ino()
        };
        let (a, b) = (ino("running", "a"), ino("running", "b"));
        c.networks.get_mut("b").unwrap().vlan = Some(7);
        store.save(Which::Running, &c).unwrap();
        assert_eq!(ino("running", "a"), a, "unchanged: linked");
        assert_ne!(ino("running", "b"), b, "changed: written anew");
        // A fresh store (another process) reads the same config back.
        assert_eq!(Store::new(dir.path()).load(Which::Running).unwrap(), c);
        // Committing links every file from the running generation.
        store.save(Which::Persistent, &c).unwrap();
        for n in ["a", "b", "c"] {
            assert_eq!(ino("persistent", n), ino("running", n));
        }
        assert_eq!(Store::new(dir.path()).load(Which::Persistent).unwrap(), c);
    }

    #[test]
    fn a_corrupt_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("running/nets")).unwrap();
        fs::write(dir.path().join("running/nets/x"), b"{not json").unwrap();
        let e = Store::new(dir.path()).load(Which::Running).unwrap_err();
        assert!(e.to_string().contains("running/nets/x"), "{e}");
    }
}
