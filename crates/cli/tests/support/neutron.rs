//! The provider as an operator runs it (`netswitch provider-ovn --config
//! FILE` on loopback ports, killed on drop) and a small Neutron client
//! over raw HTTP/1.1 (one connection per call): what a test needs to drive
//! the provider without python-openstackclient, which is slow to start in
//! the lab.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const USER: &str = "admin";
const PASSWORD: &str = "lab pass";

/// A running `netswitch provider-ovn` and a token for it.
pub struct Provider {
    child: Child,
    _dir: tempfile::TempDir,
    /// Neutron's address.
    pub neutron: SocketAddr,
    token: String,
}

/// A free loopback port (bound, read, released: nothing else runs in a
/// test's lab boot that could take it meanwhile).
fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr")
}

impl Provider {
    /// Starts the provider over `nb` (`unix:PATH`), routers' gateways on
    /// `gateway_chassis`, and logs in.
    pub fn start(nb: &str, gateway_chassis: &[&str]) -> Provider {
        let dir = tempfile::tempdir().expect("tempdir");
        let (keystone, neutron) = (free_port(), free_port());
        let config = json!({"keystone_listen": keystone, "neutron_listen": neutron,
            "nb_remotes": [nb], "users": {USER: PASSWORD}, "gateway_chassis": gateway_chassis});
        let path = dir.path().join("provider-ovn.json");
        std::fs::write(&path, config.to_string()).expect("write config");
        let child = Command::new(env!("CARGO_BIN_EXE_netswitch"))
            .arg("provider-ovn")
            .arg("--config")
            .arg(&path)
            .stdin(Stdio::null())
            .spawn()
            .expect("start netswitch provider-ovn");
        let mut p = Provider {
            child,
            _dir: dir,
            neutron,
            token: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        while TcpStream::connect(keystone).is_err() || TcpStream::connect(neutron).is_err() {
            assert!(Instant::now() < deadline, "the provider never listened");
            std::thread::sleep(Duration::from_millis(100));
        }
        let auth = json!({"auth": {"identity": {"methods": ["password"], "password": {"user":
            {"name": USER, "domain": {"name": "Default"}, "password": PASSWORD}}},
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}});
        let (status, headers, body) = call(keystone, "POST", "/v3/auth/tokens", None, Some(&auth));
        assert_eq!(status, 201, "{body}");
        p.token = header(&headers, "x-subject-token").expect("a token");
        p
    }

    /// `METHOD /v2.0/PATH`; panics unless the status is 2xx. The body, or
    /// null when there is none.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, _, v) = call(
            self.neutron,
            method,
            &format!("/v2.0/{path}"),
            Some(&self.token),
            body.as_ref(),
        );
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {v}"
        );
        v
    }

    /// `POST /v2.0/<kind>s` of `{kind: body}` (`security_group` posts to
    /// `security-groups`): the object made.
    pub fn create(&self, kind: &str, body: Value) -> Value {
        let path = format!("{}s", kind.replace('_', "-"));
        let v = self.call("POST", &path, Some(json!({ kind: body })));
        v[kind].clone()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

/// One request on its own connection: (status, headers, JSON body).
fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Vec<(String, String)>, Value) {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = token {
        req.push_str(&format!("X-Auth-Token: {t}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    let mut s = TcpStream::connect(addr).expect("connect to the provider");
    s.set_read_timeout(Some(Duration::from_secs(300)))
        .expect("timeout");
    s.write_all(req.as_bytes()).expect("send");
    let mut rd = BufReader::new(s);
    let mut line = String::new();
    rd.read_line(&mut line).expect("status line");
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        rd.read_line(&mut h).expect("header");
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let mut b = Vec::new();
    rd.read_to_end(&mut b).expect("body");
    let v = serde_json::from_slice(&b).unwrap_or(Value::Null);
    (status, headers, v)
}
