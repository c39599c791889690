//! A failed verb as the CLI reports it: the VDSM code (the exit status)
//! and the message, whichever way the verb ran.

use netswitch_daemon::ClientError;
use netswitch_engine::EngineError;
use netswitch_model::RequestError;

/// A failed verb: the exit code (the VDSM code, see `docs/api.md`) and
/// what failed, whether it ran here or in the daemon.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    /// A failure with a code and a message.
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Self {
        Failure::new(e.code(), e.to_string())
    }
}

impl From<RequestError> for Failure {
    fn from(e: RequestError) -> Self {
        EngineError::from(e).into()
    }
}

impl From<netswitch_netinfo::NetinfoError> for Failure {
    fn from(e: netswitch_netinfo::NetinfoError) -> Self {
        EngineError::from(e).into()
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        let code = match &e {
            // A VDSM code passes through; JSON-RPC's own (negative) codes
            // and permission refusals are not VDSM codes: exit 1.
            ClientError::Rpc { code, .. } => {
                u8::try_from(*code).ok().filter(|c| *c > 0).unwrap_or(1)
            }
            ClientError::Io(_) | ClientError::Protocol(_) => 29,
        };
        Failure::new(code, e.to_string())
    }
}
