//! The pure planner at scale, natively (no kernel): `switch::plan` for N
//! bridged VLAN networks with static addresses on one bond, from nothing,
//! with nothing to do, and for one network's MTU edit on a host that
//! carries the rest (the whole config planned, not a scope).
//!
//! ```sh
//! cargo bench -p netswitch-switch --bench plan            # N = 1000
//! NETSWITCH_BENCH_N="100 1000 2000" cargo bench -p netswitch-switch --bench plan
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use netswitch_model::config::Config;
use netswitch_model::host::HostState;
use netswitch_model::{prepare, NicPolicy};
use serde_json::{json, Value};

use common::sim;

const ROUNDS: usize = 7;

fn request(n: u32, edited_mtu: Option<u32>) -> Value {
    let mut nets = serde_json::Map::new();
    for i in 1..=n {
        let mtu = if i == 1 {
            edited_mtu.unwrap_or(1500)
        } else {
            1500
        };
        nets.insert(
            format!("net{i}"),
            json!({"bonding": "bond0", "vlan": i, "bridged": true, "mtu": mtu,
                   "ipaddr": format!("10.{}.{}.1", i / 250, i % 250), "prefix": 24}),
        );
    }
    json!({"bondings": {"bond0": {"nics": ["eth1", "eth2"], "options": "mode=4 miimon=100"}},
           "networks": nets})
}

fn desired(host: &HostState, running: &Config, req: &Value) -> Config {
    prepare(
        req.to_string().as_bytes(),
        running,
        host,
        &NicPolicy::default(),
    )
    .expect("valid request")
    .1
}

/// Median wall time of `f` over [`ROUNDS`] runs.
fn median(mut f: impl FnMut()) -> Duration {
    let mut t: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    t.sort();
    t[ROUNDS / 2]
}

fn bench(n: u32) {
    let nics: Vec<String> = ["eth0", "eth1", "eth2"].map(String::from).to_vec();
    let bare = sim::bare_host(&nics);
    let empty = Config::default();
    let want = desired(&bare, &empty, &request(n, None));
    let setup = median(|| {
        std::hint::black_box(netswitch_switch::plan(&bare, &empty, &want).expect("plan"));
    });
    let mut host = bare.clone();
    sim::apply(
        &mut host,
        &netswitch_switch::plan(&bare, &empty, &want).expect("plan"),
    );
    let noop = median(|| {
        let p = netswitch_switch::plan(&host, &want, &want).expect("plan");
        assert!(p.is_empty(), "{:?}", p.ops.first().map(|o| o.to_string()));
    });
    let edit = desired(&host, &want, &request(n, Some(9000)));
    let edit_t = median(|| {
        std::hint::black_box(netswitch_switch::plan(&host, &want, &edit).expect("plan"));
    });
    println!(
        "N={n:5}  setup {:>9.2?}  nothing to do {:>9.2?}  one MTU edit {:>9.2?}",
        setup, noop, edit_t
    );
}

fn main() {
    let ns = std::env::var("NETSWITCH_BENCH_N").unwrap_or_else(|_| "1000".into());
    for n in ns.split_whitespace().filter_map(|s| s.parse().ok()) {
        bench(n);
    }
}
