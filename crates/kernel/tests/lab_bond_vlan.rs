//! Bonds and VLANs applied through netlink, which only the kernel lab can
//! make (this machine's kernel has no bonding, 8021q or dummy module). Run
//! them with `tests/lab/run <this test binary> --ignored`.
//!
//! Read back through sysfs as the namespace sees it and `ip -d -j link`.

use netswitch_kernel::{apply, Applied};
use netswitch_model::bondopts::BondOptions;
use netswitch_model::plan::KernelOp;
use netswitch_testkit::{in_lab, Netns};
use serde_json::Value;

macro_rules! lab_only {
    () => {
        if !in_lab() {
            eprintln!("skipped: not in the kernel lab (NETSWITCH_LAB=1 unset)");
            return;
        }
    };
}

fn apply_in(ns: &Netns, ops: &[KernelOp]) -> Applied {
    ns.run(|| apply(&netswitch_netinfo::snapshot().expect("snapshot"), ops))
}

fn must_apply(ns: &Netns, ops: &[KernelOp]) -> Applied {
    let a = apply_in(ns, ops);
    if let Some(f) = &a.failure {
        panic!("op {} failed: {}", f.index, f.message);
    }
    assert_eq!(a.done.len(), ops.len());
    a
}

fn link(ns: &Netns, name: &str) -> Option<Value> {
    ns.ip_json(&["-d", "link", "show"])
        .as_array()?
        .iter()
        .find(|l| l["ifname"] == name)
        .cloned()
}

fn bonding(ns: &Netns, bond: &str, option: &str) -> String {
    ns.sysfs(&format!("{bond}/bonding/{option}"))
        .unwrap_or_else(|| panic!("no /sys/class/net/{bond}/bonding/{option}"))
}

fn dummies(ns: &Netns, names: &[&str]) {
    for d in names {
        ns.ip(&["link", "add", d, "type", "dummy"]);
    }
}

fn up(link: &str) -> KernelOp {
    KernelOp::SetUp { link: link.into() }
}

fn down(link: &str) -> KernelOp {
    KernelOp::SetDown { link: link.into() }
}

fn set_master(link: &str, master: &str) -> KernelOp {
    KernelOp::SetMaster {
        link: link.into(),
        master: master.into(),
    }
}

fn release(link: &str) -> KernelOp {
    KernelOp::ReleaseMaster { link: link.into() }
}

fn enslave(slaves: &[&str], bond: &str) -> Vec<KernelOp> {
    slaves
        .iter()
        .flat_map(|s| [down(s), set_master(s, bond)])
        .collect()
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn an_lacp_bond_carries_a_jumbo_vlan_under_a_bridge_and_goes_away() {
    lab_only!();
    let ns = Netns::new();
    dummies(&ns, &["dummy_a", "dummy_b"]);
    let mut ops = vec![
        KernelOp::CreateBond {
            name: "bond0".into(),
            options: BondOptions::parse(
                "mode=802.3ad miimon=100 lacp_rate=fast xmit_hash_policy=layer3+4",
            )
            .unwrap(),
            hwaddr: None,
        },
        KernelOp::SetMtu {
            link: "bond0".into(),
            mtu: 9000,
        },
    ];
    ops.extend(enslave(&["dummy_a", "dummy_b"], "bond0"));
    ops.extend([
        KernelOp::CreateVlan {
            name: "bond0.100".into(),
            parent: "bond0".into(),
            id: 100,
            mtu: 9000,
        },
        KernelOp::CreateBridge {
            name: "net100".into(),
            mtu: 9000,
            stp: false,
            options: [("vlan_filtering", "1"), ("multicast_snooping", "0")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        },
        set_master("bond0.100", "net100"),
        up("dummy_a"),
        up("dummy_b"),
        up("bond0"),
        up("bond0.100"),
        up("net100"),
    ]);
    let applied = must_apply(&ns, &ops);
    eprintln!("build: {} ops, {:?}", ops.len(), applied.stats);
    assert_eq!(applied.stats.sendmsg_calls, 1);

    assert_eq!(bonding(&ns, "bond0", "mode"), "802.3ad 4");
    assert_eq!(bonding(&ns, "bond0", "miimon"), "100");
    assert_eq!(bonding(&ns, "bond0", "lacp_rate"), "fast 1");
    assert_eq!(bonding(&ns, "bond0", "xmit_hash_policy"), "layer3+4 1");
    assert_eq!(bonding(&ns, "bond0", "slaves"), "dummy_a dummy_b");
    let bond = link(&ns, "bond0").unwrap();
    assert_eq!(bond["mtu"], 9000);
    assert_eq!(bond["linkinfo"]["info_data"]["mode"], "802.3ad");
    for d in ["dummy_a", "dummy_b"] {
        let l = link(&ns, d).unwrap();
        assert_eq!(l["master"], "bond0", "{l}");
        assert_eq!(l["mtu"], 9000, "{l}");
    }
    let vlan = link(&ns, "bond0.100").unwrap();
    assert_eq!(vlan["link"], "bond0", "{vlan}");
    assert_eq!(vlan["linkinfo"]["info_kind"], "vlan");
    assert_eq!(vlan["linkinfo"]["info_data"]["id"], 100);
    assert_eq!(vlan["mtu"], 9000);
    assert_eq!(vlan["master"], "net100");
    let br = link(&ns, "net100").unwrap();
    assert_eq!(br["mtu"], 9000);
    assert_eq!(br["linkinfo"]["info_data"]["vlan_filtering"], 1);
    assert_eq!(br["linkinfo"]["info_data"]["mcast_snooping"], 0);
    assert!(br["flags"].as_array().unwrap().iter().any(|f| f == "UP"));

    // The same bond, other options of its mode: up, slaves on.
    let ops = vec![KernelOp::SetBondOptions {
        name: "bond0".into(),
        options: BondOptions::parse("mode=4 miimon=200 xmit_hash_policy=layer2+3 lacp_rate=fast")
            .unwrap(),
    }];
    must_apply(&ns, &ops);
    assert_eq!(bonding(&ns, "bond0", "miimon"), "200");
    assert_eq!(bonding(&ns, "bond0", "xmit_hash_policy"), "layer2+3 2");
    assert_eq!(bonding(&ns, "bond0", "lacp_rate"), "fast 1");
    assert_eq!(bonding(&ns, "bond0", "slaves"), "dummy_a dummy_b");

    // A mode change, as the planner orders it: slaves out, bond down,
    // options, slaves back, up.
    let mut ops = vec![release("dummy_a"), release("dummy_b"), down("bond0")];
    ops.push(KernelOp::SetBondOptions {
        name: "bond0".into(),
        options: BondOptions::parse("mode=active-backup miimon=100 primary=dummy_b").unwrap(),
    });
    ops.extend(enslave(&["dummy_a", "dummy_b"], "bond0"));
    ops.extend([up("dummy_a"), up("dummy_b"), up("bond0")]);
    must_apply(&ns, &ops);
    assert_eq!(bonding(&ns, "bond0", "mode"), "active-backup 1");
    assert_eq!(bonding(&ns, "bond0", "miimon"), "100");
    assert_eq!(bonding(&ns, "bond0", "primary"), "dummy_b");
    assert_eq!(bonding(&ns, "bond0", "slaves"), "dummy_a dummy_b");
    assert_eq!(link(&ns, "bond0.100").unwrap()["link"], "bond0");

    let ops: Vec<KernelOp> = ["net100", "bond0.100", "bond0"]
        .iter()
        .map(|n| KernelOp::DeleteLink {
            name: n.to_string(),
        })
        .collect();
    let applied = must_apply(&ns, &ops);
    assert_eq!(applied.stats.sendmsg_calls, 1);
    for gone in ["net100", "bond0.100", "bond0"] {
        assert!(link(&ns, gone).is_none(), "{gone} is still there");
    }
    for d in ["dummy_a", "dummy_b"] {
        assert_eq!(link(&ns, d).unwrap().get("master"), None);
    }
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn a_bond_keeps_the_hwaddr_it_was_created_with_and_takes_a_new_one() {
    lab_only!();
    let ns = Netns::new();
    dummies(&ns, &["dummy_c"]);
    let mut ops = vec![KernelOp::CreateBond {
        name: "bond1".into(),
        options: BondOptions::parse("mode=1 miimon=100").unwrap(),
        hwaddr: Some("02:00:00:00:B0:01".into()),
    }];
    ops.extend(enslave(&["dummy_c"], "bond1"));
    ops.extend([up("dummy_c"), up("bond1")]);
    must_apply(&ns, &ops);
    assert_eq!(link(&ns, "bond1").unwrap()["address"], "02:00:00:00:b0:01");
    assert_eq!(bonding(&ns, "bond1", "slaves"), "dummy_c");

    must_apply(
        &ns,
        &[KernelOp::SetMac {
            link: "bond1".into(),
            mac: "02:00:00:00:b0:02".into(),
        }],
    );
    assert_eq!(link(&ns, "bond1").unwrap()["address"], "02:00:00:00:b0:02");
}

/// Every option of the model, at non-default values, in the modes that take
/// them: what the kernel then reports (through netinfo) is what was asked.
#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn every_bond_option_reaches_the_kernel_in_every_mode_that_takes_it() {
    lab_only!();
    let ns = Netns::new();
    dummies(&ns, &["dummy_p"]);
    let cases = [
        "mode=balance-rr miimon=100 updelay=200 downdelay=300 packets_per_slave=3 \
         resend_igmp=4 num_grat_arp=5 num_unsol_na=5 all_slaves_active=1 min_links=2 \
         lp_interval=7 peer_notif_delay=200",
        "mode=active-backup miimon=0 arp_interval=1000 arp_ip_target=192.0.2.1,192.0.2.2 \
         arp_validate=all arp_all_targets=all primary=dummy_p primary_reselect=better \
         fail_over_mac=active",
        "mode=balance-xor miimon=100 xmit_hash_policy=layer2+3 use_carrier=0",
        "mode=broadcast miimon=50",
        "mode=802.3ad miimon=100 lacp_rate=fast lacp_active=off ad_select=bandwidth \
         ad_actor_sys_prio=100 ad_user_port_key=5 ad_actor_system=02:00:00:00:00:99 \
         xmit_hash_policy=encap3+4",
        "mode=balance-tlb miimon=100 tlb_dynamic_lb=0 xmit_hash_policy=layer3+4 \
         primary=dummy_p",
        "mode=balance-alb miimon=100 primary=dummy_p primary_reselect=failure",
    ];
    let ops: Vec<KernelOp> = cases
        .iter()
        .enumerate()
        .map(|(i, o)| KernelOp::CreateBond {
            name: format!("bond{i}"),
            options: BondOptions::parse(o).unwrap(),
            hwaddr: None,
        })
        .collect();
    let applied = must_apply(&ns, &ops);
    assert_eq!(applied.stats.sendmsg_calls, 1);
    let host = ns.run(|| netswitch_netinfo::snapshot().unwrap());
    for (i, text) in cases.iter().enumerate() {
        let name = format!("bond{i}");
        // A primary named before it is a slave is kept by the kernel (it
        // takes effect on enslaving) but not reported until then.
        let asked: Vec<&str> = text
            .split_whitespace()
            .filter(|o| !o.starts_with("primary="))
            .collect();
        let want = BondOptions::parse(&asked.join(" ")).unwrap();
        let have = &host.links[&name].bond.as_ref().unwrap().options;
        assert!(
            want.matches(have),
            "{name}: asked {want}, the kernel has {have:?}"
        );
    }

    // Changing each bond to its mode's defaults sends only what differs,
    // and gets there.
    let ops: Vec<KernelOp> = cases
        .iter()
        .enumerate()
        .map(|(i, o)| KernelOp::SetBondOptions {
            name: format!("bond{i}"),
            options: BondOptions::parse(o.split_whitespace().next().unwrap()).unwrap(),
        })
        .collect();
    must_apply(&ns, &ops);
    let host = ns.run(|| netswitch_netinfo::snapshot().unwrap());
    for (i, text) in cases.iter().enumerate() {
        let name = format!("bond{i}");
        let mode = text.split_whitespace().next().unwrap();
        let want = BondOptions::parse(mode).unwrap();
        let have = &host.links[&name].bond.as_ref().unwrap().options;
        let differ: Vec<_> = have
            .iter()
            .filter(|(k, v)| {
                // The mode's own defaults (the kernel gives 802.3ad, tlb and
                // alb miimon=100 when none is asked).
                BondOptions::default_in(want.mode(), k).is_some_and(|d| d != v.as_str())
                    && *k != "mode"
                    // The kernel cannot be given the all-zero actor system.
                    && *k != "ad_actor_system"
            })
            .collect();
        assert!(
            differ.is_empty(),
            "{name}: {want} left non-defaults {differ:?}"
        );
    }
}

/// docs/benchmarks.md's scale case: 1000 bridged VLAN networks on a bond, some 5000
/// ops, go out in one `sendmsg`. (In the TCG lab this takes about as long
/// as `ip -batch` making the same links, 25-40 s either way: the kernel's
/// work dominates.)
#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn a_thousand_bridged_vlans_on_a_bond_go_out_in_one_sendmsg() {
    lab_only!();
    let ns = Netns::new();
    dummies(&ns, &["dummy_s1", "dummy_s2"]);
    let mut ops = vec![KernelOp::CreateBond {
        name: "bond9".into(),
        options: BondOptions::parse("mode=1 miimon=100").unwrap(),
        hwaddr: None,
    }];
    ops.extend(enslave(&["dummy_s1", "dummy_s2"], "bond9"));
    ops.extend([up("dummy_s1"), up("dummy_s2"), up("bond9")]);
    for id in 1..=1000u16 {
        let vlan = format!("bond9.{id}");
        let net = format!("net{id}");
        ops.push(KernelOp::CreateVlan {
            name: vlan.clone(),
            parent: "bond9".into(),
            id,
            mtu: 1500,
        });
        ops.push(KernelOp::CreateBridge {
            name: net.clone(),
            mtu: 1500,
            stp: false,
            options: Default::default(),
        });
        ops.push(set_master(&vlan, &net));
        ops.push(up(&vlan));
        ops.push(up(&net));
    }
    let host = ns.run(|| netswitch_netinfo::snapshot().expect("snapshot"));
    let (applied, took) = ns.run(|| {
        let started = std::time::Instant::now();
        let applied = apply(&host, &ops);
        (applied, started.elapsed())
    });
    assert_eq!(applied.failure, None);
    assert_eq!(applied.done.len(), ops.len());
    eprintln!("{} ops in {took:?}: {:?}", ops.len(), applied.stats);

    assert_eq!(applied.stats.sendmsg_calls, 1);
    assert!(applied.stats.recv_calls <= 6, "{:?}", applied.stats);
    let l = link(&ns, "bond9.1000").unwrap();
    assert_eq!(l["master"], "net1000");
    assert_eq!(l["linkinfo"]["info_data"]["id"], 1000);
}
