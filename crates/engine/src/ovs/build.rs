//! Translating a plan's OVS ops into one OVSDB transaction against a fresh
//! read ([`build`]).

use std::collections::BTreeMap;

use netswitch_model::plan::OvsOp;
use netswitch_ovsdb::datum::{empty_set, named_uuid, set, str_map};
use netswitch_ovsdb::{row, Condition, Mutation, Mutator, Op, Row};
use netswitch_switch::ovs::MARK_KEY;
use serde_json::{json, Value};
use tracing::debug;

use super::link::Read;
use super::{interface_row, rebase_mappings, tag_datum, OvsSettings, MAPPINGS_KEY};

/// One OVS transaction built from the plan's ops and a fresh read.
#[derive(Default)]
pub(super) struct Built {
    pub(super) tx: Vec<Op>,
    pub(super) root_mutations: Vec<Mutation>,
    /// The index in `tx` of the `wait` guarding a read-modify-write.
    pub(super) guard: Option<usize>,
    /// (index in `tx` of a new Interface's insert, its MTU): sized by the
    /// second transaction, once ovs-vswitchd has created it (module doc of
    /// `ovs`).
    pub(super) sizes: Vec<(usize, u32)>,
    pub(super) added_ifaces: Vec<String>,
}

/// Translates the plan's OVS ops into one transaction against `now`.
pub(super) fn build(
    settings: &OvsSettings,
    ops: &[OvsOp],
    now: &Read,
    base_mappings: Option<&str>,
) -> Result<Built, String> {
    let mut b = Builder {
        settings,
        now,
        base_mappings,
        out: Built::default(),
        n: 0,
        new_bridges: BTreeMap::new(),
        port_ops: Vec::new(),
    };
    b.out
        .tx
        .push(Op::Comment(format!("netswitch: {} ops", ops.len())));
    for op in ops {
        b.op(op)?;
    }
    Ok(b.finish())
}

/// What [`build`] keeps while it walks the ops.
struct Builder<'a> {
    settings: &'a OvsSettings,
    now: &'a Read,
    base_mappings: Option<&'a str>,
    out: Built,
    /// The last number given to a named row.
    n: usize,
    /// New bridges collect their ports before being inserted.
    new_bridges: BTreeMap<String, (Row, Vec<Value>)>,
    /// Ops on existing rows, sent after every insert.
    port_ops: Vec<Op>,
}

impl Builder<'_> {
    fn next_name(&mut self, prefix: &str) -> String {
        self.n += 1;
        format!("{prefix}{}", self.n)
    }

    fn op(&mut self, op: &OvsOp) -> Result<(), String> {
        match op {
            OvsOp::AddBridge {
                name,
                mark,
                southbound,
            } => self.add_bridge(name, mark, southbound.as_deref()),
            OvsOp::DelBridge { name } => {
                let u = self.bridge(name, op)?;
                self.out.root_mutations.push(Mutation::new(
                    "bridges",
                    Mutator::Delete,
                    set([u.to_json()]),
                ));
                self.port_ops
                    .push(Op::delete("Bridge", vec![Condition::uuid(&u)]));
            }
            OvsOp::AddPort {
                bridge,
                name,
                tag,
                internal,
                mtu,
            } => self.add_port_to(bridge, name, *tag, *internal, *mtu, op)?,
            OvsOp::DelPort { bridge, name } => {
                let (Some(bu), Some(pu)) = (
                    self.now.bridge_uuid.get(bridge),
                    self.now.port_uuid.get(name),
                ) else {
                    return Err(format!("\"{op}\": no such port"));
                };
                self.port_ops.push(Op::mutate(
                    "Bridge",
                    vec![Condition::uuid(bu)],
                    vec![Mutation::new("ports", Mutator::Delete, set([pu.to_json()]))],
                ));
            }
            OvsOp::SetPort { name, tag, mtu } => self.set_port(name, *tag, *mtu, op)?,
            OvsOp::SetMappings { mappings } => self.set_mappings(mappings.as_deref())?,
        }
        Ok(())
    }

    fn bridge(&self, name: &str, op: &OvsOp) -> Result<netswitch_ovsdb::Uuid, String> {
        self.now
            .bridge_uuid
            .get(name)
            .cloned()
            .ok_or_else(|| format!("\"{op}\": no such bridge"))
    }

    /// Inserts a port with its interface (and, southbound, a `linux-noop`
    /// QoS row); returns the port's named uuid.
    fn add_port(
        &mut self,
        name: &str,
        tag: Option<u16>,
        internal: bool,
        mtu: Option<u32>,
    ) -> Value {
        let iname = self.next_name("i");
        let pname = self.next_name("p");
        if let Some(m) = mtu {
            self.out.sizes.push((self.out.tx.len(), m));
        }
        self.out.tx.push(Op::insert_named(
            "Interface",
            &iname,
            interface_row(name, internal),
        ));
        let mut prow = row([("name", json!(name)), ("interfaces", named_uuid(&iname))]);
        if tag.is_some() {
            prow.insert("tag".into(), tag_datum(tag));
        }
        if !internal {
            // The southbound's root qdisc is host QoS's (netswitch's tc):
            // without a QoS row ovs-vswitchd deletes a root qdisc it finds
            // there; `linux-noop` makes it leave the qdisc alone.
            let qname = self.next_name("q");
            self.out.tx.push(Op::insert_named(
                "QoS",
                &qname,
                row([("type", json!("linux-noop"))]),
            ));
            prow.insert("qos".into(), named_uuid(&qname));
        }
        self.out.tx.push(Op::insert_named("Port", &pname, prow));
        named_uuid(&pname)
    }

    fn add_bridge(&mut self, name: &str, mark: &str, southbound: Option<&str>) {
        let mut ports = vec![self.add_port(name, None, true, None)];
        if let Some(sb) = southbound {
            ports.push(self.add_port(sb, None, false, None));
            self.out.added_ifaces.push(sb.to_string());
        }
        let brow = row([
            ("name", json!(name)),
            ("datapath_type", json!(self.settings.datapath)),
            ("external_ids", str_map([(MARK_KEY, mark)])),
        ]);
        self.new_bridges.insert(name.to_string(), (brow, ports));
    }

    fn add_port_to(
        &mut self,
        bridge: &str,
        name: &str,
        tag: Option<u16>,
        internal: bool,
        mtu: Option<u32>,
        op: &OvsOp,
    ) -> Result<(), String> {
        let p = self.add_port(name, tag, internal, mtu);
        self.out.added_ifaces.push(name.to_string());
        if let Some((_, ports)) = self.new_bridges.get_mut(bridge) {
            ports.push(p);
            return Ok(());
        }
        let u = self.bridge(bridge, op)?;
        self.port_ops.push(Op::mutate(
            "Bridge",
            vec![Condition::uuid(&u)],
            vec![Mutation::new("ports", Mutator::Insert, set([p]))],
        ));
        Ok(())
    }

    fn set_port(
        &mut self,
        name: &str,
        tag: Option<u16>,
        mtu: Option<u32>,
        op: &OvsOp,
    ) -> Result<(), String> {
        let pu = self
            .now
            .port_uuid
            .get(name)
            .ok_or_else(|| format!("\"{op}\": no such port"))?;
        self.port_ops.push(Op::update(
            "Port",
            vec![Condition::uuid(pu)],
            row([("tag", tag_datum(tag))]),
        ));
        self.port_ops.push(Op::update(
            "Interface",
            vec![Condition::eq("name", json!(name))],
            row([("mtu_request", mtu.map_or_else(empty_set, |m| json!(m)))]),
        ));
        Ok(())
    }

    /// `ovn-bridge-mappings`: a read-modify-write of the root row's
    /// `external_ids`, guarded by a `wait` on what was read.
    fn set_mappings(&mut self, mappings: Option<&str>) -> Result<(), String> {
        let now = self.now;
        let root = now.root.as_ref().ok_or("no Open_vSwitch row")?;
        self.out.guard = Some(self.out.tx.len());
        self.out.tx.push(Op::unchanged(
            "Open_vSwitch",
            root,
            "external_ids",
            str_map(
                now.root_external_ids
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            ),
        ));
        let current = now.state.bridge_mappings.as_deref();
        let value = rebase_mappings(self.base_mappings, mappings, current);
        let muts = &mut self.out.root_mutations;
        muts.push(Mutation::new(
            "external_ids",
            Mutator::Delete,
            set([json!(MAPPINGS_KEY)]),
        ));
        if let Some(m) = value {
            muts.push(Mutation::new(
                "external_ids",
                Mutator::Insert,
                str_map([(MAPPINGS_KEY, m.as_str())]),
            ));
        }
        Ok(())
    }

    /// Inserts the new bridges with their ports, then the ops on existing
    /// rows.
    fn finish(mut self) -> Built {
        for (name, (mut brow, ports)) in std::mem::take(&mut self.new_bridges) {
            brow.insert("ports".into(), set(ports));
            let bname = self.next_name("b");
            self.out.tx.push(Op::insert_named("Bridge", &bname, brow));
            self.out.root_mutations.push(Mutation::new(
                "bridges",
                Mutator::Insert,
                set([named_uuid(&bname)]),
            ));
            debug!(bridge = %name, "new OVS bridge");
        }
        self.out.tx.append(&mut self.port_ops);
        self.out
    }
}
