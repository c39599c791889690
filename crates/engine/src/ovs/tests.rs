//! The OVS backend against a private ovsdb-server in a temp dir (never the
//! system's), with a stand-in for ovs-vswitchd that acknowledges each
//! `next_cfg`: what the mappings guard does when another writer commits
//! between the read and the commit.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netswitch_model::plan::OvsOp;
use netswitch_ovsdb::datum::str_map;
use netswitch_ovsdb::{row, Client, Condition, TableMonitor, VSWITCH_DB};
use serde_json::{json, Value};

use super::{apply, hook, rebase_mappings, OvsSettings, MAPPINGS_KEY};

/// ovsdb-server with the vswitch schema and a root row; killed on drop.
struct Server {
    dir: tempfile::TempDir,
    child: Child,
    stop: Arc<AtomicBool>,
}

impl Server {
    fn start(mappings: &str) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("conf.db");
        let st = Command::new("ovsdb-tool")
            .arg("create")
            .arg(&db)
            .arg("/usr/share/openvswitch/vswitch.ovsschema")
            .status()
            .expect("run ovsdb-tool");
        assert!(st.success());
        let sock = dir.path().join("db.sock");
        let child = Command::new("ovsdb-server")
            .arg(&db)
            .arg(format!("--remote=punix:{}", sock.display()))
            .arg(format!("--unixctl={}", dir.path().join("ctl").display()))
            .arg("--no-chdir")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ovsdb-server");
        // The socket file appears at bind, before the server listens.
        let addr = format!("unix:{}", sock.display());
        let deadline = Instant::now() + Duration::from_secs(30);
        while Client::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "ovsdb-server never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        let s = Server {
            dir,
            child,
            stop: Arc::default(),
        };
        s.client()
            .transact(
                VSWITCH_DB,
                &[netswitch_ovsdb::Op::insert(
                    "Open_vSwitch",
                    row([("external_ids", str_map([(MAPPINGS_KEY, mappings)]))]),
                )],
            )
            .unwrap();
        s.fake_vswitchd();
        s
    }

    fn addr(&self) -> String {
        format!("unix:{}", self.dir.path().join("db.sock").display())
    }

    fn client(&self) -> Client {
        Client::connect(&self.addr()).unwrap()
    }

    /// Copies `next_cfg` to `cur_cfg`, as ovs-vswitchd does once it has
    /// reconfigured.
    fn fake_vswitchd(&self) {
        let c = self.client();
        let stop = Arc::clone(&self.stop);
        c.monitor(
            VSWITCH_DB,
            &[TableMonitor::columns(
                "Open_vSwitch",
                &["next_cfg", "cur_cfg"],
            )],
        )
        .unwrap();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let behind = c.with_replica(|r| {
                    r.tables.get("Open_vSwitch").and_then(|rows| {
                        rows.iter().find_map(|(u, row)| {
                            let next = row.get("next_cfg").and_then(Value::as_i64)?;
                            let cur = row.get("cur_cfg").and_then(Value::as_i64)?;
                            (next > cur).then(|| (u.clone(), next))
                        })
                    })
                });
                if let Some((u, next)) = behind {
                    let op = netswitch_ovsdb::Op::update(
                        "Open_vSwitch",
                        vec![Condition::uuid(&u)],
                        row([("cur_cfg", json!(next))]),
                    );
                    if c.transact(VSWITCH_DB, &[op]).is_err() {
                        return;
                    }
                }
                let _ = c.wait_for(Duration::from_millis(200), |_| false);
            }
        });
    }

    fn settings(&self) -> OvsSettings {
        OvsSettings {
            db: self.addr(),
            timeout: Duration::from_secs(60),
            ..OvsSettings::default()
        }
    }

    fn mappings(&self) -> Option<String> {
        let res = self
            .client()
            .transact(
                VSWITCH_DB,
                &[netswitch_ovsdb::Op::select("Open_vSwitch", vec![])],
            )
            .unwrap();
        let rows = res[0].rows.as_ref().unwrap();
        netswitch_ovsdb::datum::as_str_map(&rows[0]["external_ids"])
            .unwrap()
            .get(MAPPINGS_KEY)
            .cloned()
    }

    /// Another writer setting the mappings.
    fn set_mappings(addr: &str, value: &str) {
        let c = Client::connect(addr).unwrap();
        let root = c
            .transact(
                VSWITCH_DB,
                &[netswitch_ovsdb::Op::select("Open_vSwitch", vec![])],
            )
            .unwrap()[0]
            .rows
            .as_ref()
            .and_then(|r| netswitch_ovsdb::vswitch::selected_uuid(&r[0]))
            .unwrap();
        let op = netswitch_ovsdb::Op::mutate(
            "Open_vSwitch",
            vec![Condition::uuid(&root)],
            vec![
                netswitch_ovsdb::Mutation::new(
                    "external_ids",
                    netswitch_ovsdb::Mutator::Delete,
                    netswitch_ovsdb::datum::set([json!(MAPPINGS_KEY)]),
                ),
                netswitch_ovsdb::Mutation::new(
                    "external_ids",
                    netswitch_ovsdb::Mutator::Insert,
                    str_map([(MAPPINGS_KEY, value)]),
                ),
            ],
        );
        c.transact(VSWITCH_DB, &[op]).unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn set_hook(f: impl FnMut() + 'static) {
    hook::BEFORE_COMMIT.with(|h| *h.borrow_mut() = Some(Box::new(f)));
}

fn clear_hook() {
    hook::BEFORE_COMMIT.with(|h| *h.borrow_mut() = None);
}

fn set_op(value: &str) -> Vec<OvsOp> {
    vec![OvsOp::SetMappings {
        mappings: Some(value.into()),
    }]
}

#[test]
fn a_write_between_read_and_commit_fails_the_guard_and_is_kept_on_retry() {
    let srv = Server::start("x:br-x");
    let addr = srv.addr();
    let mut calls = 0;
    set_hook(move || {
        calls += 1;
        if calls == 1 {
            Server::set_mappings(&addr, "x:br-x,y:br-y");
        }
    });
    let res = apply(
        &srv.settings(),
        &set_op("x:br-x,n:vdsmbr_1"),
        Some("x:br-x"),
    );
    clear_hook();
    res.unwrap();
    assert_eq!(srv.mappings().as_deref(), Some("x:br-x,y:br-y,n:vdsmbr_1"));
}

#[test]
fn a_writer_slipping_in_twice_fails_the_apply_and_changes_nothing() {
    let srv = Server::start("x:br-x");
    let addr = srv.addr();
    let mut calls = 0;
    set_hook(move || {
        calls += 1;
        Server::set_mappings(&addr, &format!("x:br-x,y{calls}:br-y"));
    });
    let res = apply(
        &srv.settings(),
        &set_op("x:br-x,n:vdsmbr_1"),
        Some("x:br-x"),
    );
    clear_hook();
    let err = res.expect_err("the guard fails both times");
    assert!(err.contains("twice"), "{err}");
    // Only the other writer's value: ours never went in.
    assert_eq!(srv.mappings().as_deref(), Some("x:br-x,y2:br-y"));
}

#[test]
fn without_another_writer_the_plan_s_value_goes_in() {
    let srv = Server::start("x:br-x");
    apply(
        &srv.settings(),
        &set_op("x:br-x,n:vdsmbr_1"),
        Some("x:br-x"),
    )
    .unwrap();
    assert_eq!(srv.mappings().as_deref(), Some("x:br-x,n:vdsmbr_1"));
}

#[test]
fn mappings_rebase_keeps_what_another_writer_changed_since_the_plan() {
    // Nobody else wrote: the plan's value as it is.
    assert_eq!(
        rebase_mappings(Some("x:br-x"), Some("x:br-x,n:vdsmbr_1"), Some("x:br-x")),
        Some("x:br-x,n:vdsmbr_1".into())
    );
    // Another writer added y and changed x; the plan added n.
    assert_eq!(
        rebase_mappings(
            Some("x:br-x"),
            Some("x:br-x,n:vdsmbr_1"),
            Some("x:br-x2,y:br-y")
        ),
        Some("x:br-x2,y:br-y,n:vdsmbr_1".into())
    );
    // The plan removed n, another writer removed x: both stay removed.
    assert_eq!(
        rebase_mappings(
            Some("x:br-x,n:vdsmbr_1"),
            Some("x:br-x"),
            Some("n:vdsmbr_1")
        ),
        None
    );
    // The plan's own change to a network wins over the other writer's.
    assert_eq!(
        rebase_mappings(Some("n:vdsmbr_1"), Some("n:vdsmbr_2"), Some("n:br-other")),
        Some("n:vdsmbr_2".into())
    );
}
