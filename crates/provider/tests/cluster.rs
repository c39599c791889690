//! The provider over a clustered NB (three ovsdb-servers under RAFT, from
//! `netswitch_testkit::OvsdbCluster`), pointed at all three in one remote
//! entry as ovn-nbctl takes them. A client makes 200 creates (networks and
//! ports) while the leader is SIGKILLed, or SIGSTOPped (a hung leader),
//! partway: every call answers 201, and `ovn-nbctl` then lists each
//! created row exactly once, none missing.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{nbctl_column, token, Http, Running, NB_SCHEMA, PASSWORD, USER};
use netswitch_provider::{Config, Provider};
use netswitch_testkit::OvsdbCluster;
use serde_json::{json, Value};

const CALLS: usize = 200;
const STRIKE_AFTER: usize = 60;

fn provider(remotes: &str) -> Running {
    let text = json!({
        "keystone_listen": "127.0.0.1:0",
        "neutron_listen": "127.0.0.1:0",
        "nb_remotes": [remotes],
        "users": {USER: PASSWORD},
        "token_lifetime_secs": 600,
    })
    .to_string();
    let config = Config::parse(&text).expect("config");
    let p = Provider::start(config).expect("provider starts");
    let (keystone, neutron) = p.addrs();
    std::thread::spawn(move || p.serve());
    Running { keystone, neutron }
}

fn create(h: &mut Http, tok: &str, kind: &str, body: Value) -> String {
    let a = h.call(
        "POST",
        &format!("/v2.0/{kind}s"),
        Some(tok),
        Some(&json!({ kind: body })),
    );
    assert_eq!(a.status, 201, "{kind} {body}: {:?}", a.body);
    a.body[kind]["id"].as_str().expect("id").to_owned()
}

/// Makes `CALLS` creates (every fourth a network, the others ports on one
/// network) while `strike` hits the leader; checks every answer and row.
fn creates_through(strike: fn(&mut OvsdbCluster, usize)) {
    let mut cl = OvsdbCluster::start(NB_SCHEMA, "OVN_Northbound", 3);
    let leader = cl.wait_leader(Duration::from_secs(30));
    let remotes = cl.remotes(&[0, 1, 2]);
    let p = provider(&remotes);
    let tok = token(&p);
    let mut h = Http::connect(p.neutron);
    let net = create(
        &mut h,
        &tok,
        "network",
        json!({"name": "base", "port_security_enabled": false}),
    );
    create(
        &mut h,
        &tok,
        "subnet",
        json!({"network_id": net, "cidr": "10.9.0.0/16", "ip_version": 4}),
    );

    let done = Arc::new(AtomicUsize::new(0));
    let client = {
        let (done, tok, net) = (Arc::clone(&done), tok.clone(), net.clone());
        std::thread::spawn(move || {
            let (mut nets, mut ports) = (Vec::new(), Vec::new());
            let mut longest = Duration::ZERO;
            for i in 0..CALLS {
                let t = Instant::now();
                if i % 4 == 0 {
                    nets.push(create(
                        &mut h,
                        &tok,
                        "network",
                        json!({"name": format!("n{i}")}),
                    ));
                } else {
                    ports.push(create(
                        &mut h,
                        &tok,
                        "port",
                        json!({"network_id": net, "name": format!("p{i}")}),
                    ));
                }
                longest = longest.max(t.elapsed());
                done.fetch_add(1, Ordering::SeqCst);
            }
            eprintln!("longest call (the one across the failover): {longest:?}");
            (nets, ports)
        })
    };
    let end = Instant::now() + Duration::from_secs(120);
    while done.load(Ordering::SeqCst) < STRIKE_AFTER && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5));
    }
    strike(&mut cl, leader);
    let at = done.load(Ordering::SeqCst);
    let (nets, ports) = client.join().expect("every call answered 201");
    assert!(
        at < CALLS,
        "the client finished before the leader was struck"
    );
    let new_leader = cl.wait_leader(Duration::from_secs(30));
    assert_ne!(new_leader, leader);
    eprintln!("leader {leader} struck after {at} calls; {new_leader} leads now");

    let alive = cl.remotes(&[new_leader]);
    let lsp_names = nbctl_column(&alive, "Logical_Switch_Port", "name");
    for id in &ports {
        let n = lsp_names.iter().filter(|n| *n == id).count();
        assert_eq!(n, 1, "port {id} is in the NB {n} times");
    }
    assert_eq!(lsp_names.len(), ports.len(), "no other switch port");
    let ls_ext = nbctl_column(&alive, "Logical_Switch", "external_ids");
    assert_eq!(ls_ext.len(), nets.len() + 1, "one switch per network");
    for id in &nets {
        let want = format!("neutron:network_id={id}");
        let n = ls_ext.iter().filter(|e| e.contains(&want)).count();
        assert_eq!(n, 1, "network {id} is in the NB {n} times");
    }
    // The provider reads the new leader's replica: its lists agree.
    let a = h_list(&p, &tok, "ports");
    assert_eq!(a, ports.len());
    assert_eq!(h_list(&p, &tok, "networks"), nets.len() + 1);
}

fn h_list(p: &Running, tok: &str, kind: &str) -> usize {
    let a =
        Http::connect(p.neutron).call("GET", &format!("/v2.0/{kind}?fields=id"), Some(tok), None);
    assert_eq!(a.status, 200, "{:?}", a.body);
    a.body[kind].as_array().map_or(0, Vec::len)
}

#[test]
fn a_sigkilled_nb_leader_costs_a_retry_and_nothing_is_lost_or_duplicated() {
    creates_through(OvsdbCluster::kill);
}

/// A SIGSTOPped leader keeps the connection open and answers nothing: the
/// call in flight times out (the client's call bound), the provider moves
/// to the new leader and asks its replica whether the create landed.
#[test]
fn a_hung_nb_leader_costs_a_timeout_and_nothing_is_lost_or_duplicated() {
    creates_through(OvsdbCluster::pause);
}
