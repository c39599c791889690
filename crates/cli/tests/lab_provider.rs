//! The external network provider end to end in the kernel lab: a private
//! central (NB, SB, northd), two chassis (namespaces with their own
//! ovsdb-server, ovs-vswitchd on the kernel datapath and ovn-controller,
//! configured by `netswitch ovn configure`) and `netswitch provider-ovn`
//! on loopback over that NB. Through the Neutron API: a network, a subnet
//! with DHCP and a security group; a port per chassis plugged into a VM
//! namespace; the VMs take their addresses from OVN's DHCP and ping each
//! other; removing the ICMP rule blocks the ping and adding it back
//! allows it; a router joins a second network; a floating IP on a
//! localnet (flat) network reaches a VM from a "physical" namespace;
//! deleting a port releases its binding. One lean test: one lab boot pays
//! for all of it.

mod common;
#[path = "support/neutron.rs"]
mod neutron;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{reaches, Host};
use netswitch_testkit::{Central, Controller, Netns, Ovs};
use neutron::Provider;
use serde_json::{json, Value};

/// Fields drop in order: ovn-controller, OVS, the host namespace.
struct Chassis {
    ctl: Controller,
    _ovs: Ovs,
    h: Host,
}

fn chassis() -> Chassis {
    let mut h = Host::empty();
    let ovs = Ovs::start(&h.ns);
    h.use_ovs(&ovs);
    let ctl = Controller::start(&h.ns, &ovs);
    Chassis { ctl, _ovs: ovs, h }
}

fn configure(c: &Chassis, central: &Central, id: &str) {
    let sb = central.sb();
    let args = ["--json", "ovn", "configure", "--remote", &sb];
    let more = ["--encap-network", "underlay", "--system-id", id];
    let (code, out, err) = c.h.netswitch(&[&args[..], &more[..]].concat(), None);
    assert_eq!(code, 0, "{out}{err}");
}

/// A VM: a namespace whose `eth0` (MAC `mac`, no address yet) is the peer
/// of `tap` on chassis `c`.
fn vm(c: &Chassis, tap: &str, mac: &str) -> Netns {
    let vm = Netns::new();
    let peer = format!("{tap}p");
    c.h.ns
        .ip(&["link", "add", tap, "type", "veth", "peer", "name", &peer]);
    c.h.ns.ip(&["link", "set", &peer, "netns", vm.name()]);
    vm.ip(&["link", "set", &peer, "name", "eth0"]);
    vm.ip(&["link", "set", "eth0", "address", mac]);
    vm.ip(&["link", "set", "eth0", "up"]);
    vm
}

/// A Neutron port for `vm` on `net` bound to chassis `host`, in `sg`.
fn port(p: &Provider, net: &str, host: &str, vm: &str, mac: &str, sg: &str) -> (String, String) {
    let port = p.create(
        "port",
        json!({"network_id": net, "mac_address": mac, "binding:host_id": host,
               "device_id": vm, "device_owner": "compute:lab", "security_groups": [sg]}),
    );
    let ip = port["fixed_ips"][0]["ip_address"]
        .as_str()
        .expect("an address");
    (id(&port), ip.to_owned())
}

/// Plugs `dev` on chassis `c` into OVN port `port_id` (switching to `vnic
/// plug --provider`, which makes the port itself, is a change here only).
fn plug(c: &Chassis, vm: &str, mac: &str, port_id: &str, dev: &str) {
    let args = ["--json", "vnic", "plug", "--vm", vm, "--mac", mac];
    let more = ["--port", port_id, "--timeout", "300", dev];
    let (code, out, err) = c.h.netswitch(&[&args[..], &more[..]].concat(), None);
    assert_eq!(code, 0, "{out}{err}\n{}", c.ctl.log_tail());
}

/// The udhcpc event script: the lease's address and default route onto
/// the interface.
const DHCP_SCRIPT: &str = r#"#!/bin/sh
case "$1" in
deconfig) ip -4 addr flush dev "$interface" ;;
bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    if [ -n "$router" ]; then ip route replace default via "${router%% *}" dev "$interface"; fi ;;
esac
"#;

/// Runs busybox's DHCP client in `vm` until it has a lease (or gives up
/// after 30 discovers 2 s apart); the address `eth0` then holds.
fn dhcp(vm: &Netns, script: &std::path::Path) -> String {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            vm.name(),
            "busybox",
            "udhcpc",
            "-f",
            "-q",
            "-n",
        ])
        .args(["-t", "30", "-T", "2", "-i", "eth0", "-s"])
        .arg(script)
        .output()
        .expect("udhcpc");
    let addrs = vm.ip(&["-4", "-o", "addr", "show", "dev", "eth0"]);
    assert!(
        out.status.success(),
        "no lease: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    addrs
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_owned()
}

/// Whether every one of two rounds of pings from `from` to `ip` is lost,
/// waiting up to `secs` for the first such pair (the ACL change reaches
/// ovn-controller's flows some time after the REST call returns).
fn blocked_within(from: &Netns, ip: &str, secs: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut lost = 0;
    while Instant::now() < deadline {
        lost = if reaches(from, ip, 3) { 0 } else { lost + 1 };
        if lost == 2 {
            return true;
        }
    }
    false
}

/// Prints how long each step took (the lab under TCG is slow; no bounds).
struct Clock(Instant);

impl Clock {
    fn step(&mut self, what: &str) {
        eprintln!("=== {what}: {:.1} s", self.0.elapsed().as_secs_f64());
        self.0 = Instant::now();
    }
}

/// Wires the chassis: an underlay between A and B (an OVS network on A,
/// a bridgeless one on B), and A's OVS network `physnet` out to `phys`
/// (172.24.0.1/24), the "physical" network a flat provider network rides;
/// then points both at the central.
fn wire(a: &Chassis, b: &Chassis, phys: &Netns, central: &Central) {
    let veth = |ns: &Netns, dev: &str, peer: &str, to: &Netns| {
        let to = to.name();
        ns.ip(&[
            "link", "add", dev, "type", "veth", "peer", "name", peer, "netns", to,
        ]);
    };
    veth(&a.h.ns, "veth_ul", "veth_ulb", &b.h.ns);
    b.h.ns.ip(&["link", "set", "veth_ulb", "name", "veth_ul"]);
    veth(&a.h.ns, "veth_ph", "ph1", phys);
    phys.ip(&["addr", "add", "172.24.0.1/24", "dev", "ph1"]);
    phys.ip(&["link", "set", "ph1", "up"]);
    let no_check = json!({"connectivityCheck": false});
    std::thread::scope(|s| {
        s.spawn(|| {
            b.h.setup(json!({"networks": {
                "underlay": {"nic": "veth_ul", "bridged": false, "bootproto": "none",
                             "ipaddr": "172.16.0.2", "netmask": "255.255.255.0"}},
                "options": no_check}));
            configure(b, central, "chassis-b");
        });
        a.h.setup(json!({"networks": {
            "underlay": {"nic": "veth_ul", "switch": "ovs", "bootproto": "none",
                         "ipaddr": "172.16.0.1", "netmask": "255.255.255.0"},
            "physnet": {"nic": "veth_ph", "switch": "ovs"}},
            "options": no_check}));
        configure(a, central, "chassis-a");
    });
}

/// What the steps share.
struct Lab {
    p: Provider,
    central: Central,
    a: Chassis,
    b: Chassis,
    phys: Netns,
    scratch: tempfile::TempDir,
    clock: Clock,
}

/// A VM: its namespace, its name, MAC and tap, its port's id and the
/// address the port holds.
struct Vm {
    ns: Netns,
    name: String,
    mac: String,
    tap: String,
    port: String,
    ip: String,
}

impl Vm {
    /// Plugs this VM's tap on chassis `c` into its port.
    fn plug(&self, c: &Chassis) {
        plug(c, &self.name, &self.mac, &self.port, &self.tap);
    }
}

impl Lab {
    /// The central, both chassis and their wiring, and the provider. The
    /// daemons start on this thread: they get `PR_SET_PDEATHSIG`, which
    /// fires when the *thread* that spawned them ends.
    fn start() -> Lab {
        let mut clock = Clock(Instant::now());
        let central = Central::start();
        let (a, b) = (chassis(), chassis());
        clock.step("central and chassis started");
        let phys = Netns::new();
        wire(&a, &b, &phys, &central);
        let p = Provider::start(&central.nb(), &["chassis-a"]);
        clock.step("chassis configured, provider up");
        let scratch = tempfile::tempdir().expect("tempdir");
        Lab {
            p,
            central,
            a,
            b,
            phys,
            scratch,
            clock,
        }
    }

    fn dhcp_script(&self) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.scratch.path().join("udhcpc.sh");
        std::fs::write(&path, DHCP_SCRIPT).expect("write the udhcpc script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    /// A subnet with DHCP on a new network: (network id, subnet id).
    fn network(&self, name: &str, cidr: &str) -> (String, String) {
        let net = id(&self.p.create("network", json!({"name": name})));
        let sub = self.p.create(
            "subnet",
            json!({"network_id": net, "cidr": cidr, "ip_version": 4, "enable_dhcp": true}),
        );
        (net, id(&sub))
    }

    /// A port on `net` for VM `n` on chassis `c` (`host` its system-id) in
    /// group `sg`, and the VM namespace behind tap `tapN`.
    fn vm(&self, c: &Chassis, host: &str, n: u8, net: &str, sg: &str) -> Vm {
        let (name, mac, tap) = (
            format!("vm-{n}"),
            format!("fa:16:3e:00:03:{n:02x}"),
            format!("tap{n}"),
        );
        let (port, ip) = port(&self.p, net, host, &name, &mac, sg);
        let ns = vm(c, &tap, &mac);
        Vm {
            ns,
            name,
            mac,
            tap,
            port,
            ip,
        }
    }
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn provider_networks_across_two_chassis() {
    if !netswitch_testkit::in_lab() {
        eprintln!("skipped: needs the kernel lab (tests/lab/run)");
        return;
    }
    let mut lab = Lab::start();
    let (net1, sub1) = lab.network("net1", "10.0.0.0/24");
    let (net2, sub2) = lab.network("net2", "10.1.0.0/24");
    let sg = id(&lab.p.create("security_group", json!({"name": "lab"})));
    let icmp = json!({"security_group_id": sg, "direction": "ingress",
                      "ethertype": "IPv4", "protocol": "icmp"});
    let rule = id(&lab.p.create("security_group_rule", icmp.clone()));
    let vm1 = lab.vm(&lab.a, "chassis-a", 1, &net1, &sg);
    let vm2 = lab.vm(&lab.b, "chassis-b", 2, &net1, &sg);
    let vm3 = lab.vm(&lab.b, "chassis-b", 3, &net2, &sg);
    lab.clock
        .step("networks, subnets, group, rule, ports and VMs made");
    plug_and_lease(&mut lab, &vm1, &[&vm2, &vm3]);

    assert!(
        reaches(&vm1.ns, &vm2.ip, 90),
        "vm1 cannot reach vm2 across Geneve\nA: {}\nB: {}",
        lab.a.ctl.log_tail(),
        lab.b.ctl.log_tail()
    );
    lab.clock.step("vm1 pings vm2");
    lab.p
        .call("DELETE", &format!("security-group-rules/{rule}"), None);
    assert!(
        blocked_within(&vm1.ns, &vm2.ip, 120),
        "ICMP still passes without its rule"
    );
    lab.clock.step("ICMP blocked without its rule");
    lab.p.create("security_group_rule", icmp);
    assert!(
        reaches(&vm1.ns, &vm2.ip, 90),
        "ICMP still blocked with its rule back"
    );
    lab.clock.step("ICMP allowed with the rule back");

    let router = id(&lab.p.create("router", json!({"name": "r1"})));
    for sub in [&sub1, &sub2] {
        let body = json!({ "subnet_id": sub });
        let path = format!("routers/{router}/add_router_interface");
        lab.p.call("PUT", &path, Some(body));
    }
    assert!(
        reaches(&vm1.ns, &vm3.ip, 90),
        "vm1 cannot reach vm3 across the router"
    );
    lab.clock.step("vm1 pings vm3 across the router");

    floating(&mut lab, &router, &vm1.port);

    lab.p.call("DELETE", &format!("ports/{}", vm2.port), None);
    lab.central.wait_until(
        "the deleted port released",
        Duration::from_secs(120),
        |ce| ce.port_chassis(&vm2.port).is_none(),
    );
    lab.clock.step("the deleted port's binding released");
}

/// Plugs `a_vm` on chassis A and `b_vms` on B (both chassis at once: the
/// first binding on each is the slow part), then leases every VM its
/// address from OVN's DHCP, all at once.
fn plug_and_lease(lab: &mut Lab, a_vm: &Vm, b_vms: &[&Vm]) {
    let (a, b) = (&lab.a, &lab.b);
    std::thread::scope(|s| {
        s.spawn(|| b_vms.iter().for_each(|v| v.plug(b)));
        a_vm.plug(a);
    });
    let bound = |v: &Vm| lab.central.port_chassis(&v.port);
    assert_eq!(bound(a_vm).as_deref(), Some("chassis-a"));
    for v in b_vms {
        assert_eq!(bound(v).as_deref(), Some("chassis-b"), "{}", v.name);
    }
    lab.clock.step("the ports plugged and bound");

    let script = lab.dhcp_script();
    std::thread::scope(|s| {
        let all: Vec<&Vm> = std::iter::once(a_vm).chain(b_vms.iter().copied()).collect();
        let leases: Vec<_> = all
            .iter()
            .map(|v| (v, s.spawn(|| dhcp(&v.ns, &script))))
            .collect();
        for (v, lease) in leases {
            let got = lease.join().expect("udhcpc");
            assert!(
                got.contains(&format!("{}/24", v.ip)),
                "{got} (want {})",
                v.ip
            );
        }
    });
    lab.clock.step("every VM leased by OVN's DHCP");
}

/// An external flat network on `physnet` (chassis A's OVS network) as the
/// router's gateway; a floating IP for VM 1's port is reached from the
/// physical side.
fn floating(lab: &mut Lab, router: &str, port1: &str) {
    let p = &lab.p;
    let public = id(&p.create(
        "network",
        json!({"name": "public", "router:external": true, "provider:network_type": "flat",
               "provider:physical_network": "physnet"}),
    ));
    p.create(
        "subnet",
        json!({"network_id": public, "cidr": "172.24.0.0/24", "ip_version": 4,
               "enable_dhcp": false, "gateway_ip": "172.24.0.1"}),
    );
    let gw = json!({"router": {"external_gateway_info": {"network_id": public}}});
    p.call("PUT", &format!("routers/{router}"), Some(gw));
    // NAT needs a gateway port bound to a chassis: the provider puts it on
    // chassis A (its `gateway_chassis`), where the physical network is.
    let gw_ports = p.call("GET", "ports?device_owner=network:router_gateway", None);
    let lrp = format!("lrp-{}", id(&gw_ports["ports"][0]));
    let bound = lab.central.nbctl(&["lrp-get-gateway-chassis", &lrp]);
    assert!(bound.contains("chassis-a"), "{bound}");
    let fip = p.create(
        "floatingip",
        json!({"floating_network_id": public, "port_id": port1}),
    );
    let fip_ip = fip["floating_ip_address"].as_str().expect("an address");
    lab.clock.step("gateway and floating IP made");
    assert!(
        reaches(&lab.phys, fip_ip, 120),
        "the physical network cannot reach the floating IP {fip_ip}\n{}",
        lab.central.nbctl(&["lr-nat-list", "r1"])
    );
    lab.clock.step("the floating IP reaches VM 1");
}
