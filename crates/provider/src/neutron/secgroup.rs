//! Security groups as Port_Groups (named `pg_<id>`, so ACLs can say
//! `@pg_<id>` and northd makes the `$pg_<id>_ip4` address sets remote
//! groups use) with one stateful `allow-related` ACL per rule (id = the
//! ACL's row uuid). A port in any group is also in `neutron_pg_drop`, whose
//! lower-priority ACLs drop the rest of its IP traffic. Each project gets a
//! `default` group on first need, with Neutron's default rules.

use std::collections::HashMap;

use netswitch_ovsdb::datum::{named_uuid, set, str_map};
use netswitch_ovsdb::{row, Condition, Mutation, Mutator, Op, Row, Uuid};
use serde_json::{json, Value};

use super::attrs::{self, Obj};
use super::ident::{RULE, SECURITY_GROUP};
use super::network::set_map_keys;
use super::rule::{self, Rule};
use super::{Created, Ctx, Plan};
use crate::error::ApiError;
use crate::ids;
use crate::nb::{key, rows, s, uuids};

const PG: &str = "Port_Group";
const RES: &str = "security_group";
/// The group of every secured port, holding the drop ACLs.
pub const DROP_PG: &str = "neutron_pg_drop";

/// A group a port joins: committed, or inserted by this plan.
#[derive(Clone, Debug)]
pub enum PgRef {
    /// A committed row.
    Row(Uuid),
    /// The insert op at this index of the plan.
    Planned(usize),
}

/// The Port_Group name of group `id`.
pub fn pg_name(id: &str) -> String {
    format!("pg_{}", id.replace('-', "_"))
}

/// The security group id of a Port_Group row, if it is one.
fn sg_id(r: &Row) -> Option<&str> {
    key(r, "external_ids", "neutron:security_group_id")
}

/// Group `id`, or 404.
pub fn find<'a>(c: &Ctx<'a>, id: &str) -> Result<(&'a Uuid, &'a Row), ApiError> {
    rows(c.r, PG)
        .find(|(_, r)| sg_id(r) == Some(id))
        .ok_or_else(|| ApiError::not_found("SecurityGroupNotFound", "Security group", id))
}

/// Port row uuid to the ids of its groups.
pub fn groups_of_ports(c: &Ctx) -> HashMap<Uuid, Vec<String>> {
    let mut m: HashMap<Uuid, Vec<String>> = HashMap::new();
    for (_, r) in rows(c.r, PG) {
        if let Some(id) = sg_id(r) {
            for p in uuids(r, "ports") {
                m.entry(p).or_default().push(id.to_owned());
            }
        }
    }
    m
}

/// Every group.
pub fn list(c: &Ctx) -> Vec<Value> {
    rows(c.r, PG)
        .filter(|(_, r)| sg_id(r).is_some())
        .map(|(_, r)| render(c, r))
        .collect()
}

/// One group.
pub fn show(c: &Ctx, id: &str) -> Result<Value, ApiError> {
    find(c, id).map(|(_, r)| render(c, r))
}

fn render(c: &Ctx, r: &Row) -> Value {
    let id = sg_id(r).unwrap_or_default();
    let ext = |k: &str| key(r, "external_ids", k);
    let project = ext("neutron:project_id").unwrap_or(c.project);
    let rules: Vec<Value> = uuids(r, "acls")
        .iter()
        .filter_map(|u| c.r.row("ACL", u).map(|a| rule::render(c, u, a)))
        .filter(|v| !v.is_null())
        .collect();
    json!({
        "id": id, "name": ext("neutron:security_group_name").unwrap_or_default(),
        "description": ext("neutron:description").unwrap_or_default(),
        "tenant_id": project, "project_id": project, "security_group_rules": rules,
        "stateful": true, "shared": false, "tags": [], "revision_number": 0,
        "created_at": ext("neutron:created_at"), "updated_at": ext("neutron:created_at"),
    })
}

/// Inserts a group with `rules`; returns the op index and its id.
fn insert(c: &Ctx, p: &mut Plan, name: &str, desc: &str, default_rules: bool) -> (usize, String) {
    let id = ids::uuid4();
    p.guard(SECURITY_GROUP.guard(&id));
    let pg = pg_name(&id);
    let mut acls = Vec::new();
    if default_rules {
        for (dir, eth, remote) in [
            ("egress", "IPv4", None),
            ("egress", "IPv6", None),
            ("ingress", "IPv4", Some(id.clone())),
            ("ingress", "IPv6", Some(id.clone())),
        ] {
            let r = Rule {
                direction: dir.into(),
                ethertype: eth.into(),
                remote_group: remote,
                ..Rule::default()
            };
            let n = p.name("acl");
            p.push(Op::insert_named("ACL", &n, r.acl(&id, &pg, c.project)));
            acls.push(named_uuid(&n));
        }
    }
    let now = ids::iso8601(ids::now());
    let ext = [
        ("neutron:security_group_id", id.as_str()),
        ("neutron:security_group_name", name),
        ("neutron:description", desc),
        ("neutron:project_id", c.project),
        ("neutron:created_at", now.as_str()),
    ];
    let r = row([
        ("name", json!(pg)),
        ("acls", set(acls)),
        ("external_ids", str_map(ext)),
    ]);
    let n = p.name("pg");
    (p.push(Op::insert_named(PG, &n, r)), id)
}

/// Plans a group create (with Neutron's two egress rules).
pub fn create(c: &Ctx, p: &mut Plan, o: &Obj) -> Result<(), ApiError> {
    attrs::only(
        RES,
        o,
        &[
            "name",
            "description",
            "tenant_id",
            "project_id",
            "stateful",
            "tags",
        ],
    )?;
    if attrs::boolean(RES, o, "stateful")? == Some(false) {
        return Err(ApiError::bad(
            "stateful of security_group: only stateful groups are served",
        ));
    }
    let name = attrs::name(RES, o, "name")?.unwrap_or_default();
    let desc = attrs::string(RES, o, "description")?.unwrap_or_default();
    let (i, id) = insert(c, p, &name, &desc, false);
    let pg = pg_name(&id);
    for eth in ["IPv4", "IPv6"] {
        let r = Rule {
            direction: "egress".into(),
            ethertype: eth.into(),
            ..Rule::default()
        };
        let n = p.name("acl");
        p.push(Op::insert_named("ACL", &n, r.acl(&id, &pg, c.project)));
        add_to_insert(p, i, "acls", named_uuid(&n));
    }
    p.created.push(Created::Id(id));
    Ok(())
}

/// Adds `v` to set column `col` of the insert at `i`.
pub(super) fn add_to_insert(p: &mut Plan, i: usize, col: &str, v: Value) {
    if let Some(Op::Insert { row, .. }) = p.ops.get_mut(i) {
        let mut items: Vec<Value> = row
            .get(col)
            .and_then(|x| {
                x.as_array()
                    .and_then(|a| a.get(1))
                    .and_then(Value::as_array)
                    .cloned()
            })
            .unwrap_or_default();
        items.push(v);
        row.insert(col.to_owned(), set(items));
    }
}

/// Plans a group update (name, description).
pub fn update(c: &Ctx, p: &mut Plan, id: &str, o: &Obj) -> Result<(), ApiError> {
    let (u, _) = find(c, id)?;
    attrs::only(RES, o, &["name", "description", "stateful"])?;
    let mut kv = Vec::new();
    if let Some(n) = attrs::name(RES, o, "name")? {
        kv.push(("neutron:security_group_name".into(), n));
    }
    if let Some(d) = attrs::string(RES, o, "description")? {
        kv.push(("neutron:description".into(), d));
    }
    p.ops.extend(set_map_keys(PG, u, "external_ids", &kv));
    Ok(())
}

/// Plans a group delete: refused while ports are in it (its ACLs go with
/// the row).
pub fn delete(c: &Ctx, p: &mut Plan, id: &str) -> Result<(), ApiError> {
    let (u, r) = find(c, id)?;
    if !uuids(r, "ports").is_empty() {
        return Err(ApiError::conflict(
            "SecurityGroupInUse",
            format!("Security Group {id} in use."),
        ));
    }
    p.push(Op::delete(PG, vec![Condition::uuid(u)]));
    Ok(())
}

/// The groups a port joins: those named (each must exist), else the
/// project's default group when the port is secured.
pub fn resolve(
    c: &Ctx,
    p: &mut Plan,
    ids: Option<Vec<String>>,
    secured: bool,
) -> Result<Vec<PgRef>, ApiError> {
    match ids {
        Some(l) if !secured && !l.is_empty() => Err(ApiError::conflict(
            "PortSecurityAndIPRequiredForSecurityGroups",
            "security_groups need port_security_enabled on the port",
        )),
        _ if !secured => Ok(Vec::new()),
        Some(l) => l
            .iter()
            .map(|id| find(c, id).map(|(u, _)| PgRef::Row(u.clone())))
            .collect(),
        None => Ok(vec![default_group(c, p)]),
    }
}

/// The project's `default` group, inserted by this plan if missing.
fn default_group(c: &Ctx, p: &mut Plan) -> PgRef {
    let found = rows(c.r, PG).find(|(_, r)| {
        key(r, "external_ids", "neutron:security_group_name") == Some("default")
            && key(r, "external_ids", "neutron:project_id") == Some(c.project)
    });
    if let Some((u, _)) = found {
        return PgRef::Row(u.clone());
    }
    if let Some(i) = p.memo.get("default-sg") {
        return PgRef::Planned(*i);
    }
    let (i, _) = insert(c, p, "default", "Default security group", true);
    p.memo.insert("default-sg".into(), i);
    PgRef::Planned(i)
}

/// The drop group, inserted by this plan if missing.
fn drop_group(c: &Ctx, p: &mut Plan) -> PgRef {
    if let Some((u, _)) = rows(c.r, PG).find(|(_, r)| s(r, "name") == DROP_PG) {
        return PgRef::Row(u.clone());
    }
    if let Some(i) = p.memo.get("drop-pg") {
        return PgRef::Planned(*i);
    }
    let mut acls = Vec::new();
    for (dir, port) in [("from-lport", "inport"), ("to-lport", "outport")] {
        let n = p.name("acl");
        p.push(Op::insert_named(
            "ACL",
            &n,
            row([
                ("direction", json!(dir)),
                ("priority", json!(1001)),
                ("action", json!("drop")),
                ("match", json!(format!("{port} == @{DROP_PG} && ip"))),
            ]),
        ));
        acls.push(named_uuid(&n));
    }
    let n = p.name("pg");
    let i = p.push(Op::insert_named(
        PG,
        &n,
        row([("name", json!(DROP_PG)), ("acls", set(acls))]),
    ));
    p.memo.insert("drop-pg".into(), i);
    PgRef::Planned(i)
}

/// Ops that put port `lsp` (a uuid or named-uuid) in `groups` and, if any,
/// in the drop group.
pub fn join(c: &Ctx, p: &mut Plan, groups: &[PgRef], lsp: Value) {
    if groups.is_empty() {
        return;
    }
    let mut all = groups.to_vec();
    all.push(drop_group(c, p));
    for g in all {
        match g {
            PgRef::Planned(i) => add_to_insert(p, i, "ports", lsp.clone()),
            PgRef::Row(u) => {
                p.push(Op::mutate(
                    PG,
                    vec![Condition::uuid(&u)],
                    vec![Mutation::new("ports", Mutator::Insert, set([lsp.clone()]))],
                ));
            }
        }
    }
}

/// Ops that take port row `u` out of every group.
pub fn leave_all(c: &Ctx, p: &mut Plan, u: &Uuid) {
    for (g, r) in rows(c.r, PG) {
        if uuids(r, "ports").contains(u) {
            p.push(Op::mutate(
                PG,
                vec![Condition::uuid(g)],
                vec![Mutation::new("ports", Mutator::Delete, set([u.to_json()]))],
            ));
        }
    }
}

/// Every rule.
pub fn list_rules(c: &Ctx) -> Vec<Value> {
    rows(c.r, "ACL")
        .map(|(u, a)| rule::render(c, u, a))
        .filter(|v| !v.is_null())
        .collect()
}

/// One rule.
pub fn show_rule(c: &Ctx, id: &str) -> Result<Value, ApiError> {
    RULE.find(c.r, id)
        .map(|(u, a)| rule::render(c, u, a))
        .filter(|v| !v.is_null())
        .ok_or_else(|| ApiError::not_found("SecurityGroupRuleNotFound", "Security group rule", id))
}

/// Plans a rule create: one ACL in its group.
pub fn create_rule(c: &Ctx, p: &mut Plan, o: &Obj) -> Result<(), ApiError> {
    let r = rule::parse(o)?;
    let sg = r.group.clone();
    let (pg_u, pg) = find(c, &sg)?;
    if let Some(g) = &r.remote_group {
        find(c, g)?;
    }
    let dup = uuids(pg, "acls")
        .iter()
        .filter_map(|u| c.r.row("ACL", u))
        .any(|a| Rule::from_acl(a).as_ref() == Some(&r));
    if dup {
        return Err(ApiError::conflict(
            "SecurityGroupRuleExists",
            format!("Security group rule already exists in group {sg}."),
        ));
    }
    let n = p.name("acl");
    let id = ids::uuid4();
    let mut acl = r.acl(&sg, &pg_name(&sg), c.project);
    rule::set_id(&mut acl, &id);
    p.guard(RULE.guard(&id));
    p.push(Op::insert_named("ACL", &n, acl));
    p.push(Op::mutate(
        PG,
        vec![Condition::uuid(pg_u)],
        vec![Mutation::new(
            "acls",
            Mutator::Insert,
            set([named_uuid(&n)]),
        )],
    ));
    p.created.push(Created::Id(id));
    Ok(())
}

/// Plans a rule delete.
pub fn delete_rule(c: &Ctx, p: &mut Plan, id: &str) -> Result<(), ApiError> {
    show_rule(c, id)?;
    let Some((u, _)) = RULE.find(c.r, id) else {
        return Ok(());
    };
    for (g, r) in rows(c.r, PG) {
        if uuids(r, "acls").contains(u) {
            p.push(Op::mutate(
                PG,
                vec![Condition::uuid(g)],
                vec![Mutation::new("acls", Mutator::Delete, set([u.to_json()]))],
            ));
        }
    }
    Ok(())
}
