//! The libvirt `<interface>` element of a vNIC on this host, and
//! netswitch's own `<metadata>` element naming its network.
//!
//! Both switch types use libvirt's `type='bridge'` interface: a Linux
//! bridge is named by `<source bridge=.../>` alone; an OVS bridge adds
//! `<virtualport type='openvswitch'/>`, which makes libvirt add the tap as
//! an OVS port, and `<vlan><tag id=.../></vlan>` for the access tag. An OVN
//! port is an OVS port on `br-int` whose `interfaceid` (libvirt writes it
//! to `external_ids:iface-id`) is the logical port's id.

use crate::xml::escape;
use crate::LibvirtError;

/// The namespace of netswitch's element in a domain's `<metadata>`.
pub const NS: &str = "urn:netswitch:libvirt:1";

/// The prefix `vnic xml --with-metadata` writes the element with (any
/// prefix bound to [`NS`] is read).
pub const PREFIX: &str = "netswitch";

/// The OVS bridge OVN's controller owns.
pub const INTEGRATION_BRIDGE: &str = "br-int";

/// Where a vNIC of a network goes on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A Linux bridge.
    Legacy { bridge: String },
    /// An OVS bridge, access-tagged with the network's VLAN.
    Ovs { bridge: String, vlan: Option<u16> },
    /// An OVN logical port on `br-int`.
    Ovn { port: String },
}

/// What `vnic xml` is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub mac: String,
    pub target: Target,
    /// The tap device name libvirt should create (`<target dev=.../>`).
    pub tap: Option<String>,
}

/// Whether `mac` is six colon-separated hex octets, unicast (what libvirt
/// accepts for a guest's vNIC).
pub fn valid_mac(mac: &str) -> bool {
    let octets: Vec<&str> = mac.split(':').collect();
    octets.len() == 6
        && octets
            .iter()
            .all(|o| o.len() == 2 && o.chars().all(|c| c.is_ascii_hexdigit()))
        && u8::from_str_radix(octets[0], 16).is_ok_and(|b| b & 1 == 0)
}

/// Whether `id` is a UUID in its 8-4-4-4-12 hex form: libvirt's schema
/// takes nothing else as an `interfaceid`.
pub fn valid_uuid(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Whether `name` can be a tap device's name.
fn valid_tap(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && !name.contains(['/', ':', '\0'])
        && !name.chars().any(char::is_whitespace)
}

/// Checks a spec: a bad MAC, tap name or OVN port id is 21.
pub fn check(spec: &Spec) -> Result<(), LibvirtError> {
    if !valid_mac(&spec.mac) {
        return Err(LibvirtError::bad(
            "mac",
            format!(
                "{:?} is not a unicast MAC address (xx:xx:xx:xx:xx:xx)",
                clip(&spec.mac)
            ),
        ));
    }
    if let Some(t) = spec.tap.as_deref().filter(|t| !valid_tap(t)) {
        return Err(LibvirtError::bad(
            "name",
            format!("{:?} is not a device name", clip(t)),
        ));
    }
    if let Target::Ovn { port } = &spec.target {
        if !valid_uuid(port) {
            return Err(LibvirtError::bad(
                "port",
                format!("{:?} is not a UUID (libvirt's interfaceid)", clip(port)),
            ));
        }
    }
    Ok(())
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

/// The `<source>`, `<virtualport>` and `<vlan>` elements for `target`, one
/// per line, each line after the first indented by `indent`.
pub fn wiring(target: &Target, indent: &str) -> String {
    let (bridge, vport, vlan) = match target {
        Target::Legacy { bridge } => (bridge.as_str(), None, None),
        Target::Ovs { bridge, vlan } => (
            bridge.as_str(),
            Some("<virtualport type='openvswitch'/>".to_string()),
            *vlan,
        ),
        Target::Ovn { port } => (
            INTEGRATION_BRIDGE,
            Some(format!(
                "<virtualport type='openvswitch'><parameters interfaceid='{}'/></virtualport>",
                escape(port)
            )),
            None,
        ),
    };
    let mut out = format!("<source bridge='{}'/>", escape(bridge));
    if let Some(v) = vport {
        out.push('\n');
        out.push_str(indent);
        out.push_str(&v);
    }
    if let Some(tag) = vlan {
        out.push('\n');
        out.push_str(indent);
        out.push_str(&vlan_element(tag));
    }
    out
}

/// `<vlan><tag id='N'/></vlan>`.
pub fn vlan_element(tag: u16) -> String {
    format!("<vlan><tag id='{tag}'/></vlan>")
}

/// The whole `<interface>` element, two-space indented, ending in a
/// newline. The spec must have passed [`check`].
pub fn interface(spec: &Spec) -> String {
    let i = "  ";
    let mut out = String::from("<interface type='bridge'>\n");
    out.push_str(&format!("{i}<mac address='{}'/>\n", escape(&spec.mac)));
    out.push_str(&format!("{i}{}\n", wiring(&spec.target, i)));
    if let Some(t) = &spec.tap {
        out.push_str(&format!("{i}<target dev='{}'/>\n", escape(t)));
    }
    out.push_str(&format!("{i}<model type='virtio'/>\n"));
    out.push_str("</interface>\n");
    out
}

/// netswitch's `<metadata>` child for one vNIC: the hook finds the
/// network of the interface with this MAC from it, whichever switch the
/// source host had. A domain with several vNICs carries one such element
/// with one `vnic` child each (libvirt allows one element per namespace).
pub fn metadata(mac: &str, network: &str) -> String {
    format!(
        "<{p}:vnics xmlns:{p}='{NS}'>\n  <{p}:vnic mac='{}' network='{}'/>\n</{p}:vnics>\n",
        escape(mac),
        escape(network),
        p = PREFIX
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(target: Target) -> Spec {
        Spec {
            mac: "52:54:00:12:34:56".into(),
            target,
            tap: None,
        }
    }

    #[test]
    fn legacy_is_a_plain_bridge() {
        let x = interface(&spec(Target::Legacy {
            bridge: "red".into(),
        }));
        assert_eq!(
            x,
            "<interface type='bridge'>\n  <mac address='52:54:00:12:34:56'/>\n  \
             <source bridge='red'/>\n  <model type='virtio'/>\n</interface>\n"
        );
    }

    #[test]
    fn ovs_has_a_virtualport_and_the_tag() {
        let mut s = spec(Target::Ovs {
            bridge: "vdsmbr_x".into(),
            vlan: Some(10),
        });
        s.tap = Some("vnet3".into());
        let x = interface(&s);
        assert!(x.contains("<source bridge='vdsmbr_x'/>\n  <virtualport type='openvswitch'/>\n  <vlan><tag id='10'/></vlan>\n"), "{x}");
        assert!(x.contains("<target dev='vnet3'/>"), "{x}");
        let untagged = interface(&spec(Target::Ovs {
            bridge: "b".into(),
            vlan: None,
        }));
        assert!(!untagged.contains("<vlan>"), "{untagged}");
    }

    #[test]
    fn ovn_is_br_int_with_the_interfaceid() {
        let port = "0c3a1f9e-4a6b-4b0e-9d53-5c7d2a1e8f00";
        let x = interface(&spec(Target::Ovn { port: port.into() }));
        assert!(x.contains("<source bridge='br-int'/>"), "{x}");
        assert!(
            x.contains(&format!("<parameters interfaceid='{port}'/>")),
            "{x}"
        );
    }

    #[test]
    fn bad_specs_are_21_naming_the_attribute() {
        let mut s = spec(Target::Legacy { bridge: "b".into() });
        s.mac = "01:00:5e:00:00:01".into();
        let e = check(&s).expect_err("multicast");
        assert_eq!(e.code(), 21);
        assert!(e.to_string().contains("mac"), "{e}");
        let s = spec(Target::Ovn {
            port: "not-a-uuid".into(),
        });
        assert!(check(&s).expect_err("port").to_string().contains("port"));
        let mut s = spec(Target::Legacy { bridge: "b".into() });
        s.tap = Some("a b".into());
        assert!(check(&s).is_err());
    }

    #[test]
    fn metadata_parses_and_escapes() {
        let m = metadata("52:54:00:12:34:56", "a'b");
        let el = crate::xml::parse(&m).expect("parses");
        assert_eq!(el.attr("xmlns:netswitch"), Some(NS));
        let v = el.child("netswitch:vnic").expect("vnic");
        assert_eq!(v.attr("network"), Some("a'b"));
    }
}
