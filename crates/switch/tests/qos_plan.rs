//! Host QoS plans on the simulated host: a plan carried out leaves nothing
//! to do (what verification asks), its undo (newest first) brings the tc
//! trees back exactly (what rollback asks), and a plan scoped to one
//! network leaves the other networks' classes alone.

mod common;

use netswitch_model::config::Config;
use netswitch_model::host::HostState;
use netswitch_model::plan::{Op, Plan};
use netswitch_model::{prepare, NicPolicy};
use serde_json::{json, Value};

use common::sim;

fn step(host: &mut HostState, running: &Config, req: Value) -> (Config, Plan) {
    let (_, desired) = prepare(
        req.to_string().as_bytes(),
        running,
        host,
        &NicPolicy::default(),
    )
    .unwrap();
    let plan = netswitch_switch::plan(host, running, &desired).unwrap();
    (desired, plan)
}

fn qos(ls: u64, ul: Option<u64>) -> Value {
    match ul {
        Some(ul) => json!({"out": {"ls": {"m2": ls}, "ul": {"m2": ul}}}),
        None => json!({"out": {"ls": {"m2": ls}}}),
    }
}

fn tc_ops(plan: &Plan) -> Vec<String> {
    plan.ops
        .iter()
        .filter(|o| matches!(o, Op::Tc(_)))
        .map(|o| o.to_string())
        .collect()
}

/// Each request in turn: applied, replanned to nothing, undone back to
/// the tc trees before it, then applied again for the next one.
#[test]
fn every_qos_step_verifies_and_rolls_back_exactly() {
    let nics = vec!["eth0".to_string(), "eth1".to_string()];
    let mut host = sim::bare_host(&nics);
    let mut running = Config::default();
    let requests = [
        json!({"networks": {
            "a": {"nic": "eth1", "vlan": 10, "bridged": false, "hostQos": qos(1_000_000, None)},
            "u": {"nic": "eth1", "bridged": true, "hostQos": qos(500_000, Some(800_000))}}}),
        json!({"networks": {
            "b": {"nic": "eth1", "vlan": 20, "bridged": false, "hostQos": qos(3_000_000, None)}}}),
        json!({"networks": {
            "a": {"nic": "eth1", "vlan": 10, "bridged": false, "hostQos": qos(2_000_000, Some(4_000_000))},
            "b": {"nic": "eth1", "vlan": 20, "bridged": false, "hostQos": qos(3_500_000, None)}}}),
        json!({"networks": {"u": {"nic": "eth1", "bridged": true}}}),
        json!({"networks": {"b": {"remove": true}}}),
        json!({"networks": {"a": {"remove": true}}}),
    ];
    for req in requests {
        let before = host.clone();
        let (desired, plan) = step(&mut host, &running, req.clone());
        assert!(!tc_ops(&plan).is_empty(), "{req}: no tc ops");
        sim::apply(&mut host, &plan);
        let again = netswitch_switch::plan(&host, &desired, &desired).unwrap();
        assert!(again.ops.is_empty(), "{req}: left to do {:?}", again.ops);
        let all: Vec<usize> = (0..plan.ops.len()).collect();
        let undo: Vec<Op> = netswitch_switch::inverse::undo(&plan.ops, &all, &before)
            .into_iter()
            .filter(|o| matches!(o, Op::Tc(_)))
            .collect();
        let mut back = host.clone();
        sim::apply(
            &mut back,
            &Plan {
                ops: undo,
                nameservers: None,
            },
        );
        assert_eq!(sorted(&back), sorted(&before), "{req}: undo");
        running = desired;
    }
    assert!(
        host.tc.is_empty(),
        "the tree goes with the last class: {:?}",
        host.tc
    );
}

/// The tc trees with their objects in a fixed order (the undo adds back
/// in a different order than the first plan made them).
fn sorted(h: &HostState) -> Vec<(String, Vec<String>)> {
    h.tc.iter()
        .map(|(d, t)| {
            let mut v: Vec<String> = t
                .qdiscs
                .iter()
                .map(|q| format!("{q:?}"))
                .chain(t.classes.iter().map(|c| format!("{c:?}")))
                .chain(t.filters.iter().map(|f| format!("{f:?}")))
                .collect();
            v.sort();
            (d.clone(), v)
        })
        .collect()
}

/// A request reaching one network of a shared nic plans that network's
/// class (and the default class's link-share), nothing of the others.
#[test]
fn a_scoped_edit_touches_one_class() {
    let nics = vec!["eth0".to_string(), "eth1".to_string()];
    let mut host = sim::bare_host(&nics);
    let mut nets = serde_json::Map::new();
    for tag in 1..=50u16 {
        nets.insert(
            format!("n{tag}"),
            json!({"nic": "eth1", "vlan": tag, "bridged": false, "hostQos": qos(100_000 * u64::from(tag), None)}),
        );
    }
    let (running, plan) = step(&mut host, &Config::default(), json!({"networks": nets}));
    sim::apply(&mut host, &plan);
    let req = json!({"networks": {"n7": {"nic": "eth1", "vlan": 7, "bridged": false,
        "hostQos": qos(200_000, None)}}});
    let (_, desired) = prepare(
        req.to_string().as_bytes(),
        &running,
        &host,
        &NicPolicy::default(),
    )
    .unwrap();
    let reached = vec!["n7".to_string()];
    let scope = netswitch_switch::scope::Scope::of(
        &running,
        &desired,
        &reached,
        &Vec::new(),
        &Default::default(),
    );
    assert!(scope.is_some());
    let plan =
        netswitch_switch::scope::plan_scoped(&host, &running, &desired, scope.as_ref()).unwrap();
    assert_eq!(
        tc_ops(&plan),
        ["tc class change dev eth1 parent 1389: classid 1389:7 hfsc ls m2 200000bit"]
    );
}
