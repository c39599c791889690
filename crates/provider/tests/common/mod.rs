//! Test fixtures: a private OVN northbound ovsdb-server per test (own db
//! and socket in a tempdir, killed on drop, never the system's service),
//! the provider in this process on loopback ports, raw HTTP, and the real
//! python-openstackclient from the venv `tests/ensure-venv` makes.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use netswitch_provider::{Config, Provider};
use serde_json::{json, Value};

pub const NB_SCHEMA: &str = "/usr/share/ovn/ovn-nb.ovsschema";
pub const USER: &str = "admin";
pub const PASSWORD: &str = "s3cret pass";

/// A private NB ovsdb-server.
pub struct Nb {
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Nb {
    pub fn start() -> Self {
        assert!(
            Path::new(NB_SCHEMA).exists(),
            "{NB_SCHEMA} is missing (ovn-central)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let st = Command::new("ovsdb-tool")
            .arg("create")
            .arg(d.join("nb.db"))
            .arg(NB_SCHEMA)
            .status()
            .expect("ovsdb-tool");
        assert!(st.success());
        let sock = d.join("nb.sock");
        let child = Command::new("ovsdb-server")
            .arg(d.join("nb.db"))
            .arg(format!("--remote=punix:{}", sock.display()))
            .arg(format!("--unixctl={}", d.join("nb.ctl").display()))
            .arg("--no-chdir")
            .arg(format!("--log-file={}", d.join("nb.log").display()))
            .env("OVS_RUNDIR", d)
            .env("OVS_DBDIR", d)
            .env("OVS_LOGDIR", d)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ovsdb-server");
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::os::unix::net::UnixStream::connect(&sock).is_err() {
            assert!(Instant::now() < deadline, "NB socket never appeared");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { dir, child }
    }

    pub fn sock(&self) -> PathBuf {
        self.dir.path().join("nb.sock")
    }

    pub fn remote(&self) -> String {
        format!("unix:{}", self.sock().display())
    }

    /// `ovn-nbctl --db=... ARGS`, stdout; panics on failure.
    pub fn ctl(&self, args: &[&str]) -> String {
        let out = Command::new("ovn-nbctl")
            .arg(format!("--db={}", self.remote()))
            .args(args)
            .output()
            .expect("ovn-nbctl");
        assert!(
            out.status.success(),
            "ovn-nbctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// One column of one row, as ovn-nbctl prints it (`get TABLE ROW COL`).
    /// Strings come quoted and sets bracketed by ovn-nbctl; both are taken
    /// off.
    /// `row` may be a Neutron id: rows whose id the provider keeps in
    /// `external_ids` are found by it, as an operator would
    /// (`ovn-nbctl find`).
    pub fn get(&self, table: &str, row: &str, col: &str) -> String {
        let row = self.row_of(table, row);
        let v = self.ctl(&["--bare", "get", table, &row, col]);
        let v = v
            .strip_prefix('[')
            .and_then(|x| x.strip_suffix(']'))
            .map_or(v.clone(), str::to_owned);
        v.strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .map_or(v.clone(), str::to_owned)
    }

    /// The row uuid of the object with Neutron id `id` (`id` itself for
    /// tables that do not store one, or rows made without it).
    pub fn row_of(&self, table: &str, id: &str) -> String {
        let key = match table {
            "Logical_Switch" => "neutron\\:network_id",
            "DHCP_Options" => "subnet_id",
            "ACL" => "neutron\\:security_group_rule_id",
            _ => return id.to_owned(),
        };
        let cond = format!("external_ids:{key}={id}");
        let found = self.ctl(&["--bare", "--columns=_uuid", "find", table, &cond]);
        match found.lines().next() {
            Some(u) if !u.trim().is_empty() => u.trim().to_owned(),
            _ => id.to_owned(),
        }
    }

    /// How many rows `table` holds.
    pub fn count(&self, table: &str) -> usize {
        self.ctl(&["--bare", "--columns=_uuid", "list", table])
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count()
    }
}

impl Drop for Nb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The provider, serving on loopback in this process.
pub struct Running {
    pub keystone: SocketAddr,
    pub neutron: SocketAddr,
}

pub fn provider(nb: &Nb) -> Running {
    provider_with(nb, json!({}))
}

/// The provider with `extra` config keys added (TLS files and the like).
pub fn provider_with(nb: &Nb, extra: Value) -> Running {
    provider_on(&nb.remote(), extra)
}

/// The provider serving the NB at `remote` (e.g. a testkit `Central`'s).
pub fn provider_on(remote: &str, extra: Value) -> Running {
    let mut config = json!({
        "keystone_listen": "127.0.0.1:0",
        "neutron_listen": "127.0.0.1:0",
        "nb_remotes": [remote],
        "users": {USER: PASSWORD},
        "token_lifetime_secs": 600,
    });
    if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    let config = Config::parse(&config.to_string()).expect("config");
    let p = Provider::start(config).expect("provider starts");
    let (keystone, neutron) = p.addrs();
    std::thread::spawn(move || p.serve());
    Running { keystone, neutron }
}

/// A minimal HTTP/1.1 client over one keep-alive connection.
pub struct Http {
    rd: BufReader<TcpStream>,
    wr: TcpStream,
}

/// One answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Http {
    pub fn connect(addr: SocketAddr) -> Self {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        Self {
            rd: BufReader::new(s.try_clone().unwrap()),
            wr: s,
        }
    }

    /// Sends raw bytes (for malformed requests).
    pub fn raw(&mut self, bytes: &[u8]) -> Option<Answer> {
        self.wr.write_all(bytes).ok()?;
        self.read()
    }

    pub fn call(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Answer {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n", body.len());
        if let Some(t) = token {
            req.push_str(&format!("X-Auth-Token: {t}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(&body);
        self.raw(req.as_bytes()).expect("an answer")
    }

    /// A GET whose body is read and not parsed: its length in bytes.
    pub fn get_raw(&mut self, path: &str, token: &str) -> usize {
        let req =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nX-Auth-Token: {token}\r\n\r\n");
        self.wr.write_all(req.as_bytes()).expect("send");
        let mut len = 0;
        loop {
            let mut h = String::new();
            self.rd.read_line(&mut h).expect("read");
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().expect("length");
                }
            }
        }
        let mut b = vec![0; len];
        self.rd.read_exact(&mut b).expect("body");
        len
    }

    fn read(&mut self) -> Option<Answer> {
        let mut line = String::new();
        self.rd.read_line(&mut line).ok()?;
        let status: u16 = line.split(' ').nth(1)?.parse().ok()?;
        let mut headers = Vec::new();
        let mut len = 0;
        loop {
            let mut h = String::new();
            self.rd.read_line(&mut h).ok()?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':')?;
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().ok()?;
            }
            headers.push((k.to_owned(), v.trim().to_owned()));
        }
        let mut b = vec![0; len];
        self.rd.read_exact(&mut b).ok()?;
        let body = if b.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&b).ok()?
        };
        Some(Answer {
            status,
            headers,
            body,
        })
    }
}

/// A v3 token for the configured user, scoped to the project.
pub fn token(p: &Running) -> String {
    let mut h = Http::connect(p.keystone);
    let a = h.call("POST", "/v3/auth/tokens", None, Some(&json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {"name": USER, "domain": {"name": "Default"}, "password": PASSWORD}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}})));
    assert_eq!(a.status, 201, "{:?}", a.body);
    a.header("X-Subject-Token").expect("token").to_owned()
}

/// The venv with python-openstackclient.
pub fn venv() -> PathBuf {
    if let Ok(v) = std::env::var("NETSWITCH_VENV") {
        return PathBuf::from(v);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(root.join("tests/ensure-venv"))
        .output()
        .expect("tests/ensure-venv");
    assert!(
        out.status.success(),
        "ensure-venv: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// `openstack` against the provider with Keystone v3 (`v2 == false`) or
/// v2.0; `-f json` output parsed, or the failure's stderr. The commands
/// run through openstackclient's own entry point in one long-lived Python
/// process (`osc_loop.py`): the same client code as the `openstack`
/// executable, without paying the interpreter's start for each command.
pub struct Openstack {
    bin: PathBuf,
    auth: Vec<String>,
    shell: std::cell::RefCell<Option<Shell>>,
}

/// The running `osc_loop.py`.
struct Shell {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Drop for Shell {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Shell {
    fn start(python: &Path) -> Shell {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/osc_loop.py");
        let mut child = Command::new(python)
            .arg(script)
            .env_remove("OS_CLOUD")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start osc_loop.py");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        Shell {
            child,
            stdin,
            stdout,
        }
    }

    /// One command: (exit status, stdout, stderr).
    fn call(&mut self, argv: &[String]) -> (i64, String, String) {
        use std::io::{BufRead, Write};
        let line = serde_json::to_string(argv).expect("argv");
        writeln!(self.stdin, "{line}").expect("write to osc_loop.py");
        let mut answer = String::new();
        self.stdout
            .read_line(&mut answer)
            .expect("read from osc_loop.py");
        let v: Value = serde_json::from_str(&answer)
            .unwrap_or_else(|e| panic!("osc_loop.py answered {answer:?}: {e}"));
        let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        (v["rc"].as_i64().unwrap_or(1), text("out"), text("err"))
    }
}

impl Openstack {
    pub fn v3(p: &Running) -> Self {
        Self {
            bin: venv().join("bin/openstack"),
            auth: vec![
                format!("--os-auth-url=http://{}/v3", p.keystone),
                "--os-identity-api-version=3".into(),
                format!("--os-username={USER}"),
                format!("--os-password={PASSWORD}"),
                "--os-project-name=admin".into(),
                "--os-user-domain-name=Default".into(),
                "--os-project-domain-name=Default".into(),
                "--os-region-name=RegionOne".into(),
            ],
            shell: Default::default(),
        }
    }

    pub fn v2(p: &Running) -> Self {
        Self {
            bin: venv().join("bin/openstack"),
            auth: vec![
                format!("--os-auth-url=http://{}/v2.0", p.keystone),
                "--os-identity-api-version=2".into(),
                "--os-auth-type=v2password".into(),
                format!("--os-username={USER}"),
                format!("--os-password={PASSWORD}"),
                "--os-project-name=admin".into(),
                "--os-region-name=RegionOne".into(),
            ],
            shell: Default::default(),
        }
    }

    /// Keystone v3 over https (`auth_url` `https://...`), with `extra`
    /// options such as `--os-cacert`, `--os-cert`, `--os-key`.
    pub fn v3_tls(p: &Running, extra: &[String]) -> Self {
        Self::v3_with(p, "https", extra)
    }

    /// Keystone v3 at `scheme://`, with `extra` options.
    pub fn v3_with(p: &Running, scheme: &str, extra: &[String]) -> Self {
        let mut os = Self::v3(p);
        os.auth[0] = format!("--os-auth-url={scheme}://{}/v3", p.keystone);
        os.auth.extend(extra.iter().cloned());
        os
    }

    pub fn try_run(&self, args: &[&str]) -> Result<Value, String> {
        let argv: Vec<String> = self
            .auth
            .iter()
            .cloned()
            .chain(args.iter().map(|a| a.to_string()))
            .collect();
        let mut shell = self.shell.borrow_mut();
        let python = self.bin.with_file_name("python");
        let (rc, out, err) = shell
            .get_or_insert_with(|| Shell::start(&python))
            .call(&argv);
        if rc != 0 {
            return Err(err);
        }
        if out.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&out).map_err(|e| format!("not JSON ({e}): {out}"))
    }

    /// Runs and parses; panics with stderr on failure.
    pub fn run(&self, args: &[&str]) -> Value {
        self.try_run(args)
            .unwrap_or_else(|e| panic!("openstack {args:?} failed: {e}"))
    }
}

/// The Neutron collections, each a `/v2.0/...` path a fuzzer aims at.
pub const COLLECTIONS: [&str; 7] = [
    "/v2.0/networks",
    "/v2.0/subnets",
    "/v2.0/ports",
    "/v2.0/security-groups",
    "/v2.0/security-group-rules",
    "/v2.0/routers",
    "/v2.0/floatingips",
];

/// Values no attribute takes, for fuzzing bodies.
pub fn junk() -> Vec<Value> {
    vec![
        json!(null),
        json!(-1),
        json!("x"),
        json!([]),
        json!({}),
        json!(1e308),
        json!("10.0.0.0/33"),
        json!({"a": [1, {"b": null}]}),
        json!("\u{0}\u{7f}"),
        json!(true),
        json!("52:54:00:zz:00:01"),
        json!([{"subnet_id": 7}]),
    ]
}

/// `ovn-nbctl --db=REMOTES --data=bare --columns=COL list TABLE`, a line
/// per row, from any member of a cluster (`--no-leader-only`).
pub fn nbctl_column(remotes: &str, table: &str, col: &str) -> Vec<String> {
    let out = Command::new("ovn-nbctl")
        .arg(format!("--db={remotes}"))
        .args([
            "--no-leader-only",
            "--data=bare",
            "--no-headings",
            "--format=csv",
        ])
        .arg(format!("--columns={col}"))
        .args(["list", table])
        .output()
        .expect("ovn-nbctl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}
