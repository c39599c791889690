//! `netswitch caps --format svg|dot` in a scratch namespace: the picture
//! shows the devices and network netswitch set up, the SVG is well-formed
//! and the DOT is valid Graphviz (each checked when the tool is installed).

mod common;

use std::path::Path;
use std::process::Command;

use common::Host;
use serde_json::json;

/// Runs `tool ARGS FILE`; `None` (and a note) when the tool is not installed.
fn check_with(tool: &str, args: &[&str], file: &Path) -> Option<std::process::Output> {
    match Command::new(tool).args(args).arg(file).output() {
        Ok(out) => Some(out),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("{tool} not installed: skipping that check");
            None
        }
        Err(e) => panic!("running {tool}: {e}"),
    }
}

#[test]
fn caps_draws_the_host() {
    let h = Host::new();
    // Host QoS is applied with hfsc, which the machine's own kernel lacks
    // (tests/lab_qos.rs tests it), so this host carries none to draw.
    h.setup(json!({"networks": {"pic": {
        "nic": "veth_a0", "ipaddr": "192.0.2.10", "prefix": 24}}}));

    let (code, svg, err) = h.netswitch(&["caps", "--format", "svg"], None);
    assert_eq!(code, 0, "{err}");
    assert!(svg.starts_with("<?xml"), "{svg}");
    for text in ["veth_a0", "veth_b0", "pic", "192.0.2.10/24"] {
        assert!(svg.contains(text), "svg lacks {text}");
    }
    let file = h.state.path().join("host.svg");
    std::fs::write(&file, &svg).expect("write svg");
    if let Some(out) = check_with("xmllint", &["--noout"], &file) {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let (code, dot, err) = h.netswitch(&["caps", "--format", "dot"], None);
    assert_eq!(code, 0, "{err}");
    assert!(dot.contains("rank=same"), "{dot}");
    assert!(dot.contains("\"dev:veth_a0\" -> \"dev:pic\""), "{dot}");
    assert!(dot.contains("\"dev:pic\" -> \"net:pic\""), "{dot}");
    let file = h.state.path().join("host.dot");
    std::fs::write(&file, &dot).expect("write dot");
    if let Some(out) = check_with("dot", &["-Tsvg", "-o", "/dev/null"], &file) {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn caps_refuses_an_unknown_format() {
    let h = Host::new();
    let (code, out, err) = h.netswitch(&["caps", "--format", "png"], None);
    assert_eq!(code, 21, "a bad value, like any flag's: {err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("png"), "{err}");
}
