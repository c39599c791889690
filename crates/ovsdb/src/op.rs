//! Typed transaction operations (RFC 7047 §5.2) and their results.
//!
//! Ops are built as values and encoded only when sent, so a planner can
//! produce a `Vec<Op>` without a connection and tests can compare them.

use serde_json::{json, Map, Value};

use crate::datum::Uuid;
use crate::Row;

/// A condition function (RFC 7047 §5.1 `<function>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `>=`
    Ge,
    /// `>`
    Gt,
    /// `includes` (set/map superset)
    Includes,
    /// `excludes` (set/map disjoint)
    Excludes,
}

impl Function {
    fn as_str(self) -> &'static str {
        match self {
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Eq => "==",
            Self::Ne => "!=",
            Self::Ge => ">=",
            Self::Gt => ">",
            Self::Includes => "includes",
            Self::Excludes => "excludes",
        }
    }
}

/// One `[column, function, value]` condition of a `where` clause.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    /// Column name (`_uuid` included).
    pub column: String,
    /// How to compare.
    pub function: Function,
    /// The datum to compare with, already in OVSDB JSON form.
    pub value: Value,
}

impl Condition {
    /// `column == value`, the common case.
    pub fn eq(column: &str, value: Value) -> Self {
        Self::new(column, Function::Eq, value)
    }

    /// `_uuid == uuid`: addresses exactly one row.
    pub fn uuid(uuid: &Uuid) -> Self {
        Self::eq("_uuid", uuid.to_json())
    }

    /// Any condition.
    pub fn new(column: &str, function: Function, value: Value) -> Self {
        Self {
            column: column.to_owned(),
            function,
            value,
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        json!([self.column, self.function.as_str(), self.value])
    }
}

/// A mutator (RFC 7047 §5.1 `<mutator>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutator {
    /// `+=`
    Add,
    /// `-=`
    Sub,
    /// `*=`
    Mul,
    /// `/=`
    Div,
    /// `%=`
    Mod,
    /// `insert` into a set or map (existing map keys keep their value)
    Insert,
    /// `delete` from a set, or from a map by key set or by key/value map
    Delete,
}

impl Mutator {
    fn as_str(self) -> &'static str {
        match self {
            Self::Add => "+=",
            Self::Sub => "-=",
            Self::Mul => "*=",
            Self::Div => "/=",
            Self::Mod => "%=",
            Self::Insert => "insert",
            Self::Delete => "delete",
        }
    }
}

/// One `[column, mutator, value]` mutation.
#[derive(Clone, Debug, PartialEq)]
pub struct Mutation {
    /// Column to mutate.
    pub column: String,
    /// How.
    pub mutator: Mutator,
    /// The operand datum, in OVSDB JSON form.
    pub value: Value,
}

impl Mutation {
    /// Builds a mutation.
    pub fn new(column: &str, mutator: Mutator, value: Value) -> Self {
        Self {
            column: column.to_owned(),
            mutator,
            value,
        }
    }

    fn to_json(&self) -> Value {
        json!([self.column, self.mutator.as_str(), self.value])
    }
}

/// What a `wait` op waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitUntil {
    /// The selected rows equal the given rows.
    Equal,
    /// The selected rows differ from the given rows.
    NotEqual,
}

/// One operation of a `transact` request.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Insert `row`; `uuid_name` lets later ops refer to it by
    /// `["named-uuid", name]`.
    Insert {
        /// Table name.
        table: String,
        /// Column values.
        row: Row,
        /// Name for `named-uuid` references within the transaction.
        uuid_name: Option<String>,
    },
    /// Read rows matching `conditions`.
    Select {
        /// Table name.
        table: String,
        /// `where` clause (empty: all rows).
        conditions: Vec<Condition>,
        /// Columns to return (`None`: all).
        columns: Option<Vec<String>>,
    },
    /// Set columns of matching rows.
    Update {
        /// Table name.
        table: String,
        /// `where` clause.
        conditions: Vec<Condition>,
        /// Columns to set.
        row: Row,
    },
    /// Mutate columns of matching rows in place (no read-modify-write race).
    Mutate {
        /// Table name.
        table: String,
        /// `where` clause.
        conditions: Vec<Condition>,
        /// Mutations to apply.
        mutations: Vec<Mutation>,
    },
    /// Delete matching rows.
    Delete {
        /// Table name.
        table: String,
        /// `where` clause.
        conditions: Vec<Condition>,
    },
    /// Abort (or block) unless the selected rows are (not) `rows`: the
    /// optimistic-concurrency guard.
    Wait {
        /// Table name.
        table: String,
        /// `where` clause.
        conditions: Vec<Condition>,
        /// Columns compared.
        columns: Vec<String>,
        /// Equality or inequality.
        until: WaitUntil,
        /// The expected rows (restricted to `columns`).
        rows: Vec<Row>,
        /// Milliseconds to block; `Some(0)` fails at once.
        timeout_ms: Option<u64>,
    },
    /// A comment recorded in the database log (shows in `ovsdb-tool show-log`).
    Comment(String),
}

impl Op {
    /// An insert without a uuid-name.
    pub fn insert(table: &str, row: Row) -> Self {
        Self::Insert {
            table: table.to_owned(),
            row,
            uuid_name: None,
        }
    }

    /// An insert others can reference as `["named-uuid", name]`.
    pub fn insert_named(table: &str, name: &str, row: Row) -> Self {
        Self::Insert {
            table: table.to_owned(),
            row,
            uuid_name: Some(name.to_owned()),
        }
    }

    /// The optimistic-concurrency guard of a read-modify-write: fails the
    /// transaction at once (error `timed out`) unless `column` of the row
    /// `uuid` still holds `value`, the datum the change was computed from.
    /// As the OVS IDL's `verify`, it compares the whole column, so a
    /// concurrent writer of any key of a map makes the caller re-read.
    pub fn unchanged(table: &str, uuid: &Uuid, column: &str, value: Value) -> Self {
        Self::Wait {
            table: table.to_owned(),
            conditions: vec![Condition::uuid(uuid)],
            columns: vec![column.to_owned()],
            until: WaitUntil::Equal,
            rows: vec![row([(column, value)])],
            timeout_ms: Some(0),
        }
    }

    /// A select of all columns.
    pub fn select(table: &str, conditions: Vec<Condition>) -> Self {
        Self::Select {
            table: table.to_owned(),
            conditions,
            columns: None,
        }
    }

    /// An update.
    pub fn update(table: &str, conditions: Vec<Condition>, row: Row) -> Self {
        Self::Update {
            table: table.to_owned(),
            conditions,
            row,
        }
    }

    /// A mutate.
    pub fn mutate(table: &str, conditions: Vec<Condition>, mutations: Vec<Mutation>) -> Self {
        Self::Mutate {
            table: table.to_owned(),
            conditions,
            mutations,
        }
    }

    /// A delete.
    pub fn delete(table: &str, conditions: Vec<Condition>) -> Self {
        Self::Delete {
            table: table.to_owned(),
            conditions,
        }
    }

    /// The op's RFC name, used in errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Insert { .. } => "insert",
            Self::Select { .. } => "select",
            Self::Update { .. } => "update",
            Self::Mutate { .. } => "mutate",
            Self::Delete { .. } => "delete",
            Self::Wait { .. } => "wait",
            Self::Comment(_) => "comment",
        }
    }

    /// The op in RFC 7047 JSON form.
    pub fn to_json(&self) -> Value {
        fn conds(c: &[Condition]) -> Value {
            Value::Array(c.iter().map(Condition::to_json).collect())
        }
        fn row_json(r: &Row) -> Value {
            Value::Object(r.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        }
        let mut o = Map::new();
        o.insert("op".into(), json!(self.name()));
        match self {
            Self::Insert {
                table,
                row,
                uuid_name,
            } => {
                o.insert("table".into(), json!(table));
                o.insert("row".into(), row_json(row));
                if let Some(n) = uuid_name {
                    o.insert("uuid-name".into(), json!(n));
                }
            }
            Self::Select {
                table,
                conditions,
                columns,
            } => {
                o.insert("table".into(), json!(table));
                o.insert("where".into(), conds(conditions));
                if let Some(c) = columns {
                    o.insert("columns".into(), json!(c));
                }
            }
            Self::Update {
                table,
                conditions,
                row,
            } => {
                o.insert("table".into(), json!(table));
                o.insert("where".into(), conds(conditions));
                o.insert("row".into(), row_json(row));
            }
            Self::Mutate {
                table,
                conditions,
                mutations,
            } => {
                o.insert("table".into(), json!(table));
                o.insert("where".into(), conds(conditions));
                o.insert(
                    "mutations".into(),
                    Value::Array(mutations.iter().map(Mutation::to_json).collect()),
                );
            }
            Self::Delete { table, conditions } => {
                o.insert("table".into(), json!(table));
                o.insert("where".into(), conds(conditions));
            }
            Self::Wait {
                table,
                conditions,
                columns,
                until,
                rows,
                timeout_ms,
            } => {
                o.insert("table".into(), json!(table));
                o.insert("where".into(), conds(conditions));
                o.insert("columns".into(), json!(columns));
                let until = match until {
                    WaitUntil::Equal => "==",
                    WaitUntil::NotEqual => "!=",
                };
                o.insert("until".into(), json!(until));
                o.insert(
                    "rows".into(),
                    Value::Array(rows.iter().map(row_json).collect()),
                );
                if let Some(t) = timeout_ms {
                    o.insert("timeout".into(), json!(t));
                }
            }
            Self::Comment(c) => {
                o.insert("comment".into(), json!(c));
            }
        }
        Value::Object(o)
    }
}

/// The result of one successful op.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpResult {
    /// The new row's UUID (insert).
    pub uuid: Option<Uuid>,
    /// The selected rows (select), each with `_uuid` and `_version`.
    pub rows: Option<Vec<Row>>,
    /// Rows affected (update, mutate, delete).
    pub count: Option<u64>,
}

/// Builds a [`Row`] from `(column, datum)` pairs; sugar for tests and
/// planners.
pub fn row<'a, I: IntoIterator<Item = (&'a str, Value)>>(cols: I) -> Row {
    cols.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datum::named_uuid;

    #[test]
    fn insert_with_uuid_name_encodes_per_rfc() {
        let op = Op::insert_named(
            "Port",
            "p",
            row([("name", json!("a")), ("interfaces", named_uuid("i"))]),
        );
        assert_eq!(
            op.to_json(),
            json!({"op": "insert", "table": "Port", "uuid-name": "p",
                   "row": {"interfaces": ["named-uuid", "i"], "name": "a"}})
        );
        let m = Op::mutate(
            "Bridge",
            vec![Condition::eq("name", json!("b"))],
            vec![Mutation::new(
                "external_ids",
                Mutator::Delete,
                json!(["set", ["k"]]),
            )],
        );
        assert_eq!(
            m.to_json(),
            json!({"op": "mutate", "table": "Bridge", "where": [["name", "==", "b"]],
                   "mutations": [["external_ids", "delete", ["set", ["k"]]]]})
        );
    }
}
