//! What the provider client keeps in the state directory:
//! `providers/NAME.json` (where the provider is; no secret),
//! `providers/NAME.secret` (the password, mode 0600, refused when group or
//! others may read it), `external-networks/NET.json` (an imported
//! network: `{provider, id, name}`) and `provider-ports/DEVICE.json` (the
//! port a provider vNIC holds, so unplug can give it back). Files are
//! written whole (a temporary file renamed over), mode 0600, in 0700
//! directories.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::Error;

const BAD: u8 = 21;
const MISSING: u8 = 27;
const BACKEND: u8 = 29;

/// A provider as `provider add` (or `Host.addProvider`) recorded it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provider {
    pub name: String,
    /// Neutron's URL; none: the catalog's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub auth_url: String,
    /// `v3` or `v2.0`.
    pub keystone_version: netswitch_neutron_client::Version,
    pub username: String,
    /// Project (v3) or tenant (v2.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub read_only: bool,
}

/// The secret half, kept apart so `provider show` and backups of the
/// records never carry it.
#[derive(Serialize, Deserialize)]
pub struct Secret {
    pub password: String,
}

/// A network of a provider made a VM network of this host (the engine
/// reads these for caps and setupNetworks).
pub type External = netswitch_model::caps::ExternalNetwork;

/// The port a provider vNIC holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortRecord {
    pub provider: String,
    pub network_id: String,
    pub port_id: String,
    pub vnic_id: String,
    pub vm_id: String,
    pub mac: String,
}

/// The state directory's provider files.
pub struct Store {
    root: PathBuf,
}

/// Names of providers, networks and devices: 1-64 of letters, digits,
/// `-_.`, not starting with a dot (they become file names).
pub fn check_name(what: &str, name: &str) -> Result<(), Error> {
    let ok = (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            BAD,
            format!("{what} {name:?}: not 1-64 of letters, digits, '-', '_', '.'"),
        ))
    }
}

impl Store {
    /// The state directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn new(state_dir: &Path) -> Store {
        Store {
            root: state_dir.to_path_buf(),
        }
    }

    fn dir(&self, kind: &str) -> PathBuf {
        self.root.join(kind)
    }

    /// The provider called `name` (27 when there is none).
    pub fn provider(&self, name: &str) -> Result<Provider, Error> {
        check_name("provider", name)?;
        read(&self.dir("providers").join(format!("{name}.json")))?
            .ok_or_else(|| Error::new(MISSING, format!("provider {name}: no such provider")))
    }

    /// Every provider, by name.
    pub fn providers(&self) -> Result<Vec<Provider>, Error> {
        self.all("providers")
    }

    /// The password of `name`; refused (21) when the file is not the
    /// running user's alone.
    pub fn secret(&self, name: &str) -> Result<Secret, Error> {
        let path = self.dir("providers").join(format!("{name}.secret"));
        let meta = fs::symlink_metadata(&path).map_err(|e| io(&path, e))?;
        let me = nix::unistd::geteuid().as_raw();
        if !meta.is_file() || meta.mode() & 0o077 != 0 || meta.uid() != me {
            return Err(Error::new(
                BAD,
                format!(
                    "provider {name}: credentials file {} must be a regular file of uid {me} with mode 0600 (it has {:o}, uid {}); refused",
                    path.display(),
                    meta.mode() & 0o777,
                    meta.uid()
                ),
            ));
        }
        read(&path)?.ok_or_else(|| Error::new(MISSING, format!("provider {name}: no credentials")))
    }

    /// Records a provider and its password.
    pub fn save_provider(&self, p: &Provider, s: &Secret) -> Result<(), Error> {
        let dir = self.dir("providers");
        write(&dir, &format!("{}.secret", p.name), s)?;
        write(&dir, &format!("{}.json", p.name), p)
    }

    /// Forgets a provider and its password.
    pub fn remove_provider(&self, name: &str) -> Result<(), Error> {
        let dir = self.dir("providers");
        remove(&dir.join(format!("{name}.json")))?;
        remove(&dir.join(format!("{name}.secret")))
    }

    /// The imported networks.
    pub fn externals(&self) -> Result<Vec<External>, Error> {
        self.all(netswitch_engine::external::DIR)
    }

    pub fn save_external(&self, e: &External) -> Result<(), Error> {
        write(
            &self.dir(netswitch_engine::external::DIR),
            &format!("{}.json", e.name),
            e,
        )
    }

    pub fn remove_external(&self, name: &str) -> Result<(), Error> {
        remove(
            &self
                .dir(netswitch_engine::external::DIR)
                .join(format!("{name}.json")),
        )
    }

    /// The port record of `device`, if it holds one.
    pub fn port(&self, device: &str) -> Result<Option<PortRecord>, Error> {
        check_name("vnic", device)?;
        read(&self.dir("provider-ports").join(format!("{device}.json")))
    }

    /// Every port record, by device.
    pub fn ports(&self) -> Result<Vec<(String, PortRecord)>, Error> {
        let dir = self.dir("provider-ports");
        let mut out = Vec::new();
        for name in names(&dir)? {
            if let Some(r) = read(&dir.join(format!("{name}.json")))? {
                out.push((name, r));
            }
        }
        Ok(out)
    }

    pub fn save_port(&self, device: &str, r: &PortRecord) -> Result<(), Error> {
        write(&self.dir("provider-ports"), &format!("{device}.json"), r)
    }

    pub fn remove_port(&self, device: &str) -> Result<(), Error> {
        remove(&self.dir("provider-ports").join(format!("{device}.json")))
    }

    fn all<T: DeserializeOwned>(&self, kind: &str) -> Result<Vec<T>, Error> {
        let dir = self.dir(kind);
        let mut out = Vec::new();
        for name in names(&dir)? {
            if let Some(v) = read(&dir.join(format!("{name}.json")))? {
                out.push(v);
            }
        }
        Ok(out)
    }
}

/// The `*.json` names in `dir`, sorted (none when it does not exist).
fn names(dir: &Path) -> Result<Vec<String>, Error> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir, e)),
    };
    let mut out: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_suffix(".json").map(str::to_string)
        })
        .filter(|n| !n.starts_with('.'))
        .collect();
    out.sort();
    Ok(out)
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::new(BACKEND, format!("{}: {e}", path.display()))
}

/// A JSON file, `None` when it does not exist; never through a link.
fn read<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, Error> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path, e)),
        Ok(m) if !m.is_file() => {
            return Err(Error::new(
                BAD,
                format!("{}: not a regular file", path.display()),
            ))
        }
        Ok(_) => {}
    }
    let text = fs::read(path).map_err(|e| io(path, e))?;
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| Error::new(BAD, format!("{}: {e}", path.display())))
}

/// Writes `v` as `dir/name`, 0600, atomically, making `dir` 0700.
fn write<T: Serialize>(dir: &Path, name: &str, v: &T) -> Result<(), Error> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io(dir, e))?;
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    let tmp = dir.join(format!(".{name}.tmp"));
    let text = serde_json::to_vec_pretty(v).unwrap_or_default();
    let _ = fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io(&tmp, e))?;
    f.write_all(&text)
        .and_then(|()| f.sync_all())
        .map_err(|e| io(&tmp, e))?;
    let path = dir.join(name);
    fs::rename(&tmp, &path).map_err(|e| io(&path, e))
}

fn remove(path: &Path) -> Result<(), Error> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(path, e)),
        _ => Ok(()),
    }
}
