#![allow(dead_code)] // each test binary uses a different part
//! The provider client's fixture: the real provider
//! (`netswitch-provider`, Neutron/Keystone over OVN) serving on loopback
//! inside a test host's namespace, over a private OVN central, and a
//! chassis (the host's own OVS with the netdev datapath and
//! ovn-controller, configured by `netswitch ovn configure`).

use std::net::SocketAddr;
use std::time::Duration;

use netswitch_neutron_client::http::Transport;
use netswitch_neutron_client::url::Url;
use netswitch_neutron_client::{keystone, Credentials, Version};
use netswitch_testkit::Central;
use serde_json::{json, Value};

pub use crate::common::Chassis;
use crate::common::Host;

pub const USER: &str = "admin";
pub const PASSWORD: &str = "pa ss";
/// The provider, serving inside `h`'s namespace on loopback.
pub struct Provider {
    pub keystone: SocketAddr,
    pub neutron: SocketAddr,
}

pub fn provider(h: &Host, central: &Central) -> Provider {
    let text = json!({
        "keystone_listen": "127.0.0.1:0",
        "neutron_listen": "127.0.0.1:0",
        "nb_remotes": [central.nb()],
        "users": {USER: PASSWORD},
    })
    .to_string();
    let config = netswitch_provider::Config::parse(&text).expect("config");
    let p =
        h.ns.run(|| netswitch_provider::Provider::start(config).expect("provider starts"));
    let (keystone, neutron) = p.addrs();
    // Serves until the test process ends; its sockets are the namespace's.
    std::thread::spawn(move || p.serve());
    Provider { keystone, neutron }
}

impl Provider {
    pub fn v3(&self) -> String {
        format!("http://{}/v3", self.keystone)
    }

    /// A Neutron call with a fresh admin token (from inside the namespace).
    pub fn api(&self, h: &Host, method: &str, tail: &str, body: Option<Value>) -> (u16, Value) {
        let creds = Credentials {
            auth_url: self.v3(),
            version: Version::V3,
            username: USER.into(),
            password: PASSWORD.into(),
            project: Some("admin".into()),
            domain: "Default".into(),
        };
        let url = Url::parse(&format!("http://{}", self.neutron)).unwrap();
        h.ns.run(|| {
            let t = Transport::new(None, Duration::from_secs(60));
            let token = keystone::authenticate(&t, &creds).expect("token");
            let bytes = body.map(|b| b.to_string().into_bytes());
            let a = t
                .send(
                    &url,
                    method,
                    &format!("/v2.0{tail}"),
                    &[("X-Auth-Token", &token.id)],
                    bytes.as_deref(),
                )
                .expect("neutron answers");
            let v = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
            (a.status, v)
        })
    }

    /// Creates network `name` with a /24 subnet; its id.
    pub fn network(&self, h: &Host, name: &str, cidr: &str) -> String {
        let (st, v) = self.api(
            h,
            "POST",
            "/networks",
            Some(json!({"network": {"name": name}})),
        );
        assert_eq!(st, 201, "{v}");
        let id = v["network"]["id"].as_str().unwrap().to_string();
        let sub = json!({"subnet": {"network_id": id, "cidr": cidr, "ip_version": 4}});
        let (st, v) = self.api(h, "POST", "/subnets", Some(sub));
        assert_eq!(st, 201, "{v}");
        id
    }

    /// The ports whose device_id is `dev`.
    pub fn ports_of(&self, h: &Host, dev: &str) -> Vec<Value> {
        let (st, v) = self.api(h, "GET", &format!("/ports?device_id={dev}"), None);
        assert_eq!(st, 200, "{v}");
        v["ports"].as_array().unwrap().clone()
    }
}

/// A plug's answer `v` that made a port: the one port of `vnic` on the
/// provider, owned by oVirt and bound to `chassis-1`. Answers its id and
/// the port.
pub fn created_port(p: &Provider, h: &Host, v: &Value, vnic: &str) -> (String, Value) {
    assert_eq!(v["created"], true, "{v}");
    let port = v["providerPort"]["portId"].as_str().unwrap().to_string();
    let mut ports = p.ports_of(h, vnic);
    assert_eq!(ports.len(), 1, "{ports:?}");
    let made = ports.remove(0);
    assert_eq!(made["id"], port.as_str());
    assert_eq!(made["device_owner"], "oVirt");
    assert_eq!(made["binding:host_id"], "chassis-1");
    (port, made)
}

/// A verb's JSON answer, which must be a success.
pub fn ok(r: (i32, String, String)) -> Value {
    assert_eq!(r.0, 0, "{}{}", r.1, r.2);
    serde_json::from_str(&r.1).unwrap_or_else(|e| panic!("{e}: {}", r.1))
}

/// A chassis on a fresh host, configured as `chassis-1` of `central`.
pub fn chassis(central: &Central) -> Chassis {
    let c = Chassis::on(Host::new());
    let sb = central.sb();
    ok(c.h.netswitch(
        &[
            "--json",
            "ovn",
            "configure",
            "--remote",
            &sb,
            "--encap-ip",
            "192.0.2.10",
            "--system-id",
            "chassis-1",
        ],
        None,
    ));
    c
}

/// The ports of br-int.
pub fn on_br_int(c: &Chassis) -> Vec<String> {
    c.ovs
        .vsctl(&["list-ports", "br-int"])
        .lines()
        .map(str::to_string)
        .collect()
}
