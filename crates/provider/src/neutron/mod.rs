//! Neutron v2.0 over the NB: routing, authentication, and the plan-commit-
//! render cycle every resource shares. A mutating call plans its ops on the
//! replica under the writer lock (so its IPs and MACs are checked against
//! everything committed), commits them as one transaction, then renders the
//! result from the replica, which already holds it.

mod alloc;
mod attrs;
mod dhcpnames;
mod dhcpopts;
mod extensions;
mod fip;
mod gwchassis;
mod ident;
mod iface;
pub mod ipam;
mod json;
mod kind;
mod network;
mod pairs;
mod port;
mod port_extras;
pub mod query;
mod router;
mod routes;
mod rule;
mod secgroup;
mod subnet;

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

use netswitch_ovsdb::datum::set;
use netswitch_ovsdb::{Condition, Mutation, Mutator, Op, Replica, Uuid};
use serde_json::{json, Value};

use crate::config::Config;
use crate::error::ApiError;
use crate::http::{Handler, Request, Response};
use crate::keystone::{project_id, Tokens};
use crate::nb::Nb;
use crate::sb::Sb;
use ident::Guard;
pub use kind::Kind;
use query::ListQuery;

/// What a call plans against: the replica and the caller's project.
pub struct Ctx<'a> {
    /// The NB as committed.
    pub r: &'a Replica,
    /// The project new objects belong to.
    pub project: &'a str,
    /// Where routers' gateway ports may be bound ([`Config::gateway_chassis`]).
    pub gateway_chassis: &'a [String],
    /// The southbound DB, when `sb_remotes` is set: where gateway chassis
    /// are chosen from when `gateway_chassis` is empty.
    pub sb: Option<&'a Sb>,
}

/// A call's ops, with what they already claim (IPs, MACs) so a bulk create
/// does not hand out the same address twice.
#[derive(Default)]
pub struct Plan {
    /// The transaction.
    pub ops: Vec<Op>,
    /// `(network id, address)` taken by this plan.
    pub ips: HashSet<(String, Ipv4Addr)>,
    /// `(network id, MAC)` taken by this plan.
    pub macs: HashSet<(String, String)>,
    /// The objects created, in request order.
    pub created: Vec<Created>,
    /// What is taken per network id, committed and planned (built once
    /// per network per call; see `alloc`).
    pub taken: std::collections::HashMap<String, alloc::Taken>,
    /// Ports this plan adds to each switch (by row uuid), as named uuids:
    /// one mutation per switch however many ports a bulk create makes
    /// (see [`Plan::finish`]).
    pub switch_ports: std::collections::BTreeMap<String, Vec<Value>>,
    /// Rows this plan inserts that later items of a bulk create reuse
    /// (the default security group, the drop group), by key.
    pub memo: std::collections::HashMap<String, usize>,
    /// The first create's guard (`ident`): makes the transaction safe
    /// to re-send after a leader's death.
    pub guard: Option<Guard>,
    names: usize,
}

/// How to find a created object once committed.
pub enum Created {
    /// By its id, made before the transaction (`ident`).
    Id(String),
}

impl Plan {
    /// A fresh uuid-name for an insert of this transaction.
    pub fn name(&mut self, prefix: &str) -> String {
        self.names += 1;
        format!("{prefix}{}", self.names)
    }

    /// Sets the transaction's guard, unless an earlier object of the plan
    /// did: the transaction commits whole, so one row tells.
    pub fn guard(&mut self, g: Guard) {
        if self.guard.is_none() {
            self.guard = Some(g);
        }
    }

    /// Appends the ops gathered by kind rather than in order (the
    /// switches' new ports; the inserts they name precede them) and puts
    /// the guard first. Called once, by the commit (op indices shift).
    pub fn finish(&mut self) {
        for (ls, ports) in std::mem::take(&mut self.switch_ports) {
            self.ops.push(Op::mutate(
                "Logical_Switch",
                vec![Condition::uuid(&Uuid(ls))],
                vec![Mutation::new("ports", Mutator::Insert, set(ports))],
            ));
        }
        if let Some(g) = &self.guard {
            // First: ops see the rows earlier ops of the same transaction
            // inserted, and the guard must see only what was there before.
            self.ops.insert(0, g.op());
        }
    }

    /// Appends `op`, returning its index.
    pub fn push(&mut self, op: Op) -> usize {
        self.ops.push(op);
        self.ops.len() - 1
    }
}

/// The Neutron listener.
pub struct Neutron {
    config: Arc<Config>,
    tokens: Arc<Tokens>,
    nb: Arc<Nb>,
    sb: Option<Arc<Sb>>,
    project: String,
}

impl Neutron {
    /// Neutron over `nb`.
    pub fn new(config: Arc<Config>, tokens: Arc<Tokens>, nb: Arc<Nb>) -> Self {
        let project = project_id(&config);
        Self {
            config,
            tokens,
            nb,
            sb: None,
            project,
        }
    }

    /// Chooses gateway chassis from `sb` (see `gwchassis`).
    pub fn with_sb(mut self, sb: Option<Arc<Sb>>) -> Self {
        self.sb = sb;
        self
    }

    fn route(&self, req: &Request) -> Result<Response, ApiError> {
        let path = req.path.trim_end_matches('/');
        let path = path.strip_suffix(".json").unwrap_or(path);
        if path.is_empty() && req.method == "GET" {
            return Ok(Response::json(200, &self.versions()));
        }
        self.tokens.check(req.header("x-auth-token"))?;
        let rest = path
            .strip_prefix("/v2.0")
            .ok_or_else(|| not_found_path(&req.path))?;
        let seg: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        match (req.method.as_str(), seg.as_slice()) {
            ("GET", []) => Ok(Response::json(200, &self.resources())),
            ("GET", ["extensions"]) => Ok(Response::json(200, &extensions::list())),
            ("GET", ["extensions", alias]) => extensions::show(alias),
            (m, [res, rest @ ..]) => {
                let kind = Kind::from_plural(res).ok_or_else(|| not_found_path(&req.path))?;
                self.resource(req, m, kind, rest)
            }
            _ => Err(not_found_path(&req.path)),
        }
    }

    fn resource(
        &self,
        req: &Request,
        m: &str,
        kind: Kind,
        rest: &[&str],
    ) -> Result<Response, ApiError> {
        match (m, rest) {
            ("GET", []) => self.list(req, kind),
            ("POST", []) => self.create(req, kind),
            ("GET", [id]) => self.show(req, kind, id),
            ("PUT", [id]) => self.update(req, kind, id),
            ("DELETE", [id]) => self.delete(kind, id),
            ("PUT", [id, action]) if kind == Kind::Router => self.router_action(req, id, action),
            (_, [] | [_]) => Err(ApiError::new(
                405,
                "HTTPMethodNotAllowed",
                format!("{m} is not allowed on {}", req.path),
            )),
            _ => Err(not_found_path(&req.path)),
        }
    }

    fn ctx<'a>(&'a self, r: &'a Replica) -> Ctx<'a> {
        Ctx {
            r,
            project: &self.project,
            gateway_chassis: &self.config.gateway_chassis,
            sb: self.sb.as_deref(),
        }
    }

    fn list(&self, req: &Request, kind: Kind) -> Result<Response, ApiError> {
        let q = ListQuery::parse(&req.query)?;
        if kind == Kind::Port && q.plain() {
            return self.list_plain(kind, &q);
        }
        let items = self.nb.read(|r| kind.list(&self.ctx(r), &q))?;
        let items = q.apply(items)?;
        let n = items.len();
        let last = items
            .last()
            .and_then(|o| o.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut body = json!({ kind.plural(): items });
        if let Some(links) = self.next_link(kind, &q, n, last) {
            body[format!("{}_links", kind.plural())] = links;
        }
        Ok(Response::json(200, &body))
    }

    /// A plain list written straight from the replica's rows into the
    /// body (ports: the long lists oVirt asks for on every allocation).
    fn list_plain(&self, kind: Kind, q: &ListQuery) -> Result<Response, ApiError> {
        let mut body = Vec::with_capacity(1 << 16);
        body.extend_from_slice(format!("{{\"{}\":", kind.plural()).as_bytes());
        let (n, last) = self
            .nb
            .read(|r| port::write_list(&self.ctx(r), q, &mut body))?;
        if let Some(links) = self.next_link(kind, q, n, last) {
            body.extend_from_slice(format!(",\"{}_links\":{links}", kind.plural()).as_bytes());
        }
        body.push(b'}');
        Ok(Response {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body,
        })
    }

    /// The `next` link of a full page.
    fn next_link(
        &self,
        kind: Kind,
        q: &ListQuery,
        n: usize,
        last: Option<String>,
    ) -> Option<Value> {
        let last = last.filter(|_| q.full_page(n))?;
        let href = format!(
            "{}/v2.0/{}?limit={n}&marker={last}",
            self.config.neutron_base(),
            kind.url(),
        );
        Some(json!([{"rel": "next", "href": href}]))
    }

    fn show(&self, req: &Request, kind: Kind, id: &str) -> Result<Response, ApiError> {
        let q = ListQuery::parse(&req.query)?;
        let o = self.nb.read(|r| kind.show(&self.ctx(r), id))?;
        Ok(Response::json(200, &json!({ kind.singular(): q.trim(o) })))
    }

    fn create(&self, req: &Request, kind: Kind) -> Result<Response, ApiError> {
        let body = parse_body(req)?;
        let (objs, bulk) = match (body.get(kind.singular()), body.get(kind.plural())) {
            (Some(Value::Object(o)), None) => (vec![o.clone()], false),
            (None, Some(Value::Array(a))) if !a.is_empty() => (
                a.iter()
                    .map(|o| {
                        o.as_object().cloned().ok_or_else(|| {
                            ApiError::bad(format!("{}: each item must be an object", kind.plural()))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                true,
            ),
            _ => {
                return Err(ApiError::bad(format!(
                    "the body must hold \"{}\": {{...}} or \"{}\": [{{...}}, ...]",
                    kind.singular(),
                    kind.plural()
                )))
            }
        };
        let _w = self.nb.writer();
        let mut plan = self.nb.read(|r| -> Result<Plan, ApiError> {
            let ctx = self.ctx(r);
            let mut plan = Plan::default();
            for o in &objs {
                kind.create(&ctx, &mut plan, o)?;
            }
            Ok(plan)
        })?;
        self.nb.commit(&mut plan)?;
        let ids: Vec<String> = plan
            .created
            .iter()
            .map(|Created::Id(id)| id.clone())
            .collect();
        let out = self.nb.read(|r| -> Result<Vec<Value>, ApiError> {
            let ctx = self.ctx(r);
            kind.show_many(&ctx, &ids)
        })?;
        tracing::info!(kind = kind.singular(), n = out.len(), "created");
        Ok(Response::json(
            201,
            &if bulk {
                json!({ kind.plural(): out })
            } else {
                json!({ kind.singular(): out.into_iter().next() })
            },
        ))
    }

    fn update(&self, req: &Request, kind: Kind, id: &str) -> Result<Response, ApiError> {
        let body = parse_body(req)?;
        let o = body
            .get(kind.singular())
            .and_then(Value::as_object)
            .ok_or_else(|| {
                ApiError::bad(format!(
                    "the body must hold \"{}\": {{...}}",
                    kind.singular()
                ))
            })?;
        let _w = self.nb.writer();
        let mut plan = self.nb.read(|r| -> Result<Plan, ApiError> {
            let mut plan = Plan::default();
            kind.update(&self.ctx(r), &mut plan, id, o)?;
            Ok(plan)
        })?;
        self.nb.commit(&mut plan)?;
        let out = self.nb.read(|r| kind.show(&self.ctx(r), id))?;
        Ok(Response::json(200, &json!({ kind.singular(): out })))
    }

    fn delete(&self, kind: Kind, id: &str) -> Result<Response, ApiError> {
        let _w = self.nb.writer();
        let mut plan = self.nb.read(|r| -> Result<Plan, ApiError> {
            let mut plan = Plan::default();
            kind.delete(&self.ctx(r), &mut plan, id)?;
            Ok(plan)
        })?;
        self.nb.commit(&mut plan)?;
        tracing::info!(kind = kind.singular(), id, "deleted");
        Ok(Response::empty(204))
    }

    fn router_action(&self, req: &Request, id: &str, action: &str) -> Result<Response, ApiError> {
        let body = parse_body(req)?;
        let _w = self.nb.writer();
        let (mut plan, answer) = self.nb.read(|r| -> Result<(Plan, Value), ApiError> {
            let mut plan = Plan::default();
            let ctx = self.ctx(r);
            let a = match action {
                "add_router_interface" => iface::add_interface(&ctx, &mut plan, id, &body)?,
                "remove_router_interface" => iface::remove_interface(&ctx, &mut plan, id, &body)?,
                "add_extraroutes" | "remove_extraroutes" => {
                    let add = action == "add_extraroutes";
                    router::extra_routes(&ctx, &mut plan, id, &body, add)?;
                    Value::Null
                }
                _ => return Err(not_found_path(&req.path)),
            };
            Ok((plan, a))
        })?;
        self.nb.commit(&mut plan)?;
        if answer.is_null() {
            // The extraroute actions answer with the router as it now is.
            let out = self.nb.read(|r| router::show(&self.ctx(r), id))?;
            return Ok(Response::json(200, &json!({ "router": out })));
        }
        Ok(Response::json(200, &answer))
    }

    fn versions(&self) -> Value {
        json!({"versions": [{"id": "v2.0", "status": "CURRENT",
            "links": [{"rel": "self", "href": format!("{}/v2.0/", self.config.neutron_base())}]}]})
    }

    fn resources(&self) -> Value {
        let base = self.config.neutron_base();
        let res: Vec<Value> = Kind::ALL
            .iter()
            .map(|k| {
                json!({"name": k.singular(), "collection": k.plural(),
                "links": [{"rel": "self", "href": format!("{base}/v2.0/{}", k.url())}]})
            })
            .collect();
        json!({ "resources": res })
    }
}

fn parse_body(req: &Request) -> Result<serde_json::Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(ApiError::bad("the body must be a JSON object")),
        Err(e) => Err(ApiError::bad(format!("the body is not JSON: {e}"))),
    }
}

fn not_found_path(p: &str) -> ApiError {
    ApiError::new(
        404,
        "HTTPNotFound",
        format!("The resource {p} could not be found."),
    )
}

impl Handler for Neutron {
    fn handle(&self, req: &Request) -> Response {
        match self.route(req) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(method = %req.method, path = %req.path, error = %e, "refused");
                e.response()
            }
        }
    }
}
