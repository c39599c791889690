//! Live netinfo follows the host: after links, addresses, routes and rules
//! change behind its back, its state equals a fresh snapshot, and a link
//! taken down is reported as an event.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use netswitch_model::host::HostState;
use netswitch_netinfo::{Live, LiveEvent};
use netswitch_testkit::Netns;

/// What must agree between live state and a snapshot: everything but the
/// values that move without a notification (bridge timers, address
/// lifetimes) and list order.
fn comparable(
    h: &HostState,
) -> (
    Vec<String>,
    BTreeSet<String>,
    BTreeSet<String>,
    BTreeSet<String>,
) {
    let links = h
        .links
        .values()
        .map(|l| {
            let mut l = l.clone();
            if let Some(b) = l.bridge.as_mut() {
                std::sync::Arc::make_mut(&mut b.options).retain(|k, _| !k.ends_with("_timer"));
            }
            format!("{l:?}")
        })
        .collect();
    let addrs = h
        .addrs
        .iter()
        .map(|a| {
            format!(
                "{} {}/{} {} {}",
                a.link, a.address, a.prefix_len, a.scope, a.secondary
            )
        })
        .collect();
    let routes = h.routes.iter().map(|r| format!("{r:?}")).collect();
    let rules = h.rules.iter().map(|r| format!("{r:?}")).collect();
    (links, addrs, routes, rules)
}

/// Polls until live state and snapshot agree (IPv6 autoconf settles in the
/// background); panics with the difference after 5 s.
fn assert_converges(live: &Live) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let state = live.state();
        // Patching must give exactly what a rebuild from the same messages
        // gives, order included.
        assert_eq!(
            *state,
            live.state_rebuilt(),
            "patched state differs from a rebuild"
        );
        let l = comparable(&state);
        let s = comparable(&netswitch_netinfo::snapshot().unwrap());
        if l == s {
            return;
        }
        if Instant::now() > deadline {
            assert_eq!(l, s, "live state differs from a snapshot");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn live_state_equals_a_snapshot_after_changes_behind_its_back() {
    let ns = Netns::new();
    ns.veth("veth_a", "veth_b");
    ns.run(|| {
        let live = Live::start().unwrap();
        let mut events = live.subscribe();
        assert_converges(&live);

        ns.ip(&["link", "add", "br_t", "type", "bridge"]);
        ns.ip(&["link", "set", "veth_a", "master", "br_t"]);
        ns.ip(&["link", "set", "br_t", "up"]);
        ns.ip(&["addr", "add", "10.1.0.1/24", "dev", "br_t"]);
        ns.ip(&["addr", "add", "10.1.0.2/24", "dev", "br_t"]);
        ns.ip(&["addr", "add", "fd00:1::1/64", "dev", "br_t", "nodad"]);
        ns.ip(&["route", "add", "default", "via", "10.1.0.254"]);
        ns.ip(&["route", "add", "10.9.0.0/16", "via", "10.1.0.254", "table", "100"]);
        ns.ip(&["route", "replace", "10.9.0.0/16", "via", "10.1.0.253", "table", "100"]);
        ns.ip(&["rule", "add", "from", "10.1.0.0/24", "table", "100", "priority", "32000"]);
        ns.ip(&["-6", "rule", "add", "from", "fd00:1::/64", "table", "100", "priority", "32001"]);
        assert_converges(&live);

        ns.ip(&["addr", "del", "10.1.0.2/24", "dev", "br_t"]);
        ns.ip(&["link", "set", "br_t", "down"]);
        ns.ip(&["rule", "del", "priority", "32000"]);
        ns.ip(&["link", "set", "veth_a", "nomaster"]);
        assert_converges(&live);
        ns.ip(&["link", "del", "br_t"]);
        assert_converges(&live);

        ns.ip(&["link", "set", "veth_b", "down"]);
        assert_converges(&live);
        // Changes to one link or one address, between reads: a rebuild
        // reuses what it parsed before for everything else.
        ns.ip(&["link", "set", "veth_a", "mtu", "1400"]);
        assert_converges(&live);
        ns.ip(&["addr", "add", "10.2.0.1/24", "dev", "veth_a"]);
        ns.ip(&["addr", "change", "10.2.0.1/24", "dev", "veth_a", "valid_lft", "300", "preferred_lft", "200"]);
        assert_converges(&live);
        // A rename changes what addresses and routes name.
        ns.ip(&["link", "set", "veth_a", "down"]);
        ns.ip(&["link", "set", "veth_a", "name", "veth_r"]);
        ns.ip(&["link", "set", "veth_r", "up"]);
        assert_converges(&live);
        ns.ip(&["link", "set", "veth_r", "name", "veth_a"]);
        ns.ip(&["link", "set", "veth_a", "down"]);
        assert_converges(&live);
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            live.state();
            match events.try_recv() {
                Ok(e) => seen.push(e),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
            if seen.iter().any(|e| matches!(e, LiveEvent::LinkDown { link, admin_up: false, .. } if link == "veth_b")) {
                break;
            }
        }
        assert!(
            seen.iter().any(|e| matches!(e, LiveEvent::LinkDown { link, admin_up: false, .. } if link == "veth_b")),
            "no link.down for veth_b in {seen:?}"
        );
        assert!(seen.iter().any(|e| matches!(e, LiveEvent::LinkRemoved { link } if link == "br_t")));
        assert!(seen.iter().any(|e| matches!(e, LiveEvent::AddressRemoved { link, address } if link == "br_t" && address == "10.1.0.2/24")));
        assert_eq!(live.counters().resyncs, 0);
    });
}

#[test]
fn statistics_count_traffic() {
    let ns = Netns::new();
    let peer = Netns::new();
    ns.veth("veth_a", "veth_b");
    ns.ip(&["link", "set", "veth_b", "netns", peer.name()]);
    ns.ip(&["addr", "add", "10.2.0.1/24", "dev", "veth_a"]);
    peer.ip(&["addr", "add", "10.2.0.2/24", "dev", "veth_b"]);
    peer.ip(&["link", "set", "veth_b", "up"]);
    let before = ns.run(|| netswitch_netinfo::statistics().unwrap());
    let a0 = before.iter().find(|s| s.name == "veth_a").unwrap().clone();
    ns.exec(&["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.2.0.2"]);
    let after = ns.run(|| netswitch_netinfo::statistics().unwrap());
    let a1 = after.iter().find(|s| s.name == "veth_a").unwrap();
    assert!(a1.tx_packets >= a0.tx_packets + 3, "{a0:?} -> {a1:?}");
    assert!(a1.tx_bytes > a0.tx_bytes);
    assert_eq!(a1.speed, Some(10000), "veth reports 10 Gbit/s");
}

#[test]
fn the_generation_moves_with_a_change_and_only_then() {
    let ns = Netns::new();
    ns.veth("veth_a", "veth_b");
    ns.run(|| {
        let live = Live::start().unwrap();
        // Let IPv6 autoconf and the like settle: no change for 300 ms.
        let mut g = live.generation();
        loop {
            std::thread::sleep(Duration::from_millis(300));
            let now = live.generation();
            if now == g {
                break;
            }
            g = now;
        }
        let (g1, state) = live.state_with_generation();
        assert_eq!(g1, g, "a read without changes leaves the generation");
        assert_eq!(live.generation(), g);

        ns.ip(&["link", "set", "dev", "veth_a", "mtu", "1400"]);
        let g2 = live.generation();
        assert!(g2 > g, "the change is seen by the next read: {g} -> {g2}");
        let (g3, after) = live.state_with_generation();
        assert_eq!(g3, g2);
        assert_eq!(state.links["veth_a"].mtu, 1500);
        assert_eq!(after.links["veth_a"].mtu, 1400);
    });
}

#[test]
fn a_state_a_reader_holds_stays_as_it_was_while_the_next_is_patched() {
    let ns = Netns::new();
    ns.veth("veth_a", "veth_b");
    ns.veth("veth_c", "veth_d");
    ns.run(|| {
        let live = Live::start().unwrap();
        ns.ip(&["link", "add", "br_h", "type", "bridge"]);
        ns.ip(&["link", "set", "veth_a", "master", "br_h"]);
        ns.ip(&["addr", "add", "10.3.0.1/24", "dev", "br_h"]);
        // A setup's "before": held across its change.
        let before = live.state();
        assert_eq!(
            before.links["br_h"].bridge.as_ref().unwrap().ports,
            ["veth_a"]
        );

        ns.ip(&["link", "set", "veth_c", "master", "br_h"]);
        ns.ip(&["link", "set", "veth_a", "mtu", "1400"]);
        ns.ip(&["addr", "add", "10.4.0.2/24", "dev", "br_h"]);
        ns.ip(&["addr", "del", "10.3.0.1/24", "dev", "br_h"]);
        // Its "after": a second state, while the first is still held.
        let after = live.state();
        assert_eq!(*after, live.state_rebuilt());
        let ports = &after.links["br_h"].bridge.as_ref().unwrap().ports;
        assert_eq!(ports, &["veth_a", "veth_c"]);
        assert_eq!(after.links["veth_c"].master.as_deref(), Some("br_h"));
        assert_eq!(after.links["veth_a"].mtu, 1400);
        let on_br: Vec<String> = after
            .addrs
            .iter()
            .filter(|a| a.link == "br_h")
            .map(|a| a.address.to_string())
            .collect();
        assert!(
            on_br.contains(&"10.4.0.2".to_string()) && !on_br.contains(&"10.3.0.1".to_string())
        );

        // Both held: the next read copies rather than touching either.
        ns.ip(&["link", "set", "veth_a", "nomaster"]);
        ns.ip(&["link", "del", "br_h"]);
        let third = live.state();
        assert_eq!(*third, live.state_rebuilt());
        assert!(!third.links.contains_key("br_h"));
        assert!(third.addrs.iter().all(|a| a.link != "br_h"));
        assert!(third.links["veth_c"].master.is_none());

        // What the readers hold did not move.
        assert_eq!(before.links["veth_a"].mtu, 1500);
        assert_eq!(
            before.links["br_h"].bridge.as_ref().unwrap().ports,
            ["veth_a"]
        );
        assert!(before.links["veth_c"].master.is_none());
        assert_eq!(
            after.links["br_h"].bridge.as_ref().unwrap().ports,
            ["veth_a", "veth_c"]
        );
        drop((before, after));

        // Released again: patched in place from here on.
        ns.ip(&["link", "set", "veth_c", "mtu", "1300"]);
        let fourth = live.state();
        assert_eq!(*fourth, live.state_rebuilt());
        assert_eq!(fourth.links["veth_c"].mtu, 1300);
    });
}
