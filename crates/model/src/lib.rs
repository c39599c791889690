//! The setupNetworks contract as types: requests, canonical config, the host
//! snapshot, plans and the caps report; parse, canonicalize and validate.
//!
//! Pure: no sockets, no files. Every other crate speaks these types, so a
//! rule lives in one place and is testable without a kernel.

pub mod bondopts;
pub mod bridgeopts;
pub mod caps;
pub mod config;
pub mod error;
pub mod host;
mod ipattrs;
pub mod names;
pub mod parse;
pub mod plan;
pub mod qos;
pub mod request;
pub mod routing;
pub mod tc;
pub mod validate;

pub use config::{BondAttrs, Config, NetAttrs, SwitchType};
pub use error::{Code, Culprit, RequestError};
pub use host::HostState;
pub use request::{BondChange, NetChange, Request};
pub use validate::NicPolicy;

/// Everything before planning, in the order docs/architecture.md gives: parse,
/// canonicalize (including the default-route move), validate. Returns the
/// canonical request and the desired config.
pub fn prepare(
    text: &[u8],
    running: &Config,
    host: &HostState,
    nics: &NicPolicy,
) -> Result<(Request, Config), RequestError> {
    let mut req = parse::parse_request(text)?;
    validate::move_default_route(&mut req, running);
    let desired = validate::validate(&req, running, host, nics)?;
    Ok((req, desired))
}
