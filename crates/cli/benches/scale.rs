//! The scale table of issue 8 (docs/benchmarks.md): N bridged VLAN networks on one
//! bond, and N OVS networks, put in place, edited, reported and removed by
//! netswitch, each step beside the kernel's (or OVS's) own cost measured in
//! the same run: `ip -batch` doing the same links, one batched `ovs-vsctl`.
//!
//! Runs inside the kernel lab only (bonding, 8021q, dummy and openvswitch
//! modules), as root, through `scripts/bench-lab`:
//!
//! ```sh
//! scripts/bench-lab                                 # N = 100 500 1000 2000
//! NETSWITCH_BENCH_N="20 100" NETSWITCH_BENCH_SKIP=ovs scripts/bench-lab
//! ```
//!
//! For each N, in fresh namespaces of the lab VM, each with two dummies
//! (`dummy_1`, `dummy_2`) as nics:
//!
//! - **setup N**: `netswitch setup` of N bridged networks `net1..netN` with
//!   VLAN ids 1..N on a new bond `bond0` (mode=4 miimon=100) of the two
//!   dummies; beside it, in another namespace, one `ip -batch` creating the
//!   same links. Both must then hold N bridges, N VLANs and one bond.
//! - **edit 1 (CLI)**: one network's MTU changed by `netswitch setup` on the
//!   host with N; the reference is the same two `ip link set … mtu` in one
//!   `ip -batch` on the other namespace.
//! - **caps (in-process)**: `netswitch --json caps` at N, no daemon.
//! - **daemon**: `netswitch daemon` started in the namespace with its socket
//!   in the bench's own directory; then, from a client in this process (no
//!   exec), [`RPC_EDITS`] one-network edits by `Host.setupNetworks` as an
//!   engine sends them (median round trip), [`CAPS_ROUNDS`]
//!   `Host.getNetworkCapabilities` (median round trip, to the last byte of
//!   the answer), and the daemon's `VmRSS` after them. The daemon stops
//!   before the removal.
//! - **remove all**: every network and the bond in one `netswitch setup`;
//!   beside it one `ip -batch` deleting the same links.
//! - **OVS setup N / remove all** (N ≤ `NETSWITCH_BENCH_OVS_MAX_N`, default
//!   [`OVS_MAX_N`]): N OVS networks (`switch: ovs`, VLAN ids 1..N on
//!   `dummy_1`) in one setupNetworks, each side against its own private
//!   ovsdb-server and ovs-vswitchd, one side after the other, each measured
//!   with only its own OVS running, 5 s after it started (kernel datapath, or
//!   `NETSWITCH_BENCH_OVS_DATAPATH=netdev`); beside it one batched
//!   `ovs-vsctl` call adding the same bridge, nic and N tagged internal
//!   ports. Removal: one setupNetworks removing all N beside `ovs-vsctl
//!   del-br`. netswitch's side runs the engine in this process with a long
//!   wait for ovs-vswitchd ([`Host::engine_setup`]): the CLI's fixed 30 s
//!   wait is shorter than ovs-vswitchd needs for 100 ports under TCG.
//!
//! Before each measured step the bench waits until no IPv6 address is
//! tentative in the namespaces of that step (the kernel's duplicate address
//! detection on the links just made is over) and one second more, so a step
//! does not pay for the kernel's deferred work on the other side's links.
//!
//! A CLI cell is the wall time of one process (fork + exec + the work), as
//! a script pays it; a daemon cell is the round trip on an open connection.
//! One measured run per N ≥ 500 (TCG is slow), the median of 3 below
//! (`NETSWITCH_BENCH_REPS` overrides). A step that fails prints its error,
//! its cell says so and the bench goes on; every namespace, daemon and OVS
//! is removed on the way out (RAII guards, `PR_SET_PDEATHSIG`).
//!
//! Knobs: `NETSWITCH_BENCH_N` (sizes, default [`DEFAULT_N`]),
//! `NETSWITCH_BENCH_REPS`, `NETSWITCH_BENCH_SKIP` (any of [`STEPS`]),
//! `NETSWITCH_BENCH_LOG_DIR=DIR` (keep each `netswitch setup`'s log as
//! `n<N>-run<R>-<step>.log`, and each OVS side's daemon logs as
//! `n<N>-ovs-<side>-<daemon>.log`; DIR must be writable from the lab),
//! `NETSWITCH_BENCH_NETSWITCH_LOG` (netswitch's log filter; default
//! [`LOG_FILTER`], which a second table uses to split the CLI's time into
//! phases), `NETSWITCH_BENCH_MACHINE` (the host's side of the machine line;
//! `scripts/bench-lab` sets it).
//!
//! The netswitch binary: `NETSWITCH_BIN`, else the one cargo built beside
//! this bench. It runs from a copy in a temporary directory (tmpfs in the
//! lab): executing it from the target dir, shared over 9p with
//! `cache=mmap`, adds 0.3–0.6 s of page-ins to every run.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use netswitch_engine::{Engine, SetupOptions};
use netswitch_testkit::{Netns, Ovs};
use serde_json::{json, Map, Value};

#[path = "common/vsctl.rs"]
mod vsctl;

const BOND: &str = "bond0";
const BOND_OPTIONS: &str = "mode=4 miimon=100";
/// The full table's sizes.
const DEFAULT_N: &str = "100 500 1000 2000";
/// From this N on, one measured run per cell.
const SINGLE_RUN_FROM: usize = 500;
/// One-network edits through the daemon per run (the median is reported).
const RPC_EDITS: usize = 5;
/// `Host.getNetworkCapabilities` calls per run (the median is reported).
const CAPS_ROUNDS: usize = 10;
/// How long netswitch's OVS setup waits for ovs-vswitchd (see
/// [`Host::engine_setup`]).
const OVS_WAIT: Duration = Duration::from_secs(1800);
/// The largest N with OVS steps by default: under TCG ovs-vswitchd takes
/// 0.13–0.4 s per internal port with the host's load (wall time, mostly
/// waiting in the kernel), so N = 1000 would cost 2–7 min per side.
const OVS_MAX_N: usize = 500;
/// Idle time after an OVS starts, before its side is measured.
const OVS_QUIET: Duration = Duration::from_secs(5);
/// The OVS reference bridge.
const OVS_BRIDGE: &str = "br0";
/// What netswitch logs during the bench: the apply summary, the phases'
/// ends and each snapshot's time; little enough not to matter.
const LOG_FILTER: &str = "info,netswitch_netinfo=debug,netswitch_engine=debug";
/// The steps `NETSWITCH_BENCH_SKIP` may name: `legacy` skips every step of
/// the bridged VLAN networks, `ovs` every OVS step.
const STEPS: &[&str] = &[
    "legacy",
    "edit",
    "caps",
    "daemon",
    "remove",
    "ovs",
    "ovs-remove",
];

fn main() {
    if std::env::var("NETSWITCH_LAB").as_deref() != Ok("1") {
        println!(
            "scale bench: skipped; it needs the kernel lab (bonding, 8021q, dummy, openvswitch) \
             and runs inside it: use scripts/bench-lab (e.g. NETSWITCH_BENCH_N=\"100 500\" \
             scripts/bench-lab)"
        );
        return;
    }
    // `cargo test --benches` runs bench binaries without `--bench`: a test
    // run has no time for minutes of TCG.
    if !std::env::args().any(|a| a == "--bench") {
        println!("scale bench: test mode (no --bench); skipped");
        return;
    }
    // A failed step's panic becomes its cell's error: one line, no
    // backtrace, the bench goes on.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("scale bench: panic: {info}");
    }));
    let sizes = sizes();
    let skip = skip();
    let built = netswitch_bin();
    // The lab shares the target dir over 9p with cache=mmap: every exec
    // from there pages the binary in over 9p again. A copy on the lab's
    // tmpfs is paged in once.
    let bin_dir = tempfile::tempdir().expect("tempdir");
    let bin = bin_dir.path().join("netswitch");
    std::fs::copy(&built, &bin).expect("copy the netswitch binary");
    let started = Instant::now();
    println!(
        "scale bench: netswitch = {} (run from a copy on {})",
        built.display(),
        bin_dir.path().display()
    );
    println!(
        "scale bench: N = {sizes:?}; skipped steps: {skip:?}; OVS datapath {}, OVS up to N = {}",
        ovs_datapath(),
        ovs_max_n()
    );
    let machine = machine();
    println!("scale bench: machine: {machine}");
    let baseline = spawn_baseline(&bin);
    println!("scale bench: {baseline}");

    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for &n in &sizes {
        let reps = reps(n);
        let mut samples = Vec::new();
        for rep in 0..reps {
            eprintln!("scale bench: N = {n}, run {}/{reps}", rep + 1);
            let s = one_run(&bin, n, rep, &skip);
            for (step, e) in &s.errors {
                errors.push(format!("N={n} run {}: {step}: {e}", rep + 1));
            }
            eprintln!("scale bench: N = {n}, run {}: {}", rep + 1, s.summary());
            samples.push(s);
        }
        let row = Row::median(n, reps, &samples);
        println!("scale bench: N = {n} done: {}", row.s.summary());
        rows.push(row);
        if rows.len() < sizes.len() {
            // A run cut short (lab timeout) still leaves the sizes done.
            println!("scale bench: the table so far:\n{}", table(&rows));
        }
    }
    println!();
    println!("## scale table (issue 8)");
    println!();
    println!("machine: {machine}");
    println!("{baseline}");
    println!(
        "bench wall time: {:.1} min",
        started.elapsed().as_secs_f64() / 60.0
    );
    println!();
    print!("{}", table(&rows));
    if !errors.is_empty() {
        println!();
        println!("failed steps:");
        for e in &errors {
            println!("- {e}");
        }
    }
    println!();
    println!("where the CLI's time went (ms, from netswitch's log):");
    println!();
    print!("{}", breakdown(&rows));
}

fn sizes() -> Vec<usize> {
    let text = std::env::var("NETSWITCH_BENCH_N").unwrap_or_else(|_| DEFAULT_N.to_string());
    let sizes: Vec<usize> = text
        .split([' ', ',', '\t'])
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .ok()
                .filter(|&n: &usize| (1..=4094).contains(&n))
                .unwrap_or_else(|| panic!("NETSWITCH_BENCH_N: {s:?} is not a count 1..4094"))
        })
        .collect();
    assert!(!sizes.is_empty(), "NETSWITCH_BENCH_N names no size");
    sizes
}

fn skip() -> Vec<String> {
    let text = std::env::var("NETSWITCH_BENCH_SKIP").unwrap_or_default();
    text.split([' ', ',', '\t'])
        .filter(|s| !s.is_empty())
        .map(|s| {
            assert!(
                STEPS.contains(&s),
                "NETSWITCH_BENCH_SKIP: {s:?} is not a step; the steps: {STEPS:?}"
            );
            s.to_string()
        })
        .collect()
}

/// The largest N with OVS steps: `NETSWITCH_BENCH_OVS_MAX_N`, else
/// [`OVS_MAX_N`].
fn ovs_max_n() -> usize {
    match std::env::var("NETSWITCH_BENCH_OVS_MAX_N") {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("NETSWITCH_BENCH_OVS_MAX_N: {v:?} is not a count")),
        Err(_) => OVS_MAX_N,
    }
}

/// The OVS bridges' `datapath_type`: `NETSWITCH_BENCH_OVS_DATAPATH`,
/// else `system` (the kernel datapath).
fn ovs_datapath() -> String {
    match std::env::var("NETSWITCH_BENCH_OVS_DATAPATH") {
        Ok(d) if d == "system" || d == "netdev" => d,
        Ok(d) => panic!("NETSWITCH_BENCH_OVS_DATAPATH: {d:?} is neither system nor netdev"),
        Err(_) => "system".into(),
    }
}

fn reps(n: usize) -> usize {
    match std::env::var("NETSWITCH_BENCH_REPS") {
        Ok(r) => r
            .parse()
            .ok()
            .filter(|&r: &usize| r >= 1)
            .unwrap_or_else(|| panic!("NETSWITCH_BENCH_REPS: {r:?} is not a count ≥ 1")),
        Err(_) if n >= SINGLE_RUN_FROM => 1,
        Err(_) => 3,
    }
}

fn netswitch_bin() -> PathBuf {
    let bin = std::env::var_os("NETSWITCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_netswitch")));
    assert!(
        bin.is_file(),
        "no netswitch binary at {} (build it: cargo build --release --bin netswitch, or set NETSWITCH_BIN)",
        bin.display()
    );
    bin
}

/// The lab's side of the machine line (kernel, CPUs, memory), with the
/// host's side (qemu, host CPU, tree commit) that `scripts/bench-lab`
/// passes in `NETSWITCH_BENCH_MACHINE`.
fn machine() -> String {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let kernel = read("/proc/sys/kernel/osrelease").trim().to_string();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_mib = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|r| r.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib / 1024);
    let host = std::env::var("NETSWITCH_BENCH_MACHINE").unwrap_or_else(|_| "host: ?".into());
    format!("lab kernel {kernel}, {cpus} vCPUs, {mem_mib} MiB; {host}")
}

/// What starting a process costs here (TCG makes exec expensive), and a
/// warm-up of both binaries' pages.
fn spawn_baseline(bin: &Path) -> String {
    let time = |cmd: &mut Command| {
        let t = Instant::now();
        let out = cmd.output().expect("spawn");
        assert!(out.status.success(), "{cmd:?} failed");
        t.elapsed()
    };
    let mut ns = Vec::new();
    let mut ip = Vec::new();
    for _ in 0..4 {
        ns.push(time(Command::new(bin).arg("--version")));
        ip.push(time(Command::new("ip").arg("-V")));
    }
    // The first of each only warmed the page cache.
    format!(
        "process start + exit: netswitch --version {:.0} ms, ip -V {:.0} ms (median of 3)",
        ms(median(ns[1..].to_vec())),
        ms(median(ip[1..].to_vec()))
    )
}

// ------------------------------------------------------------------ cells

/// One measured cell: `None` when not run (skipped, or what it needs
/// failed), else the measure or the error that stopped it.
type Cell<T> = Option<Result<T, String>>;

/// The times of one run at one N.
#[derive(Debug, Clone, Default)]
struct Sample {
    setup_ns: Cell<Duration>,
    setup_ip: Cell<Duration>,
    setup_phases: Phases,
    edit_ns: Cell<Duration>,
    edit_ip: Cell<Duration>,
    edit_phases: Phases,
    caps_local: Cell<Duration>,
    /// Links in the netswitch namespace at N (`ip link`), and the
    /// networks caps reported.
    devices: Option<usize>,
    daemon_start: Cell<Duration>,
    /// Median of [`RPC_EDITS`] round trips; the first one apart.
    edit_rpc: Cell<Duration>,
    edit_rpc_first: Option<Duration>,
    /// Median of [`CAPS_ROUNDS`] round trips, and the answer's size.
    caps_rpc: Cell<Duration>,
    caps_bytes: Option<usize>,
    /// VmRSS and VmHWM in KiB after the caps calls.
    rss: Cell<(u64, u64)>,
    remove_ns: Cell<Duration>,
    remove_ip: Cell<Duration>,
    remove_phases: Phases,
    ovs_setup_ns: Cell<Duration>,
    ovs_setup_vsctl: Cell<Duration>,
    ovs_remove_ns: Cell<Duration>,
    ovs_remove_vsctl: Cell<Duration>,
    /// `ip -batch` setting the N internal ports up after `ovs-vsctl`.
    ovs_up_ip: Option<Duration>,
    /// N is above `NETSWITCH_BENCH_OVS_MAX_N`: no OVS step ran.
    ovs_over_max: bool,
    /// (step, error) of every step that failed.
    errors: Vec<(String, String)>,
}

impl Sample {
    /// Runs one step, turning a panic into its error, and records a
    /// failure (printed at once, listed under the table).
    fn step<T>(&mut self, name: &str, f: impl FnOnce() -> Result<T, String>) -> Cell<T> {
        eprintln!("scale bench:   {name}");
        let r = match catch_unwind(AssertUnwindSafe(f)) {
            Ok(r) => r,
            Err(panic) => Err(panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panicked".into())),
        };
        if let Err(e) = &r {
            let e = clip(e);
            eprintln!("scale bench:   {name} FAILED: {e}");
            self.errors.push((name.to_string(), e));
        }
        Some(r)
    }

    fn summary(&self) -> String {
        format!(
            "setup {}/{}, edit {}/{} (daemon {}), caps {} (daemon {}), rss {}, remove {}/{}, \
             ovs setup {}/{}, ovs remove {}/{} (netswitch/reference)",
            fmt_ms(&self.setup_ns),
            fmt_ms(&self.setup_ip),
            fmt_ms(&self.edit_ns),
            fmt_ms(&self.edit_ip),
            fmt_ms(&self.edit_rpc),
            fmt_ms(&self.caps_local),
            fmt_ms(&self.caps_rpc),
            match &self.rss {
                Some(Ok((rss, _))) => format!("{:.1} MiB", *rss as f64 / 1024.0),
                Some(Err(_)) => "failed".into(),
                None => "-".into(),
            },
            fmt_ms(&self.remove_ns),
            fmt_ms(&self.remove_ip),
            fmt_ms(&self.ovs_setup_ns),
            fmt_ms(&self.ovs_setup_vsctl),
            fmt_ms(&self.ovs_remove_ns),
            fmt_ms(&self.ovs_remove_vsctl),
        )
    }
}

fn ok<T>(c: &Cell<T>) -> bool {
    matches!(c, Some(Ok(_)))
}

/// Long errors (a whole stderr) cut for the table's footnotes.
fn clip(e: &str) -> String {
    let one_line = e.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 400 {
        let cut: String = one_line.chars().take(400).collect();
        format!("{cut}…")
    } else {
        one_line
    }
}

/// Splits a step's pair into its cell and its side value.
fn split<A, B>(c: Cell<(A, B)>) -> (Cell<A>, Option<B>) {
    match c {
        None => (None, None),
        Some(Err(e)) => (Some(Err(e)), None),
        Some(Ok((a, b))) => (Some(Ok(a)), Some(b)),
    }
}

// ------------------------------------------------------------------ one run

fn one_run(bin: &Path, n: usize, rep: usize, skip: &[String]) -> Sample {
    let skipped = |s: &str| skip.iter().any(|k| k == s);
    let mut s = Sample::default();
    if !skipped("legacy") {
        legacy(&mut s, bin, n, rep, &skipped);
    }
    if !skipped("ovs") {
        if n <= ovs_max_n() {
            ovs(&mut s, bin, n, &skipped);
        } else {
            s.ovs_over_max = true;
        }
    }
    s
}

/// The bridged VLAN networks over the bond: setup, edits, caps, daemon,
/// removal, each beside `ip`.
fn legacy(s: &mut Sample, bin: &Path, n: usize, rep: usize, skipped: &dyn Fn(&str) -> bool) {
    let host = Host::new(bin);
    let base = Netns::new();
    for ns in [&host.ns, &base] {
        add_dummies(ns, &["dummy_1", "dummy_2"]);
    }
    let both = [&host.ns, &base];
    let want = Counts {
        bridges: n,
        vlans: n,
        bonds: 1,
    };
    let label = |step: &str| format!("n{n}-run{}-{step}", rep + 1);

    // Setup N: netswitch, then ip -batch in the other namespace.
    settle(&both);
    let r = s.step("setup N: netswitch", || {
        let run = host.setup(&setup_request(n), &label("setup"), &[])?;
        check_counts(&host.ns, &want)?;
        Ok((run.wall, run.phases))
    });
    (s.setup_ns, s.setup_phases) = fold_phases(r);
    settle(&both);
    s.setup_ip = s.step("setup N: ip -batch", || {
        let took = ip_batch(&base, &setup_script(n))?;
        check_counts(&base, &want)?;
        Ok(took)
    });
    let (host_ok, base_ok) = (ok(&s.setup_ns), ok(&s.setup_ip));

    // Edit 1 by the CLI: a lower MTU on one network (each run another
    // value, so every run changes something); the bond stays at 1500.
    let edited = 1;
    if !skipped("edit") {
        let mtu = 1400 - 100 * rep as u32;
        if host_ok {
            settle(&both);
            let r = s.step("edit 1: netswitch CLI", || {
                let run = host.setup(&edit_request(edited, mtu), &label("edit"), &[])?;
                check_mtu(&host.ns, edited, mtu)?;
                Ok((run.wall, run.phases))
            });
            (s.edit_ns, s.edit_phases) = fold_phases(r);
        }
        if base_ok {
            settle(&both);
            s.edit_ip = s.step("edit 1: ip -batch", || {
                let script =
                    format!("link set {BOND}.{edited} mtu {mtu}\nlink set net{edited} mtu {mtu}\n");
                let took = ip_batch(&base, &script)?;
                check_mtu(&base, edited, mtu)?;
                Ok(took)
            });
        }
    }

    // Caps in-process at N: the CLI without a daemon.
    if host_ok && !skipped("caps") {
        settle(&both);
        s.caps_local = s.step("caps: netswitch --json caps", || {
            let t = Instant::now();
            let out = host.netswitch(&["--json", "caps"], None, &[])?;
            let took = t.elapsed();
            let caps: Value =
                serde_json::from_str(&out.stdout).map_err(|e| format!("caps --json: {e}"))?;
            check_networks(&caps, n)?;
            Ok(took)
        });
    }
    if host_ok {
        s.devices = link_count(&host.ns).ok();
    }

    // The daemon: edits and caps as an engine calls them, then its RSS.
    if host_ok && !skipped("daemon") {
        settle(&both);
        match s.step("daemon: start", || Daemon::start(&host)) {
            Some(Ok(daemon)) => {
                s.daemon_start = Some(Ok(daemon.started));
                // Whatever the daemon does right after its start is over.
                settle(&both);
                let r = s.step("edit 1: daemon Host.setupNetworks", || {
                    rpc_edits(&host, &daemon, edited)
                });
                (s.edit_rpc, s.edit_rpc_first) = split(r);
                let r = s.step("caps: daemon Host.getNetworkCapabilities", || {
                    rpc_caps(&daemon, n)
                });
                (s.caps_rpc, s.caps_bytes) = split(r);
                s.rss = s.step("daemon: VmRSS", || {
                    Ok((
                        status_kib(daemon.pid(), "VmRSS:")?,
                        status_kib(daemon.pid(), "VmHWM:")?,
                    ))
                });
                if let Err(e) = daemon.stop() {
                    s.errors.push(("daemon: stop".into(), e));
                }
            }
            Some(Err(e)) => s.daemon_start = Some(Err(e)),
            None => {}
        }
    }

    // Remove all: netswitch, then ip -batch.
    if !skipped("remove") {
        let none = Counts::default();
        if host_ok {
            settle(&both);
            let r = s.step("remove all: netswitch", || {
                let run = host.setup(&remove_request(n), &label("remove"), &[])?;
                check_counts(&host.ns, &none)?;
                Ok((run.wall, run.phases))
            });
            (s.remove_ns, s.remove_phases) = fold_phases(r);
        }
        if base_ok {
            settle(&both);
            s.remove_ip = s.step("remove all: ip -batch", || {
                let took = ip_batch(&base, &remove_script(n))?;
                check_counts(&base, &none)?;
                Ok(took)
            });
        }
    }
}

fn fold_phases(r: Cell<(Duration, Phases)>) -> (Cell<Duration>, Phases) {
    let (cell, phases) = split(r);
    (cell, phases.unwrap_or_default())
}

/// [`RPC_EDITS`] one-network MTU edits through the daemon; the median
/// round trip and the first one.
fn rpc_edits(host: &Host, daemon: &Daemon, edited: usize) -> Result<(Duration, Duration), String> {
    let mut c = RpcClient::connect(&daemon.socket)?;
    let mut times = Vec::new();
    for k in 0..RPC_EDITS {
        // Values the CLI edit never sets: each call changes the MTU.
        let mtu = 1490 - 10 * k as u32;
        let (took, answer) = c.call("Host.setupNetworks", &edit_request(edited, mtu))?;
        if answer["status"]["code"] != 0 {
            return Err(format!("Host.setupNetworks answered {answer}"));
        }
        check_mtu(&host.ns, edited, mtu)?;
        times.push(took);
        std::thread::sleep(Duration::from_millis(300));
    }
    Ok((median(times.clone()), times[0]))
}

/// [`CAPS_ROUNDS`] `Host.getNetworkCapabilities` calls; the median round
/// trip (the request written to the answer's last byte read; the client's
/// JSON parse not included) and the answer's size.
fn rpc_caps(daemon: &Daemon, n: usize) -> Result<(Duration, usize), String> {
    let mut c = RpcClient::connect(&daemon.socket)?;
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..CAPS_ROUNDS {
        let (took, line) = c.call_raw("Host.getNetworkCapabilities", &json!({}))?;
        times.push(took);
        bytes = line.len();
        check_networks(&c.result(&line)?, n)?;
    }
    Ok((median(times), bytes))
}

/// N OVS networks on a dummy: netswitch's setup and removal, each beside
/// one batched `ovs-vsctl` call against an OVS of its own.
fn ovs(s: &mut Sample, bin: &Path, n: usize, skipped: &dyn Fn(&str) -> bool) {
    let datapath = ovs_datapath();
    // One side after the other, each with only its own OVS running: an
    // ovs-vswitchd that starts, or that holds N ports, costs the other
    // side time under TCG.
    {
        let host = Host::new(bin);
        add_dummies(&host.ns, &["dummy_1"]);
        match start_ovs(s, &host.ns, "netswitch side") {
            Ok(o) => {
                s.ovs_setup_ns = s.step("OVS setup N: netswitch", || {
                    let took = host.engine_setup(
                        &o,
                        &datapath,
                        &ovs_setup_request(n),
                        &format!("n{n}-ovs-setup"),
                    )?;
                    let br = o.vsctl(&["port-to-br", "net1"]);
                    check_ports(&o, &br, n + 1)?;
                    Ok(took)
                });
                if ok(&s.ovs_setup_ns) && !skipped("ovs-remove") {
                    settle(&[&host.ns]);
                    s.ovs_remove_ns = s.step("OVS remove all: netswitch", || {
                        let took = host.engine_setup(
                            &o,
                            &datapath,
                            &ovs_remove_request(n),
                            &format!("n{n}-ovs-remove"),
                        )?;
                        let left = o.vsctl(&["list-br"]);
                        if !left.is_empty() {
                            return Err(format!("bridges left after the removal: {left}"));
                        }
                        Ok(took)
                    });
                }
                keep_ovs_logs(&o, &format!("n{n}-ovs-netswitch"));
                // The OVS daemons go before their namespace.
                drop(o);
            }
            Err(e) => s.ovs_setup_ns = Some(Err(e)),
        }
    }
    let base = Netns::new();
    add_dummies(&base, &["dummy_1"]);
    match start_ovs(s, &base, "ovs-vsctl side") {
        Ok(o) => {
            let r = s.step("OVS setup N: ovs-vsctl batched", || {
                let mut args = vsctl::bridge_args(OVS_BRIDGE, &datapath, "dummy_1");
                for i in 1..=n {
                    args.push("--".into());
                    args.extend(vsctl::port_args(OVS_BRIDGE, i));
                }
                let took = vsctl(&o, &args)?;
                check_ports(&o, OVS_BRIDGE, n + 1)?;
                // netswitch also sets the ports up; what that costs alone
                // (beside the table's reference, not in it).
                let mut up = String::new();
                for i in 1..=n {
                    let _ = writeln!(up, "link set net{i} up");
                }
                let up = ip_batch(&base, &up)?;
                Ok((took, up))
            });
            (s.ovs_setup_vsctl, s.ovs_up_ip) = split(r);
            if ok(&s.ovs_setup_vsctl) && !skipped("ovs-remove") {
                settle(&[&base]);
                s.ovs_remove_vsctl = s.step("OVS remove all: ovs-vsctl del-br", || {
                    let took = vsctl(&o, &["del-br".into(), OVS_BRIDGE.into()])?;
                    let left = o.vsctl(&["list-br"]);
                    if !left.is_empty() {
                        return Err(format!("bridges left after del-br: {left}"));
                    }
                    Ok(took)
                });
            }
            keep_ovs_logs(&o, &format!("n{n}-ovs-vsctl"));
            drop(o);
        }
        Err(e) => s.ovs_setup_vsctl = Some(Err(e)),
    }
}

/// With `NETSWITCH_BENCH_LOG_DIR`, keeps `o`'s ovs-vswitchd and
/// ovsdb-server logs there as `<label>-<daemon>.log`: they show how often
/// ovs-vswitchd reconfigured and what each side made it do.
fn keep_ovs_logs(o: &Ovs, label: &str) {
    let Some(dir) = std::env::var_os("NETSWITCH_BENCH_LOG_DIR") else {
        return;
    };
    for daemon in ["ovs-vswitchd", "ovsdb-server"] {
        let to = Path::new(&dir).join(format!("{label}-{daemon}.log"));
        if let Err(e) = std::fs::copy(o.dir().join(format!("{daemon}.log")), &to) {
            eprintln!("scale bench: keeping {}: {e}", to.display());
        }
    }
}

/// A private ovsdb-server + ovs-vswitchd in `ns`, then a quiet kernel and
/// [`OVS_QUIET`] more for ovs-vswitchd's own start-up work to end.
fn start_ovs(s: &mut Sample, ns: &Netns, side: &str) -> Result<Ovs, String> {
    match s.step(&format!("OVS: start ({side})"), || Ok(Ovs::start(ns))) {
        Some(Ok(o)) => {
            settle(&[ns]);
            std::thread::sleep(OVS_QUIET);
            Ok(o)
        }
        Some(Err(e)) => Err(format!("OVS did not start: {e}")),
        None => Err("OVS did not start".into()),
    }
}

/// Waits until the kernel's deferred IPv6 work on new links is over in
/// every namespace (no tentative address left: duplicate address detection
/// done), then one second more, so that each measured step starts on a
/// quiet kernel and neither side pays for the other's links.
fn settle(namespaces: &[&Netns]) {
    let give_up = Instant::now() + Duration::from_secs(120);
    loop {
        let tentative: usize = namespaces
            .iter()
            .map(|ns| {
                let links = ns
                    .try_ip(&["-j", "-6", "addr", "show", "tentative"])
                    .ok()
                    .and_then(|out| serde_json::from_str::<Value>(&out).ok())
                    .unwrap_or(Value::Null);
                links
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|l| l["addr_info"].as_array().map_or(0, Vec::len))
                    .sum::<usize>()
            })
            .sum();
        if tentative == 0 {
            break;
        }
        if Instant::now() > give_up {
            eprintln!(
                "scale bench: {tentative} IPv6 addresses still tentative after 120 s; going on"
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    std::thread::sleep(Duration::from_secs(1));
}

fn add_dummies(ns: &Netns, names: &[&str]) {
    let mut script = String::new();
    for d in names {
        let _ = writeln!(script, "link add {d} type dummy\nlink set {d} up");
    }
    ns.ip_batch(&script);
}

// ------------------------------------------------------------------ requests

fn net(i: usize) -> Value {
    json!({"bonding": BOND, "vlan": i})
}

fn setup_request(n: usize) -> Value {
    let networks: Map<String, Value> = (1..=n).map(|i| (format!("net{i}"), net(i))).collect();
    json!({
        "bondings": {BOND: {"nics": ["dummy_1", "dummy_2"], "options": BOND_OPTIONS}},
        "networks": networks,
        "options": {"connectivityCheck": false},
    })
}

fn edit_request(i: usize, mtu: u32) -> Value {
    let mut attrs = net(i);
    attrs["mtu"] = json!(mtu);
    json!({
        "networks": {format!("net{i}"): attrs},
        "bondings": {},
        "options": {"connectivityCheck": false},
    })
}

fn remove_request(n: usize) -> Value {
    let networks: Map<String, Value> = (1..=n)
        .map(|i| (format!("net{i}"), json!({"remove": true})))
        .collect();
    json!({
        "bondings": {BOND: {"remove": true}},
        "networks": networks,
        "options": {"connectivityCheck": false},
    })
}

fn ovs_setup_request(n: usize) -> Value {
    let networks: Map<String, Value> = (1..=n)
        .map(|i| {
            (
                format!("net{i}"),
                json!({"nic": "dummy_1", "vlan": i, "switch": "ovs"}),
            )
        })
        .collect();
    json!({"networks": networks, "options": {"connectivityCheck": false}})
}

fn ovs_remove_request(n: usize) -> Value {
    let networks: Map<String, Value> = (1..=n)
        .map(|i| (format!("net{i}"), json!({"remove": true})))
        .collect();
    json!({"networks": networks, "options": {"connectivityCheck": false}})
}

/// The links netswitch's plan makes, as `ip -batch` lines, in the same
/// order of kinds (the plan: bond, slaves, VLANs, bridges, ports, up).
fn setup_script(n: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "link add {BOND} type bond mode 802.3ad miimon 100");
    for d in ["dummy_1", "dummy_2"] {
        let _ = writeln!(s, "link set {d} down\nlink set {d} master {BOND}");
    }
    let _ = writeln!(s, "link set {BOND} up");
    for i in 1..=n {
        let _ = writeln!(s, "link add link {BOND} name {BOND}.{i} type vlan id {i}");
    }
    for i in 1..=n {
        let _ = writeln!(s, "link add net{i} type bridge stp_state 0");
    }
    for i in 1..=n {
        let _ = writeln!(s, "link set {BOND}.{i} master net{i}");
    }
    s.push_str("link set dummy_1 up\nlink set dummy_2 up\n");
    for i in 1..=n {
        let _ = writeln!(s, "link set {BOND}.{i} up");
    }
    for i in 1..=n {
        let _ = writeln!(s, "link set net{i} up");
    }
    s
}

fn remove_script(n: usize) -> String {
    let mut s = String::new();
    for i in 1..=n {
        let _ = writeln!(s, "link del net{i}");
    }
    for i in 1..=n {
        let _ = writeln!(s, "link del {BOND}.{i}");
    }
    let _ = writeln!(s, "link del {BOND}");
    s
}

// ------------------------------------------------------------------ references

/// Times `ip -n NS -batch FILE` (the script written beforehand).
fn ip_batch(ns: &Netns, script: &str) -> Result<Duration, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let file = dir.path().join("batch");
    std::fs::write(&file, script).map_err(|e| format!("write the batch: {e}"))?;
    let t = Instant::now();
    let out = Command::new("ip")
        .args(["-n", ns.name(), "-batch"])
        .arg(&file)
        .output()
        .map_err(|e| format!("run ip -batch: {e}"))?;
    let took = t.elapsed();
    if !out.status.success() {
        return Err(format!(
            "ip -batch failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(took)
}

/// Times one `ovs-vsctl` call (which returns once ovs-vswitchd has carried
/// the change out).
fn vsctl(ovs: &Ovs, args: &[String]) -> Result<Duration, String> {
    let t = Instant::now();
    let out = Command::new("ovs-vsctl")
        .arg(format!("--db={}", ovs.db()))
        .arg("--timeout=1800")
        .args(args)
        .output()
        .map_err(|e| format!("run ovs-vsctl: {e}"))?;
    let took = t.elapsed();
    if !out.status.success() {
        return Err(format!(
            "ovs-vsctl failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(took)
}

// ------------------------------------------------------------------ checks

#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    bridges: usize,
    vlans: usize,
    bonds: usize,
}

fn count(ns: &Netns) -> Result<Counts, String> {
    let out = ns.try_ip(&["-j", "-d", "link"])?;
    let links: Value = serde_json::from_str(&out).map_err(|e| format!("ip -j -d link: {e}"))?;
    let mut c = Counts::default();
    for l in links.as_array().into_iter().flatten() {
        match l["linkinfo"]["info_kind"].as_str() {
            Some("bridge") => c.bridges += 1,
            Some("vlan") => c.vlans += 1,
            Some("bond") => c.bonds += 1,
            _ => {}
        }
    }
    Ok(c)
}

fn check_counts(ns: &Netns, want: &Counts) -> Result<(), String> {
    let got = count(ns)?;
    if &got == want {
        Ok(())
    } else {
        Err(format!("{} holds {got:?}, want {want:?}", ns.name()))
    }
}

fn link_count(ns: &Netns) -> Result<usize, String> {
    let out = ns.try_ip(&["-j", "link"])?;
    let links: Value = serde_json::from_str(&out).map_err(|e| format!("ip -j link: {e}"))?;
    Ok(links.as_array().map_or(0, Vec::len))
}

fn check_mtu(ns: &Netns, i: usize, mtu: u32) -> Result<(), String> {
    for dev in [format!("{BOND}.{i}"), format!("net{i}")] {
        let out = ns.try_ip(&["-j", "link", "show", "dev", &dev])?;
        let l: Value = serde_json::from_str(&out).map_err(|e| format!("ip -j link: {e}"))?;
        if l[0]["mtu"] != mtu {
            return Err(format!(
                "{dev} in {} has mtu {}, want {mtu}",
                ns.name(),
                l[0]["mtu"]
            ));
        }
    }
    Ok(())
}

fn check_networks(caps: &Value, n: usize) -> Result<(), String> {
    let nets = caps["networks"].as_object().map_or(0, |m| m.len());
    if nets == n {
        Ok(())
    } else {
        Err(format!("caps reports {nets} networks, want {n}"))
    }
}

fn check_ports(ovs: &Ovs, br: &str, want: usize) -> Result<(), String> {
    let got = ovs.vsctl(&["list-ports", br]).lines().count();
    if got == want {
        Ok(())
    } else {
        Err(format!("{br} has {got} ports, want {want}"))
    }
}

// ------------------------------------------------------------------ netswitch

/// A namespace with its own state dir and resolv.conf for netswitch.
struct Host {
    // Dropped first: the namespace (and whatever runs in it) goes before
    // the state dir.
    ns: Netns,
    dir: tempfile::TempDir,
    bin: PathBuf,
}

struct Output {
    stdout: String,
    stderr: String,
}

struct Run {
    wall: Duration,
    phases: Phases,
}

impl Host {
    fn new(bin: &Path) -> Host {
        let ns = Netns::new();
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("resolv.conf"), "nameserver 192.0.2.53\n")
            .expect("resolv.conf");
        Host {
            ns,
            dir,
            bin: bin.to_path_buf(),
        }
    }

    /// netswitch with this host's namespace, state dir and resolv.conf.
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(["--netns", self.ns.name()])
            .arg("--state-dir")
            .arg(self.dir.path().join("lib"))
            .arg("--resolv-conf")
            .arg(self.dir.path().join("resolv.conf"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs netswitch inside, in-process (a socket path nobody listens on:
    /// never through a daemon); an error unless it exits 0.
    fn netswitch(
        &self,
        args: &[&str],
        log: Option<&str>,
        extra: &[String],
    ) -> Result<Output, String> {
        let mut cmd = self.command();
        cmd.arg("--socket")
            .arg(self.dir.path().join("no-daemon.sock"))
            .args(extra)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match log {
            Some(filter) => cmd.env("NETSWITCH_LOG", filter),
            None => cmd.env_remove("NETSWITCH_LOG"),
        };
        let out = cmd.output().map_err(|e| format!("run netswitch: {e}"))?;
        let o = Output {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        if !out.status.success() {
            let tail: Vec<&str> = o.stderr.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(format!(
                "netswitch {args:?} failed ({}): {} {}",
                out.status,
                o.stdout.trim(),
                tail.join(" | ")
            ));
        }
        Ok(o)
    }

    /// Times `netswitch setup FILE` (the request written beforehand).
    fn setup(&self, request: &Value, label: &str, extra: &[String]) -> Result<Run, String> {
        let file = self.dir.path().join("request.json");
        std::fs::write(&file, request.to_string())
            .map_err(|e| format!("write the request: {e}"))?;
        let path = file.to_str().ok_or("a temp path that is not UTF-8")?;
        let filter = std::env::var("NETSWITCH_BENCH_NETSWITCH_LOG")
            .unwrap_or_else(|_| LOG_FILTER.to_string());
        let t = Instant::now();
        let out = self.netswitch(&["setup", path], Some(&filter), extra);
        let wall = t.elapsed();
        let out = out?;
        if let Some(dir) = std::env::var_os("NETSWITCH_BENCH_LOG_DIR") {
            let file = Path::new(&dir).join(format!("{label}.log"));
            if let Err(e) = std::fs::write(&file, &out.stderr) {
                eprintln!("scale bench: writing {}: {e}", file.display());
            }
        }
        Ok(Run {
            wall,
            phases: Phases::from_log(&out.stderr, wall),
        })
    }
}

impl Host {
    /// Times `Engine::setup` of `request` in this process, on a thread in
    /// the namespace, against `ovs` with a wait for ovs-vswitchd of
    /// [`OVS_WAIT`]: the CLI's fixed 30 s wait is shorter than
    /// ovs-vswitchd needs for a few hundred ports under TCG. Process start
    /// (about 0.1 s here) is not included.
    fn engine_setup(
        &self,
        ovs: &Ovs,
        datapath: &str,
        request: &Value,
        label: &str,
    ) -> Result<Duration, String> {
        let mut engine = Engine::new(
            self.dir.path().join("lib"),
            self.dir.path().join("resolv.conf"),
        );
        engine.ovs.db = ovs.db();
        engine.ovs.datapath = datapath.to_string();
        engine.ovs.timeout = OVS_WAIT;
        let text = request.to_string();
        let log = match std::env::var_os("NETSWITCH_BENCH_LOG_DIR") {
            Some(dir) => {
                let path = Path::new(&dir).join(format!("{label}.log"));
                Some(std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?)
            }
            None => None,
        };
        self.ns.run(|| {
            // With a log dir, the engine's log as the CLI would write it.
            let _log = log.map(|file| {
                let filter = std::env::var("NETSWITCH_BENCH_NETSWITCH_LOG")
                    .unwrap_or_else(|_| LOG_FILTER.to_string());
                let subscriber = tracing_subscriber::fmt()
                    .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                    .with_writer(std::sync::Mutex::new(file))
                    .with_ansi(false)
                    .finish();
                tracing::subscriber::set_default(subscriber)
            });
            let t = Instant::now();
            let r = engine.setup(text.as_bytes(), &SetupOptions::default());
            let took = t.elapsed();
            r.map(|_| took)
                .map_err(|e| format!("setup failed (code {}): {e}", e.code()))
        })
    }
}

/// `netswitch daemon` in a host's namespace, its socket in the host's
/// dir; stopped on drop (and killed with this process: PR_SET_PDEATHSIG).
struct Daemon {
    child: Child,
    socket: PathBuf,
    /// From spawn to the first accepted connection.
    started: Duration,
}

impl Daemon {
    fn start(host: &Host) -> Result<Daemon, String> {
        let socket = host.dir.path().join("api.sock");
        let log = std::fs::File::create(host.dir.path().join("daemon.log"))
            .map_err(|e| format!("daemon log: {e}"))?;
        let mut cmd = host.command();
        cmd.arg("--socket")
            .arg(&socket)
            .arg("daemon")
            .env("NETSWITCH_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log);
        // SAFETY: prctl is async-signal-safe; nothing else runs between
        // fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let t = Instant::now();
        let child = cmd.spawn().map_err(|e| format!("spawn the daemon: {e}"))?;
        let mut daemon = Daemon {
            child,
            socket,
            started: Duration::ZERO,
        };
        loop {
            if UnixStream::connect(&daemon.socket).is_ok() {
                daemon.started = t.elapsed();
                return Ok(daemon);
            }
            if let Ok(Some(status)) = daemon.child.try_wait() {
                return Err(format!(
                    "the daemon exited ({status}): {}",
                    daemon.log_tail(host)
                ));
            }
            if t.elapsed() > Duration::from_secs(300) {
                return Err(format!(
                    "the daemon did not serve within 300 s: {}",
                    daemon.log_tail(host)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_tail(&self, host: &Host) -> String {
        let log = std::fs::read_to_string(host.dir.path().join("daemon.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then up to 30 s for it to exit; SIGKILL after.
    fn stop(mut self) -> Result<(), String> {
        self.terminate()
    }

    fn terminate(&mut self) -> Result<(), String> {
        if let Ok(Some(_)) = self.child.try_wait() {
            return Ok(());
        }
        // SAFETY: signalling our own child, not yet reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Err("the daemon ignored SIGTERM for 30 s; killed".into())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.terminate();
    }
}

/// A JSON-RPC client on the daemon's socket that times each call from
/// the request's first byte written to the answer's last byte read.
struct RpcClient {
    writer: UnixStream,
    reader: BufReader<UnixStream>,
    next_id: u64,
}

impl RpcClient {
    fn connect(socket: &Path) -> Result<RpcClient, String> {
        let stream = UnixStream::connect(socket).map_err(|e| format!("connect: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(900)))
            .map_err(|e| format!("socket: {e}"))?;
        Ok(RpcClient {
            writer: stream.try_clone().map_err(|e| format!("socket: {e}"))?,
            reader: BufReader::with_capacity(1 << 20, stream),
            next_id: 1,
        })
    }

    /// One call; the round trip and the answer's line, unparsed.
    fn call_raw(&mut self, method: &str, params: &Value) -> Result<(Duration, Vec<u8>), String> {
        let id = self.next_id;
        self.next_id += 1;
        let mut req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
            .to_string()
            .into_bytes();
        req.push(b'\n');
        let t = Instant::now();
        self.writer
            .write_all(&req)
            .map_err(|e| format!("{method}: write: {e}"))?;
        loop {
            let mut line = Vec::new();
            let got = self
                .reader
                .read_until(b'\n', &mut line)
                .map_err(|e| format!("{method}: read: {e}"))?;
            let took = t.elapsed();
            if got == 0 {
                return Err(format!("{method}: the daemon closed the connection"));
            }
            // Only a notification lacks an id (none is subscribed here);
            // checking for it costs a search, not a parse.
            if memchr(b"\"id\"", &line) {
                return Ok((took, line));
            }
        }
    }

    /// The `result` of an answer line; its `error` as the error.
    fn result(&self, line: &[u8]) -> Result<Value, String> {
        let v: Value = serde_json::from_slice(line).map_err(|e| format!("bad answer: {e}"))?;
        if let Some(err) = v.get("error") {
            return Err(format!("the daemon answered an error: {err}"));
        }
        v.get("result")
            .cloned()
            .ok_or_else(|| "an answer without result".to_string())
    }

    /// One call; the round trip and the parsed result.
    fn call(&mut self, method: &str, params: &Value) -> Result<(Duration, Value), String> {
        let (took, line) = self.call_raw(method, params)?;
        Ok((took, self.result(&line)?))
    }
}

fn memchr(needle: &[u8], hay: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn status_kib(pid: u32, key: &str) -> Result<u64, String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("no {key} in /proc/{pid}/status"))
}
// ------------------------------------------------------------------ phases

/// Where one `netswitch setup` spent its time, from its log (µs). Zero when
/// the log did not say (a different log format, an empty plan).
#[derive(Debug, Clone, Copy, Default)]
struct Phases {
    /// Wall time outside `Engine::setup`: exec, netns entry, reading the
    /// request, exit.
    process: u64,
    /// The first netlink snapshot.
    snapshot: u64,
    /// From the snapshot to the start of the apply: running config, parse,
    /// validate, plan.
    plan: u64,
    /// `netswitch_kernel::apply`: encode, sendmsg, acks.
    apply: u64,
    /// The verifying snapshot.
    verify_snapshot: u64,
    /// After the verifying snapshot: re-plan (must be empty) and persist.
    replan_persist: u64,
    /// Ops of the plan, netlink messages and `sendmsg` calls.
    ops: u64,
    sendmsg: u64,
}

impl Phases {
    fn from_log(log: &str, wall: Duration) -> Phases {
        let mut p = Phases::default();
        let mut snapshots: Vec<(f64, u64)> = Vec::new();
        let mut applying_at = None;
        let mut applied_at = None;
        for line in log.lines() {
            let at = timestamp(line);
            if line.contains("netlink snapshot taken") {
                if let (Some(at), Some(us)) = (at, field(line, "elapsed_us")) {
                    snapshots.push((at, us));
                }
            } else if line.contains(" applying") {
                applying_at = at;
                p.ops = field(line, "ops").unwrap_or(0);
            } else if line.contains("plan applied") {
                p.apply = field(line, "elapsed_us").unwrap_or(0);
                p.sendmsg = field(line, "sendmsg_calls").unwrap_or(0);
            } else if line.contains("applied and verified") {
                applied_at = at;
            }
        }
        let (Some(applying), Some(done), [(first_at, first), .., (verify_at, verify)]) =
            (applying_at, applied_at, snapshots.as_slice())
        else {
            return p;
        };
        let us = |s: f64| (s * 1e6).max(0.0) as u64;
        p.snapshot = *first;
        p.plan = us(applying - first_at);
        p.verify_snapshot = *verify;
        p.replan_persist = us(done - verify_at);
        // From the start of the first snapshot (the first thing
        // `Engine::setup` does) to the last event.
        let inside = us(done - first_at) + first;
        p.process = (wall.as_micros() as u64).saturating_sub(inside);
        p
    }
}

/// Seconds of the day of a tracing-subscriber line
/// (`2026-11-21T14:10:21.123456Z  INFO ...`).
fn timestamp(line: &str) -> Option<f64> {
    let stamp = line.split_whitespace().next()?;
    let time = stamp.split_once('T')?.1.trim_end_matches('Z');
    let mut parts = time.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

/// The value of `name=123` in a log line.
fn field(line: &str, name: &str) -> Option<u64> {
    let key = format!("{name}=");
    let at = line.find(&format!(" {key}"))? + 1 + key.len();
    let digits: String = line[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

// ------------------------------------------------------------------ report

struct Row {
    n: usize,
    reps: usize,
    s: Sample,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn median_u64(mut v: Vec<u64>) -> u64 {
    v.sort();
    v[v.len() / 2]
}

/// The median of the runs that measured the cell; the first error when
/// none did; `None` when no run tried.
fn median_cell<T: Clone + Ord>(cells: Vec<&Cell<T>>) -> Cell<T> {
    let mut oks: Vec<T> = cells
        .iter()
        .filter_map(|c| c.as_ref()?.as_ref().ok().cloned())
        .collect();
    if !oks.is_empty() {
        oks.sort();
        return Some(Ok(oks[oks.len() / 2].clone()));
    }
    cells
        .iter()
        .find_map(|c| c.as_ref()?.as_ref().err().cloned())
        .map(Err)
}

impl Row {
    /// The median of each cell on its own.
    fn median(n: usize, reps: usize, samples: &[Sample]) -> Row {
        let d = |f: fn(&Sample) -> &Cell<Duration>| median_cell(samples.iter().map(f).collect());
        let p = |f: fn(&Sample) -> Phases| {
            let all: Vec<Phases> = samples.iter().map(f).collect();
            let m = |g: fn(&Phases) -> u64| median_u64(all.iter().map(g).collect());
            Phases {
                process: m(|p| p.process),
                snapshot: m(|p| p.snapshot),
                plan: m(|p| p.plan),
                apply: m(|p| p.apply),
                verify_snapshot: m(|p| p.verify_snapshot),
                replan_persist: m(|p| p.replan_persist),
                ops: m(|p| p.ops),
                sendmsg: m(|p| p.sendmsg),
            }
        };
        let first = |f: fn(&Sample) -> Option<Duration>| {
            let v: Vec<Duration> = samples.iter().filter_map(f).collect();
            (!v.is_empty()).then(|| median(v))
        };
        let last = |f: fn(&Sample) -> Option<usize>| samples.iter().rev().find_map(f);
        Row {
            n,
            reps,
            s: Sample {
                setup_ns: d(|s| &s.setup_ns),
                setup_ip: d(|s| &s.setup_ip),
                setup_phases: p(|s| s.setup_phases),
                edit_ns: d(|s| &s.edit_ns),
                edit_ip: d(|s| &s.edit_ip),
                edit_phases: p(|s| s.edit_phases),
                caps_local: d(|s| &s.caps_local),
                devices: last(|s| s.devices),
                daemon_start: d(|s| &s.daemon_start),
                edit_rpc: d(|s| &s.edit_rpc),
                edit_rpc_first: first(|s| s.edit_rpc_first),
                caps_rpc: d(|s| &s.caps_rpc),
                caps_bytes: last(|s| s.caps_bytes),
                rss: median_cell(samples.iter().map(|s| &s.rss).collect()),
                remove_ns: d(|s| &s.remove_ns),
                remove_ip: d(|s| &s.remove_ip),
                remove_phases: p(|s| s.remove_phases),
                ovs_setup_ns: d(|s| &s.ovs_setup_ns),
                ovs_setup_vsctl: d(|s| &s.ovs_setup_vsctl),
                ovs_remove_ns: d(|s| &s.ovs_remove_ns),
                ovs_remove_vsctl: d(|s| &s.ovs_remove_vsctl),
                ovs_up_ip: first(|s| s.ovs_up_ip),
                ovs_over_max: samples.iter().any(|s| s.ovs_over_max),
                errors: Vec::new(),
            },
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A time as people read it: ms below 1 s, else seconds.
fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.0} ms", ms(d))
    } else if d < Duration::from_secs(100) {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        format!("{:.0} s", d.as_secs_f64())
    }
}

fn fmt_ms(c: &Cell<Duration>) -> String {
    match c {
        None => "-".into(),
        Some(Err(_)) => "failed".into(),
        Some(Ok(d)) => human(*d),
    }
}

fn ratio(a: &Cell<Duration>, b: &Cell<Duration>) -> String {
    match (a, b) {
        (Some(Ok(a)), Some(Ok(b))) if !b.is_zero() => {
            let r = a.as_secs_f64() / b.as_secs_f64();
            if r >= 10.0 {
                format!("{r:.0}×")
            } else {
                format!("{r:.2}×")
            }
        }
        _ => String::new(),
    }
}

/// The table: one row per N and step, Markdown.
fn table(rows: &[Row]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| N | step | netswitch | reference | ref. time | ratio | notes |"
    );
    let _ = writeln!(t, "|---:|---|---:|---|---:|---:|---|");
    for r in rows {
        let s = &r.s;
        let n = if r.reps == 1 {
            r.n.to_string()
        } else {
            format!("{} (median of {})", r.n, r.reps)
        };
        let line = |step: &str,
                    ns: &Cell<Duration>,
                    what: &str,
                    refc: &Cell<Duration>,
                    note: String|
         -> String {
            if ns.is_none() && refc.is_none() {
                return String::new();
            }
            let refc_text = if refc.is_none() && what.is_empty() {
                String::new()
            } else {
                fmt_ms(refc)
            };
            format!(
                "| {n} | {step} | {} | {what} | {refc_text} | {} | {note} |\n",
                fmt_ms(ns),
                ratio(ns, refc),
            )
        };
        t += &line(
            "setup N",
            &s.setup_ns,
            "`ip -batch`",
            &s.setup_ip,
            String::new(),
        );
        t += &line(
            "edit 1, CLI",
            &s.edit_ns,
            "`ip -batch`",
            &s.edit_ip,
            String::new(),
        );
        t += &line(
            "edit 1, daemon RPC",
            &s.edit_rpc,
            "`ip -batch`",
            if s.edit_rpc.is_some() {
                &s.edit_ip
            } else {
                &None
            },
            match s.edit_rpc_first {
                Some(f) => format!(
                    "Host.setupNetworks, median of {RPC_EDITS}; first {}",
                    human(f)
                ),
                None => String::new(),
            },
        );
        t += &line(
            "caps, CLI in-process",
            &s.caps_local,
            "",
            &None,
            match s.devices {
                Some(d) => format!("{d} links"),
                None => String::new(),
            },
        );
        t += &line(
            "caps, daemon RPC",
            &s.caps_rpc,
            "",
            &None,
            match s.caps_bytes {
                Some(b) => format!(
                    "Host.getNetworkCapabilities, median of {CAPS_ROUNDS}; {:.2} MB answer",
                    b as f64 / 1e6
                ),
                None => String::new(),
            },
        );
        if let Some(rss) = &s.rss {
            let (cell, note) = match rss {
                Ok((rss, hwm)) => (
                    format!("{:.1} MiB", *rss as f64 / 1024.0),
                    format!(
                        "VmRSS after the caps calls (peak {:.1} MiB); served {} after start",
                        *hwm as f64 / 1024.0,
                        fmt_ms(&s.daemon_start)
                    ),
                ),
                Err(_) => ("failed".into(), String::new()),
            };
            let _ = writeln!(t, "| {n} | daemon RSS | {cell} | | | | {note} |");
        } else if let Some(Err(_)) = &s.daemon_start {
            let _ = writeln!(t, "| {n} | daemon start | failed | | | | |");
        }
        t += &line(
            "remove all",
            &s.remove_ns,
            "`ip -batch`",
            &s.remove_ip,
            String::new(),
        );
        if s.ovs_over_max {
            let _ = writeln!(
                t,
                "| {n} | OVS setup N, remove all | not run | | | | N > NETSWITCH_BENCH_OVS_MAX_N ({}) |",
                ovs_max_n()
            );
        }
        t += &line(
            "OVS setup N",
            &s.ovs_setup_ns,
            "one `ovs-vsctl`",
            &s.ovs_setup_vsctl,
            match s.ovs_up_ip {
                Some(d) => format!(
                    "netswitch also sets the N ports up: `ip -batch` alone takes {} for that",
                    human(d)
                ),
                None => String::new(),
            },
        );
        t += &line(
            "OVS remove all",
            &s.ovs_remove_ns,
            "`ovs-vsctl del-br`",
            &s.ovs_remove_vsctl,
            String::new(),
        );
    }
    t
}

/// Where the CLI's time went, per step, as a Markdown table (ms).
fn breakdown(rows: &[Row]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| N | step | wall ms | process start/exit | snapshot | parse+validate+plan | apply (netlink) \
         | verify snapshot | re-plan+persist | ops | sendmsg |"
    );
    let _ = writeln!(t, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let f = |us: u64| format!("{:.0}", us as f64 / 1000.0);
    for r in rows {
        for (step, wall, p) in [
            ("setup", &r.s.setup_ns, r.s.setup_phases),
            ("edit 1", &r.s.edit_ns, r.s.edit_phases),
            ("remove all", &r.s.remove_ns, r.s.remove_phases),
        ] {
            let Some(Ok(wall)) = wall else { continue };
            let _ = writeln!(
                t,
                "| {} | {step} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.n,
                ms(*wall),
                f(p.process),
                f(p.snapshot),
                f(p.plan),
                f(p.apply),
                f(p.verify_snapshot),
                f(p.replan_persist),
                p.ops,
                p.sendmsg,
            );
        }
    }
    t
}
