//! TLS on the provider's listeners, with certificates made here by the
//! openssl CLI: python-openstackclient over https (`--os-cacert`, and
//! `--os-cert`/`--os-key` when the provider wants client certificates);
//! the catalog hands out https endpoints; a client refuses a certificate
//! from an unknown CA or an expired one; a plain-HTTP client on a TLS port
//! gets a plain 400, a peer that never finishes its handshake is dropped,
//! and the provider keeps serving through both.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{provider_with, Nb, Openstack, Running};
use serde_json::{json, Value};

/// A CA, a server certificate for 127.0.0.1 (and an expired one), a
/// client certificate, and a second CA nobody trusts.
struct Pki(netswitch_testkit::pki::Pki);

impl Pki {
    fn new() -> Pki {
        use netswitch_testkit::pki::{CLIENT_EXT, SERVER_EXT};
        let pki = netswitch_testkit::pki::Pki::new();
        pki.ca("ca", "/CN=netswitch test ca")
            .ca("other-ca", "/CN=netswitch test other-ca")
            .issue("server", "ca", "/CN=server", SERVER_EXT, 30)
            // notAfter = notBefore = now: expired a second later.
            .issue("expired", "ca", "/CN=expired", SERVER_EXT, 0)
            .issue("client", "ca", "/CN=client", CLIENT_EXT, 30)
            .issue("stranger", "other-ca", "/CN=stranger", CLIENT_EXT, 30);
        std::thread::sleep(Duration::from_millis(1100));
        Pki(pki)
    }

    fn path(&self, name: &str) -> String {
        self.0.path(name)
    }

    fn arg(&self, opt: &str, name: &str) -> String {
        format!("--{opt}={}", self.path(name))
    }

    /// Config keys serving `name`.pem on both listeners.
    fn server(&self, name: &str) -> Value {
        json!({"cert": self.path(&format!("{name}.pem")), "key": self.path(&format!("{name}.key"))})
    }
}

/// Sends `bytes` raw to `addr` and reads until the provider closes.
fn raw_exchange(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    s.write_all(bytes).expect("send");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn network_create(os: &Openstack, nb: &Nb, name: &str) {
    let net = os.run(&["network", "create", "-f", "json", name]);
    let id = net["id"].as_str().expect("an id");
    assert_eq!(nb.get("Logical_Switch", id, "name"), name);
}

#[test]
fn openstackclient_over_https_and_what_is_refused() {
    let pki = Pki::new();
    let nb = Nb::start();
    let p = provider_with(&nb, pki.server("server"));
    let os = Openstack::v3_tls(&p, &[pki.arg("os-cacert", "ca.pem")]);
    network_create(&os, &nb, "net1");
    let catalog = os.run(&["catalog", "list", "-f", "json"]).to_string();
    assert!(
        catalog.contains(&format!("https://{}", p.neutron)),
        "{catalog}"
    );
    assert!(!catalog.contains("http://"), "{catalog}");

    // Plain HTTP on both TLS ports: a plain 400 naming TLS, then closed.
    for addr in [p.keystone, p.neutron] {
        let answer = raw_exchange(addr, b"GET /v2.0/networks HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
        assert!(answer.contains("this port speaks TLS"), "{answer}");
    }

    // A server certificate from a CA the client does not trust.
    let stranger = Openstack::v3_tls(&p, &[pki.arg("os-cacert", "other-ca.pem")]);
    let err = stranger
        .try_run(&["network", "list", "-f", "json"])
        .expect_err("an unknown CA is refused");
    assert!(err.contains("CERTIFICATE_VERIFY_FAILED"), "{err}");

    // Through all of it the provider kept serving.
    network_create(&os, &nb, "net2");
    assert_eq!(nb.count("Logical_Switch"), 2);
}

#[test]
fn an_expired_server_certificate_is_refused_by_the_client() {
    let pki = Pki::new();
    let nb = Nb::start();
    let p = provider_with(&nb, pki.server("expired"));
    let os = Openstack::v3_tls(&p, &[pki.arg("os-cacert", "ca.pem")]);
    let err = os
        .try_run(&["network", "list", "-f", "json"])
        .expect_err("an expired certificate is refused");
    assert!(err.contains("expired"), "{err}");
}

#[test]
fn client_certificates_are_required_with_a_ca() {
    let pki = Pki::new();
    let nb = Nb::start();
    let mut tls = pki.server("server");
    tls["ca"] = json!(pki.path("ca.pem"));
    let p = provider_with(&nb, tls);
    let cacert = pki.arg("os-cacert", "ca.pem");
    let with = |name: &str| {
        Openstack::v3_tls(
            &p,
            &[
                cacert.clone(),
                pki.arg("os-cert", &format!("{name}.pem")),
                pki.arg("os-key", &format!("{name}.key")),
            ],
        )
    };
    network_create(&with("client"), &nb, "net1");
    for os in [
        Openstack::v3_tls(&p, std::slice::from_ref(&cacert)),
        with("stranger"),
    ] {
        let err = os
            .try_run(&["network", "list", "-f", "json"])
            .expect_err("no trusted client certificate, no service");
        assert!(err.to_ascii_lowercase().contains("ssl"), "{err}");
    }
    network_create(&with("client"), &nb, "net2");
}

/// A peer that opens a connection and never finishes the handshake is
/// dropped once the handshake's time is up (10 s), and holds nobody else
/// up meanwhile.
#[test]
fn a_stalled_handshake_is_dropped_and_others_are_served() {
    let pki = Pki::new();
    let nb = Nb::start();
    let p = provider_with(&nb, pki.server("server"));
    let silent = TcpStream::connect(p.neutron).expect("connect");
    let mut partial = TcpStream::connect(p.keystone).expect("connect");
    // The first bytes of a TLS record header, then nothing.
    partial.write_all(&[0x16, 0x03, 0x01]).expect("send");
    let start = Instant::now();
    let os = Openstack::v3_tls(&p, &[pki.arg("os-cacert", "ca.pem")]);
    network_create(&os, &nb, "net1");
    for mut s in [silent, partial] {
        s.set_read_timeout(Some(Duration::from_secs(120)))
            .expect("timeout");
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap_or(0);
        assert_eq!(n, 0, "the provider closes without an answer");
    }
    eprintln!("stalled handshakes dropped after {:?}", start.elapsed());
}

#[test]
fn tls_config_mistakes_are_refused_with_21() {
    let pki = Pki::new();
    let nb = Nb::start();
    let base = json!({"nb_remotes": [nb.remote()], "users": {"a": "b"}});
    let with = |extra: Value| {
        let mut c = base.clone();
        if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
            c.extend(e.clone());
        }
        c.to_string()
    };
    let cert = pki.path("server.pem");
    let err = netswitch_provider::Config::parse(&with(json!({"cert": cert})))
        .expect_err("a cert without a key");
    assert!(err.contains("key"), "{err}");
    let err = netswitch_provider::Config::parse(&with(json!({"ca": cert})))
        .expect_err("a ca without a cert");
    assert!(err.contains("ca"), "{err}");
    let missing = Path::new("/nonexistent/provider.pem");
    for tls in [
        json!({"neutron_tls": {"cert": missing, "key": pki.path("server.key")}}),
        json!({"keystone_tls": {"cert": cert, "key": pki.path("server.key"), "ca": missing}}),
        json!({"cert": pki.path("server.key"), "key": pki.path("server.key")}),
        json!({"cert": cert, "key": pki.path("client.key")}),
    ] {
        let config = netswitch_provider::Config::parse(&with(tls.clone())).expect("parses");
        let err = match netswitch_provider::Provider::start(config) {
            Ok(_) => panic!("{tls} was accepted"),
            Err(e) => e,
        };
        assert_eq!(err.code(), 21, "{tls}: {err}");
    }
}

/// Only Neutron in TLS: the catalog says https for it, Keystone stays
/// plain.
#[test]
fn one_listener_in_tls_the_other_plain() {
    let pki = Pki::new();
    let nb = Nb::start();
    let p: Running = provider_with(&nb, json!({"neutron_tls": pki.server("server")}));
    let os = Openstack::v3_with(&p, "http", &[pki.arg("os-cacert", "ca.pem")]);
    network_create(&os, &nb, "net1");
    let catalog = os.run(&["catalog", "list", "-f", "json"]).to_string();
    assert!(
        catalog.contains(&format!("https://{}", p.neutron)),
        "{catalog}"
    );
    assert!(
        catalog.contains(&format!("http://{}", p.keystone)),
        "{catalog}"
    );
}
