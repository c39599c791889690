//! Reading request bodies as Neutron does: numbers and booleans may come as
//! strings (`"mtu": "1400"`, `"admin_state_up": "True"`), unknown
//! attributes are refused by name, and every refusal names the resource
//! and the attribute.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// One resource's body object.
pub type Obj = Map<String, Value>;

/// Refuses attributes outside `allowed`, naming them.
pub fn only(res: &str, o: &Obj, allowed: &[&str]) -> Result<(), ApiError> {
    let bad: Vec<&str> = o
        .keys()
        .map(String::as_str)
        .filter(|k| !allowed.contains(k))
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(ApiError::bad(format!(
            "Unrecognized attribute(s) of {res}: '{}'",
            bad.join("', '")
        )))
    }
}

/// An optional string (JSON null counts as absent).
pub fn string(res: &str, o: &Obj, k: &str) -> Result<Option<String>, ApiError> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(ApiError::bad(format!(
            "Invalid input for {k} of {res}: {v} is not a string"
        ))),
    }
}

/// An optional boolean: `true`, `"True"`, `"false"`, `"0"`, `1`...
pub fn boolean(res: &str, o: &Obj, k: &str) -> Result<Option<bool>, ApiError> {
    let v = match o.get(k) {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    let b = match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().and_then(|n| match n {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Some(true),
            "false" | "0" | "no" | "off" => Some(false),
            _ => None,
        },
        _ => None,
    };
    b.map(Some).ok_or_else(|| {
        ApiError::bad(format!(
            "Invalid input for {k} of {res}: '{v}' is not a valid boolean value"
        ))
    })
}

/// An optional integer in `min..=max`, from a number or a numeric string.
pub fn int(res: &str, o: &Obj, k: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
    let v = match o.get(k) {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    let n = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
        Some(n) => Err(ApiError::bad(format!(
            "Invalid input for {k} of {res}: {n} is not in {min}..{max}"
        ))),
        None => Err(ApiError::bad(format!(
            "Invalid input for {k} of {res}: '{v}' is not an integer"
        ))),
    }
}

/// An optional list of strings.
pub fn str_list(res: &str, o: &Obj, k: &str) -> Result<Option<Vec<String>>, ApiError> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str().map(str::to_owned).ok_or_else(|| {
                    ApiError::bad(format!(
                        "Invalid input for {k} of {res}: {x} is not a string"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(v) => Err(ApiError::bad(format!(
            "Invalid input for {k} of {res}: {v} is not a list"
        ))),
    }
}

/// A name-like string: printable, at most 255 characters.
pub fn name(res: &str, o: &Obj, k: &str) -> Result<Option<String>, ApiError> {
    let n = string(res, o, k)?;
    if let Some(n) = &n {
        if n.chars().count() > 255 || n.chars().any(char::is_control) {
            return Err(ApiError::bad(format!(
                "Invalid input for {k} of {res}: too long or with control characters"
            )));
        }
    }
    Ok(n)
}
