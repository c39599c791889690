//! Hostile inputs through the `netswitch` command, in a scratch namespace:
//! each is refused with its code before any op, and what an operator would
//! check afterwards (links, addresses, routes, the configs on disk) is as
//! it was. Also the round trips a refusal protects: every name validation
//! accepts is read back by the store, and the deepest accepted request is
//! rolled back after a crash.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Host;
use netswitch_engine::{Store, Which};
use netswitch_model::config::{Config, NetAttrs};
use netswitch_model::parse::{parse_request, MAX_CUSTOM_DEPTH};
use netswitch_model::NetChange;
use serde_json::{json, Value};

/// Runs a setup that must be refused with `code`, and checks nothing
/// changed: host facts and the running config.
fn refused_changing_nothing(h: &Host, req: &Value, extra: &[&str], code: i32, words: &[&str]) {
    let before = (h.facts(), h.running());
    let (got, err) = h.setup_code(req, extra);
    assert_eq!(got, code, "{req}: {err}");
    for w in words {
        assert!(err.contains(w), "{req}: {err:?} lacks {w:?}");
    }
    let after = (h.facts(), h.running());
    assert_eq!(
        after.0,
        before.0,
        "{req}: the host changed: {:?}",
        before.0.diff(&after.0)
    );
    assert_eq!(after.1, before.1, "{req}: the running config changed");
}

#[test]
fn names_the_kernel_would_rewrite_or_refuse_change_nothing() {
    let h = Host::new();
    for name in [
        "vm%d",
        "all",
        "default",
        "a:1",
        "vm.1",
        "é",
        "sixteen_chars_xx",
    ] {
        for attrs in [
            json!({"nic": "veth_a0"}),
            json!({"nic": "veth_a0", "vlan": 7}),
        ] {
            let req = json!({"networks": {name: attrs}});
            refused_changing_nothing(&h, &req, &[], 27, &["network"]);
        }
    }
    // A bridgeless network's name is a store file: a dotfile is refused.
    let req = json!({"networks": {".hidden": {"nic": "veth_a0", "bridged": false}}});
    refused_changing_nothing(&h, &req, &[], 27, &["network .hidden"]);
    for bond in ["bonding_masters", "bond%d"] {
        let req = json!({"bondings": {bond: {"nics": ["veth_a0"]}}});
        refused_changing_nothing(&h, &req, &[], 25, &["bond"]);
    }
    // The kernel's template never ran: no vm0.
    assert!(h.link("vm0").is_none());
    assert!(!h.state.path().join("lib/running/nets/.hidden").exists());
}

/// A small deterministic generator (xorshift64*); the seed is printed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn name(&mut self) -> String {
        const PIECES: &[&str] = &[
            "a", "Z", "0", "_", "-", ".", "..", "%", "%d", "/", ":", " ", "\t", "\n", "\u{0}",
            "\u{7f}", "é", "🦀", "bond", "all", "default", "@", "+", "=", "~", "\\", "'", "\"",
        ];
        let len = (self.next() % 12) as usize;
        (0..len)
            .map(|_| PIECES[(self.next() % PIECES.len() as u64) as usize])
            .collect()
    }
}

/// Property: every network and bond name the parser accepts is saved by
/// the store and read back under the same name.
#[test]
fn every_name_validation_accepts_round_trips_through_the_store() {
    let seed = std::env::var("NETSWITCH_NAMES_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("NETSWITCH_NAMES_SEED={seed}");
    let mut rng = Rng(seed);
    let mut config = Config::default();
    let (mut tried, mut kept) = (0, 0);
    for _ in 0..20_000 {
        let name = rng.name();
        tried += 1;
        for bridged in [true, false] {
            let req = json!({"networks": {&name: {"nic": "eth0", "bridged": bridged}}});
            if let Ok(r) = parse_request(req.to_string().as_bytes()) {
                if let Some(NetChange::Set { attrs, .. }) = r.networks.get(&name) {
                    config.networks.insert(name.clone(), attrs.clone());
                    kept += 1;
                }
            }
        }
        let bond = format!("bond{name}");
        let req = json!({"bondings": {&bond: {"nics": ["eth0"]}}});
        if let Ok(r) = parse_request(req.to_string().as_bytes()) {
            if let Some(a) = r.bondings.get(&bond).and_then(|c| c.attrs()) {
                config.bonds.insert(bond.clone(), a.clone());
            }
        }
    }
    // A few the generator rarely makes.
    for name in ["a.b", "net%d", "🦀", "all", "x".repeat(255).as_str()] {
        config
            .networks
            .insert(name.to_string(), NetAttrs::default());
        let req = json!({"networks": {name: {"nic": "eth0", "bridged": false}}});
        parse_request(req.to_string().as_bytes()).expect(name);
    }
    let req = json!({"bondings": {"bond_1": {"nics": ["eth0"]}}});
    let r = parse_request(req.to_string().as_bytes()).expect("bond_1");
    config.bonds.extend(
        r.bondings
            .into_iter()
            .filter_map(|(n, c)| Some((n, c.attrs()?.clone()))),
    );
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    store.save(Which::Running, &config).unwrap();
    let back = Store::new(dir.path()).load(Which::Running).unwrap();
    let lost: Vec<&String> = config
        .networks
        .keys()
        .filter(|n| !back.networks.contains_key(*n))
        .chain(config.bonds.keys().filter(|b| !back.bonds.contains_key(*b)))
        .collect();
    assert!(lost.is_empty(), "accepted but not read back: {lost:?}");
    assert_eq!(back, config);
    assert!(
        kept > 100,
        "only {kept} of {tried} names accepted: a weak generator"
    );
}

#[test]
fn dry_run_refuses_what_only_the_kernel_checked() {
    let h = Host::new();
    let cases = [
        (
            json!({"nic": "veth_a0", "ipaddr": "192.0.2.10", "prefix": 24, "gateway": "198.51.100.1"}),
            22,
            "gateway",
        ),
        (
            json!({"nic": "veth_a0", "ipv6addr": "2001:db8::10/64", "ipv6gateway": "2001:db8:1::1"}),
            22,
            "ipv6gateway",
        ),
        (
            json!({"nic": "veth_a0", "custom": {"bridge_opts": "no_such_option=1"}}),
            21,
            "no_such_option",
        ),
        (
            json!({"nic": "veth_a0", "custom": {"bridge_opts": "hello_time=0"}}),
            21,
            "hello_time",
        ),
    ];
    for (attrs, code, word) in cases {
        let req = json!({"networks": {"n1": attrs}});
        refused_changing_nothing(&h, &req, &["--dry-run"], code, &["network n1", word]);
        refused_changing_nothing(&h, &req, &[], code, &["network n1", word]);
    }
}

/// A `custom` value `depth` levels deep counting `custom` itself.
fn deep(depth: usize) -> Value {
    let mut v = json!("leaf");
    for i in 0..depth - 1 {
        v = if i % 2 == 0 {
            json!([v])
        } else {
            json!({"k": v})
        };
    }
    v
}

#[test]
fn the_deepest_accepted_request_killed_after_journaling_is_rolled_back() {
    let mut h = Host::new();
    let before = (h.facts(), h.running());
    let req = json!({"networks": {
        "deep": {"nic": "veth_a0", "ipaddr": "192.0.2.10", "prefix": 24, "custom": {"x": deep(MAX_CUSTOM_DEPTH)}},
    }});
    h.env
        .push(("NETSWITCH_TEST_CRASH_AT".into(), "journaled".into()));
    let (code, _, err) = h.netswitch(&["setup", "-"], Some(&req));
    h.env.pop();
    assert_eq!(code, -1, "not killed at journaled: {err}");
    assert!(h.state.path().join("lib/journal").exists());
    // The next verb recovers: it reads the journal and rolls back.
    let (code, _, err) = h.netswitch(&["caps", "--json"], None);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("recovered an interrupted"), "{err}");
    assert!(!err.contains("finished it"), "{err}");
    assert!(!h.state.path().join("lib/journal").exists());
    assert!(
        !h.state.path().join("lib/journal.unreadable").exists(),
        "the journal was set aside, not rolled back: {err}"
    );
    assert_eq!((h.facts(), h.running()), before);
    // One level deeper never gets that far.
    let req = json!({"networks": {
        "deep": {"nic": "veth_a0", "custom": {"x": deep(MAX_CUSTOM_DEPTH + 1)}},
    }});
    refused_changing_nothing(&h, &req, &[], 21, &["network deep", "custom"]);
    // And the deepest one applies and reads back.
    h.setup(json!({"networks": {
        "deep": {"nic": "veth_a0", "custom": {"x": deep(MAX_CUSTOM_DEPTH)}},
    }}));
    assert_eq!(h.link("veth_a0").unwrap()["master"], "deep");
    h.assert_in_sync();
}

fn import(h: &Host, dir: &Path) -> (i32, String) {
    // Run with a deadline: a FIFO read would block forever.
    let mut child = Command::new(env!("CARGO_BIN_EXE_netswitch"))
        .args(["--netns", h.ns.name(), "--state-dir"])
        .arg(h.state.path().join("lib"))
        .arg("import-vdsm")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("import-vdsm of {} hangs", dir.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), err)
}

#[test]
fn import_vdsm_refuses_special_files_big_files_and_configs_that_never_validate() {
    let h = Host::new();
    let store = Store::new(h.state.path().join("lib"));
    let fresh = |what: &str| {
        let d = h.state.path().join(what);
        std::fs::create_dir_all(d.join("nets")).unwrap();
        d
    };
    let good = r#"{"nic": "veth_a0", "ipaddr": "192.0.2.7", "prefix": 24, "defaultRoute": true}"#;

    let fifo = fresh("fifo");
    std::fs::write(fifo.join("nets/ok"), good).unwrap();
    let path = std::ffi::CString::new(fifo.join("nets/pipe").to_str().unwrap()).unwrap();
    // SAFETY: mkfifo on a NUL-terminated path we own.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    let (code, err) = import(&h, &fifo);
    assert_eq!(code, 21, "{err}");
    assert!(err.contains("pipe") && err.contains("FIFO"), "{err}");

    let big = fresh("big");
    let mut text = String::from(r#"{"nic": "veth_a0", "custom": {"pad": ""#);
    text.push_str(&"x".repeat(2 << 20));
    text.push_str(r#""}}"#);
    std::fs::write(big.join("nets/huge"), text).unwrap();
    let (code, err) = import(&h, &big);
    assert_eq!(code, 21, "{err}");
    assert!(err.contains("huge") && err.contains("1048576"), "{err}");

    let two = fresh("two");
    std::fs::write(two.join("nets/a"), good).unwrap();
    std::fs::write(
        two.join("nets/b"),
        r#"{"nic": "veth_b0", "ipaddr": "198.51.100.7", "prefix": 24, "defaultRoute": true}"#,
    )
    .unwrap();
    let (code, err) = import(&h, &two);
    assert_eq!(code, 21, "{err}");
    assert!(err.contains("defaultRoute"), "{err}");

    let shared = fresh("shared");
    std::fs::write(shared.join("nets/a"), r#"{"nic": "veth_a0"}"#).unwrap();
    std::fs::write(shared.join("nets/b"), r#"{"nic": "veth_a0"}"#).unwrap();
    let (code, err) = import(&h, &shared);
    assert_eq!(code, 21, "{err}");

    // None of them wrote anything.
    assert_eq!(store.load(Which::Persistent).unwrap(), Config::default());
    let ok = fresh("ok");
    std::fs::write(ok.join("nets/ok"), good).unwrap();
    let (code, err) = import(&h, &ok);
    assert_eq!(code, 0, "{err}");
    assert!(store
        .load(Which::Persistent)
        .unwrap()
        .networks
        .contains_key("ok"));
}
