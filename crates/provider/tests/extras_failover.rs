//! Updates that replace rows (a router's `routes`, a port's
//! `extra_dhcp_opts`) over a clustered NB whose leader is SIGKILLed
//! partway: updates carry no guard and are re-sent as they are after a
//! lost reply, so they must mean the same when applied twice. Every call
//! answers 200, and `ovn-nbctl` then finds exactly the last call's rows:
//! the router's two routes, one DHCP_Options row of the port's own.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{nbctl_column, provider_on, token, Http, NB_SCHEMA};
use netswitch_testkit::OvsdbCluster;
use serde_json::{json, Value};

const CALLS: usize = 120;
const STRIKE_AFTER: usize = 40;

fn call(h: &mut Http, tok: &str, method: &str, path: &str, body: Value, want: u16) -> Value {
    let a = h.call(method, path, Some(tok), Some(&body));
    assert_eq!(a.status, want, "{method} {path} {body}: {:?}", a.body);
    a.body
}

/// The body of the `i`th call: even calls set the router's routes, odd
/// ones the port's TFTP server.
fn update(i: usize, router: &str, port: &str) -> (String, Value) {
    if i.is_multiple_of(2) {
        let routes = json!([
            {"destination": format!("10.200.{i}.0/24"), "nexthop": "10.9.0.5"},
            {"destination": format!("10.201.{i}.0/24"), "nexthop": "10.9.0.6"},
        ]);
        (
            format!("/v2.0/routers/{router}"),
            json!({"router": {"routes": routes}}),
        )
    } else {
        let opts = json!([{"opt_name": "tftp-server", "opt_value": format!("10.9.1.{i}")}]);
        (
            format!("/v2.0/ports/{port}"),
            json!({"port": {"extra_dhcp_opts": opts}}),
        )
    }
}

#[test]
fn replacing_updates_survive_a_sigkilled_nb_leader_without_leftovers() {
    let mut cl = OvsdbCluster::start(NB_SCHEMA, "OVN_Northbound", 3);
    let leader = cl.wait_leader(Duration::from_secs(30));
    let remotes = cl.remotes(&[0, 1, 2]);
    let p = provider_on(&remotes, json!({}));
    let tok = token(&p);
    let mut h = Http::connect(p.neutron);
    let post = |h: &mut Http, kind: &str, body: Value| {
        let b = call(
            h,
            &tok,
            "POST",
            &format!("/v2.0/{kind}s"),
            json!({ kind: body }),
            201,
        );
        b[kind]["id"].as_str().expect("id").to_owned()
    };
    let net = post(
        &mut h,
        "network",
        json!({"name": "n", "port_security_enabled": false}),
    );
    let sub = post(
        &mut h,
        "subnet",
        json!({"network_id": net, "cidr": "10.9.0.0/16", "ip_version": 4}),
    );
    let router = post(&mut h, "router", json!({"name": "r"}));
    let path = format!("/v2.0/routers/{router}/add_router_interface");
    call(&mut h, &tok, "PUT", &path, json!({"subnet_id": sub}), 200);
    let port = post(&mut h, "port", json!({"network_id": net, "name": "p"}));

    let done = Arc::new(AtomicUsize::new(0));
    let client = {
        let (done, tok, router, port) =
            (Arc::clone(&done), tok.clone(), router.clone(), port.clone());
        std::thread::spawn(move || {
            for i in 0..CALLS {
                let (path, body) = update(i, &router, &port);
                call(&mut h, &tok, "PUT", &path, body, 200);
                done.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let end = Instant::now() + Duration::from_secs(120);
    while done.load(Ordering::SeqCst) < STRIKE_AFTER && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5));
    }
    cl.kill(leader);
    let at = done.load(Ordering::SeqCst);
    client.join().expect("every call answered 200");
    assert!(
        at < CALLS,
        "the client finished before the leader was struck"
    );
    let alive = cl.remotes(&[cl.wait_leader(Duration::from_secs(30))]);

    let mut routes = nbctl_column(&alive, "Logical_Router_Static_Route", "ip_prefix");
    routes.sort();
    let last = CALLS - 2;
    assert_eq!(
        routes,
        [format!("10.200.{last}.0/24"), format!("10.201.{last}.0/24")],
        "the last call's routes, nothing left over"
    );
    let ext = nbctl_column(&alive, "DHCP_Options", "external_ids");
    let own: Vec<&String> = ext
        .iter()
        .filter(|e| e.contains("neutron:port_id"))
        .collect();
    assert_eq!(own.len(), 1, "one row of the port's own: {ext:?}");
    let opts = nbctl_column(&alive, "DHCP_Options", "options");
    let tftp = format!("tftp_server=10.9.1.{}", CALLS - 1);
    assert_eq!(
        opts.iter().filter(|o| o.contains(&tftp)).count(),
        1,
        "{opts:?}"
    );
}
