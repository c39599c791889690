//! What can go wrong talking to a provider, each with the VDSM code the
//! CLI exits with (docs/api.md §4).

use thiserror::Error;

/// A failed provider call.
#[derive(Debug, Error)]
pub enum Error {
    /// The URL cannot be used (not http/https, no host, bad port).
    #[error("bad URL {url:?}: {why}")]
    BadUrl { url: String, why: String },
    /// Nothing answers at the address, or the connection broke.
    #[error("{url}: cannot reach the provider: {why}")]
    Unreachable { url: String, why: String },
    /// The TLS handshake or the CA file failed.
    #[error("{url}: TLS: {why}")]
    Tls { url: String, why: String },
    /// Keystone refused the credentials (401) or the token.
    #[error("{url}: authentication refused ({status}): {message}")]
    Unauthorized {
        url: String,
        status: u16,
        message: String,
    },
    /// The answer is not HTTP, or not the JSON Keystone/Neutron send.
    #[error("{url}: unexpected answer: {why}")]
    Protocol { url: String, why: String },
    /// The service catalog has no `network` endpoint for the region.
    #[error("the service catalog has no network endpoint (interface public{region})")]
    NoEndpoint { region: String },
    /// Neutron answered 404 for a resource.
    #[error("{what}: not found on the provider")]
    NotFound { what: String },
    /// Several networks carry the name asked for.
    #[error("{what}: {count} networks have this name; use the id")]
    Ambiguous { what: String, count: usize },
    /// Neutron (or Keystone) answered an error; its message is carried.
    #[error("{url}: provider error {status} {kind}: {message}")]
    Api {
        url: String,
        status: u16,
        kind: String,
        message: String,
    },
}

impl Error {
    /// The VDSM code: 21 bad parameters (URL, credentials, input Neutron
    /// refused), 27 a network (or other resource) not found, 29 the
    /// provider unreachable or failing.
    pub fn code(&self) -> u8 {
        match self {
            Error::BadUrl { .. } | Error::Unauthorized { .. } | Error::Ambiguous { .. } => 21,
            Error::NotFound { .. } => 27,
            Error::Api { status, .. } if (400..500).contains(status) && *status != 409 => 21,
            _ => 29,
        }
    }
}
