//! The subject of a client certificate, as RFC 4514 prints it
//! (`CN=engine.example.com,O=Example`): what `openssl x509 -noout
//! -subject -nameopt RFC2253` shows, so an admin copies that line into the
//! list of subjects that may change the host.
//!
//! A minimal DER walk (rustls has verified the certificate already): down
//! the TBSCertificate to its subject Name, then each RDN's attributes.

/// One DER element: its tag, its contents, and what follows it.
fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The elements of a constructed value, in order.
fn children(mut der: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut out = Vec::new();
    while !der.is_empty() {
        let (tag, value, rest) = element(der)?;
        out.push((tag, value));
        der = rest;
    }
    Some(out)
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;

/// The subject of a DER certificate in RFC 4514 form; `None` for bytes
/// that are not a certificate.
pub(crate) fn of_certificate(der: &[u8]) -> Option<String> {
    let (SEQUENCE, cert, _) = element(der)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = element(cert)? else {
        return None;
    };
    let fields = children(tbs)?;
    // An explicit version ([0]) comes first in v3 certificates.
    let skip = usize::from(fields.first()?.0 == 0xa0);
    // serial, signature, issuer, validity, subject
    let (tag, subject) = *fields.get(skip + 4)?;
    (tag == SEQUENCE).then(|| name(subject))?
}

/// A Name: RDNs in reverse order (RFC 4514), `,` between them, `+`
/// between the attributes of one RDN.
fn name(der: &[u8]) -> Option<String> {
    let mut rdns = Vec::new();
    for (tag, set) in children(der)? {
        if tag != SET {
            return None;
        }
        let mut attrs = Vec::new();
        for (tag, atv) in children(set)? {
            if tag != SEQUENCE {
                return None;
            }
            attrs.push(attribute(atv)?);
        }
        rdns.push(attrs.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

/// `TYPE=value` of one AttributeTypeAndValue.
fn attribute(der: &[u8]) -> Option<String> {
    let (OID, oid, rest) = element(der)? else {
        return None;
    };
    let (tag, value, _) = element(rest)?;
    let key = short_name(oid).map_or_else(|| dotted(oid), str::to_string);
    let text = match tag {
        // UTF8String, PrintableString, IA5String, T61String (as Latin-1
        // would be wrong for most; the common case is ASCII)
        0x0c | 0x13 | 0x16 | 0x14 => String::from_utf8_lossy(value).into_owned(),
        // BMPString: UTF-16BE
        0x1e => {
            let units: Vec<u16> = value
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        _ => return Some(format!("{key}=#{}", hex(value))),
    };
    Some(format!("{key}={}", escape(&text)))
}

/// The names RFC 4514 (and openssl) print for the usual attributes.
fn short_name(oid: &[u8]) -> Option<&'static str> {
    Some(match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x09] => "STREET",
        [0x55, 0x04, 0x0a] => "O",
        [0x55, 0x04, 0x0b] => "OU",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => "UID",
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "emailAddress",
        _ => return None,
    })
}

/// An OID in dotted decimal.
fn dotted(oid: &[u8]) -> String {
    let mut arcs = Vec::new();
    let mut n: u64 = 0;
    for &b in oid {
        n = (n << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (n / 40).min(2);
                arcs.push(first);
                arcs.push(n - first * 40);
            } else {
                arcs.push(n);
            }
            n = 0;
        }
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// RFC 4514 escaping of a value: the specials, a leading `#` or space and
/// a trailing space get a backslash.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_oids_as_rfc_4514_says() {
        assert_eq!(escape("a,b+c"), "a\\,b\\+c");
        assert_eq!(escape(" #x "), "\\ #x\\ ");
        assert_eq!(
            dotted(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d]),
            "1.2.840.113549"
        );
        assert_eq!(of_certificate(b"\x30\x03\x02\x01\x00"), None);
        assert_eq!(of_certificate(b""), None);
    }
}
