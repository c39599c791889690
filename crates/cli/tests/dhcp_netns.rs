//! Dynamic addressing against a real dnsmasq: the server runs in a
//! namespace of its own on the far end of a veth pair (`veth_a1`, and
//! `veth_b1` for a second subnet); netswitch runs in the host namespace
//! on `veth_a0`/`veth_b0`. Each test starts its dnsmasq with a private pid
//! and lease file, stops it at the end, and checks that no DHCP
//! supervisor process is left.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Host;
use netswitch_testkit::Netns;
use serde_json::{json, Value};

/// dnsmasq in the server namespace, killed on drop.
struct Dnsmasq {
    child: Option<Child>,
    dir: tempfile::TempDir,
    srv: String,
    args: Vec<String>,
}

impl Dnsmasq {
    fn start(srv: &Netns, ifaces: &[&str]) -> Dnsmasq {
        let dir = tempfile::tempdir().unwrap();
        let mut args: Vec<String> = vec![
            "--keep-in-foreground".into(),
            "--conf-file=/dev/null".into(),
            "--no-resolv".into(),
            "--no-hosts".into(),
            "--port=0".into(),
            "--bind-interfaces".into(),
            "--dhcp-authoritative".into(),
            "--log-dhcp".into(),
            format!("--pid-file={}", dir.path().join("pid").display()),
            format!("--dhcp-leasefile={}", dir.path().join("leases").display()),
            format!("--log-facility={}", dir.path().join("log").display()),
            "--enable-ra".into(),
            "--ra-param=*,3".into(),
            "--dhcp-option=option:dns-server,10.77.0.53".into(),
            "--dhcp-option=option6:dns-server,[fd77::53]".into(),
        ];
        for (i, ifc) in ifaces.iter().enumerate() {
            let n = 77 + i;
            args.push(format!("--interface={ifc}"));
            args.push(format!(
                "--dhcp-range=10.{n}.0.50,10.{n}.0.99,255.255.255.0,2m"
            ));
            args.push(format!("--dhcp-range=fd{n}::100,fd{n}::1ff,slaac,64,2m"));
        }
        let mut d = Dnsmasq {
            child: None,
            dir,
            srv: srv.name().to_string(),
            args,
        };
        d.resume();
        d
    }

    fn resume(&mut self) {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.srv, "dnsmasq"])
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        self.child = Some(cmd.spawn().expect("dnsmasq"));
        // Up when it has written its pid file.
        let pid = self.dir.path().join("pid");
        let t = Instant::now();
        while !pid.exists() && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(self.dir.path().join("pid"));
    }

    fn leases(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("leases")).unwrap_or_default()
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A host namespace with nics veth_a0 (and veth_b0) whose peers sit in a
/// server namespace with 10.77.0.1/24, fd77::1/64 (10.78.0.1, fd78::1).
struct Lab {
    host: Host,
    srv: Netns,
}

impl Lab {
    fn new(nics: usize) -> Lab {
        let host = Host::empty();
        let srv = Netns::new();
        for (i, l) in ["a", "b"].iter().take(nics).enumerate() {
            let (near, far) = (format!("veth_{l}0"), format!("veth_{l}1"));
            host.ns.veth(&near, &far);
            host.ns.ip(&["link", "set", &far, "netns", srv.name()]);
            srv.ip(&["link", "set", &far, "up"]);
            srv.ip(&["addr", "add", &format!("10.{}.0.1/24", 77 + i), "dev", &far]);
            srv.ip(&[
                "addr",
                "add",
                &format!("fd{}::1/64", 77 + i),
                "dev",
                &far,
                "nodad",
            ]);
        }
        Lab { host, srv }
    }

    fn dnsmasq(&self, nics: usize) -> Dnsmasq {
        Dnsmasq::start(&self.srv, &["veth_a1", "veth_b1"][..nics])
    }

    fn state(&self) -> PathBuf {
        self.host.state.path().join("lib")
    }

    /// Live DHCP supervisors of this host's state dir.
    fn supervisors(&self) -> Vec<i32> {
        supervisors_of(&self.state())
    }

    fn lease(&self, net: &str) -> Value {
        let p = self.state().join("dhcp").join(format!("{net}.lease.json"));
        std::fs::read(&p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null)
    }

    fn addr_info(&self, dev: &str) -> Vec<Value> {
        let v = self.host.ns.ip_json(&["addr", "show", "dev", dev]);
        v[0]["addr_info"].as_array().cloned().unwrap_or_default()
    }

    fn sysctl(&self, dev: &str, knob: &str) -> String {
        self.host
            .ns
            .exec(&["cat", &format!("/proc/sys/net/ipv6/conf/{dev}/{knob}")])
            .trim()
            .to_string()
    }

    fn resolv(&self) -> String {
        std::fs::read_to_string(self.host.state.path().join("resolv.conf")).unwrap()
    }

    /// Removes the networks and checks no supervisor is left.
    fn teardown(&self, nets: &[&str]) {
        let mut req = serde_json::Map::new();
        for n in nets {
            req.insert(n.to_string(), json!({"remove": true}));
        }
        self.host.setup(json!({"networks": req}));
        assert_eq!(
            self.supervisors(),
            Vec::<i32>::new(),
            "supervisors left over"
        );
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Even on a failed test, no supervisor survives it.
        for pid in self.supervisors() {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

fn supervisors_of(state: &Path) -> Vec<i32> {
    let key = state.to_string_lossy().into_owned();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmd
            .split(|c| *c == 0)
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        if args.iter().any(|a| a == "dhcp-client") && args.contains(&key) {
            out.push(pid);
        }
    }
    out
}

fn global(addrs: &[Value], family: &str) -> Vec<Value> {
    addrs
        .iter()
        .filter(|a| a["family"] == family && a["scope"] == "global")
        .cloned()
        .collect()
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn dhcpv4_bridged_default_route_network_gets_address_route_and_dns_and_releases_on_removal() {
    let lab = Lab::new(1);
    let srv = lab.dnsmasq(1);
    lab.host.setup(json!({"networks": {"mgmt": {
        "nic": "veth_a0", "bootproto": "dhcp", "defaultRoute": true, "blockingdhcp": true}}}));

    // The lease is in place when setup returns.
    let v4 = global(&lab.addr_info("mgmt"), "inet");
    assert_eq!(v4.len(), 1, "{v4:?}");
    let ip = v4[0]["local"].as_str().unwrap().to_string();
    assert!(ip.starts_with("10.77.0."), "{ip}");
    assert_eq!(v4[0]["prefixlen"], 24);
    let valid = v4[0]["valid_life_time"].as_u64().unwrap();
    assert!(
        valid > 0 && valid <= 120,
        "lifetime is the lease's: {valid}"
    );
    let main = lab.host.routes("-4", "main");
    assert!(
        main.iter().any(|r| r["dst"] == "default"
            && r["gateway"] == "10.77.0.1"
            && r["dev"] == "mgmt"
            && r["protocol"] == "dhcp"),
        "{main:?}"
    );
    assert!(
        lab.resolv().contains("nameserver 10.77.0.53"),
        "{}",
        lab.resolv()
    );
    assert!(srv.leases().contains(&ip));

    // caps: the flag and the leased address; the running config stays dynamic.
    let caps = lab.host.caps();
    let net = &caps["networks"]["mgmt"];
    assert_eq!(net["dhcpv4"], true, "{net}");
    assert_eq!(net["dhcpv6"], false);
    assert_eq!(net["addr"], ip.as_str(), "{net}");
    assert!(lab.host.running().networks["mgmt"].ipaddr.is_none());
    assert_eq!(lab.supervisors().len(), 1);
    // IPv6 RA handling is off on a network that did not ask for it.
    assert_eq!(lab.sysctl("mgmt", "accept_ra"), "0");

    // A second identical setup changes nothing and keeps the client.
    let pid = lab.supervisors();
    lab.host.setup(json!({"networks": {"mgmt": {
        "nic": "veth_a0", "bootproto": "dhcp", "defaultRoute": true}}}));
    assert_eq!(lab.supervisors(), pid);

    lab.teardown(&["mgmt"]);
    // Released: the server forgot the lease.
    wait_for("the release to reach dnsmasq", 5, || {
        !srv.leases().contains(&ip)
    });
    assert!(lab.host.link("mgmt").is_none());
}

#[test]
fn dhcpv4_bridgeless_network_routes_through_its_own_table() {
    let lab = Lab::new(1);
    let _srv = lab.dnsmasq(1);
    let before = lab.resolv();
    lab.host.setup(json!({"networks": {"stor": {
        "nic": "veth_a0", "bridged": false, "bootproto": "dhcp", "blockingdhcp": true}}}));
    let v4 = global(&lab.addr_info("veth_a0"), "inet");
    assert_eq!(v4.len(), 1, "{v4:?}");
    let ip: std::net::Ipv4Addr = v4[0]["local"].as_str().unwrap().parse().unwrap();
    let table = u32::from(ip).to_string();
    // No default route in main, the gateway in the network's own table.
    assert!(!lab
        .host
        .routes("-4", "main")
        .iter()
        .any(|r| r["dst"] == "default"));
    let t = lab.host.routes("-4", &table);
    assert!(
        t.iter()
            .any(|r| r["dst"] == "default" && r["gateway"] == "10.77.0.1"),
        "{t:?}"
    );
    assert!(
        t.iter()
            .any(|r| r["dst"] == "10.77.0.0/24" && r["prefsrc"] == ip.to_string()),
        "{t:?}"
    );
    let (rules, ours) = source_rules(&lab.host, "-4", &table);
    assert_eq!(ours.len(), 2, "{rules}");
    // Not the defaultRoute network: the lease's DNS stays out.
    assert_eq!(lab.resolv(), before);
    let caps = lab.host.caps();
    assert_eq!(
        caps["nics"]["veth_a0"]["dhcpv4"], true,
        "{}",
        caps["nics"]["veth_a0"]
    );
    assert_eq!(caps["nics"]["veth_a0"]["addr"], ip.to_string());

    lab.teardown(&["stor"]);
    assert!(global(&lab.addr_info("veth_a0"), "inet").is_empty());
    assert!(lab.host.routes("-4", &table).is_empty());
    let rules = lab.host.ns.ip_json(&["-4", "rule", "show"]);
    assert!(!rules
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["priority"] == 32000));
}

#[test]
fn dhcpv6_and_autoconf_with_dhcpv4_on_one_network() {
    let lab = Lab::new(1);
    let _srv = lab.dnsmasq(1);
    lab.host.setup(json!({"networks": {"mgmt": {
        "nic": "veth_a0", "bootproto": "dhcp", "dhcpv6": true, "ipv6autoconf": true,
        "defaultRoute": true, "blockingdhcp": true}}}));
    assert_eq!(lab.sysctl("mgmt", "accept_ra"), "1");
    assert_eq!(lab.sysctl("mgmt", "autoconf"), "1");
    let a = lab.addr_info("mgmt");
    assert_eq!(global(&a, "inet").len(), 1, "{a:?}");
    let v6 = global(&a, "inet6");
    let leased: Vec<_> = v6.iter().filter(|x| x["prefixlen"] == 128).collect();
    assert_eq!(leased.len(), 1, "a DHCPv6 address: {v6:?}");
    let l6 = leased[0]["local"].as_str().unwrap().to_string();
    assert!(l6.starts_with("fd77::1"), "{l6}");
    assert_eq!(lab.lease("mgmt")["v6"]["address"], l6.as_str());
    // SLAAC from the router advertisements.
    wait_for("a SLAAC address", 15, || {
        global(&lab.addr_info("mgmt"), "inet6")
            .iter()
            .any(|x| x["prefixlen"] == 64 && x["local"].as_str().unwrap().starts_with("fd77::"))
    });
    let caps = lab.host.caps();
    let net = &caps["networks"]["mgmt"];
    assert_eq!(net["dhcpv6"], true);
    assert_eq!(net["ipv6autoconf"], true);
    assert!(
        net["ipv6addrs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x.as_str().unwrap().starts_with(&l6)),
        "{net}"
    );
    lab.teardown(&["mgmt"]);
}

#[test]
fn dhcpv6_only_network_without_autoconf_gets_no_slaac() {
    let lab = Lab::new(1);
    let _srv = lab.dnsmasq(1);
    lab.host.setup(json!({"networks": {"v6net": {
        "nic": "veth_a0", "bridged": false, "dhcpv6": true, "blockingdhcp": true}}}));
    assert_eq!(lab.sysctl("veth_a0", "autoconf"), "0");
    let v6 = global(&lab.addr_info("veth_a0"), "inet6");
    assert_eq!(v6.len(), 1, "only the leased address: {v6:?}");
    assert_eq!(v6[0]["prefixlen"], 128);
    assert!(global(&lab.addr_info("veth_a0"), "inet").is_empty());
    lab.teardown(&["v6net"]);
    assert!(global(&lab.addr_info("veth_a0"), "inet6").is_empty());
}

#[test]
fn two_dhcp_networks_only_the_default_route_one_gets_the_default() {
    let lab = Lab::new(2);
    let _srv = lab.dnsmasq(2);
    lab.host.setup(json!({"networks": {
        "mgmt": {"nic": "veth_a0", "bootproto": "dhcp", "defaultRoute": true, "blockingdhcp": true},
        "vms": {"nic": "veth_b0", "bootproto": "dhcp", "blockingdhcp": true}}}));
    let main = lab.host.routes("-4", "main");
    let defaults: Vec<_> = main.iter().filter(|r| r["dst"] == "default").collect();
    assert_eq!(defaults.len(), 1, "{main:?}");
    assert_eq!(defaults[0]["dev"], "mgmt");
    let ip: std::net::Ipv4Addr = lab.lease("vms")["v4"]["address"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(ip.to_string().starts_with("10.78.0."));
    let t = lab.host.routes("-4", &u32::from(ip).to_string());
    assert!(
        t.iter()
            .any(|r| r["dst"] == "default" && r["gateway"] == "10.78.0.1" && r["dev"] == "vms"),
        "{t:?}"
    );
    assert_eq!(lab.supervisors().len(), 2);

    // The default route moves to vms: its client restarts in the new role.
    lab.host.setup(json!({"networks": {
        "vms": {"nic": "veth_b0", "bootproto": "dhcp", "defaultRoute": true, "blockingdhcp": true}}}));
    let main = lab.host.routes("-4", "main");
    let defaults: Vec<_> = main.iter().filter(|r| r["dst"] == "default").collect();
    assert_eq!(defaults.len(), 1, "{main:?}");
    assert_eq!(defaults[0]["dev"], "vms");
    assert_eq!(defaults[0]["gateway"], "10.78.0.1");
    lab.teardown(&["mgmt", "vms"]);
}

#[test]
fn dynamic_to_static_and_back() {
    let lab = Lab::new(1);
    let _srv = lab.dnsmasq(1);
    lab.host.setup(json!({"networks": {"mgmt": {
        "nic": "veth_a0", "bootproto": "dhcp", "defaultRoute": true, "blockingdhcp": true}}}));
    assert_eq!(lab.supervisors().len(), 1);
    lab.host.setup(json!({"networks": {"mgmt": {
        "nic": "veth_a0", "ipaddr": "10.77.0.10", "prefix": 24, "gateway": "10.77.0.1",
        "defaultRoute": true}}}));
    assert_eq!(lab.supervisors(), Vec::<i32>::new());
    let v4 = global(&lab.addr_info("mgmt"), "inet");
    assert_eq!(v4.len(), 1, "{v4:?}");
    assert_eq!(v4[0]["local"], "10.77.0.10");
    let main = lab.host.routes("-4", "main");
    let defaults: Vec<_> = main.iter().filter(|r| r["dst"] == "default").collect();
    assert_eq!(defaults.len(), 1, "{main:?}");
    assert_ne!(defaults[0]["protocol"], "dhcp");

    // And back to DHCP: the static address goes, a lease comes.
    lab.host.setup(json!({"networks": {"mgmt": {
        "nic": "veth_a0", "bootproto": "dhcp", "defaultRoute": true, "blockingdhcp": true}}}));
    let v4 = global(&lab.addr_info("mgmt"), "inet");
    assert_eq!(v4.len(), 1, "{v4:?}");
    assert_ne!(v4[0]["local"], "10.77.0.10");
    lab.teardown(&["mgmt"]);
}

#[test]
fn dynamic_to_static_without_a_server() {
    let lab = Lab::new(1);
    let mut srv = lab.dnsmasq(1);
    lab.host.setup(json!({"networks": {"mgmt": {
        "nic": "veth_a0", "bootproto": "dhcp", "blockingdhcp": true}}}));
    srv.stop();
    lab.host.setup(json!({"networks": {"mgmt": {
        "nic": "veth_a0", "ipaddr": "10.77.0.10", "prefix": 24}}}));
    assert_eq!(lab.supervisors(), Vec::<i32>::new());
    let v4 = global(&lab.addr_info("mgmt"), "inet");
    assert_eq!(v4.len(), 1, "{v4:?}");
    assert_eq!(v4[0]["local"], "10.77.0.10");
    lab.teardown(&["mgmt"]);
}

#[test]
fn blockingdhcp_without_a_server_fails_and_rolls_back() {
    let lab = Lab::new(1);
    let facts = lab.host.facts();
    let (code, err) = lab.host.setup_code(
        &json!({"networks": {"mgmt": {"nic": "veth_a0", "bootproto": "dhcp", "blockingdhcp": true}}}),
        &["--dhcp-timeout", "2"],
    );
    assert_eq!(code, 29, "{err}");
    assert!(
        err.contains("no DHCPv4 lease") && err.contains("rolled back"),
        "{err}"
    );
    assert!(!err.contains("incompletely"), "{err}");
    assert_eq!(lab.supervisors(), Vec::<i32>::new());
    assert!(lab.host.link("mgmt").is_none());
    assert_eq!(lab.host.facts(), facts);
    assert!(lab.host.running().networks.is_empty());

    // Without blockingdhcp the same request succeeds and the client waits on.
    lab.host
        .setup(json!({"networks": {"mgmt": {"nic": "veth_a0", "bootproto": "dhcp"}}}));
    assert_eq!(lab.supervisors().len(), 1);
    let _srv = lab.dnsmasq(1);
    wait_for("a lease once the server is there", 30, || {
        !global(&lab.addr_info("mgmt"), "inet").is_empty()
    });
    lab.teardown(&["mgmt"]);
}

#[test]
fn restore_brings_dhcp_networks_back_with_their_leases() {
    let lab = Lab::new(1);
    let _srv = lab.dnsmasq(1);
    lab.host.setup(json!({"networks": {"mgmt": {
        "nic": "veth_a0", "bootproto": "dhcp", "defaultRoute": true, "blockingdhcp": true}},
        "options": {"commitOnSuccess": true}}));
    // A reboot, as far as netswitch can tell: the bridge and the client gone.
    for pid in lab.supervisors() {
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    lab.host.ns.ip(&["link", "del", "mgmt"]);
    wait_for("the killed supervisor to go", 5, || {
        lab.supervisors().is_empty()
    });
    let (code, _, err) = lab.host.netswitch(&["restore", "--force"], None);
    assert_eq!(code, 0, "{err}");
    // Restore waited for the lease.
    assert_eq!(global(&lab.addr_info("mgmt"), "inet").len(), 1);
    assert_eq!(lab.supervisors().len(), 1);
    lab.teardown(&["mgmt"]);
}

#[test]
fn lease_is_renewed_after_the_server_goes_away_and_comes_back() {
    // dnsmasq's shortest lease is 2 minutes: renewal (T1) at 60 s.
    let lab = Lab::new(1);
    let mut srv = lab.dnsmasq(1);
    lab.host.setup(json!({"networks": {"mgmt": {
        "nic": "veth_a0", "bootproto": "dhcp", "blockingdhcp": true}}}));
    let first = lab.lease("mgmt")["v4"].clone();
    assert_eq!(first["grants"], 1);
    srv.stop();
    // The first renewal attempt (at T1) goes unanswered.
    std::thread::sleep(Duration::from_secs(65));
    assert_eq!(lab.lease("mgmt")["v4"]["grants"], 1);
    srv.resume();
    wait_for("the renewal", 60, || {
        lab.lease("mgmt")["v4"]["grants"].as_u64() >= Some(2)
    });
    let again = lab.lease("mgmt")["v4"].clone();
    assert_eq!(again["address"], first["address"]);
    let v4 = global(&lab.addr_info("mgmt"), "inet");
    let valid = v4[0]["valid_life_time"].as_u64().unwrap();
    assert!(valid > 100, "lifetime refreshed: {valid}");
    lab.teardown(&["mgmt"]);
}

#[test]
#[ignore = "needs the kernel lab (tests/lab/run)"]
fn dhcp_on_a_vlan_over_a_bond() {
    // Bond slaves veth_a0/veth_b0; their peers are ports of a bridge in the
    // server namespace, whose VLAN 100 device carries dnsmasq.
    let lab = Lab::new(2);
    lab.srv.ip(&["link", "add", "srvbr", "type", "bridge"]);
    for p in ["veth_a1", "veth_b1"] {
        lab.srv.ip(&["addr", "flush", "dev", p]);
        lab.srv.ip(&["link", "set", p, "master", "srvbr"]);
    }
    lab.srv.ip(&["link", "set", "srvbr", "up"]);
    lab.srv.ip(&[
        "link",
        "add",
        "link",
        "srvbr",
        "name",
        "srvbr.100",
        "type",
        "vlan",
        "id",
        "100",
    ]);
    lab.srv.ip(&["link", "set", "srvbr.100", "up"]);
    lab.srv
        .ip(&["addr", "add", "10.77.0.1/24", "dev", "srvbr.100"]);
    lab.srv
        .ip(&["addr", "add", "fd77::1/64", "dev", "srvbr.100", "nodad"]);
    let _srv = Dnsmasq::start(&lab.srv, &["srvbr.100"]);
    lab.host.setup(json!({
        "bondings": {"bond0": {"nics": ["veth_a0", "veth_b0"], "options": "mode=1 miimon=100"}},
        "networks": {"mgmt": {"bonding": "bond0", "vlan": 100, "bootproto": "dhcp", "dhcpv6": true,
                              "defaultRoute": true, "blockingdhcp": true}}}));
    let a = lab.addr_info("mgmt");
    let v4 = global(&a, "inet");
    assert_eq!(v4.len(), 1, "{a:?}");
    assert!(v4[0]["local"].as_str().unwrap().starts_with("10.77.0."));
    assert!(
        global(&a, "inet6").iter().any(|x| x["prefixlen"] == 128),
        "{a:?}"
    );
    let caps = lab.host.caps();
    assert_eq!(caps["networks"]["mgmt"]["dhcpv4"], true);
    assert_eq!(caps["networks"]["mgmt"]["southbound"], "bond0.100");
    lab.host.setup(
        json!({"networks": {"mgmt": {"remove": true}}, "bondings": {"bond0": {"remove": true}}}),
    );
    assert_eq!(
        lab.supervisors(),
        Vec::<i32>::new(),
        "supervisors left over"
    );
}

fn mac(lab: &Lab, dev: &str) -> String {
    lab.host.link(dev).expect(dev)["address"]
        .as_str()
        .unwrap()
        .to_string()
}

/// How many IPv4 leases dnsmasq holds.
fn v4_leases(srv: &Dnsmasq) -> usize {
    srv.leases().lines().filter(|l| l.contains(" 10.")).count()
}

fn v4_of(lab: &Lab, dev: &str) -> String {
    let v4 = global(&lab.addr_info(dev), "inet");
    assert_eq!(v4.len(), 1, "{dev}: {v4:?}");
    v4[0]["local"].as_str().unwrap().to_string()
}

#[test]
fn a_dhcp_nic_keeps_its_lease_moving_between_bridgeless_and_bridged() {
    let lab = Lab::new(1);
    let srv = lab.dnsmasq(1);
    let nic_mac = mac(&lab, "veth_a0");
    let bridgeless = json!({"networks": {"mgmt": {
        "nic": "veth_a0", "bridged": false, "bootproto": "dhcp", "blockingdhcp": true}}});
    let bridged = json!({"networks": {"mgmt": {
        "nic": "veth_a0", "bridged": true, "bootproto": "dhcp", "blockingdhcp": true}}});
    lab.host.setup(bridgeless.clone());
    let ip = v4_of(&lab, "veth_a0");

    // Bridgeless -> bridged: the bridge wears the nic's MAC and the lease
    // moves with it; the nic keeps no address of its own.
    lab.host.setup(bridged);
    assert_eq!(mac(&lab, "mgmt"), nic_mac);
    assert_eq!(v4_of(&lab, "mgmt"), ip);
    assert!(global(&lab.addr_info("veth_a0"), "inet").is_empty());
    assert_eq!(lab.lease("mgmt")["v4"]["address"], ip.as_str());
    assert_eq!(lab.lease("mgmt")["dev"], "mgmt");
    assert_eq!(v4_leases(&srv), 1, "{}", srv.leases());
    assert!(srv.leases().contains(&ip));

    // And back: the same address on the nic, the bridge gone.
    lab.host.setup(bridgeless);
    assert!(lab.host.link("mgmt").is_none());
    assert_eq!(v4_of(&lab, "veth_a0"), ip);
    assert_eq!(lab.lease("mgmt")["dev"], "veth_a0");
    assert_eq!(v4_leases(&srv), 1, "{}", srv.leases());
    lab.teardown(&["mgmt"]);
}

#[test]
fn a_non_default_dhcpv6_network_routes_through_its_own_ipv6_table() {
    let lab = Lab::new(2);
    let _srv = lab.dnsmasq(2);
    lab.host.setup(json!({"networks": {
        "mgmt": {"nic": "veth_a0", "bootproto": "dhcp", "dhcpv6": true, "defaultRoute": true,
                 "blockingdhcp": true},
        "vms": {"nic": "veth_b0", "bridged": false, "bootproto": "dhcp", "dhcpv6": true,
                "blockingdhcp": true}}}));
    // The defaultRoute network's router is the main table's (from the RA).
    wait_for("the RA default route on mgmt", 15, || {
        lab.host
            .routes("-6", "main")
            .iter()
            .any(|r| r["dst"] == "default" && r["dev"] == "mgmt")
    });
    let main = lab.host.routes("-6", "main");
    assert!(
        !main
            .iter()
            .any(|r| r["dst"] == "default" && r["dev"] == "veth_b0"),
        "{main:?}"
    );
    // The other one's router goes into its own table, with its rules.
    let l6: std::net::Ipv6Addr = lab.lease("vms")["v6"]["address"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(l6.to_string().starts_with("fd78::"), "{l6}");
    let table = lab.lease("vms")["v6"]["table"]
        .as_u64()
        .expect("a table in the v6 lease")
        .to_string();
    wait_for("the router in vms' own IPv6 table", 15, || {
        lab.host
            .routes("-6", &table)
            .iter()
            .any(|r| r["dst"] == "default" && r["dev"] == "veth_b0")
    });
    let t = lab.host.routes("-6", &table);
    let router = t.iter().find(|r| r["dst"] == "default").unwrap()["gateway"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(router.starts_with("fe80::"), "{t:?}");
    assert!(
        t.iter()
            .any(|r| r["dst"] == "fd78::/64" && r["dev"] == "veth_b0"),
        "{t:?}"
    );
    let (rules, ours) = source_rules(&lab.host, "-6", &table);
    assert_eq!(ours.len(), 2, "{rules}");
    assert!(ours.iter().any(|r| r["src"] == "fd78::"), "{rules}");
    assert!(
        ours.iter()
            .any(|r| r["dst"] == "fd78::" && r["iif"] == "veth_b0"),
        "{rules}"
    );
    // The v4 side still has its table too.
    assert!(lab.lease("vms")["v4"]["table"].is_u64());

    lab.teardown(&["mgmt", "vms"]);
    assert!(lab.host.routes("-6", &table).is_empty());
    let rules = lab.host.ns.ip_json(&["-6", "rule", "show"]);
    assert!(
        !rules
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["priority"] == 32000),
        "{rules}"
    );
}

#[test]
fn dhcp_on_a_bridged_ovs_network() {
    let mut lab = Lab::new(1);
    let ovs = netswitch_testkit::Ovs::start(&lab.host.ns);
    lab.host.use_ovs(&ovs);
    let srv = lab.dnsmasq(1);
    lab.host.setup(json!({"networks": {"mgmt": {
        "nic": "veth_a0", "switch": "ovs", "bootproto": "dhcp", "defaultRoute": true,
        "blockingdhcp": true}}, "options": {"connectivityCheck": false}}));
    let ip = v4_of(&lab, "mgmt");
    assert!(ip.starts_with("10.77.0."), "{ip}");
    assert!(srv.leases().contains(&ip));
    let main = lab.host.routes("-4", "main");
    assert!(
        main.iter()
            .any(|r| r["dst"] == "default" && r["gateway"] == "10.77.0.1" && r["dev"] == "mgmt"),
        "{main:?}"
    );
    let caps = lab.host.caps();
    let net = &caps["networks"]["mgmt"];
    assert_eq!(net["switch"], "ovs", "{net}");
    assert_eq!(net["dhcpv4"], true, "{net}");
    assert_eq!(net["addr"], ip.as_str(), "{net}");
    assert_eq!(lab.supervisors().len(), 1);

    // Removed: released, and nothing left in OVS or the kernel.
    lab.host
        .setup(json!({"networks": {"mgmt": {"remove": true}},
        "options": {"connectivityCheck": false}}));
    assert_eq!(lab.supervisors(), Vec::<i32>::new());
    wait_for("the release to reach dnsmasq", 5, || {
        !srv.leases().contains(&ip)
    });
    assert!(lab.host.link("mgmt").is_none());
    assert_eq!(ovs.vsctl(&["list-br"]).trim(), "");
    assert!(lab
        .host
        .routes("-4", "main")
        .iter()
        .all(|r| r["dst"] != "default"));
    assert!(lab.host.caps()["networks"].as_object().unwrap().is_empty());
    assert!(!lab.state().join("dhcp/mgmt.lease.json").exists());
}

/// `netswitch daemon` on a lab's host; SIGTERM, then SIGKILL, on drop.
struct Daemon {
    child: Child,
    socket: PathBuf,
}

impl Daemon {
    fn start(lab: &Lab) -> Daemon {
        let socket = lab.host.state.path().join("api.sock");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_netswitch"));
        cmd.args(["--netns", lab.host.ns.name()])
            .arg("--state-dir")
            .arg(lab.state())
            .arg("--resolv-conf")
            .arg(lab.host.state.path().join("resolv.conf"))
            .arg("--socket")
            .arg(&socket)
            .arg("daemon")
            .stdin(Stdio::null());
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let d = Daemon {
            child: cmd.spawn().expect("spawn the daemon"),
            socket,
        };
        wait_for("the daemon's socket", 20, || {
            std::os::unix::net::UnixStream::connect(&d.socket).is_ok()
        });
        d
    }

    /// Subscribes; the events arrive on the returned channel.
    fn subscribe(&self) -> std::sync::mpsc::Receiver<Value> {
        let mut c = netswitch_daemon::Client::connect(&self.socket).unwrap();
        c.call("Host.subscribe", json!({})).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            while let Ok(m) = c.read_message() {
                if tx.send(m["params"].clone()).is_err() {
                    break;
                }
            }
        });
        rx
    }

    fn setup(&self, lab: &Lab, req: Value) {
        let sock = self.socket.to_str().unwrap();
        let (code, out, err) = lab
            .host
            .netswitch(&["--socket", sock, "setup", "-"], Some(&req));
        assert_eq!(code, 0, "{err}{out}");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(3) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The next event of `kind` (skipping others), within `secs`.
fn next_event(rx: &std::sync::mpsc::Receiver<Value>, kind: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(e) if e["event"] == kind => return e,
            Ok(_) => {}
            Err(_) => panic!("no {kind} event within {secs} s"),
        }
    }
}

#[test]
fn subscribers_hear_lease_events_naming_the_network() {
    let lab = Lab::new(1);
    let srv = lab.dnsmasq(1);
    let d = Daemon::start(&lab);
    let events = d.subscribe();
    d.setup(
        &lab,
        json!({"networks": {"mgmt": {"nic": "veth_a0", "bootproto": "dhcp", "dhcpv6": true,
            "defaultRoute": true, "blockingdhcp": true}},
            "options": {"connectivityCheck": false}}),
    );
    let ip = v4_of(&lab, "mgmt");
    let mut got = [
        next_event(&events, "dhcp.lease", 10),
        next_event(&events, "dhcp.lease", 10),
    ];
    got.sort_by_key(|e| e["family"].as_str().unwrap().to_string());
    let (v4, v6) = (&got[0], &got[1]);
    assert_eq!(v4["network"], "mgmt", "{v4}");
    assert_eq!(v4["device"], "mgmt", "{v4}");
    assert_eq!(v4["family"], "ipv4", "{v4}");
    assert_eq!(v4["address"], ip.as_str(), "{v4}");
    assert_eq!(v4["prefix"], 24, "{v4}");
    assert_eq!(v4["lifetime"], 120, "{v4}");
    assert_eq!(v4["renewed"], false, "{v4}");
    assert_eq!(v6["network"], "mgmt", "{v6}");
    assert_eq!(v6["family"], "ipv6", "{v6}");
    assert_eq!(v6["address"], lab.lease("mgmt")["v6"]["address"], "{v6}");

    // Removal: the client releases both, and says so.
    d.setup(
        &lab,
        json!({"networks": {"mgmt": {"remove": true}}, "options": {"connectivityCheck": false}}),
    );
    let mut gone = [
        next_event(&events, "dhcp.released", 10),
        next_event(&events, "dhcp.released", 10),
    ];
    gone.sort_by_key(|e| e["family"].as_str().unwrap().to_string());
    assert_eq!(gone[0]["network"], "mgmt", "{}", gone[0]);
    assert_eq!(gone[0]["address"], ip.as_str(), "{}", gone[0]);
    assert_eq!(gone[1]["family"], "ipv6", "{}", gone[1]);
    wait_for("the release to reach dnsmasq", 5, || {
        !srv.leases().contains(&ip)
    });
    assert_eq!(lab.supervisors(), Vec::<i32>::new());
}

/// The policy rules of `ip FAMILY rule show` (all, for messages) and those
/// source routing put at priority 32000 for `table`.
fn source_rules(host: &Host, family: &str, table: &str) -> (Value, Vec<Value>) {
    let rules = host.ns.ip_json(&[family, "rule", "show"]);
    let ours = rules
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["priority"] == 32000 && r["table"] == table)
        .cloned()
        .collect();
    (rules, ours)
}
