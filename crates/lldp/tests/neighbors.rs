//! The neighbor table's events, expiry and report, with made-up times.

use netswitch_lldp::*;
use std::time::{Duration, Instant};

fn pdu(name: &str, ttl: u16) -> Lldpdu {
    let bytes = build(&Announce {
        chassis_mac: [2, 0, 0, 0, 0, 1],
        port_name: "p1".into(),
        ttl,
        system_name: Some(name.into()),
        port_description: None,
        vlans: vec![],
    })
    .unwrap();
    parse(&bytes).unwrap()
}

#[test]
fn appeared_changed_refreshed_and_expired() {
    let t = Instant::now();
    let n = Neighbors::new();
    let a = pdu("a", 30);
    assert_eq!(
        n.update("eth0", a.clone(), t),
        Some(Event::Appeared {
            device: "eth0".into(),
            pdu: a.clone()
        })
    );
    // The same LLDPDU again only refreshes the expiry.
    assert_eq!(
        n.update("eth0", a.clone(), t + Duration::from_secs(20)),
        None
    );
    assert!(n.expire(t + Duration::from_secs(40)).is_empty());
    let b = pdu("b", 30);
    assert_eq!(
        n.update("eth0", b.clone(), t + Duration::from_secs(45)),
        Some(Event::Changed {
            device: "eth0".into(),
            pdu: b
        })
    );
    assert_eq!(
        n.expire(t + Duration::from_secs(80)),
        vec![Event::Expired {
            device: "eth0".into()
        }]
    );
    // Heard again after expiry: appeared, not changed.
    assert!(matches!(
        n.update("eth0", a.clone(), t + Duration::from_secs(90)),
        Some(Event::Appeared { .. })
    ));
    // TTL 0 is the neighbor's goodbye: gone at once.
    assert_eq!(
        n.update("eth0", pdu("a", 0), t + Duration::from_secs(91)),
        Some(Event::Expired {
            device: "eth0".into()
        })
    );
    assert_eq!(n.update("eth1", pdu("a", 0), t), None);
}

#[test]
fn reads_never_return_an_expired_neighbor_even_before_the_sweep() {
    let n = Neighbors::new();
    let long_ago = Instant::now() - Duration::from_secs(10);
    n.update("eth0", pdu("old", 5), long_ago);
    n.update("eth1", pdu("new", 120), Instant::now());
    assert!(n
        .set_listening(["eth0".to_string(), "eth1".to_string()])
        .is_empty());
    assert!(n.get("eth0").is_none());
    assert_eq!(n.get("eth1").unwrap().system_name.as_deref(), Some("new"));
    let all = n.report(&[]);
    assert_eq!(all.keys().collect::<Vec<_>>(), vec!["eth0", "eth1"]);
    assert!(all["eth0"].enabled && all["eth0"].tlvs.is_empty());
    assert_eq!(all["eth1"].tlvs[3].properties["system name"], "new");
    let json = serde_json::to_value(n.report(&["eth1".to_string()])).unwrap();
    assert_eq!(json["eth1"]["enabled"], true);
    assert_eq!(json["eth1"]["tlvs"][0]["name"], "Chassis ID");
    assert_eq!(
        json["eth1"]["tlvs"][0]["properties"]["chassis ID"],
        "02:00:00:00:00:01"
    );
    assert!(json["eth1"]["tlvs"][0].get("oui").is_none());
}

#[test]
fn a_device_gone_from_the_namespace_loses_its_neighbor_at_once() {
    let n = Neighbors::new();
    n.update("eth0", pdu("a", 120), Instant::now());
    n.update("eth1", pdu("b", 120), Instant::now());
    assert_eq!(
        n.set_listening(["eth1".to_string()]),
        vec![Event::Expired {
            device: "eth0".into()
        }]
    );
    assert!(n.get("eth0").is_none());
    assert!(!n.report(&["eth0".to_string()])["eth0"].enabled);
}

#[test]
fn the_report_says_how_long_a_neighbor_has_left() {
    let n = Neighbors::new();
    n.update("eth0", pdu("a", 120), Instant::now());
    n.update(
        "eth1",
        pdu("b", 120),
        Instant::now() - Duration::from_secs(100),
    );
    let devs = ["eth0", "eth1", "eth2"].map(String::from);
    let r = n.report(&devs);
    // Whole seconds, rounded up: 120 just after reception.
    assert_eq!(r["eth0"].ttl_left, Some(120));
    assert!(
        matches!(r["eth1"].ttl_left, Some(19..=20)),
        "{:?}",
        r["eth1"]
    );
    assert_eq!(r["eth2"].ttl_left, None);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["eth0"]["ttlLeft"], 120);
    assert!(json["eth2"].get("ttlLeft").is_none());
}
