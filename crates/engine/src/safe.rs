//! The verbs around the safe config: the connectivity check and its
//! confirmation, setSafeNetworkConfig (`commit`), restore at boot, and the
//! import of a VDSM persistence directory.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use netswitch_model::config::Config;
use netswitch_model::error::{Code, RequestError};
use serde_json::{Map, Value};
use tracing::{info, info_span, warn};

use crate::store::StoreError;
use crate::transaction::SetupOptions;
use crate::{Engine, EngineError, Which};

/// What a restore did.
#[derive(Debug, Clone, Default)]
pub struct Restored {
    /// False when this boot was restored already and `force` was not given.
    pub ran: bool,
    /// Whether the host needed any change.
    pub applied: bool,
    /// Persisted networks and bonds left out, with why (a missing nic).
    pub skipped: Vec<String>,
}

/// The file whose existence means a setup waits for confirmConnectivity.
pub(crate) const PENDING: &str = "pending-confirmation";
/// The boot id of the last boot restored.
const BOOT_MARKER: &str = "restored-boot-id";

fn io_err(path: &Path, source: std::io::Error) -> EngineError {
    EngineError::Store(StoreError::Io {
        path: path.to_path_buf(),
        source,
    })
}

impl Engine {
    pub(crate) fn pending_confirmation(&self) -> PathBuf {
        self.store.root().join(PENDING)
    }

    /// Waits up to `secs` for [`Engine::confirm`]. The decision is one
    /// atomic unlink of the pending file: whoever removes it first wins, so
    /// a confirmation racing the deadline is never lost or double-counted.
    pub(crate) fn wait_for_confirmation(&self, secs: f64) -> Result<bool, EngineError> {
        let path = self.pending_confirmation();
        self.state_dir()?
            .replace(PENDING, format!("{}\n", std::process::id()).as_bytes())?;
        info!(secs, "waiting for a connectivity confirmation");
        let deadline = Instant::now() + Duration::from_secs_f64(secs.max(0.0));
        while Instant::now() < deadline {
            if !path.exists() {
                return Ok(true);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        match fs::remove_file(&path) {
            Ok(()) => Ok(false),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(true),
            Err(e) => Err(io_err(&path, e)),
        }
    }

    /// confirmConnectivity: tells a waiting setup that the engine still
    /// reaches the host. Returns whether a setup was waiting.
    ///
    /// Takes no lock: the setup it confirms holds it.
    pub fn confirm(&self) -> Result<bool, EngineError> {
        self.recover()?;
        let path = self.pending_confirmation();
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err(&path, e)),
        }
    }

    /// setSafeNetworkConfig: the running config becomes the one restored
    /// at boot.
    pub fn commit(&self) -> Result<Config, EngineError> {
        let _lock = self.lock()?;
        let running = self.running()?;
        let devices = self.store.load_devices(Which::Running)?;
        self.store
            .save_full(Which::Persistent, &running, &devices)?;
        Ok(running)
    }

    /// Restore at boot: make the host carry the persistent config. Networks
    /// only in the running config go; missing or changed ones are set up;
    /// bonds keep the slaves present on this host. Once per boot unless
    /// `force`.
    pub fn restore(&self, force: bool) -> Result<Restored, EngineError> {
        let _span = info_span!("restore", force).entered();
        let _lock = self.lock()?;
        let state = self.state_dir()?;
        let boot_id = fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
        if !force
            && !boot_id.is_empty()
            && state.read(BOOT_MARKER)?.as_deref() == Some(boot_id.as_bytes())
        {
            return Ok(Restored::default());
        }
        // Before networks: a network may sit on a VF.
        let mut device_skips = self.restore_devices()?;
        let before = self.observe(false)?;
        let running = self.running()?;
        let persistent = self.store.load(Which::Persistent)?;
        let mut out = Restored {
            ran: true,
            ..Restored::default()
        };
        out.skipped.append(&mut device_skips);

        let mut desired = persistent.clone();
        for (name, bond) in desired.bonds.iter_mut() {
            let (present, missing): (Vec<String>, Vec<String>) = bond
                .nics
                .iter()
                .cloned()
                .partition(|n| self.nics.is_nic(&before, n));
            if !missing.is_empty() {
                out.skipped.push(format!(
                    "bond {name}: slaves {} are not on this host",
                    missing.join(", ")
                ));
                bond.nics = present;
            }
        }
        let empty: Vec<String> = desired
            .bonds
            .iter()
            .filter(|(_, b)| b.nics.is_empty())
            .map(|(n, _)| n.clone())
            .collect();
        for name in &empty {
            desired.bonds.remove(name);
            out.skipped
                .push(format!("bond {name}: none of its slaves is on this host"));
        }
        let unusable: Vec<String> = desired
            .networks
            .iter()
            .filter(|(_, a)| {
                a.nic
                    .as_ref()
                    .is_some_and(|n| !self.nics.is_nic(&before, n))
                    || a.bonding
                        .as_ref()
                        .is_some_and(|b| !desired.bonds.contains_key(b))
            })
            .map(|(n, _)| n.clone())
            .collect();
        for name in &unusable {
            desired.networks.remove(name);
            out.skipped.push(format!(
                "network {name}: its nic or bond is not on this host"
            ));
        }
        for s in &out.skipped {
            warn!("{s}");
        }

        let mut before = before;
        if crate::transaction::uses_ovs(&running, &desired) {
            std::sync::Arc::make_mut(&mut before).ovs = Some(crate::ovs::read_state(&self.ovs)?);
        }
        let plan = netswitch_switch::plan(&before, &running, &desired)?;
        out.applied = self.carry_out(
            "restore",
            &before,
            &running,
            &desired,
            (&plan, None),
            &SetupOptions::default(),
            None,
            false,
        )?;
        // What it rebuilt loses its vNICs' ports (vnic/replug.rs).
        if let Err(e) = self.replug_vnics(running.networks.keys().chain(desired.networks.keys())) {
            warn!("{e}");
        }
        // DHCP networks come back with their leases: wait for them, but a
        // missing server does not undo the restore (the clients go on).
        let dynamic: Vec<String> = netswitch_dhcp::specs(&desired).into_keys().collect();
        if let Err(e) = self.dynamic_wait(&desired, &dynamic, None) {
            warn!("{e}");
            out.skipped.push(e);
        }
        if let Err(e) = self.ovn_restore() {
            warn!("{e}");
            out.skipped.push(e);
        }
        if !boot_id.is_empty() {
            state.replace(BOOT_MARKER, boot_id.as_bytes())?;
        }
        Ok(out)
    }

    /// Imports a VDSM persistence directory (`nets/`, `bonds/`, one JSON
    /// file per entity, VDSM's attribute names) as the persistent config.
    /// Every file goes through the same parser as a request, so a bad one
    /// is refused with its code and the network it describes; then the
    /// whole is validated as one config, so a set of files that could never
    /// be applied (two defaultRoute networks) is refused before anything is
    /// written. The files are read before the lock is taken, and only
    /// regular files of at most [`MAX_IMPORT_FILE`] bytes: a FIFO or a
    /// device would block or never end.
    pub fn import_vdsm(&self, dir: &Path) -> Result<Config, EngineError> {
        let mut doc = Map::new();
        for (sub, key) in [("nets", "networks"), ("bonds", "bondings")] {
            let d = dir.join(sub);
            let entries = match fs::read_dir(&d) {
                Ok(e) => e,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(&d, e)),
            };
            let mut entities = Map::new();
            for entry in entries {
                let path = entry.map_err(|e| io_err(&d, e))?.path();
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
                let text = read_import_file(&path)?;
                let value: Value = serde_json::from_slice(&text).map_err(|e| {
                    EngineError::Request(RequestError::request(
                        Code::BadParams,
                        format!("{}: not a JSON object: {e}", path.display()),
                    ))
                })?;
                entities.insert(name, value);
            }
            doc.insert(key.to_string(), Value::Object(entities));
        }
        let request = netswitch_model::parse::request_from_value(&Value::Object(doc))?;
        let config = netswitch_model::validate::validate_offline(&request)?;
        let devices = crate::devices::read_vdsm_devices(&dir.join("devices"))?;
        let _lock = self.lock()?;
        self.store.save_full(Which::Persistent, &config, &devices)?;
        Ok(config)
    }
}

/// The largest file `import-vdsm` reads: a VDSM entity file is a few
/// hundred bytes.
pub const MAX_IMPORT_FILE: u64 = 1 << 20;

/// Reads one file to import: opened without blocking (a FIFO would wait
/// for a writer) and refused unless it is a regular file of at most
/// [`MAX_IMPORT_FILE`] bytes, as a 21 naming it.
pub(crate) fn read_import_file(path: &Path) -> Result<Vec<u8>, EngineError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let refuse = |why: String| {
        EngineError::Request(RequestError::request(
            Code::BadParams,
            format!("{}: {why}", path.display()),
        ))
    };
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| io_err(path, e))?;
    let meta = file.metadata().map_err(|e| io_err(path, e))?;
    if !meta.is_file() {
        return Err(refuse(format!(
            "a {}, not a regular file; only regular files are imported",
            kind_of(meta.file_type())
        )));
    }
    if meta.len() > MAX_IMPORT_FILE {
        return Err(refuse(format!(
            "{} bytes; at most {MAX_IMPORT_FILE} are imported",
            meta.len()
        )));
    }
    // The file may grow after the check: read no more than the bound.
    let mut text = Vec::new();
    file.take(MAX_IMPORT_FILE + 1)
        .read_to_end(&mut text)
        .map_err(|e| io_err(path, e))?;
    if text.len() as u64 > MAX_IMPORT_FILE {
        return Err(refuse(format!(
            "more than {MAX_IMPORT_FILE} bytes; at most that many are imported"
        )));
    }
    Ok(text)
}

fn kind_of(t: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_socket() {
        "socket"
    } else if t.is_char_device() || t.is_block_device() {
        "device"
    } else {
        "special file"
    }
}
