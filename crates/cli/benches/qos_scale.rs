//! Host QoS at scale (issue 15): hostQos on N VLAN networks of one bond
//! (N = 500 by default) in one request, beside `tc -batch` making the same
//! qdiscs, classes and filters on an identical bond, in the same run; the
//! tc backend alone (`netswitch_tc::apply` of the plan's tc ops) on a third
//! bond; then editing one network's QoS on that host.
//!
//! ```sh
//! tests/lab/run --timeout 1800 cargo bench -p netswitch-cli --bench qos_scale
//! NETSWITCH_BENCH_N="100 500" tests/lab/run ... # other sizes
//! ```
//!
//! Needs the kernel lab (bonding, 8021q, hfsc, fq_codel, cls_basic): on
//! the machine's own kernel it says so and exits 0. Every cell is wall
//! time; the netswitch cells are whole transactions (parse, plan, apply,
//! read back and verify, save), the tc cell only the kernel work.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use netswitch_model::plan::Op;
use netswitch_testkit::Netns;
use serde_json::{json, Map, Value};

fn netswitch(
    ns: &Netns,
    state: &std::path::Path,
    args: &[&str],
    req: &Value,
) -> (Duration, String) {
    let bin =
        std::env::var("NETSWITCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_netswitch").into());
    let t = Instant::now();
    let mut child = Command::new(bin)
        .args(["--netns", ns.name(), "--state-dir"])
        .arg(state.join("lib"))
        .arg("--resolv-conf")
        .arg(state.join("resolv.conf"))
        .args(args)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run netswitch");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(req.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let d = t.elapsed();
    assert!(out.status.success(), "netswitch {args:?} failed");
    (d, String::from_utf8_lossy(&out.stdout).into_owned())
}

fn qos(ls: u64) -> Value {
    json!({"out": {"ls": {"m2": ls}, "ul": {"m2": ls * 2}}})
}

/// N VLAN networks on bond0, with or without QoS.
fn request(n: u16, with_qos: bool) -> Value {
    let mut nets = Map::new();
    for tag in 1..=n {
        let mut a = json!({"bonding": "bond0", "vlan": tag, "bridged": false});
        if with_qos {
            a["hostQos"] = qos(1_000_000 + u64::from(tag) * 1000);
        }
        nets.insert(format!("n{tag}"), a);
    }
    json!({
        "bondings": {"bond0": {"nics": ["dummy_1", "dummy_2"], "options": "mode=1 miimon=100"}},
        "networks": nets,
        "options": {"connectivityCheck": false},
    })
}

/// The plan's tc ops, as `tc -batch` lines on `dev` and as ops.
fn tc_ops(ns: &Netns, state: &std::path::Path, req: &Value) -> Vec<netswitch_model::tc::TcOp> {
    let (_, out) = netswitch(ns, state, &["--json", "setup", "--dry-run"], req);
    let plan: Value = serde_json::from_str(&out).unwrap();
    let ops: Vec<Op> = serde_json::from_value(plan["plan"]["ops"].clone()).unwrap();
    ops.into_iter()
        .filter_map(|o| match o {
            Op::Tc(t) => Some(t),
            _ => None,
        })
        .collect()
}

fn on_dev(op: &netswitch_model::tc::TcOp, dev: &str) -> netswitch_model::tc::TcOp {
    let mut v = serde_json::to_value(op).unwrap();
    v["dev"] = json!(dev);
    serde_json::from_value(v).unwrap()
}

fn run(n: u16) {
    let ns = Netns::new();
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("resolv.conf"), "").unwrap();
    for d in ["dummy_1", "dummy_2", "dummy_3", "dummy_4"] {
        ns.ip(&["link", "add", d, "type", "dummy"]);
    }
    for d in ["dummy_1", "dummy_2"] {
        ns.ip(&["link", "set", d, "up"]);
    }
    for (bond, slave) in [("bond1", "dummy_3"), ("bond2", "dummy_4")] {
        ns.ip(&["link", "add", bond, "type", "bond", "mode", "active-backup"]);
        ns.ip(&["link", "set", slave, "master", bond]);
        ns.ip(&["link", "set", bond, "up"]);
    }
    netswitch(&ns, state.path(), &["setup"], &request(n, false));
    let with = request(n, true);
    let ops = tc_ops(&ns, state.path(), &with);

    // tc -batch: the same objects on bond1.
    let lines: String = ops
        .iter()
        .map(|o| {
            let line = on_dev(o, "bond1").to_string();
            // `tc` takes `ingress` once, as parent and kind together.
            let line = line.replace("ingress handle ffff: ingress", "ingress");
            format!("{}\n", line.trim_start_matches("tc "))
        })
        .collect();
    let batch = state.path().join("qos.batch");
    std::fs::write(&batch, lines).unwrap();
    let t = Instant::now();
    let out = ns.exec(&["tc", "-batch", batch.to_str().unwrap()]);
    let tc = t.elapsed();
    let _ = out;

    // The tc backend alone, on bond2.
    let own: Vec<_> = ops.iter().map(|o| on_dev(o, "bond2")).collect();
    let (lib, applied) = ns.run(move || {
        let index_of = |name: &str| {
            let c = std::ffi::CString::new(name).ok()?;
            // SAFETY: a NUL-terminated name living through the call.
            let ix = unsafe { libc::if_nametoindex(c.as_ptr()) };
            (ix != 0).then_some(ix as i32)
        };
        let t = Instant::now();
        let a = netswitch_tc::apply(&own, &index_of);
        (t.elapsed(), a)
    });
    assert!(applied.failure.is_none(), "{:?}", applied.failure);

    // netswitch: the whole request.
    let (whole, _) = netswitch(&ns, state.path(), &["setup"], &with);

    // One network's QoS edited on that host.
    let mut one = Map::new();
    one.insert(
        "n7".into(),
        json!({"bonding": "bond0", "vlan": 7, "bridged": false, "hostQos": qos(3_000_000)}),
    );
    let edit = json!({"networks": one, "options": {"connectivityCheck": false}});
    let (edit_t, _) = netswitch(&ns, state.path(), &["setup"], &edit);
    let t = Instant::now();
    ns.exec(&[
        "tc",
        "class",
        "change",
        "dev",
        "bond1",
        "parent",
        "1389:",
        "classid",
        "1389:7",
        "hfsc",
        "ls",
        "m2",
        "3000000bit",
        "ul",
        "m2",
        "6000000bit",
    ]);
    let tc_one = t.elapsed();

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let counts: BTreeMap<&str, usize> = ops.iter().fold(BTreeMap::new(), |mut m, o| {
        let k = serde_json::to_value(o).unwrap()["op"]
            .as_str()
            .unwrap_or("")
            .to_string();
        *m.entry(match k.as_str() {
            "tc_add_qdisc" => "qdiscs",
            "tc_add_class" => "classes",
            "tc_add_filter" => "filters",
            _ => "other",
        })
        .or_default() += 1;
        m
    });
    println!("N = {n}: {} tc objects {counts:?}", ops.len());
    println!("  tc -batch (reference)           {:9.1} ms", ms(tc));
    println!(
        "  netswitch-tc apply (backend)    {:9.1} ms  {:.2}x",
        ms(lib),
        ms(lib) / ms(tc)
    );
    println!(
        "  netswitch setup (transaction)   {:9.1} ms  {:.2}x",
        ms(whole),
        ms(whole) / ms(tc)
    );
    println!("  edit one network: netswitch     {:9.1} ms", ms(edit_t));
    println!("  edit one class: tc (reference)  {:9.1} ms", ms(tc_one));
}

fn main() {
    if !netswitch_testkit::in_lab() {
        println!("qos_scale: needs the kernel lab (tests/lab/run); skipped");
        return;
    }
    let sizes = std::env::var("NETSWITCH_BENCH_N").unwrap_or_else(|_| "500".into());
    for n in sizes.split_whitespace().filter_map(|s| s.parse().ok()) {
        run(n);
    }
}
