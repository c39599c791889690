//! The OVS side of the host source: one OVSDB connection, kept, whose
//! monitor keeps a replica of the columns the host model uses.
//!
//! As live netinfo is for the kernel: a read costs a lock and a walk over
//! the replica, not a connection and four selects. The CLI's engine lives
//! for one verb, so the CLI makes one connection and one monitor per verb;
//! the daemon's engine lives as long as the daemon, so its setups read OVS
//! without asking ovsdb-server anything. A lost connection is made again
//! (and the replica refilled) by the next read.
//!
//! The replica is current when a read needs it: ovsdb-server sends a
//! session's monitor updates before that session's `transact` reply, so the
//! engine's own transactions are in the replica when they return, and
//! ovs-vswitchd's `cur_cfg` bump, which `apply` waits for, is monitored.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use netswitch_model::host::{OvsBridge, OvsPort, OvsState};
use netswitch_ovsdb::{
    Address, Bridge, Client, Interface, Port, Replica, TableMonitor, Uuid, VSWITCH_DB,
};

use super::{OvsSettings, MAPPINGS_KEY};

/// The columns the host model uses, per table. Only these: the whole
/// Interface table (statistics, status, ...) is several times larger, and
/// every change to it would be sent to us. `cur_cfg` is how `apply` sees
/// ovs-vswitchd catch up.
const MONITORED: [(&str, &[&str]); 4] = [
    ("Open_vSwitch", &["bridges", "external_ids", "cur_cfg"]),
    (
        "Bridge",
        &["name", "datapath_type", "external_ids", "ports"],
    ),
    ("Port", &["name", "interfaces", "tag", "external_ids"]),
    ("Interface", &["name", "type", "mtu_request", "error"]),
];

/// The kept connection; shared by clones of the engine's settings.
#[derive(Default)]
pub struct Link {
    client: Mutex<Option<Arc<Client>>>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let up = super::lock(&self.client)
            .as_ref()
            .is_some_and(|c| c.is_connected());
        f.debug_struct("Link").field("connected", &up).finish()
    }
}

impl Link {
    /// The connection to `settings.db`, made (with its monitor) if there is
    /// none yet, it was lost, or the address changed.
    pub(crate) fn client(
        &self,
        settings: &OvsSettings,
    ) -> Result<Arc<Client>, netswitch_ovsdb::Error> {
        let want = Address::parse(&settings.db)?;
        let mut slot = super::lock(&self.client);
        if let Some(c) = slot.as_ref() {
            if c.is_connected() && *c.address() == want {
                return Ok(Arc::clone(c));
            }
            tracing::info!(db = %settings.db, "OVSDB connection lost or moved; connecting again");
        }
        *slot = None;
        let c = Arc::new(super::connect(settings)?);
        let monitors: Vec<TableMonitor> = MONITORED
            .iter()
            .map(|(t, cols)| TableMonitor::columns(t, cols))
            .collect();
        c.monitor(VSWITCH_DB, &monitors)?;
        c.set_deadline(None);
        *slot = Some(Arc::clone(&c));
        Ok(c)
    }

    /// OVS's bridges and ports as the replica has them now.
    pub(crate) fn read(&self, settings: &OvsSettings) -> Result<Read, netswitch_ovsdb::Error> {
        let started = Instant::now();
        let c = self.client(settings)?;
        let read = c.with_replica(read_replica);
        tracing::debug!(
            bridges = read.state.bridges.len(),
            elapsed_us = started.elapsed().as_micros() as u64,
            "OVS read from the replica"
        );
        Ok(read)
    }
}

/// OVS's state in the host model, plus the row UUIDs a transaction needs.
pub(crate) struct Read {
    pub(crate) state: OvsState,
    pub(crate) root: Option<Uuid>,
    /// The root row's `external_ids` as read: what a read-modify-write of
    /// the mappings guards.
    pub(crate) root_external_ids: BTreeMap<String, String>,
    pub(crate) bridge_uuid: BTreeMap<String, Uuid>,
    pub(crate) port_uuid: BTreeMap<String, Uuid>,
}

/// The host model's view of the replica, through the typed vswitch rows.
pub(crate) fn read_replica(r: &Replica) -> Read {
    let root = r.open_vswitch();
    let ifaces: BTreeMap<Uuid, Interface> = by_uuid(r.rows(), |i: &Interface| &i.uuid);
    let ports: BTreeMap<Uuid, Port> = by_uuid(r.rows(), |p: &Port| &p.uuid);
    let mut out = Read {
        state: OvsState::default(),
        root: root.as_ref().map(|o| o.uuid.clone()),
        root_external_ids: root
            .as_ref()
            .map(|o| o.external_ids.clone())
            .unwrap_or_default(),
        bridge_uuid: BTreeMap::new(),
        port_uuid: BTreeMap::new(),
    };
    out.state.bridge_mappings = out.root_external_ids.get(MAPPINGS_KEY).cloned();
    for b in r.rows::<Bridge>() {
        let mut br = OvsBridge {
            name: b.name.clone(),
            datapath_type: b.datapath_type.clone(),
            external_ids: b.external_ids.clone(),
            ports: BTreeMap::new(),
        };
        for p in b.ports.iter().filter_map(|u| ports.get(u)) {
            let iface = p.interfaces.first().and_then(|u| ifaces.get(u));
            out.port_uuid.insert(p.name.clone(), p.uuid.clone());
            br.ports.insert(p.name.clone(), port(p, iface));
        }
        out.bridge_uuid.insert(b.name.clone(), b.uuid.clone());
        out.state.bridges.insert(b.name, br);
    }
    out
}

fn by_uuid<T>(rows: Vec<T>, uuid: impl Fn(&T) -> &Uuid) -> BTreeMap<Uuid, T> {
    rows.into_iter().map(|t| (uuid(&t).clone(), t)).collect()
}

fn port(p: &Port, iface: Option<&Interface>) -> OvsPort {
    OvsPort {
        name: p.name.clone(),
        tag: p.tag.and_then(|t| u16::try_from(t).ok()),
        internal: iface.is_some_and(|i| i.type_ == "internal"),
        mtu_request: iface
            .and_then(|i| i.mtu_request)
            .and_then(|m| u32::try_from(m).ok()),
        external_ids: p.external_ids.clone(),
        error: iface.and_then(|i| i.error.clone()),
    }
}
