//! `netswitch caps --json` in a scratch namespace, checked field by field
//! against what `ip -j` reports there.

use std::collections::BTreeSet;
use std::process::Command;

use netswitch_engine::{Store, Which};
use netswitch_model::config::{Config, NetAttrs};
use netswitch_testkit::Netns;
use serde_json::Value;

struct Fixture {
    ns: Netns,
    state: tempfile::TempDir,
}

impl Fixture {
    fn netswitch(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_netswitch"))
            .args(["--netns", self.ns.name()])
            .arg("--state-dir")
            .arg(self.state.path())
            .arg("--resolv-conf")
            .arg(self.state.path().join("resolv.conf"))
            .args(args)
            .output()
            .expect("run netswitch");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn caps(&self) -> Value {
        let (code, out, err) = self.netswitch(&["--json", "caps"]);
        assert_eq!(code, 0, "caps failed: {err}");
        serde_json::from_str(&out).expect("caps --json prints JSON")
    }
}

/// veth_a0 (v4 primary + secondary, v6, default routes) — veth_a1 in bridge
/// br_t (stp on); veth_b0 (mtu 9000, a default route in table 100) — veth_b1.
fn fixture() -> Fixture {
    let ns = Netns::new();
    ns.veth("veth_a0", "veth_a1");
    ns.veth("veth_b0", "veth_b1");
    ns.ip(&["link", "add", "br_t", "type", "bridge", "stp_state", "1"]);
    ns.ip(&["link", "set", "veth_a1", "master", "br_t"]);
    ns.ip(&["link", "set", "br_t", "up"]);
    ns.ip(&["addr", "add", "192.0.2.5/24", "dev", "veth_a0"]);
    ns.ip(&["addr", "add", "192.0.2.6/24", "dev", "veth_a0"]);
    ns.ip(&["addr", "add", "2001:db8::5/64", "dev", "veth_a0", "nodad"]);
    ns.ip(&[
        "route",
        "add",
        "default",
        "via",
        "192.0.2.1",
        "dev",
        "veth_a0",
    ]);
    ns.ip(&[
        "-6",
        "route",
        "add",
        "default",
        "via",
        "2001:db8::1",
        "dev",
        "veth_a0",
    ]);
    ns.ip(&["link", "set", "veth_b0", "mtu", "9000"]);
    ns.ip(&["addr", "add", "198.51.100.5/24", "dev", "veth_b0"]);
    ns.ip(&[
        "route",
        "add",
        "default",
        "via",
        "198.51.100.1",
        "dev",
        "veth_b0",
        "table",
        "100",
    ]);
    let state = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        state.path().join("resolv.conf"),
        "search example.org\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n",
    )
    .expect("resolv.conf");
    Fixture { ns, state }
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("{v} is not a string"))
}

/// Checks one device entry's IP block against `ip -j` in the namespace.
fn check_ip_block(f: &Fixture, dev: &str, entry: &Value) {
    let link = &f.ns.ip_json(&["link", "show", "dev", dev])[0];
    assert_eq!(s(&entry["mtu"]), link["mtu"].to_string(), "{dev} mtu");

    let addr = &f.ns.ip_json(&["addr", "show", "dev", dev])[0]["addr_info"];
    let infos: Vec<&Value> = addr.as_array().unwrap().iter().collect();
    let v4: Vec<String> = infos
        .iter()
        .filter(|a| a["family"] == "inet")
        .map(|a| format!("{}/{}", s(&a["local"]), a["prefixlen"]))
        .collect();
    let primary = infos
        .iter()
        .find(|a| a["family"] == "inet" && a.get("secondary").is_none());
    let got_v4: Vec<String> = entry["ipv4addrs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| s(v).to_string())
        .collect();
    assert_eq!(
        got_v4.iter().collect::<BTreeSet<_>>(),
        v4.iter().collect::<BTreeSet<_>>(),
        "{dev} ipv4addrs"
    );
    match primary {
        Some(p) => {
            assert_eq!(s(&entry["addr"]), s(&p["local"]), "{dev} primary addr");
            assert_eq!(
                got_v4[0],
                format!("{}/{}", s(&p["local"]), p["prefixlen"]),
                "{dev} primary first"
            );
            let prefix = p["prefixlen"].as_u64().unwrap() as u32;
            let mask = std::net::Ipv4Addr::from(u32::MAX.checked_shl(32 - prefix).unwrap_or(0));
            assert_eq!(s(&entry["netmask"]), mask.to_string(), "{dev} netmask");
        }
        None => assert_eq!(s(&entry["addr"]), "", "{dev} addr"),
    }
    let v6: BTreeSet<String> = infos
        .iter()
        .filter(|a| a["family"] == "inet6" && a["scope"] != "link")
        .map(|a| format!("{}/{}", s(&a["local"]), a["prefixlen"]))
        .collect();
    let got_v6: BTreeSet<String> = entry["ipv6addrs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| s(v).to_string())
        .collect();
    assert_eq!(got_v6, v6, "{dev} ipv6addrs (no link-local)");

    let gw = |family: &str, table: &str| -> Option<String> {
        let routes = f.ns.ip_json(&[
            family, "route", "show", "table", table, "default", "dev", dev,
        ]);
        routes
            .as_array()
            .unwrap()
            .iter()
            .find_map(|r| r["gateway"].as_str().map(str::to_string))
    };
    let main4 = gw("-4", "main");
    let any4 = main4.clone().or_else(|| gw("-4", "all"));
    assert_eq!(
        s(&entry["gateway"]),
        any4.unwrap_or_default(),
        "{dev} gateway"
    );
    assert_eq!(
        entry["ipv4defaultroute"],
        main4.is_some(),
        "{dev} ipv4defaultroute"
    );
    let any6 = gw("-6", "main").or_else(|| gw("-6", "all"));
    assert_eq!(
        s(&entry["ipv6gateway"]),
        any6.unwrap_or_else(|| "::".into()),
        "{dev} ipv6gateway"
    );
}

#[test]
fn caps_report_matches_ip_field_by_field() {
    let f = fixture();
    let caps = f.caps();

    // nics: the four veths (fake nics), nothing else.
    let nics: BTreeSet<&str> = caps["nics"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        nics,
        BTreeSet::from(["veth_a0", "veth_a1", "veth_b0", "veth_b1"])
    );
    for (name, nic) in caps["nics"].as_object().unwrap() {
        let link = &f.ns.ip_json(&["link", "show", "dev", name])[0];
        assert_eq!(s(&nic["hwaddr"]), s(&link["address"]), "{name} hwaddr");
        check_ip_block(&f, name, nic);
        // veth reports 10000 Mb/s through ethtool once up.
        let up = link["operstate"] == "UP";
        assert_eq!(nic["speed"], if up { 10000 } else { 0 }, "{name} speed");
    }

    // the bridge: ports and stp as ip -d shows them.
    let br = &caps["bridges"]["br_t"];
    let detail = &f.ns.ip_json(&["-d", "link", "show", "dev", "br_t"])[0];
    let stp_state = detail["linkinfo"]["info_data"]["stp_state"]
        .as_u64()
        .unwrap();
    assert_eq!(s(&br["stp"]), if stp_state != 0 { "on" } else { "off" });
    let ports: Vec<String> =
        f.ns.ip_json(&["link", "show", "master", "br_t"])
            .as_array()
            .unwrap()
            .iter()
            .map(|l| s(&l["ifname"]).to_string())
            .collect();
    assert_eq!(br["ports"], serde_json::json!(ports));
    // Every option ip -d shows under the same name as a plain number
    // (timers tick between the two readings).
    let info = detail["linkinfo"]["info_data"].as_object().unwrap();
    let mut compared = Vec::new();
    for (k, v) in br["opts"].as_object().unwrap() {
        match info.get(k) {
            Some(Value::Number(n)) if n.is_u64() && !k.ends_with("_timer") => {
                assert_eq!(s(v), n.to_string(), "br_t opts.{k}");
                compared.push(k.as_str());
            }
            Some(Value::String(t)) if k == "group_addr" => assert_eq!(s(v), t, "br_t opts.{k}"),
            _ => {}
        }
    }
    for k in [
        "forward_delay",
        "hello_time",
        "max_age",
        "ageing_time",
        "stp_state",
        "priority",
    ] {
        assert!(compared.contains(&k), "opts.{k} not compared: {compared:?}");
    }
    check_ip_block(&f, "br_t", br);

    // the specific values the fixture set, so a shared mistake in both
    // readings cannot pass.
    let a0 = &caps["nics"]["veth_a0"];
    assert_eq!(
        a0["ipv4addrs"],
        serde_json::json!(["192.0.2.5/24", "192.0.2.6/24"])
    );
    assert_eq!(s(&a0["addr"]), "192.0.2.5");
    assert_eq!(s(&a0["gateway"]), "192.0.2.1");
    assert_eq!(a0["ipv4defaultroute"], true);
    assert_eq!(a0["ipv6addrs"], serde_json::json!(["2001:db8::5/64"]));
    assert_eq!(s(&a0["ipv6gateway"]), "2001:db8::1");
    let b0 = &caps["nics"]["veth_b0"];
    assert_eq!(s(&b0["mtu"]), "9000");
    assert_eq!(
        s(&b0["gateway"]),
        "198.51.100.1",
        "gateway found in table 100"
    );
    assert_eq!(b0["ipv4defaultroute"], false);
    assert_eq!(s(&caps["nics"]["veth_b1"]["ipv6gateway"]), "::");
    assert_eq!(s(&caps["nics"]["veth_b1"]["gateway"]), "");

    assert_eq!(
        caps["nameservers"],
        serde_json::json!(["192.0.2.53", "2001:db8::53"])
    );
    assert_eq!(caps["supportsIPv6"], true);
    assert_eq!(caps["netConfigDirty"], false);
    assert_eq!(caps["networks"], serde_json::json!({}));
    assert_eq!(caps["bondings"], serde_json::json!({}));
    assert_eq!(caps["vlans"], serde_json::json!({}));
}

#[test]
fn networks_join_the_running_config_with_live_state() {
    let f = fixture();
    let mut running = Config::default();
    running.networks.insert(
        "storage".into(),
        NetAttrs {
            nic: Some("veth_b0".into()),
            bridged: false,
            mtu: 9000,
            ipaddr: Some("198.51.100.5".parse().unwrap()),
            netmask: Some("255.255.255.0".parse().unwrap()),
            ..NetAttrs::default()
        },
    );
    running.networks.insert(
        "br_t".into(),
        NetAttrs {
            nic: Some("veth_a1".into()),
            stp: true,
            ..NetAttrs::default()
        },
    );
    Store::new(f.state.path())
        .save(Which::Running, &running)
        .unwrap();

    let caps = f.caps();
    let st = &caps["networks"]["storage"];
    assert_eq!(st["bridged"], false);
    assert_eq!(s(&st["iface"]), "veth_b0");
    assert_eq!(s(&st["interface"]), "veth_b0");
    assert_eq!(s(&st["southbound"]), "veth_b0");
    assert!(st.get("ports").is_none() && st.get("vlanid").is_none());
    assert_eq!(s(&st["switch"]), "legacy");
    check_ip_block(&f, "veth_b0", st);

    let br = &caps["networks"]["br_t"];
    assert_eq!(br["bridged"], true);
    assert_eq!(s(&br["iface"]), "br_t");
    assert_eq!(br["ports"], serde_json::json!(["veth_a1"]));
    assert_eq!(s(&br["stp"]), "on");
    assert_eq!(s(&br["southbound"]), "veth_a1");
    check_ip_block(&f, "br_t", br);

    // running differs from the (empty) persistent config
    assert_eq!(caps["netConfigDirty"], true);
}

#[test]
fn human_caps_and_yaml_name_every_device() {
    let f = fixture();
    let (code, table, _) = f.netswitch(&["caps"]);
    assert_eq!(code, 0);
    for dev in [
        "veth_a0",
        "veth_a1",
        "veth_b0",
        "veth_b1",
        "br_t",
        "192.0.2.5/24",
        "192.0.2.53",
    ] {
        assert!(table.contains(dev), "table lacks {dev}:\n{table}");
    }
    let (code, yaml, _) = f.netswitch(&["caps", "--yaml"]);
    assert_eq!(code, 0);
    assert!(
        yaml.contains("veth_a0:") && yaml.contains("supportsIPv6: true"),
        "{yaml}"
    );
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let f = fixture();
    let before = f.ns.ip_json(&["-d", "link", "show"]);
    let req = f.state.path().join("req.json");
    std::fs::write(
        &req,
        r#"{"networks": {"vm100": {"nic": "veth_b1", "vlan": 100, "mtu": 9000}}}"#,
    )
    .unwrap();
    let (code, out, err) = f.netswitch(&["setup", "--dry-run", req.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("create vlan veth_b1.100 on veth_b1 id 100 mtu 9000"),
        "{out}"
    );
    assert!(out.contains("create bridge vm100 mtu 9000"), "{out}");
    let (code, json_out, _) = f.netswitch(&["--json", "setup", "--dry-run", req.to_str().unwrap()]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&json_out).unwrap();
    assert!(v["plan"]["ops"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["op"] == "create_vlan" && o["id"] == 100));
    assert_eq!(v["desired"]["networks"]["vm100"]["mtu"], 9000);
    let mut after = f.ns.ip_json(&["-d", "link", "show"]);
    // counters may tick; compare the link set and kinds only
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|l| s(&l["ifname"]).to_string())
            .collect()
    };
    assert_eq!(names(&before), names(&after));
    after = f.ns.ip_json(&["addr", "show"]);
    assert!(!after.to_string().contains("veth_b1.100"));
    assert!(
        !f.state.path().join("running").exists(),
        "dry run wrote no config"
    );
}

#[test]
fn a_bad_request_exits_with_its_code_and_json_status() {
    let f = fixture();
    let req = f.state.path().join("bad.json");
    std::fs::write(
        &req,
        r#"{"networks": {"vm1": {"nic": "veth_a0", "vlan": 5000}}}"#,
    )
    .unwrap();
    let (code, out, _) = f.netswitch(&["--json", "setup", "--dry-run", req.to_str().unwrap()]);
    assert_eq!(code, 26);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"]["code"], 26);
    let msg = s(&v["status"]["message"]);
    assert!(msg.contains("vm1") && msg.contains("vlan"), "{msg}");
    let (code, _, err) = f.netswitch(&["setup", "--dry-run", "/nonexistent/req.json"]);
    assert_eq!(code, 21);
    assert!(err.contains("/nonexistent/req.json"), "{err}");
}

#[test]
fn help_shows_a_request_examples_and_every_exit_code() {
    let out = Command::new(env!("CARGO_BIN_EXE_netswitch"))
        .arg("--help")
        .output()
        .expect("run netswitch --help");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for verb in [
        "caps", "setup", "confirm", "commit", "restore", "daemon", "events", "stats",
    ] {
        assert!(
            help.contains(&format!("\n  {verb} ")),
            "no verb {verb}:\n{help}"
        );
    }
    assert!(help.contains("\"networks\"") && help.contains("\"bondings\""));
    for code in [10, 21, 22, 23, 24, 25, 26, 27, 29, 31, 32, 40] {
        assert!(
            help.contains(&format!("{code} ")),
            "exit code {code} missing:\n{help}"
        );
    }
    // Every example file the help names is in the repository.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let named: Vec<&str> = help
        .split_whitespace()
        .filter(|w| w.starts_with("examples/") && (w.ends_with(".json") || w.ends_with(".yaml")))
        .collect();
    assert!(!named.is_empty(), "the help points at no example:\n{help}");
    for path in named {
        assert!(
            root.join(path).is_file(),
            "--help names {path}, which is missing"
        );
    }
}
