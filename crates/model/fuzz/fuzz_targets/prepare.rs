//! Fuzzes the whole pure pipeline: parse, canonicalize, validate.
//!
//! Asserts: no panic (and, through libFuzzer's limits, no hang or OOM); a
//! rejection carries one of the request codes and a non-empty message; the
//! same input always gets the same answer.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use netswitch_model::bondopts::BondOptions;
use netswitch_model::config::{BondAttrs, Config, NetAttrs};
use netswitch_model::host::{HostState, Link, LinkKind, VlanInfo};
use netswitch_model::{prepare, NicPolicy};

/// The codes a request (as opposed to its application) can fail with.
const REQUEST_CODES: [u8; 8] = [21, 22, 23, 24, 25, 26, 27, 31];

struct Fixture {
    host: HostState,
    running: Config,
    nics: NicPolicy,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut host = HostState::default();
        let mut add = |name: &str, kind: LinkKind| {
            let index = host.links.len() as u32 + 1;
            let mut l = Link::new(index, name, kind);
            l.mac = Some(format!("02:00:00:00:00:{index:02x}"));
            host.links.insert(name.into(), l);
        };
        add("lo", LinkKind::Device);
        add("eth0", LinkKind::Device);
        for n in ["veth_a0", "veth_a1", "veth_b0", "veth_b1"] {
            add(n, LinkKind::Veth);
        }
        add("mgmt", LinkKind::Bridge);
        add("br_foreign", LinkKind::Bridge);
        add("bond0", LinkKind::Bond);
        add("veth_b1.7", LinkKind::Vlan);
        host.links.get_mut("veth_b1.7").unwrap().vlan = Some(VlanInfo {
            id: 7,
            parent: "veth_b1".into(),
        });

        let mut running = Config::default();
        running.networks.insert(
            "mgmt".into(),
            NetAttrs {
                nic: Some("veth_a0".into()),
                ipaddr: Some("192.0.2.10".parse().unwrap()),
                netmask: Some("255.255.255.0".parse().unwrap()),
                gateway: Some("192.0.2.1".parse().unwrap()),
                default_route: true,
                nameservers: vec!["192.0.2.53".parse().unwrap()],
                ..NetAttrs::default()
            },
        );
        running.networks.insert(
            "onbond".into(),
            NetAttrs {
                bonding: Some("bond0".into()),
                vlan: Some(10),
                ..NetAttrs::default()
            },
        );
        running.bonds.insert(
            "bond0".into(),
            BondAttrs {
                nics: vec!["veth_b0".into()],
                options: BondOptions::parse("mode=1 miimon=100").unwrap(),
                hwaddr: None,
                switch: Default::default(),
            },
        );
        Fixture {
            host,
            running,
            nics: NicPolicy::default(),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let first = prepare(data, &f.running, &f.host, &f.nics);
    match &first {
        Ok(_) => {}
        Err(e) => {
            assert!(
                REQUEST_CODES.contains(&e.code()),
                "code {} is not a request code: {e}",
                e.code()
            );
            assert!(!e.reason.is_empty(), "empty reason: {e:?}");
            assert!(!e.to_string().is_empty(), "empty message: {e:?}");
        }
    }
    let again = prepare(data, &f.running, &f.host, &f.nics);
    assert_eq!(first, again, "same input, different answer");
});
