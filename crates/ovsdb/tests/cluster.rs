//! A clustered OVN northbound database (three ovsdb-servers under RAFT, on
//! loopback ports, from `netswitch_testkit::OvsdbCluster`) served as one:
//! the client finds the leader, follows it through a SIGKILL, and writes
//! every row exactly once. Read back with `ovn-nbctl` and
//! `ovs-appctl cluster/status`, as an operator would.

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::OvsdbServer;
use netswitch_ovsdb::{
    row, ClusterClient, ClusterOptions, Committed, Condition, Error, Op, Replica, TableMonitor,
};
use netswitch_testkit::OvsdbCluster;
use serde_json::json;

const NB_SCHEMA: &str = "/usr/share/ovn/ovn-nb.ovsschema";
const NB_DB: &str = "OVN_Northbound";
const ROWS: usize = 200;
const KILL_AFTER: usize = 50;

/// `uuid -> name` of every Logical_Switch, as `ovn-nbctl` lists it.
fn nbctl_switches(remotes: &str) -> BTreeMap<String, String> {
    let out = Command::new("ovn-nbctl")
        .arg(format!("--db={remotes}"))
        .args([
            "--timeout=30",
            "--format=csv",
            "--data=bare",
            "--no-headings",
        ])
        .args(["--columns=_uuid,name", "list", "Logical_Switch"])
        .output()
        .expect("run ovn-nbctl");
    assert!(
        out.status.success(),
        "ovn-nbctl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(','))
        .map(|(u, n)| (u.to_owned(), n.to_owned()))
        .collect()
}

/// `uuid -> name` of every Logical_Switch in the replica.
fn replica_switches(r: &Replica) -> BTreeMap<String, String> {
    r.tables
        .get("Logical_Switch")
        .into_iter()
        .flatten()
        .filter_map(|(u, row)| Some((u.0.clone(), row.get("name")?.as_str()?.to_owned())))
        .collect()
}

fn has_switch(r: &Replica, name: &str) -> bool {
    r.tables
        .get("Logical_Switch")
        .is_some_and(|t| t.values().any(|row| row.get("name") == Some(&json!(name))))
}

/// Inserts the switch `name` safely across a failover: guarded by its
/// absence, checked by its name.
fn add_switch(c: &ClusterClient, name: &str) -> Result<Committed, Error> {
    let ops = [
        Op::absent("Logical_Switch", vec![Condition::eq("name", json!(name))]),
        Op::insert("Logical_Switch", row([("name", json!(name))])),
    ];
    c.transact_idempotent(NB_DB, &ops, |r| has_switch(r, name))
}

fn options(failover: Duration) -> ClusterOptions {
    ClusterOptions {
        failover,
        ..ClusterOptions::default()
    }
}

#[test]
fn followers_only_is_no_leader_and_the_client_finds_the_leader_listed_last() {
    let cl = OvsdbCluster::start(NB_SCHEMA, NB_DB, 3);
    let leader = cl.wait_leader(Duration::from_secs(30));
    let followers: Vec<usize> = (0..3).filter(|&i| i != leader).collect();

    // Followers answer, but say (in _Server.Database) they do not lead.
    let only = vec![cl.addr(followers[0]), cl.addr(followers[1])];
    let e = ClusterClient::connect_with(&only, NB_DB, options(Duration::from_secs(2)))
        .expect_err("followers only must not be accepted");
    assert_eq!(e.code(), 32, "{e}");
    assert!(matches!(e, Error::NoLeader { .. }), "{e}");
    assert!(e.to_string().contains("not the leader"), "{e}");

    let remotes = cl.remotes(&[followers[0], followers[1], leader]);
    let c = ClusterClient::connect(&remotes, NB_DB).expect("connect");
    assert_eq!(c.leader_address(), Some(cl.addr(leader)));
    assert_eq!(c.failovers(), 0);
    let done = add_switch(&c, "ls-first").expect("insert");
    assert!(matches!(done, Committed::Now(_)), "{done:?}");
    assert_eq!(
        nbctl_switches(&remotes).into_values().collect::<Vec<_>>(),
        ["ls-first"]
    );
}

/// Writes `ROWS` switches from a thread, one transaction each, while
/// `disrupt` strikes the leader after `KILL_AFTER`; then checks that no
/// error reached the writer, every row landed once (`ovn-nbctl`), the client
/// is on the new leader and its replica equals what `ovn-nbctl` lists.
fn write_through(options: ClusterOptions, disrupt: fn(&mut OvsdbCluster, usize)) {
    let mut cl = OvsdbCluster::start(NB_SCHEMA, NB_DB, 3);
    let leader = cl.wait_leader(Duration::from_secs(30));
    let order: Vec<usize> = (1..=3).map(|k| (leader + k) % 3).collect();
    let remotes: Vec<String> = order.iter().map(|&i| cl.addr(i)).collect();
    let c = Arc::new(ClusterClient::connect_with(&remotes, NB_DB, options).expect("connect"));
    assert_eq!(c.leader_address(), Some(cl.addr(leader)));
    c.monitor_cond(NB_DB, &[TableMonitor::columns("Logical_Switch", &["name"])])
        .expect("monitor");

    let written = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (c, written) = (Arc::clone(&c), Arc::clone(&written));
        std::thread::spawn(move || {
            let (mut earlier, mut longest) = (0, Duration::ZERO);
            for n in 0..ROWS {
                let t = Instant::now();
                match add_switch(&c, &format!("ls-{n}")) {
                    Ok(Committed::Now(_)) => {}
                    Ok(Committed::Earlier) => earlier += 1,
                    Err(e) => return Err(format!("ls-{n}: {e}")),
                }
                longest = longest.max(t.elapsed());
                written.fetch_add(1, Ordering::SeqCst);
            }
            Ok((earlier, longest))
        })
    };
    let end = Instant::now() + Duration::from_secs(300);
    while written.load(Ordering::SeqCst) < KILL_AFTER && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5));
    }
    disrupt(&mut cl, leader);
    let at = written.load(Ordering::SeqCst);
    assert!(
        at < ROWS,
        "the writer finished before the leader was struck"
    );
    let (earlier, longest) = writer
        .join()
        .expect("writer thread")
        .expect("no error surfaces");
    eprintln!(
        "leader struck after {at} rows; committed by an earlier attempt: {earlier}; \
         longest write (the one across the failover): {longest:?}"
    );

    let new_leader = cl.wait_leader(Duration::from_secs(30));
    assert_ne!(new_leader, leader);
    assert_eq!(c.leader_address(), Some(cl.addr(new_leader)));
    assert_eq!(c.failovers(), 1, "one failover, to the new leader");
    let listed = nbctl_switches(&cl.remotes(&[new_leader]));
    let mut names: Vec<&String> = listed.values().collect();
    names.sort();
    let mut want: Vec<String> = (0..ROWS).map(|n| format!("ls-{n}")).collect();
    want.sort();
    assert_eq!(names, want.iter().collect::<Vec<_>>(), "each row once");
    c.wait_for(Duration::from_secs(30), |r| {
        replica_switches(r).len() == ROWS
    })
    .expect("replica converges");
    assert_eq!(
        c.with_replica(replica_switches),
        listed,
        "replica = ovn-nbctl"
    );
}

#[test]
fn a_sigkilled_leader_costs_a_retry_and_every_row_lands_exactly_once() {
    write_through(ClusterOptions::default(), OvsdbCluster::kill);
}

/// A frozen leader (SIGSTOP) keeps the connection open and never replies:
/// the call times out, the outcome is unknown, and the check on the new
/// leader decides.
#[test]
fn a_hung_leader_costs_a_timeout_and_every_row_lands_exactly_once() {
    let mut options = options(Duration::from_secs(60));
    options.call.timeout = Duration::from_secs(2);
    write_through(options, OvsdbCluster::pause);
}

#[test]
fn a_standalone_server_works_with_one_address() {
    let srv = OvsdbServer::start_schema(NB_SCHEMA, None);
    let c = ClusterClient::connect(&srv.addr(), NB_DB).expect("connect");
    c.monitor(NB_DB, &[TableMonitor::columns("Logical_Switch", &["name"])])
        .expect("monitor");
    let r = c
        .transact(
            NB_DB,
            &[Op::insert("Logical_Switch", row([("name", json!("sa"))]))],
        )
        .expect("transact");
    assert_eq!(r.len(), 1);
    assert!(has_switch(&c.replica(), "sa"));
    assert_eq!(
        add_switch(&c, "sb")
            .map(|d| matches!(d, Committed::Now(_)))
            .ok(),
        Some(true)
    );
    // The guard refuses a second insert of the same name, naming the op.
    let e = add_switch(&c, "sb").expect_err("guard trips");
    assert!(e.is_guard_failure(0), "{e}");
    assert_eq!(e.code(), 29);
}

#[test]
fn all_remotes_dead_is_a_clear_error_after_the_bound() {
    let ports: Vec<u16> = (0..3)
        .map(|_| {
            let l = TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        })
        .collect();
    let remotes: Vec<String> = ports.iter().map(|p| format!("tcp:127.0.0.1:{p}")).collect();
    let bound = Duration::from_secs(2);
    let t = Instant::now();
    let e =
        ClusterClient::connect_with(&remotes, NB_DB, options(bound)).expect_err("nobody listens");
    assert!(t.elapsed() >= bound, "gave up after {:?}", t.elapsed());
    assert_eq!(e.code(), 32);
    let msg = e.to_string();
    assert!(
        msg.contains("no leader") && msg.contains(&remotes.join(",")),
        "{msg}"
    );

    let e = ClusterClient::connect("tcp:127.0.0.1:1,ssl:x:2", NB_DB).expect_err("bad address");
    assert_eq!(e.code(), 21, "{e}");
    assert!(e.to_string().contains("ssl:x:2"), "{e}");
}

#[test]
fn a_leader_that_stops_leading_without_dropping_us_is_left_for_the_new_one() {
    let mut cl = OvsdbCluster::start(NB_SCHEMA, NB_DB, 3);
    let old = cl.wait_leader(Duration::from_secs(30));
    let c = ClusterClient::connect(&cl.remotes(&[0, 1, 2]), NB_DB).expect("connect");
    c.monitor_cond(NB_DB, &[TableMonitor::columns("Logical_Switch", &["name"])])
        .expect("monitor");
    add_switch(&c, "before").expect("insert on the first leader");
    assert_eq!(c.leader_address(), Some(cl.addr(old)));

    // Frozen, the leader keeps our connection open; the others elect a new
    // leader; resumed, it learns it is a follower and says so in _Server.
    cl.pause(old);
    let new = cl.wait_leader(Duration::from_secs(60));
    cl.resume(old);
    let end = Instant::now() + Duration::from_secs(60);
    while cl.role(old).as_deref() != Some("follower") {
        assert!(Instant::now() < end, "old leader never became a follower");
        std::thread::sleep(Duration::from_millis(100));
    }
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let at = c.client().expect("a leader").address().to_string();
        if at == cl.addr(new) {
            break;
        }
        assert!(Instant::now() < end, "still on {at}, not the new leader");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(c.failovers(), 1);
    add_switch(&c, "after").expect("insert on the new leader");
    let want: Vec<String> = vec!["after".into(), "before".into()];
    let mut got: Vec<String> = replica_switches(&c.replica()).into_values().collect();
    got.sort();
    assert_eq!(got, want, "the new leader's content, nothing stale");
    let mut listed: Vec<String> = nbctl_switches(&cl.remotes(&[new])).into_values().collect();
    listed.sort();
    assert_eq!(listed, want);
}
