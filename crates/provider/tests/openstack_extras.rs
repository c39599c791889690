//! The attributes the provider once accepted and ignored, now applied:
//! routers' `routes` (static routes), ports' `allowed_address_pairs`
//! (port security) and `extra_dhcp_opts` (a DHCP_Options row per port),
//! driven by the real python-openstackclient, read back with `ovn-nbctl`,
//! and where cheap proven with `ovn-trace` against a real ovn-northd.

mod common;

use common::{provider, provider_on, token, venv, Http, Nb, Openstack, Running};
use netswitch_testkit::Central;
use serde_json::{json, Value};

/// The client, or `None` (the test says it skipped) when the venv with
/// python-openstackclient cannot be had.
fn client(p: &Running) -> Option<Openstack> {
    match std::panic::catch_unwind(venv) {
        Ok(v) if v.join("bin/openstack").exists() => Some(Openstack::v3(p)),
        _ => {
            eprintln!("skipped: no venv with python-openstackclient (tests/ensure-venv)");
            None
        }
    }
}

/// Attribute `attr` of port `id` as the plain port list (written straight
/// from the rows, not through a show) has it.
fn listed(p: &Running, id: &str, attr: &str) -> Value {
    let path = format!("/v2.0/ports?fields=id&fields={attr}");
    let a = Http::connect(p.neutron).call("GET", &path, Some(&token(p)), None);
    assert_eq!(a.status, 200, "{:?}", a.body);
    let ports = a.body["ports"].as_array().cloned().unwrap_or_default();
    let port = ports.into_iter().find(|o| o["id"] == id).expect("listed");
    port[attr].clone()
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_owned()
}

/// `openstack ARGS` that must fail; its stderr.
fn refused(os: &Openstack, args: &[&str]) -> String {
    match os.try_run(args) {
        Ok(v) => panic!("openstack {args:?} succeeded: {v}"),
        Err(e) => e,
    }
}

/// A network `net` with subnet `sub` on `cidr`; the subnet's id.
fn net_and_subnet(os: &Openstack, net: &str, sub: &str, cidr: &str, external: bool) -> String {
    let mut args = vec!["network", "create", "-f", "json", net];
    if external {
        args.push("--external");
    }
    os.run(&args);
    id(&os.run(&[
        "subnet",
        "create",
        "-f",
        "json",
        "--network",
        net,
        "--subnet-range",
        cidr,
        sub,
    ]))
}

/// `lr-route-list` of the router, its header line dropped, whitespace
/// squeezed: one `PREFIX NEXTHOP ...` per line.
fn routes(nb: &Nb, router: &str) -> Vec<String> {
    let lr = nb
        .ctl(&[
            "--bare",
            "--columns=_uuid",
            "find",
            "Logical_Router",
            &format!("external_ids:\"neutron:router_id\"={router}"),
        ])
        .trim()
        .to_owned();
    let mut v: Vec<String> = nb
        .ctl(&["lr-route-list", &lr])
        .lines()
        .filter(|l| l.contains('/'))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    v.sort();
    v
}

fn shown_routes(os: &Openstack, router: &str) -> Vec<Value> {
    let mut v = os.run(&["router", "show", "-f", "json", router])["routes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    v.sort_by_key(|r| r["destination"].as_str().map(str::to_owned));
    v
}

#[test]
fn router_routes_become_static_routes() {
    let nb = Nb::start();
    let p = provider(&nb);
    let Some(os) = client(&p) else { return };
    net_and_subnet(&os, "net1", "sub1", "10.0.0.0/24", false);
    let r = id(&os.run(&["router", "create", "-f", "json", "r1"]));
    os.run(&["router", "add", "subnet", "r1", "sub1"]);

    os.run(&[
        "router",
        "set",
        "--route",
        "destination=10.9.0.0/24,gateway=10.0.0.5",
        "--route",
        "destination=10.8.0.0/16,gateway=10.0.0.6",
        "r1",
    ]);
    assert_eq!(
        routes(&nb, &r),
        ["10.8.0.0/16 10.0.0.6 dst-ip", "10.9.0.0/24 10.0.0.5 dst-ip"]
    );
    assert_eq!(
        shown_routes(&os, "r1"),
        [
            json!({"destination": "10.8.0.0/16", "nexthop": "10.0.0.6"}),
            json!({"destination": "10.9.0.0/24", "nexthop": "10.0.0.5"}),
        ]
    );
    os.run(&[
        "router",
        "unset",
        "--route",
        "destination=10.9.0.0/24,gateway=10.0.0.5",
        "r1",
    ]);
    assert_eq!(routes(&nb, &r), ["10.8.0.0/16 10.0.0.6 dst-ip"]);

    // extraroute-atomic: `router add route` / `router remove route`.
    os.run(&[
        "router",
        "add",
        "route",
        "-f",
        "json",
        "--route",
        "destination=10.7.0.0/24,gateway=10.0.0.7",
        "r1",
    ]);
    assert_eq!(
        routes(&nb, &r),
        ["10.7.0.0/24 10.0.0.7 dst-ip", "10.8.0.0/16 10.0.0.6 dst-ip"]
    );
    os.run(&[
        "router",
        "remove",
        "route",
        "-f",
        "json",
        "--route",
        "destination=10.7.0.0/24,gateway=10.0.0.7",
        "r1",
    ]);
    assert_eq!(routes(&nb, &r), ["10.8.0.0/16 10.0.0.6 dst-ip"]);

    // Refusals change nothing.
    let before = nb.ctl(&["list", "Logical_Router_Static_Route"]);
    let e = refused(
        &os,
        &[
            "router",
            "set",
            "--route",
            "destination=10.6.0.0/24,gateway=192.0.2.1",
            "r1",
        ],
    );
    assert!(
        e.contains("routes") && e.contains("not connected with router"),
        "{e}"
    );
    let e = refused(
        &os,
        &[
            "router",
            "set",
            "--route",
            "destination=10.6.0.1/24,gateway=10.0.0.5",
            "r1",
        ],
    );
    assert!(e.contains("routes") && e.contains("destination"), "{e}");
    let e = refused(
        &os,
        &[
            "router",
            "set",
            "--route",
            "destination=10.6.0.0/24,gateway=10.0.0.1",
            "r1",
        ],
    );
    assert!(e.contains("routes") && e.contains("used by router"), "{e}");
    let e = refused(&os, &["router", "remove", "subnet", "r1", "sub1"]);
    assert!(e.contains("required by one or more routes"), "{e}");
    assert_eq!(nb.ctl(&["list", "Logical_Router_Static_Route"]), before);

    // The gateway's default route stays apart from the router's routes.
    net_and_subnet(&os, "ext", "extsub", "172.24.4.0/24", true);
    // One call: the gateway, and a route through it (checked against it).
    os.run(&[
        "router",
        "set",
        "--external-gateway",
        "ext",
        "--route",
        "destination=198.51.100.0/24,gateway=172.24.4.100",
        "r1",
    ]);
    assert_eq!(
        routes(&nb, &r),
        [
            "0.0.0.0/0 172.24.4.1 dst-ip",
            "10.8.0.0/16 10.0.0.6 dst-ip",
            "198.51.100.0/24 172.24.4.100 dst-ip"
        ]
    );
    assert_eq!(shown_routes(&os, "r1").len(), 2);
    os.run(&[
        "router",
        "set",
        "--no-route",
        "--route",
        "destination=203.0.113.0/24,gateway=172.24.4.101",
        "r1",
    ]);
    assert_eq!(
        routes(&nb, &r),
        [
            "0.0.0.0/0 172.24.4.1 dst-ip",
            "203.0.113.0/24 172.24.4.101 dst-ip"
        ]
    );
    os.run(&["router", "set", "--no-route", "r1"]);
    assert_eq!(routes(&nb, &r), ["0.0.0.0/0 172.24.4.1 dst-ip"]);
    assert!(shown_routes(&os, "r1").is_empty());
    // With no route using it, the interface goes.
    os.run(&["router", "remove", "subnet", "r1", "sub1"]);
}

/// `lsp-get-port-security PORT`, sorted.
fn port_security(nb: &Nb, port: &str) -> Vec<String> {
    let mut v: Vec<String> = nb
        .ctl(&["lsp-get-port-security", port])
        .lines()
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

#[test]
fn allowed_address_pairs_become_port_security() {
    let nb = Nb::start();
    let p = provider(&nb);
    let Some(os) = client(&p) else { return };
    net_and_subnet(&os, "net1", "sub1", "10.0.0.0/24", false);
    let port = os.run(&[
        "port",
        "create",
        "-f",
        "json",
        "--network",
        "net1",
        "--fixed-ip",
        "ip-address=10.0.0.10",
        "--allowed-address",
        "ip-address=10.0.0.50",
        "--allowed-address",
        "ip-address=10.0.1.0/24,mac-address=fa:16:3e:00:00:99",
        "port1",
    ]);
    let pid = id(&port);
    let mac = port["mac_address"].as_str().expect("mac").to_owned();
    assert_eq!(
        port_security(&nb, &pid),
        [
            "fa:16:3e:00:00:99 10.0.1.0/24".to_owned(),
            format!("{mac} 10.0.0.10 10.0.0.50"),
        ]
    );
    assert_eq!(
        nb.ctl(&["lsp-get-addresses", &pid]),
        format!("{mac} 10.0.0.10")
    );
    let shown = os.run(&["port", "show", "-f", "json", "port1"]);
    assert_eq!(
        shown["allowed_address_pairs"],
        json!([
            {"ip_address": "10.0.0.50", "mac_address": mac},
            {"ip_address": "10.0.1.0/24", "mac_address": "fa:16:3e:00:00:99"},
        ])
    );
    assert_eq!(
        listed(&p, &pid, "allowed_address_pairs"),
        shown["allowed_address_pairs"]
    );

    os.run(&[
        "port",
        "set",
        "--no-allowed-address",
        "--allowed-address",
        "ip-address=10.0.0.51",
        "port1",
    ]);
    assert_eq!(
        port_security(&nb, &pid),
        [format!("{mac} 10.0.0.10 10.0.0.51")]
    );
    // openstackclient matches the pair whole, its MAC (the port's) too.
    let pair = format!("ip-address=10.0.0.51,mac-address={mac}");
    os.run(&["port", "unset", "--allowed-address", &pair, "port1"]);
    assert_eq!(port_security(&nb, &pid), [format!("{mac} 10.0.0.10")]);
    os.run(&[
        "port",
        "set",
        "--allowed-address",
        "ip-address=10.0.0.52",
        "port1",
    ]);

    // Refusals change nothing.
    let before = nb.ctl(&["list", "Logical_Switch_Port"]);
    for (bad, what) in [
        ("ip-address=10.0.0.300", "10.0.0.300"),
        ("ip-address=10.0.0.1/24", "10.0.0.1/24"),
        ("ip-address=2001:db8::5", "2001:db8::5"),
        (
            "ip-address=10.0.0.9,mac-address=zz:16:3e:00:00:01",
            "zz:16:3e:00:00:01",
        ),
    ] {
        let e = refused(&os, &["port", "set", "--allowed-address", bad, "port1"]);
        assert!(
            e.contains("allowed_address_pairs") && e.contains(what),
            "{bad}: {e}"
        );
    }
    let e = refused(&os, &["port", "set", "--disable-port-security", "port1"]);
    assert!(
        e.contains("AddressPairAndPortSecurityRequired") || e.contains("port_security_enabled"),
        "{e}"
    );
    let e = refused(
        &os,
        &[
            "port",
            "create",
            "--network",
            "net1",
            "--disable-port-security",
            "--allowed-address",
            "ip-address=10.0.0.60",
            "port2",
        ],
    );
    assert!(e.contains("port_security_enabled"), "{e}");
    assert_eq!(nb.ctl(&["list", "Logical_Switch_Port"]), before);

    // Without pairs, port security can go; the pairs are then refused.
    os.run(&[
        "port",
        "set",
        "--no-allowed-address",
        "--disable-port-security",
        "port1",
    ]);
    assert!(port_security(&nb, &pid).is_empty());
}

/// The DHCP_Options row `lsp-get-dhcpv4-options` names for `port` (its
/// uuid), if any.
fn dhcp_row(nb: &Nb, port: &str) -> Option<String> {
    let out = nb.ctl(&["lsp-get-dhcpv4-options", port]);
    out.split_whitespace().next().map(str::to_owned)
}

fn option(nb: &Nb, row: &str, key: &str) -> String {
    nb.get("DHCP_Options", row, &format!("options:{key}"))
}

#[test]
fn extra_dhcp_opts_become_a_port_dhcp_options_row() {
    let nb = Nb::start();
    let p = provider(&nb);
    let Some(os) = client(&p) else { return };
    let sub = net_and_subnet(&os, "net1", "sub1", "10.0.0.0/24", false);
    let sub_row = nb.row_of("DHCP_Options", &sub);
    let port = os.run(&[
        "port",
        "create",
        "-f",
        "json",
        "--network",
        "net1",
        "--extra-dhcp-option",
        "name=tftp-server,value=10.0.0.9",
        "--extra-dhcp-option",
        "name=bootfile-name,value=pxelinux.0",
        "--extra-dhcp-option",
        "name=router,value=10.0.0.254",
        "port1",
    ]);
    let pid = id(&port);
    let row = dhcp_row(&nb, &pid).expect("the port has DHCP options");
    assert_ne!(row, sub_row);
    assert_eq!(nb.get("DHCP_Options", &row, "cidr"), "10.0.0.0/24");
    assert_eq!(option(&nb, &row, "tftp_server"), "10.0.0.9");
    assert_eq!(option(&nb, &row, "bootfile_name"), "\\\"pxelinux.0\\\"");
    assert_eq!(option(&nb, &row, "router"), "10.0.0.254");
    assert_eq!(
        option(&nb, &row, "lease_time"),
        option(&nb, &sub_row, "lease_time")
    );
    assert_eq!(
        nb.get("DHCP_Options", &row, "external_ids:\"neutron:port_id\""),
        pid
    );
    assert_eq!(
        nb.get("DHCP_Options", &row, "external_ids:\"neutron:subnet_id\""),
        sub
    );
    assert_eq!(nb.count("DHCP_Options"), 2);
    // It is not a subnet.
    assert_eq!(
        os.run(&["subnet", "list", "-f", "json"])
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let shown = os.run(&["port", "show", "-f", "json", "port1"])["extra_dhcp_opts"].clone();
    assert_eq!(listed(&p, &pid, "extra_dhcp_opts"), shown);
    let mut shown = shown.as_array().cloned().unwrap_or_default();
    shown.sort_by_key(|o| o["opt_name"].as_str().map(str::to_owned));
    assert_eq!(
        shown,
        [
            json!({"opt_name": "bootfile-name", "opt_value": "pxelinux.0", "ip_version": 4}),
            json!({"opt_name": "router", "opt_value": "10.0.0.254", "ip_version": 4}),
            json!({"opt_name": "tftp-server", "opt_value": "10.0.0.9", "ip_version": 4}),
        ]
    );

    // The subnet's options reach the port's row, but for its overrides.
    os.run(&[
        "subnet",
        "set",
        "--dns-nameserver",
        "192.0.2.53",
        "--gateway",
        "10.0.0.2",
        "sub1",
    ]);
    let row = dhcp_row(&nb, &pid).expect("kept");
    assert_eq!(option(&nb, &row, "dns_server"), "{192.0.2.53}");
    assert_eq!(option(&nb, &row, "router"), "10.0.0.254");
    assert_eq!(option(&nb, &sub_row, "router"), "10.0.0.2");
    os.run(&[
        "subnet",
        "set",
        "--host-route",
        "destination=10.9.0.0/24,gateway=10.0.0.5",
        "sub1",
    ]);
    for r in [&row, &sub_row] {
        assert_eq!(
            option(&nb, r, "classless_static_route"),
            "{10.9.0.0/24,10.0.0.5}"
        );
    }
    // Taken away, the options go from both rows (not left empty).
    os.run(&[
        "subnet",
        "set",
        "--no-dns-nameservers",
        "--no-host-route",
        "sub1",
    ]);
    for r in [&row, &sub_row] {
        let all = nb.ctl(&["--bare", "get", "DHCP_Options", r, "options"]);
        assert!(
            !all.contains("dns_server") && !all.contains("classless_static_route"),
            "{all}"
        );
    }

    // Updates merge by name; a name without a value removes it.
    os.run(&[
        "port",
        "set",
        "--extra-dhcp-option",
        "name=tftp-server,value=10.0.0.8",
        "port1",
    ]);
    let row = dhcp_row(&nb, &pid).expect("kept");
    assert_eq!(option(&nb, &row, "tftp_server"), "10.0.0.8");
    assert_eq!(option(&nb, &row, "bootfile_name"), "\\\"pxelinux.0\\\"");
    os.run(&[
        "port",
        "set",
        "--extra-dhcp-option",
        "name=bootfile-name",
        "port1",
    ]);
    let row = dhcp_row(&nb, &pid).expect("kept");
    assert!(!nb
        .ctl(&["--bare", "get", "DHCP_Options", &row, "options"])
        .contains("bootfile_name"));
    assert_eq!(nb.count("DHCP_Options"), 2);

    // Refusals change nothing.
    let before = (
        nb.ctl(&["list", "DHCP_Options"]),
        nb.ctl(&["list", "Logical_Switch_Port"]),
    );
    for (bad, what) in [
        ("name=no-such-option,value=1", "no-such-option"),
        ("name=tftp-server,value=10.0.0.9,ip-version=6", "ip_version"),
        ("name=mtu,value=12", "mtu"),
        ("name=domain-name,value=a\"b", "domain-name"),
    ] {
        let e = refused(&os, &["port", "set", "--extra-dhcp-option", bad, "port1"]);
        assert!(
            e.contains("extra_dhcp_opts") && e.contains(what),
            "{bad}: {e}"
        );
    }
    let e = refused(
        &os,
        &[
            "port",
            "create",
            "--network",
            "net1",
            "--extra-dhcp-option",
            "name=bogus,value=1",
            "port2",
        ],
    );
    assert!(e.contains("extra_dhcp_opts") && e.contains("bogus"), "{e}");
    assert_eq!(
        before,
        (
            nb.ctl(&["list", "DHCP_Options"]),
            nb.ctl(&["list", "Logical_Switch_Port"])
        )
    );

    // Without options the port is back on the subnet's row, its own gone.
    os.run(&[
        "port",
        "set",
        "--extra-dhcp-option",
        "name=tftp-server",
        "--extra-dhcp-option",
        "name=router",
        "port1",
    ]);
    assert_eq!(dhcp_row(&nb, &pid), Some(sub_row.clone()));
    assert_eq!(nb.count("DHCP_Options"), 1);

    // A deleted port takes its row with it.
    let p2 = id(&os.run(&[
        "port",
        "create",
        "-f",
        "json",
        "--network",
        "net1",
        "--extra-dhcp-option",
        "name=mtu,value=1400",
        "port2",
    ]));
    assert_eq!(
        option(&nb, &dhcp_row(&nb, &p2).expect("own row"), "mtu"),
        "1400"
    );
    assert_eq!(nb.count("DHCP_Options"), 2);
    os.run(&["port", "delete", "port2"]);
    assert_eq!(nb.count("DHCP_Options"), 1);

    // DHCP off for the subnet: no port points at a row, own rows go; on
    // again (with a DNS server in the same call): back, the own row made
    // anew from the subnet's options as that call leaves them.
    let p3 = id(&os.run(&[
        "port",
        "create",
        "-f",
        "json",
        "--network",
        "net1",
        "--extra-dhcp-option",
        "name=tftp-server,value=10.0.0.9",
        "port3",
    ]));
    os.run(&["subnet", "set", "--no-dhcp", "sub1"]);
    assert_eq!((dhcp_row(&nb, &pid), dhcp_row(&nb, &p3)), (None, None));
    assert_eq!(nb.count("DHCP_Options"), 1);
    os.run(&[
        "subnet",
        "set",
        "--dhcp",
        "--dns-nameserver",
        "192.0.2.54",
        "sub1",
    ]);
    assert_eq!(dhcp_row(&nb, &pid), Some(sub_row.clone()));
    let own = dhcp_row(&nb, &p3).expect("own row again");
    assert_ne!(own, sub_row);
    assert_eq!(option(&nb, &own, "tftp_server"), "10.0.0.9");
    assert_eq!(option(&nb, &own, "dns_server"), "{192.0.2.54}");
    assert_eq!(nb.count("DHCP_Options"), 2);
}

/// `ovn-trace` of `flow` entering switch `ls`, against the central's SB:
/// `--minimal`, or `--detailed` with `TRACE_DETAILED` set (every stage,
/// for a failure's message; the checks hold in both).
fn trace(ovn: &Central, ls: &str, flow: &str) -> String {
    ovn.nbctl(&["--timeout=60", "--wait=sb", "sync"]);
    let out = std::process::Command::new("ovn-trace")
        .arg(format!("--db={}", ovn.sb()))
        .arg(if std::env::var_os("TRACE_DETAILED").is_some() {
            "--detailed"
        } else {
            "--minimal"
        })
        .arg(ls)
        .arg(flow)
        .output()
        .expect("ovn-trace");
    assert!(
        out.status.success(),
        "ovn-trace: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn ovn_trace_sees_pairs_routes_and_dhcp_options() {
    let ovn = Central::start();
    let p = provider_on(&ovn.nb(), json!({}));
    let Some(os) = client(&p) else { return };
    net_and_subnet(&os, "net1", "sub1", "10.0.0.0/24", false);
    let a = os.run(&[
        "port",
        "create",
        "-f",
        "json",
        "--network",
        "net1",
        "--fixed-ip",
        "ip-address=10.0.0.10",
        "--allowed-address",
        "ip-address=10.0.0.50",
        "--allowed-address",
        "ip-address=10.0.1.7,mac-address=fa:16:3e:00:00:99",
        "--extra-dhcp-option",
        "name=tftp-server,value=10.0.0.9",
        "--extra-dhcp-option",
        "name=bootfile-name,value=pxelinux.0",
        "port-a",
    ]);
    // The nexthop: no security, so no ACL stands in the way.
    let b = os.run(&[
        "port",
        "create",
        "-f",
        "json",
        "--network",
        "net1",
        "--fixed-ip",
        "ip-address=10.0.0.5",
        "--disable-port-security",
        "--no-security-group",
        "nexthop-b",
    ]);
    let (a_id, a_mac) = (id(&a), a["mac_address"].as_str().expect("mac").to_owned());
    let b_mac = b["mac_address"].as_str().expect("mac").to_owned();
    let from_mac = |mac: &str, src: &str, dst_mac: &str, dst: &str| {
        format!("inport == \"{a_id}\" && eth.src == {mac} && eth.dst == {dst_mac} && ip4.src == {src} && ip4.dst == {dst} && ip.ttl == 64 && icmp4.type == 8")
    };
    let from = |src: &str, dst_mac: &str, dst: &str| from_mac(&a_mac, src, dst_mac, dst);
    // ovn-trace names ports by their Neutron name (northd copies it).
    let out = "output(\"nexthop-b\")";
    let passes = |t: &str| t.contains(out) || t.contains("output to \"nexthop-b\"");
    let t = trace(&ovn, "net1", &from("10.0.0.50", &b_mac, "10.0.0.5"));
    assert!(passes(&t), "the pair's address passes port security:\n{t}");
    let t = trace(&ovn, "net1", &from("10.0.0.77", &b_mac, "10.0.0.5"));
    assert!(!passes(&t), "another address is dropped:\n{t}");
    // A pair with a MAC of its own: its address from that MAC passes, the
    // port's own pair does not come from it. (A network as a pair is
    // checked in NB only: ovn-trace 23.03 drops what a masked
    // port_security entry allows.)
    let other = "fa:16:3e:00:00:99";
    let t = trace(
        &ovn,
        "net1",
        &from_mac(other, "10.0.1.7", &b_mac, "10.0.0.5"),
    );
    assert!(passes(&t), "the other MAC's address passes:\n{t}");
    let t = trace(
        &ovn,
        "net1",
        &from_mac(other, "10.0.0.50", &b_mac, "10.0.0.5"),
    );
    assert!(
        !passes(&t),
        "the other MAC with the port's pair is dropped:\n{t}"
    );

    os.run(&["router", "create", "-f", "json", "r1"]);
    os.run(&["router", "add", "subnet", "r1", "sub1"]);
    os.run(&[
        "router",
        "set",
        "--route",
        "destination=10.9.0.0/24,gateway=10.0.0.5",
        "r1",
    ]);
    let lrp_mac = ovn.nbctl(&[
        "--bare",
        "--columns=mac",
        "find",
        "Logical_Router_Port",
        "networks=\"10.0.0.1/24\"",
    ]);
    let t = trace(&ovn, "net1", &from("10.0.0.10", lrp_mac.trim(), "10.9.0.7"));
    assert!(
        passes(&t) && t.contains(&format!("eth.dst = {b_mac}")),
        "routed to the nexthop:\n{t}"
    );

    let discover = format!("inport == \"{a_id}\" && eth.src == {a_mac} && eth.dst == ff:ff:ff:ff:ff:ff && ip4.src == 0.0.0.0 && ip4.dst == 255.255.255.255 && udp.src == 68 && udp.dst == 67");
    let t = trace(&ovn, "net1", &discover);
    assert!(
        t.contains("tftp_server = 10.0.0.9") && t.contains("bootfile_name = \"pxelinux.0\""),
        "OVN serves the port's options:\n{t}"
    );
}
