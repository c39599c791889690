//! Escaping and small text helpers shared by the renderers.

/// Escapes text for XML character data and attribute values. Characters
/// XML 1.0 forbids (most control characters) become U+FFFD, so an odd
/// device name cannot make the document ill-formed.
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for a DOT double-quoted string. Backslash is DOT's escape
/// character (`\n`, `\l`, `\N`...), so a literal one is doubled; line
/// breaks in the data become spaces (the renderer adds its own).
pub fn dot(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A bit rate the way people read it: the largest unit that divides it.
pub fn rate(bits: u64) -> String {
    for (unit, name) in [
        (1_000_000_000, "Gbit/s"),
        (1_000_000, "Mbit/s"),
        (1_000, "kbit/s"),
    ] {
        if bits >= unit && bits.is_multiple_of(unit) {
            return format!("{} {name}", bits / unit);
        }
    }
    format!("{bits} bit/s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_markup_and_controls() {
        assert_eq!(xml("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(xml("x\u{1}y"), "x\u{FFFD}y");
    }

    #[test]
    fn dot_escapes_quotes_and_backslashes() {
        assert_eq!(dot(r#"a"b\n"#), r#"a\"b\\n"#);
    }

    #[test]
    fn rates_pick_the_largest_dividing_unit() {
        assert_eq!(rate(10_000_000), "10 Mbit/s");
        assert_eq!(rate(1_500_000), "1500 kbit/s");
        assert_eq!(rate(2_000_000_000), "2 Gbit/s");
        assert_eq!(rate(999), "999 bit/s");
    }
}
