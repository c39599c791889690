//! Typed views of the four vswitch tables the ovs switch uses.
//!
//! Only the columns netswitch reads or writes (docs/api.md §7); anything else
//! stays reachable through the raw [`Row`]. A column missing from the row
//! (not monitored or not selected) decodes as its empty value.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::datum::{as_optional_i64, as_optional_str, as_str_map, as_uuid_set, Uuid};
use crate::replica::{Replica, TableRow};
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

/// The vswitch tables' typed views, by name.
impl Replica {
    /// Bridges decoded.
    pub fn bridges(&self) -> Vec<Bridge> {
        self.rows()
    }

    /// Ports decoded.
    pub fn ports(&self) -> Vec<Port> {
        self.rows()
    }

    /// Interfaces decoded.
    pub fn interfaces(&self) -> Vec<Interface> {
        self.rows()
    }

    /// The Open_vSwitch root row, if monitored and present.
    pub fn open_vswitch(&self) -> Option<OpenVSwitch> {
        self.rows().into_iter().next()
    }
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

impl TableRow for OpenVSwitch {
    const TABLE: &'static str = "Open_vSwitch";

    fn from_row(uuid: &Uuid, row: &Row) -> Result<Self, String> {
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
    /// `datapath_type` (`system`, `netdev`, or empty for the default).
    pub datapath_type: String,
    /// `external_ids`.
    pub external_ids: BTreeMap<String, String>,
    /// `other_config`.
    pub other_config: BTreeMap<String, String>,
}

impl TableRow for Bridge {
    const TABLE: &'static str = "Bridge";

    fn from_row(uuid: &Uuid, row: &Row) -> Result<Self, String> {
        Ok(Self {
            uuid: uuid.clone(),
            name: name(row)?,
            ports: col(row, "ports", as_uuid_set)?,
            datapath_type: col(row, "datapath_type", |v| v.as_str().map(str::to_owned))?,
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
    /// `other_config` (marks the southbound port, docs/api.md §7).
    pub other_config: BTreeMap<String, String>,
}

impl TableRow for Port {
    const TABLE: &'static str = "Port";

    fn from_row(uuid: &Uuid, row: &Row) -> Result<Self, String> {
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
    /// Why ovs-vswitchd could not open it, if it could not.
    pub error: Option<String>,
    /// `external_ids`.
    pub external_ids: BTreeMap<String, String>,
    /// `other_config`.
    pub other_config: BTreeMap<String, String>,
}

impl TableRow for Interface {
    const TABLE: &'static str = "Interface";

    fn from_row(uuid: &Uuid, row: &Row) -> Result<Self, String> {
        Ok(Self {
            uuid: uuid.clone(),
            name: name(row)?,
            type_: col(row, "type", |v| {
                as_optional_str(v).map(Option::unwrap_or_default)
            })?,
            mtu_request: col(row, "mtu_request", as_optional_i64)?,
            error: col(row, "error", as_optional_str)?,
            external_ids: col(row, "external_ids", as_str_map)?,
            other_config: col(row, "other_config", as_str_map)?,
        })
    }
}

/// A QoS row: how a port's egress is shaped (`linux-htb`, `linux-hfsc`),
/// with its queues by queue number; where host QoS lands on OVS ports.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Qos {
    /// Row UUID.
    pub uuid: Uuid,
    /// `type` (`linux-htb`, `linux-hfsc`, ...).
    pub type_: String,
    /// Queue number -> Queue row.
    pub queues: BTreeMap<i64, Uuid>,
    /// `other_config` (e.g. `max-rate`).
    pub other_config: BTreeMap<String, String>,
    /// `external_ids`.
    pub external_ids: BTreeMap<String, String>,
}

fn int_uuid_map(v: &Value) -> Option<BTreeMap<i64, Uuid>> {
    crate::datum::map_entries(v)?
        .into_iter()
        .map(|(k, u)| Some((k.as_i64()?, Uuid::from_json(u)?)))
        .collect()
}

impl TableRow for Qos {
    const TABLE: &'static str = "QoS";

    fn from_row(uuid: &Uuid, row: &Row) -> Result<Self, String> {
        Ok(Self {
            uuid: uuid.clone(),
            type_: col(row, "type", |v| v.as_str().map(str::to_owned))?,
            queues: col(row, "queues", int_uuid_map)?,
            other_config: col(row, "other_config", as_str_map)?,
            external_ids: col(row, "external_ids", as_str_map)?,
        })
    }
}

/// A queue of a QoS row (`min-rate`, `max-rate`, ... in `other_config`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Queue {
    /// Row UUID.
    pub uuid: Uuid,
    /// DSCP value to mark packets with, if any.
    pub dscp: Option<i64>,
    /// `other_config`.
    pub other_config: BTreeMap<String, String>,
    /// `external_ids`.
    pub external_ids: BTreeMap<String, String>,
}

impl TableRow for Queue {
    const TABLE: &'static str = "Queue";

    fn from_row(uuid: &Uuid, row: &Row) -> Result<Self, String> {
        Ok(Self {
            uuid: uuid.clone(),
            dscp: col(row, "dscp", as_optional_i64)?,
            other_config: col(row, "other_config", as_str_map)?,
            external_ids: col(row, "external_ids", as_str_map)?,
        })
    }
}

/// A port mirror (VM traffic mirroring): what it selects and where it
/// sends the copies.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mirror {
    /// Row UUID.
    pub uuid: Uuid,
    /// Mirror name.
    pub name: String,
    /// Mirror every packet on the bridge.
    pub select_all: bool,
    /// Ports whose received packets are mirrored.
    pub select_src_port: Vec<Uuid>,
    /// Ports whose sent packets are mirrored.
    pub select_dst_port: Vec<Uuid>,
    /// The port the copies go out of.
    pub output_port: Option<Uuid>,
    /// Or the VLAN they go out on.
    pub output_vlan: Option<i64>,
    /// `external_ids`.
    pub external_ids: BTreeMap<String, String>,
}

impl TableRow for Mirror {
    const TABLE: &'static str = "Mirror";

    fn from_row(uuid: &Uuid, row: &Row) -> Result<Self, String> {
        let output_port = col(row, "output_port", as_uuid_set)?;
        if output_port.len() > 1 {
            return Err(format!("column output_port: {} UUIDs", output_port.len()));
        }
        Ok(Self {
            uuid: uuid.clone(),
            name: name(row)?,
            select_all: col(row, "select_all", Value::as_bool)?,
            select_src_port: col(row, "select_src_port", as_uuid_set)?,
            select_dst_port: col(row, "select_dst_port", as_uuid_set)?,
            output_port: output_port.into_iter().next(),
            output_vlan: col(row, "output_vlan", as_optional_i64)?,
            external_ids: col(row, "external_ids", as_str_map)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn qos_queue_and_mirror_rows_decode() {
        let u = Uuid("u".into());
        let qos: Row = [
            ("type".to_string(), json!("linux-hfsc")),
            (
                "queues".to_string(),
                json!(["map", [[0, ["uuid", "q0"]], [1, ["uuid", "q1"]]]]),
            ),
            (
                "other_config".to_string(),
                json!(["map", [["max-rate", "1000000"]]]),
            ),
        ]
        .into_iter()
        .collect();
        let q = Qos::from_row(&u, &qos).unwrap();
        assert_eq!(q.type_, "linux-hfsc");
        assert_eq!(q.queues.get(&1), Some(&Uuid("q1".into())));
        assert_eq!(q.other_config["max-rate"], "1000000");
        let queue: Row = [("dscp".to_string(), json!(["set", []]))]
            .into_iter()
            .collect();
        assert_eq!(Queue::from_row(&u, &queue).unwrap().dscp, None);
        let m: Row = [
            ("name".to_string(), json!("m1")),
            ("select_all".to_string(), json!(false)),
            ("select_src_port".to_string(), json!(["uuid", "p1"])),
            ("output_port".to_string(), json!(["set", [["uuid", "p9"]]])),
            ("output_vlan".to_string(), json!(["set", []])),
        ]
        .into_iter()
        .collect();
        let m = Mirror::from_row(&u, &m).unwrap();
        assert_eq!(m.select_src_port, vec![Uuid("p1".into())]);
        assert_eq!(m.output_port, Some(Uuid("p9".into())));
        assert_eq!(m.output_vlan, None);
        let bad: Row = [("queues".to_string(), json!("x"))].into_iter().collect();
        assert!(Qos::from_row(&u, &bad).unwrap_err().contains("queues"));
    }
}
