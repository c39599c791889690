//! A plug in progress, kept on disk so that a crash mid-plug leaves no
//! half-made port.
//!
//! Before a new plug's first change, `<state-dir>/vnic-plugging/<device>`
//! gets the plug (the same JSON as its record); after the device has
//! joined, the file goes. A file found there later is a plug that never
//! answered: its caller saw a failure, so the host must not keep half of
//! it. The next verb that takes the transaction lock (a setup, a plug, an
//! unplug), caps, and the daemon at start undo it through the journal's
//! recovery: the device leaves the bridge (or its OVS port goes), the
//! record and the intent are removed. Until then the listing leaves such
//! a vNIC out.

use std::collections::BTreeSet;

use tracing::{info, warn};

use super::{valid_key, Plugged};
use crate::statedir::Dir;
use crate::EngineError;

/// The state dir's subdirectory of plugs in progress.
const INTENTS_DIR: &str = "vnic-plugging";

impl crate::Engine {
    fn intents_dir(&self, create: bool) -> Result<Option<Dir>, EngineError> {
        let Some(root) = self.store.dir(create)? else {
            return Ok(None);
        };
        match root.subdir(INTENTS_DIR)? {
            Some(d) => Ok(Some(d)),
            None if create => Ok(Some(root.mkdir(INTENTS_DIR)?)),
            None => Ok(None),
        }
    }

    /// Keeps `p` as a plug in progress (written durably, before any
    /// change).
    pub(super) fn write_intent(&self, p: &Plugged, bytes: &[u8]) -> Result<(), EngineError> {
        let dir = self
            .intents_dir(true)?
            .ok_or_else(|| super::backend(format!("vnic {}: no state directory", p.key())))?;
        dir.replace(p.key(), bytes)?;
        Ok(())
    }

    /// The plug of `device` is whole (or undone): its intent goes.
    pub(super) fn clear_intent(&self, device: &str) -> Result<(), EngineError> {
        if let Some(dir) = self.intents_dir(false)? {
            dir.remove_file(device)?;
            dir.sync()?;
        }
        Ok(())
    }

    /// The devices with a plug in progress (or interrupted).
    pub(super) fn pending_plugs(&self) -> BTreeSet<String> {
        let Ok(Some(dir)) = self.intents_dir(false) else {
            return BTreeSet::new();
        };
        let Ok(entries) = std::fs::read_dir(dir.path()) else {
            return BTreeSet::new();
        };
        entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| valid_key(n) && !n.ends_with(".tmp"))
            .collect()
    }

    /// Whether a crash left a half-made plug to undo.
    pub(crate) fn has_half_plugs(&self) -> bool {
        !self.pending_plugs().is_empty()
    }

    /// Undoes every interrupted plug (the caller holds the transaction
    /// lock). Best effort: what cannot be undone now is logged and tried
    /// again by the next verb.
    pub(crate) fn undo_half_plugs(&self) {
        for device in self.pending_plugs() {
            if let Err(e) = self.undo_half_plug(&device) {
                warn!(device = %device, error = %e, "cannot undo an interrupted vNIC plug");
            }
        }
    }

    fn undo_half_plug(&self, device: &str) -> Result<(), EngineError> {
        let bytes = self
            .intents_dir(false)?
            .and_then(|d| d.read(device).transpose())
            .transpose()?;
        if let Some(p) = bytes.and_then(|b| serde_json::from_slice::<Plugged>(&b).ok()) {
            let host = self.observe(p.switch == "ovs")?;
            self.leave(&p, &host)?;
        }
        if let Some(dir) = self.vnics_dir(false)? {
            dir.remove_file(device)?;
            dir.sync()?;
        }
        self.clear_intent(device)?;
        info!(device = %device, "undid a vNIC plug a crash interrupted");
        Ok(())
    }
}
