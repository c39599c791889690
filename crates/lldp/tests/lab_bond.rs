//! A nic enslaved to a Linux bond reports its own LLDP neighbor (the
//! switch port it is plugged into), in the kernel lab (the host kernel has
//! no bonding).

use netswitch_lldp::*;
use netswitch_testkit::{in_lab, Netns};
use std::time::{Duration, Instant};

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn a_bond_slave_reports_its_neighbor() {
    if !in_lab() {
        eprintln!("skipped: needs the kernel lab (tests/lab/run)");
        return;
    }
    let host = Netns::new();
    let switch = Netns::new();
    host.ip(&[
        "link",
        "add",
        "eth0",
        "type",
        "veth",
        "peer",
        "name",
        "sw0",
        "netns",
        switch.name(),
    ]);
    host.ip(&[
        "link",
        "add",
        "bond0",
        "type",
        "bond",
        "mode",
        "active-backup",
        "miimon",
        "100",
    ]);
    host.ip(&["link", "set", "eth0", "master", "bond0"]);
    host.ip(&["link", "set", "bond0", "up"]);
    host.ip(&["link", "set", "eth0", "up"]);
    switch.ip(&["link", "set", "sw0", "up"]);
    let receiver = host.run(|| Receiver::spawn(|_| {})).unwrap();
    let announce = Announce {
        chassis_mac: [2, 0, 0, 0, 0, 0x21],
        port_name: "Ethernet1/21".into(),
        ttl: 120,
        system_name: Some("tor-bond".into()),
        port_description: None,
        vlans: vec![],
    };
    let _tx = switch
        .run(|| Transmitter::spawn("sw0", &announce, Duration::from_secs(1)))
        .unwrap();
    let devs = vec!["eth0".to_string()];
    let start = Instant::now();
    let report = loop {
        let r = receiver.neighbors().report(&devs).remove("eth0").unwrap();
        if !r.tlvs.is_empty() {
            break r;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no neighbor on the bond slave"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let port = report.tlvs.iter().find(|t| t.name == "Port ID").unwrap();
    assert_eq!(port.properties["port ID"], "Ethernet1/21");
    assert_eq!(
        host.sysfs("eth0/master/bonding/mode").as_deref(),
        Some("active-backup 1")
    );
}
