//! Router interfaces: `add_router_interface` and `remove_router_interface`
//! (by subnet or by port), with the SNAT row an interface subnet gets when
//! the router's gateway does SNAT.

use netswitch_ovsdb::datum::{named_uuid, str_map};
use netswitch_ovsdb::{row, Condition, Op};
use serde_json::{json, Value};

use super::attrs::{self, Obj};
use super::ident::Guard;
use super::network::set_map_keys;
use super::port;
use super::router::{add_snat, attach, detach_ref, find, interfaces, lrp_of, router_port, Target};
use super::subnet::{self, Subnet};
use super::{Ctx, Plan};
use crate::error::ApiError;
use crate::ids;
use crate::nb::{key, s, uuids};

const RES: &str = "router";

fn interface_answer(c: &Ctx, id: &str, port_id: &str, sn: &Subnet) -> Value {
    json!({"id": id, "tenant_id": c.project, "project_id": c.project, "port_id": port_id,
           "subnet_id": sn.id, "subnet_ids": [sn.id], "network_id": sn.network})
}

/// Plans `add_router_interface` (`{"subnet_id"}` or `{"port_id"}`).
pub fn add_interface(c: &Ctx, p: &mut Plan, id: &str, body: &Obj) -> Result<Value, ApiError> {
    let (u, r) = find(c, id)?;
    let o = body;
    let (sub, prt) = (
        attrs::string(RES, o, "subnet_id")?,
        attrs::string(RES, o, "port_id")?,
    );
    let lr = Target::Row(u.clone());
    let (port_id, sn) = match (sub, prt) {
        (Some(sid), None) => {
            let sn = subnet::find(c, &sid)?;
            let gw = sn.gateway.ok_or_else(|| {
                ApiError::bad(format!(
                    "Bad router request: subnet {sid} has no gateway_ip"
                ))
            })?;
            if let Some(h) = port::users_of_subnet(c, &sn)
                .iter()
                .find(|h| port::find(c, h).is_ok_and(|(_, pr)| port::ips(pr).contains(&gw)))
            {
                return Err(ApiError::conflict(
                    "IpAddressAlreadyAllocated",
                    format!("IP address {gw} of subnet {sid} is held by port {h}"),
                ));
            }
            (
                router_port(
                    c,
                    p,
                    &lr,
                    id,
                    &sn.network.clone(),
                    &sn,
                    gw,
                    "network:router_interface",
                )?,
                sn,
            )
        }
        (None, Some(pid)) => (pid.clone(), convert_port(c, p, &lr, id, &pid)?),
        _ => {
            return Err(ApiError::bad(
                "Bad router request: give exactly one of subnet_id and port_id",
            ))
        }
    };
    if interfaces(c, id)
        .iter()
        .any(|(_, _, s)| s.as_ref().is_some_and(|s| s.cidr.overlaps(&sn.cidr)))
    {
        return Err(ApiError::bad(format!(
            "Bad router request: router {id} already has an interface on subnet {} ({})",
            sn.id, sn.cidr
        )));
    }
    if key(r, "external_ids", "neutron:enable_snat") == Some("true") {
        if let Some(gw_ip) = key(r, "external_ids", "neutron:gw_ip").and_then(|g| g.parse().ok()) {
            add_snat(p, &lr, gw_ip, &sn);
        }
    }
    Ok(interface_answer(c, id, &port_id, &sn))
}

/// Makes an existing port a router interface.
fn convert_port(
    c: &Ctx,
    p: &mut Plan,
    lr: &Target,
    id: &str,
    pid: &str,
) -> Result<Subnet, ApiError> {
    let (pu, pr) = port::find(c, pid)?;
    if key(pr, "external_ids", "neutron:device_owner").is_some_and(|d| !d.is_empty()) {
        return Err(ApiError::conflict(
            "PortInUse",
            format!("Port {pid} already has an owner"),
        ));
    }
    let ip = *port::ips(pr)
        .first()
        .ok_or_else(|| ApiError::bad(format!("Bad router request: port {pid} has no fixed IP")))?;
    let sn = subnet::all(c)
        .into_iter()
        .find(|s| s.cidr.contains(ip))
        .ok_or_else(|| ApiError::bad("port's subnet not found"))?;
    let mac = port::mac(pr).unwrap_or_else(ids::mac);
    let lrp = format!("lrp-{pid}");
    p.guard(Guard::name("Logical_Router_Port", &lrp));
    let n = p.name("lrp");
    p.push(Op::insert_named(
        "Logical_Router_Port",
        &n,
        row([
            ("name", json!(lrp)),
            ("mac", json!(mac)),
            ("networks", json!(format!("{ip}/{}", sn.cidr.prefix))),
            ("external_ids", str_map([("neutron:router_id", id)])),
        ]),
    ));
    attach(p, lr, "ports", named_uuid(&n));
    super::secgroup::leave_all(c, p, pu);
    super::dhcpopts::remove(c, p, pid);
    p.push(Op::update(
        "Logical_Switch_Port",
        vec![Condition::uuid(pu)],
        row([
            ("type", json!("router")),
            ("addresses", json!("router")),
            ("port_security", json!(["set", []])),
            ("dhcpv4_options", json!(["set", []])),
            ("options", str_map([("router-port", lrp.as_str())])),
        ]),
    ));
    p.ops.extend(set_map_keys(
        "Logical_Switch_Port",
        pu,
        "external_ids",
        &[
            (
                "neutron:device_owner".into(),
                "network:router_interface".into(),
            ),
            ("neutron:device_id".into(), id.into()),
        ],
    ));
    Ok(sn)
}

/// Plans `remove_router_interface`.
pub fn remove_interface(c: &Ctx, p: &mut Plan, id: &str, body: &Obj) -> Result<Value, ApiError> {
    let (u, r) = find(c, id)?;
    let (sub, prt) = (
        attrs::string(RES, body, "subnet_id")?,
        attrs::string(RES, body, "port_id")?,
    );
    if sub.is_none() && prt.is_none() {
        return Err(ApiError::bad(
            "Bad router request: give subnet_id or port_id",
        ));
    }
    let found = interfaces(c, id).into_iter().find(|(_, pr, sn)| {
        prt.as_deref().is_none_or(|x| s(pr, "name") == x)
            && sub
                .as_deref()
                .is_none_or(|x| sn.as_ref().is_some_and(|s| s.id == x))
    });
    let Some((pu, pr, Some(sn))) = found else {
        return Err(ApiError::not_found(
            "RouterInterfaceNotFoundForSubnet",
            "Router interface",
            &format!("of router {id}"),
        ));
    };
    super::routes::check_interface_unused(c, id, r, &sn)?;
    let port_id = s(pr, "name").to_owned();
    port::detach(c, p, pu);
    if let Some(lrp) = lrp_of(c, &port_id) {
        detach_ref(p, u, "ports", lrp);
    }
    for nu in uuids(r, "nat") {
        if c.r
            .row("NAT", &nu)
            .is_some_and(|n| s(n, "type") == "snat" && s(n, "logical_ip") == sn.cidr.to_string())
        {
            detach_ref(p, u, "nat", &nu);
        }
    }
    Ok(interface_answer(c, id, &port_id, &sn))
}
