//! A blocking client for an external network provider: Keystone (v3 and
//! v2.0, password auth) and Neutron v2.0 (networks, subnets, ports,
//! security groups), over HTTP/1.1 or rustls TLS with a CA file of the
//! caller's choice. What `netswitch provider` and `vnic plug --provider`
//! use to allocate ports the way oVirt engine does (docs/api.md §11).
//!
//! Every failure is an [`Error`] with a VDSM code; Neutron's own error
//! message (`NeutronError.message`) is carried into it.

mod error;
pub mod http;
pub mod keystone;
mod neutron;
pub mod url;
mod vnic_id;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

pub use error::Error;
pub use keystone::{Credentials, Token, Version};
pub use neutron::{Network, Port, PortRequest};
pub use vnic_id::vnic_id;

use http::{Answer, Transport};
use url::Url;

/// Where a provider is and how to reach it.
#[derive(Debug, Clone)]
pub struct Settings {
    pub credentials: Credentials,
    /// Neutron's URL; `None`: the catalog's public `network` endpoint.
    pub url: Option<String>,
    /// The catalog region to take the endpoint from.
    pub region: Option<String>,
    /// PEM CAs trusted for https (else the system bundle).
    pub ca_file: Option<PathBuf>,
    /// Per connect and per read.
    pub timeout: Duration,
}

/// A client of one provider. The token is kept until shortly before it
/// expires, so the calls of one verb authenticate once.
pub struct Client {
    settings: Settings,
    transport: Transport,
    token: Option<Token>,
    neutron: Option<Url>,
}

impl Client {
    /// A client; nothing is sent until the first call. A bad URL is
    /// refused here (21).
    pub fn new(settings: Settings) -> Result<Client, Error> {
        keystone::versioned(&settings.credentials.auth_url, settings.credentials.version)?;
        let neutron = settings.url.as_deref().map(Url::parse).transpose()?;
        Ok(Client {
            transport: Transport::new(settings.ca_file.as_deref(), settings.timeout),
            settings,
            token: None,
            neutron,
        })
    }

    /// A valid token: the cached one, or a new one from Keystone.
    pub fn token(&mut self) -> Result<&Token, Error> {
        let margin = Duration::from_secs(30);
        if !self.token.as_ref().is_some_and(|t| t.fresh(margin)) {
            let t = keystone::authenticate(&self.transport, &self.settings.credentials)?;
            tracing::debug!(auth = %self.settings.credentials.auth_url, "keystone token");
            self.token = Some(t);
        }
        self.token.as_ref().ok_or_else(|| Error::Protocol {
            url: self.settings.credentials.auth_url.clone(),
            why: "no token".into(),
        })
    }

    /// Neutron's base URL (without `/v2.0`).
    pub fn neutron_url(&mut self) -> Result<Url, Error> {
        if let Some(u) = &self.neutron {
            return Ok(u.clone());
        }
        let region = self.settings.region.clone();
        let text = keystone::network_endpoint(&self.token()?.catalog, region.as_deref())?;
        let mut u = Url::parse(&text)?;
        if let Some(p) = u.path.strip_suffix("/v2.0") {
            u.path = p.to_string();
        }
        self.neutron = Some(u.clone());
        Ok(u)
    }

    /// One Neutron call below `/v2.0`; the JSON answer, or the error
    /// Neutron gave with its message.
    fn call(&mut self, method: &str, tail: &str, body: Option<&Value>) -> Result<Value, Error> {
        let url = self.neutron_url()?;
        let token = self.token()?.id.clone();
        let tail = format!("/v2.0{tail}");
        let bytes = body.map(|b| b.to_string().into_bytes());
        let a = self.transport.send(
            &url,
            method,
            &tail,
            &[("X-Auth-Token", &token)],
            bytes.as_deref(),
        )?;
        let full = url.join(&tail);
        match a.status {
            204 => Ok(Value::Null),
            200..=299 => serde_json::from_slice(&a.body).map_err(|e| Error::Protocol {
                url: full,
                why: format!("not JSON: {e}"),
            }),
            401 => Err(Error::Unauthorized {
                message: api_error(&a.body).1,
                url: full,
                status: 401,
            }),
            _ => Err(status_error(&full, &a)),
        }
    }
}

/// A Neutron or Keystone error body's type and message
/// (`{"NeutronError": {type, message}}`, `{"error": {title, message}}`),
/// else the body's start.
pub(crate) fn api_error(body: &[u8]) -> (String, String) {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    for (key, kind) in [("NeutronError", "type"), ("error", "title")] {
        if let Some(m) = v[key]["message"].as_str() {
            return (v[key][kind].as_str().unwrap_or("").into(), m.into());
        }
    }
    let text = String::from_utf8_lossy(body);
    (String::new(), text.chars().take(200).collect())
}

/// An HTTP error status as an [`Error`] carrying the provider's message.
pub(crate) fn status_error(url: &str, a: &Answer) -> Error {
    let (kind, message) = api_error(&a.body);
    Error::Api {
        url: url.into(),
        status: a.status,
        kind,
        message,
    }
}
