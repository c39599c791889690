//! Names a request gives to things netswitch creates: every one the kernel
//! would rewrite, reserve or refuse, or the store could not read back, is
//! refused at parse time with 27 (a network) or 25 (a bond), naming it.

use netswitch_model::parse::parse_request;
use netswitch_model::{Culprit, RequestError};
use serde_json::json;

fn refused(req: serde_json::Value, code: u8) -> RequestError {
    let err = parse_request(req.to_string().as_bytes()).expect_err("accepted");
    assert_eq!(err.code(), code, "{err}");
    err
}

/// Names the kernel reads as templates, reserves, or refuses.
const KERNEL_BAD: &[&str] = &[
    "vm%d",
    "%s",
    "all",
    "default",
    ".",
    "..",
    "a/b",
    "a b",
    "a\tb",
    "a:1",
    "a.b",
    "x\u{7f}",
    "é",
    "🦀",
    "-x",
    "sixteen_chars_xx",
];

#[test]
fn device_names_the_kernel_would_rewrite_or_refuse_are_27() {
    for name in KERNEL_BAD {
        for attrs in [
            json!({"nic": "eth0"}),
            json!({"nic": "eth0", "switch": "ovs"}),
            json!({"nic": "eth0", "bridged": false, "switch": "ovs"}),
        ] {
            let err = refused(json!({"networks": {*name: attrs}}), 27);
            assert!(
                matches!(&err.culprit, Culprit::Network { net, .. } if net == name),
                "{name:?}: {err:?}"
            );
        }
    }
}

#[test]
fn bond_names_the_kernel_would_refuse_are_25() {
    for name in [
        "bonding_masters",
        "bond%d",
        "bond.1",
        "bond:1",
        "bond_sixteen_xxx",
        "bond é",
    ] {
        let err = refused(json!({"bondings": {name: {"nics": ["eth0"]}}}), 25);
        assert!(
            matches!(&err.culprit, Culprit::Bond { bond, .. } if bond == name),
            "{name:?}: {err:?}"
        );
        // The same name as a network's bonding is refused too.
        refused(json!({"networks": {"n1": {"bonding": name}}}), 25);
    }
}

#[test]
fn names_the_store_would_skip_are_27_even_bridgeless() {
    for name in [".hidden", ".", "..", "../x", "a/b", "-n", ""] {
        refused(
            json!({"networks": {name: {"nic": "eth0", "bridged": false}}}),
            27,
        );
    }
}

#[test]
fn derived_vlan_device_names_must_fit_the_kernel() {
    let err = refused(
        json!({"networks": {"n1": {"nic": "eth_thirteen1", "vlan": 100, "bridged": false}}}),
        27,
    );
    assert!(
        matches!(&err.culprit, Culprit::Network { net, attr: Some(a) } if net == "n1" && a == "vlan"),
        "{err:?}"
    );
    assert!(err.reason.contains("eth_thirteen1.100"), "{err}");
    parse_request(
        json!({"networks": {"n1": {"nic": "eth_thirteen1", "vlan": 9, "bridged": false}}})
            .to_string()
            .as_bytes(),
    )
    .expect("a 15-byte VLAN device");
}
