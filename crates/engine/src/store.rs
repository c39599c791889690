//! The persistence store (docs/api.md §6): `running/` and `persistent/`, each
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
//!
//! Everything is reached relative to the state directory's descriptor and
//! never through a link (see [`crate::statedir`]): `running` and
//! `persistent` must be symlinks naming a generation directory of this
//! store (`.running.<..>`, `.persistent.<..>`) inside the state directory;
//! anything else there is refused, never followed, and never deleted
//! through. A link whose generation is gone is an error, not an empty
//! config: the next setup would otherwise believe nothing is running.

use std::collections::BTreeMap;
use std::fs;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use netswitch_model::config::{BondAttrs, Config, NetAttrs};
use netswitch_model::error::Code;

use crate::statedir::Dir;

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
    /// Something in (or the whole of) the state directory that netswitch
    /// will not trust: others may write it, or a link points elsewhere.
    #[error("{path}: refused: {reason}")]
    Unsafe { path: PathBuf, reason: String },
    /// A config symlink whose generation directory is gone.
    #[error("{path}: points at {target}, which is missing; the config cannot be read (restore it from the persistent config or a backup)")]
    Dangling { path: PathBuf, target: String },
}

impl StoreError {
    /// The VDSM code: a state directory netswitch refuses to use is a bad
    /// parameter of the host's setup (21); anything else failed (29).
    pub fn code(&self) -> u8 {
        match self {
            StoreError::Unsafe { .. } => Code::BadParams.number(),
            _ => Code::BackendFailed.number(),
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Device settings by device name (`devices/<nic>`): kept beside the
/// networks and bonds of a config, carried over by every save.
pub type Devices = BTreeMap<String, serde_json::Value>;

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
    /// `dir` is a generation directory of the state directory, named by a
    /// checked generation name: `remove_dir_all` removes a symlink itself,
    /// never what it points at.
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

/// What a config symlink names, checked: a generation directory of this
/// store for this config, one component inside the state directory.
fn generation_name(
    root: &Path,
    which: Which,
    target: &std::ffi::OsStr,
) -> Result<String, StoreError> {
    let text = target.to_str().unwrap_or("");
    let prefix = format!(".{}.", which.dir());
    let plain = !text.contains('/') && !text.ends_with(".lnk") && text.len() > prefix.len();
    if plain && text.starts_with(&prefix) {
        return Ok(text.to_string());
    }
    Err(StoreError::Unsafe {
        path: root.join(which.dir()),
        reason: format!(
            "points at {}, not at a {} generation of this state directory; not followed",
            Path::new(target).display(),
            which.dir()
        ),
    })
}

/// The generation `which`'s symlink names, checked; `None` when there is
/// no symlink. Anything but a symlink at that name is refused.
fn live_target(dir: &Dir, which: Which) -> Result<Option<String>, StoreError> {
    let path = dir.path().join(which.dir());
    match nix::fcntl::readlinkat(dir.file().as_fd(), which.dir()) {
        Ok(t) => generation_name(dir.path(), which, &t).map(Some),
        Err(nix::errno::Errno::ENOENT) => Ok(None),
        Err(nix::errno::Errno::EINVAL) => Err(StoreError::Unsafe {
            path,
            reason: "not a symlink to a config generation; not used".into(),
        }),
        Err(e) => Err(io(&path)(e.into())),
    }
}

/// Opens the generation `name` that `which`'s link names; a missing one
/// is [`StoreError::Dangling`].
fn open_generation(dir: &Dir, which: Which, name: &str) -> Result<Dir, StoreError> {
    dir.subdir(name)?.ok_or_else(|| StoreError::Dangling {
        path: dir.path().join(which.dir()),
        target: name.to_string(),
    })
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

    /// The state directory, open and checked (see [`Dir::open_root`]);
    /// created (0700) when `create`, else `None` when missing.
    pub fn dir(&self, create: bool) -> Result<Option<Dir>, StoreError> {
        Dir::open_root(&self.root, create)
    }

    /// Reads a config; a store never written reads as empty.
    pub fn load(&self, which: Which) -> Result<Config, StoreError> {
        Ok(Config::clone(&*self.load_shared(which)?))
    }

    /// [`Store::load`] without the copy: the generation the symlink points
    /// at now, from the cache when it was read or written before.
    pub fn load_shared(&self, which: Which) -> Result<Arc<Config>, StoreError> {
        let Some(dir) = self.dir(false)? else {
            return Ok(Arc::default());
        };
        let Some(target) = live_target(&dir, which)? else {
            return Ok(Arc::default());
        };
        // Opened before the cache is asked: a generation removed behind
        // the store's back is an error even when it was read before.
        let generation = open_generation(&dir, which, &target)?;
        let key = PathBuf::from(&target);
        if let Some((cached, config)) = &self.cached()[which.slot()] {
            if *cached == key {
                return Ok(config.clone());
            }
        }
        let config = Arc::new(read_config(&generation)?);
        self.cached()[which.slot()] = Some((key, config.clone()));
        Ok(config)
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, [Option<Loaded>; 2]> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces a config as a whole, atomically. A save that fails (a
    /// full disk, say) removes the generation it was writing before it
    /// returns.
    pub fn save(&self, which: Which, config: &Config) -> Result<(), StoreError> {
        let devices = self.load_devices(which)?;
        self.save_full(which, config, &devices)
    }

    /// The device settings of a config (`devices/<nic>`, VDSM's
    /// `{"sriov": {"numvfs": N}}` and `{"lldp": {"tx": true}}`), by device.
    pub fn load_devices(&self, which: Which) -> Result<Devices, StoreError> {
        let mut out = Devices::new();
        let Some(dir) = self.dir(false)? else {
            return Ok(out);
        };
        let Some(target) = live_target(&dir, which)? else {
            return Ok(out);
        };
        let generation = open_generation(&dir, which, &target)?;
        read_entities::<serde_json::Value>(&generation, "devices", &mut |name, v| {
            out.insert(name, v);
        })?;
        Ok(out)
    }

    /// [`Store::save`] with the device settings given rather than kept.
    pub fn save_full(
        &self,
        which: Which,
        config: &Config,
        devices: &Devices,
    ) -> Result<(), StoreError> {
        self.sweeper.wait();
        let dir = self
            .dir(true)?
            .ok_or_else(|| io(&self.root)(std::io::Error::from(std::io::ErrorKind::NotFound)))?;
        // The link to replace must be ours: checked before anything is
        // written, so a planted link fails the save and is left alone.
        let old_target = live_target(&dir, which)?;
        // Where unchanged entities can be linked from: the live generations.
        let mut sources: Vec<(Dir, Arc<Config>)> = Vec::new();
        for w in [which, other(which)] {
            let Ok(Some(t)) = live_target(&dir, w) else {
                continue;
            };
            if let (Ok(g), Ok(c)) = (open_generation(&dir, w, &t), self.load_shared(w)) {
                sources.push((g, c));
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
        let gen_name = format!(".{stamp}");
        let tmp_link = format!(".{stamp}.lnk");
        let swapped = write_generation(&dir, &gen_name, config, &sources, devices)
            .and_then(|()| swap_link(&dir, &gen_name, &tmp_link, which.dir()));
        if let Err(e) = swapped {
            // Nothing points at what was written: remove it now rather
            // than leave it to a later crash recovery.
            let _ = dir.remove_file(&tmp_link);
            let _ = fs::remove_dir_all(dir.path().join(&gen_name));
            return Err(e);
        }
        self.cached()[which.slot()] = Some((gen_name.clone().into(), Arc::new(config.clone())));
        if let Some(old) = old_target.filter(|o| *o != gen_name) {
            self.sweeper.remove(dir.path().join(old));
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
        let Ok(Some(dir)) = self.dir(false) else {
            return;
        };
        let live: Vec<std::ffi::OsString> = [Which::Running, Which::Persistent]
            .iter()
            .filter_map(|w| live_target(&dir, *w).ok().flatten())
            .map(Into::into)
            .collect();
        let Ok(entries) = fs::read_dir(dir.path()) else {
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
            // A symlink (ours or planted) is unlinked itself.
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            let removed = if is_dir {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            if removed.is_ok() {
                tracing::info!(path = %path.display(), "removed a config generation left by a crash");
            }
        }
    }
}

/// Writes the generation `gen_name` of `config`, every file and directory
/// fsynced.
fn write_generation(
    dir: &Dir,
    gen_name: &str,
    config: &Config,
    sources: &[(Dir, Arc<Config>)],
    devices: &Devices,
) -> Result<(), StoreError> {
    let generation = dir.mkdir(gen_name)?;
    let (mut written, mut linked) = (0usize, 0usize);
    let nets = EntityDirs::open(&generation, "nets", sources, |c| &c.networks)?;
    for (name, attrs) in &config.networks {
        nets.place(name, attrs)?.count(&mut written, &mut linked);
    }
    nets.dir.sync()?;
    let bonds = EntityDirs::open(&generation, "bonds", sources, |c| &c.bonds)?;
    for (name, attrs) in &config.bonds {
        bonds.place(name, attrs)?.count(&mut written, &mut linked);
    }
    bonds.dir.sync()?;
    let dev_dir = generation.mkdir("devices")?;
    for (name, value) in devices {
        let path = dev_dir.path().join(name);
        let text = serde_json::to_vec_pretty(value)
            .map_err(|source| StoreError::Corrupt { path, source })?;
        dev_dir.create_synced(name, &text)?;
    }
    dev_dir.sync()?;
    generation.sync()?;
    tracing::debug!(
        generation = gen_name,
        written,
        linked,
        "config generation written"
    );
    Ok(())
}

/// Points the config symlink `link` at `gen_name`: a fresh symlink renamed
/// over it, and the directory fsynced.
fn swap_link(dir: &Dir, gen_name: &str, tmp_link: &str, link: &str) -> Result<(), StoreError> {
    nix::unistd::symlinkat(gen_name, dir.file().as_fd(), tmp_link)
        .map_err(|e| io(&dir.path().join(tmp_link))(e.into()))?;
    dir.rename(tmp_link, link)?;
    dir.sync()
}

fn other(which: Which) -> Which {
    match which {
        Which::Running => Which::Persistent,
        Which::Persistent => Which::Running,
    }
}

fn read_config(generation: &Dir) -> Result<Config, StoreError> {
    let mut config = Config::default();
    read_entities::<NetAttrs>(generation, "nets", &mut |name, attrs| {
        config.networks.insert(name, attrs);
    })?;
    read_entities::<BondAttrs>(generation, "bonds", &mut |name, attrs| {
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
    dir: Dir,
    sources: Vec<(Dir, &'a BTreeMap<String, T>)>,
}

impl<'a, T: serde::Serialize + PartialEq> EntityDirs<'a, T> {
    fn open(
        generation: &Dir,
        sub: &str,
        sources: &'a [(Dir, Arc<Config>)],
        entities: impl Fn(&'a Config) -> &'a BTreeMap<String, T>,
    ) -> Result<Self, StoreError> {
        let dir = generation.mkdir(sub)?;
        let sources = sources
            .iter()
            .filter_map(|(d, c)| Some((d.subdir(sub).ok()??, entities(c))))
            .collect();
        Ok(Self { dir, sources })
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
            // outlive the call; linkat only reads them. Flags 0: a symlink
            // is linked itself, never followed.
            let rc = unsafe {
                libc::linkat(
                    src.file().as_raw_fd(),
                    c_name.as_ptr(),
                    self.dir.file().as_raw_fd(),
                    c_name.as_ptr(),
                    0,
                )
            };
            if rc == 0 {
                return Ok(Placed::Linked);
            }
        }
        let path = self.dir.path().join(name);
        let text = serde_json::to_vec_pretty(value)
            .map_err(|source| StoreError::Corrupt { path, source })?;
        self.dir.create_synced(name, &text)?;
        Ok(Placed::Written)
    }
}

fn read_entities<T: serde::de::DeserializeOwned>(
    generation: &Dir,
    sub: &str,
    put: &mut dyn FnMut(String, T),
) -> Result<(), StoreError> {
    let Some(dir) = generation.subdir(sub)? else {
        return Ok(());
    };
    let entries = fs::read_dir(dir.path()).map_err(io(dir.path()))?;
    for entry in entries {
        let entry = entry.map_err(io(dir.path()))?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let path = dir.path().join(&name);
        let Some(text) = dir.read(&name)? else {
            continue;
        };
        let value =
            serde_json::from_slice(&text).map_err(|source| StoreError::Corrupt { path, source })?;
        put(name, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_settings_are_kept_by_a_save_of_networks() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let mut devices = Devices::new();
        devices.insert("eth1".into(), serde_json::json!({"sriov": {"numvfs": 3}}));
        store
            .save_full(Which::Running, &Config::default(), &devices)
            .unwrap();
        let text = fs::read_to_string(dir.path().join("running/devices/eth1")).unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            serde_json::json!({"sriov": {"numvfs": 3}})
        );
        let mut c = Config::default();
        c.networks.insert("a".into(), NetAttrs::default());
        store.save(Which::Running, &c).unwrap();
        assert_eq!(store.load_devices(Which::Running).unwrap(), devices);
        assert!(store.load_devices(Which::Persistent).unwrap().is_empty());
    }

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
        let mut c = Config::default();
        c.networks.insert("x".into(), NetAttrs::default());
        Store::new(dir.path()).save(Which::Running, &c).unwrap();
        let file = dir.path().join("running/nets/x");
        fs::remove_file(&file).unwrap();
        fs::write(&file, b"{not json").unwrap();
        let e = Store::new(dir.path()).load(Which::Running).unwrap_err();
        assert!(e.to_string().contains("/nets/x"), "{e}");
    }
}
