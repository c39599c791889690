//! Where a resource's Neutron id lives in its row, and the guard that makes
//! a create safe to re-send.
//!
//! Ids are made here (version 4 UUIDs) before the transaction, not taken
//! from the new row's uuid: after a leader's death the outcome of a create
//! is learnt from the replica, which can find a row by an id it stores but
//! cannot tell which row a lost reply named. The keys follow
//! networking-ovn where it has one (`subnet_id` on DHCP_Options,
//! `neutron:security_group_rule_id` on ACLs); a switch stores
//! `neutron:network_id`, since its `name` keeps the Neutron name as
//! ovirt-provider-ovn has it. Rows without the key (made by
//! ovirt-provider-ovn, `ovn-nbctl`, or this provider before it stored ids)
//! keep their row uuid as id.

use netswitch_ovsdb::datum::str_map;
use netswitch_ovsdb::{Condition, Function, Op, Replica, Row, Uuid};
use serde_json::json;

use crate::nb::{key, rows, s};

/// A table whose rows carry their Neutron id in `external_ids:KEY`.
#[derive(Clone, Copy, Debug)]
pub struct IdKey {
    /// The table.
    pub table: &'static str,
    /// The `external_ids` key.
    pub key: &'static str,
}

/// Networks.
pub const NETWORK: IdKey = IdKey {
    table: "Logical_Switch",
    key: "neutron:network_id",
};
/// Subnets.
pub const SUBNET: IdKey = IdKey {
    table: "DHCP_Options",
    key: "subnet_id",
};
/// Security groups (a Port_Group's `name` is derived from the id).
pub const SECURITY_GROUP: IdKey = IdKey {
    table: "Port_Group",
    key: "neutron:security_group_id",
};
/// Routers.
pub const ROUTER: IdKey = IdKey {
    table: "Logical_Router",
    key: "neutron:router_id",
};
/// Security group rules.
pub const RULE: IdKey = IdKey {
    table: "ACL",
    key: "neutron:security_group_rule_id",
};

impl IdKey {
    /// The Neutron id of a row: the stored one, else the row uuid.
    pub fn id_of<'a>(&self, u: &'a Uuid, r: &'a Row) -> &'a str {
        key(r, "external_ids", self.key).unwrap_or(&u.0)
    }

    /// The row whose Neutron id is `id`.
    pub fn find<'a>(&self, rep: &'a Replica, id: &str) -> Option<(&'a Uuid, &'a Row)> {
        rows(rep, self.table).find(|(u, r)| self.id_of(u, r) == id)
    }

    /// The guard of a create of `id`.
    pub fn guard(&self, id: &str) -> Guard {
        Guard {
            table: self.table,
            ext: vec![(self.key, id.to_owned())],
            cols: Vec::new(),
        }
    }
}

/// "No row of `table` has this id yet": the first op of a create's
/// transaction (so a re-send after a commit whose reply was lost fails
/// instead of making the rows twice), and, read on the replica, the test
/// of whether an earlier attempt committed. A row matches when it has
/// every `external_ids` pair and every string column value given.
#[derive(Clone, Debug)]
pub struct Guard {
    table: &'static str,
    ext: Vec<(&'static str, String)>,
    cols: Vec<(&'static str, String)>,
}

impl Guard {
    /// The guard of a row named `name` (ports are named by their id).
    pub fn name(table: &'static str, name: &str) -> Self {
        Self::columns(table, &[("name", name)])
    }

    /// The guard of a row with these string column values.
    pub fn columns(table: &'static str, cols: &[(&'static str, &str)]) -> Self {
        Self {
            table,
            ext: Vec::new(),
            cols: cols.iter().map(|(c, v)| (*c, (*v).to_owned())).collect(),
        }
    }

    /// The wait op that fails if the row exists.
    pub fn op(&self) -> Op {
        let ext = self.ext.iter().map(|(k, v)| {
            Condition::new(
                "external_ids",
                Function::Includes,
                str_map([(*k, v.as_str())]),
            )
        });
        let cols = (self.cols.iter()).map(|(c, v)| Condition::new(c, Function::Eq, json!(v)));
        Op::absent(self.table, ext.chain(cols).collect())
    }

    /// Whether the row is in `rep`.
    pub fn holds(&self, rep: &Replica) -> bool {
        rows(rep, self.table).any(|(_, r)| {
            self.ext
                .iter()
                .all(|(k, v)| key(r, "external_ids", k) == Some(v.as_str()))
                && self.cols.iter().all(|(c, v)| s(r, c) == v)
        })
    }
}
