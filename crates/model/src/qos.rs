//! `hostQos`: parsing, checking and the canonical form of a network's HFSC
//! curves.
//!
//! VDSM carries rates in bit/s and `d` in µs; the kernel's
//! `tc_service_curve` holds bytes/s and µs in 32-bit fields, so a rate
//! whose bytes/s do not fit 32 bits is refused here rather than failing
//! half-way through an apply.

use serde_json::{Map, Value};

use crate::config::{Curve, HostQos, QosOut};
use crate::error::{Code, RequestError};
use crate::parse::{describe, uint};

/// The largest rate in bit/s whose bytes/s fit the kernel's 32-bit field.
pub const MAX_RATE_BITS: u64 = u32::MAX as u64 * 8;

/// Parses `hostQos` of network `name` into its canonical form: zero `m1`
/// and `d` dropped, `out.ls` present, the curves consistent.
pub fn parse_qos(v: &Value, name: &str) -> Result<HostQos, RequestError> {
    let bad = |attr: &str, why: String| RequestError::net(Code::BadParams, name, Some(attr), why);
    let Value::Object(top) = v else {
        return Err(bad("hostQos", "must be a mapping with out".into()));
    };
    if let Some(dir) = top.keys().find(|k| *k != "out") {
        return Err(bad(
            &format!("hostQos.{dir}"),
            "only out (egress) host QoS exists".into(),
        ));
    }
    let Some(curves) = top.get("out") else {
        return Err(bad("hostQos.out", "is required".into()));
    };
    let Value::Object(curves) = curves else {
        return Err(bad("hostQos.out", "must be a mapping of ls, ul, rt".into()));
    };
    let out = parse_out(curves, name)?;
    check_out(&out, name)?;
    Ok(HostQos { out })
}

fn parse_out(curves: &Map<String, Value>, name: &str) -> Result<QosOut, RequestError> {
    let mut out = QosOut::default();
    for (kind, c) in curves {
        let path = format!("hostQos.out.{kind}");
        let slot = match kind.as_str() {
            "ls" => &mut out.ls,
            "ul" => &mut out.ul,
            "rt" => &mut out.rt,
            _ => {
                return Err(RequestError::net(
                    Code::BadParams,
                    name,
                    Some(&path),
                    "unknown curve (ls, ul, rt)",
                ))
            }
        };
        *slot = Some(parse_curve(c, name, &path)?);
    }
    Ok(out)
}

/// One curve: `m2` a positive rate, `m1`/`d` optional and dropped when
/// zero (VDSM sends zeros for "no burst"), otherwise given together.
fn parse_curve(v: &Value, name: &str, path: &str) -> Result<Curve, RequestError> {
    let bad = |attr: &str, why: String| RequestError::net(Code::BadParams, name, Some(attr), why);
    let Value::Object(c) = v else {
        return Err(bad(path, "must be a mapping of m1, d, m2".into()));
    };
    let mut curve = Curve::default();
    let mut m2 = None;
    for (k, v) in c {
        let at = format!("{path}.{k}");
        let n = uint(v).ok_or_else(|| {
            bad(
                &at,
                format!("{} is not a non-negative integer", describe(v)),
            )
        })?;
        let limit = if k == "d" {
            u64::from(u32::MAX)
        } else {
            MAX_RATE_BITS
        };
        if n > limit {
            return Err(bad(&at, format!("{n} is above the largest value, {limit}")));
        }
        match k.as_str() {
            "m1" => curve.m1 = Some(n).filter(|n| *n > 0),
            "d" => curve.d = Some(n).filter(|n| *n > 0),
            "m2" => m2 = Some(n),
            _ => return Err(bad(&at, "unknown curve parameter (m1, d, m2)".into())),
        }
    }
    curve.m2 = m2.ok_or_else(|| bad(&format!("{path}.m2"), "is required".into()))?;
    if curve.m2 == 0 {
        return Err(bad(
            &format!("{path}.m2"),
            "must be a positive rate in bit/s".into(),
        ));
    }
    if curve.m1.is_some() != curve.d.is_some() {
        return Err(bad(path, "m1 and d go together (both non-zero)".into()));
    }
    Ok(curve)
}

/// The rules between curves: a link-share curve is what places a network
/// in the tree, an upper limit below it could never be met, and a
/// real-time guarantee above the upper limit could never be given.
fn check_out(out: &QosOut, name: &str) -> Result<(), RequestError> {
    let bad = |attr: &str, why: String| RequestError::net(Code::BadParams, name, Some(attr), why);
    let Some(ls) = out.ls else {
        return Err(bad("hostQos.out.ls.m2", "is required".into()));
    };
    if let Some(ul) = out.ul {
        if ul.m2 < ls.m2 {
            return Err(bad(
                "hostQos.out.ul.m2",
                format!("{} is below ls.m2 ({})", ul.m2, ls.m2),
            ));
        }
        if let Some(rt) = out.rt.filter(|rt| rt.m2 > ul.m2) {
            return Err(bad(
                "hostQos.out.rt.m2",
                format!("{} is above ul.m2 ({})", rt.m2, ul.m2),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<HostQos, RequestError> {
        parse_qos(&v, "net1")
    }

    fn refused(v: Value, attr: &str) {
        let e = parse(v.clone()).expect_err(&v.to_string());
        let text = e.to_string();
        assert_eq!(e.code, Code::BadParams, "{text}");
        assert!(text.contains("net1") && text.contains(attr), "{v}: {text}");
    }

    #[test]
    fn canonical_form_drops_zero_m1_and_d() {
        let q = parse(json!({"out": {"ls": {"m1": 0, "d": 0, "m2": 100},
            "ul": {"m2": "200"}, "rt": {"m1": 300, "d": 10, "m2": 50}}}))
        .unwrap();
        let text = serde_json::to_value(&q).unwrap();
        assert_eq!(
            text,
            json!({"out": {"ls": {"m2": 100}, "ul": {"m2": 200},
                "rt": {"m1": 300, "d": 10, "m2": 50}}})
        );
    }

    #[test]
    fn ls_m2_is_required() {
        refused(json!({}), "hostQos.out");
        refused(json!({"out": {}}), "hostQos.out.ls.m2");
        refused(json!({"out": {"rt": {"m2": 10}}}), "hostQos.out.ls.m2");
        refused(
            json!({"out": {"ls": {"m1": 10, "d": 5}}}),
            "hostQos.out.ls.m2",
        );
    }

    #[test]
    fn rates_are_positive_integers() {
        refused(json!({"out": {"ls": {"m2": 0}}}), "hostQos.out.ls.m2");
        refused(json!({"out": {"ls": {"m2": -5}}}), "hostQos.out.ls.m2");
        refused(json!({"out": {"ls": {"m2": 1.5}}}), "hostQos.out.ls.m2");
        refused(json!({"out": {"ls": {"m2": true}}}), "hostQos.out.ls.m2");
        refused(
            json!({"out": {"ls": {"m2": 100, "d": "x", "m1": 1}}}),
            "hostQos.out.ls.d",
        );
        refused(
            json!({"out": {"ls": {"m2": MAX_RATE_BITS + 1}}}),
            "hostQos.out.ls.m2",
        );
        refused(
            json!({"out": {"ls": {"m2": 100, "m1": 5}}}),
            "hostQos.out.ls",
        );
        refused(
            json!({"out": {"ls": {"m2": 100, "m1": 0, "d": 5}}}),
            "hostQos.out.ls",
        );
        assert!(parse(json!({"out": {"ls": {"m2": MAX_RATE_BITS}}})).is_ok());
    }

    #[test]
    fn curves_must_agree() {
        refused(
            json!({"out": {"ls": {"m2": 100}, "ul": {"m2": 99}}}),
            "hostQos.out.ul.m2",
        );
        refused(
            json!({"out": {"ls": {"m2": 100}, "ul": {"m2": 200}, "rt": {"m2": 201}}}),
            "hostQos.out.rt.m2",
        );
        assert!(parse(json!({"out": {"ls": {"m2": 100}, "ul": {"m2": 100},
            "rt": {"m2": 100}}}))
        .is_ok());
        // Without an upper limit, a real-time curve above ls is fine.
        assert!(parse(json!({"out": {"ls": {"m2": 100}, "rt": {"m2": 500}}})).is_ok());
    }

    #[test]
    fn unknown_keys_are_refused() {
        refused(json!({"in": {"ls": {"m2": 1}}}), "hostQos.in");
        refused(json!({"out": {"xx": {"m2": 1}}}), "hostQos.out.xx");
        refused(
            json!({"out": {"ls": {"m2": 1, "m3": 2}}}),
            "hostQos.out.ls.m3",
        );
        refused(json!({"out": [1]}), "hostQos.out");
        refused(json!([]), "hostQos");
    }
}
