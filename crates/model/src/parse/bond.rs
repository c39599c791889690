//! One bond's attributes.

use serde_json::{Map, Value};

use super::values::{boolish, canonical_mac, describe, unicast_mac};
use crate::bondopts::BondOptions;
use crate::config::{BondAttrs, SwitchType};
use crate::error::{Code, RequestError};
use crate::names::check_bond_name;
use crate::request::BondChange;

const BOND_KEYS: &[&str] = &["nics", "options", "hwaddr", "switch", "remove"];

/// A refusal naming the bond `name` and, when known, the attribute.
fn err(name: &str, code: Code, attr: Option<&str>, why: String) -> RequestError {
    RequestError::bond(code, name, attr, why)
}

pub(super) fn parse_bond(name: &str, v: &Value) -> Result<BondChange, RequestError> {
    check_bond_name(name).map_err(|why| err(name, Code::BadBonding, None, why))?;
    let Value::Object(m) = v else {
        return Err(err(
            name,
            Code::BadParams,
            None,
            format!("attributes must be a mapping, not {}", describe(v)),
        ));
    };
    if let Some(key) = m.keys().find(|k| !BOND_KEYS.contains(&k.as_str())) {
        return Err(err(
            name,
            Code::BadParams,
            Some(key),
            "unknown attribute".into(),
        ));
    }
    if removal(name, m)? {
        return Ok(BondChange::Remove);
    }
    Ok(BondChange::Set(BondAttrs {
        nics: nics(name, m.get("nics"))?,
        options: options(name, m.get("options"))?,
        hwaddr: hwaddr(name, m.get("hwaddr"))?,
        switch: switch(name, m.get("switch"))?,
    }))
}

/// Whether the bond is to be removed; `remove` must then stand alone.
fn removal(name: &str, m: &Map<String, Value>) -> Result<bool, RequestError> {
    let Some(r) = m.get("remove") else {
        return Ok(false);
    };
    let remove = boolish(r).ok_or_else(|| {
        err(
            name,
            Code::BadParams,
            Some("remove"),
            format!("{} is not a boolean", describe(r)),
        )
    })?;
    if remove {
        if let Some(other) = m.keys().find(|k| *k != "remove") {
            return Err(err(
                name,
                Code::BadParams,
                Some(other),
                "nothing may accompany remove".into(),
            ));
        }
    }
    Ok(remove)
}

/// The bond's slaves, sorted, each once, at least one.
fn nics(name: &str, v: Option<&Value>) -> Result<Vec<String>, RequestError> {
    let bad = |why: String| err(name, Code::BadParams, Some("nics"), why);
    let mut nics = match v {
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) if !s.is_empty() => Ok(s.clone()),
                other => Err(bad(format!("{} is not a nic name", describe(other)))),
            })
            .collect::<Result<Vec<_>, _>>()?,
        None | Some(Value::Null) => Vec::new(),
        Some(v) => return Err(bad(format!("{} is not a list of nics", describe(v)))),
    };
    nics.sort();
    if let Some(w) = nics.windows(2).find(|w| w[0] == w[1]) {
        return Err(bad(format!("{} is listed twice", w[0])));
    }
    if nics.is_empty() {
        return Err(bad("a bond needs at least one nic".into()));
    }
    Ok(nics)
}

fn options(name: &str, v: Option<&Value>) -> Result<BondOptions, RequestError> {
    let bad = |why: String| err(name, Code::BadBonding, Some("options"), why);
    match v {
        None | Some(Value::Null) => BondOptions::parse(""),
        Some(Value::String(s)) => BondOptions::parse(s),
        Some(v) => return Err(bad(format!("{} is not an option string", describe(v)))),
    }
    .map_err(|e| bad(e.0))
}

fn hwaddr(name: &str, v: Option<&Value>) -> Result<Option<String>, RequestError> {
    let bad = |why: String| err(name, Code::BadBonding, Some("hwaddr"), why);
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => canonical_mac(s)
            .ok_or_else(|| format!("{s:?} is not a MAC address"))
            .and_then(unicast_mac)
            .map(Some)
            .map_err(bad),
        Some(v) => Err(bad(format!("{} is not a MAC address", describe(v)))),
    }
}

fn switch(name: &str, v: Option<&Value>) -> Result<SwitchType, RequestError> {
    match v {
        None | Some(Value::Null) => Ok(SwitchType::Legacy),
        Some(Value::String(s)) if s == "legacy" => Ok(SwitchType::Legacy),
        Some(Value::String(s)) if s == "ovs" => Ok(SwitchType::Ovs),
        Some(v) => Err(err(
            name,
            Code::BadParams,
            Some("switch"),
            format!("{} is neither legacy nor ovs", describe(v)),
        )),
    }
}
