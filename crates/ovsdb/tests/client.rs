//! The client against a real, private ovsdb-server with the vswitch schema.

mod common;

use std::time::Duration;

use common::{free_port, OvsdbServer};
use netswitch_ovsdb::datum::{empty_set, named_uuid, set, str_map};
use netswitch_ovsdb::vswitch::selected_uuid;
use netswitch_ovsdb::{
    row, Bridge, Client, Condition, Error, Interface, Mutation, Mutator, Op, Port, TableMonitor,
    TableRow, Uuid, WaitUntil, VSWITCH_DB,
};
use serde_json::json;

/// Ops creating bridge `br` with one internal port `net` tagged `tag`,
/// hung off the (possibly new) root row.
fn add_bridge_ops(client: &Client, br: &str, net: &str, tag: i64) -> Vec<Op> {
    let mut ops = Vec::new();
    let root = client
        .transact(VSWITCH_DB, &[Op::select("Open_vSwitch", vec![])])
        .expect("select root")
        .remove(0)
        .rows
        .unwrap_or_default();
    ops.push(Op::insert_named(
        "Interface",
        "iface",
        row([
            ("name", json!(net)),
            ("type", json!("internal")),
            ("mtu_request", json!(1400)),
        ]),
    ));
    ops.push(Op::insert_named(
        "Port",
        "port",
        row([
            ("name", json!(net)),
            ("interfaces", named_uuid("iface")),
            ("tag", json!(tag)),
            ("external_ids", str_map([("netswitch-net", net)])),
        ]),
    ));
    ops.push(Op::insert_named(
        "Bridge",
        "br",
        row([
            ("name", json!(br)),
            ("ports", set([named_uuid("port")])),
            (
                "external_ids",
                str_map([("owner", "netswitch"), ("southbound", "eth0")]),
            ),
        ]),
    ));
    match root.first().and_then(selected_uuid) {
        Some(u) => ops.push(Op::mutate(
            "Open_vSwitch",
            vec![Condition::uuid(&u)],
            vec![Mutation::new(
                "bridges",
                Mutator::Insert,
                set([named_uuid("br")]),
            )],
        )),
        None => ops.push(Op::insert(
            "Open_vSwitch",
            row([("bridges", set([named_uuid("br")]))]),
        )),
    }
    ops.push(Op::Comment(format!("netswitch: add {br}")));
    ops
}

#[test]
fn list_dbs_and_schema_show_the_vswitch_database() {
    let srv = OvsdbServer::start();
    let c = Client::connect(&srv.addr()).unwrap();
    assert!(c.list_dbs().unwrap().iter().any(|d| d == "Open_vSwitch"));
    let schema = c.get_schema(VSWITCH_DB).unwrap();
    assert!(schema["tables"].get("Bridge").is_some());
    assert_eq!(schema["name"], "Open_vSwitch");
    let e = c.get_schema("Nope").unwrap_err();
    assert!(matches!(e, Error::Rpc { .. }), "{e}");
}

#[test]
fn bridge_port_and_internal_interface_round_trip() {
    let srv = OvsdbServer::start();
    let c = Client::connect(&srv.addr()).unwrap();
    let ops = add_bridge_ops(&c, "vdsmbr_test1", "tn", 100);
    let res = c.transact(VSWITCH_DB, &ops).unwrap();
    assert_eq!(res.len(), ops.len());
    let br_uuid = res[2].uuid.clone().expect("bridge uuid");

    // Select it back, typed.
    let sel = c
        .transact(
            VSWITCH_DB,
            &[
                Op::select("Bridge", vec![Condition::eq("name", json!("vdsmbr_test1"))]),
                Op::select("Port", vec![Condition::eq("name", json!("tn"))]),
                Op::select("Interface", vec![Condition::eq("name", json!("tn"))]),
            ],
        )
        .unwrap();
    let brow = &sel[0].rows.as_ref().unwrap()[0];
    let br = Bridge::from_row(&selected_uuid(brow).unwrap(), brow).unwrap();
    assert_eq!(br.uuid, br_uuid);
    assert_eq!(br.external_ids["owner"], "netswitch");
    let prow = &sel[1].rows.as_ref().unwrap()[0];
    let port = Port::from_row(&selected_uuid(prow).unwrap(), prow).unwrap();
    assert_eq!(br.ports, vec![port.uuid.clone()]);
    assert_eq!(port.tag, Some(100));
    assert_eq!(port.external_ids["netswitch-net"], "tn");
    let irow = &sel[2].rows.as_ref().unwrap()[0];
    let iface = Interface::from_row(&selected_uuid(irow).unwrap(), irow).unwrap();
    assert_eq!(port.interfaces, vec![iface.uuid.clone()]);
    assert_eq!(iface.type_, "internal");
    assert_eq!(iface.mtu_request, Some(1400));

    // Mutate external_ids: add a key, delete another; clear the tag.
    let res = c
        .transact(
            VSWITCH_DB,
            &[
                Op::mutate(
                    "Bridge",
                    vec![Condition::uuid(&br_uuid)],
                    vec![
                        Mutation::new("external_ids", Mutator::Insert, str_map([("gen", "2")])),
                        Mutation::new("external_ids", Mutator::Delete, set([json!("southbound")])),
                    ],
                ),
                Op::update(
                    "Port",
                    vec![Condition::uuid(&port.uuid)],
                    row([("tag", empty_set())]),
                ),
            ],
        )
        .unwrap();
    assert_eq!(res[0].count, Some(1));
    assert_eq!(res[1].count, Some(1));
    let sel = c
        .transact(
            VSWITCH_DB,
            &[Op::select("Bridge", vec![Condition::uuid(&br_uuid)])],
        )
        .unwrap();
    let brow = &sel[0].rows.as_ref().unwrap()[0];
    let br = Bridge::from_row(&br_uuid, brow).unwrap();
    assert_eq!(br.external_ids.get("gen").map(String::as_str), Some("2"));
    assert!(!br.external_ids.contains_key("southbound"));

    // Delete: unhook from the root; port and interface go by garbage
    // collection (they are not root tables).
    let root = c
        .transact(VSWITCH_DB, &[Op::select("Open_vSwitch", vec![])])
        .unwrap()[0]
        .rows
        .clone()
        .unwrap();
    let root_uuid = selected_uuid(&root[0]).unwrap();
    let res = c
        .transact(
            VSWITCH_DB,
            &[
                Op::mutate(
                    "Open_vSwitch",
                    vec![Condition::uuid(&root_uuid)],
                    vec![Mutation::new(
                        "bridges",
                        Mutator::Delete,
                        set([br_uuid.to_json()]),
                    )],
                ),
                Op::delete("Bridge", vec![Condition::uuid(&br_uuid)]),
            ],
        )
        .unwrap();
    assert_eq!(res[1].count, Some(1));
    let sel = c
        .transact(
            VSWITCH_DB,
            &[
                Op::select("Bridge", vec![]),
                Op::select("Port", vec![]),
                Op::select("Interface", vec![]),
            ],
        )
        .unwrap();
    for r in &sel {
        assert_eq!(r.rows.as_ref().map(Vec::len), Some(0), "{sel:?}");
    }
}

#[test]
fn a_failing_op_names_its_index_and_the_server_error() {
    let srv = OvsdbServer::start();
    let c = Client::connect(&srv.addr()).unwrap();
    // Op 1 fails at execution: a column that does not exist.
    let err = c
        .transact(
            VSWITCH_DB,
            &[
                Op::Comment("first".into()),
                Op::insert("Bridge", row([("no_such_column", json!(1))])),
            ],
        )
        .unwrap_err();
    match &err {
        Error::Op {
            index, op, error, ..
        } => {
            assert_eq!((*index, op.as_str()), (1, "insert"));
            assert_eq!(error, "unknown column");
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(err.code(), 29);

    // Commit-time failure: a Port referencing a missing Interface row.
    let missing = Uuid("00000000-0000-0000-0000-000000000001".into());
    let err = c
        .transact(
            VSWITCH_DB,
            &[Op::insert(
                "Port",
                row([("name", json!("p")), ("interfaces", missing.to_json())]),
            )],
        )
        .unwrap_err();
    match &err {
        Error::Op {
            index,
            op,
            error,
            details,
            ..
        } => {
            assert_eq!((*index, op.as_str()), (1, "commit"), "{err}");
            assert_eq!(error, "referential integrity violation");
            assert!(details.is_some());
        }
        other => panic!("unexpected {other}"),
    }

    // A failed `wait` guard (the bridge it expects is absent) aborts at op 0.
    let err = c
        .transact(
            VSWITCH_DB,
            &[
                Op::Wait {
                    table: "Bridge".into(),
                    conditions: vec![Condition::eq("name", json!("vdsmbr_x"))],
                    columns: vec!["name".into()],
                    until: WaitUntil::Equal,
                    rows: vec![row([("name", json!("vdsmbr_x"))])],
                    timeout_ms: Some(0),
                },
                Op::insert("Bridge", row([("name", json!("vdsmbr_x"))])),
            ],
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::Op { index: 0, op, error, .. } if op == "wait" && error == "timed out"),
        "{err}"
    );

    // Constraint violation: tag out of 0..4095.
    let err = c
        .transact(
            VSWITCH_DB,
            &[Op::insert(
                "Port",
                row([("name", json!("p")), ("tag", json!(5000))]),
            )],
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::Op { index: 0, error, .. } if error == "constraint violation"),
        "{err}"
    );
}

#[test]
fn monitor_replica_follows_inserts_updates_and_deletes() {
    let srv = OvsdbServer::start();
    let c = Client::connect(&srv.addr()).unwrap();
    let other = Client::connect(&srv.addr()).unwrap();
    c.monitor(
        VSWITCH_DB,
        &[
            TableMonitor::all("Open_vSwitch"),
            TableMonitor::all("Bridge"),
            TableMonitor::columns("Port", &["name", "tag", "interfaces"]),
            TableMonitor::columns("Interface", &["name", "type"]),
        ],
    )
    .unwrap();
    assert!(c.replica().bridges().is_empty());

    // Our own transaction: visible when transact returns (the server flushes
    // monitor updates before the reply).
    let res = c
        .transact(VSWITCH_DB, &add_bridge_ops(&c, "vdsmbr_mon", "n1", 10))
        .unwrap();
    let br_uuid = res[2].uuid.clone().unwrap();
    let r = c.replica();
    assert_eq!(
        r.bridges().len(),
        1,
        "transact_is_visible_in_the_replica_on_return"
    );
    assert_eq!(r.ports()[0].tag, Some(10));
    assert_eq!(r.interfaces()[0].type_, "internal");
    assert_eq!(r.open_vswitch().unwrap().bridges, vec![br_uuid.clone()]);

    // Another client's update arrives asynchronously.
    other
        .transact(
            VSWITCH_DB,
            &[Op::update(
                "Port",
                vec![Condition::eq("name", json!("n1"))],
                row([("tag", json!(20))]),
            )],
        )
        .unwrap();
    c.wait_for(Duration::from_secs(5), |r| {
        r.ports().first().and_then(|p| p.tag) == Some(20)
    })
    .unwrap();

    // Delete: the bridge and (garbage-collected) port and interface vanish.
    let root = c.replica().open_vswitch().unwrap().uuid;
    other
        .transact(
            VSWITCH_DB,
            &[Op::mutate(
                "Open_vSwitch",
                vec![Condition::uuid(&root)],
                vec![Mutation::new(
                    "bridges",
                    Mutator::Delete,
                    set([br_uuid.to_json()]),
                )],
            )],
        )
        .unwrap();
    c.wait_for(Duration::from_secs(5), |r| {
        r.bridges().is_empty() && r.ports().is_empty() && r.interfaces().is_empty()
    })
    .unwrap();
}

#[test]
fn echo_is_answered_both_ways() {
    // Over TCP the server probes an idle client after 5 s and drops it if
    // the echo goes unanswered for another 5 s.
    let port = free_port();
    let srv = OvsdbServer::start_with(Some(format!("ptcp:{port}:127.0.0.1")));
    let addr = format!("tcp:127.0.0.1:{port}");
    let mut c = None;
    for _ in 0..50 {
        match Client::connect(&addr) {
            Ok(x) => {
                c = Some(x);
                break;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    let c = c.expect("tcp connect");
    assert_eq!(c.echo(json!(["ping", 1])).unwrap(), json!(["ping", 1]));
    std::thread::sleep(Duration::from_secs(12));
    assert!(c.echoes_answered() >= 1, "server never probed");
    assert!(c.is_connected());
    assert!(c.list_dbs().is_ok());
    drop(srv);
}

#[test]
fn an_unreachable_database_is_code_32_naming_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("unix:{}/nothing.sock", dir.path().display());
    let err = Client::connect(&addr).err().expect("must fail");
    assert_eq!(err.code(), 32);
    assert!(err.to_string().contains(&addr), "{err}");
    let port = free_port();
    let err = Client::connect(&format!("tcp:127.0.0.1:{port}"))
        .err()
        .expect("must fail");
    assert_eq!(err.code(), 32);
}

#[test]
fn reconnect_after_a_server_restart_resends_monitors() {
    let mut srv = OvsdbServer::start();
    let c = Client::connect(&srv.addr()).unwrap();
    c.monitor(
        VSWITCH_DB,
        &[
            TableMonitor::all("Bridge"),
            TableMonitor::all("Open_vSwitch"),
        ],
    )
    .unwrap();
    c.transact(VSWITCH_DB, &add_bridge_ops(&c, "vdsmbr_a", "na", 1))
        .unwrap();
    assert_eq!(c.replica().bridges().len(), 1);

    srv.kill();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while c.is_connected() {
        assert!(std::time::Instant::now() < deadline, "drop never noticed");
        std::thread::sleep(Duration::from_millis(20));
    }
    let err = c.list_dbs().unwrap_err();
    assert_eq!(err.code(), 32, "{err}");
    let err = c.reconnect().unwrap_err();
    assert_eq!(err.code(), 32, "{err}");

    srv.restart();
    // Meanwhile someone else adds a second bridge.
    let other = Client::connect(&srv.addr()).unwrap();
    other
        .transact(VSWITCH_DB, &add_bridge_ops(&other, "vdsmbr_b", "nb", 2))
        .unwrap();

    c.reconnect().unwrap();
    let mut names: Vec<String> = c.replica().bridges().into_iter().map(|b| b.name).collect();
    names.sort();
    assert_eq!(names, ["vdsmbr_a", "vdsmbr_b"]);
    // And the re-sent monitor keeps following changes.
    c.transact(
        VSWITCH_DB,
        &[Op::update(
            "Bridge",
            vec![Condition::eq("name", json!("vdsmbr_a"))],
            row([("external_ids", str_map([("k", "v")]))]),
        )],
    )
    .unwrap();
    let a = c
        .replica()
        .bridges()
        .into_iter()
        .find(|b| b.name == "vdsmbr_a")
        .unwrap();
    assert_eq!(a.external_ids["k"], "v");
}

#[test]
fn monitor_cond_replica_applies_diffs_and_conditions() {
    let srv = OvsdbServer::start();
    let c = Client::connect(&srv.addr()).unwrap();
    let other = Client::connect(&srv.addr()).unwrap();
    other
        .transact(VSWITCH_DB, &add_bridge_ops(&other, "vdsmbr_c", "nc", 5))
        .unwrap();
    c.monitor_cond(
        VSWITCH_DB,
        &[
            TableMonitor::all("Bridge")
                .with_conditions(vec![Condition::eq("name", json!("vdsmbr_c"))]),
            TableMonitor::all("Port").with_conditions(vec![Condition::eq("name", json!("nc"))]),
        ],
    )
    .unwrap();
    let r = c.replica();
    assert_eq!(r.bridges()[0].external_ids["owner"], "netswitch");
    assert_eq!(r.ports()[0].tag, Some(5));

    // A diff touching a map, a set and an optional value.
    other
        .transact(
            VSWITCH_DB,
            &[
                Op::mutate(
                    "Bridge",
                    vec![Condition::eq("name", json!("vdsmbr_c"))],
                    vec![
                        Mutation::new("external_ids", Mutator::Insert, str_map([("x", "1")])),
                        Mutation::new("external_ids", Mutator::Delete, set([json!("owner")])),
                    ],
                ),
                Op::update(
                    "Port",
                    vec![Condition::eq("name", json!("nc"))],
                    row([("tag", json!(7)), ("trunks", set([json!(1), json!(2)]))]),
                ),
            ],
        )
        .unwrap();
    // Not matched by the conditions: must stay out of the replica.
    other
        .transact(VSWITCH_DB, &add_bridge_ops(&other, "vdsmbr_d", "nd", 9))
        .unwrap();
    c.wait_for(Duration::from_secs(5), |r| {
        r.ports().first().and_then(|p| p.tag) == Some(7)
            && r.bridges()[0].external_ids.contains_key("x")
    })
    .unwrap_or_else(|e| panic!("{e}: {:#?}", c.replica()));
    let r = c.replica();
    assert_eq!(r.ports().len(), 1);
    assert_eq!(r.bridges().len(), 1);
    assert!(!r.bridges()[0].external_ids.contains_key("owner"));
    let port = r.ports().remove(0);
    let trunks = &r.row("Port", &port.uuid).unwrap()["trunks"];
    assert_eq!(trunks, &json!(["set", [1, 2]]));
}

/// The mappings as another tool writes them, through ovs-vsctl.
fn vsctl_set_mappings(srv: &OvsdbServer, value: &str) {
    let st = std::process::Command::new("ovs-vsctl")
        .arg(format!("--db={}", srv.addr()))
        .arg("--no-wait")
        .arg("--timeout=30")
        .args(["set", "Open_vSwitch", "."])
        .arg(format!("external_ids:ovn-bridge-mappings={value}"))
        .status()
        .expect("run ovs-vsctl");
    assert!(st.success(), "ovs-vsctl set failed");
}

fn root_external_ids(c: &Client) -> (Uuid, serde_json::Value) {
    let res = c
        .transact(VSWITCH_DB, &[Op::select("Open_vSwitch", vec![])])
        .unwrap();
    let rows = res[0].rows.as_ref().unwrap();
    let root = selected_uuid(&rows[0]).unwrap();
    (root, rows[0]["external_ids"].clone())
}

#[test]
fn a_guarded_read_modify_write_fails_when_another_writer_slips_in() {
    let srv = OvsdbServer::start();
    let c = Client::connect(&srv.addr()).unwrap();
    c.transact(
        VSWITCH_DB,
        &[Op::insert(
            "Open_vSwitch",
            row([("external_ids", str_map([("ovn-bridge-mappings", "a:br-a")]))]),
        )],
    )
    .unwrap();
    let write = |root: &Uuid, read: serde_json::Value, value: &str| {
        c.transact(
            VSWITCH_DB,
            &[
                Op::unchanged("Open_vSwitch", root, "external_ids", read),
                Op::mutate(
                    "Open_vSwitch",
                    vec![Condition::uuid(root)],
                    vec![
                        Mutation::new(
                            "external_ids",
                            Mutator::Delete,
                            set([json!("ovn-bridge-mappings")]),
                        ),
                        Mutation::new(
                            "external_ids",
                            Mutator::Insert,
                            str_map([("ovn-bridge-mappings", value)]),
                        ),
                    ],
                ),
            ],
        )
    };
    // Read, another writer, then the write computed from the stale read.
    let (root, read) = root_external_ids(&c);
    vsctl_set_mappings(&srv, "a:br-a,b:br-b");
    let err = write(&root, read, "a:br-a,c:br-c").expect_err("the guard must fail");
    assert!(err.is_guard_failure(0), "{err}");
    assert_eq!(err.code(), 29);
    // Nothing was overwritten.
    let (_, now) = root_external_ids(&c);
    assert_eq!(now, str_map([("ovn-bridge-mappings", "a:br-a,b:br-b")]));
    // Read again and retry: it goes through.
    write(&root, now, "a:br-a,b:br-b,c:br-c").expect("a fresh read passes the guard");
    let (_, after) = root_external_ids(&c);
    assert_eq!(
        after,
        str_map([("ovn-bridge-mappings", "a:br-a,b:br-b,c:br-c")])
    );
}
