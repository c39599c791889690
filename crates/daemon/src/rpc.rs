//! The JSON-RPC 2.0 envelope: a request read off the wire, and the bytes
//! of an answer. The request's `id` stays raw JSON text from parse to
//! answer, so it comes back exactly as sent (an id of 2^64 or `1e308` is
//! not turned into a float and printed back differently).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::value::RawValue;
use serde_json::Value;

use crate::codes;

/// A JSON-RPC error on its way out: a code (VDSM's, or JSON-RPC's own for
/// faults of the message) and what failed.
#[derive(Debug)]
pub(crate) struct RpcError {
    pub code: i64,
    pub message: String,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<netswitch_engine::EngineError> for RpcError {
    fn from(e: netswitch_engine::EngineError) -> Self {
        RpcError::new(i64::from(e.code()), e.to_string())
    }
}

/// A request's id, as the raw JSON text the client sent (a string, a
/// number or `null`); `None` for a notification, which gets no answer.
pub(crate) type Id = Option<Box<RawValue>>;

/// A well-formed request.
#[derive(Debug)]
pub(crate) struct Request {
    pub id: Id,
    pub method: String,
    /// An object or an array (checked), or absent.
    pub params: Option<Value>,
}

/// Why a line is not a request, with the id to answer it under (the
/// request's own when it could be read, else `null`). Always answered,
/// notification or not, as before the registry.
#[derive(Debug)]
pub(crate) struct Refused {
    pub id: Id,
    pub error: RpcError,
}

/// Reads one line as a JSON-RPC 2.0 request.
pub(crate) fn parse(line: &[u8]) -> Result<Request, Refused> {
    let refuse = |id: Option<&RawValue>, code, why: String| Refused {
        id: id.map(RawValue::to_owned),
        error: RpcError::new(code, why),
    };
    // One pass over the line: its fields, values left as raw text. Only a
    // line that is not an object is read again, to tell broken JSON from
    // JSON of the wrong shape.
    let fields: BTreeMap<String, &RawValue> =
        serde_json::from_slice(line).map_err(|e| match serde_json::from_slice::<Value>(line) {
            Ok(_) => refuse(
                None,
                codes::INVALID_REQUEST,
                "a request must be a JSON object (batches are not supported)".into(),
            ),
            Err(_) => refuse(None, codes::PARSE_ERROR, format!("not JSON: {e}")),
        })?;
    let id = fields.get("id").copied();
    if id.is_some_and(|id| !id_is_valid(id)) {
        return Err(refuse(
            None,
            codes::INVALID_REQUEST,
            "id must be a string, a number or null".into(),
        ));
    }
    let text = |name: &str| {
        fields
            .get(name)
            .and_then(|v| serde_json::from_str::<String>(v.get()).ok())
    };
    if text("jsonrpc").as_deref() != Some("2.0") {
        return Err(refuse(
            id,
            codes::INVALID_REQUEST,
            "jsonrpc must be \"2.0\"".into(),
        ));
    }
    let Some(method) = text("method") else {
        return Err(refuse(
            id,
            codes::INVALID_REQUEST,
            "method must be a string".into(),
        ));
    };
    let params = match fields.get("params") {
        None => None,
        Some(p) => match serde_json::from_str::<Value>(p.get()) {
            Ok(v @ (Value::Object(_) | Value::Array(_))) => Some(v),
            _ => {
                return Err(refuse(
                    id,
                    codes::INVALID_PARAMS,
                    format!("{method}: params must be an object or an array"),
                ))
            }
        },
    };
    Ok(Request {
        id: id.map(RawValue::to_owned),
        method,
        params,
    })
}

/// Whether a raw id is a string, a number or null: JSON text starts with
/// a quote, a minus or a digit, or is the literal `null`.
fn id_is_valid(id: &RawValue) -> bool {
    let text = id.get();
    matches!(text.as_bytes().first(), Some(b'"' | b'-' | b'0'..=b'9')) || text == "null"
}

/// The raw id to answer under: the request's, or `null`.
fn id_text(id: &Id) -> &str {
    id.as_deref().map_or("null", RawValue::get)
}

/// An error answer, one line without its newline.
pub(crate) fn error_line(id: &Id, e: &RpcError) -> Vec<u8> {
    let message = serde_json::to_string(&e.message).unwrap_or_else(|_| "\"\"".into());
    format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{},\"error\":{{\"code\":{},\"message\":{message}}}}}",
        id_text(id),
        e.code
    )
    .into_bytes()
}

/// The start of a result answer, up to and including `"result":`.
pub(crate) fn result_head(id: &Id) -> Vec<u8> {
    let id = id_text(id);
    let mut head = Vec::with_capacity(48 + id.len());
    head.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    head.extend_from_slice(id.as_bytes());
    head.extend_from_slice(b",\"result\":");
    head
}

/// A method's serialized result: its own bytes, or an answer the daemon
/// keeps (the caps), shared rather than copied.
pub(crate) enum Body {
    Owned(Vec<u8>),
    Shared(Arc<Vec<u8>>),
}

impl Body {
    /// A result value, serialized.
    pub fn json(v: &Value) -> Body {
        Body::Owned(serde_json::to_vec(v).unwrap_or_else(|_| b"null".to_vec()))
    }
}

/// One message for the client, written as one line.
pub(crate) enum Out {
    Line(Vec<u8>),
    /// An answer around a result the daemon keeps (the caps): the envelope
    /// up to `"result":`, then the kept bytes, then `}`. Written in three
    /// parts so a 4 MB answer is not copied (nor a fresh 4 MB buffer
    /// faulted in) for every call.
    Framed {
        head: Vec<u8>,
        body: Arc<Vec<u8>>,
    },
}

/// The answer to a request: `None` for a notification.
pub(crate) fn answer(id: &Id, result: Result<Body, RpcError>) -> Option<Out> {
    id.as_ref()?;
    Some(match result {
        Ok(Body::Shared(body)) => Out::Framed {
            head: result_head(id),
            body,
        },
        Ok(Body::Owned(body)) => {
            let mut out = result_head(id);
            out.reserve(body.len() + 1);
            out.extend_from_slice(&body);
            out.push(b'}');
            Out::Line(out)
        }
        Err(e) => Out::Line(error_line(id, &e)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_of(line: &str) -> String {
        let r = parse(line.as_bytes()).expect("a request");
        let Some(Out::Line(out)) = answer(&r.id, Ok(Body::json(&Value::Bool(true)))) else {
            panic!("no answer");
        };
        let v: Value = serde_json::from_slice(&out).expect("JSON");
        assert_eq!(v["result"], true);
        let text = String::from_utf8(out).unwrap();
        let start = text.find("\"id\":").unwrap() + 5;
        let end = text.find(",\"result\"").unwrap();
        text[start..end].to_string()
    }

    #[test]
    fn ids_come_back_byte_for_byte() {
        for id in [
            "18446744073709551616",
            "340282366920938463463374607431768211456",
            "1e308",
            "-0",
            "1.50",
            "\"x\\u00e9\"",
            "null",
        ] {
            let line = format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"m\"}}");
            assert_eq!(id_of(&line), id);
        }
    }

    #[test]
    fn a_bad_envelope_gets_its_code() {
        let code = |line: &str| parse(line.as_bytes()).unwrap_err().error.code;
        assert_eq!(code("{"), codes::PARSE_ERROR);
        assert_eq!(code("[1"), codes::PARSE_ERROR);
        assert_eq!(code("{\"jsonrpc\":"), codes::PARSE_ERROR);
        assert_eq!(
            parse(b"{\"a\":\"\xff\"}").unwrap_err().error.code,
            codes::PARSE_ERROR
        );
        assert_eq!(code("[1]"), codes::INVALID_REQUEST);
        assert_eq!(code("5"), codes::INVALID_REQUEST);
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":true,"method":"m"}"#),
            codes::INVALID_REQUEST
        );
        assert_eq!(code(r#"{"id":1,"method":"m"}"#), codes::INVALID_REQUEST);
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":1}"#), codes::INVALID_REQUEST);
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1,"method":"m","params":5}"#),
            codes::INVALID_PARAMS
        );
        let e = parse(br#"{"jsonrpc":"1.0","id":18446744073709551617,"method":"m"}"#).unwrap_err();
        assert!(String::from_utf8(error_line(&e.id, &e.error))
            .unwrap()
            .contains("\"id\":18446744073709551617,"));
    }

    #[test]
    fn a_notification_gets_no_answer() {
        let r = parse(br#"{"jsonrpc":"2.0","method":"m"}"#).unwrap();
        assert!(answer(&r.id, Ok(Body::json(&Value::Null))).is_none());
    }
}
