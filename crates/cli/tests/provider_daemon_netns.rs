//! The provider client's daemon methods (`Host.addProvider`, ...,
//! `Host.plugVnic` with `provider`, `Host.unplugVnic` of such a vNIC)
//! driven over the daemon's Unix socket, against the real provider on a
//! private OVN central and a real chassis (the fixture of
//! `provider_client_netns`). What an operator would check: the store files
//! and their modes, the answers and their codes, the ports through the
//! Neutron API, the Logical_Switch_Ports with `ovn-nbctl`, br-int, and
//! caps `externalNetworks` / `vnics` as the daemon reports them.

mod common;
#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/provider.rs"]
mod fixture;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use daemon::Daemon;
use fixture::{chassis, created_port, on_br_int, provider, Chassis, PASSWORD, USER};
use netswitch_daemon::ClientError;
use netswitch_neutron_client::vnic_id;
use netswitch_testkit::Central;
use serde_json::{json, Value};

const MAC1: &str = "52:54:00:00:03:01";
const MAC2: &str = "52:54:00:00:03:02";

/// The daemon of the chassis' host, on its OVS.
fn start(c: &Chassis) -> Daemon {
    let db = c.ovs.db();
    Daemon::start_args(
        &c.h,
        Path::new(env!("CARGO_BIN_EXE_netswitch")),
        &["--ovs-db", &db, "--ovs-datapath", c.ovs.datapath],
    )
}

/// A method's result, which must be a success.
fn call(d: &Daemon, method: &str, params: Value) -> Value {
    d.client()
        .call(method, params)
        .unwrap_or_else(|e| panic!("{method}: {e}"))
}

/// A method's error: its code and message.
fn refused(d: &Daemon, method: &str, params: Value) -> (i64, String) {
    match d.client().call(method, params) {
        Err(ClientError::Rpc { code, message }) => (code, message),
        other => panic!("{method}: not refused: {other:?}"),
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn add_params(name: &str, auth_url: &str) -> Value {
    json!({"name": name, "authUrl": auth_url, "user": USER, "password": PASSWORD,
        "tenant": "admin"})
}

fn plug_params(device: &str, vm: &str, mac: &str) -> Value {
    json!({"vnic": {"provider": "osn", "network": "red", "vmId": vm, "mac": mac,
        "device": device}, "timeout": 300})
}

fn caps(d: &Daemon) -> Value {
    call(d, "Host.getNetworkCapabilities", json!({}))
}

#[test]
fn providers_networks_and_provider_vnics_over_the_daemon() {
    let central = Central::start();
    let c = chassis(&central);
    let p = provider(&c.h, &central);
    let red = p.network(&c.h, "red", "10.0.1.0/24");
    let lib = c.h.state.path().join("lib");
    let d = start(&c);
    let _vm = c.h.vm("tap1", Some(MAC1), "10.0.1.11");

    // Recorded: the password apart, 0600 in a 0700 directory, never
    // answered.
    let added = call(&d, "Host.addProvider", add_params("osn", &p.v3()));
    assert_eq!(added["status"]["code"], 0, "{added}");
    assert_eq!(added["provider"]["name"], "osn");
    assert_eq!(mode(&lib.join("providers")), 0o700);
    assert_eq!(mode(&lib.join("providers/osn.secret")), 0o600);
    let record = std::fs::read_to_string(lib.join("providers/osn.json")).unwrap();
    assert!(!record.contains(PASSWORD), "{record}");
    let listed = call(&d, "Host.getProviders", json!({}));
    assert_eq!(listed["providers"][0]["name"], "osn", "{listed}");
    assert_eq!(listed["providers"][0]["keystoneVersion"], "v3", "{listed}");
    for v in [&added, &listed] {
        assert!(!v.to_string().contains(PASSWORD), "{v}");
    }
    let t = call(&d, "Host.testProvider", json!({"name": "osn"}));
    assert_eq!(t["networks"], 1, "{t}");
    let nets = call(&d, "Host.getProviderNetworks", json!({"name": "osn"}));
    assert_eq!(nets["networks"][0]["id"], red.as_str(), "{nets}");

    // Refusals name what is at fault and write nothing.
    let dead = "http://127.0.0.1:1/v3";
    for (method, params, code, says) in [
        (
            "Host.addProvider",
            add_params("bad", "ftp://x"),
            21,
            "authUrl",
        ),
        (
            "Host.addProvider",
            json!({"name": "bad", "authUrl": dead}),
            21,
            "missing field",
        ),
        (
            "Host.addProvider",
            json!({"name": "bad", "authUrl": dead, "user": USER,
            "password": "x", "color": 1}),
            21,
            "color",
        ),
        (
            "Host.addProvider",
            json!({"name": "bad", "authUrl": dead, "user": USER,
            "password": "x", "ca": "ca.pem"}),
            21,
            "ca",
        ),
        ("Host.addProvider", add_params("../bad", dead), 21, "../bad"),
        ("Host.testProvider", json!({"name": "nosuch"}), 27, "nosuch"),
        ("Host.getProviderNetworks", json!({}), 21, "name"),
        (
            "Host.importNetwork",
            json!({"provider": "osn", "network": "nosuch"}),
            27,
            "nosuch",
        ),
        ("Host.unimportNetwork", json!({"network": "red"}), 27, "red"),
        (
            "Host.removeProvider",
            json!({"name": "nosuch"}),
            27,
            "nosuch",
        ),
    ] {
        let (got, message) = refused(&d, method, params);
        assert_eq!(got, code, "{method}: {message}");
        assert!(message.contains(says), "{method}: {message}");
    }
    assert!(!lib.join("providers/bad.json").exists());
    assert!(!lib.join("external-networks").exists());

    // A credentials file others may read is refused, not used.
    let secret = lib.join("providers/osn.secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, message) = refused(&d, "Host.testProvider", json!({"name": "osn"}));
    assert_eq!(code, 21, "{message}");
    assert!(
        message.contains("0600") && message.contains("osn"),
        "{message}"
    );
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();

    // Imported: kept, and reported in the daemon's caps.
    let imported = call(
        &d,
        "Host.importNetwork",
        json!({"provider": "osn", "network": "red"}),
    );
    let e = json!({"provider": "osn", "id": red, "name": "red"});
    assert_eq!(imported["externalNetwork"], e, "{imported}");
    assert_eq!(mode(&lib.join("external-networks/red.json")), 0o600);
    assert_eq!(caps(&d)["externalNetworks"], json!({"red": e}));

    plug_and_unplug(&c, &p, &d, &central);
    drop(d);
    let d = crashed_plug_is_finished(&c, &p);

    // Forgotten, then the provider removed with its files.
    call(&d, "Host.unimportNetwork", json!({"network": "red"}));
    assert!(caps(&d).get("externalNetworks").is_none());
    call(&d, "Host.removeProvider", json!({"name": "osn"}));
    assert!(!lib.join("providers/osn.json").exists());
    assert!(!secret.exists());
    assert_eq!(
        call(&d, "Host.getProviders", json!({}))["providers"],
        json!([])
    );
    drop(d);
}

/// `Host.plugVnic` with `provider` and `Host.unplugVnic` of that vNIC.
fn plug_and_unplug(c: &Chassis, p: &fixture::Provider, d: &Daemon, central: &Central) {
    let lib = c.h.state.path().join("lib");
    let lsps = || central.nbctl(&["--bare", "--columns=name", "list", "Logical_Switch_Port"]);
    // Refused before anything is made, here or on the provider.
    let mut with_port = plug_params("tap1", "vm-1", MAC1);
    with_port["vnic"]["port"] = json!("p-1");
    for (params, code, says) in [
        (plug_params("tap1", "vm-1", "01:00:5e:00:00:01"), 21, "mac"),
        (plug_params("tap1", "", MAC1), 21, "vmId"),
        (with_port, 21, "port"),
        (
            json!({"vnic": {"provider": "nosuch", "network": "red", "vmId": "vm-1",
            "mac": MAC1, "device": "tap1"}}),
            27,
            "nosuch",
        ),
        (
            json!({"vnic": {"provider": "osn", "network": "green", "vmId": "vm-1",
            "mac": MAC1, "device": "tap1"}}),
            27,
            "green",
        ),
    ] {
        let (got, message) = refused(d, "Host.plugVnic", params);
        assert_eq!(got, code, "{message}");
        assert!(message.contains(says), "{message}");
    }
    assert!(on_br_int(c).is_empty());
    assert_eq!(lsps(), "");

    // The plug: the port made with the vNIC id and this chassis, bound.
    let vnic1 = vnic_id("vm-1", MAC1);
    let v = call(d, "Host.plugVnic", plug_params("tap1", "vm-1", MAC1));
    let (port, _) = created_port(p, &c.h, &v, &vnic1);
    let requested = [
        "get",
        "Logical_Switch_Port",
        &port,
        "options:requested-chassis",
    ];
    assert_eq!(central.nbctl(&requested), "chassis-1");
    assert_eq!(central.port_chassis(&port).as_deref(), Some("chassis-1"));
    assert_eq!(on_br_int(c), ["tap1"]);
    assert_eq!(mode(&lib.join("provider-ports/tap1.json")), 0o600);
    assert_eq!(caps(d)["vnics"]["tap1"]["port"], port.as_str(), "caps");

    // Again: the same port; the provider and network in use stay.
    let again = call(d, "Host.plugVnic", plug_params("tap1", "vm-1", MAC1));
    assert_eq!(again["created"], false, "{again}");
    assert_eq!(p.ports_of(&c.h, &vnic1).len(), 1);
    for (method, params) in [
        ("Host.removeProvider", json!({"name": "osn"})),
        ("Host.unimportNetwork", json!({"network": "red"})),
    ] {
        let (code, message) = refused(d, method, params);
        assert_eq!(code, 21, "{message}");
        assert!(message.contains("tap1"), "{message}");
    }
    mutating_calls_wait_for_no_one(c, d);

    // Provider unreachable: the host lets go, the port is named as left,
    // and the unplug again deletes it.
    call(
        d,
        "Host.addProvider",
        add_params("osn", "http://127.0.0.1:1/v3"),
    );
    let (code, message) = refused(d, "Host.unplugVnic", json!({"device": "tap1"}));
    assert_eq!(code, 29, "{message}");
    assert!(
        message.contains(&port) && message.contains("left"),
        "{message}"
    );
    assert!(on_br_int(c).is_empty());
    assert!(lib.join("provider-ports/tap1.json").exists());
    call(d, "Host.addProvider", add_params("osn", &p.v3()));
    let gone = call(d, "Host.unplugVnic", json!({"device": "tap1"}));
    assert_eq!(gone["providerPort"]["portId"], port.as_str(), "{gone}");
    assert!(p.ports_of(&c.h, &vnic1).is_empty());
    assert_eq!(lsps(), "");
    assert!(!lib.join("provider-ports/tap1.json").exists());

    // By vmId and mac, as an engine unplugs.
    call(d, "Host.plugVnic", plug_params("tap1", "vm-1", MAC1));
    assert_eq!(p.ports_of(&c.h, &vnic1).len(), 1);
    call(d, "Host.unplugVnic", json!({"vmId": "vm-1", "mac": MAC1}));
    assert!(p.ports_of(&c.h, &vnic1).is_empty());
    assert!(on_br_int(c).is_empty());
    assert!(caps(d)["vnics"].get("tap1").is_none());
}

/// While a setup waits for its confirmation (holding the one-at-a-time
/// slot), the mutating provider methods get 40 at once and the reads
/// answer.
fn mutating_calls_wait_for_no_one(c: &Chassis, d: &Daemon) {
    std::thread::scope(|s| {
        let setup = json!({"networks": {"net_a": {"nic": "veth_a0"}},
            "options": {"connectivityTimeout": 120}});
        let first = s.spawn(|| d.client().call("Host.setupNetworks", setup));
        let pending = c.h.state.path().join("lib/pending-confirmation");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !pending.exists() {
            assert!(Instant::now() < deadline, "the setup never waited");
            std::thread::sleep(Duration::from_millis(10));
        }
        for (method, params) in [
            (
                "Host.addProvider",
                add_params("other", "http://127.0.0.1:1/v3"),
            ),
            (
                "Host.importNetwork",
                json!({"provider": "osn", "network": "red"}),
            ),
            ("Host.unplugVnic", json!({"device": "tap1"})),
        ] {
            let (code, message) = refused(d, method, params);
            assert_eq!(code, 40, "{method}: {message}");
        }
        assert_eq!(
            call(d, "Host.getProviders", json!({}))["providers"][0]["name"],
            "osn"
        );
        call(d, "Host.confirmConnectivity", json!({}));
        first.join().unwrap().expect("the confirmed setup");
    });
    assert!(!c.h.state.path().join("lib/providers/other.json").exists());
    assert_eq!(on_br_int(c), ["tap1"]);
}

/// A daemon killed in a provider plug after the provider made the port:
/// the next daemon's plug of the same vNIC takes that port, no second one,
/// and its unplug gives it back. The daemon that finished it is returned.
fn crashed_plug_is_finished(c: &Chassis, p: &fixture::Provider) -> Daemon {
    let _vm = c.h.vm("tap2", Some(MAC2), "10.0.1.12");
    let vnic2 = vnic_id("vm-2", MAC2);
    // The daemon inherits the variable; this test binary runs one test.
    std::env::set_var("NETSWITCH_TEST_CRASH_AT", "provider-port-created");
    let mut crashing = start(c);
    std::env::remove_var("NETSWITCH_TEST_CRASH_AT");
    let died = crashing
        .client()
        .call("Host.plugVnic", plug_params("tap2", "vm-2", MAC2));
    assert!(died.is_err(), "{died:?}");
    // Its socket closes a moment before it is reaped.
    let deadline = Instant::now() + Duration::from_secs(30);
    while crashing.alive() {
        assert!(
            Instant::now() < deadline,
            "the daemon went on past its crash point"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(crashing);
    assert_eq!(p.ports_of(&c.h, &vnic2).len(), 1, "the crashed plug's port");
    assert!(on_br_int(c).is_empty());
    let d = start(c);
    let redo = call(&d, "Host.plugVnic", plug_params("tap2", "vm-2", MAC2));
    assert_eq!(redo["created"], false, "{redo}");
    let ports = p.ports_of(&c.h, &vnic2);
    assert_eq!(ports.len(), 1, "{ports:?}");
    assert_eq!(redo["providerPort"]["portId"], ports[0]["id"]);
    assert_eq!(on_br_int(c), ["tap2"]);
    call(&d, "Host.unplugVnic", json!({"device": "tap2"}));
    assert!(p.ports_of(&c.h, &vnic2).is_empty());
    d
}
