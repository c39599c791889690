//! The few URLs a provider has: `http[s]://HOST[:PORT][/PATH]`, with IPv6
//! hosts in brackets. Parsed once, so every request goes to the same
//! place and a bad URL is refused before anything is sent.

use crate::Error;

/// A parsed base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `https` or not.
    pub tls: bool,
    /// The host as written, without brackets.
    pub host: String,
    pub port: u16,
    /// The path prefix, without a trailing `/` (`""` for the root).
    pub path: String,
}

impl Url {
    /// Parses `text`; anything but http/https with a host is refused.
    pub fn parse(text: &str) -> Result<Url, Error> {
        let bad = |why: &str| Error::BadUrl {
            url: text.to_string(),
            why: why.to_string(),
        };
        let (tls, rest) = if let Some(r) = text.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = text.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(bad("not http:// or https://"));
        };
        if rest.contains(['?', '#', ' ', '@']) {
            return Err(bad("a query, fragment, user or space is not allowed"));
        }
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (host, port) = split_host_port(authority).ok_or_else(|| bad("bad host or port"))?;
        let port = match port {
            Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0),
            None => Some(if tls { 443 } else { 80 }),
        }
        .ok_or_else(|| bad("bad port"))?;
        Ok(Url {
            tls,
            host,
            port,
            path: path.trim_end_matches('/').to_string(),
        })
    }

    /// `host:port` as a socket address string (IPv6 in brackets).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The URL with `tail` appended to its path.
    pub fn join(&self, tail: &str) -> String {
        format!(
            "{}://{}{}{}",
            if self.tls { "https" } else { "http" },
            self.authority(),
            self.path,
            tail
        )
    }
}

fn split_host_port(a: &str) -> Option<(String, Option<&str>)> {
    if let Some(rest) = a.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        return (!host.is_empty()).then(|| (host.to_string(), port));
    }
    let (host, port) = match a.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (a, None),
    };
    let ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    ok.then(|| (host.to_string(), port))
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
pub fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("https://[::1]:9696/v2.0/").unwrap();
        assert_eq!((u.tls, u.host.as_str(), u.port), (true, "::1", 9696));
        assert_eq!(u.path, "/v2.0");
        assert_eq!(u.join("/ports"), "https://[::1]:9696/v2.0/ports");
        let u = Url::parse("http://keystone.example").unwrap();
        assert_eq!((u.port, u.path.as_str()), (80, ""));
        for bad in [
            "ftp://x",
            "http://",
            "http://h:0",
            "http://h:99999",
            "http://a b",
            "http://u@h",
            "h:1",
        ] {
            assert_eq!(Url::parse(bad).unwrap_err().code(), 21, "{bad}");
        }
        assert_eq!(encode("a b/ü"), "a%20b%2F%C3%BC");
    }
}
