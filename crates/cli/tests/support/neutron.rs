//! The provider as an operator runs it (`netswitch provider-ovn --config
//! FILE`, killed on drop) inside a namespace, on an address the chassis
//! reach, and a small Neutron client over raw HTTP/1.1 (one connection per
//! call, made from inside that namespace): what a test needs to drive the
//! provider without python-openstackclient, which is slow to start in the
//! lab.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const USER: &str = "admin";
pub const PASSWORD: &str = "lab pass";
const KEYSTONE_PORT: u16 = 35357;
const NEUTRON_PORT: u16 = 9696;

/// A running `netswitch provider-ovn` and a token for it.
pub struct Provider {
    child: Child,
    _dir: tempfile::TempDir,
    /// The namespace it serves in, where the test's calls are made from.
    ns: String,
    /// Neutron's address.
    pub neutron: SocketAddr,
    /// Keystone's v3 URL, for `netswitch provider add --auth-url`.
    pub auth_url: String,
    token: String,
}

/// Runs `f` on a thread inside namespace `ns`.
fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            netswitch_netinfo::enter_netns(ns).expect("enter the provider's namespace");
            f()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

impl Provider {
    /// Starts the provider over `nb` (`unix:PATH`) in namespace `ns` on
    /// `addr` (its catalog names that address), routers' gateways on
    /// `gateway_chassis`, and logs in.
    pub fn start(nb: &str, gateway_chassis: &[&str], ns: &str, addr: &str) -> Provider {
        let dir = tempfile::tempdir().expect("tempdir");
        let keystone: SocketAddr = format!("{addr}:{KEYSTONE_PORT}").parse().expect("addr");
        let neutron: SocketAddr = format!("{addr}:{NEUTRON_PORT}").parse().expect("addr");
        let config = json!({"keystone_listen": keystone, "neutron_listen": neutron,
            "keystone_url": format!("http://{keystone}"), "neutron_url": format!("http://{neutron}"),
            "nb_remotes": [nb], "users": {USER: PASSWORD}, "gateway_chassis": gateway_chassis});
        let path = dir.path().join("provider-ovn.json");
        std::fs::write(&path, config.to_string()).expect("write config");
        // `ip netns exec` execs the provider: the child is the provider.
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                env!("CARGO_BIN_EXE_netswitch"),
                "provider-ovn",
            ])
            .arg("--config")
            .arg(&path)
            .stdin(Stdio::null())
            .spawn()
            .expect("start netswitch provider-ovn");
        let mut p = Provider {
            child,
            _dir: dir,
            ns: ns.to_owned(),
            neutron,
            auth_url: format!("http://{keystone}/v3"),
            token: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        while in_ns(ns, || {
            TcpStream::connect(keystone).is_err() || TcpStream::connect(neutron).is_err()
        }) {
            assert!(Instant::now() < deadline, "the provider never listened");
            std::thread::sleep(Duration::from_millis(100));
        }
        let auth = json!({"auth": {"identity": {"methods": ["password"], "password": {"user":
            {"name": USER, "domain": {"name": "Default"}, "password": PASSWORD}}},
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}});
        let (status, headers, body) = in_ns(ns, || {
            call(keystone, "POST", "/v3/auth/tokens", None, Some(&auth))
        });
        assert_eq!(status, 201, "{body}");
        p.token = header(&headers, "x-subject-token").expect("a token");
        p
    }

    /// `METHOD /v2.0/PATH`; panics unless the status is 2xx. The body, or
    /// null when there is none.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, _, v) = in_ns(&self.ns, || {
            call(
                self.neutron,
                method,
                &format!("/v2.0/{path}"),
                Some(&self.token),
                body.as_ref(),
            )
        });
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
