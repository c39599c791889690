//! The persistence store (DESIGN §5.4): `running/` and `persistent/`, each
//! with `nets/`, `bonds/`, `devices/`, one JSON file per entity holding its
//! canonical attributes.
//!
//! A whole config is swapped at once: it is written to a fresh directory,
//! every file and the directory fsynced, and a symlink renamed over the
//! old one, so a reader (or a crash) sees the old config or the new one,
//! never a mix.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

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
}

/// The store under one state directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The state directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reads a config; a store never written reads as empty.
    pub fn load(&self, which: Which) -> Result<Config, StoreError> {
        let dir = self.root.join(which.dir());
        let mut config = Config::default();
        read_entities::<NetAttrs>(&dir.join("nets"), &mut |name, attrs| {
            config.networks.insert(name, attrs);
        })?;
        read_entities::<BondAttrs>(&dir.join("bonds"), &mut |name, attrs| {
            config.bonds.insert(name, attrs);
        })?;
        Ok(config)
    }

    /// Replaces a config as a whole, atomically.
    pub fn save(&self, which: Which, config: &Config) -> Result<(), StoreError> {
        fs::create_dir_all(&self.root).map_err(io(&self.root))?;
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
        for (name, attrs) in &config.networks {
            write_synced(&gen_dir.join("nets").join(name), attrs)?;
        }
        for (name, attrs) in &config.bonds {
            write_synced(&gen_dir.join("bonds").join(name), attrs)?;
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
        if let Some(old) = old_target {
            let old = self.root.join(old);
            if old != gen_dir {
                let _ = fs::remove_dir_all(&old);
            }
        }
        Ok(())
    }

    /// Removes generation directories and temporary symlinks that neither
    /// config points to: what a process killed in the middle of a save
    /// leaves behind. Best effort; called by crash recovery, under the
    /// transaction lock.
    pub fn remove_orphans(&self) {
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
        // Only the live generation is left behind.
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
    fn a_corrupt_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("running/nets")).unwrap();
        fs::write(dir.path().join("running/nets/x"), b"{not json").unwrap();
        let e = Store::new(dir.path()).load(Which::Running).unwrap_err();
        assert!(e.to_string().contains("running/nets/x"), "{e}");
    }
}
