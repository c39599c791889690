//! `GET /v2.0/extensions`: the Neutron extensions this provider implements,
//! so clients that probe for them (openstacksdk, oVirt engine) find them.

use serde_json::{json, Value};

use crate::error::ApiError;
use crate::http::Response;

/// `(alias, name, description)`.
const EXTENSIONS: &[(&str, &str, &str)] = &[
    (
        "provider",
        "Provider Network",
        "provider:network_type, physical_network, segmentation_id",
    ),
    (
        "external-net",
        "Neutron external network",
        "router:external",
    ),
    (
        "router",
        "Neutron L3 Router",
        "routers, floating IPs and router interfaces",
    ),
    (
        "ext-gw-mode",
        "Neutron L3 Configurable external gateway mode",
        "enable_snat",
    ),
    (
        "security-group",
        "security-group",
        "security groups and rules (Port_Group and ACLs)",
    ),
    ("port-security", "Port Security", "port_security_enabled"),
    (
        "binding",
        "Port Binding",
        "binding:host_id as requested-chassis",
    ),
    ("net-mtu", "Network MTU", "mtu"),
    (
        "net-mtu-writable",
        "Network MTU (writable)",
        "mtu may be updated",
    ),
    (
        "allowed-address-pairs",
        "Allowed Address Pairs",
        "allowed_address_pairs in the ports' port_security",
    ),
    (
        "extraroute",
        "Neutron Extra Route",
        "routes of routers as static routes",
    ),
    (
        "extraroute-atomic",
        "Atomically add/remove extra routes",
        "add_extraroutes and remove_extraroutes",
    ),
    (
        "extra_dhcp_opt",
        "Neutron Extra DHCP options",
        "extra_dhcp_opts of ports as their own DHCP_Options",
    ),
    ("sorting", "Sorting", "sort_key and sort_dir"),
    ("pagination", "Pagination", "limit and marker"),
    ("fields", "Fields", "fields"),
];

fn ext(alias: &str, name: &str, desc: &str) -> Value {
    json!({"alias": alias, "name": name, "description": desc,
           "updated": "2026-12-01T00:00:00-00:00", "links": []})
}

/// The extensions document.
pub fn list() -> Value {
    let v: Vec<Value> = EXTENSIONS.iter().map(|(a, n, d)| ext(a, n, d)).collect();
    json!({ "extensions": v })
}

/// One extension, or 404.
pub fn show(alias: &str) -> Result<Response, ApiError> {
    EXTENSIONS
        .iter()
        .find(|(a, _, _)| *a == alias)
        .map(|(a, n, d)| Response::json(200, &json!({"extension": ext(a, n, d)})))
        .ok_or_else(|| ApiError::not_found("ExtensionNotFound", "Extension", alias))
}
