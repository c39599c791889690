//! Golden cases for the pure planner: each `tests/golden/<case>.json` gives
//! a host's nics, the requests that made its running config (carried out
//! on the host by the simulator in `common::sim`), optional changes behind
//! netswitch's back, and one request; `<case>.plan` holds the plan that
//! request must produce, one op per line as `--dry-run` prints it.
//!
//! `NETSWITCH_BLESS=1 cargo test -p netswitch-switch --test golden` rewrites
//! the expectations from what the planner does now; review the diff.

mod common;

use std::path::{Path, PathBuf};

use netswitch_model::config::Config;
use netswitch_model::host::{Addr, HostState, Route};
use netswitch_model::plan::{Op, Plan};
use netswitch_model::{prepare, NicPolicy};
use serde::Deserialize;

use common::sim;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// What the case shows, for the reader.
    #[allow(dead_code)]
    about: String,
    nics: Vec<String>,
    /// setupNetworks requests applied in turn to make the running config.
    #[serde(default)]
    running: Vec<serde_json::Value>,
    /// Ops carried out on the host behind netswitch's back afterwards.
    #[serde(default)]
    host_ops: Vec<Op>,
    /// Addresses and routes others put on the host (DHCP leases, foreign routes).
    #[serde(default)]
    host_addrs: Vec<Addr>,
    #[serde(default)]
    host_routes: Vec<Route>,
    request: serde_json::Value,
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn plan_of(
    host: &HostState,
    running: &Config,
    req: &serde_json::Value,
) -> Result<(Config, Plan), String> {
    let (_, desired) = prepare(
        req.to_string().as_bytes(),
        running,
        host,
        &NicPolicy::default(),
    )
    .map_err(|e| format!("error: {e}"))?;
    let plan =
        netswitch_switch::plan(host, running, &desired).map_err(|e| format!("error: {e}"))?;
    Ok((desired, plan))
}

/// The plan text a case produces (or the refusal).
fn run(case: &Case) -> String {
    let mut host = sim::bare_host(&case.nics);
    let mut running = Config::default();
    for (i, req) in case.running.iter().enumerate() {
        let (cfg, plan) =
            plan_of(&host, &running, req).unwrap_or_else(|e| panic!("running request {i}: {e}"));
        sim::apply(&mut host, &plan);
        running = cfg;
    }
    for op in &case.host_ops {
        sim::apply(
            &mut host,
            &Plan {
                ops: vec![op.clone()],
                nameservers: None,
            },
        );
    }
    host.addrs.extend(case.host_addrs.iter().cloned());
    host.routes.extend(case.host_routes.iter().cloned());
    match plan_of(&host, &running, &case.request) {
        Err(e) => format!("{e}\n"),
        Ok((_, plan)) => render(&plan),
    }
}

fn render(plan: &Plan) -> String {
    let mut out: String = plan.ops.iter().map(|o| format!("{o}\n")).collect();
    if let Some(ns) = &plan.nameservers {
        let ns: Vec<String> = ns.iter().map(|n| n.to_string()).collect();
        out.push_str(&format!("nameservers {}\n", ns.join(" ")));
    }
    if out.is_empty() {
        out.push_str("(nothing to do)\n");
    }
    out
}

#[test]
fn golden_plans() {
    let bless = std::env::var_os("NETSWITCH_BLESS").is_some_and(|v| v == "1");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("tests/golden")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 12, "only {} golden cases", cases.len());
    let mut failed = Vec::new();
    for path in &cases {
        let text = std::fs::read_to_string(path).expect("case file");
        let case: Case =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let got = run(&case);
        let expected_path = path.with_extension("plan");
        if bless {
            std::fs::write(&expected_path, &got).expect("write expectation");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            eprintln!(
                "--- {} expected\n{expected}--- got\n{got}",
                expected_path.display()
            );
            failed.push(path.file_stem().map(|s| s.to_string_lossy().into_owned()));
        }
    }
    assert!(
        failed.is_empty(),
        "golden plans differ: {failed:?} (NETSWITCH_BLESS=1 to accept)"
    );
}
