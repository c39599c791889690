//! The OVS switch at scale (issue 6): N networks as tagged internal ports
//! on one nic, put in place by netswitch's one OVSDB transaction, beside
//! `ovs-vsctl` doing the same ports one call per network, and beside one
//! batched `ovs-vsctl` call — measured in the same run, each against its
//! own private ovsdb-server and ovs-vswitchd in a fresh namespace.
//!
//! ```sh
//! cargo bench -p netswitch-cli --bench ovs_scale            # N = 500
//! NETSWITCH_BENCH_N="100 500" cargo bench -p netswitch-cli --bench ovs_scale
//! ```
//!
//! On this machine the bridges use the userspace datapath (each internal
//! port is a tap device); inside the kernel lab (`tests/lab/run`) the
//! kernel one. Every cell is the wall time until ovs-vswitchd has carried
//! the change out (ovs-vsctl waits for that by default; netswitch waits
//! for it and then also sets the ports up and verifies). Needs root.

use std::process::Command;
use std::time::{Duration, Instant};

use netswitch_testkit::{Netns, Ovs};
use serde_json::{json, Map};

#[path = "common/vsctl.rs"]
mod vsctl;

fn fresh() -> (Netns, Ovs) {
    let ns = Netns::new();
    ns.veth("veth_a0", "veth_a1");
    let ovs = Ovs::start(&ns);
    (ns, ovs)
}

fn netswitch(ns: &Netns, ovs: &Ovs, state: &std::path::Path, req: &serde_json::Value) -> Duration {
    let bin =
        std::env::var("NETSWITCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_netswitch").into());
    let t = Instant::now();
    let mut child = Command::new(bin)
        .args(["--netns", ns.name(), "--state-dir"])
        .arg(state.join("lib"))
        .arg("--resolv-conf")
        .arg(state.join("resolv.conf"))
        .args([
            "--ovs-db",
            &ovs.db(),
            "--ovs-datapath",
            ovs.datapath,
            "setup",
            "-",
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("run netswitch");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), req.to_string().as_bytes())
        .unwrap();
    let st = child.wait().unwrap();
    let d = t.elapsed();
    assert!(st.success(), "netswitch setup failed");
    d
}

fn vsctl(ovs: &Ovs, args: &[String]) -> Duration {
    let t = Instant::now();
    let out = Command::new("ovs-vsctl")
        .arg(format!("--db={}", ovs.db()))
        .arg("--timeout=600")
        .args(args)
        .output()
        .expect("ovs-vsctl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.elapsed()
}

fn count_ports(ovs: &Ovs, br: &str) -> usize {
    ovs.vsctl(&["list-ports", br]).lines().count()
}

fn main() {
    let ns_list = std::env::var("NETSWITCH_BENCH_N").unwrap_or_else(|_| "500".into());
    println!("OVS networks (tagged internal ports on one nic); wall time until OVS carries them");
    println!(
        "{:>6} | {:>16} | {:>22} | {:>20} | {:>14} | {:>16}",
        "N",
        "netswitch (1 tx)",
        "ovs-vsctl per network",
        "ovs-vsctl batched",
        "netswitch rm",
        "ovs-vsctl del-br"
    );
    for n in ns_list
        .split_whitespace()
        .filter_map(|s| s.parse::<usize>().ok())
    {
        // netswitch: one request, one OVSDB transaction.
        let (ns, ovs) = fresh();
        let state = tempfile::tempdir().unwrap();
        std::fs::write(state.path().join("resolv.conf"), "").unwrap();
        let mut nets = Map::new();
        for i in 1..=n {
            nets.insert(
                format!("net{i}"),
                json!({"nic": "veth_a0", "vlan": i, "switch": "ovs"}),
            );
        }
        let req = json!({"networks": nets, "options": {"connectivityCheck": false}});
        let t_ns = netswitch(&ns, &ovs, state.path(), &req);
        let br = ovs.vsctl(&["port-to-br", "net1"]);
        assert_eq!(count_ports(&ovs, &br), n + 1);
        let mut rm = Map::new();
        for i in 1..=n {
            rm.insert(format!("net{i}"), json!({"remove": true}));
        }
        let t_rm = netswitch(
            &ns,
            &ovs,
            state.path(),
            &json!({"networks": rm, "options": {"connectivityCheck": false}}),
        );
        assert_eq!(ovs.vsctl(&["list-br"]), "");
        drop(ovs);
        drop(ns);

        // ovs-vsctl, one call per network.
        let (ns, ovs) = fresh();
        let mut t_each = vsctl(&ovs, &vsctl::bridge_args("br0", ovs.datapath, "veth_a0"));
        for i in 1..=n {
            t_each += vsctl(&ovs, &vsctl::port_args("br0", i));
        }
        assert_eq!(count_ports(&ovs, "br0"), n + 1);
        drop(ovs);
        drop(ns);

        // ovs-vsctl, one batched call.
        let (ns, ovs) = fresh();
        let mut args = vsctl::bridge_args("br0", ovs.datapath, "veth_a0");
        for i in 1..=n {
            args.push("--".into());
            args.extend(vsctl::port_args("br0", i));
        }
        let t_batch = vsctl(&ovs, &args);
        assert_eq!(count_ports(&ovs, "br0"), n + 1);
        let t_delbr = vsctl(&ovs, &["del-br".into(), "br0".into()]);
        drop(ovs);
        drop(ns);

        println!(
            "{:>6} | {:>14.2} s | {:>20.2} s | {:>18.2} s | {:>12.2} s | {:>14.2} s",
            n,
            t_ns.as_secs_f64(),
            t_each.as_secs_f64(),
            t_batch.as_secs_f64(),
            t_rm.as_secs_f64(),
            t_delbr.as_secs_f64()
        );
    }
}
