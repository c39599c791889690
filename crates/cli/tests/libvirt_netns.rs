//! `netswitch vnic xml` and `netswitch libvirt-hook` against real hosts:
//! a legacy host and an OVS host, each a scratch namespace with its own
//! state dir (the OVS one with a private ovsdb-server and ovs-vswitchd),
//! both carrying network `red`. The interface XML is checked with
//! libvirt's own validator (`virt-xml-validate`, Debian's
//! libvirt-clients); the hook moves a domain from the legacy host to the
//! OVS host and back, byte for byte outside what it had to change.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::Host;
use netswitch_testkit::Ovs;
use serde_json::{json, Value};

const MAC: &str = "52:54:00:aa:00:01";
const PORT: &str = "0c3a1f9e-4a6b-4b0e-9d53-5c7d2a1e8f00";

fn no_check(networks: Value) -> Value {
    json!({"networks": networks, "options": {"connectivityCheck": false}})
}

/// Runs netswitch on `h` with raw `stdin`: (status, stdout, stderr).
fn run(h: &Host, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_netswitch"))
        .args(["--netns", h.ns.name()])
        .arg("--state-dir")
        .arg(h.state.path().join("lib"))
        .args(args)
        .envs(h.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn netswitch");
    // An early exit closes the pipe: that is netswitch's answer.
    let _ = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes());
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn hook(h: &Host, op: &str, sub: &str, domain: &str) -> (i32, String, String) {
    run(h, &["libvirt-hook", "vm1", op, sub, "-"], domain)
}

/// A minimal domain holding `devices` (and `metadata`), as libvirt's
/// schema wants it.
fn domain(metadata: &str, devices: &str) -> String {
    format!(
        "<?xml version='1.0'?>\n<!-- a test domain -->\n<domain type=\"kvm\">\n  <name>vm1</name>\n  \
         <uuid>9a3f1c52-0d1e-4c3b-8b7a-2f4e6d8c0a11</uuid>\n  <metadata>\n{metadata}  </metadata>\n  \
         <memory unit='KiB'>65536</memory>\n  <vcpu>1</vcpu>\n  <os>\n    <type arch='x86_64'>hvm</type>\n  </os>\n  \
         <devices>\n{devices}    <interface type='bridge'>\n      <mac address='52:54:00:aa:00:09'/>\n      \
         <source bridge='virbr0'/>\n      <model type=\"virtio\"/>\n    </interface>\n  </devices>\n</domain>\n"
    )
}

/// Indents each line of `text` by `n` spaces.
fn indent(text: &str, n: usize) -> String {
    text.lines()
        .map(|l| format!("{}{l}\n", " ".repeat(n)))
        .collect()
}

/// Runs libvirt's schema validator on a domain; panics with its say.
fn validate(doc: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("domain.xml");
    std::fs::write(&path, doc).expect("write");
    let out = Command::new("virt-xml-validate")
        .arg(&path)
        .arg("domain")
        .output()
        .expect("virt-xml-validate (Debian's libvirt-clients) must be installed");
    assert!(
        out.status.success(),
        "virt-xml-validate refused:\n{doc}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn legacy_host() -> Host {
    let h = Host::new();
    h.setup(no_check(json!({"red": {"nic": "veth_a0"}})));
    h
}

fn ovs_host() -> (Host, Ovs) {
    let mut h = Host::new();
    let ovs = Ovs::start(&h.ns);
    h.use_ovs(&ovs);
    h.setup(no_check(
        json!({"red": {"nic": "veth_a0", "switch": "ovs", "vlan": 42}}),
    ));
    (h, ovs)
}

fn xml(h: &Host, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["vnic", "xml", "--mac", MAC];
    args.extend_from_slice(extra);
    run(h, &args, "")
}

#[test]
fn vnic_xml_validates_for_all_three_switch_types_and_the_hook_moves_a_domain() {
    let legacy = legacy_host();
    let (ovs_h, ovs) = ovs_host();
    let br = ovs.vsctl(&["port-to-br", "red"]);

    // Legacy: the Linux bridge named after the network.
    let (code, legacy_iface, err) = xml(
        &legacy,
        &["--network", "red", "--with-metadata", "--name", "vnet7"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        legacy_iface.contains("<source bridge='red'/>"),
        "{legacy_iface}"
    );
    assert!(!legacy_iface.contains("virtualport"), "{legacy_iface}");
    let (iface, meta) = legacy_iface
        .split_once("</interface>\n")
        .expect("interface, then metadata");
    let iface = format!("{iface}</interface>\n");
    assert!(meta.contains("network='red'"), "{meta}");
    let legacy_doc = domain(&indent(meta, 4), &indent(&iface, 4));
    validate(&legacy_doc);

    // OVS: the network's OVS bridge, a virtualport and the VLAN tag.
    let (code, ovs_iface, err) = xml(&ovs_h, &["--network", "red"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        ovs_iface.contains(&format!("<source bridge='{br}'/>")),
        "{ovs_iface}"
    );
    assert!(ovs_iface.contains("<virtualport type='openvswitch'/>"));
    assert!(ovs_iface.contains("<vlan><tag id='42'/></vlan>"));
    validate(&domain("", &indent(&ovs_iface, 4)));

    // OVN: br-int with the port's interfaceid.
    let (code, ovn_iface, err) = xml(&ovs_h, &["--port", PORT]);
    assert_eq!(code, 0, "{err}");
    assert!(
        ovn_iface.contains("<source bridge='br-int'/>"),
        "{ovn_iface}"
    );
    assert!(ovn_iface.contains(&format!("interfaceid='{PORT}'")));
    validate(&domain("", &indent(&ovn_iface, 4)));

    // The hook on the OVS host: a domain from the legacy host lands on the
    // OVS bridge with the tag; the rest is byte-identical.
    let (code, moved, err) = hook(&ovs_h, "migrate", "begin", &legacy_doc);
    assert_eq!(code, 0, "{err}");
    validate(&moved);
    let old_src = "<source bridge='red'/>";
    let new_src = format!(
        "<source bridge='{br}'/>\n      <virtualport type='openvswitch'/>\n      <vlan><tag id='42'/></vlan>"
    );
    assert_eq!(moved, legacy_doc.replacen(old_src, &new_src, 1));
    let (head, _) = legacy_doc.split_once(old_src).expect("source");
    assert!(moved.starts_with(head));
    assert!(moved.contains("<source bridge='virbr0'/>\n      <model type=\"virtio\"/>"));
    // And back on the legacy host (found from the metadata), as it was.
    let (code, back, err) = hook(&legacy, "restore", "begin", &moved);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        back, legacy_doc,
        "legacy -> OVS -> legacy gives the same bytes"
    );
    // The same document through the OVS host again changes nothing.
    let (code, again, _) = hook(&ovs_h, "migrate", "begin", &moved);
    assert_eq!((code, again.as_str()), (0, moved.as_str()));
}

#[test]
fn vnic_xml_refusals_are_coded() {
    let legacy = legacy_host();
    let (code, out, err) = xml(&legacy, &["--network", "nope"]);
    assert_eq!(code, 27, "{out}{err}");
    assert!(err.contains("nope") && out.is_empty(), "{err}");
    let (code, _, err) = run(
        &legacy,
        &[
            "vnic",
            "xml",
            "--mac",
            "01:00:5e:00:00:01",
            "--network",
            "red",
        ],
        "",
    );
    assert_eq!(code, 21);
    assert!(err.contains("mac"), "{err}");
    let (code, _, err) = xml(&legacy, &["--port", "not-a-uuid"]);
    assert_eq!(code, 21);
    assert!(err.contains("port"), "{err}");
    let (code, out, _) = run(
        &legacy,
        &["--json", "vnic", "xml", "--mac", MAC, "--network", "red"],
        "",
    );
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).expect("json");
    assert!(v["interface"].as_str().unwrap().contains("bridge='red'"));
}

#[test]
fn the_hook_speaks_libvirts_protocol() {
    let legacy = legacy_host();
    let doc = domain("", "");
    // Operations libvirt takes no XML back from: exit 0, nothing printed.
    for (op, sub) in [
        ("prepare", "begin"),
        ("start", "begin"),
        ("started", "begin"),
        ("stopped", "end"),
        ("release", "end"),
        ("migrate", "end"),
    ] {
        let (code, out, err) = hook(&legacy, op, sub, &doc);
        assert_eq!((code, out.as_str()), (0, ""), "{op} {sub}: {err}");
    }
    // A document without netswitch vNICs comes back as it went.
    let (code, out, _) = hook(&legacy, "migrate", "begin", &doc);
    assert_eq!((code, out.as_str()), (0, doc.as_str()));
    // Malformed: non-zero, a message on stderr, nothing on stdout.
    let cut = &doc[..doc.len() / 2];
    for bad in [cut, "garbage", "<domain>", "\u{0}\u{1}<<>>", ""] {
        let (code, out, err) = hook(&legacy, "migrate", "begin", bad);
        assert_eq!(code, 21, "{bad:?}: {err}");
        assert!(out.is_empty(), "{bad:?}: {out}");
        assert!(err.contains("libvirt-hook"), "{err}");
    }
    // netswitch's metadata naming a network this host lacks: 27.
    let meta = "    <netswitch:vnics xmlns:netswitch='urn:netswitch:libvirt:1'><netswitch:vnic mac='52:54:00:aa:00:09' network='green'/></netswitch:vnics>\n";
    let (code, out, err) = hook(&legacy, "migrate", "begin", &domain(meta, ""));
    assert_eq!(code, 27, "{err}");
    assert!(out.is_empty() && err.contains("green"), "{err}");
    // Too few arguments.
    let (code, _, _) = run(&legacy, &["libvirt-hook", "vm1"], "");
    assert_eq!(code, 21);
}
