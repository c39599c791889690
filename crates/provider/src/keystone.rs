//! Keystone, as much as Neutron clients need: v3 `GET /v3` and `POST
//! /v3/auth/tokens` (password method), v2.0 `POST /v2.0/tokens`, users from
//! the config, random tokens that expire, and the check every Neutron call
//! makes on `X-Auth-Token`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::config::Config;
use crate::error::ApiError;
use crate::http::{Handler, Request, Response};
use crate::ids;

/// A token's holder.
#[derive(Clone, Debug)]
pub struct Session {
    /// The user name.
    pub user: String,
    /// The project, when the token is scoped.
    pub project: Option<String>,
    /// Seconds since the epoch when it stops working.
    pub expires: u64,
}

/// The token store, shared by both listeners.
pub struct Tokens {
    config: Arc<Config>,
    live: Mutex<HashMap<String, Session>>,
}

impl Tokens {
    /// An empty store.
    pub fn new(config: Arc<Config>) -> Self {
        Self {
            config,
            live: Mutex::new(HashMap::new()),
        }
    }

    /// A new token for `user` if the password matches.
    fn issue(
        &self,
        user: &str,
        password: &str,
        project: Option<String>,
    ) -> Option<(String, Session)> {
        let known = self.config.users.get(user)?;
        if !constant_time_eq(known.as_bytes(), password.as_bytes()) {
            return None;
        }
        let s = Session {
            user: user.to_owned(),
            project,
            expires: ids::now() + self.config.token_lifetime_secs,
        };
        let tok = ids::token();
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let now = ids::now();
        live.retain(|_, s| s.expires > now);
        live.insert(tok.clone(), s.clone());
        Some((tok, s))
    }

    /// The session of a live token.
    pub fn check(&self, token: Option<&str>) -> Result<Session, ApiError> {
        let token = token.ok_or_else(ApiError::unauthorized)?;
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        match live.get(token) {
            Some(s) if s.expires > ids::now() => Ok(s.clone()),
            _ => Err(ApiError::unauthorized()),
        }
    }
}

/// Compares without an early exit, so timing does not leak a prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The Keystone listener.
pub struct Keystone {
    config: Arc<Config>,
    tokens: Arc<Tokens>,
}

impl Keystone {
    /// Keystone over `tokens`.
    pub fn new(config: Arc<Config>, tokens: Arc<Tokens>) -> Self {
        Self { config, tokens }
    }

    fn route(&self, req: &Request) -> Result<Response, ApiError> {
        let path = collapse_slashes(&req.path);
        match (req.method.as_str(), path.trim_end_matches('/')) {
            ("GET", "") => Ok(Response::json(300, &self.versions())),
            ("GET", "/v3") => Ok(Response::json(200, &json!({"version": self.v3_version()}))),
            ("GET", "/v2.0") => Ok(Response::json(200, &json!({"version": self.v2_version()}))),
            ("POST", "/v3/auth/tokens") => self.v3_tokens(req),
            ("POST", "/v2.0/tokens") => self.v2_tokens(req),
            ("GET", "/v3/auth/tokens") => self.v3_validate(req),
            _ => Err(ApiError::new(
                404,
                "HTTPNotFound",
                format!("no resource {}", req.path),
            )),
        }
    }

    fn versions(&self) -> Value {
        json!({"versions": {"values": [self.v3_version(), self.v2_version()]}})
    }

    fn v3_version(&self) -> Value {
        let url = format!("{}/v3/", self.config.keystone_base());
        json!({"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
               "links": [{"rel": "self", "href": url}],
               "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]})
    }

    fn v2_version(&self) -> Value {
        let url = format!("{}/v2.0/", self.config.keystone_base());
        json!({"id": "v2.0", "status": "deprecated", "updated": "2016-08-04T00:00:00Z",
               "links": [{"rel": "self", "href": url}],
               "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v2.0+json"}]})
    }

    fn v3_tokens(&self, req: &Request) -> Result<Response, ApiError> {
        let body: Value = serde_json::from_slice(&req.body)
            .map_err(|e| ApiError::bad(format!("auth: the body is not JSON: {e}")))?;
        let auth = &body["auth"];
        let methods = auth["identity"]["methods"].as_array();
        if !methods.is_some_and(|m| m.iter().any(|x| x == "password")) {
            return Err(ApiError::bad(
                "auth.identity.methods: only \"password\" is supported",
            ));
        }
        let user = &auth["identity"]["password"]["user"];
        let (Some(name), Some(pw)) = (user["name"].as_str(), user["password"].as_str()) else {
            return Err(ApiError::bad(
                "auth.identity.password.user: name and password are required",
            ));
        };
        let project = self.scope(&auth["scope"])?;
        let (tok, s) = self.tokens.issue(name, pw, project).ok_or_else(|| {
            ApiError::new(
                401,
                "Unauthorized",
                "The request you have made requires authentication.",
            )
        })?;
        let mut r = Response::json(201, &json!({"token": self.v3_token_body(&s)}));
        r.headers.push(("X-Subject-Token".into(), tok));
        Ok(r)
    }

    /// The project a v3 request scopes to: ours, by name or id; `None`
    /// unscoped.
    fn scope(&self, scope: &Value) -> Result<Option<String>, ApiError> {
        let p = &scope["project"];
        if p.is_null() {
            return Ok(None);
        }
        let named = p["name"].as_str().or_else(|| p["id"].as_str());
        match named {
            Some(n) if n == self.config.project || n == project_id(&self.config) => {
                Ok(Some(self.config.project.clone()))
            }
            _ => Err(ApiError::new(
                401,
                "Unauthorized",
                "auth.scope.project: no such project for this user",
            )),
        }
    }

    fn v3_token_body(&self, s: &Session) -> Value {
        let mut t = json!({
            "methods": ["password"],
            "expires_at": ids::iso8601(s.expires),
            "issued_at": ids::iso8601(ids::now()),
            "user": {"id": user_id(&s.user), "name": s.user, "domain": {"id": "default", "name": "Default"}},
            "audit_ids": [],
            "catalog": self.v3_catalog(),
        });
        if s.project.is_some() {
            t["project"] = json!({"id": project_id(&self.config), "name": self.config.project,
                                  "domain": {"id": "default", "name": "Default"}});
            t["roles"] = json!([{"id": "admin", "name": "admin"}]);
        }
        t
    }

    fn v3_catalog(&self) -> Value {
        let region = &self.config.region;
        let eps = |url: String| -> Value {
            json!(["public", "internal", "admin"]
                .iter()
                .map(|i| json!({
                "id": format!("{i}-{url}"), "interface": i, "region": region,
                "region_id": region, "url": url}))
                .collect::<Vec<_>>())
        };
        json!([
            {"type": "network", "name": "neutron", "id": "network",
             "endpoints": eps(self.config.neutron_base())},
            {"type": "identity", "name": "keystone", "id": "identity",
             "endpoints": eps(format!("{}/v3", self.config.keystone_base()))},
        ])
    }

    fn v3_validate(&self, req: &Request) -> Result<Response, ApiError> {
        self.tokens.check(req.header("x-auth-token"))?;
        let s = self.tokens.check(req.header("x-subject-token"))?;
        Ok(Response::json(
            200,
            &json!({"token": self.v3_token_body(&s)}),
        ))
    }

    fn v2_tokens(&self, req: &Request) -> Result<Response, ApiError> {
        let body: Value = serde_json::from_slice(&req.body)
            .map_err(|e| ApiError::bad(format!("auth: the body is not JSON: {e}")))?;
        let auth = &body["auth"];
        let creds = &auth["passwordCredentials"];
        let (Some(name), Some(pw)) = (creds["username"].as_str(), creds["password"].as_str())
        else {
            return Err(ApiError::bad(
                "auth.passwordCredentials: username and password are required",
            ));
        };
        let tenant = auth["tenantName"]
            .as_str()
            .or_else(|| auth["tenantId"].as_str());
        let project = match tenant {
            None => None,
            Some(t) if t == self.config.project || t == project_id(&self.config) => {
                Some(self.config.project.clone())
            }
            Some(_) => {
                return Err(ApiError::new(
                    401,
                    "Unauthorized",
                    "auth.tenantName: no such tenant",
                ))
            }
        };
        let (tok, s) = self
            .tokens
            .issue(name, pw, project)
            .ok_or_else(|| ApiError::new(401, "Unauthorized", "Invalid user / password"))?;
        Ok(Response::json(200, &self.v2_access(&tok, &s)))
    }

    fn v2_access(&self, tok: &str, s: &Session) -> Value {
        let tenant =
            json!({"id": project_id(&self.config), "name": self.config.project, "enabled": true});
        let ep = |url: String| {
            json!([{"publicURL": url, "internalURL": url, "adminURL": url,
                                        "region": self.config.region, "id": "1"}])
        };
        let mut token = json!({"id": tok, "expires": ids::iso8601(s.expires),
                               "issued_at": ids::iso8601(ids::now())});
        if s.project.is_some() {
            token["tenant"] = tenant;
        }
        json!({"access": {
            "token": token,
            "user": {"id": user_id(&s.user), "name": s.user, "username": s.user,
                     "roles": [{"name": "admin"}], "roles_links": []},
            "serviceCatalog": [
                {"type": "network", "name": "neutron", "endpoints": ep(self.config.neutron_base()), "endpoints_links": []},
                {"type": "identity", "name": "keystone", "endpoints": ep(format!("{}/v2.0", self.config.keystone_base())), "endpoints_links": []},
            ],
            "metadata": {"is_admin": 0, "roles": []},
        }})
    }
}

impl Handler for Keystone {
    fn handle(&self, req: &Request) -> Response {
        self.route(req).unwrap_or_else(|e| keystone_error(&e))
    }
}

/// Keystone's own error shape.
fn keystone_error(e: &ApiError) -> Response {
    Response::json(
        e.status,
        &json!({"error": {"code": e.status, "title": e.kind, "message": e.message}}),
    )
}

/// `//tokens` and the like: oVirt engine joins URLs with a doubled slash.
fn collapse_slashes(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for c in p.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    out
}

/// A stable id for a user name (Keystone ids are opaque strings).
pub fn user_id(name: &str) -> String {
    format!("user-{name}")
}

/// The project's id: its name, hex-encoded into 32 digits, stable across
/// restarts.
pub fn project_id(c: &Config) -> String {
    let mut h: u128 = 0xcbf2_9ce4_8422_2325;
    for b in c.project.bytes() {
        h = (h ^ u128::from(b)).wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    format!("{h:032x}")
}
