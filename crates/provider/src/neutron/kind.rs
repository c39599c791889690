//! The resources, and the dispatch from a URL's collection name to each
//! resource's list/show/create/update/delete.

use serde_json::Value;

use super::attrs::Obj;
use super::query::ListQuery;
use super::{fip, network, port, router, secgroup, subnet, Ctx, Plan};
use crate::error::ApiError;

/// One Neutron resource type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `networks`: Logical_Switch.
    Network,
    /// `subnets`: DHCP_Options.
    Subnet,
    /// `ports`: Logical_Switch_Port.
    Port,
    /// `security-groups`: Port_Group.
    SecurityGroup,
    /// `security-group-rules`: ACL.
    SecurityGroupRule,
    /// `routers`: Logical_Router.
    Router,
    /// `floatingips`: NAT `dnat_and_snat`.
    FloatingIp,
}

impl Kind {
    /// Every resource, in the order `GET /v2.0/` lists them.
    pub const ALL: [Kind; 7] = [
        Kind::Network,
        Kind::Subnet,
        Kind::Port,
        Kind::SecurityGroup,
        Kind::SecurityGroupRule,
        Kind::Router,
        Kind::FloatingIp,
    ];

    /// The resource of a collection's URL segment.
    pub fn from_plural(s: &str) -> Option<Kind> {
        Self::ALL.into_iter().find(|k| k.url() == s)
    }

    /// The collection's URL segment (`security-groups`).
    pub fn url(self) -> &'static str {
        match self {
            Kind::SecurityGroup => "security-groups",
            Kind::SecurityGroupRule => "security-group-rules",
            k => k.plural(),
        }
    }

    /// The collection name in URLs and list bodies.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Network => "networks",
            Kind::Subnet => "subnets",
            Kind::Port => "ports",
            Kind::SecurityGroup => "security_groups",
            Kind::SecurityGroupRule => "security_group_rules",
            Kind::Router => "routers",
            Kind::FloatingIp => "floatingips",
        }
    }

    /// The key of one object in bodies.
    pub fn singular(self) -> &'static str {
        match self {
            Kind::Network => "network",
            Kind::Subnet => "subnet",
            Kind::Port => "port",
            Kind::SecurityGroup => "security_group",
            Kind::SecurityGroupRule => "security_group_rule",
            Kind::Router => "router",
            Kind::FloatingIp => "floatingip",
        }
    }

    /// Every object, rendered (the query may let a resource skip work).
    pub fn list(self, c: &Ctx, q: &ListQuery) -> Result<Vec<Value>, ApiError> {
        Ok(match self {
            Kind::Network => network::list(c),
            Kind::Subnet => subnet::list(c),
            Kind::Port => port::list(c, q),
            Kind::SecurityGroup => secgroup::list(c),
            Kind::SecurityGroupRule => secgroup::list_rules(c),
            Kind::Router => router::list(c),
            Kind::FloatingIp => fip::list(c),
        })
    }

    /// One object by id, or 404.
    pub fn show(self, c: &Ctx, id: &str) -> Result<Value, ApiError> {
        match self {
            Kind::Network => network::show(c, id),
            Kind::Subnet => subnet::show(c, id),
            Kind::Port => port::show(c, id),
            Kind::SecurityGroup => secgroup::show(c, id),
            Kind::SecurityGroupRule => secgroup::show_rule(c, id),
            Kind::Router => router::show(c, id),
            Kind::FloatingIp => fip::show(c, id),
        }
    }

    /// Objects by id (the answer of a create), or 404.
    pub fn show_many(self, c: &Ctx, ids: &[String]) -> Result<Vec<Value>, ApiError> {
        match self {
            Kind::Port => port::show_many(c, ids),
            k => ids.iter().map(|id| k.show(c, id)).collect(),
        }
    }

    /// Plans one create.
    pub fn create(self, c: &Ctx, p: &mut Plan, o: &Obj) -> Result<(), ApiError> {
        match self {
            Kind::Network => network::create(c, p, o),
            Kind::Subnet => subnet::create(c, p, o),
            Kind::Port => port::create(c, p, o),
            Kind::SecurityGroup => secgroup::create(c, p, o),
            Kind::SecurityGroupRule => secgroup::create_rule(c, p, o),
            Kind::Router => router::create(c, p, o),
            Kind::FloatingIp => fip::create(c, p, o),
        }
    }

    /// Plans one update.
    pub fn update(self, c: &Ctx, p: &mut Plan, id: &str, o: &Obj) -> Result<(), ApiError> {
        match self {
            Kind::Network => network::update(c, p, id, o),
            Kind::Subnet => subnet::update(c, p, id, o),
            Kind::Port => port::update(c, p, id, o),
            Kind::SecurityGroup => secgroup::update(c, p, id, o),
            Kind::SecurityGroupRule => Err(ApiError::bad(
                "security_group_rule: rules cannot be updated; delete and create",
            )),
            Kind::Router => router::update(c, p, id, o),
            Kind::FloatingIp => fip::update(c, p, id, o),
        }
    }

    /// Plans one delete.
    pub fn delete(self, c: &Ctx, p: &mut Plan, id: &str) -> Result<(), ApiError> {
        match self {
            Kind::Network => network::delete(c, p, id),
            Kind::Subnet => subnet::delete(c, p, id),
            Kind::Port => port::delete(c, p, id),
            Kind::SecurityGroup => secgroup::delete(c, p, id),
            Kind::SecurityGroupRule => secgroup::delete_rule(c, p, id),
            Kind::Router => router::delete(c, p, id),
            Kind::FloatingIp => fip::delete(c, p, id),
        }
    }
}
