//! Typed views of the four vswitch tables the ovs switch uses.
//!
//! Only the columns netswitch reads or writes (DESIGN §5.5); anything else
//! stays reachable through the raw [`Row`]. A column missing from the row
//! (not monitored or not selected) decodes as its empty value.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::datum::{as_optional_i64, as_optional_str, as_str_map, as_uuid_set, Uuid};
use crate::Row;

fn col<T: Default>(
    row: &Row,
    name: &str,
    f: impl FnOnce(&Value) -> Option<T>,
) -> Result<T, String> {
    match row.get(name) {
        None => Ok(T::default()),
        Some(v) => f(v).ok_or_else(|| format!("column {name}: unexpected datum {v}")),
    }
}

fn name(row: &Row) -> Result<String, String> {
    col(row, "name", |v| v.as_str().map(str::to_owned))
}

/// The UUID of a row returned by `select` (its `_uuid` column).
pub fn selected_uuid(row: &Row) -> Option<Uuid> {
    row.get("_uuid").and_then(Uuid::from_json)
}

/// The root row: where `bridges` hang and `ovn-bridge-mappings` lives.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpenVSwitch {
    /// Row UUID.
    pub uuid: Uuid,
    /// References to Bridge rows.
    pub bridges: Vec<Uuid>,
    /// `external_ids` (e.g. `ovn-bridge-mappings`).
    pub external_ids: BTreeMap<String, String>,
    /// `other_config`.
    pub other_config: BTreeMap<String, String>,
}

impl OpenVSwitch {
    /// Decodes a replica or select row; errs naming the bad column.
    pub fn from_row(uuid: &Uuid, row: &Row) -> Result<Self, String> {
        Ok(Self {
            uuid: uuid.clone(),
            bridges: col(row, "bridges", as_uuid_set)?,
            external_ids: col(row, "external_ids", as_str_map)?,
            other_config: col(row, "other_config", as_str_map)?,
        })
    }
}

/// An OVS bridge (`vdsmbr_*` for netswitch's own).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bridge {
    /// Row UUID.
    pub uuid: Uuid,
    /// Bridge name.
    pub name: String,
    /// References to Port rows.
    pub ports: Vec<Uuid>,
    /// `external_ids`.
    pub external_ids: BTreeMap<String, String>,
    /// `other_config`.
    pub other_config: BTreeMap<String, String>,
}

impl Bridge {
    /// Decodes a replica or select row; errs naming the bad column.
    pub fn from_row(uuid: &Uuid, row: &Row) -> Result<Self, String> {
        Ok(Self {
            uuid: uuid.clone(),
            name: name(row)?,
            ports: col(row, "ports", as_uuid_set)?,
            external_ids: col(row, "external_ids", as_str_map)?,
            other_config: col(row, "other_config", as_str_map)?,
        })
    }
}

/// A bridge port: a network's internal port or the southbound port.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Port {
    /// Row UUID.
    pub uuid: Uuid,
    /// Port name.
    pub name: String,
    /// References to Interface rows.
    pub interfaces: Vec<Uuid>,
    /// Access VLAN tag, if any.
    pub tag: Option<i64>,
    /// `external_ids`.
    pub external_ids: BTreeMap<String, String>,
    /// `other_config` (marks the southbound port, DESIGN §5.5).
    pub other_config: BTreeMap<String, String>,
}

impl Port {
    /// Decodes a replica or select row; errs naming the bad column.
    pub fn from_row(uuid: &Uuid, row: &Row) -> Result<Self, String> {
        Ok(Self {
            uuid: uuid.clone(),
            name: name(row)?,
            interfaces: col(row, "interfaces", as_uuid_set)?,
            tag: col(row, "tag", as_optional_i64)?,
            external_ids: col(row, "external_ids", as_str_map)?,
            other_config: col(row, "other_config", as_str_map)?,
        })
    }
}

/// An interface of a port.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Interface {
    /// Row UUID.
    pub uuid: Uuid,
    /// Interface name.
    pub name: String,
    /// `type` (`""` system, `internal`, ...).
    pub type_: String,
    /// Requested MTU, if any.
    pub mtu_request: Option<i64>,
    /// `external_ids`.
    pub external_ids: BTreeMap<String, String>,
    /// `other_config`.
    pub other_config: BTreeMap<String, String>,
}

impl Interface {
    /// Decodes a replica or select row; errs naming the bad column.
    pub fn from_row(uuid: &Uuid, row: &Row) -> Result<Self, String> {
        Ok(Self {
            uuid: uuid.clone(),
            name: name(row)?,
            type_: col(row, "type", |v| {
                as_optional_str(v).map(Option::unwrap_or_default)
            })?,
            mtu_request: col(row, "mtu_request", as_optional_i64)?,
            external_ids: col(row, "external_ids", as_str_map)?,
            other_config: col(row, "other_config", as_str_map)?,
        })
    }
}
