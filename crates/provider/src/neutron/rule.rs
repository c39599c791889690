//! One security group rule and its ACL: the OVN match is built from the
//! rule's fields, and the fields are kept in the ACL's `external_ids` so
//! the rule reads back exactly as it was given.

use netswitch_ovsdb::datum::str_map;
use netswitch_ovsdb::{row, Row, Uuid};
use serde_json::{json, Value};

use super::attrs::{self, Obj};
use super::ident::RULE;
use super::ipam::Cidr;
use super::Ctx;
use crate::error::ApiError;
use crate::nb::{key, map};

const RES: &str = "security_group_rule";
const ALLOWED: &[&str] = &[
    "security_group_id",
    "direction",
    "ethertype",
    "protocol",
    "port_range_min",
    "port_range_max",
    "remote_ip_prefix",
    "remote_group_id",
    "description",
    "tenant_id",
    "project_id",
    "remote_address_group_id",
];

/// A rule's fields (description aside, which does not make a rule differ).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rule {
    /// The security group.
    pub group: String,
    /// `ingress` or `egress`.
    pub direction: String,
    /// `IPv4` or `IPv6`.
    pub ethertype: String,
    /// `tcp`, `udp`, `icmp`, a number, or any.
    pub protocol: Option<String>,
    /// Port range (or ICMP type).
    pub min: Option<i64>,
    /// Port range end (or ICMP code).
    pub max: Option<i64>,
    /// Remote CIDR.
    pub remote_prefix: Option<String>,
    /// Remote group id.
    pub remote_group: Option<String>,
}

/// Parses and checks a create body.
pub fn parse(o: &Obj) -> Result<Rule, ApiError> {
    attrs::only(RES, o, ALLOWED)?;
    let group = attrs::string(RES, o, "security_group_id")?
        .ok_or_else(|| ApiError::bad("security_group_id: required for a security_group_rule"))?;
    let direction = attrs::string(RES, o, "direction")?.unwrap_or_default();
    if direction != "ingress" && direction != "egress" {
        return Err(ApiError::bad(format!("Invalid input for direction of security_group_rule: '{direction}' is not ingress or egress")));
    }
    let ethertype = attrs::string(RES, o, "ethertype")?.unwrap_or_else(|| "IPv4".into());
    if ethertype != "IPv4" && ethertype != "IPv6" {
        return Err(ApiError::bad(format!(
            "Invalid input for ethertype of security_group_rule: '{ethertype}' is not IPv4 or IPv6"
        )));
    }
    let protocol = match o.get("protocol") {
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => attrs::string(RES, o, "protocol")?.filter(|p| !p.is_empty() && p != "any"),
    };
    if let Some(p) = &protocol {
        let named = ["tcp", "udp", "sctp", "icmp", "icmpv6", "ipv6-icmp"].contains(&p.as_str());
        if !named && p.parse::<u8>().is_err() {
            return Err(ApiError::bad(format!("Invalid input for protocol of security_group_rule: '{p}' is not a protocol name or 0..255")));
        }
    }
    let min = attrs::int(RES, o, "port_range_min", 0, 65_535)?;
    let max = attrs::int(RES, o, "port_range_max", 0, 65_535)?;
    let l4 = matches!(
        protocol.as_deref(),
        Some("tcp" | "udp" | "sctp" | "6" | "17" | "132")
    );
    if (min.is_some() || max.is_some()) && !l4 && !is_icmp(protocol.as_deref()) {
        return Err(ApiError::bad(
            "port_range_min/max of security_group_rule: need protocol tcp, udp, sctp or icmp",
        ));
    }
    if l4 && min.zip(max).is_some_and(|(a, b)| a > b) {
        return Err(ApiError::bad(
            "port_range_min of security_group_rule: greater than port_range_max",
        ));
    }
    let remote_prefix = attrs::string(RES, o, "remote_ip_prefix")?;
    if let Some(rp) = &remote_prefix {
        let ok = if ethertype == "IPv4" {
            Cidr::parse(rp).is_some()
        } else {
            rp.contains(':') && rp.contains('/')
        };
        if !ok {
            return Err(ApiError::bad(format!("Invalid input for remote_ip_prefix of security_group_rule: '{rp}' is not an {ethertype} network/prefix")));
        }
    }
    let remote_group = attrs::string(RES, o, "remote_group_id")?;
    if remote_prefix.is_some() && remote_group.is_some() {
        return Err(ApiError::bad(
            "security_group_rule: remote_ip_prefix and remote_group_id exclude each other",
        ));
    }
    Ok(Rule {
        group,
        direction,
        ethertype,
        protocol,
        min,
        max,
        remote_prefix,
        remote_group,
    })
}

fn is_icmp(p: Option<&str>) -> bool {
    matches!(p, Some("icmp" | "icmpv6" | "ipv6-icmp" | "1" | "58"))
}

impl Rule {
    /// The OVN match (ovn-nb(5), ACL `match`).
    pub fn ovn_match(&self, pg: &str) -> String {
        let ingress = self.direction == "ingress";
        let ip = if self.ethertype == "IPv4" {
            "ip4"
        } else {
            "ip6"
        };
        let (port, remote) = if ingress {
            ("outport", "src")
        } else {
            ("inport", "dst")
        };
        let mut m = format!("{port} == @{pg} && {ip}");
        if let Some(pfx) = &self.remote_prefix {
            m.push_str(&format!(" && {ip}.{remote} == {pfx}"));
        }
        if let Some(g) = &self.remote_group {
            m.push_str(&format!(
                " && {ip}.{remote} == ${}_{ip}",
                super::secgroup::pg_name(g)
            ));
        }
        let l4 = match self.protocol.as_deref() {
            Some("tcp" | "6") => Some("tcp"),
            Some("udp" | "17") => Some("udp"),
            Some("sctp" | "132") => Some("sctp"),
            _ => None,
        };
        match (l4, self.protocol.as_deref()) {
            (Some(l4), _) => {
                m.push_str(&format!(" && {l4}"));
                match (self.min, self.max) {
                    (Some(a), Some(b)) if a == b => m.push_str(&format!(" && {l4}.dst == {a}")),
                    (Some(a), Some(b)) => {
                        m.push_str(&format!(" && {l4}.dst >= {a} && {l4}.dst <= {b}"))
                    }
                    (Some(a), None) => m.push_str(&format!(" && {l4}.dst >= {a}")),
                    (None, Some(b)) => m.push_str(&format!(" && {l4}.dst <= {b}")),
                    (None, None) => {}
                }
            }
            (None, p) if is_icmp(p) => {
                let icmp = if ip == "ip4" { "icmp4" } else { "icmp6" };
                m.push_str(&format!(" && {icmp}"));
                if let Some(t) = self.min {
                    m.push_str(&format!(" && {icmp}.type == {t}"));
                }
                if let Some(code) = self.max {
                    m.push_str(&format!(" && {icmp}.code == {code}"));
                }
            }
            (None, Some(n)) => m.push_str(&format!(" && ip.proto == {n}")),
            (None, None) => {}
        }
        m
    }

    /// The ACL row of this rule in group `sg` (Port_Group `pg`).
    pub fn acl(&self, sg: &str, pg: &str, project: &str) -> Row {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let num = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
        let ext = [
            ("neutron:security_group_id", sg.to_owned()),
            ("neutron:direction", self.direction.clone()),
            ("neutron:ethertype", self.ethertype.clone()),
            ("neutron:protocol", opt(&self.protocol)),
            ("neutron:port_range_min", num(self.min)),
            ("neutron:port_range_max", num(self.max)),
            ("neutron:remote_ip_prefix", opt(&self.remote_prefix)),
            ("neutron:remote_group_id", opt(&self.remote_group)),
            ("neutron:project_id", project.to_owned()),
        ];
        row([
            (
                "direction",
                json!(if self.direction == "ingress" {
                    "to-lport"
                } else {
                    "from-lport"
                }),
            ),
            ("priority", json!(1002)),
            ("action", json!("allow-related")),
            ("match", json!(self.ovn_match(pg))),
            (
                "external_ids",
                str_map(ext.iter().map(|(k, v)| (*k, v.as_str()))),
            ),
        ])
    }

    /// The rule an ACL row was made from (`None` for other ACLs).
    pub fn from_acl(a: &Row) -> Option<Rule> {
        let e = map(a, "external_ids");
        let opt = |k: &str| e.get(k).filter(|v| !v.is_empty()).cloned();
        Some(Rule {
            group: e.get("neutron:security_group_id")?.clone(),
            direction: e.get("neutron:direction")?.clone(),
            ethertype: e.get("neutron:ethertype")?.clone(),
            protocol: opt("neutron:protocol"),
            min: opt("neutron:port_range_min").and_then(|v| v.parse().ok()),
            max: opt("neutron:port_range_max").and_then(|v| v.parse().ok()),
            remote_prefix: opt("neutron:remote_ip_prefix"),
            remote_group: opt("neutron:remote_group_id"),
        })
    }
}

/// A rule as Neutron shows it; `Null` for ACLs that are not rules.
pub fn render(c: &Ctx, u: &Uuid, a: &Row) -> Value {
    let Some(r) = Rule::from_acl(a) else {
        return Value::Null;
    };
    let project = key(a, "external_ids", "neutron:project_id").unwrap_or(c.project);
    json!({
        "id": RULE.id_of(u, a), "security_group_id": r.group, "direction": r.direction,
        "ethertype": r.ethertype, "protocol": r.protocol, "port_range_min": r.min,
        "port_range_max": r.max, "remote_ip_prefix": r.remote_prefix,
        "remote_group_id": r.remote_group, "remote_address_group_id": null,
        "tenant_id": project, "project_id": project, "description": "",
        "revision_number": 0, "tags": [],
    })
}

/// Stores the rule's Neutron id in its ACL's `external_ids`.
pub fn set_id(acl: &mut Row, id: &str) {
    if let Some(pairs) = acl
        .get_mut("external_ids")
        .and_then(|m| m.get_mut(1))
        .and_then(Value::as_array_mut)
    {
        pairs.push(json!([RULE.key, id]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_read_as_ovn_expects() {
        let r = Rule {
            direction: "ingress".into(),
            ethertype: "IPv4".into(),
            protocol: Some("tcp".into()),
            min: Some(22),
            max: Some(22),
            remote_prefix: Some("10.0.0.0/8".into()),
            ..Rule::default()
        };
        assert_eq!(
            r.ovn_match("pg_x"),
            "outport == @pg_x && ip4 && ip4.src == 10.0.0.0/8 && tcp && tcp.dst == 22"
        );
        let r = Rule {
            direction: "egress".into(),
            ethertype: "IPv4".into(),
            protocol: Some("icmp".into()),
            min: Some(8),
            ..Rule::default()
        };
        assert_eq!(
            r.ovn_match("pg_x"),
            "inport == @pg_x && ip4 && icmp4 && icmp4.type == 8"
        );
    }
}
