//! The external network provider end to end in the kernel lab: a private
//! central (NB, SB, northd), two chassis (namespaces with their own
//! ovsdb-server, ovs-vswitchd on the kernel datapath and ovn-controller,
//! configured by `netswitch ovn configure`) and `netswitch provider-ovn`
//! over that NB, on chassis A's underlay address where both chassis reach
//! it. Through the Neutron API: networks, subnets with DHCP and a
//! security group. Each chassis records the provider (`netswitch provider
//! add`) and plugs its VMs with `netswitch vnic plug --provider`, which
//! makes each VM's port (bound to that chassis) and plugs it; the VMs take
//! their addresses from OVN's DHCP and ping each other; removing the ICMP
//! rule blocks the ping and adding it back allows it; a router joins a
//! second network; a floating IP on a localnet (flat) network reaches a
//! VM from a "physical" namespace; `vnic unplug` deletes the port and
//! releases its binding. One lean test: one lab boot pays for all of it.

mod common;
#[path = "support/neutron.rs"]
mod neutron;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{reaches, Chassis, Host};
use netswitch_testkit::{Central, Netns};
use neutron::Provider;
use serde_json::{json, Value};

fn chassis() -> Chassis {
    Chassis::on(Host::empty())
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

/// Plugs `dev` on chassis `c` for VM `vm` (its vNIC id the VM's name, so
/// the port is found by `device_id`) on provider network `net` with
/// `vnic plug --provider`, which makes the port bound to `c`.
fn plug(c: &Chassis, vm: &str, mac: &str, net: &str, dev: &str) {
    let args = [
        "--json",
        "vnic",
        "plug",
        "--provider",
        "lab",
        "--network",
        net,
    ];
    let more = [
        "--vm",
        vm,
        "--mac",
        mac,
        "--vnic-id",
        vm,
        "--timeout",
        "300",
        dev,
    ];
    let (code, out, err) = c.h.netswitch(&[&args[..], &more[..]].concat(), None);
    assert_eq!(code, 0, "{out}{err}\n{}", c.ctl.log_tail());
}

/// Records the provider on chassis `c` (`netswitch provider add`).
fn add_provider(c: &Chassis, p: &Provider) {
    let args = ["provider", "add", "lab", "--auth-url", &p.auth_url];
    let more = ["--user", neutron::USER, "--password", neutron::PASSWORD];
    let (code, out, err) = c.h.netswitch(&[&args[..], &more[..]].concat(), None);
    assert_eq!(code, 0, "{out}{err}");
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

/// A VM: its namespace, its name, its port's id and the address the port
/// holds.
struct Vm {
    ns: Netns,
    name: String,
    port: String,
    ip: String,
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
        let p = Provider::start(&central.nb(), &["chassis-a"], a.h.ns.name(), "172.16.0.1");
        add_provider(&a, &p);
        add_provider(&b, &p);
        clock.step("chassis configured, provider up and recorded");
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

    /// VM `n` behind tap `tapN` on chassis `c` (`host` its system-id),
    /// plugged into network `net` by `vnic plug --provider`; its port then
    /// moved into group `sg`.
    fn vm(&self, c: &Chassis, host: &str, n: u8, net: &str, sg: &str) -> Vm {
        let (name, mac, tap) = (
            format!("vm-{n}"),
            format!("fa:16:3e:00:03:{n:02x}"),
            format!("tap{n}"),
        );
        let ns = vm(c, &tap, &mac);
        plug(c, &name, &mac, net, &tap);
        let ports = self.p.call("GET", &format!("ports?device_id={name}"), None);
        let ports = ports["ports"].as_array().expect("ports");
        assert_eq!(ports.len(), 1, "one port for {name}: {ports:?}");
        assert_eq!(ports[0]["binding:host_id"], host, "{name}");
        assert_eq!(ports[0]["mac_address"], mac.as_str(), "{name}");
        let port = id(&ports[0]);
        let ip = ports[0]["fixed_ips"][0]["ip_address"]
            .as_str()
            .expect("an address")
            .to_owned();
        let groups = json!({"port": {"security_groups": [sg]}});
        self.p.call("PUT", &format!("ports/{port}"), Some(groups));
        Vm { ns, name, port, ip }
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
    lab.clock.step("networks, subnets, group and rule made");
    // Both chassis at once: the first binding on each is the slow part.
    let (vm1, (vm2, vm3)) = std::thread::scope(|s| {
        let (l, net1, net2, sg) = (&lab, &net1, &net2, &sg);
        let on_b = s.spawn(move || {
            let vm2 = l.vm(&l.b, "chassis-b", 2, net1, sg);
            (vm2, l.vm(&l.b, "chassis-b", 3, net2, sg))
        });
        let vm1 = l.vm(&l.a, "chassis-a", 1, net1, sg);
        (vm1, on_b.join().expect("the VMs on chassis B"))
    });
    lease(&mut lab, &vm1, &[&vm2, &vm3]);

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

    // Unplugging the vNIC deletes its port on the provider.
    let (code, out, err) = lab.b.h.netswitch(&["vnic", "unplug", "tap2"], None);
    assert_eq!(code, 0, "{out}{err}");
    let left = lab
        .p
        .call("GET", &format!("ports?device_id={}", vm2.name), None);
    assert_eq!(left["ports"], json!([]), "the port is deleted");
    lab.central.wait_until(
        "the deleted port released",
        Duration::from_secs(120),
        |ce| ce.port_chassis(&vm2.port).is_none(),
    );
    lab.clock
        .step("vnic unplug deleted the port and released its binding");
}

/// Checks `a_vm` is bound on chassis A and `b_vms` on B, then leases
/// every VM its address from OVN's DHCP, all at once.
fn lease(lab: &mut Lab, a_vm: &Vm, b_vms: &[&Vm]) {
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
