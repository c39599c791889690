//! Errors: the provider's own ([`Error`], for startup) and the API's
//! ([`ApiError`]), which carries the HTTP status and Neutron's error type
//! so every refusal reaches the client as `{"NeutronError": {...}}`.

use serde_json::json;

use crate::http::Response;

/// Startup and NB failures of the provider process.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config file is unreadable or wrong (VDSM code 21).
    #[error("config: {0}")]
    Config(String),
    /// A listener could not be bound (code 29).
    #[error("listen: {0}")]
    Listen(#[from] std::io::Error),
    /// No NB remote answered (code 32).
    #[error("OVN northbound DB: {0}")]
    Nb(#[from] netswitch_ovsdb::Error),
}

impl Error {
    /// The VDSM-style exit code.
    pub fn code(&self) -> u8 {
        match self {
            Self::Config(_) => 21,
            Self::Listen(_) => 29,
            Self::Nb(_) => 32,
        }
    }
}

/// An API refusal: HTTP status, Neutron error type and a message naming
/// the resource and attribute at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {kind}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Neutron's exception name (`NetworkNotFound`, `MacAddressInUse`, ...).
    pub kind: &'static str,
    /// What is wrong, for a human.
    pub message: String,
}

impl ApiError {
    /// 400.
    pub fn bad(message: impl Into<String>) -> Self {
        Self::new(400, "HTTPBadRequest", message)
    }

    /// 404 for `what` (`network`, `port`, ...) `id`.
    pub fn not_found(kind: &'static str, what: &str, id: &str) -> Self {
        Self::new(404, kind, format!("{what} {id} could not be found."))
    }

    /// 409.
    pub fn conflict(kind: &'static str, message: impl Into<String>) -> Self {
        Self::new(409, kind, message)
    }

    /// 401.
    pub fn unauthorized() -> Self {
        Self::new(
            401,
            "HTTPUnauthorized",
            "The request you have made requires authentication (a valid X-Auth-Token).",
        )
    }

    /// Any status.
    pub fn new(status: u16, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
        }
    }

    /// The NB failed: the transaction was not committed (code 29 in VDSM
    /// terms; Neutron says 500 with the reason).
    pub fn nb(e: &netswitch_ovsdb::Error) -> Self {
        Self::new(
            if e.code() == 32 { 503 } else { 500 },
            "NorthboundError",
            format!("the OVN northbound DB refused or failed (nothing changed): {e}"),
        )
    }

    /// Neutron's error body.
    pub fn response(&self) -> Response {
        Response::json(
            self.status,
            &json!({"NeutronError": {"type": self.kind, "message": self.message, "detail": ""}}),
        )
    }
}
