//! The provider client (`netswitch provider ...`, `vnic plug --provider`)
//! against the real provider (`netswitch-provider`, this workspace's
//! Neutron/Keystone over OVN) on a private OVN central, serving on
//! loopback inside the test host's namespace, and a real chassis there
//! (its own OVS with the netdev datapath and ovn-controller). What an
//! operator would check: the files and their modes, exit codes and
//! messages, the ports through the Neutron API, the Logical_Switch_Ports
//! with `ovn-nbctl`, the binding in the southbound DB and `ovn-installed`.

mod common;
#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/provider.rs"]
mod fixture;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;

use common::Host;
use fixture::{chassis, created_port, ok, on_br_int, provider, PASSWORD, USER};
use netswitch_neutron_client::vnic_id;
use netswitch_testkit::pki::{Pki, SERVER_EXT};
use netswitch_testkit::Central;
use serde_json::json;

const MAC1: &str = "52:54:00:00:02:01";
const MAC2: &str = "52:54:00:00:02:02";

/// A server in `h`'s namespace that answers plain HTTP to anything (what
/// an https URL pointing at an http port meets).
fn plain_http(h: &Host) -> SocketAddr {
    let l =
        h.ns.run(|| std::net::TcpListener::bind("127.0.0.1:0").expect("bind"));
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let _ = std::io::Write::write_all(
                &mut s,
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
            );
        }
    });
    addr
}

/// A CA and a certificate for 127.0.0.1 it signed, made by the openssl CLI.
fn pki() -> Pki {
    let pki = Pki::new();
    pki.ca("ca", "/CN=test-ca")
        .issue("server", "ca", "/CN=127.0.0.1", SERVER_EXT, 2);
    pki
}

/// One HTTP message (head and `Content-Length` body) from `r`.
fn message(r: &mut impl std::io::Read) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if r.read(&mut byte).unwrap_or(0) == 0 {
            return buf;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    let _ = r.read_exact(&mut body);
    buf.extend(body);
    buf
}

/// A TLS front (rustls, the certificate of `pki`) in `h`'s namespace for
/// `backend`, one request per connection, as the client sends them.
fn tls_front(h: &Host, pki: &std::path::Path, backend: SocketAddr) -> SocketAddr {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(pki.join("server.pem"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(pki.join("server.key")).unwrap();
    #[allow(deprecated)]
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = std::sync::Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap(),
    );
    let l =
        h.ns.run(|| std::net::TcpListener::bind("127.0.0.1:0").expect("bind"));
    let addr = l.local_addr().unwrap();
    let ns = h.ns.name().to_string();
    std::thread::spawn(move || {
        // The backend is the namespace's loopback.
        netswitch_netinfo::enter_netns(&ns).expect("enter the namespace");
        for tcp in l.incoming().flatten() {
            let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                continue;
            };
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let req = message(&mut tls);
            if req.is_empty() {
                continue;
            }
            let Ok(mut back) = std::net::TcpStream::connect(backend) else {
                continue;
            };
            let _ = std::io::Write::write_all(&mut back, &req);
            let answer = message(&mut back);
            let _ = std::io::Write::write_all(&mut tls, &answer);
            let _ = std::io::Write::flush(&mut tls);
            tls.conn.send_close_notify();
            let _ = std::io::Write::flush(&mut tls);
        }
    });
    addr
}

/// `provider add NAME --auth-url AUTH` as the test's admin, then `extra`.
fn add_at(h: &Host, name: &str, auth: &str, extra: &[&str]) -> (i32, String, String) {
    let creds = [
        "--auth-url",
        auth,
        "--password",
        PASSWORD,
        "--tenant",
        "admin",
    ];
    add(h, name, &[&creds[..], extra].concat())
}

fn add(h: &Host, name: &str, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["--json", "provider", "add", name, "--user", USER];
    args.extend_from_slice(extra);
    h.netswitch(&args, None)
}

#[test]
fn providers_are_recorded_tested_and_their_networks_imported() {
    let central = Central::start();
    let h = Host::empty();
    let p = provider(&h, &central);
    let red = p.network(&h, "red", "10.0.1.0/24");
    p.network(&h, "blue", "10.0.2.0/24");
    let lib = h.state.path().join("lib");

    // Keystone v3, Neutron from the catalog.
    let auth = p.v3();
    ok(add_at(&h, "p3", &auth, &[]));
    let secret = lib.join("providers/p3.secret");
    assert_eq!(
        std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let record = std::fs::read_to_string(lib.join("providers/p3.json")).unwrap();
    assert!(!record.contains(PASSWORD), "{record}");
    for args in [
        vec!["provider", "list"],
        vec!["--json", "provider", "list"],
        vec!["provider", "show", "p3"],
    ] {
        let (code, out, err) = h.netswitch(&args, None);
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains("p3") && !out.contains(PASSWORD),
            "{args:?}: {out}"
        );
    }
    let t = ok(h.netswitch(&["--json", "provider", "test", "p3"], None));
    assert_eq!(t["networks"], 2, "{t}");
    let nets = ok(h.netswitch(&["--json", "provider", "networks", "p3"], None));
    let mut names: Vec<&str> = nets["networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["blue", "red"]);
    let (code, table, _) = h.netswitch(&["provider", "networks", "p3"], None);
    assert_eq!(code, 0);
    assert!(table.contains(&red), "{table}");

    // Keystone v2.0 as oVirt engine speaks it, Neutron's URL given.
    let v2 = format!("http://{}/v2.0", p.keystone);
    let neutron = format!("http://{}", p.neutron);
    ok(add_at(&h, "p2", &v2, &["--url", &neutron]));
    let shown = ok(h.netswitch(&["--json", "provider", "show", "p2"], None));
    assert_eq!(shown["provider"]["keystoneVersion"], "v2.0");
    assert_eq!(
        ok(h.netswitch(&["--json", "provider", "test", "p2"], None))["networks"],
        2
    );

    // What fails says what failed, with its code.
    let dead = "http://127.0.0.1:1/v3";
    let tls = format!("https://{}/v3", plain_http(&h));
    for (name, args, code, says) in [
        (
            "wrong",
            vec!["--auth-url", auth.as_str(), "--password", "nope"],
            21,
            "401",
        ),
        (
            "down",
            vec!["--auth-url", dead, "--password", "x"],
            29,
            "cannot reach",
        ),
        (
            "tls",
            vec!["--auth-url", tls.as_str(), "--password", "x"],
            29,
            "TLS",
        ),
    ] {
        ok(add(&h, name, &args));
        let (got, out, _) = h.netswitch(&["--json", "provider", "test", name], None);
        assert_eq!(got, code, "{name}: {out}");
        assert!(out.contains(says) && out.contains(name), "{name}: {out}");
    }
    // https with the provider's CA; without it (the system's CAs) refused.
    let pki = pki();
    let front = format!("https://{}/v3", tls_front(&h, pki.dir(), p.keystone));
    let ca = pki.dir().join("ca.pem");
    let ca = ca.to_str().unwrap();
    ok(add_at(&h, "tls-ca", &front, &["--ca", ca]));
    assert_eq!(
        ok(h.netswitch(&["--json", "provider", "test", "tls-ca"], None))["networks"],
        2
    );
    ok(add_at(&h, "tls-sys", &front, &[]));
    let (code, out, _) = h.netswitch(&["--json", "provider", "test", "tls-sys"], None);
    assert_eq!(code, 29, "{out}");
    assert!(out.contains("TLS") && out.contains("certificate"), "{out}");

    let (code, out, _) = add(&h, "bad", &["--auth-url", "ftp://x", "--password", "x"]);
    assert_eq!(code, 21, "{out}");
    assert!(out.contains("authUrl"), "{out}");
    assert!(!lib.join("providers/bad.json").exists());
    let (code, out, _) = h.netswitch(&["--json", "provider", "test", "nosuch"], None);
    assert_eq!(code, 27, "{out}");

    // A credentials file others may read is refused, not used.
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, out, _) = h.netswitch(&["--json", "provider", "test", "p3"], None);
    assert_eq!(code, 21, "{out}");
    assert!(out.contains("0600") && out.contains("p3"), "{out}");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();

    // Import: recorded, shown in caps, refused to setupNetworks.
    let imported = ok(h.netswitch(&["--json", "provider", "import", "p3", "red"], None));
    assert_eq!(
        imported["externalNetwork"],
        json!({"provider": "p3", "id": red, "name": "red"})
    );
    let (code, out, _) = h.netswitch(&["--json", "provider", "import", "p3", "nosuch"], None);
    assert_eq!(code, 27, "{out}");
    let caps = h.caps();
    assert_eq!(
        caps["externalNetworks"],
        json!({"red": {"provider": "p3", "id": red, "name": "red"}})
    );
    let req = json!({"networks": {"red": {"bridged": true, "bootproto": "none"}},
        "options": {"connectivityCheck": false}});
    let (code, out, _) = h.netswitch(&["--json", "setup", "-"], Some(&req));
    assert_eq!(code, 21, "{out}");
    assert!(out.contains("red") && out.contains("provider p3"), "{out}");
    assert!(h.link("red").is_none(), "nothing made");
    ok(h.netswitch(&["--json", "provider", "unimport", "red"], None));
    assert!(h.caps().get("externalNetworks").is_none());
    let (code, _, _) = h.netswitch(&["--json", "provider", "unimport", "red"], None);
    assert_eq!(code, 27);
    ok(h.netswitch(&["--json", "provider", "remove", "p2"], None));
    assert!(!lib.join("providers/p2.secret").exists());
}

fn plug(
    h: &Host,
    provider: &str,
    net: &str,
    vm: &str,
    mac: &str,
    dev: &str,
) -> (i32, String, String) {
    h.netswitch(
        &[
            "--json",
            "vnic",
            "plug",
            "--provider",
            provider,
            "--network",
            net,
            "--vm",
            vm,
            "--mac",
            mac,
            "--timeout",
            "300",
            dev,
        ],
        None,
    )
}

#[test]
fn vnic_plug_with_a_provider_creates_reuses_and_deletes_the_port() {
    let central = Central::start();
    let mut c = chassis(&central);
    let p = provider(&c.h, &central);
    p.network(&c.h, "red", "10.0.1.0/24");
    ok(add_at(&c.h, "osn", &p.v3(), &[]));
    let _vm1 = c.h.vm("tap1", Some(MAC1), "10.0.1.11");
    let _vm2 = c.h.vm("tap2", Some(MAC2), "10.0.1.12");

    // Refusals: nothing made, here or on the provider.
    ok(add(
        &c.h,
        "down",
        &["--auth-url", "http://127.0.0.1:1/v3", "--password", "x"],
    ));
    for (prov, net, code, says) in [
        ("nosuch", "red", 27, "nosuch"),
        ("osn", "green", 27, "green"),
        ("down", "red", 29, "cannot reach"),
    ] {
        let (got, out, _) = plug(&c.h, prov, net, "vm-1", MAC1, "tap1");
        assert_eq!(got, code, "{prov}/{net}: {out}");
        assert!(out.contains(says), "{out}");
    }
    let (code, out, _) = plug(&c.h, "osn", "red", "vm-1", "01:00:5e:00:00:01", "tap1");
    assert_eq!(code, 21, "{out}");
    assert!(on_br_int(&c).is_empty());
    assert_eq!(
        central.nbctl(&["--bare", "--columns=name", "list", "Logical_Switch_Port"]),
        ""
    );

    // The plug: a port with the vNIC id, oVirt's owner and this chassis.
    let vnic1 = vnic_id("vm-1", MAC1);
    let v = ok(plug(&c.h, "osn", "red", "vm-1", MAC1, "tap1"));
    let (port, made) = created_port(&p, &c.h, &v, &vnic1);
    assert_eq!(made["mac_address"], MAC1);
    assert_eq!(
        made["security_groups"].as_array().map(Vec::len),
        Some(1),
        "the default group"
    );
    assert_eq!(
        central.nbctl(&[
            "get",
            "Logical_Switch_Port",
            &port,
            "options:requested-chassis"
        ]),
        "chassis-1"
    );
    let ids = c.ovs.vsctl(&["get", "Interface", "tap1", "external_ids"]);
    assert!(
        ids.contains(&format!("iface-id=\"{port}\"")) || ids.contains(&format!("iface-id={port}")),
        "{ids}"
    );
    assert!(
        ids.contains("ovn-installed=\"true\""),
        "{ids}\n{}",
        c.ctl.log_tail()
    );
    assert_eq!(central.port_chassis(&port).as_deref(), Some("chassis-1"));

    let (code, out, _) =
        c.h.netswitch(&["--json", "provider", "remove", "osn"], None);
    assert_eq!(code, 21, "{out}");
    assert!(out.contains("tap1"), "{out}");

    // Plugging it again reuses the port.
    let again = ok(plug(&c.h, "osn", "red", "vm-1", MAC1, "tap1"));
    assert_eq!(again["created"], false, "{again}");
    assert_eq!(p.ports_of(&c.h, &vnic1).len(), 1);

    // A plug killed after the provider made the port: the next one takes
    // that port, no second one.
    let vnic2 = vnic_id("vm-2", MAC2);
    c.h.env.push((
        "NETSWITCH_TEST_CRASH_AT".into(),
        "provider-port-created".into(),
    ));
    let (code, out, err) = plug(&c.h, "osn", "red", "vm-2", MAC2, "tap2");
    c.h.env.pop();
    assert_ne!(code, 0, "{out}{err}");
    assert_eq!(p.ports_of(&c.h, &vnic2).len(), 1, "the crashed plug's port");
    assert_eq!(on_br_int(&c), ["tap1"]);
    let redo = ok(plug(&c.h, "osn", "red", "vm-2", MAC2, "tap2"));
    assert_eq!(redo["created"], false, "{redo}");
    let ports2 = p.ports_of(&c.h, &vnic2);
    assert_eq!(ports2.len(), 1, "{ports2:?}");
    assert_eq!(on_br_int(&c), ["tap1", "tap2"]);

    // Unplug deletes the port.
    let gone = ok(c.h.netswitch(&["--json", "vnic", "unplug", "tap2"], None));
    assert_eq!(gone["providerPort"]["portId"], ports2[0]["id"]);
    assert!(p.ports_of(&c.h, &vnic2).is_empty());
    assert_eq!(on_br_int(&c), ["tap1"]);

    // With the provider unreachable the host lets go anyway, and the error
    // names the port left; a second unplug finishes.
    ok(add_at(&c.h, "osn", "http://127.0.0.1:1/v3", &[]));
    let (code, out, _) = c.h.netswitch(&["--json", "vnic", "unplug", "tap1"], None);
    assert_eq!(code, 29, "{out}");
    assert!(out.contains(&port) && out.contains("left"), "{out}");
    assert!(on_br_int(&c).is_empty());
    assert_eq!(p.ports_of(&c.h, &vnic1).len(), 1);
    ok(add_at(&c.h, "osn", &p.v3(), &[]));
    ok(c.h.netswitch(&["--json", "vnic", "unplug", "tap1"], None));
    assert!(p.ports_of(&c.h, &vnic1).is_empty());
    assert_eq!(
        central.nbctl(&["--bare", "--columns=name", "list", "Logical_Switch_Port"]),
        ""
    );

    // With a daemon the provider calls stay in the CLI; the plug goes
    // through the daemon.
    let db = c.ovs.db();
    let d = daemon::Daemon::start_args(
        &c.h,
        std::path::Path::new(env!("CARGO_BIN_EXE_netswitch")),
        &["--ovs-db", &db, "--ovs-datapath", c.ovs.datapath],
    );
    let args = [
        "--json",
        "vnic",
        "plug",
        "--provider",
        "osn",
        "--network",
        "red",
        "--vm",
        "vm-1",
        "--mac",
        MAC1,
        "--timeout",
        "300",
        "tap1",
    ];
    let v = ok(d.via(&c.h, &args, None));
    assert_eq!(v["created"], true, "{v}");
    assert_eq!(p.ports_of(&c.h, &vnic1).len(), 1);
    assert_eq!(on_br_int(&c), ["tap1"]);
    ok(d.via(&c.h, &["--json", "vnic", "unplug", "tap1"], None));
    assert!(p.ports_of(&c.h, &vnic1).is_empty());
    assert!(on_br_int(&c).is_empty());
    drop(d);
    drop(c.ctl);
}
