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

fn bond(options: Option<&str>) -> Value {
    let mut b = json!({"nics": ["dummy_1", "dummy_2"]});
    if let Some(o) = options {
        b["options"] = json!(o);
    }
    json!({"bondings": {"bond1": b}})
}

/// Applies `req` (which verifies what it applied), then checks that the
/// same request again plans nothing. (Each run costs seconds under TCG,
/// so the second is a dry run: it plans exactly as a setup would.)
fn setup_and_again(h: &Host, req: &Value, what: &str) {
    let (code, out, err) = h.netswitch(&["setup", "-"], Some(req));
    assert_eq!(code, 0, "{what}: setup failed: {err}{out}");
    let (code, out, err) = h.netswitch(&["setup", "--dry-run", "-"], Some(req));
    assert_eq!(code, 0, "{what}: dry run: {err}{out}");
    assert!(out.contains("nothing to do"), "{what}: plans again:\n{out}");
}

fn forms() -> Vec<(Option<String>, usize)> {
    let mut out = vec![(None, 0)];
    for (i, name) in MODES.iter().enumerate() {
        out.push((Some(format!("mode={name}")), i));
        out.push((Some(format!("mode={i}")), i));
    }
    out
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn a_new_bond_in_every_mode_is_in_step() {
    let Some(h) = Host::lab() else { return };
    for (options, mode) in forms() {
        let what = format!("new bond, options {options:?}");
        setup_and_again(&h, &bond(options.as_deref()), &what);
        let sysfs = h.sysfs("bond1/bonding/mode");
        assert_eq!(sysfs, format!("{} {mode}", MODES[mode]), "{what}");
        h.setup(json!({"bondings": {"bond1": {"remove": true}}}));
        assert!(h.link("bond1").is_none(), "{what}: bond left over");
    }
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn a_bond_moved_through_every_mode_is_in_step() {
    let Some(h) = Host::lab() else { return };
    // In place, each mode after the last: the kernel's defaults of the old
    // mode (miimon=100 after 802.3ad) must give way to the new one's.
    let mut all = forms();
    all.extend(
        (0..MODES.len())
            .rev()
            .map(|m| (Some(format!("mode={m}")), m)),
    );
    for (options, mode) in all {
        let what = format!("bond moved to options {options:?}");
        setup_and_again(&h, &bond(options.as_deref()), &what);
        let sysfs = h.sysfs("bond1/bonding/mode");
        assert_eq!(sysfs, format!("{} {mode}", MODES[mode]), "{what}");
        let miimon = if (4..=6).contains(&mode) { "100" } else { "0" };
        assert_eq!(h.sysfs("bond1/bonding/miimon"), miimon, "{what}");
    }
    h.assert_in_sync();
    h.setup(json!({"bondings": {"bond1": {"remove": true}}}));
}
