//! Port mirroring on OVS: one `Mirror` row per target on the network's
//! OVS bridge, found again by `external_ids:netswitch-mirror=<network>`.
//!
//! What a row selects: the network's ports, received (`select_src_port`)
//! and sent (`select_dst_port`), and for a VLAN network `select_vlan` the
//! tag. The network's ports are its internal port and the ports of the
//! vNICs plugged into it, not only the internal port: frames between two
//! VMs never cross the internal port, and the bridge's southbound port
//! cannot be selected, since it carries every other network of the bridge
//! too. Every frame of the network enters or leaves through one of those
//! ports (frames from the southbound are sent to them), so all of it is
//! copied and nothing of the other networks. The selection follows vNIC
//! plugs and unplugs on a mirrored network.
//!
//! `output_port` is the target's Port: OVS sends only mirrored frames to
//! it (and drops what it receives), so the target must be a port of the
//! network's bridge, a plugged vNIC. The rows are rewritten as a whole on
//! each change (the old rows of the network out of `Bridge.mirrors`, the
//! new ones in, one transaction), so a change also repairs what drifted.
//!
//! OVS (3.1) does not revalidate the datapath flows that exist when a
//! Mirror row changes: a conversation already flowing is copied only once
//! its flows are revalidated or expire (seconds, when idle).

use std::collections::BTreeMap;

use netswitch_model::host::HostState;
use netswitch_model::Code;
use netswitch_ovsdb::datum::{empty_set, named_uuid, set, str_map};
use netswitch_ovsdb::{Condition, Mirror, Mutation, Mutator, Op, TableRow, Uuid, VSWITCH_DB};
use serde_json::json;

use super::{backend, refuse, Mirrored};
use crate::{Engine, EngineError};

/// The `external_ids` key that marks netswitch's Mirror rows with their
/// network.
pub const MIRROR_KEY: &str = "netswitch-mirror";
/// The `external_ids` key with the row's target device.
const TARGET_KEY: &str = "netswitch-mirror-target";

/// The OVS bridge that carries `network`'s internal port, which `device`
/// must be a port of (21 otherwise: OVS mirrors only to its own ports).
pub(super) fn bridge_of(
    network: &str,
    device: &str,
    host: &HostState,
) -> Result<String, EngineError> {
    let ovs = host.ovs.as_ref();
    let Some(br) = ovs.and_then(|o| o.bridge_of_port(network)) else {
        return Err(backend(format!(
            "network {network}: no OVS bridge carries it"
        )));
    };
    if !br.ports.contains_key(device) {
        return Err(refuse(
            Code::BadParams,
            network,
            device,
            format!(
                "not a port of OVS bridge {}; plug it as a vNIC of the network first",
                br.name
            ),
        ));
    }
    Ok(br.name.clone())
}

/// Whether target `device` of a mirror on `bridge` is still a port of its bridge (legacy
/// mirrors, and hosts read without OVS, say yes).
pub(super) fn still_on(switch: &str, bridge: &str, device: &str, host: &HostState) -> bool {
    if switch != "ovs" {
        return true;
    }
    match &host.ovs {
        Some(o) => o
            .bridges
            .get(bridge)
            .is_some_and(|b| b.ports.contains_key(device)),
        None => true,
    }
}

/// The UUIDs of the Mirror rows netswitch made for `network`.
fn rows_of(engine: &Engine, network: &str) -> Result<Vec<Uuid>, EngineError> {
    let c = engine.ovs.link.client(&engine.ovs)?;
    let select = Op::Select {
        table: Mirror::TABLE.into(),
        conditions: Vec::new(),
        columns: None,
    };
    let res = c.transact(VSWITCH_DB, &[select])?;
    let rows = res
        .into_iter()
        .next()
        .and_then(|r| r.rows)
        .unwrap_or_default();
    Ok(rows
        .iter()
        .filter_map(|r| {
            let uuid = r.get("_uuid").and_then(Uuid::from_json)?;
            Mirror::from_row(&uuid, r).ok()
        })
        .filter(|m| m.external_ids.get(MIRROR_KEY).map(String::as_str) == Some(network))
        .map(|m| m.uuid)
        .collect())
}

/// Makes `m.bridge`'s Mirror rows for `m.network` be one per target of
/// `m.devices` that is a port of it (none: the rows go).
pub(super) fn apply(engine: &Engine, m: &Mirrored, host: &HostState) -> Result<(), EngineError> {
    let old = rows_of(engine, &m.network)?;
    let Some(br) = host.ovs.as_ref().and_then(|o| o.bridges.get(&m.bridge)) else {
        // The bridge is gone, and its mirrors with it.
        return Ok(());
    };
    let vnics = engine.vnics()?;
    // The network's ports: its internal port and its vNICs' (module doc),
    // never a target (a mirror's output port does no switching).
    let selected: Vec<String> = br
        .ports
        .keys()
        .filter(|p| {
            *p == &m.network
                || vnics
                    .get(*p)
                    .is_some_and(|v| v.vnic.network == m.network && v.bridge == m.bridge)
        })
        .filter(|p| !m.devices.contains(p))
        .cloned()
        .collect();
    let targets: Vec<String> = m
        .devices
        .iter()
        .filter(|d| br.ports.contains_key(*d))
        .cloned()
        .collect();
    if old.is_empty() && targets.is_empty() {
        return Ok(());
    }
    crate::ovs::transact_rows(&engine.ovs, |bridges, ports| {
        build(m, &old, &selected, &targets, bridges, ports)
    })
    .map_err(|e| backend(format!("network {}: OVS mirror: {e}", m.network)))
}

/// The transaction: the old rows out of the bridge's `mirrors`, one new
/// row per target in.
fn build(
    m: &Mirrored,
    old: &[Uuid],
    selected: &[String],
    targets: &[String],
    bridges: &BTreeMap<String, Uuid>,
    ports: &BTreeMap<String, Uuid>,
) -> Result<Vec<Op>, String> {
    let br = bridges
        .get(&m.bridge)
        .ok_or_else(|| format!("no OVS bridge {}", m.bridge))?;
    let port = |name: &String| {
        ports
            .get(name)
            .map(Uuid::to_json)
            .ok_or_else(|| format!("no OVS port {name}"))
    };
    let sel = selected.iter().map(port).collect::<Result<Vec<_>, _>>()?;
    let mut tx = Vec::new();
    let mut new = Vec::new();
    for (i, dev) in targets.iter().enumerate() {
        let name = format!("mirror{i}");
        let vlan = match m.tag {
            Some(t) => set([json!(t)]),
            None => empty_set(),
        };
        let row = netswitch_ovsdb::row([
            ("name", json!(format!("netswitch-{}-{dev}", m.network))),
            ("select_src_port", set(sel.clone())),
            ("select_dst_port", set(sel.clone())),
            ("select_vlan", vlan),
            ("output_port", port(dev)?),
            (
                "external_ids",
                str_map([(MIRROR_KEY, m.network.as_str()), (TARGET_KEY, dev.as_str())]),
            ),
        ]);
        tx.push(Op::insert_named(Mirror::TABLE, &name, row));
        new.push(named_uuid(&name));
    }
    let mut mutations = Vec::new();
    if !old.is_empty() {
        let old = set(old.iter().map(Uuid::to_json));
        mutations.push(Mutation::new("mirrors", Mutator::Delete, old));
    }
    if !new.is_empty() {
        mutations.push(Mutation::new("mirrors", Mutator::Insert, set(new)));
    }
    tx.push(Op::mutate("Bridge", vec![Condition::uuid(br)], mutations));
    Ok(tx)
}
