//! The receiver against a real lldpd, over a veth between two fresh
//! network namespaces: "host" (where the receiver runs, the nic `eth0`)
//! and "switch" (lldpd on `sw0`, the other end of the cable).

use netswitch_lldp::*;
use netswitch_testkit::Netns;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver as Rx};
use std::time::{Duration, Instant};

/// Generous: the machine is loaded; a healthy run takes a few seconds.
const PATIENCE: Duration = Duration::from_secs(60);

struct Cable {
    host: Netns,
    switch: Netns,
}

fn cable() -> Cable {
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
    Cable { host, switch }
}

/// lldpd in the switch namespace with a private control socket and
/// config; killed on drop (and with the namespace anyway).
struct Lldpd {
    child: Child,
    sock: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Lldpd {
    /// The switch: announces on `sw0` every second, TTL a few seconds.
    fn start(ns: &Netns) -> Self {
        let conf = "configure system hostname tor-7\n\
             configure system description \"Peer switch OS 9.1\"\n\
             configure lldp tx-interval 1\n\
             configure lldp tx-hold 3\n\
             configure ports sw0 lldp portdescription \"Ethernet1/7 to host\"\n";
        Self::spawn(ns, &["-I", "sw0"], conf)
    }

    /// Receive-only on `dev`, to check what we send.
    fn listen(ns: &Netns, dev: &str) -> Self {
        Self::spawn(ns, &["-r", "-I", dev], "")
    }

    /// `lldpd -d ARGS -u DIR/ctl.sock -O DIR/lldpd.conf` inside `ns`; the
    /// private config also keeps it from reading /etc/lldpd.d.
    fn spawn(ns: &Netns, args: &[&str], conf: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let conf_path = dir.path().join("lldpd.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let sock = dir.path().join("ctl.sock");
        let child = Command::new("ip")
            .args(["netns", "exec", ns.name(), "lldpd", "-d"])
            .args(args)
            .arg("-u")
            .arg(&sock)
            .arg("-O")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("lldpd (Debian package lldpd) must be installed");
        Self {
            child,
            sock,
            _dir: dir,
        }
    }

    /// `lldpcli show neighbors details` as JSON; Null while lldpd is not
    /// answering yet.
    fn neighbors(&self, ns: &Netns) -> serde_json::Value {
        let out = Command::new("ip")
            .args(["netns", "exec", ns.name(), "lldpcli", "-u"])
            .arg(&self.sock)
            .args(["-f", "json", "show", "neighbors", "details"])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    /// SIGKILL: no shutdown LLDPDU, so the neighbor must age out by TTL.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Lldpd {
    fn drop(&mut self) {
        self.kill();
    }
}

fn mac(ns: &Netns, dev: &str) -> String {
    ns.sysfs(&format!("{dev}/address")).unwrap()
}

/// Waits until `f` gives Some, or panics after [`PATIENCE`].
fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn props(report: &DeviceReport, name: &str) -> Option<std::collections::BTreeMap<String, String>> {
    report
        .tlvs
        .iter()
        .find(|t| t.name == name)
        .map(|t| t.properties.clone())
}

fn start_receiver(ns: &Netns) -> (Receiver, Rx<Event>) {
    let (tx, rx) = channel();
    let r = ns
        .run(|| Receiver::spawn(move |e| drop(tx.send(e))))
        .unwrap();
    (r, rx)
}

/// Checks everything lldpd announced shows up for `dev`.
fn assert_reports_lldpd(c: &Cable, receiver: &Receiver, dev: &str) {
    let devs = vec![dev.to_string()];
    let report = wait_for("lldpd's LLDPDU", || {
        let r = receiver.neighbors().report(&devs).remove(dev)?;
        props(&r, "System Name").map(|_| r)
    });
    assert!(report.enabled);
    let sw_mac = mac(&c.switch, "sw0");
    let get = |tlv: &str, prop: &str| props(&report, tlv).and_then(|p| p.get(prop).cloned());
    assert_eq!(get("System Name", "system name").as_deref(), Some("tor-7"));
    assert_eq!(
        get("System Description", "system description").as_deref(),
        Some("Peer switch OS 9.1")
    );
    assert_eq!(
        get("Port Description", "port description").as_deref(),
        Some("Ethernet1/7 to host")
    );
    assert_eq!(
        get("Chassis ID", "chassis ID subtype").as_deref(),
        Some("MAC")
    );
    assert_eq!(get("Chassis ID", "chassis ID"), Some(sw_mac.clone()));
    // lldpd identifies the port by its MAC (subtype 3) unless configured.
    assert_eq!(get("Port ID", "port ID subtype").as_deref(), Some("MAC"));
    assert_eq!(get("Port ID", "port ID"), Some(sw_mac));
    let ttl: u32 = get("Time to Live", "time to live")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=10).contains(&ttl),
        "ttl {ttl} from tx-interval 1 x tx-hold 3"
    );
    // The whole answer is JSON of strings only, as VDSM's was.
    let json = serde_json::to_value(&report).unwrap();
    for t in json["tlvs"].as_array().unwrap() {
        assert!(t["properties"]
            .as_object()
            .unwrap()
            .values()
            .all(|v| v.is_string()));
    }
}

#[test]
fn a_bare_nic_reports_lldpd_as_its_neighbor() {
    let c = cable();
    let (receiver, events) = start_receiver(&c.host);
    let _lldpd = Lldpd::start(&c.switch);
    assert_reports_lldpd(&c, &receiver, "eth0");
    let first = events.recv_timeout(PATIENCE).unwrap();
    assert!(
        matches!(first, Event::Appeared { ref device, .. } if device == "eth0"),
        "{first:?}"
    );
    assert_eq!(receiver.neighbors().malformed(), 0);
    // No filter: every interface listened on, lo excluded.
    let all = receiver.neighbors().report(&[]);
    assert_eq!(all.keys().collect::<Vec<_>>(), vec!["eth0"]);
    // A device we do not listen on (absent) is reported disabled, empty.
    let other = receiver.neighbors().report(&["nosuch".to_string()]);
    assert!(!other["nosuch"].enabled && other["nosuch"].tlvs.is_empty());
    // The nic goes away: so does its neighbor, at the next rescan.
    c.host.ip(&["link", "del", "eth0"]);
    let gone = Event::Expired {
        device: "eth0".into(),
    };
    wait_for("eth0's neighbor to leave with eth0", || {
        let e = events.recv_timeout(Duration::from_millis(100)).ok();
        e.filter(|e| *e == gone)
    });
    let after = receiver.neighbors().report(&["eth0".to_string()]);
    assert!(!after["eth0"].enabled && after["eth0"].tlvs.is_empty());
}

#[test]
fn a_nic_under_a_linux_bridge_reports_its_neighbor() {
    let c = cable();
    c.host.ip(&["link", "add", "br0", "type", "bridge"]);
    c.host.ip(&["link", "set", "eth0", "master", "br0"]);
    c.host.ip(&["link", "set", "br0", "up"]);
    let (receiver, _events) = start_receiver(&c.host);
    let _lldpd = Lldpd::start(&c.switch);
    assert_reports_lldpd(&c, &receiver, "eth0");
    // The bridge does not forward the nearest-bridge group: the neighbor
    // belongs to the port, not to br0.
    let br = receiver.neighbors().report(&["br0".to_string()]);
    assert!(br["br0"].enabled && br["br0"].tlvs.is_empty());
}

#[test]
fn the_neighbor_expires_after_its_ttl_when_lldpd_dies() {
    let c = cable();
    let (receiver, events) = start_receiver(&c.host);
    let mut lldpd = Lldpd::start(&c.switch);
    assert_reports_lldpd(&c, &receiver, "eth0");
    lldpd.kill();
    let devs = vec!["eth0".to_string()];
    wait_for("the neighbor to expire", || {
        receiver.neighbors().report(&devs)["eth0"]
            .tlvs
            .is_empty()
            .then_some(())
    });
    assert!(receiver.neighbors().get("eth0").is_none());
    let expired = wait_for("the expired event", || {
        events
            .recv_timeout(Duration::from_millis(100))
            .ok()
            .filter(|e| matches!(e, Event::Expired { .. }))
    });
    assert_eq!(
        expired,
        Event::Expired {
            device: "eth0".into()
        }
    );
}

/// LLDPDUs that must be refused: truncated, empty, port ID first, a
/// three-byte TTL.
fn bad_frames() -> Vec<Vec<u8>> {
    vec![
        vec![0x02, 0x07, 0x04, 0x01],
        vec![],
        vec![0x04, 0x02, 0x05, 0x61, 0x02, 0x02, 0x04, 0x01, 0x00, 0x00],
        vec![
            0x02, 0x02, 0x04, 0x01, 0x04, 0x02, 0x05, 0x61, 0x06, 0x03, 0, 0, 9, 0, 0,
        ],
    ]
}

#[test]
fn a_burst_of_malformed_frames_is_counted_and_a_good_one_still_reported() {
    let c = cable();
    let (receiver, _events) = start_receiver(&c.host);
    let burst = 100;
    c.switch.run(|| {
        for i in 0..burst {
            send_once("sw0", &bad_frames()[i % 4]).unwrap();
        }
        let good = build(&Announce {
            chassis_mac: [2, 0, 0, 0, 0, 7],
            port_name: "sw0".into(),
            ttl: 120,
            system_name: Some("after-the-burst".into()),
            port_description: Some("p7".into()),
            vlans: vec![(42, "storage".into())],
        })
        .unwrap();
        send_once("sw0", &good).unwrap();
    });
    let devs = vec!["eth0".to_string()];
    let report = wait_for("the good frame", || {
        let r = receiver.neighbors().report(&devs).remove("eth0")?;
        props(&r, "System Name").map(|_| r)
    });
    assert_eq!(
        props(&report, "System Name").unwrap()["system name"],
        "after-the-burst"
    );
    assert_eq!(props(&report, "VLAN Name").unwrap()["VLAN Name"], "storage");
    assert_eq!(props(&report, "Port ID").unwrap()["port ID"], "sw0");
    // The frames were sent in order, so all of the burst came before.
    assert_eq!(receiver.neighbors().malformed(), burst as u64);
}

#[test]
fn our_transmitter_is_heard_by_lldpd_and_by_our_receiver() {
    let c = cable();
    let (receiver, _events) = start_receiver(&c.host);
    let lldpd = Lldpd::listen(&c.host, "eth0");
    let announce = Announce {
        chassis_mac: [2, 0, 0, 0, 0, 9],
        port_name: "sw0".into(),
        ttl: 120,
        system_name: Some("netswitch-peer".into()),
        port_description: Some("to eth0".into()),
        vlans: vec![(42, "storage".into())],
    };
    let tx = c
        .switch
        .run(|| Transmitter::spawn("sw0", &announce, Duration::from_secs(1)))
        .unwrap();
    let devs = vec!["eth0".to_string()];
    wait_for("our own LLDPDU", || {
        let r = receiver.neighbors().report(&devs).remove("eth0")?;
        props(&r, "System Name").filter(|p| p["system name"] == "netswitch-peer")
    });
    let seen = wait_for("lldpd to hear us", || {
        let n = lldpd.neighbors(&c.host);
        let eth0 = n["lldp"]["interface"]["eth0"].clone();
        eth0.is_object().then_some(eth0)
    });
    let chassis = &seen["chassis"]["netswitch-peer"]["id"];
    assert_eq!(chassis["type"], "mac");
    assert_eq!(chassis["value"], "02:00:00:00:00:09");
    assert_eq!(seen["port"]["id"]["type"], "ifname");
    assert_eq!(seen["port"]["id"]["value"], "sw0");
    assert_eq!(seen["port"]["descr"], "to eth0");
    assert_eq!(seen["port"]["ttl"], "120");
    assert_eq!(seen["vlan"]["vlan-id"], "42");
    assert_eq!(seen["vlan"]["value"], "storage");
    drop(tx);
    assert!(matches!(
        c.switch
            .run(|| Transmitter::spawn("nosuch", &announce, TX_INTERVAL)),
        Err(TransmitError::Io { .. })
    ));
}
