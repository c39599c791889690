//! Crash safety in a scratch namespace: `netswitch setup` killed with
//! SIGKILL at random points and at named ones, then any verb started again;
//! the host, the running and persistent configs and the resolver file must
//! be exactly the old state or the new one.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Host;
use netswitch_engine::{Facts, Store, Which};
use netswitch_model::Config;
use serde_json::{json, Value};

/// Everything a crash could tear: host facts, both configs, resolv.conf.
#[derive(Debug, Clone, PartialEq)]
struct State {
    facts: Facts,
    running: Config,
    persistent: Config,
    resolv: String,
}

fn state(h: &Host) -> State {
    let store = Store::new(h.state.path().join("lib"));
    State {
        facts: h.facts(),
        running: store.load(Which::Running).expect("running config readable"),
        persistent: store
            .load(Which::Persistent)
            .expect("persistent config readable"),
        resolv: std::fs::read_to_string(h.state.path().join("resolv.conf")).unwrap(),
    }
}

/// What differs between two states, for a failure message.
fn diff(a: &State, b: &State) -> String {
    let mut out = a.facts.diff(&b.facts);
    if a.running != b.running {
        out.push("running config differs".into());
    }
    if a.persistent != b.persistent {
        out.push("persistent config differs".into());
    }
    if a.resolv != b.resolv {
        out.push(format!("resolv.conf {:?} vs {:?}", a.resolv, b.resolv));
    }
    out.join("\n")
}

/// The full state: a bridged management network with a static address,
/// the default route and name servers, and a bridgeless jumbo storage
/// network with its own gateway (so both get source routing).
fn to_full() -> Value {
    json!({
        "networks": {
            "mgmt": {"nic": "veth_a0", "ipaddr": "192.0.2.10", "prefix": 24, "gateway": "192.0.2.1",
                     "defaultRoute": true, "nameservers": ["192.0.2.53", "192.0.2.54"]},
            "store": {"nic": "veth_b0", "bridged": false, "mtu": 9000, "ipaddr": "198.51.100.2",
                      "prefix": 24, "gateway": "198.51.100.1"},
        },
        "options": {"commitOnSuccess": true},
    })
}

fn to_empty() -> Value {
    json!({
        "networks": {"mgmt": {"remove": true}, "store": {"remove": true}},
        "options": {"commitOnSuccess": true},
    })
}

fn spawn_setup(h: &Host, req: &Value, extra: &[&str], env: &[(&str, &str)]) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_netswitch"))
        .args(["--netns", h.ns.name()])
        .arg("--state-dir")
        .arg(h.state.path().join("lib"))
        .arg("--resolv-conf")
        .arg(h.state.path().join("resolv.conf"))
        .arg("setup")
        .args(extra)
        .arg("-")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), req.to_string().as_bytes())
        .unwrap();
    child
}

/// What the verb run after a kill found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    Nothing,
    RolledBack,
    Finished,
}

/// Runs `caps` (which recovers first); returns what it recovered.
fn recover_how(h: &Host) -> Found {
    let (code, _, err) = h.netswitch(&["caps", "--json"], None);
    assert_eq!(code, 0, "caps after a crash: {err}");
    assert!(
        !h.state.path().join("lib/journal").exists(),
        "journal left after recovery"
    );
    assert!(!err.contains("incompletely"), "{err}");
    if !err.contains("recovered an interrupted") {
        Found::Nothing
    } else if err.contains("finished it") {
        Found::Finished
    } else {
        Found::RolledBack
    }
}

fn recover(h: &Host) -> bool {
    recover_how(h) != Found::Nothing
}

/// A small deterministic generator (xorshift64*), so a failing run can be
/// repeated from its printed seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn random_kills_during_setups_leave_the_old_or_the_new_state() {
    let kills: u32 = std::env::var("NETSWITCH_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let seed: u64 = std::env::var("NETSWITCH_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash test: seed {seed} (NETSWITCH_CRASH_SEED={seed} repeats it), {kills} kills");
    let mut rng = Rng(seed);

    let h = Host::new();
    // Removing the defaultRoute network leaves its name servers in
    // resolv.conf: the empty state is the one after a first round.
    h.setup(to_full());
    h.setup(to_empty());
    let empty = state(&h);
    // Each way timed three times: a kill's delay is drawn from [0, the
    // median time of a setup going that way].
    let mut took = [Vec::new(), Vec::new()];
    let mut full = empty.clone();
    for _ in 0..3 {
        let t = Instant::now();
        h.setup(to_full());
        took[0].push(t.elapsed());
        full = state(&h);
        let t = Instant::now();
        h.setup(to_empty());
        took[1].push(t.elapsed());
        assert_eq!(state(&h), empty, "{}", diff(&state(&h), &empty));
    }
    let window = took.map(|mut t| {
        t.sort();
        t[1]
    });
    eprintln!(
        "crash test: kills within {} ms (adding) / {} ms (removing)",
        window[0].as_millis(),
        window[1].as_millis()
    );
    assert_ne!(full.facts, empty.facts);
    assert!(full.resolv.contains("nameserver 192.0.2.53"));

    let states = [&empty, &full];
    let mut at = 0usize; // index into states
    let mut tally = Tally::default();
    // A kill's delay is drawn from [0, window × scale]. How much of a setup
    // that window covers depends on the machine's load (start-up, the
    // measured setups against these ones), so the scale adapts: it grows
    // while few kills land after the commit (the new state) and shrinks
    // while few hit a transaction, and the run goes on past `kills` (up to
    // four times) until both kinds have happened often enough.
    let mut scale = 1.0f64;
    let started = Instant::now();
    let mut i = 0u32;
    while i < kills || (!tally.enough() && i < kills * 4) {
        if i > 0 && i.is_multiple_of(50) {
            scale = tally.rescale(scale, i);
        }
        let req = if at == 0 { to_full() } else { to_empty() };
        let span = (window[at].as_micros() as f64 * scale) as u64;
        let delay = Duration::from_micros(rng.next() % (span + 1));
        let mut child = spawn_setup(&h, &req, &[], &[]);
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        if status.success() {
            tally.finished += 1;
        }
        match recover_how(&h) {
            Found::Nothing => {}
            Found::RolledBack => tally.rolled_back += 1,
            Found::Finished => tally.rolled_forward += 1,
        }
        let now = state(&h);
        if &now == states[at] {
            tally.stayed += 1;
        } else if &now == states[1 - at] {
            tally.moved += 1;
            at = 1 - at;
        } else {
            panic!(
                "seed {seed}, kill {i} after {} µs: neither the old nor the new state;\nvs old:\n{}\nvs new:\n{}",
                delay.as_micros(),
                diff(states[at], &now),
                diff(states[1 - at], &now)
            );
        }
        i += 1;
    }
    let Tally {
        stayed,
        moved,
        finished,
        rolled_back,
        rolled_forward,
    } = tally;
    eprintln!(
        "crash test: {i} kills in {} s (window scale at the end {scale:.2}): \
         {stayed} left the old state, {moved} the new; \
         recoveries: {rolled_back} rolled back, {rolled_forward} finished; \
         {finished} setups exited before their kill",
        started.elapsed().as_secs()
    );
    // The kills must have hit transactions in flight, not only process
    // start-up or the end.
    assert!(
        rolled_back >= 10,
        "only {rolled_back} kills hit a transaction"
    );
    assert!(stayed >= 10 && moved >= 10, "{stayed} old, {moved} new");
}

/// What the random kills found.
#[derive(Default)]
struct Tally {
    stayed: u32,
    moved: u32,
    finished: u32,
    rolled_back: u32,
    rolled_forward: u32,
}

impl Tally {
    /// Both outcomes and kills inside transactions, each at least 10 times.
    fn enough(&self) -> bool {
        self.stayed >= 10 && self.moved >= 10 && self.rolled_back >= 10
    }

    /// The next window scale after `kills` kills: wider while under a
    /// tenth of them reached the new state, narrower while under a tenth
    /// hit a transaction.
    fn rescale(&self, scale: f64, kills: u32) -> f64 {
        let tenth = kills / 10;
        if self.moved < tenth {
            scale * 1.5
        } else if self.rolled_back < tenth {
            scale * 0.75
        } else {
            scale
        }
    }
}

#[test]
fn a_crash_at_each_named_point_ends_old_or_new_as_its_place_says() {
    let h = Host::new();
    h.setup(to_full());
    h.setup(to_empty());
    let empty = state(&h);
    h.setup(to_full());
    let full = state(&h);
    h.setup(to_empty());
    // Before the first op, after the last op, and between the running and
    // the persistent save of commitOnSuccess.
    for (point, expect_new) in [
        ("journaled", false),
        ("applied", false),
        ("saved-running", true),
    ] {
        for (req, old, new) in [(to_full(), &empty, &full), (to_empty(), &full, &empty)] {
            let child = spawn_setup(&h, &req, &[], &[("NETSWITCH_TEST_CRASH_AT", point)]);
            let out = child.wait_with_output().unwrap();
            assert_eq!(out.status.code(), None, "{point}: not killed");
            assert!(h.state.path().join("lib/journal").exists(), "{point}");
            assert!(recover(&h), "{point}: no recovery");
            let want = if expect_new { new } else { old };
            let now = state(&h);
            assert_eq!(&now, want, "{point}: {}", diff(want, &now));
            if !expect_new {
                // Leave the host as the next request expects it.
                h.setup(req);
            }
        }
    }
}

#[test]
fn a_kill_during_the_confirmation_wait_is_rolled_back_but_a_live_wait_is_not_touched() {
    let h = Host::new();
    let old = state(&h);
    let mut req = to_full();
    req["options"] = json!({});
    let mut child = spawn_setup(&h, &req, &["--confirm-within", "30"], &[]);
    let pending = h.state.path().join("lib/pending-confirmation");
    let t = Instant::now();
    while !pending.exists() {
        assert!(t.elapsed() < Duration::from_secs(20), "setup never waited");
        std::thread::sleep(Duration::from_millis(10));
    }
    // While the setup lives, other verbs leave its journal alone, and a
    // second mutating verb is refused with code 40.
    let caps = h.caps();
    assert!(caps["bridges"]["mgmt"].is_object(), "{caps}");
    assert!(h.state.path().join("lib/journal").exists());
    let (code, err) = h.setup_code(&to_empty(), &[]);
    assert_eq!(code, 40, "{err}");
    assert!(err.contains("another network verb"), "{err}");

    child.kill().unwrap();
    child.wait().unwrap();
    assert!(recover(&h));
    let now = state(&h);
    assert_eq!(now, old, "{}", diff(&old, &now));
    assert!(
        !pending.exists(),
        "the dead setup's pending confirmation is gone"
    );
}

#[test]
fn recovery_is_idempotent_and_cheap_without_a_journal() {
    let h = Host::new();
    let (code, _, err) = h.netswitch(&["caps"], None);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("recovered"), "{err}");
    // A journal whose recovery was itself killed half way is recovered
    // again by the next start.
    let child = spawn_setup(
        &h,
        &to_full(),
        &[],
        &[("NETSWITCH_TEST_CRASH_AT", "applied")],
    );
    child.wait_with_output().unwrap();
    let journal = std::fs::read(h.state.path().join("lib/journal")).unwrap();
    assert!(recover(&h));
    let after_first = state(&h);
    std::fs::write(h.state.path().join("lib/journal"), &journal).unwrap();
    assert!(recover(&h));
    assert_eq!(state(&h), after_first);
    assert!(!recover(&h));
}
