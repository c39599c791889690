//! A list call's query: filters on any attribute (`?name=x&name=y` is
//! either), `fields`, `sort_key`/`sort_dir`, `limit` and `marker` — applied
//! to the rendered objects, so every resource gets them alike.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::error::ApiError;

/// Keys that shape a list rather than filter it.
const CONTROL: &[&str] = &[
    "fields",
    "limit",
    "marker",
    "sort_key",
    "sort_dir",
    "page_reverse",
    "verbose",
];

/// A parsed list query.
#[derive(Debug, Default)]
pub struct ListQuery {
    filters: Vec<(String, Vec<String>)>,
    /// Attributes to keep (empty: all).
    pub fields: Vec<String>,
    sort: Vec<(String, bool)>,
    limit: Option<usize>,
    marker: Option<String>,
}

impl ListQuery {
    /// Parses the pairs of a query string.
    pub fn parse(q: &[(String, String)]) -> Result<Self, ApiError> {
        let mut out = Self::default();
        let mut dirs = Vec::new();
        for (k, v) in q {
            match k.as_str() {
                "fields" => out.fields.extend(v.split(',').map(str::to_owned)),
                "limit" => out.limit = Some(parse_limit(v)?),
                "marker" => out.marker = Some(v.clone()),
                "sort_key" => out.sort.push((v.clone(), true)),
                "sort_dir" => dirs.push(match v.as_str() {
                    "asc" => true,
                    "desc" => false,
                    _ => return Err(ApiError::bad(format!("sort_dir: '{v}' is not asc or desc"))),
                }),
                k if CONTROL.contains(&k) => {}
                _ => match out.filters.iter_mut().find(|(f, _)| f == k) {
                    Some((_, vals)) => vals.push(v.clone()),
                    None => out.filters.push((k.to_owned(), vec![v.clone()])),
                },
            }
        }
        if !dirs.is_empty() && dirs.len() != out.sort.len() {
            return Err(ApiError::bad("sort_dir: give one per sort_key"));
        }
        for (s, d) in out.sort.iter_mut().zip(dirs) {
            s.1 = d;
        }
        Ok(out)
    }

    /// Whether an object passes every filter.
    pub fn matches(&self, o: &Value) -> bool {
        self.filters
            .iter()
            .all(|(k, vals)| vals.iter().any(|want| matches_one(o.get(k), want)))
    }

    /// Filters, sorts, pages and trims `all`.
    pub fn apply(&self, all: Vec<Value>) -> Result<Vec<Value>, ApiError> {
        let mut v: Vec<Value> = all.into_iter().filter(|o| self.matches(o)).collect();
        if !self.sort.is_empty() {
            v.sort_by(|a, b| self.compare(a, b));
        }
        if let Some(m) = &self.marker {
            let at = v
                .iter()
                .position(|o| o.get("id").and_then(Value::as_str) == Some(m))
                .ok_or_else(|| ApiError::bad(format!("marker: no object has id {m}")))?;
            v.drain(..=at);
        }
        if let Some(l) = self.limit {
            v.truncate(l);
        }
        Ok(v.into_iter().map(|o| self.trim(o)).collect())
    }

    /// Whether the list is neither filtered nor sorted: objects can then
    /// be written as the replica yields them.
    pub fn plain(&self) -> bool {
        self.filters.is_empty() && self.sort.is_empty()
    }

    /// The id to start after.
    pub fn marker(&self) -> Option<&str> {
        self.marker.as_deref()
    }

    /// The page size.
    pub fn limit(&self) -> Option<usize> {
        self.limit
    }

    /// Whether the page may have a next one (a full page).
    pub fn full_page(&self, n: usize) -> bool {
        self.limit.is_some_and(|l| l > 0 && n == l)
    }

    fn compare(&self, a: &Value, b: &Value) -> Ordering {
        for (k, asc) in &self.sort {
            let o = cmp_values(a.get(k), b.get(k));
            if o != Ordering::Equal {
                return if *asc { o } else { o.reverse() };
            }
        }
        Ordering::Equal
    }

    /// Keeps only `fields` of one object.
    pub fn trim(&self, o: Value) -> Value {
        if self.fields.is_empty() {
            return o;
        }
        match o {
            Value::Object(m) => Value::Object(
                m.into_iter()
                    .filter(|(k, _)| self.fields.iter().any(|f| f == k))
                    .collect::<Map<_, _>>(),
            ),
            o => o,
        }
    }
}

fn parse_limit(v: &str) -> Result<usize, ApiError> {
    v.parse::<usize>()
        .map_err(|_| ApiError::bad(format!("limit: '{v}' is not a non-negative integer")))
}

/// One filter value against one attribute: strings equal, numbers and
/// booleans by their text (`True` too), lists by any member, and
/// `fixed_ips=ip_address=X` / `subnet_id=Y` by that key of any member.
fn matches_one(v: Option<&Value>, want: &str) -> bool {
    match v {
        None => false,
        Some(Value::Null) => want.is_empty() || want == "None",
        Some(Value::String(s)) => s == want,
        Some(Value::Bool(b)) => want.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        Some(Value::Number(n)) => n.to_string() == want,
        Some(Value::Array(a)) => a.iter().any(|x| match (x, want.split_once('=')) {
            (Value::Object(m), Some((k, w))) => m.get(k).and_then(Value::as_str) == Some(w),
            (x, _) => matches_one(Some(x), want),
        }),
        Some(Value::Object(_)) => false,
    }
}

fn cmp_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
        (a, b) => a.is_some().cmp(&b.is_some()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(s: &str) -> ListQuery {
        ListQuery::parse(&crate::http::parse_query(s)).unwrap()
    }

    #[test]
    fn filters_sort_page_and_trim() {
        let all = vec![
            json!({"id": "a", "name": "x", "mtu": 1500, "up": true}),
            json!({"id": "b", "name": "y", "mtu": 1400, "up": false}),
            json!({"id": "c", "name": "x", "mtu": 1300, "up": true}),
        ];
        let r = q("name=x&sort_key=mtu&sort_dir=asc&fields=id")
            .apply(all.clone())
            .unwrap();
        assert_eq!(r, vec![json!({"id": "c"}), json!({"id": "a"})]);
        let r = q("up=True&mtu=1500").apply(all.clone()).unwrap();
        assert_eq!(r.len(), 1);
        let r = q("sort_key=id&sort_dir=desc&limit=1&marker=c")
            .apply(all)
            .unwrap();
        assert_eq!(r[0]["id"], "b");
        assert!(ListQuery::parse(&crate::http::parse_query("limit=x")).is_err());
    }

    #[test]
    fn fixed_ips_filter_by_member_key() {
        let p = json!({"fixed_ips": [{"subnet_id": "s", "ip_address": "10.0.0.5"}]});
        assert!(q("fixed_ips=ip_address%3D10.0.0.5").matches(&p));
        assert!(!q("fixed_ips=ip_address%3D10.0.0.6").matches(&p));
    }
}
