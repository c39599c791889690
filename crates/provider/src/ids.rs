//! Random identifiers and timestamps: Neutron ids are UUIDs (version 4),
//! tokens are 128 random bits, MACs are random in the locally administered
//! `fa:16:3e` prefix Neutron uses, and times are ISO 8601 UTC.

use std::io::Read;
use std::time::{SystemTime, UNIX_EPOCH};

/// `n` random bytes from the kernel's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // /dev/urandom never blocks once the pool is seeded; a failure here
    // means a broken system, where a token must not be made at all.
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("/dev/urandom is readable");
    b
}

/// A random UUID, version 4 (RFC 9562 §5.4).
pub fn uuid4() -> String {
    netswitch_ovsdb::Uuid::from_bytes(random_bytes::<16>(), 4).0
}

/// A token: 32 hex digits.
pub fn token() -> String {
    random_bytes::<16>()
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// A MAC in Neutron's `fa:16:3e` prefix.
pub fn mac() -> String {
    let b = random_bytes::<3>();
    format!("fa:16:3e:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2])
}

/// Whether `s` looks like a UUID (any version; ids from other tools too).
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `secs` since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (days to civil date
/// after Howard Hinnant's public-domain algorithm).
pub fn iso8601(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_their_shapes() {
        let u = uuid4();
        assert!(is_uuid(&u), "{u}");
        assert_eq!(&u[14..15], "4");
        assert_eq!(token().len(), 32);
        assert!(mac().starts_with("fa:16:3e:"));
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_796_083_200), "2026-12-01T00:00:00Z");
    }
}
