//! The rewrite on domain documents shaped like libvirt's and VDSM's.

use super::*;

const RED_MAC: &str = "52:54:00:00:00:01";

/// A legacy host's domain: a vNIC on netswitch network `red`, one on a
/// bridge netswitch does not know, one on a libvirt network, and the
/// things a re-serialiser would lose (comments, double quotes, odd
/// spacing, namespaces).
const LEGACY_DOMAIN: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- a domain as a legacy host ran it -->
<domain type='kvm' id="7" xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>vm1</name>
  <uuid>9a3f1c52-0d1e-4c3b-8b7a-2f4e6d8c0a11</uuid>
  <metadata>
    <ovirt-vm:vm xmlns:ovirt-vm="http://ovirt.org/vm/1.0">
      <ovirt-vm:device mac_address="52:54:00:00:00:09">
        <ovirt-vm:network>blue</ovirt-vm:network>
      </ovirt-vm:device>
    </ovirt-vm:vm>
  </metadata>
  <devices>
    <interface type='bridge'>
      <mac address='52:54:00:00:00:01'/>
      <source bridge='red'/>
      <target dev='vnet0'/>
      <model type='virtio'/>
      <!-- keep me -->
      <alias name='net0'/>
    </interface>
    <interface   type="bridge" >
      <mac address="52:54:00:00:00:02"/>
      <source bridge="virbr7"/>
    </interface>
    <interface type='network'>
      <mac address='52:54:00:00:00:03'/>
      <source network='default'/>
    </interface>
  </devices>
  <qemu:commandline/>
</domain>
"#;

fn ovs_view() -> View {
    let mut v = View::default();
    v.networks.insert(
        "red".into(),
        Target::Ovs {
            bridge: "vdsmbr_k3x9a0qe".into(),
            vlan: Some(10),
        },
    );
    v.networks.insert(
        "blue".into(),
        Target::Ovs {
            bridge: "vdsmbr_k3x9a0qe".into(),
            vlan: None,
        },
    );
    v
}

fn legacy_view() -> View {
    let mut v = View::default();
    for n in ["red", "blue"] {
        v.networks
            .insert(n.into(), Target::Legacy { bridge: n.into() });
    }
    v
}

/// Every byte outside the moved interfaces is the input's.
fn outside_is_untouched(input: &str, r: &Rewritten) {
    let mut at_in = 0;
    let mut at_out = 0;
    for m in &r.moved {
        let same = &input[at_in..m.start];
        assert_eq!(&r.xml[at_out..at_out + same.len()], same);
        at_out += same.len();
        // Find where this interface ends in the output: the input's
        // bytes after it must follow verbatim somewhere at or after here.
        let after_len = input.len() - m.end;
        at_in = m.end;
        let out_end = r.xml.len() - after_len;
        assert!(out_end >= at_out);
        at_out = out_end;
    }
    assert_eq!(&r.xml[at_out..], &input[at_in..]);
    for e in &r.edits {
        assert!(
            r.moved.iter().any(|m| m.start <= e.start && e.end <= m.end),
            "edit {e:?} outside any interface"
        );
    }
}

#[test]
fn legacy_to_ovs_rewrites_only_the_netswitch_interface() {
    let r = rewrite(LEGACY_DOMAIN, &ovs_view()).expect("rewrites");
    assert_eq!(r.moved.len(), 1, "{:?}", r.moved);
    assert_eq!(r.moved[0].network, "red");
    assert_eq!(r.moved[0].mac, RED_MAC);
    outside_is_untouched(LEGACY_DOMAIN, &r);
    assert!(r.xml.contains(
        "      <source bridge='vdsmbr_k3x9a0qe'/>\n      <virtualport type='openvswitch'/>\n      \
         <vlan><tag id='10'/></vlan>\n      <target dev='vnet0'/>"
    ), "{}", r.xml);
    assert!(r.xml.contains("<!-- keep me -->"));
    // The output is well-formed and says what it should.
    let dom = xml::parse(&r.xml).expect("well-formed");
    let iface = dom.child("devices").unwrap().child("interface").unwrap();
    assert_eq!(current_tag(iface), Some(Some(10)));
}

#[test]
fn ovs_back_to_legacy_needs_the_metadata_and_restores_the_bytes() {
    let ovs = rewrite(LEGACY_DOMAIN, &ovs_view()).expect("to ovs").xml;
    // Without metadata a legacy host cannot tell which network an OVS
    // bridge of another host carried: the interface passes through.
    let r = rewrite(&ovs, &legacy_view()).expect("rewrites");
    assert!(r.moved.is_empty());
    assert_eq!(r.xml, ovs);
    // With netswitch's element (as `vnic xml --with-metadata` prints it).
    let meta = crate::build::metadata(RED_MAC, "red");
    let with = ovs.replacen("  </metadata>", &format!("    {meta}  </metadata>"), 1);
    let back = rewrite(&with, &legacy_view()).expect("back");
    assert_eq!(back.moved.len(), 1);
    let expected = LEGACY_DOMAIN.replacen("  </metadata>", &format!("    {meta}  </metadata>"), 1);
    assert_eq!(
        back.xml, expected,
        "the round trip gives the original bytes"
    );
}

#[test]
fn vdsm_metadata_names_the_network() {
    let doc = LEGACY_DOMAIN.replace(
        "<mac address='52:54:00:00:00:01'/>\n      <source bridge='red'/>",
        "<mac address='52:54:00:00:00:09'/>\n      <source bridge='vdsmbr_other'/>\n      <virtualport type='openvswitch'>\n        <parameters interfaceid='0c3a1f9e-4a6b-4b0e-9d53-5c7d2a1e8f00'/>\n      </virtualport>",
    );
    let r = rewrite(&doc, &legacy_view()).expect("rewrites");
    assert_eq!(r.moved.len(), 1);
    assert_eq!(r.moved[0].network, "blue");
    outside_is_untouched(&doc, &r);
    assert!(r.xml.contains("<mac address='52:54:00:00:00:09'/>\n      <source bridge='blue'/>\n      <target dev='vnet0'/>"), "{}", r.xml);
    assert!(!r.xml.contains("virtualport"));
    // VDSM metadata naming a network this host lacks: not netswitch's.
    let mut v = legacy_view();
    v.networks.remove("blue");
    let r = rewrite(&doc, &v).expect("passes");
    assert_eq!(r.xml, doc);
}

#[test]
fn ovs_to_ovs_on_the_same_bridge_and_tag_changes_nothing() {
    let ovs = rewrite(LEGACY_DOMAIN, &ovs_view()).expect("to ovs").xml;
    let r = rewrite(&ovs, &ovs_view()).expect("again");
    assert!(r.moved.is_empty() && r.edits.is_empty());
    assert_eq!(r.xml, ovs);
    // Another tag here: the vlan element is replaced, the virtualport
    // (with whatever libvirt added to it) kept.
    let mut v = ovs_view();
    v.networks.insert(
        "red".into(),
        Target::Ovs {
            bridge: "vdsmbr_k3x9a0qe".into(),
            vlan: None,
        },
    );
    let meta = crate::build::metadata(RED_MAC, "red");
    let with = ovs.replacen("  </metadata>", &format!("    {meta}  </metadata>"), 1);
    let r = rewrite(&with, &v).expect("untag");
    assert!(!r.xml.contains("<vlan>"), "{}", r.xml);
    assert!(r.xml.contains("<virtualport type='openvswitch'/>"));
}

#[test]
fn netswitch_metadata_for_a_missing_network_is_27() {
    let meta = crate::build::metadata(RED_MAC, "green");
    let doc = LEGACY_DOMAIN.replacen("  </metadata>", &format!("    {meta}  </metadata>"), 1);
    let e = rewrite(&doc, &ovs_view()).expect_err("missing");
    assert_eq!(e.code(), 27);
    assert!(e.to_string().contains("green"), "{e}");
}

#[test]
fn an_ovn_port_passes_through() {
    let doc = LEGACY_DOMAIN.replace(
        "<source bridge='red'/>",
        "<source bridge='br-int'/><virtualport type='openvswitch'><parameters interfaceid='0c3a1f9e-4a6b-4b0e-9d53-5c7d2a1e8f00'/></virtualport>",
    );
    let r = rewrite(&doc, &ovs_view()).expect("passes");
    assert_eq!(r.xml, doc);
}

#[test]
fn an_interface_without_source_gets_one() {
    let doc = LEGACY_DOMAIN.replace("      <source bridge='red'/>\n", "");
    let meta = crate::build::metadata(RED_MAC, "red");
    let doc = doc.replacen("  </metadata>", &format!("    {meta}  </metadata>"), 1);
    let r = rewrite(&doc, &legacy_view()).expect("rewrites");
    assert!(
        r.xml
            .contains("      <alias name='net0'/>\n      <source bridge='red'/>\n    </interface>"),
        "{}",
        r.xml
    );
}

#[test]
fn the_protocol_rewrites_only_on_migrate_and_restore_begin() {
    assert_eq!(action("migrate", "begin"), Action::Rewrite);
    assert_eq!(action("restore", "begin"), Action::Rewrite);
    for (op, sub) in [
        ("prepare", "begin"),
        ("start", "begin"),
        ("started", "begin"),
        ("release", "end"),
        ("migrate", "end"),
        ("reconnect", "begin"),
    ] {
        assert_eq!(action(op, sub), Action::Ignore, "{op} {sub}");
    }
}

#[test]
fn not_a_domain_is_21() {
    let e = rewrite("<network/>", &ovs_view()).expect_err("not a domain");
    assert_eq!(e.code(), 21);
}

/// Truncations and byte-level corruption of a real domain: a coded
/// failure or a well-formed output, never a panic.
#[test]
fn garbage_never_panics() {
    let doc = LEGACY_DOMAIN;
    for i in 0..doc.trim_end().len() {
        if let Some(prefix) = doc.get(..i) {
            match rewrite(prefix, &ovs_view()) {
                Err(e) => assert_eq!(e.code(), 21, "prefix {i}: {e}"),
                Ok(_) => panic!("prefix {i} accepted"),
            }
        }
    }
    // A cheap deterministic generator (xorshift) flipping bytes to XML's
    // own metacharacters.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let meta = [
        b'<', b'>', b'/', b'\'', b'"', b'&', b';', b'=', b' ', b'!', b'?', b'-',
    ];
    for _ in 0..3000 {
        let mut bytes = doc.as_bytes().to_vec();
        for _ in 0..3 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = (x as usize) % bytes.len();
            bytes[at] = meta[(x >> 32) as usize % meta.len()];
        }
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        if let Ok(r) = rewrite(&text, &ovs_view()) {
            xml::parse(&r.xml).expect("a rewrite of a parsed document parses");
        }
    }
}
