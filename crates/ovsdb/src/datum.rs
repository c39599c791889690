//! The RFC 7047 §5.1 JSON encodings of atoms, sets and maps, both ways.
//!
//! OVSDB writes a one-element set as the bare atom and an empty optional
//! value as `["set", []]`; the decoders here accept every legal spelling so
//! callers never match on raw arrays.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{json, Value};

/// A row UUID as the server spells it (RFC 4122 text form).
///
/// Kept as text: we only compare and echo UUIDs, never generate them, so a
/// uuid crate would add nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uuid(pub String);

impl Uuid {
    /// Decodes `["uuid", "..."]`; `None` for anything else.
    pub fn from_json(v: &Value) -> Option<Uuid> {
        match v.as_array().map(Vec::as_slice) {
            Some([tag, Value::String(s)]) if tag == "uuid" => Some(Uuid(s.clone())),
            _ => None,
        }
    }

    /// Encodes as `["uuid", "..."]`, the form a condition or reference needs.
    pub fn to_json(&self) -> Value {
        json!(["uuid", self.0])
    }

    /// The UUID of 16 bytes (random ones, or a name's hash) stamped with
    /// `version` and RFC 9562's variant, in its hyphenated text form. The
    /// one place netswitch writes a UUID: the chassis name, Neutron ids and
    /// vNIC ids all come through here.
    pub fn from_bytes(mut b: [u8; 16], version: u8) -> Uuid {
        b[6] = (b[6] & 0x0f) | (version << 4);
        b[8] = (b[8] & 0x3f) | 0x80;
        let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
        Uuid(format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        ))
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `["named-uuid", name]`: refers to a row inserted earlier in the same
/// transaction under `uuid-name` `name`.
pub fn named_uuid(name: &str) -> Value {
    json!(["named-uuid", name])
}

/// `["set", [...]]`: a set datum (also the way to write an empty optional).
pub fn set<I: IntoIterator<Item = Value>>(items: I) -> Value {
    json!(["set", items.into_iter().collect::<Vec<_>>()])
}

/// `["set", []]`: the empty set, i.e. an absent optional column value.
pub fn empty_set() -> Value {
    set([])
}

/// `["map", [[k, v], ...]]`: a map datum from key/value atoms.
pub fn map<I: IntoIterator<Item = (Value, Value)>>(pairs: I) -> Value {
    let pairs: Vec<Value> = pairs.into_iter().map(|(k, v)| json!([k, v])).collect();
    json!(["map", pairs])
}

/// A string-to-string map (external_ids, other_config) as a map datum.
pub fn str_map<'a, I: IntoIterator<Item = (&'a str, &'a str)>>(pairs: I) -> Value {
    map(pairs.into_iter().map(|(k, v)| (json!(k), json!(v))))
}

/// The elements of a set datum: `["set", [...]]` or a bare atom standing for
/// a one-element set. `None` if `v` is a map or malformed.
pub fn set_elements(v: &Value) -> Option<Vec<&Value>> {
    if let Some(arr) = v.as_array() {
        match arr.as_slice() {
            [tag, Value::Array(items)] if tag == "set" => return Some(items.iter().collect()),
            [tag, _] if tag == "uuid" || tag == "named-uuid" => return Some(vec![v]),
            _ => return None,
        }
    }
    Some(vec![v])
}

/// The entries of a map datum `["map", [[k, v], ...]]`.
pub fn map_entries(v: &Value) -> Option<Vec<(&Value, &Value)>> {
    match v.as_array().map(Vec::as_slice) {
        Some([tag, Value::Array(pairs)]) if tag == "map" => pairs
            .iter()
            .map(|p| match p.as_array().map(Vec::as_slice) {
                Some([k, v]) => Some((k, v)),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// A string-to-string map datum decoded; `None` if any key or value is not a
/// string.
pub fn as_str_map(v: &Value) -> Option<BTreeMap<String, String>> {
    map_entries(v)?
        .into_iter()
        .map(|(k, v)| Some((k.as_str()?.to_owned(), v.as_str()?.to_owned())))
        .collect()
}

/// A set of UUIDs (reference columns such as `Bridge.ports`).
pub fn as_uuid_set(v: &Value) -> Option<Vec<Uuid>> {
    set_elements(v)?.into_iter().map(Uuid::from_json).collect()
}

/// An optional integer (a set of 0 or 1 integers, e.g. `Port.tag`).
pub fn as_optional_i64(v: &Value) -> Option<Option<i64>> {
    match set_elements(v)?.as_slice() {
        [] => Some(None),
        [x] => x.as_i64().map(Some),
        _ => None,
    }
}

/// An optional string (a set of 0 or 1 strings).
pub fn as_optional_str(v: &Value) -> Option<Option<String>> {
    match set_elements(v)?.as_slice() {
        [] => Some(None),
        [x] => x.as_str().map(|s| Some(s.to_owned())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_atom_is_a_one_element_set() {
        assert_eq!(as_optional_i64(&json!(100)), Some(Some(100)));
        assert_eq!(as_optional_i64(&json!(["set", []])), Some(None));
        assert_eq!(as_optional_i64(&json!(["set", [1, 2]])), None);
        let u = json!(["uuid", "abc"]);
        assert_eq!(as_uuid_set(&u), Some(vec![Uuid("abc".into())]));
        assert_eq!(
            as_uuid_set(&json!(["set", [["uuid", "a"], ["uuid", "b"]]])).map(|v| v.len()),
            Some(2)
        );
    }

    #[test]
    fn maps_encode_and_decode_symmetrically() {
        let m = str_map([("a", "1"), ("b", "2")]);
        assert_eq!(m, json!(["map", [["a", "1"], ["b", "2"]]]));
        let back = as_str_map(&m).unwrap();
        assert_eq!(back.get("b").map(String::as_str), Some("2"));
        assert_eq!(as_str_map(&json!(["set", []])), None);
    }
}
