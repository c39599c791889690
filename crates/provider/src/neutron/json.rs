//! Rendering an object once for two ends: a `serde_json` map (show, and
//! lists that filter or sort on attributes) or bytes appended straight to
//! a response body (plain lists: no `Value` per row, only the asked-for
//! `fields` written).

use serde::Serialize;
use serde_json::{Map, Value};

/// Where an object's attributes go.
pub trait Sink {
    /// One attribute.
    fn field<T: Serialize + ?Sized>(&mut self, key: &str, v: &T);
}

/// Builds a JSON object.
#[derive(Default)]
pub struct MapSink(pub Map<String, Value>);

impl Sink for MapSink {
    fn field<T: Serialize + ?Sized>(&mut self, key: &str, v: &T) {
        // The values rendered are strings, numbers, booleans and lists
        // of them: serializing them to a Value cannot fail.
        let v = serde_json::to_value(v).unwrap_or(Value::Null);
        self.0.insert(key.to_owned(), v);
    }
}

/// Writes one JSON object into a buffer, keeping only `fields` (all when
/// empty).
pub struct Writer<'a> {
    buf: &'a mut Vec<u8>,
    fields: &'a [String],
    first: bool,
}

impl<'a> Writer<'a> {
    /// Opens an object.
    pub fn begin(buf: &'a mut Vec<u8>, fields: &'a [String]) -> Self {
        buf.push(b'{');
        Self {
            buf,
            fields,
            first: true,
        }
    }

    /// Closes it.
    pub fn end(self) {
        self.buf.push(b'}');
    }
}

impl Sink for Writer<'_> {
    fn field<T: Serialize + ?Sized>(&mut self, key: &str, v: &T) {
        if !self.fields.is_empty() && !self.fields.iter().any(|f| f == key) {
            return;
        }
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
        // Writing to a Vec does not fail, nor does serializing the plain
        // values objects hold.
        let _ = serde_json::to_writer(&mut *self.buf, key);
        self.buf.push(b':');
        let _ = serde_json::to_writer(&mut *self.buf, v);
    }
}

/// `{}`, for attributes Neutron always shows empty.
pub fn empty_object() -> Map<String, Value> {
    Map::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sinks_agree_and_fields_trim() {
        let emit = |s: &mut dyn FnMut(&str, &Value)| {
            s("id", &Value::from("a\"b"));
            s("n", &Value::from(3));
        };
        let mut m = MapSink::default();
        emit(&mut |k, v| m.field(k, v));
        let mut buf = Vec::new();
        let mut w = Writer::begin(&mut buf, &[]);
        emit(&mut |k, v| w.field(k, v));
        w.end();
        let parsed: Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(parsed, Value::Object(m.0));
        let mut buf = Vec::new();
        let fields = ["n".to_owned()];
        let mut w = Writer::begin(&mut buf, &fields);
        emit(&mut |k, v| w.field(k, v));
        w.end();
        assert_eq!(buf, br#"{"n":3}"#);
    }
}
