//! python-openstackclient 10.5 against the provider over a real NB
//! ovsdb-server, with Keystone v3 and v2.0; after each call the NB rows
//! are read back with `ovn-nbctl`.

mod common;

use common::{provider, provider_with, Nb, Openstack};
use serde_json::{json, Value};

fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_owned()
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|o| {
            o["Name"]
                .as_str()
                .or(o["name"].as_str())
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[test]
fn networks_subnets_and_ports_through_openstackclient_v3() {
    let nb = Nb::start();
    let p = provider(&nb);
    let os = Openstack::v3(&p);

    let net = os.run(&["network", "create", "-f", "json", "--mtu", "1400", "net1"]);
    let net_id = id(&net);
    assert_eq!(net["mtu"], 1400);
    assert_eq!(nb.get("Logical_Switch", &net_id, "name"), "net1");
    assert_eq!(
        nb.get("Logical_Switch", &net_id, "external_ids:\"neutron:mtu\""),
        "1400"
    );

    let vlan = os.run(&[
        "network",
        "create",
        "-f",
        "json",
        "--provider-network-type",
        "vlan",
        "--provider-physical-network",
        "physnet1",
        "--provider-segment",
        "10",
        "net2",
    ]);
    let vlan_ports = nb.get("Logical_Switch", &id(&vlan), "ports");
    assert_eq!(
        nb.get("Logical_Switch_Port", &vlan_ports, "type"),
        "localnet"
    );
    assert_eq!(nb.get("Logical_Switch_Port", &vlan_ports, "tag"), "10");
    assert_eq!(
        nb.get("Logical_Switch_Port", &vlan_ports, "options:network_name"),
        "physnet1"
    );
    assert_eq!(vlan["provider:segmentation_id"], 10);

    assert_eq!(names(&os.run(&["network", "list", "-f", "json"])).len(), 2);
    os.run(&["network", "set", "--name", "net1b", "net1"]);
    assert_eq!(nb.get("Logical_Switch", &net_id, "name"), "net1b");
    assert_eq!(
        os.run(&["network", "show", "-f", "json", "net1b"])["id"],
        net_id.as_str()
    );

    let sub = os.run(&[
        "subnet",
        "create",
        "-f",
        "json",
        "--network",
        "net1b",
        "--subnet-range",
        "10.0.0.0/24",
        "--dns-nameserver",
        "192.0.2.53",
        "sub1",
    ]);
    let sub_id = id(&sub);
    assert_eq!(sub["gateway_ip"], "10.0.0.1");
    assert_eq!(nb.get("DHCP_Options", &sub_id, "cidr"), "10.0.0.0/24");
    assert_eq!(
        nb.get("DHCP_Options", &sub_id, "options:router"),
        "10.0.0.1"
    );
    assert_eq!(
        nb.get("DHCP_Options", &sub_id, "options:dns_server"),
        "{192.0.2.53}"
    );
    assert_eq!(
        nb.get("Logical_Switch", &net_id, "other_config:subnet"),
        "10.0.0.0/24"
    );
    os.run(&["subnet", "set", "--name", "sub1b", "sub1"]);
    assert_eq!(
        os.run(&["subnet", "show", "-f", "json", &sub_id])["name"],
        "sub1b"
    );
    assert_eq!(
        names(&os.run(&["subnet", "list", "-f", "json", "--network", &net_id])),
        ["sub1b"]
    );

    let port = os.run(&[
        "port",
        "create",
        "-f",
        "json",
        "--network",
        "net1b",
        "--fixed-ip",
        "subnet=sub1b,ip-address=10.0.0.10",
        "--host",
        "chassis-1",
        "--device-owner",
        "oVirt",
        "--device",
        "vnic-1",
        "port1",
    ]);
    let port_id = id(&port);
    let mac = port["mac_address"].as_str().unwrap().to_owned();
    let lsp = &port_id;
    assert_eq!(
        nb.get("Logical_Switch_Port", lsp, "addresses"),
        format!("{mac} 10.0.0.10")
    );
    assert_eq!(
        nb.get("Logical_Switch_Port", lsp, "port_security"),
        format!("{mac} 10.0.0.10")
    );
    assert_eq!(
        nb.get("Logical_Switch_Port", lsp, "options:requested-chassis"),
        "chassis-1"
    );
    assert_eq!(
        nb.get("Logical_Switch_Port", lsp, "dhcpv4_options"),
        nb.row_of("DHCP_Options", &sub_id)
    );
    assert!(nb
        .get("Logical_Switch", &net_id, "ports")
        .contains(&nb.ctl(&[
            "--bare",
            "--columns=_uuid",
            "find",
            "Logical_Switch_Port",
            &format!("name={port_id}")
        ])));
    // The default group was made and the port joined it and the drop group.
    let sgs = port["security_group_ids"]
        .as_array()
        .or(port["security_groups"].as_array())
        .cloned()
        .unwrap_or_default();
    assert_eq!(sgs.len(), 1, "{port}");
    let pg = format!("pg_{}", sgs[0].as_str().unwrap().replace('-', "_"));
    assert!(!nb.get("Port_Group", &pg, "ports").is_empty());
    assert!(!nb.get("Port_Group", "neutron_pg_drop", "ports").is_empty());

    // A second port gets the next free address.
    let port2 = os.run(&[
        "port",
        "create",
        "-f",
        "json",
        "--network",
        &net_id,
        "port2",
    ]);
    assert_eq!(port2["fixed_ips"][0]["ip_address"], "10.0.0.2", "{port2}");
    let listed = os.run(&["port", "list", "-f", "json", "--network", &net_id]);
    assert_eq!(listed.as_array().unwrap().len(), 2);
    os.run(&[
        "port",
        "set",
        "--name",
        "port1b",
        "--host",
        "chassis-2",
        "--disable",
        &port_id,
    ]);
    assert_eq!(
        nb.get("Logical_Switch_Port", lsp, "options:requested-chassis"),
        "chassis-2"
    );
    assert_eq!(nb.get("Logical_Switch_Port", lsp, "enabled"), "false");
    let shown = os.run(&["port", "show", "-f", "json", "port1b"]);
    assert_eq!(shown["status"], "DOWN");
    assert_eq!(shown["device_owner"], "oVirt");

    // Deleting a network with ports is refused; then ports, subnet, network go.
    assert!(os.try_run(&["network", "delete", &net_id]).is_err());
    os.run(&["port", "delete", &port_id, &id(&port2)]);
    assert_eq!(
        nb.ctl(&[
            "--bare",
            "--columns=name",
            "find",
            "Logical_Switch_Port",
            &format!("name={port_id}")
        ]),
        ""
    );
    assert_eq!(nb.get("Port_Group", &pg, "ports"), "");
    os.run(&["subnet", "delete", &sub_id]);
    assert_eq!(nb.count("DHCP_Options"), 0);
    os.run(&["network", "delete", &net_id, &id(&vlan)]);
    assert_eq!(nb.count("Logical_Switch"), 0);
}

#[test]
fn security_groups_routers_and_floating_ips_through_openstackclient_v3() {
    let nb = Nb::start();
    // Gateways may sit on two chassis, gw-a preferred.
    let p = provider_with(&nb, json!({"gateway_chassis": ["gw-a", "gw-b"]}));
    let os = Openstack::v3(&p);

    let sg = os.run(&["security", "group", "create", "-f", "json", "web"]);
    let sg_id = id(&sg);
    let pg = format!("pg_{}", sg_id.replace('-', "_"));
    assert_eq!(
        nb.get(
            "Port_Group",
            &pg,
            "external_ids:\"neutron:security_group_name\""
        ),
        "web"
    );
    let rule = os.run(&[
        "security",
        "group",
        "rule",
        "create",
        "-f",
        "json",
        "--ingress",
        "--protocol",
        "tcp",
        "--dst-port",
        "22",
        "--remote-ip",
        "10.0.0.0/8",
        "web",
    ]);
    let rule_id = id(&rule);
    assert_eq!(
        nb.get("ACL", &rule_id, "match"),
        format!("outport == @{pg} && ip4 && ip4.src == 10.0.0.0/8 && tcp && tcp.dst == 22")
    );
    assert_eq!(nb.get("ACL", &rule_id, "action"), "allow-related");
    let rules = os.run(&["security", "group", "rule", "list", "-f", "json", "web"]);
    assert_eq!(
        rules.as_array().unwrap().len(),
        3,
        "two default egress rules and ours: {rules}"
    );
    assert_eq!(
        os.run(&["security", "group", "rule", "show", "-f", "json", &rule_id])["port_range_min"],
        22
    );
    os.run(&["security", "group", "set", "--name", "web2", "web"]);
    assert_eq!(
        os.run(&["security", "group", "show", "-f", "json", &sg_id])["name"],
        "web2"
    );
    os.run(&["security", "group", "rule", "delete", &rule_id]);
    assert!(nb
        .ctl(&["--bare", "--columns=_uuid", "list", "ACL"])
        .lines()
        .all(|l| l.trim() != rule_id));

    let ext = os.run(&[
        "network",
        "create",
        "-f",
        "json",
        "--external",
        "--provider-network-type",
        "flat",
        "--provider-physical-network",
        "physnet1",
        "public",
    ]);
    os.run(&[
        "subnet",
        "create",
        "-f",
        "json",
        "--network",
        "public",
        "--subnet-range",
        "192.0.2.0/24",
        "--no-dhcp",
        "public-sub",
    ]);
    os.run(&["network", "create", "-f", "json", "inside"]);
    let inside_sub = os.run(&[
        "subnet",
        "create",
        "-f",
        "json",
        "--network",
        "inside",
        "--subnet-range",
        "10.1.0.0/24",
        "inside-sub",
    ]);

    let r = os.run(&["router", "create", "-f", "json", "r1"]);
    let r_id = id(&r);
    let lr = nb.ctl(&[
        "--bare",
        "--columns=_uuid",
        "find",
        "Logical_Router",
        "name=r1",
    ]);
    os.run(&["router", "add", "subnet", "r1", "inside-sub"]);
    let lrps = nb.ctl(&[
        "--bare",
        "--columns=networks",
        "list",
        "Logical_Router_Port",
    ]);
    assert!(lrps.contains("10.1.0.1/24"), "{lrps}");
    os.run(&["router", "set", "--external-gateway", "public", "r1"]);
    let shown = os.run(&["router", "show", "-f", "json", &r_id]);
    let gw_ip = shown["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(gw_ip, "192.0.2.2");
    assert_eq!(
        nb.ctl(&[
            "--bare",
            "--columns=external_ip,logical_ip",
            "find",
            "NAT",
            "type=snat"
        ]),
        "192.0.2.2\n10.1.0.0/24"
    );
    assert!(nb.ctl(&["lr-route-list", &lr]).contains("192.0.2.1"));
    // The gateway port is bound to the configured chassis, in order, as
    // `ovn-nbctl lrp-get-gateway-chassis` shows it.
    let gw_port = os.run(&[
        "port",
        "list",
        "-f",
        "json",
        "--device-owner",
        "network:router_gateway",
    ]);
    let gw_id = gw_port[0]["ID"].as_str().expect("the gateway port");
    let lrp = format!("lrp-{gw_id}");
    let chassis = nb.ctl(&["lrp-get-gateway-chassis", &lrp]);
    let lines: Vec<&str> = chassis.lines().map(str::trim).collect();
    assert_eq!(
        lines,
        [format!("{lrp}_gw-a     2"), format!("{lrp}_gw-b     1")],
        "{chassis}"
    );

    let vm = os.run(&["port", "create", "-f", "json", "--network", "inside", "vm1"]);
    let fip = os.run(&["floating", "ip", "create", "-f", "json", "public"]);
    let fip_id = id(&fip);
    let fip_ip = fip["floating_ip_address"].as_str().unwrap().to_owned();
    os.run(&["floating", "ip", "set", "--port", &id(&vm), &fip_id]);
    let nat = nb.ctl(&[
        "--bare",
        "--columns=external_ip,logical_ip,logical_port",
        "find",
        "NAT",
        "type=dnat_and_snat",
    ]);
    assert_eq!(nat, format!("{fip_ip}\n10.1.0.2\n{}", id(&vm)));
    assert_eq!(
        os.run(&["floating", "ip", "show", "-f", "json", &fip_id])["port_id"],
        id(&vm).as_str()
    );
    assert_eq!(
        os.run(&["floating", "ip", "list", "-f", "json"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    os.run(&["floating", "ip", "unset", "--port", &fip_id]);
    assert_eq!(
        nb.ctl(&[
            "--bare",
            "--columns=_uuid",
            "find",
            "NAT",
            "type=dnat_and_snat"
        ]),
        ""
    );
    os.run(&["floating", "ip", "delete", &fip_id]);
    assert_eq!(
        os.run(&["floating", "ip", "list", "-f", "json"])
            .as_array()
            .unwrap()
            .len(),
        0
    );

    assert!(
        os.try_run(&["router", "delete", "r1"]).is_err(),
        "a router with interfaces stays"
    );
    os.run(&["router", "remove", "subnet", "r1", &id(&inside_sub)]);
    os.run(&["router", "unset", "--external-gateway", "r1"]);
    assert_eq!(nb.count("NAT"), 0);
    os.run(&["router", "delete", "r1"]);
    assert_eq!(nb.count("Logical_Router"), 0);
    os.run(&["port", "delete", &id(&vm)]);
    os.run(&["security", "group", "delete", &sg_id]);
    assert_eq!(
        nb.ctl(&[
            "--bare",
            "--columns=_uuid",
            "find",
            "Port_Group",
            &format!("name={pg}")
        ]),
        ""
    );
    let _ = ext;
}
