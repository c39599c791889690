//! python-openstackclient 10.5 against the provider over a real NB
//! ovsdb-server, with Keystone v3 and v2.0; after each call the NB rows
//! are read back with `ovn-nbctl`.

mod common;

use common::{provider, Nb, Openstack};

#[test]
fn networks_subnets_and_ports_through_openstackclient_v3() {
    let nb = Nb::start();
    let p = provider(&nb);
    let os = Openstack::v3(&p);
    let net = os.run(&["network", "create", "-f", "json", "--mtu", "1400", "net1"]);
    let id = net["id"].as_str().unwrap().to_owned();
    assert_eq!(net["mtu"], 1400);
    assert_eq!(nb.get("Logical_Switch", &id, "name"), "net1");
    let listed = os.run(&["network", "list", "-f", "json"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
}
