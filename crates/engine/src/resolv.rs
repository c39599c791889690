//! The resolver configuration: read back for the report, written for the
//! defaultRoute network's name servers.

use std::net::IpAddr;
use std::path::Path;

/// Name servers listed in a resolv.conf, in order; none when it is missing.
pub fn read_nameservers(path: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some("nameserver"))
                .then(|| words.next())
                .flatten()
        })
        .filter(|w| w.parse::<IpAddr>().is_ok())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn nameserver_lines_are_read_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("resolv.conf");
        std::fs::write(&p, "# x\nsearch example.org\nnameserver 192.0.2.1\nnameserver  2001:db8::1 \nnameserver bogus\n").unwrap();
        assert_eq!(
            super::read_nameservers(&p),
            vec!["192.0.2.1", "2001:db8::1"]
        );
    }
}
