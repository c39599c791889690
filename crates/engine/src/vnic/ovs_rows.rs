//! The OVSDB rows of a vNIC's port on an OVS network: what a plug
//! inserts and an unplug takes off the bridge.

use std::collections::BTreeMap;

use netswitch_ovsdb::datum::{named_uuid, set, str_map};
use netswitch_ovsdb::{row, Condition, Mutation, Mutator};
use netswitch_switch::ovs::VM_PORT_KEY;
use serde_json::json;

use super::Plugged;

/// The rows of a vNIC's OVS port: Interface, Port (tag, identity) and the
/// bridge's `ports`.
pub(super) fn ovs_add(
    p: &Plugged,
    bridges: &BTreeMap<String, netswitch_ovsdb::Uuid>,
) -> Result<Vec<netswitch_ovsdb::Op>, String> {
    let br = bridges
        .get(&p.bridge)
        .ok_or_else(|| format!("no OVS bridge {}", p.bridge))?;
    let v = &p.vnic;
    let mut ids = vec![
        (VM_PORT_KEY, v.vm_id.as_str()),
        ("attached-mac", v.mac.as_str()),
    ];
    if let Some(i) = &v.iface_id {
        ids.push(("iface-id", i.as_str()));
    }
    let iface = row([
        ("name", json!(v.device)),
        ("mtu_request", json!(p.mtu)),
        ("external_ids", str_map(ids.iter().copied())),
    ]);
    let mut port = row([
        ("name", json!(v.device)),
        ("interfaces", named_uuid("vnic_i")),
        ("external_ids", str_map(ids.iter().copied())),
    ]);
    if let Some(t) = p.tag {
        port.insert("tag".into(), json!(t));
    }
    Ok(vec![
        netswitch_ovsdb::Op::insert_named("Interface", "vnic_i", iface),
        netswitch_ovsdb::Op::insert_named("Port", "vnic_p", port),
        netswitch_ovsdb::Op::mutate(
            "Bridge",
            vec![Condition::uuid(br)],
            vec![Mutation::new(
                "ports",
                Mutator::Insert,
                set([named_uuid("vnic_p")]),
            )],
        ),
    ])
}

/// Takes a vNIC's port off its OVS bridge (OVSDB collects the orphaned
/// Port and Interface rows).
pub(super) fn ovs_del(
    p: &Plugged,
    bridges: &BTreeMap<String, netswitch_ovsdb::Uuid>,
    ports: &BTreeMap<String, netswitch_ovsdb::Uuid>,
) -> Result<Vec<netswitch_ovsdb::Op>, String> {
    let br = bridges
        .get(&p.bridge)
        .ok_or_else(|| format!("no OVS bridge {}", p.bridge))?;
    let port = ports
        .get(&p.vnic.device)
        .ok_or_else(|| format!("no OVS port {}", p.vnic.device))?;
    Ok(vec![netswitch_ovsdb::Op::mutate(
        "Bridge",
        vec![Condition::uuid(br)],
        vec![Mutation::new(
            "ports",
            Mutator::Delete,
            set([port.to_json()]),
        )],
    )])
}
