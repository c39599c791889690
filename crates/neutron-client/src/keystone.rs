//! Keystone password authentication, v3 (`POST /v3/auth/tokens`, the token
//! in `X-Subject-Token`) or v2.0 (`POST /v2.0/tokens`, as oVirt engine
//! sends it), and the Neutron endpoint from the service catalog (type
//! `network`, interface public, the region when one is set).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::http::Transport;
use crate::url::Url;
use crate::{api_error, Error};

/// Which Keystone API the auth URL speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Version {
    #[serde(rename = "v3")]
    V3,
    #[serde(rename = "v2.0")]
    V2,
}

impl Version {
    /// `3`/`v3` or `2`/`2.0`/`v2.0`.
    pub fn parse(text: &str) -> Option<Version> {
        match text.trim_start_matches('v') {
            "3" => Some(Version::V3),
            "2" | "2.0" => Some(Version::V2),
            _ => None,
        }
    }

    /// The version an auth URL ends with (`.../v2.0` is v2.0, anything
    /// else v3).
    pub fn of_url(url: &str) -> Version {
        if url.trim_end_matches('/').ends_with("/v2.0") {
            Version::V2
        } else {
            Version::V3
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Version::V3 => "/v3",
            Version::V2 => "/v2.0",
        }
    }
}

/// Who authenticates, and where.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub auth_url: String,
    pub version: Version,
    pub username: String,
    pub password: String,
    /// The project (v3) or tenant (v2.0); none: an unscoped token, as
    /// oVirt engine asks for.
    pub project: Option<String>,
    /// The user's and project's domain (v3); `Default` unless given.
    pub domain: String,
}

/// A token and what came with it.
#[derive(Debug, Clone)]
pub struct Token {
    pub id: String,
    /// When Keystone says it expires (none: assumed to last an hour).
    pub expires: SystemTime,
    /// The service catalog as Keystone sent it.
    pub catalog: Value,
}

impl Token {
    /// Whether it is still good for `margin` (a request in flight must
    /// not carry a token that dies on the way).
    pub fn fresh(&self, margin: Duration) -> bool {
        SystemTime::now() + margin < self.expires
    }
}

/// The auth URL with the version's path: `http://h:35357` becomes
/// `http://h:35357/v3`; a URL that names the version already stays.
pub fn versioned(auth_url: &str, version: Version) -> Result<Url, Error> {
    let mut url = Url::parse(auth_url)?;
    if !url.path.ends_with(version.suffix()) {
        url.path.push_str(version.suffix());
    }
    Ok(url)
}

/// Authenticates with a password.
pub fn authenticate(t: &Transport, c: &Credentials) -> Result<Token, Error> {
    let url = versioned(&c.auth_url, c.version)?;
    let (tail, body) = match c.version {
        Version::V3 => ("/auth/tokens", v3_body(c)),
        Version::V2 => ("/tokens", v2_body(c)),
    };
    let bytes = body.to_string().into_bytes();
    let a = t.send(&url, "POST", tail, &[], Some(&bytes))?;
    let full = url.join(tail);
    if a.status == 401 || a.status == 403 {
        return Err(Error::Unauthorized {
            message: api_error(&a.body).1,
            url: full,
            status: a.status,
        });
    }
    if !(200..300).contains(&a.status) {
        return Err(crate::status_error(&full, &a));
    }
    let doc: Value = serde_json::from_slice(&a.body).map_err(|e| Error::Protocol {
        url: full.clone(),
        why: format!("not JSON: {e}"),
    })?;
    let token = match c.version {
        Version::V3 => v3_token(&doc, a.header("x-subject-token")),
        Version::V2 => v2_token(&doc),
    };
    token.ok_or_else(|| Error::Protocol {
        url: full,
        why: "no token in the answer".into(),
    })
}

fn v3_body(c: &Credentials) -> Value {
    let domain = json!({"name": c.domain});
    let mut auth = json!({"identity": {"methods": ["password"], "password": {"user": {
        "name": c.username, "domain": domain, "password": c.password}}}});
    if let Some(p) = &c.project {
        auth["scope"] = json!({"project": {"name": p, "domain": domain}});
    }
    json!({ "auth": auth })
}

fn v2_body(c: &Credentials) -> Value {
    let mut auth = json!({"passwordCredentials": {"username": c.username, "password": c.password}});
    if let Some(p) = &c.project {
        auth["tenantName"] = json!(p);
    }
    json!({ "auth": auth })
}

fn v3_token(doc: &Value, id: Option<&str>) -> Option<Token> {
    let t = &doc["token"];
    Some(Token {
        id: id?.to_string(),
        expires: expiry(t["expires_at"].as_str()),
        catalog: t.get("catalog").cloned().unwrap_or(json!([])),
    })
}

fn v2_token(doc: &Value) -> Option<Token> {
    let a = &doc["access"];
    Some(Token {
        id: a["token"]["id"].as_str()?.to_string(),
        expires: expiry(a["token"]["expires"].as_str()),
        catalog: a.get("serviceCatalog").cloned().unwrap_or(json!([])),
    })
}

fn expiry(text: Option<&str>) -> SystemTime {
    text.and_then(parse_time)
        .unwrap_or_else(|| SystemTime::now() + Duration::from_secs(3600))
}

/// The public `network` endpoint in `region` (any region when `None`), v3
/// (`endpoints[{interface, url, region_id}]`) or v2.0 (`publicURL`).
pub fn network_endpoint(catalog: &Value, region: Option<&str>) -> Result<String, Error> {
    let services = catalog.as_array().map(Vec::as_slice).unwrap_or_default();
    let in_region = |e: &Value| {
        region.is_none_or(|r| e["region_id"].as_str() == Some(r) || e["region"].as_str() == Some(r))
    };
    for s in services.iter().filter(|s| s["type"] == "network") {
        let eps = s["endpoints"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        for e in eps.iter().filter(|e| in_region(e)) {
            if let Some(u) = e["publicURL"].as_str() {
                return Ok(u.to_string());
            }
            if e["interface"] == "public" {
                if let Some(u) = e["url"].as_str() {
                    return Ok(u.to_string());
                }
            }
        }
    }
    Err(Error::NoEndpoint {
        region: region.map(|r| format!(", region {r}")).unwrap_or_default(),
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.frac][Z|+00:00]` (UTC; Keystone sends UTC).
pub fn parse_time(text: &str) -> Option<SystemTime> {
    let t = text.trim_end_matches('Z').trim_end_matches("+00:00");
    let (date, time) = t.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let time = time.split('.').next()?;
    let mut h = time.splitn(3, ':').map(|x| x.parse::<i64>().ok());
    let (hh, mm, ss) = (h.next()??, h.next()??, h.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let secs = days_from_civil(y, m, day) * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_versions_and_catalogs() {
        let t = parse_time("2026-12-07T07:00:01.000000Z").unwrap();
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            1_796_626_801
        );
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(UNIX_EPOCH));
        assert!(parse_time("yesterday").is_none());
        assert_eq!(Version::of_url("http://h:35357/v2.0/"), Version::V2);
        assert_eq!(Version::parse("3"), Some(Version::V3));
        assert_eq!(
            versioned("http://h:35357", Version::V3).unwrap().path,
            "/v3"
        );
        let v3 = json!([{"type": "identity", "endpoints": []},
            {"type": "network", "endpoints": [
                {"interface": "admin", "url": "http://a", "region_id": "R1"},
                {"interface": "public", "url": "http://p1", "region_id": "R1"},
                {"interface": "public", "url": "http://p2", "region_id": "R2"}]}]);
        assert_eq!(network_endpoint(&v3, Some("R2")).unwrap(), "http://p2");
        assert_eq!(network_endpoint(&v3, None).unwrap(), "http://p1");
        assert!(network_endpoint(&v3, Some("R3")).is_err());
        let v2 =
            json!([{"type": "network", "endpoints": [{"publicURL": "http://n", "region": "R"}]}]);
        assert_eq!(network_endpoint(&v2, Some("R")).unwrap(), "http://n");
    }
}
