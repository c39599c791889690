//! Gateway chassis chosen from the OVN southbound DB (`sb_remotes`): a
//! real NB, SB and ovn-northd (the testkit's `Central`), chassis rows made
//! with the real `ovn-sbctl`, the provider driven over HTTP, and the
//! gateway port's binding read back with `ovn-nbctl
//! lrp-get-gateway-chassis`.

mod common;

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{provider_on, token, Http, Running};
use netswitch_provider::{Config, Provider};
use netswitch_testkit::ovn::SB_SCHEMA;
use netswitch_testkit::Central;
use serde_json::{json, Value};

/// Calls on one provider with one token.
struct Api {
    http: Http,
    token: String,
}

impl Api {
    fn new(p: &Running) -> Self {
        Self {
            http: Http::connect(p.neutron),
            token: token(p),
        }
    }

    /// `method path body`, which must answer `status`; the body.
    fn call(&mut self, method: &str, path: &str, body: Value, status: u16) -> Value {
        let a = self.http.call(
            method,
            path,
            Some(&self.token),
            (!body.is_null()).then_some(&body),
        );
        assert_eq!(a.status, status, "{method} {path}: {:?}", a.body);
        a.body
    }

    /// An external network (flat on `physnet`, or geneve) with a subnet;
    /// its id.
    fn external(&mut self, name: &str, physnet: Option<&str>, cidr: &str) -> String {
        let mut net = json!({"name": name, "router:external": true});
        if let Some(p) = physnet {
            net["provider:network_type"] = json!("flat");
            net["provider:physical_network"] = json!(p);
        }
        let n = self.call("POST", "/v2.0/networks", json!({ "network": net }), 201);
        let id = n["network"]["id"].as_str().expect("network id").to_owned();
        let sub = json!({"subnet": {"network_id": id, "cidr": cidr, "ip_version": 4}});
        self.call("POST", "/v2.0/subnets", sub, 201);
        id
    }

    /// A router with its gateway on `net` (201); its id.
    fn router(&mut self, name: &str, net: &str) -> String {
        let body = json!({"router": {"name": name, "external_gateway_info": {"network_id": net}}});
        let r = self.call("POST", "/v2.0/routers", body, 201);
        r["router"]["id"].as_str().expect("router id").to_owned()
    }
}

/// Chassis `name` in SB, with `other_config` (or, for OVN before 22.09,
/// `external_ids`) keys `kv`.
fn chassis(ovn: &Central, name: &str, ip: &str, col: &str, kv: &[(&str, &str)]) {
    ovn.sbctl(&["chassis-add", name, "geneve", ip]);
    if kv.is_empty() {
        return;
    }
    let mut args = vec!["set".to_owned(), "Chassis".into(), name.into()];
    args.extend(kv.iter().map(|(k, v)| format!("{col}:{k}=\"{v}\"")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ovn.sbctl(&args);
}

/// The chassis router `name`'s gateway port is bound to, most preferred
/// first, as `ovn-nbctl lrp-get-gateway-chassis` lists them (by priority),
/// with their priorities.
fn bound(ovn: &Central, router: &str) -> Vec<(String, u32)> {
    let gw = ovn.nbctl(&[
        "get",
        "Logical_Router",
        router,
        "external_ids:\"neutron:gw_port_id\"",
    ]);
    let lrp = format!("lrp-{}", gw.trim().trim_matches('"'));
    ovn.nbctl(&["lrp-get-gateway-chassis", &lrp])
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let name = w.next()?.strip_prefix(&format!("{lrp}_"))?.to_owned();
            Some((name, w.next()?.parse().ok()?))
        })
        .collect()
}

fn names(v: &[(String, u32)]) -> Vec<&str> {
    v.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn gateway_chassis_follow_physnet_mappings_then_load() {
    let ovn = Central::start();
    let gw_opts = [
        ("ovn-cms-options", "enable-chassis-as-gw"),
        ("ovn-bridge-mappings", "physnet1:br-ex"),
    ];
    // gw-a maps physnet1; gw-b is eligible but maps another network (and
    // keeps its keys where OVN before 22.09 did); gw-c maps physnet1 but
    // is no gateway.
    chassis(&ovn, "gw-a", "192.0.2.1", "other_config", &gw_opts);
    chassis(
        &ovn,
        "gw-b",
        "192.0.2.2",
        "external_ids",
        &[
            (
                "ovn-cms-options",
                "availability-zones=az0,enable-chassis-as-gw",
            ),
            ("ovn-bridge-mappings", "physnet2:br-vlan"),
        ],
    );
    chassis(
        &ovn,
        "gw-c",
        "192.0.2.3",
        "other_config",
        &[("ovn-bridge-mappings", "physnet1:br-ex")],
    );
    let p = provider_on(&ovn.nb(), json!({"sb_remotes": [ovn.sb()]}));
    let mut api = Api::new(&p);
    let flat = api.external("ext-flat", Some("physnet1"), "172.24.4.0/24");
    let overlay = api.external("ext-overlay", None, "172.24.5.0/24");

    // On physnet1: only the eligible chassis that maps it.
    api.router("r1", &flat);
    assert_eq!(bound(&ovn, "r1"), [("gw-a".to_owned(), 1)]);
    // No physnet: both eligible ones, the least loaded (gw-b, at the top
    // of no port yet) first although gw-a sorts first by name.
    api.router("r2", &overlay);
    let r2 = bound(&ovn, "r2");
    assert_eq!(r2, [("gw-b".to_owned(), 2), ("gw-a".to_owned(), 1)]);
    // Each now leads one port: the tie goes by name.
    let r3 = api.router("r3", &overlay);
    assert_eq!(names(&bound(&ovn, "r3")), ["gw-a", "gw-b"]);
    // A gateway moved by an update is chosen anew (r3's old port is gone
    // from the count, so gw-a and gw-b lead one port each again).
    let body = json!({"router": {"external_gateway_info": {"network_id": flat}}});
    api.call("PUT", &format!("/v2.0/routers/{r3}"), body, 200);
    assert_eq!(names(&bound(&ovn, "r3")), ["gw-a"]);
    // northd takes the rows: the gateway port gets its chassisredirect
    // port in SB.
    ovn.nbctl(&["--timeout=60", "--wait=sb", "sync"]);
    let cr = ovn.sbctl(&[
        "--bare",
        "--columns=logical_port",
        "find",
        "Port_Binding",
        "type=chassisredirect",
    ]);
    assert_eq!(cr.lines().filter(|l| !l.is_empty()).count(), 3, "{cr}");
}

#[test]
fn configured_gateway_chassis_override_the_southbound() {
    let ovn = Central::start();
    chassis(
        &ovn,
        "gw-a",
        "192.0.2.1",
        "other_config",
        &[("ovn-cms-options", "enable-chassis-as-gw")],
    );
    let both = json!({"sb_remotes": [ovn.sb()], "gateway_chassis": ["gw-x", "gw-y"]});
    let p = provider_on(&ovn.nb(), both);
    let mut api = Api::new(&p);
    let net = api.external("ext", None, "172.24.4.0/24");
    api.router("r-conf", &net);
    assert_eq!(
        bound(&ovn, "r-conf"),
        [("gw-x".to_owned(), 2), ("gw-y".to_owned(), 1)]
    );
    // Without the list, the same SB gives gw-a.
    let p = provider_on(&ovn.nb(), json!({"sb_remotes": [ovn.sb()]}));
    Api::new(&p).router("r-sb", &net);
    assert_eq!(names(&bound(&ovn, "r-sb")), ["gw-a"]);
}

#[test]
fn no_eligible_chassis_leaves_the_gateway_unbound() {
    let ovn = Central::start();
    chassis(
        &ovn,
        "hv1",
        "192.0.2.1",
        "other_config",
        &[("ovn-cms-options", "enable-chassis-as-extport-host")],
    );
    let p = provider_on(&ovn.nb(), json!({"sb_remotes": [ovn.sb()]}));
    let mut api = Api::new(&p);
    let net = api.external("ext", None, "172.24.4.0/24");
    let r = api.router("r1", &net);
    assert!(bound(&ovn, "r1").is_empty());
    // An update that sets the gateway anew answers 200 and stays unbound.
    let body = json!({"router": {"external_gateway_info": {"network_id": net}}});
    api.call("PUT", &format!("/v2.0/routers/{r}"), body, 200);
    assert!(bound(&ovn, "r1").is_empty());

    // A malformed SB address is a config error (21) naming the key.
    let config = json!({"nb_remotes": [ovn.nb()], "users": {"u": "p"},
        "keystone_listen": "127.0.0.1:0", "neutron_listen": "127.0.0.1:0",
        "sb_remotes": ["tcp:nohost"]});
    let config = Config::parse(&config.to_string()).expect("parses");
    let e = Provider::start(config).err().expect("refused");
    assert_eq!(e.code(), 21, "{e}");
    assert!(e.to_string().contains("sb_remotes"), "{e}");
}

/// An SB server of our own at `late-sb.sock` in `dir`, stopped at the test's end.
struct SbServer(Child);

impl SbServer {
    fn start(dir: &std::path::Path) -> Self {
        let db = dir.join("late-sb.db");
        let st = Command::new("ovsdb-tool")
            .arg("create")
            .arg(&db)
            .arg(SB_SCHEMA)
            .status()
            .expect("ovsdb-tool");
        assert!(st.success());
        let child = Command::new("ovsdb-server")
            .arg(&db)
            .arg(format!(
                "--remote=punix:{}",
                dir.join("late-sb.sock").display()
            ))
            .arg(format!("--unixctl={}", dir.join("late-sb.ctl").display()))
            .arg("--no-chdir")
            .spawn()
            .expect("ovsdb-server");
        let s = Self(child);
        let end = Instant::now() + Duration::from_secs(60);
        while !dir.join("late-sb.sock").exists() {
            assert!(Instant::now() < end, "ovsdb-server made no socket");
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }
}

impl Drop for SbServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn an_unreachable_southbound_is_retried_while_serving() {
    let ovn = Central::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("late-sb.sock");
    let remote = format!("unix:{}", sock.display());
    // Nothing listens there yet: the provider serves all the same.
    let p = provider_on(&ovn.nb(), json!({"sb_remotes": [remote]}));
    let mut api = Api::new(&p);
    let net = api.external("ext", None, "172.24.4.0/24");
    api.router("r0", &net);
    assert!(bound(&ovn, "r0").is_empty());

    let _sb = SbServer::start(dir.path());
    let sbctl = |args: &[&str]| {
        let out = Command::new("ovn-sbctl")
            .arg(format!("--db={remote}"))
            .arg("--timeout=30")
            .args(args)
            .output()
            .expect("ovn-sbctl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    sbctl(&["chassis-add", "gw-late", "geneve", "192.0.2.9"]);
    sbctl(&[
        "set",
        "Chassis",
        "gw-late",
        "other_config:ovn-cms-options=enable-chassis-as-gw",
    ]);
    // The provider's background retry finds it; each try is a router of
    // its own, dropped when still unbound.
    let end = Instant::now() + Duration::from_secs(120);
    for i in 1.. {
        let name = format!("r{i}");
        let id = api.router(&name, &net);
        if names(&bound(&ovn, &name)) == ["gw-late"] {
            break;
        }
        api.call("DELETE", &format!("/v2.0/routers/{id}"), Value::Null, 204);
        assert!(Instant::now() < end, "the provider never read the late SB");
        std::thread::sleep(Duration::from_millis(500));
    }
}
