//! A nic that is a port of an Open vSwitch bridge still reports its LLDP
//! neighbor. On this machine OVS runs the userspace (netdev) datapath; in
//! the kernel lab the kernel datapath, whose rx handler takes the port's
//! frames before any protocol handler: the reason the receiver listens
//! with `ETH_P_ALL`.

use netswitch_lldp::*;
use netswitch_testkit::{in_lab, Netns, Ovs};
use std::time::{Duration, Instant};

fn neighbor_of_an_ovs_port() {
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
    host.ip(&["link", "set", "eth0", "up"]);
    switch.ip(&["link", "set", "sw0", "up"]);
    let ovs = Ovs::start(&host);
    let datapath = if in_lab() { "system" } else { "netdev" };
    ovs.vsctl(&[
        "add-br",
        "ovsbr0",
        "--",
        "set",
        "Bridge",
        "ovsbr0",
        &format!("datapath_type={datapath}"),
    ]);
    ovs.vsctl(&["add-port", "ovsbr0", "eth0"]);
    let receiver = host.run(|| Receiver::spawn(|_| {})).unwrap();
    let announce = Announce {
        chassis_mac: [2, 0, 0, 0, 0, 0x17],
        port_name: "Ethernet1/17".into(),
        ttl: 120,
        system_name: Some("tor-ovs".into()),
        port_description: None,
        vlans: vec![(100, "ovs-net".into())],
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
            "no neighbor on an OVS port ({datapath} datapath); ovs-vswitchd log:\n{}",
            ovs.log_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let name = report
        .tlvs
        .iter()
        .find(|t| t.name == "System Name")
        .unwrap();
    assert_eq!(name.properties["system name"], "tor-ovs");
    let port = report.tlvs.iter().find(|t| t.name == "Port ID").unwrap();
    assert_eq!(port.properties["port ID"], "Ethernet1/17");
    // The port really is in the bridge.
    assert_eq!(ovs.vsctl(&["port-to-br", "eth0"]).trim(), "ovsbr0");
}

#[test]
fn a_port_of_an_ovs_bridge_reports_its_neighbor() {
    neighbor_of_an_ovs_port();
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn a_port_of_an_ovs_kernel_datapath_bridge_reports_its_neighbor() {
    if !in_lab() {
        eprintln!("skipped: needs the kernel lab (tests/lab/run)");
        return;
    }
    neighbor_of_an_ovs_port();
}
