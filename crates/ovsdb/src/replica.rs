//! The in-memory copy of monitored tables, kept current by monitor updates.
//! Schema-agnostic: tables and columns are whatever the monitors asked for;
//! typed views come from [`TableRow`].
//!
//! Modelled on the OVS IDL: the server pushes the initial contents and every
//! later change, so readers never poll and never race a half-applied
//! transaction (one `update` notification carries one whole commit).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::datum::{map_entries, set_elements, Uuid};
use crate::Row;

/// A typed view of one table's rows, for any schema: the vswitch tables
/// ([`crate::vswitch`]) implement it, and so can OVN's (a test decodes
/// `OVN_Northbound`'s `Logical_Switch` this way).
pub trait TableRow: Sized {
    /// The table the rows come from.
    const TABLE: &'static str;
    /// Decodes a replica or select row (only the columns present); errs
    /// naming the bad column.
    fn from_row(uuid: &Uuid, row: &Row) -> Result<Self, String>;
}

/// Monitored tables, `table -> uuid -> row`.
///
/// Rows hold only the monitored columns, as the server encoded them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Replica {
    /// The rows, by table name then row UUID.
    pub tables: BTreeMap<String, BTreeMap<Uuid, Row>>,
}

impl Replica {
    /// One row, if present.
    pub fn row(&self, table: &str, uuid: &Uuid) -> Option<&Row> {
        self.tables.get(table)?.get(uuid)
    }

    /// Whether the row is present.
    pub fn contains(&self, table: &str, uuid: &Uuid) -> bool {
        self.row(table, uuid).is_some()
    }

    /// Every row of `T`'s table, decoded; rows that do not decode are
    /// skipped with a warning (a schema drift must not blind the agent to
    /// the other rows).
    pub fn rows<T: TableRow>(&self) -> Vec<T> {
        self.decode(T::TABLE, T::from_row)
    }

    /// The row `uuid` of `T`'s table, decoded; `None` if absent or if it
    /// does not decode.
    pub fn get<T: TableRow>(&self, uuid: &Uuid) -> Option<T> {
        T::from_row(uuid, self.row(T::TABLE, uuid)?).ok()
    }

    pub(crate) fn decode<T>(&self, table: &str, f: fn(&Uuid, &Row) -> Result<T, String>) -> Vec<T> {
        let Some(rows) = self.tables.get(table) else {
            return Vec::new();
        };
        rows.iter()
            .filter_map(|(u, r)| match f(u, r) {
                Ok(v) => Some(v),
                Err(e) => {
                    tracing::warn!(table, uuid = %u, error = %e, "undecodable row skipped");
                    None
                }
            })
            .collect()
    }

    /// Replaces `tables` with the contents of a monitor reply
    /// (`<table-updates>`): used for the initial state so a re-sent monitor
    /// after reconnect drops rows deleted while we were away.
    pub(crate) fn reset(&mut self, tables: &[String], updates: &Value) -> Result<(), String> {
        for t in tables {
            self.tables.insert(t.clone(), BTreeMap::new());
        }
        self.apply(updates)
    }

    /// Applies a `<table-updates>` object (RFC 7047 §4.1.6): `new` present
    /// means insert or modify (it carries every monitored column), absent
    /// means delete.
    pub(crate) fn apply(&mut self, updates: &Value) -> Result<(), String> {
        let tables = updates
            .as_object()
            .ok_or_else(|| format!("table-updates is not an object: {updates}"))?;
        for (table, rows) in tables {
            let rows = rows
                .as_object()
                .ok_or_else(|| format!("table-update for {table} is not an object"))?;
            let dest = self.tables.entry(table.clone()).or_default();
            for (uuid, upd) in rows {
                let uuid = Uuid(uuid.clone());
                match upd.get("new") {
                    Some(Value::Object(new)) => {
                        let row: Row = new.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                        dest.insert(uuid, row);
                    }
                    Some(other) => return Err(format!("{table} {uuid}: new is {other}")),
                    None => {
                        dest.remove(&uuid);
                    }
                }
            }
        }
        Ok(())
    }
}

/// How a column's `modify` diff applies (ovsdb-server(7), `update2`): known
/// only from the schema, since a bare atom could be a scalar or a
/// one-element set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    /// At most one atom (scalar or optional, e.g. `Port.tag`): the diff is
    /// the new value (`["set", []]` when cleared), as ovsdb-server sends it.
    Scalar,
    /// A set that may hold several atoms: the diff is toggled in.
    Set,
    /// A map: each diff pair inserts, deletes (same value) or replaces.
    Map,
}

/// Column kinds per table, from [`column_kinds`].
pub type ColumnKinds = BTreeMap<String, BTreeMap<String, ColumnKind>>;

/// Reads every column's kind out of a `get_schema` reply.
pub fn column_kinds(schema: &Value) -> Result<ColumnKinds, String> {
    let tables = schema
        .get("tables")
        .and_then(Value::as_object)
        .ok_or("schema has no tables")?;
    let mut out = ColumnKinds::new();
    for (t, def) in tables {
        let cols = def
            .get("columns")
            .and_then(Value::as_object)
            .ok_or_else(|| format!("schema table {t} has no columns"))?;
        let kinds = out.entry(t.clone()).or_default();
        // Implicit columns, sent when a monitor asks for all columns.
        kinds.insert("_uuid".into(), ColumnKind::Scalar);
        kinds.insert("_version".into(), ColumnKind::Scalar);
        for (c, cdef) in cols {
            let ty = cdef
                .get("type")
                .ok_or_else(|| format!("{t}.{c} has no type"))?;
            let kind = match ty {
                Value::Object(o) if o.contains_key("value") => ColumnKind::Map,
                Value::Object(o) => {
                    // "max" absent means 1; "unlimited" is not a number.
                    let max = o.get("max").map_or(Some(1), Value::as_u64);
                    if max == Some(1) {
                        ColumnKind::Scalar
                    } else {
                        ColumnKind::Set
                    }
                }
                _ => ColumnKind::Scalar,
            };
            kinds.insert(c.clone(), kind);
        }
    }
    Ok(out)
}

/// Encodes set elements the way the server does: a bare atom for one.
fn encode_set(mut items: Vec<Value>) -> Value {
    if items.len() == 1 {
        items.remove(0)
    } else {
        serde_json::json!(["set", items])
    }
}

/// Above this many element comparisons a set diff goes through an index of
/// the old elements: 1000 ports added to a logical switch that has 9000
/// would otherwise cost 10^7 comparisons (and as many shifts) in the
/// reader thread, which every reader of the replica waits behind.
const INDEX_ABOVE: usize = 4096;

/// Toggles each of `diff` in `items` (an `update2` set diff: present goes,
/// absent comes), keyed by the elements' JSON text. Order is kept as the
/// linear way keeps it: survivors in place, newcomers at the end.
fn toggle_indexed(items: Vec<Value>, diff: &[&Value]) -> Vec<Value> {
    let mut slots: Vec<Option<Value>> = items.into_iter().map(Some).collect();
    let mut at: std::collections::HashMap<String, usize> = slots
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.as_ref().map(|v| (v.to_string(), i)))
        .collect();
    for d in diff {
        let key = d.to_string();
        match at.remove(&key) {
            Some(i) => slots[i] = None,
            None => {
                at.insert(key, slots.len());
                slots.push(Some((*d).clone()));
            }
        }
    }
    slots.into_iter().flatten().collect()
}

fn apply_diff(kind: ColumnKind, old: Option<&Value>, diff: &Value) -> Result<Value, String> {
    match kind {
        ColumnKind::Scalar => Ok(diff.clone()),
        ColumnKind::Set => {
            let mut items: Vec<Value> = match old {
                Some(o) => set_elements(o)
                    .ok_or_else(|| format!("old value {o} is not a set"))?
                    .into_iter()
                    .cloned()
                    .collect(),
                None => Vec::new(),
            };
            let diff = set_elements(diff).ok_or_else(|| format!("set diff {diff} malformed"))?;
            if items.len() * diff.len() > INDEX_ABOVE {
                items = toggle_indexed(items, &diff);
            } else {
                for d in diff {
                    match items.iter().position(|x| x == d) {
                        Some(i) => {
                            items.remove(i);
                        }
                        None => items.push(d.clone()),
                    }
                }
            }
            Ok(encode_set(items))
        }
        ColumnKind::Map => {
            let mut pairs: Vec<(Value, Value)> = match old {
                Some(o) => map_entries(o)
                    .ok_or_else(|| format!("old value {o} is not a map"))?
                    .into_iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                None => Vec::new(),
            };
            for (k, v) in map_entries(diff).ok_or_else(|| format!("map diff {diff} malformed"))? {
                match pairs.iter().position(|(ok, _)| ok == k) {
                    Some(i) if &pairs[i].1 == v => {
                        pairs.remove(i);
                    }
                    Some(i) => pairs[i].1 = v.clone(),
                    None => pairs.push((k.clone(), v.clone())),
                }
            }
            Ok(crate::datum::map(pairs))
        }
    }
}

impl Replica {
    /// Like `reset`, for a `monitor_cond` reply (`<table-updates2>`).
    pub(crate) fn reset2(
        &mut self,
        tables: &[String],
        updates: &Value,
        kinds: &ColumnKinds,
    ) -> Result<(), String> {
        for t in tables {
            self.tables.insert(t.clone(), BTreeMap::new());
        }
        self.apply2(updates, kinds)
    }

    /// Applies `<table-updates2>`: `initial`/`insert` carry the row,
    /// `modify` carries per-column diffs, `delete` removes.
    pub(crate) fn apply2(&mut self, updates: &Value, kinds: &ColumnKinds) -> Result<(), String> {
        let tables = updates
            .as_object()
            .ok_or_else(|| format!("table-updates2 is not an object: {updates}"))?;
        for (table, rows) in tables {
            let rows = rows
                .as_object()
                .ok_or_else(|| format!("table-update2 for {table} is not an object"))?;
            let dest = self.tables.entry(table.clone()).or_default();
            for (uuid, upd) in rows {
                let uuid = Uuid(uuid.clone());
                let as_row = |v: &Value| -> Result<Row, String> {
                    v.as_object()
                        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                        .ok_or_else(|| format!("{table} {uuid}: row is {v}"))
                };
                if let Some(r) = upd.get("initial").or_else(|| upd.get("insert")) {
                    dest.insert(uuid.clone(), as_row(r)?);
                } else if let Some(diff) = upd.get("modify") {
                    let diff = as_row(diff)?;
                    let row = dest.entry(uuid.clone()).or_default();
                    for (col, d) in &diff {
                        let kind = kinds
                            .get(table)
                            .and_then(|t| t.get(col))
                            .copied()
                            .ok_or_else(|| format!("{table}.{col} not in schema"))?;
                        let new = apply_diff(kind, row.get(col), d)
                            .map_err(|e| format!("{table} {uuid} {col}: {e}"))?;
                        row.insert(col.clone(), new);
                    }
                } else if upd.get("delete").is_some() {
                    dest.remove(&uuid);
                } else {
                    return Err(format!("{table} {uuid}: unknown row-update2 {upd}"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn updates_insert_modify_and_delete_rows() {
        let mut r = Replica::default();
        r.reset(
            &["Bridge".into()],
            &json!({"Bridge": {"u1": {"new": {"name": "a"}}}}),
        )
        .unwrap();
        r.apply(
            &json!({"Bridge": {"u1": {"old": {"name": "a"}, "new": {"name": "b"}},
                                   "u2": {"new": {"name": "c"}}}}),
        )
        .unwrap();
        assert_eq!(
            r.row("Bridge", &Uuid("u1".into())).unwrap()["name"],
            json!("b")
        );
        r.apply(&json!({"Bridge": {"u2": {"old": {"name": "c"}}}}))
            .unwrap();
        assert!(!r.contains("Bridge", &Uuid("u2".into())));
        assert!(r.apply(&json!([1])).is_err());
    }

    /// The indexed way and the linear way agree, order included, on a
    /// diff that removes some, adds some and repeats one.
    #[test]
    fn big_set_diffs_toggle_like_small_ones() {
        let uuid = |i: u32| json!(["uuid", format!("{i:08x}-0000-0000-0000-000000000000")]);
        let old: Vec<Value> = (0..3000).map(uuid).collect();
        let mut diff: Vec<Value> = (2900..3100).map(uuid).collect();
        diff.push(uuid(7));
        diff.push(uuid(3050)); // added above, so removed again
        let refs: Vec<&Value> = diff.iter().collect();
        let fast = toggle_indexed(old.clone(), &refs);
        let mut slow = old;
        for d in &diff {
            match slow.iter().position(|x| x == d) {
                Some(i) => {
                    slow.remove(i);
                }
                None => slow.push(d.clone()),
            }
        }
        assert_eq!(fast, slow);
        assert_eq!(fast.len(), 3000 - 100 - 1 + 99);
        let whole = apply_diff(
            ColumnKind::Set,
            Some(&json!(["set", (0..3000).map(uuid).collect::<Vec<_>>()])),
            &json!(["set", diff]),
        )
        .unwrap();
        assert_eq!(whole, json!(["set", slow]));
    }

    #[test]
    fn update2_diffs_toggle_sets_and_patch_maps() {
        let schema = json!({"tables": {"Port": {"columns": {
            "name": {"type": "string"},
            "tag": {"type": {"key": "integer", "min": 0, "max": 1}},
            "trunks": {"type": {"key": "integer", "min": 0, "max": 4096}},
            "external_ids": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}}}}}});
        let kinds = column_kinds(&schema).unwrap();
        assert_eq!(kinds["Port"]["tag"], ColumnKind::Scalar);
        assert_eq!(kinds["Port"]["trunks"], ColumnKind::Set);
        assert_eq!(kinds["Port"]["name"], ColumnKind::Scalar);
        let mut r = Replica::default();
        r.reset2(
            &["Port".into()],
            &json!({"Port": {"u": {"initial": {
            "name": "p", "tag": 10, "trunks": ["set", [1, 2]],
            "external_ids": ["map", [["a", "1"], ["b", "2"]]]}}}}),
            &kinds,
        )
        .unwrap();
        r.apply2(
            &json!({"Port": {"u": {"modify": {
            "name": "q", "tag": 20, "trunks": 2,
            "external_ids": ["map", [["a", "1"], ["b", "3"], ["c", "4"]]]}}}}),
            &kinds,
        )
        .unwrap();
        let row = r.row("Port", &Uuid("u".into())).unwrap();
        assert_eq!(row["name"], json!("q"));
        assert_eq!(row["tag"], json!(20));
        assert_eq!(row["trunks"], json!(1));
        assert_eq!(
            row["external_ids"],
            json!(["map", [["b", "3"], ["c", "4"]]])
        );
        r.apply2(&json!({"Port": {"u": {"delete": null}}}), &kinds)
            .unwrap();
        assert!(!r.contains("Port", &Uuid("u".into())));
    }
}
