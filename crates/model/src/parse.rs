//! Parse a setupNetworks request from JSON or YAML into its canonical form.
//!
//! The text is read into a generic value first and then walked by hand:
//! serde's derive would stop at the first type error with a message that
//! names a column, not the network and attribute an operator must fix, and
//! could not accept VDSM's loose forms (`"yes"`, `"1500"`, `"on"`).
//! Canonicalisation (defaults, normal forms) happens during the walk, so a
//! `Request` only ever holds canonical attributes.

mod bond;
mod custom;
mod network;
mod values;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::{Code, RequestError};
use crate::request::{Options, Request};
use bond::parse_bond;
use network::parse_network;

pub use crate::names::{check_bond_name, check_device_name};
pub use custom::MAX_CUSTOM_DEPTH;
pub(crate) use values::describe;
pub use values::{boolish, canonical_mac, netmask_to_prefix, prefix_to_netmask, uint};

/// The largest request text accepted (a 1000-network request is ~300 KiB).
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;
/// The most networks one request may carry.
pub const MAX_NETWORKS: usize = 10_000;
/// The most bonds one request may carry.
pub const MAX_BONDS: usize = 1_000;

/// Reads a request from JSON or YAML text (JSON when it starts with `{`).
pub fn parse_request(text: &[u8]) -> Result<Request, RequestError> {
    let value = parse_document(text)?;
    request_from_value(&value)
}

/// Reads JSON or YAML text into a generic value, bounded in size.
pub fn parse_document(text: &[u8]) -> Result<Value, RequestError> {
    if text.len() > MAX_REQUEST_BYTES {
        return Err(RequestError::request(
            Code::BadParams,
            format!(
                "request is {} bytes; at most {MAX_REQUEST_BYTES} are accepted",
                text.len()
            ),
        ));
    }
    let text = std::str::from_utf8(text).map_err(|e| {
        RequestError::request(Code::BadParams, format!("request is not UTF-8 text: {e}"))
    })?;
    let trimmed = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    if trimmed.is_empty() {
        return Err(RequestError::request(Code::BadParams, "request is empty"));
    }
    if trimmed.starts_with('{') {
        serde_json::from_str(trimmed).map_err(|e| {
            RequestError::request(Code::BadParams, format!("request is not valid JSON: {e}"))
        })
    } else {
        serde_saphyr::from_str::<Value>(trimmed).map_err(|e| {
            RequestError::request(
                Code::BadParams,
                format!("request is not valid YAML: {}", first_line(&e.to_string())),
            )
        })
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// Builds a canonical request from a parsed document.
pub fn request_from_value(value: &Value) -> Result<Request, RequestError> {
    let Value::Object(top) = value else {
        return Err(RequestError::request(
            Code::BadParams,
            "request must be a mapping with networks, bondings and options",
        ));
    };
    let mut req = Request::default();
    for (key, v) in top {
        match key.as_str() {
            "networks" => {
                req.networks = entities(v, "networks", "networks", MAX_NETWORKS, parse_network)?
            }
            "bondings" => req.bondings = entities(v, "bondings", "bonds", MAX_BONDS, parse_bond)?,
            "options" => {
                let opts = section(v, "options")?;
                req.options = parse_options(opts)?;
                req.options_given = opts.keys().cloned().collect();
            }
            other => {
                return Err(RequestError::request(
                    Code::BadParams,
                    format!(
                        "unknown top-level key {other:?} (expected networks, bondings, options)"
                    ),
                ))
            }
        }
    }
    Ok(req)
}

/// One of the request's name -> attributes sections (`what`, whose entries
/// are `noun`), bounded in size, each entry parsed by `parse`.
fn entities<T>(
    v: &Value,
    what: &str,
    noun: &str,
    max: usize,
    parse: fn(&str, &Value) -> Result<T, RequestError>,
) -> Result<BTreeMap<String, T>, RequestError> {
    let entries = section(v, what)?;
    if entries.len() > max {
        return Err(RequestError::request(
            Code::BadParams,
            format!(
                "request carries {} {noun}; at most {max} are accepted",
                entries.len()
            ),
        ));
    }
    entries
        .iter()
        .map(|(name, attrs)| Ok((name.clone(), parse(name, attrs)?)))
        .collect()
}

fn section<'a>(v: &'a Value, name: &str) -> Result<&'a Map<String, Value>, RequestError> {
    match v {
        Value::Object(m) => Ok(m),
        Value::Null => {
            static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
            Ok(EMPTY.get_or_init(Map::new))
        }
        _ => Err(RequestError::request(
            Code::BadParams,
            format!("{name} must be a mapping of name to attributes"),
        )),
    }
}

// ---------------------------------------------------------------- options

fn parse_options(m: &Map<String, Value>) -> Result<Options, RequestError> {
    let mut o = Options::default();
    for (k, v) in m {
        let flag = || {
            boolish(v).ok_or_else(|| {
                RequestError::option(
                    Code::BadParams,
                    k,
                    format!("{} is not a boolean", describe(v)),
                )
            })
        };
        match k.as_str() {
            "connectivityCheck" => o.connectivity_check = flag()?,
            "commitOnSuccess" => o.commit_on_success = flag()?,
            "dryRun" => o.dry_run = flag()?,
            "connectivityTimeout" => {
                let secs = match v {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => s.trim().parse::<f64>().ok(),
                    _ => None,
                }
                .filter(|s| s.is_finite() && *s >= 0.0 && *s <= 3600.0)
                .ok_or_else(|| {
                    RequestError::option(
                        Code::BadParams,
                        k,
                        format!("{} is not a number of seconds in 0..3600", describe(v)),
                    )
                })?;
                o.connectivity_timeout = secs;
            }
            _ => return Err(RequestError::option(
                Code::BadParams,
                k,
                "unknown option (connectivityCheck, connectivityTimeout, commitOnSuccess, dryRun)",
            )),
        }
    }
    Ok(o)
}
