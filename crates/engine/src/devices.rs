//! Device settings (`devices/<nic>` of the running and persistent config,
//! VDSM's layout): a PF's VF count (`{"sriov": {"numvfs": N}}`, see
//! [`crate::sriov`]) and LLDP transmission (`{"lldp": {"tx": true}}`).
//!
//! They are host settings of one device, not networks: a change is written
//! to both configs at once, each key of a file kept when another changes.

use netswitch_model::config::Config;
use netswitch_model::{Code, RequestError};
use serde_json::{json, Value};
use tracing::info;

use std::path::Path;

use crate::store::{Devices, Which};
use crate::EngineError;

impl crate::Engine {
    /// Sets `key` of `devices/<nic>` to `value` (`None` removes the key,
    /// and the file with its last key) in the running and the persistent
    /// config.
    pub(crate) fn persist_device(
        &self,
        nic: &str,
        key: &str,
        value: Option<Value>,
    ) -> Result<(), EngineError> {
        for which in [Which::Running, Which::Persistent] {
            let config = self.store.load(which)?;
            let mut devices = self.store.load_devices(which)?;
            let entry = devices.entry(nic.to_string()).or_insert_with(|| json!({}));
            if !entry.is_object() {
                *entry = json!({});
            }
            if let Some(obj) = entry.as_object_mut() {
                match &value {
                    Some(v) => {
                        obj.insert(key.to_string(), v.clone());
                    }
                    None => {
                        obj.remove(key);
                    }
                }
                if obj.is_empty() {
                    devices.remove(nic);
                }
            }
            self.store.save_full(which, &config, &devices)?;
        }
        Ok(())
    }

    /// `lldp-tx NIC on|off` (`Host.setLldpTx`): whether the daemon
    /// announces the host on `nic`. Refused (23) for a device that is no
    /// nic. Returns the new setting.
    pub fn set_lldp_tx(&self, nic: &str, tx: bool) -> Result<bool, EngineError> {
        let _lock = self.lock()?;
        let host = self.observe(false)?;
        if !self.nics.is_nic(&host, nic) {
            let nic = netswitch_model::error::clip(nic, 40);
            return Err(RequestError::request(
                Code::BadNic,
                format!("lldp {nic}: device: not a nic of this host"),
            )
            .into());
        }
        let value = tx.then(|| json!({"tx": true}));
        self.persist_device(nic, "lldp", value)?;
        info!(nic, tx, "LLDP transmit set");
        Ok(tx)
    }

    /// The nics the running config has LLDP transmission on.
    pub fn lldp_tx_nics(&self) -> Result<Vec<String>, EngineError> {
        let devices = self.store.load_devices(Which::Running)?;
        Ok(devices
            .into_iter()
            .filter(|(_, v)| v.pointer("/lldp/tx").and_then(Value::as_bool) == Some(true))
            .map(|(n, _)| n)
            .collect())
    }
}

/// The tagged networks `nic` carries in `config` (on the nic itself or on
/// a bond it is a slave of), as (VLAN id, network name): what LLDP's 802.1
/// VLAN Name TLVs announce. Untagged networks have no VLAN id to name.
pub fn vlan_names(config: &Config, nic: &str) -> Vec<(u16, String)> {
    let bonds: Vec<&String> = config
        .bonds
        .iter()
        .filter(|(_, b)| b.nics.iter().any(|n| n == nic))
        .map(|(name, _)| name)
        .collect();
    let mut out: Vec<(u16, String)> = config
        .networks
        .iter()
        .filter(|(_, a)| {
            a.nic.as_deref() == Some(nic) || a.bonding.as_ref().is_some_and(|b| bonds.contains(&b))
        })
        .filter_map(|(name, a)| Some((a.vlan?, name.clone())))
        .filter(|(vid, _)| (1..=4094).contains(vid))
        .collect();
    out.sort();
    out
}

/// Reads a VDSM `devices/` directory (one JSON object per device, as
/// `import-vdsm` takes it): `sriov.numvfs` a count, `lldp.tx` a boolean,
/// else 21 naming the file. A missing directory is no devices.
pub(crate) fn read_vdsm_devices(dir: &Path) -> Result<Devices, EngineError> {
    let mut out = Devices::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(source) => {
            return Err(crate::StoreError::Io {
                path: dir.to_path_buf(),
                source,
            }
            .into())
        }
    };
    for entry in entries.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let bad = |why: &str| -> EngineError {
            RequestError::request(Code::BadParams, format!("{}: {why}", path.display())).into()
        };
        let text = crate::safe::read_import_file(&path)?;
        let value: Value = serde_json::from_slice(&text).map_err(|e| bad(&e.to_string()))?;
        if !value.is_object() {
            return Err(bad("not a JSON object"));
        }
        if let Some(n) = value.pointer("/sriov/numvfs") {
            if n.as_u64().is_none_or(|n| n > u64::from(u16::MAX)) {
                return Err(bad("sriov.numvfs: not a count"));
            }
        }
        if value.pointer("/lldp/tx").is_some_and(|t| !t.is_boolean()) {
            return Err(bad("lldp.tx: not a boolean"));
        }
        out.insert(name, value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netswitch_model::config::{BondAttrs, NetAttrs};

    #[test]
    fn a_nic_announces_its_tagged_networks_and_its_bonds() {
        let mut c = Config::default();
        let net = |nic: Option<&str>, bond: Option<&str>, vlan: Option<u16>| NetAttrs {
            nic: nic.map(str::to_string),
            bonding: bond.map(str::to_string),
            vlan,
            ..NetAttrs::default()
        };
        c.networks
            .insert("vm100".into(), net(Some("eth1"), None, Some(100)));
        c.networks
            .insert("mgmt".into(), net(Some("eth1"), None, None));
        c.networks
            .insert("other".into(), net(Some("eth2"), None, Some(7)));
        c.networks
            .insert("st200".into(), net(None, Some("bond0"), Some(200)));
        c.bonds.insert(
            "bond0".into(),
            serde_json::from_value::<BondAttrs>(json!({
                "nics": ["eth1", "eth3"], "options": "mode=1", "switch": "legacy"
            }))
            .unwrap(),
        );
        assert_eq!(
            vlan_names(&c, "eth1"),
            [(100, "vm100".to_string()), (200, "st200".to_string())]
        );
        assert_eq!(vlan_names(&c, "eth3"), [(200, "st200".to_string())]);
        assert!(vlan_names(&c, "eth9").is_empty());
    }
}

#[cfg(test)]
mod import_tests {
    use super::*;

    #[test]
    fn a_vdsm_devices_dir_is_read_and_bad_files_are_named() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("eth1"), r#"{"sriov": {"numvfs": 4}}"#).unwrap();
        std::fs::write(d.path().join("eth2"), r#"{"lldp": {"tx": true}}"#).unwrap();
        let got = read_vdsm_devices(d.path()).unwrap();
        assert_eq!(got["eth1"], json!({"sriov": {"numvfs": 4}}));
        assert_eq!(got.len(), 2);
        std::fs::write(d.path().join("eth3"), r#"{"sriov": {"numvfs": -1}}"#).unwrap();
        let e = read_vdsm_devices(d.path()).unwrap_err();
        assert_eq!(e.code(), 21);
        assert!(e.to_string().contains("eth3"), "{e}");
        assert!(read_vdsm_devices(&d.path().join("none"))
            .unwrap()
            .is_empty());
    }
}
