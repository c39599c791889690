//! The scale benchmark of the legacy switch (DESIGN §7): N bridged VLAN
//! networks on a bond, set up, edited and removed by `netswitch`, beside
//! `ip -batch` doing the same links — the kernel's own cost, the baseline.
//!
//! Runs inside the kernel lab only (bonding, 8021q and dummy modules), as
//! root, through `scripts/bench-lab`:
//!
//! ```sh
//! scripts/bench-lab                          # N = 100 500
//! NETSWITCH_BENCH_N="100 500 1000" scripts/bench-lab
//! ```
//!
//! For each N, in fresh namespaces with two dummies (`dummy_1`, `dummy_2`):
//!
//! - **setup**: `netswitch setup` of N bridged networks `net1..netN` with
//!   VLAN ids 1..N on a new bond `bond0` (mode=4 miimon=100) of the two
//!   dummies; beside it, in another namespace, one `ip -batch` creating the
//!   same links (bond, slaves down and enslaved, N VLANs, N bridges, ports,
//!   everything up). Both namespaces must then hold N bridges, N VLANs and
//!   one bond (`ip -j -d link`).
//! - **edit 1**: one network's MTU changed by `netswitch setup` on the host
//!   with N (and the same two `ip link set ... mtu` in one `ip -batch`).
//! - **caps**: `netswitch --json caps` at N.
//! - **remove all**: every network and the bond in one `netswitch setup`;
//!   beside it one `ip -batch` deleting the same links.
//!
//! Before each measured step the bench waits until no IPv6 address is
//! tentative in either namespace (the kernel's duplicate address detection
//! on the links just made is over) and one second more, so a step does not
//! pay for the kernel's deferred work on the other side's links. Its own
//! links' deferred work overlaps it, as on a real host.
//!
//! Every cell is the wall time of one process (fork + exec + the work), as
//! an engine or a script would pay it. One measured run per cell for
//! N ≥ 500 (TCG is slow), the median of 3 below (`NETSWITCH_BENCH_REPS`
//! overrides). netswitch runs with `NETSWITCH_LOG` = [`LOG_FILTER`] (about
//! 25 log lines per request) so a second table can split its time: process
//! start and exit, the snapshot, parse + validate + plan, the netlink apply,
//! the verifying snapshot and re-plan + persist. With
//! `NETSWITCH_BENCH_LOG_DIR=DIR` (a directory the lab can write, e.g. under
//! the target dir) each `netswitch setup`'s log is kept there as
//! `n<N>-run<R>-<step>.log`; `NETSWITCH_BENCH_NETSWITCH_LOG` replaces the
//! log filter (e.g. `debug` for every netlink dump's count and time).
//!
//! The netswitch binary: `NETSWITCH_BIN`, else the one cargo built beside
//! this bench (`CARGO_BIN_EXE_netswitch`, the release profile under
//! `cargo bench`). It runs from a copy in a temporary directory (tmpfs in
//! the lab): executing it straight from the target dir, which the lab
//! shares over 9p with `cache=mmap`, adds 0.3–0.6 s of page-ins to every
//! run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use netswitch_testkit::Netns;
use serde_json::{json, Map, Value};

const BOND: &str = "bond0";
const BOND_OPTIONS: &str = "mode=4 miimon=100";
const DEFAULT_N: &str = "100 500";
/// From this N on, one measured run per cell.
const SINGLE_RUN_FROM: usize = 500;
/// What netswitch logs during the bench: the apply summary, the phases'
/// ends and each snapshot's time; little enough not to matter.
const LOG_FILTER: &str = "info,netswitch_netinfo=debug,netswitch_engine=debug";

fn main() {
    if std::env::var("NETSWITCH_LAB").as_deref() != Ok("1") {
        println!(
            "scale bench: skipped; it needs the kernel lab (bonding, 8021q, dummy) and runs \
             inside it: use scripts/bench-lab (e.g. NETSWITCH_BENCH_N=\"100 500\" scripts/bench-lab)"
        );
        return;
    }
    // `cargo test --benches` runs bench binaries without `--bench`: a test
    // run has no time for minutes of TCG.
    if !std::env::args().any(|a| a == "--bench") {
        println!("scale bench: test mode (no --bench); skipped");
        return;
    }
    let sizes = sizes();
    let built = netswitch_bin();
    // The lab shares the target dir over 9p with cache=mmap: every exec
    // from there pages the binary in over 9p again (0.3–0.6 s of system
    // time per run under TCG, measured). A copy on the lab's tmpfs is
    // paged in once.
    let bin_dir = tempfile::tempdir().expect("tempdir");
    let bin = bin_dir.path().join("netswitch");
    std::fs::copy(&built, &bin).expect("copy the netswitch binary");
    println!(
        "scale bench: netswitch = {} (run from a copy on {})",
        built.display(),
        bin_dir.path().display()
    );
    println!("scale bench: N = {sizes:?}");
    println!("scale bench: {}", spawn_baseline(&bin));

    let mut rows = Vec::new();
    for &n in &sizes {
        let reps = reps(n);
        let mut samples = Vec::new();
        for rep in 0..reps {
            eprintln!("scale bench: N = {n}, run {}/{reps}", rep + 1);
            let s = one_run(&bin, n, rep);
            eprintln!(
                "scale bench:   setup {:.0}/{:.0} ms, edit {:.0}/{:.0} ms, caps {:.0} ms, \
                 remove {:.0}/{:.0} ms (netswitch/ip); netswitch process start+exit \
                 {:.0}/{:.0}/{:.0} ms",
                ms(s.setup_ns),
                ms(s.setup_ip),
                ms(s.edit_ns),
                ms(s.edit_ip),
                ms(s.caps),
                ms(s.remove_ns),
                ms(s.remove_ip),
                s.setup_phases.process as f64 / 1000.0,
                s.edit_phases.process as f64 / 1000.0,
                s.remove_phases.process as f64 / 1000.0,
            );
            samples.push(s);
        }
        let row = Row::median(n, reps, samples);
        println!("{}", row.progress_line());
        rows.push(row);
    }
    println!();
    print!("{}", table(&rows));
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

// ------------------------------------------------------------------ one run

/// The times of one run at one N.
#[derive(Debug, Clone, Default)]
struct Sample {
    setup_ns: Duration,
    setup_ip: Duration,
    setup_phases: Phases,
    edit_ns: Duration,
    edit_ip: Duration,
    edit_phases: Phases,
    caps: Duration,
    remove_ns: Duration,
    remove_ip: Duration,
    remove_phases: Phases,
}

fn one_run(bin: &Path, n: usize, rep: usize) -> Sample {
    let host = Host::new(bin);
    let base = Netns::new();
    for ns in [&host.ns, &base] {
        add_dummies(ns);
    }
    let mut s = Sample::default();

    let both = [&host.ns, &base];
    settle(&both);

    // (a) setup: netswitch, then (b) ip -batch in the other namespace.
    let run = host.setup(&setup_request(n), &format!("n{n}-run{}-setup", rep + 1));
    s.setup_ns = run.wall;
    s.setup_phases = run.phases;
    settle(&both);
    s.setup_ip = ip_batch(&base, &setup_script(n));
    let (got_ns, got_ip) = (count(&host.ns), count(&base));
    let want = Counts {
        bridges: n,
        vlans: n,
        bonds: 1,
    };
    assert_eq!(got_ns, want, "netswitch namespace after setup of {n}");
    assert_eq!(got_ip, want, "ip -batch namespace after setup of {n}");

    // (c) edit 1: a lower MTU on one network (each run another value, so
    // every run changes something); the bond stays at 1500.
    let edited = 1;
    let mtu = 1400 - 100 * rep as u32;
    settle(&both);
    let run = host.setup(
        &edit_request(edited, mtu),
        &format!("n{n}-run{}-edit", rep + 1),
    );
    s.edit_ns = run.wall;
    s.edit_phases = run.phases;
    settle(&both);
    s.edit_ip = ip_batch(
        &base,
        &format!("link set {BOND}.{edited} mtu {mtu}\nlink set net{edited} mtu {mtu}\n"),
    );
    for ns in [&host.ns, &base] {
        for dev in [format!("{BOND}.{edited}"), format!("net{edited}")] {
            let l = ns.ip_json(&["link", "show", "dev", &dev]);
            assert_eq!(l[0]["mtu"], mtu, "{dev} in {} after the edit", ns.name());
        }
    }

    // (e) caps at N.
    settle(&both);
    let t = Instant::now();
    let out = host.netswitch(&["--json", "caps"], None);
    s.caps = t.elapsed();
    let caps: Value = serde_json::from_str(&out.stdout).expect("caps --json is JSON");
    let nets = caps["networks"].as_object().map_or(0, |m| m.len());
    assert_eq!(nets, n, "caps reports {nets} networks, want {n}");

    // (d) remove all: netswitch, then ip -batch.
    settle(&both);
    let run = host.setup(&remove_request(n), &format!("n{n}-run{}-remove", rep + 1));
    s.remove_ns = run.wall;
    s.remove_phases = run.phases;
    settle(&both);
    s.remove_ip = ip_batch(&base, &remove_script(n));
    for ns in [&host.ns, &base] {
        assert_eq!(
            count(ns),
            Counts::default(),
            "{} after removing all",
            ns.name()
        );
    }
    s
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
                let links = ns.ip_json(&["-6", "addr", "show", "tentative"]);
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

fn add_dummies(ns: &Netns) {
    ns.ip_batch(
        "link add dummy_1 type dummy\nlink add dummy_2 type dummy\n\
         link set dummy_1 up\nlink set dummy_2 up\n",
    );
}

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
    json!({"networks": {format!("net{i}"): attrs}, "options": {"connectivityCheck": false}})
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

/// The links netswitch's plan makes, as `ip -batch` lines, in the same
/// order of kinds (the plan: bond, slaves, VLANs, bridges, ports, up).
fn setup_script(n: usize) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "link add {BOND} type bond mode 802.3ad miimon 100\n"
    ));
    for d in ["dummy_1", "dummy_2"] {
        s.push_str(&format!("link set {d} down\nlink set {d} master {BOND}\n"));
    }
    s.push_str(&format!("link set {BOND} up\n"));
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

/// Times `ip -n NS -batch FILE` (the script written beforehand).
fn ip_batch(ns: &Netns, script: &str) -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("batch");
    std::fs::write(&file, script).expect("write the batch");
    let t = Instant::now();
    let out = Command::new("ip")
        .args(["-n", ns.name(), "-batch"])
        .arg(&file)
        .output()
        .expect("run ip -batch");
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "ip -batch failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    bridges: usize,
    vlans: usize,
    bonds: usize,
}

fn count(ns: &Netns) -> Counts {
    let links = ns.ip_json(&["-d", "link"]);
    let mut c = Counts::default();
    for l in links.as_array().into_iter().flatten() {
        match l["linkinfo"]["info_kind"].as_str() {
            Some("bridge") => c.bridges += 1,
            Some("vlan") => c.vlans += 1,
            Some("bond") => c.bonds += 1,
            _ => {}
        }
    }
    c
}

// ------------------------------------------------------------------ netswitch

/// A namespace with its own state dir and resolv.conf for netswitch.
struct Host {
    // Dropped first: the namespace goes before the state dir.
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

    /// Runs netswitch inside; panics unless it exits 0.
    fn netswitch(&self, args: &[&str], log: Option<&str>) -> Output {
        let mut cmd = Command::new(&self.bin);
        cmd.args(["--netns", self.ns.name()])
            .arg("--state-dir")
            .arg(self.dir.path().join("lib"))
            .arg("--resolv-conf")
            .arg(self.dir.path().join("resolv.conf"))
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match log {
            Some(filter) => cmd.env("NETSWITCH_LOG", filter),
            None => cmd.env_remove("NETSWITCH_LOG"),
        };
        let out = cmd.output().expect("run netswitch");
        let o = Output {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert!(
            out.status.success(),
            "netswitch {args:?} failed ({}): {}{}",
            out.status,
            o.stderr,
            o.stdout
        );
        o
    }

    /// Times `netswitch setup FILE` (the request written beforehand).
    fn setup(&self, request: &Value, label: &str) -> Run {
        let file = self.dir.path().join("request.json");
        std::fs::write(&file, request.to_string()).expect("write the request");
        let path = file.to_str().expect("utf-8 temp path");
        let t = Instant::now();
        let filter = std::env::var("NETSWITCH_BENCH_NETSWITCH_LOG")
            .unwrap_or_else(|_| LOG_FILTER.to_string());
        let out = self.netswitch(&["setup", path], Some(&filter));
        let wall = t.elapsed();
        if let Some(dir) = std::env::var_os("NETSWITCH_BENCH_LOG_DIR") {
            let file = Path::new(&dir).join(format!("{label}.log"));
            std::fs::write(&file, &out.stderr)
                .unwrap_or_else(|e| panic!("writing {}: {e}", file.display()));
        }
        Run {
            wall,
            phases: Phases::from_log(&out.stderr, wall),
        }
    }
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

impl Row {
    /// The median of each cell on its own.
    fn median(n: usize, reps: usize, samples: Vec<Sample>) -> Row {
        let d = |f: fn(&Sample) -> Duration| median(samples.iter().map(f).collect());
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
        Row {
            n,
            reps,
            s: Sample {
                setup_ns: d(|s| s.setup_ns),
                setup_ip: d(|s| s.setup_ip),
                setup_phases: p(|s| s.setup_phases),
                edit_ns: d(|s| s.edit_ns),
                edit_ip: d(|s| s.edit_ip),
                edit_phases: p(|s| s.edit_phases),
                caps: d(|s| s.caps),
                remove_ns: d(|s| s.remove_ns),
                remove_ip: d(|s| s.remove_ip),
                remove_phases: p(|s| s.remove_phases),
            },
        }
    }

    fn progress_line(&self) -> String {
        let s = &self.s;
        format!(
            "scale bench: N = {}: setup {:.2} s vs ip {:.2} s, edit {:.0} ms, caps {:.0} ms, \
             remove {:.2} s vs ip {:.2} s",
            self.n,
            secs(s.setup_ns),
            secs(s.setup_ip),
            ms(s.edit_ns),
            ms(s.caps),
            secs(s.remove_ns),
            secs(s.remove_ip)
        )
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn ratio(a: Duration, b: Duration) -> String {
    if b.is_zero() {
        "-".into()
    } else {
        format!("{:.2}×", a.as_secs_f64() / b.as_secs_f64())
    }
}

/// The summary, as a Markdown table.
fn table(rows: &[Row]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| N | runs | setup N: netswitch s | ip -batch s | ratio | edit 1: netswitch ms | (ip -batch ms) \
         | remove all: netswitch s | ip -batch s | ratio | caps ms |"
    );
    let _ = writeln!(
        t,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in rows {
        let s = &r.s;
        let _ = writeln!(
            t,
            "| {} | {} | {:.2} | {:.2} | {} | {:.0} | ({:.0}) | {:.2} | {:.2} | {} | {:.0} |",
            r.n,
            if r.reps == 1 {
                "1".to_string()
            } else {
                format!("median of {}", r.reps)
            },
            secs(s.setup_ns),
            secs(s.setup_ip),
            ratio(s.setup_ns, s.setup_ip),
            ms(s.edit_ns),
            ms(s.edit_ip),
            secs(s.remove_ns),
            secs(s.remove_ip),
            ratio(s.remove_ns, s.remove_ip),
            ms(s.caps),
        );
    }
    t
}

/// Where netswitch's time went, per step, as a Markdown table (ms).
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
            ("setup", r.s.setup_ns, r.s.setup_phases),
            ("edit 1", r.s.edit_ns, r.s.edit_phases),
            ("remove all", r.s.remove_ns, r.s.remove_phases),
        ] {
            let _ = writeln!(
                t,
                "| {} | {step} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.n,
                ms(wall),
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
