//! The OVS backend: reads what OVS carries into the host snapshot and sends
//! a plan's OVS ops to OVSDB as one transaction (DESIGN §5.5), then waits
//! until ovs-vswitchd has carried it out, as `ovs-vsctl` does, so the
//! kernel ops that follow find the internal ports.
//!
//! New interfaces are inserted without `mtu_request`, which a second, small
//! transaction sets once ovs-vswitchd has created them. Asked to size an
//! interface it has not created yet, ovs-vswitchd 3.1 fails (`failed to set
//! MTU ... No such device`), remembers the failure and then takes 2–4× as
//! long to add each port: 0.5 s instead of 0.15 s per internal port under
//! TCG (docs/benchmarks.md, "what changed").

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use netswitch_model::host::{OvsBridge, OvsPort, OvsState};
use netswitch_model::plan::OvsOp;
use netswitch_ovsdb::datum::{as_optional_i64, empty_set, named_uuid, set, str_map};
use netswitch_ovsdb::vswitch::selected_uuid;
use netswitch_ovsdb::{
    row, Client, Condition, Mutation, Mutator, OpResult, Row, TableMonitor, Uuid, VSWITCH_DB,
};
use netswitch_switch::ovs::MARK_KEY;
use serde_json::{json, Value};
use tracing::{debug, info_span};

/// Where OVS is and how netswitch's bridges are made.
#[derive(Debug, Clone)]
pub struct OvsSettings {
    /// The OVSDB address (`unix:PATH` or `tcp:HOST:PORT`).
    pub db: String,
    /// `datapath_type` of the bridges netswitch creates: `system` (the
    /// kernel datapath) or `netdev` (userspace, for hosts without the
    /// openvswitch module).
    pub datapath: String,
    /// How long to wait for ovs-vswitchd to carry out a transaction.
    pub timeout: Duration,
}

impl Default for OvsSettings {
    fn default() -> Self {
        Self {
            db: "unix:/run/openvswitch/db.sock".into(),
            datapath: "system".into(),
            timeout: Duration::from_secs(30),
        }
    }
}

/// The key of `Open_vSwitch.external_ids` OVN reads physical networks from.
const MAPPINGS_KEY: &str = "ovn-bridge-mappings";

type Rows = Vec<Row>;

/// The columns [`read`] uses, per table. Only these: the whole Interface
/// table (statistics, status, ...) is several times larger, and ovsdb-server
/// encodes it on every read (three per setup).
const READ_COLUMNS: [(&str, &[&str]); 4] = [
    ("Open_vSwitch", &["_uuid", "external_ids"]),
    (
        "Bridge",
        &["_uuid", "name", "datapath_type", "external_ids", "ports"],
    ),
    (
        "Port",
        &["_uuid", "name", "interfaces", "tag", "external_ids"],
    ),
    (
        "Interface",
        &["_uuid", "name", "type", "mtu_request", "error"],
    ),
];

fn select_all(c: &Client) -> Result<[Rows; 4], netswitch_ovsdb::Error> {
    let ops: Vec<netswitch_ovsdb::Op> = READ_COLUMNS
        .iter()
        .map(|(table, columns)| netswitch_ovsdb::Op::Select {
            table: (*table).into(),
            conditions: vec![],
            columns: Some(columns.iter().map(|c| (*c).to_string()).collect()),
        })
        .collect();
    let res = c.transact(VSWITCH_DB, &ops)?;
    let mut it = res.into_iter().map(|r| r.rows.unwrap_or_default());
    Ok([
        it.next().unwrap_or_default(),
        it.next().unwrap_or_default(),
        it.next().unwrap_or_default(),
        it.next().unwrap_or_default(),
    ])
}

fn str_col(r: &Row, c: &str) -> String {
    r.get(c)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn map_col(r: &Row, c: &str) -> BTreeMap<String, String> {
    r.get(c)
        .and_then(netswitch_ovsdb::datum::as_str_map)
        .unwrap_or_default()
}

fn uuids_col(r: &Row, c: &str) -> Vec<Uuid> {
    r.get(c)
        .and_then(netswitch_ovsdb::datum::as_uuid_set)
        .unwrap_or_default()
}

/// OVS's state in the host model, plus the row UUIDs a transaction needs.
struct Read {
    state: OvsState,
    root: Option<Uuid>,
    bridge_uuid: BTreeMap<String, Uuid>,
    port_uuid: BTreeMap<String, Uuid>,
}

fn read(c: &Client) -> Result<Read, netswitch_ovsdb::Error> {
    let [root, bridges, ports, ifaces] = select_all(c)?;
    let iface_by_uuid: BTreeMap<Uuid, &Row> = ifaces
        .iter()
        .filter_map(|r| Some((selected_uuid(r)?, r)))
        .collect();
    let port_by_uuid: BTreeMap<Uuid, &Row> = ports
        .iter()
        .filter_map(|r| Some((selected_uuid(r)?, r)))
        .collect();
    let mut out = Read {
        state: OvsState::default(),
        root: root.first().and_then(selected_uuid),
        bridge_uuid: BTreeMap::new(),
        port_uuid: BTreeMap::new(),
    };
    out.state.bridge_mappings = root
        .first()
        .and_then(|r| map_col(r, "external_ids").get(MAPPINGS_KEY).cloned());
    for b in &bridges {
        let name = str_col(b, "name");
        let mut br = OvsBridge {
            name: name.clone(),
            datapath_type: str_col(b, "datapath_type"),
            external_ids: map_col(b, "external_ids"),
            ports: BTreeMap::new(),
        };
        for pu in uuids_col(b, "ports") {
            let Some(p) = port_by_uuid.get(&pu) else {
                continue;
            };
            let pname = str_col(p, "name");
            let iface = uuids_col(p, "interfaces")
                .first()
                .and_then(|u| iface_by_uuid.get(u).copied());
            let tag = p
                .get("tag")
                .and_then(as_optional_i64)
                .flatten()
                .and_then(|t| u16::try_from(t).ok());
            let port = OvsPort {
                name: pname.clone(),
                tag,
                internal: iface.is_some_and(|i| str_col(i, "type") == "internal"),
                mtu_request: iface
                    .and_then(|i| i.get("mtu_request"))
                    .and_then(as_optional_i64)
                    .flatten()
                    .and_then(|m| u32::try_from(m).ok()),
                external_ids: map_col(p, "external_ids"),
                error: iface
                    .and_then(|i| i.get("error"))
                    .and_then(netswitch_ovsdb::datum::as_optional_str)
                    .flatten(),
            };
            out.port_uuid.insert(pname.clone(), pu);
            br.ports.insert(pname, port);
        }
        if let Some(u) = selected_uuid(b) {
            out.bridge_uuid.insert(name.clone(), u);
        }
        out.state.bridges.insert(name, br);
    }
    Ok(out)
}

/// Reads OVS's bridges and ports; an unreachable database is code 32.
pub fn read_state(settings: &OvsSettings) -> Result<OvsState, netswitch_ovsdb::Error> {
    let _span = info_span!("ovs_read", db = %settings.db).entered();
    let c = Client::connect_with_timeout(&settings.db, settings.timeout)?;
    Ok(read(&c)?.state)
}

/// A new Interface row; its `mtu_request` comes later (module doc).
fn interface_row(name: &str, internal: bool) -> Row {
    let mut r = row([("name", json!(name))]);
    if internal {
        r.insert("type".into(), json!("internal"));
    }
    r
}

fn tag_datum(tag: Option<u16>) -> Value {
    match tag {
        Some(t) => json!(t),
        None => empty_set(),
    }
}

/// Sends `ops` (all OVS ops) as one transaction and waits for ovs-vswitchd
/// to carry it out; then, if it added interfaces with an MTU, a second
/// transaction that sets their `mtu_request` (module doc), and the same
/// wait; then checks that every interface it added opened. Errs with a
/// message naming the op or interface at fault. Should the second
/// transaction fail, the new interfaces stay unsized: the caller's rollback,
/// which plans from the host read back, removes them with the rest.
pub fn apply(settings: &OvsSettings, ops: &[OvsOp]) -> Result<(), String> {
    let _span = info_span!("ovs_apply", ops = ops.len()).entered();
    let started = Instant::now();
    let c =
        Client::connect_with_timeout(&settings.db, settings.timeout).map_err(|e| e.to_string())?;
    let now = read(&c).map_err(|e| e.to_string())?;
    let root = now
        .root
        .clone()
        .ok_or("the OVS database has no Open_vSwitch row (run ovs-vsctl init)")?;
    let mut tx: Vec<netswitch_ovsdb::Op> = vec![netswitch_ovsdb::Op::Comment(format!(
        "netswitch: {} ops",
        ops.len()
    ))];
    let mut n = 0usize;
    let mut next_name = |prefix: &str| {
        n += 1;
        format!("{prefix}{n}")
    };
    // New bridges collect their ports before being inserted.
    let mut new_bridges: BTreeMap<String, (Row, Vec<Value>)> = BTreeMap::new();
    let mut added_ifaces: Vec<String> = Vec::new();
    let mut root_mutations: Vec<Mutation> = Vec::new();
    let mut port_ops = Vec::new();
    // (index in `tx` of a new Interface's insert, its MTU): sized by the
    // second transaction, once ovs-vswitchd has created it (module doc).
    let mut sizes: Vec<(usize, u32)> = Vec::new();
    let mut add_port = |tx: &mut Vec<netswitch_ovsdb::Op>,
                        next: &mut dyn FnMut(&str) -> String,
                        name: &str,
                        tag: Option<u16>,
                        internal: bool,
                        mtu: Option<u32>|
     -> Value {
        let iname = next("i");
        let pname = next("p");
        if let Some(m) = mtu {
            sizes.push((tx.len(), m));
        }
        tx.push(netswitch_ovsdb::Op::insert_named(
            "Interface",
            &iname,
            interface_row(name, internal),
        ));
        let mut prow = row([("name", json!(name)), ("interfaces", named_uuid(&iname))]);
        if tag.is_some() {
            prow.insert("tag".into(), tag_datum(tag));
        }
        tx.push(netswitch_ovsdb::Op::insert_named("Port", &pname, prow));
        named_uuid(&pname)
    };
    for op in ops {
        match op {
            OvsOp::AddBridge {
                name,
                mark,
                southbound,
            } => {
                let mut ports = vec![add_port(&mut tx, &mut next_name, name, None, true, None)];
                if let Some(sb) = southbound {
                    ports.push(add_port(&mut tx, &mut next_name, sb, None, false, None));
                    added_ifaces.push(sb.clone());
                }
                let brow = row([
                    ("name", json!(name)),
                    ("datapath_type", json!(settings.datapath)),
                    ("external_ids", str_map([(MARK_KEY, mark.as_str())])),
                ]);
                new_bridges.insert(name.clone(), (brow, ports));
            }
            OvsOp::DelBridge { name } => {
                let u = now
                    .bridge_uuid
                    .get(name)
                    .ok_or_else(|| format!("\"{op}\": no such bridge"))?;
                root_mutations.push(Mutation::new(
                    "bridges",
                    Mutator::Delete,
                    set([u.to_json()]),
                ));
                port_ops.push(netswitch_ovsdb::Op::delete(
                    "Bridge",
                    vec![Condition::uuid(u)],
                ));
            }
            OvsOp::AddPort {
                bridge,
                name,
                tag,
                internal,
                mtu,
            } => {
                let p = add_port(&mut tx, &mut next_name, name, *tag, *internal, *mtu);
                added_ifaces.push(name.clone());
                if let Some((_, ports)) = new_bridges.get_mut(bridge) {
                    ports.push(p);
                } else {
                    let u = now
                        .bridge_uuid
                        .get(bridge)
                        .ok_or_else(|| format!("\"{op}\": no such bridge"))?;
                    port_ops.push(netswitch_ovsdb::Op::mutate(
                        "Bridge",
                        vec![Condition::uuid(u)],
                        vec![Mutation::new("ports", Mutator::Insert, set([p]))],
                    ));
                }
            }
            OvsOp::DelPort { bridge, name } => {
                let (Some(bu), Some(pu)) = (now.bridge_uuid.get(bridge), now.port_uuid.get(name))
                else {
                    return Err(format!("\"{op}\": no such port"));
                };
                port_ops.push(netswitch_ovsdb::Op::mutate(
                    "Bridge",
                    vec![Condition::uuid(bu)],
                    vec![Mutation::new("ports", Mutator::Delete, set([pu.to_json()]))],
                ));
            }
            OvsOp::SetPort { name, tag, mtu } => {
                let pu = now
                    .port_uuid
                    .get(name)
                    .ok_or_else(|| format!("\"{op}\": no such port"))?;
                port_ops.push(netswitch_ovsdb::Op::update(
                    "Port",
                    vec![Condition::uuid(pu)],
                    row([("tag", tag_datum(*tag))]),
                ));
                port_ops.push(netswitch_ovsdb::Op::update(
                    "Interface",
                    vec![Condition::eq("name", json!(name))],
                    row([("mtu_request", mtu.map_or_else(empty_set, |m| json!(m)))]),
                ));
            }
            OvsOp::SetMappings { mappings } => {
                root_mutations.push(Mutation::new(
                    "external_ids",
                    Mutator::Delete,
                    set([json!(MAPPINGS_KEY)]),
                ));
                if let Some(m) = mappings {
                    root_mutations.push(Mutation::new(
                        "external_ids",
                        Mutator::Insert,
                        str_map([(MAPPINGS_KEY, m.as_str())]),
                    ));
                }
            }
        }
    }
    for (name, (mut brow, ports)) in new_bridges {
        brow.insert("ports".into(), set(ports));
        let bname = next_name("b");
        tx.push(netswitch_ovsdb::Op::insert_named("Bridge", &bname, brow));
        root_mutations.push(Mutation::new(
            "bridges",
            Mutator::Insert,
            set([named_uuid(&bname)]),
        ));
        debug!(bridge = %name, "new OVS bridge");
    }
    tx.extend(port_ops);
    // Pushed, not polled: ovs-vswitchd's `cur_cfg` reaches the replica as
    // soon as it is written, and nothing wakes ovsdb-server meanwhile.
    c.monitor(
        VSWITCH_DB,
        &[TableMonitor::columns("Open_vSwitch", &["cur_cfg"])],
    )
    .map_err(|e| format!("OVSDB monitor: {e}"))?;
    // One wait for both transactions: `settings.timeout` in all.
    let wait = Wait {
        deadline: started + settings.timeout,
        timeout: settings.timeout,
    };
    let res = commit(&c, &root, tx, root_mutations, &wait)?;
    if !sizes.is_empty() {
        let mut resize = vec![netswitch_ovsdb::Op::Comment(format!(
            "netswitch: MTU of {} new interfaces",
            sizes.len()
        ))];
        for (at, mtu) in &sizes {
            let u = res
                .get(*at)
                .and_then(|r| r.uuid.as_ref())
                .ok_or("OVSDB transaction: no UUID for an inserted interface")?;
            resize.push(netswitch_ovsdb::Op::update(
                "Interface",
                vec![Condition::uuid(u)],
                row([("mtu_request", json!(mtu))]),
            ));
        }
        commit(&c, &root, resize, Vec::new(), &wait)?;
    }
    check_interfaces(&c, &added_ifaces)?;
    debug!(elapsed = ?started.elapsed(), "OVS transaction carried out");
    Ok(())
}

/// How long ovs-vswitchd may take: until `deadline`, `timeout` after the
/// start (for the message).
struct Wait {
    deadline: Instant,
    timeout: Duration,
}

/// Sends `tx` with `root_mutations` and a `next_cfg` increment on the root
/// row, then waits for ovs-vswitchd to carry it out. Returns the
/// transaction's results (index for index with `tx`).
fn commit(
    c: &Client,
    root: &Uuid,
    mut tx: Vec<netswitch_ovsdb::Op>,
    mut root_mutations: Vec<Mutation>,
    wait: &Wait,
) -> Result<Vec<OpResult>, String> {
    root_mutations.push(Mutation::new("next_cfg", Mutator::Add, json!(1)));
    tx.push(netswitch_ovsdb::Op::mutate(
        "Open_vSwitch",
        vec![Condition::uuid(root)],
        root_mutations,
    ));
    tx.push(netswitch_ovsdb::Op::Select {
        table: "Open_vSwitch".into(),
        conditions: vec![Condition::uuid(root)],
        columns: Some(vec!["next_cfg".into()]),
    });
    let res = c
        .transact(VSWITCH_DB, &tx)
        .map_err(|e| format!("OVSDB transaction: {e}"))?;
    let next_cfg = res
        .last()
        .and_then(|r| r.rows.as_ref())
        .and_then(|rows| rows.first())
        .and_then(|r| r.get("next_cfg"))
        .and_then(Value::as_i64)
        .ok_or("OVSDB transaction: no next_cfg in the reply")?;
    wait_for_cfg(c, root, next_cfg, wait)?;
    Ok(res)
}

/// Waits until ovs-vswitchd reports `cur_cfg >= next_cfg`: it has
/// reconfigured with the transaction. `c` monitors `cur_cfg`.
fn wait_for_cfg(c: &Client, root: &Uuid, next_cfg: i64, wait: &Wait) -> Result<(), String> {
    let cur = |r: &netswitch_ovsdb::Replica| {
        r.row("Open_vSwitch", root)
            .and_then(|row| row.get("cur_cfg"))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    };
    loop {
        // In slices, to notice a lost connection (no update ever comes then).
        let left = wait.deadline.saturating_duration_since(Instant::now());
        match c.wait_for(left.min(CONNECTION_CHECK), |r| cur(r) >= next_cfg) {
            Ok(()) => return Ok(()),
            Err(netswitch_ovsdb::Error::ReplicaTimeout { .. }) if !left.is_zero() => {
                if !c.is_connected() {
                    return Err(format!(
                        "lost the OVSDB connection while waiting for ovs-vswitchd (cur_cfg {}, want {next_cfg})",
                        c.with_replica(cur)
                    ));
                }
            }
            Err(netswitch_ovsdb::Error::ReplicaTimeout { .. }) => {
                return Err(format!(
                    "ovs-vswitchd did not carry out the transaction within {:?} (cur_cfg {}, want {next_cfg}); is it running?",
                    wait.timeout,
                    c.with_replica(cur)
                ))
            }
            Err(other) => return Err(format!("waiting for ovs-vswitchd: {other}")),
        }
    }
}

/// How often a wait for ovs-vswitchd checks that the connection is up.
const CONNECTION_CHECK: Duration = Duration::from_secs(1);

/// Fails naming the first added interface OVS could not open.
fn check_interfaces(c: &Client, names: &[String]) -> Result<(), String> {
    if names.is_empty() {
        return Ok(());
    }
    let res = c
        .transact(
            VSWITCH_DB,
            &[netswitch_ovsdb::Op::Select {
                table: "Interface".into(),
                conditions: vec![],
                columns: Some(vec!["name".into(), "error".into(), "ofport".into()]),
            }],
        )
        .map_err(|e| e.to_string())?;
    let rows = res.first().and_then(|r| r.rows.clone()).unwrap_or_default();
    for r in rows {
        let name = str_col(&r, "name");
        if !names.contains(&name) {
            continue;
        }
        let err = r
            .get("error")
            .and_then(netswitch_ovsdb::datum::as_optional_str)
            .flatten();
        if let Some(e) = err {
            return Err(format!("OVS could not add interface {name}: {e}"));
        }
    }
    Ok(())
}
