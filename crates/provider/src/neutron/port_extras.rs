//! A port update's `allowed_address_pairs` and `extra_dhcp_opts` (see
//! `pairs` and `dhcpopts`), read against what the port has.

use std::net::Ipv4Addr;

use netswitch_ovsdb::Row;
use serde_json::Value;

use super::attrs::Obj;
use super::dhcpopts::{self, Opt};
use super::pairs::{self, Pair};
use super::port::dhcp_for;
use super::{Ctx, Plan};
use crate::error::ApiError;
use crate::nb::key;

/// An update's allowed address pairs, DHCP options and `dhcpv4_options`:
/// the body's when given (pairs replace, options merge as Neutron's do),
/// else the port's. Pairs need port security (409); router ports take
/// neither (400).
#[allow(clippy::type_complexity)]
pub(super) fn extras(
    c: &Ctx,
    p: &mut Plan,
    (id, r): (&str, &Row),
    o: &Obj,
    (mac, net, ips): (&str, &str, &[Ipv4Addr]),
    security: bool,
    router: bool,
) -> Result<(Vec<Pair>, Vec<Opt>, Option<Value>), ApiError> {
    let pairs = match o.get("allowed_address_pairs") {
        Some(v) => pairs::parse(v, mac)?,
        None => pairs::decode(key(r, "external_ids", pairs::KEY)),
    };
    let old = dhcpopts::decode(key(r, "external_ids", dhcpopts::KEY));
    let opts = match o.get("extra_dhcp_opts") {
        Some(v) => dhcpopts::merge(old.clone(), v)?,
        None => old.clone(),
    };
    if router && (!pairs.is_empty() || !opts.is_empty()) {
        return Err(ApiError::bad(format!(
            "Invalid input for allowed_address_pairs or extra_dhcp_opts of port: port {id} is a router's port"
        )));
    }
    if !pairs.is_empty() && !security {
        return Err(pairs::need_security(id));
    }
    let sn = dhcp_for(c, net, ips);
    let dhcp = if opts.is_empty() && old.is_empty() {
        sn.map(|s| s.row.to_json())
    } else {
        let changed = opts != old || o.contains_key("fixed_ips");
        dhcpopts::plan(c, p, id, sn.as_ref(), &opts, changed)?
    };
    Ok((pairs, opts, dhcp))
}
