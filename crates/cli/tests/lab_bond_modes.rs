//! A bond in every mode, its options omitted, the mode given by name and by
//! number: setup succeeds and an identical setup plans nothing. The kernel
//! gives some modes its own defaults (802.3ad, balance-tlb and balance-alb
//! get `miimon=100`); those must count as in step, or verification fails
//! and the bond is rolled back. Needs the bonding module: kernel lab only.

mod common;

use common::Host;
use serde_json::{json, Value};

const MODES: [&str; 7] = [
    "balance-rr",
    "active-backup",
    "balance-xor",
    "broadcast",
    "802.3ad",
    "balance-tlb",
    "balance-alb",
];

/// Two bonds in one request (the lab has four dummies): `bond1` over
/// dummy_1/2 and `bond2` over dummy_3/4, each with its own options. Every
/// setup costs seconds under TCG, so each request checks two modes.
fn bonds(options: [Option<&str>; 2]) -> Value {
    let mut out = json!({});
    for (i, o) in options.iter().enumerate() {
        let n = 2 * i + 1;
        let mut b = json!({"nics": [format!("dummy_{n}"), format!("dummy_{}", n + 1)]});
        if let Some(o) = o {
            b["options"] = json!(o);
        }
        out[format!("bond{}", i + 1)] = b;
    }
    json!({"bondings": out})
}

/// Applies `req` (which verifies what it applied), then checks that the
/// same request again plans nothing. (The second is a dry run: it plans
/// exactly as a setup would.)
fn setup_and_again(h: &Host, req: &Value, what: &str) {
    let (code, out, err) = h.netswitch(&["setup", "-"], Some(req));
    assert_eq!(code, 0, "{what}: setup failed: {err}{out}");
    let (code, out, err) = h.netswitch(&["setup", "--dry-run", "-"], Some(req));
    assert_eq!(code, 0, "{what}: dry run: {err}{out}");
    assert!(out.contains("nothing to do"), "{what}: plans again:\n{out}");
}

fn assert_mode(h: &Host, bond: &str, mode: usize, what: &str) {
    let sysfs = h.sysfs(&format!("{bond}/bonding/mode"));
    assert_eq!(sysfs, format!("{} {mode}", MODES[mode]), "{what}: {bond}");
    let miimon = if (4..=6).contains(&mode) { "100" } else { "0" };
    assert_eq!(
        h.sysfs(&format!("{bond}/bonding/miimon")),
        miimon,
        "{what}: {bond}"
    );
}

fn remove_both(h: &Host) {
    h.setup(json!({"bondings": {"bond1": {"remove": true}, "bond2": {"remove": true}}}));
    assert!(
        h.link("bond1").is_none() && h.link("bond2").is_none(),
        "bonds left over"
    );
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn a_new_bond_in_every_mode_is_in_step() {
    let Some(h) = Host::lab() else { return };
    // Options omitted (the kernel's balance-rr), then every mode by name,
    // two new bonds per request.
    let mut forms: Vec<(Option<String>, usize)> = vec![(None, 0)];
    forms.extend(
        MODES
            .iter()
            .enumerate()
            .map(|(i, m)| (Some(format!("mode={m}")), i)),
    );
    for pair in forms.chunks(2) {
        let [a, b] = [&pair[0], pair.get(1).unwrap_or(&pair[0])];
        let what = format!("new bonds, options {:?} and {:?}", a.0, b.0);
        setup_and_again(&h, &bonds([a.0.as_deref(), b.0.as_deref()]), &what);
        assert_mode(&h, "bond1", a.1, &what);
        assert_mode(&h, "bond2", b.1, &what);
        remove_both(&h);
    }
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn a_bond_moved_through_every_mode_is_in_step() {
    let Some(h) = Host::lab() else { return };
    // In place, each mode (by number) after the last: the kernel's defaults
    // of the old mode (miimon=100 after 802.3ad) must give way to the new
    // one's. bond1 walks up and back down, bond2 the other way round, so
    // every mode follows and precedes every neighbour in both directions.
    let up: Vec<usize> = (0..MODES.len()).collect();
    let walk: Vec<usize> = up.iter().chain(up.iter().rev().skip(1)).copied().collect();
    let n = walk.len();
    for (i, &m1) in walk.iter().enumerate() {
        let m2 = walk[(i + n / 2) % n];
        let (o1, o2) = (format!("mode={m1}"), format!("mode={m2}"));
        let what = format!("bonds moved to {o1} and {o2}");
        setup_and_again(&h, &bonds([Some(&o1), Some(&o2)]), &what);
        assert_mode(&h, "bond1", m1, &what);
        assert_mode(&h, "bond2", m2, &what);
    }
    h.assert_in_sync();
    remove_both(&h);
}
