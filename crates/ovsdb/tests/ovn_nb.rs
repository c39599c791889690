//! The client and replica know no schema: here they serve OVN's northbound
//! database (`OVN_Northbound`, from Debian's ovn-central), on a private
//! ovsdb-server in a temp dir, never the system's service.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::OvsdbServer;
use netswitch_ovsdb::datum::{as_str_map, as_uuid_set, str_map};
use netswitch_ovsdb::{row, Client, Condition, Op, Row, TableMonitor, TableRow, Uuid};
use serde_json::json;

const NB_SCHEMA: &str = "/usr/share/ovn/ovn-nb.ovsschema";
const NB_DB: &str = "OVN_Northbound";

/// A typed `Logical_Switch` row, defined outside the crate as a user of the
/// OVN schema would.
#[derive(Debug, PartialEq)]
struct LogicalSwitch {
    uuid: Uuid,
    name: String,
    ports: Vec<Uuid>,
    external_ids: BTreeMap<String, String>,
}

impl TableRow for LogicalSwitch {
    const TABLE: &'static str = "Logical_Switch";

    fn from_row(uuid: &Uuid, row: &Row) -> Result<Self, String> {
        let bad = |c: &str| format!("column {c}");
        Ok(Self {
            uuid: uuid.clone(),
            name: row
                .get("name")
                .and_then(|v| v.as_str())
                .ok_or_else(|| bad("name"))?
                .to_owned(),
            ports: row
                .get("ports")
                .map_or(Some(Vec::new()), as_uuid_set)
                .ok_or_else(|| bad("ports"))?,
            external_ids: row
                .get("external_ids")
                .map_or(Some(BTreeMap::new()), as_str_map)
                .ok_or_else(|| bad("external_ids"))?,
        })
    }
}

#[test]
fn a_logical_switch_inserted_shows_in_the_replica_typed() {
    let srv = OvsdbServer::start_schema(NB_SCHEMA, None);
    let c = Client::connect(&srv.addr()).unwrap();
    assert!(c.list_dbs().unwrap().contains(&NB_DB.to_string()));
    // monitor_cond: diffs applied with the column kinds of this schema.
    c.monitor_cond(
        NB_DB,
        &[TableMonitor::columns(
            "Logical_Switch",
            &["name", "ports", "external_ids"],
        )],
    )
    .unwrap();
    assert!(c.replica().rows::<LogicalSwitch>().is_empty());

    let res = c
        .transact(
            NB_DB,
            &[Op::insert(
                "Logical_Switch",
                row([
                    ("name", json!("ls0")),
                    ("external_ids", str_map([("owner", "netswitch-test")])),
                ]),
            )],
        )
        .unwrap();
    let uuid = res[0].uuid.clone().expect("inserted uuid");
    // Visible on return: the update precedes the transact reply.
    let ls: LogicalSwitch = c.replica().get(&uuid).expect("in the replica");
    assert_eq!(ls.name, "ls0");
    assert_eq!(ls.external_ids["owner"], "netswitch-test");
    assert!(ls.ports.is_empty());

    // A change by another client arrives as a diff.
    let other = Client::connect(&srv.addr()).unwrap();
    other
        .transact(
            NB_DB,
            &[Op::update(
                "Logical_Switch",
                vec![Condition::uuid(&uuid)],
                row([("external_ids", str_map([("owner", "someone-else")]))]),
            )],
        )
        .unwrap();
    c.wait_for(Duration::from_secs(30), |r| {
        r.get::<LogicalSwitch>(&uuid).is_some_and(|l| {
            l.external_ids.get("owner").map(String::as_str) == Some("someone-else")
        })
    })
    .unwrap();

    other
        .transact(
            NB_DB,
            &[Op::delete("Logical_Switch", vec![Condition::uuid(&uuid)])],
        )
        .unwrap();
    c.wait_for(Duration::from_secs(30), |r| {
        r.rows::<LogicalSwitch>().is_empty()
    })
    .unwrap();
}
