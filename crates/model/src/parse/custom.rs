//! A network's `custom` mapping: bridge options, and anything else kept
//! as given but bounded in depth.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config::Custom;
use crate::error::{Code, RequestError};

/// How deep `custom` may nest, counting the `custom` mapping itself.
///
/// `custom` is the one attribute that takes any value, and every internal
/// format wraps a network in more structure: the crash journal (a plan,
/// the configs before and after) and the daemon's JSON-RPC envelope add
/// levels, and their readers stop at serde_json's recursion limit (128).
/// A request nested near that limit would be applied and then be
/// unreadable in the journal, so crash recovery could not roll it back.
/// 32 levels leave room for any envelope while being far more than any
/// real `custom` value needs.
pub const MAX_CUSTOM_DEPTH: usize = 32;

/// How many levels of arrays and mappings `v` holds (a scalar is 0),
/// without recursion.
fn nesting(v: &Value) -> usize {
    let mut deepest = 0;
    let mut stack: Vec<(&Value, usize)> = vec![(v, 0)];
    while let Some((v, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(m) => Box::new(m.values()),
            _ => continue,
        };
        deepest = deepest.max(depth + 1);
        stack.extend(children.map(|c| (c, depth + 1)));
    }
    deepest
}

/// `stp` is the network's, for the options whose range depends on it.
pub(super) fn parse_custom(
    v: &Value,
    name: &str,
    stp: bool,
) -> Result<Option<Custom>, RequestError> {
    let bad = |attr: &str, why: String| RequestError::net(Code::BadParams, name, Some(attr), why);
    let Value::Object(m) = v else {
        return Err(bad("custom", "must be a mapping".into()));
    };
    let mut custom = Custom::default();
    for (k, v) in m {
        if k == "bridge_opts" {
            custom.bridge_opts =
                bridge_opts(v, stp).map_err(|why| bad("custom.bridge_opts", why))?;
            continue;
        }
        let depth = 1 + nesting(v);
        if depth > MAX_CUSTOM_DEPTH {
            return Err(bad(
                "custom",
                format!(
                    "{k} nests {depth} levels deep; custom values may nest at most {MAX_CUSTOM_DEPTH}"
                ),
            ));
        }
        custom.other.insert(k.clone(), v.clone());
    }
    Ok(if custom == Custom::default() {
        None
    } else {
        Some(custom)
    })
}

/// `bridge_opts`: a string of `key=value` pairs, each key once, each value
/// checked; kept sorted by key so equal options compare equal.
fn bridge_opts(v: &Value, stp: bool) -> Result<Option<String>, String> {
    let Value::String(s) = v else {
        return Err("must be a string of key=value pairs".into());
    };
    let mut opts: BTreeMap<&str, &str> = BTreeMap::new();
    for token in s.split_whitespace() {
        let (key, value) = token
            .split_once('=')
            .filter(|(key, value)| {
                !key.is_empty()
                    && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !value.is_empty()
            })
            .ok_or_else(|| format!("{token:?} is not key=value"))?;
        if opts.insert(key, value).is_some() {
            return Err(format!("{key} is given twice"));
        }
        crate::bridgeopts::check(key, value, stp)?;
    }
    if opts.is_empty() {
        return Ok(None);
    }
    let joined: Vec<String> = opts.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Ok(Some(joined.join(" ")))
}
