//! A small XML scanner that keeps byte positions.
//!
//! The migration hook must hand libvirt back the very document it was
//! given with only a few elements changed, so it never re-serialises a
//! tree: it reads the document into [`Element`]s that remember where each
//! element starts and ends in the input, and splices new text into those
//! ranges. A general XML library would normalise quotes, whitespace and
//! namespace declarations on the way through; this scanner only reads.
//!
//! It accepts what libvirt writes (elements, attributes, text, comments,
//! CDATA, processing instructions, the five predefined entities and
//! character references) and refuses everything else — a DOCTYPE, an
//! unknown entity, a mismatched end tag, a truncated document — with an
//! [`XmlError`] saying where. It never panics on any input.

/// Deepest nesting accepted: a libvirt domain is about 6 deep; the bound
/// keeps a hostile document from growing the stack of open elements.
const MAX_DEPTH: usize = 256;

/// A document the scanner refuses, with the byte offset it stopped at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed XML at byte {at}: {what}")]
pub struct XmlError {
    pub at: usize,
    pub what: String,
}

fn fail<T>(at: usize, what: impl Into<String>) -> Result<T, XmlError> {
    Err(XmlError {
        at,
        what: what.into(),
    })
}

/// An attribute: its qualified name and its value with entities decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    pub name: String,
    pub value: String,
}

/// An element and where it lies in the document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// The qualified name (`prefix:local` or `local`).
    pub name: String,
    pub attrs: Vec<Attr>,
    pub children: Vec<Element>,
    /// Its direct character data, entities decoded.
    pub text: String,
    /// Offset of its `<`.
    pub start: usize,
    /// Offset just past its end tag (or past `/>`).
    pub end: usize,
    /// Offset of its end tag's `<`; `None` for an empty-element tag.
    pub close: Option<usize>,
}

impl Element {
    /// The value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.value.as_str())
    }

    /// The local part of the name (after any `prefix:`).
    pub fn local(&self) -> &str {
        self.name.rsplit(':').next().unwrap_or(&self.name)
    }

    /// The prefix of the name, if any.
    pub fn prefix(&self) -> Option<&str> {
        self.name.split_once(':').map(|(p, _)| p)
    }

    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child named `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// Reads `doc`: the root element, with everything around it checked.
pub fn parse(doc: &str) -> Result<Element, XmlError> {
    let mut s = Scanner { doc, pos: 0 };
    s.misc()?;
    if !s.rest().starts_with('<') {
        return fail(s.pos, "no root element");
    }
    let root = s.element()?;
    s.misc()?;
    if s.pos != doc.len() {
        return fail(s.pos, "content after the root element");
    }
    Ok(root)
}

struct Scanner<'a> {
    doc: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn rest(&self) -> &'a str {
        self.doc.get(self.pos..).unwrap_or("")
    }

    /// Moves past `until`, which must come; the text before it.
    fn take_until(&mut self, until: &str, what: &str) -> Result<&'a str, XmlError> {
        let rest = self.rest();
        match rest.find(until) {
            Some(i) => {
                self.pos += i + until.len();
                Ok(&rest[..i])
            }
            None => fail(self.pos, format!("unterminated {what}")),
        }
    }

    /// Whitespace, comments and processing instructions outside the root
    /// (the XML declaration is one of the latter).
    fn misc(&mut self) -> Result<(), XmlError> {
        loop {
            let rest = self.rest();
            let trimmed = rest.trim_start_matches([' ', '\t', '\r', '\n']);
            self.pos += rest.len() - trimmed.len();
            if trimmed.starts_with("<!--") {
                self.pos += 4;
                self.take_until("-->", "comment")?;
            } else if trimmed.starts_with("<?") {
                self.pos += 2;
                self.take_until("?>", "processing instruction")?;
            } else if trimmed.starts_with("<!") {
                return fail(self.pos, "a DOCTYPE or declaration is not accepted");
            } else {
                return Ok(());
            }
        }
    }

    /// One element and everything in it, with an explicit stack of open
    /// elements rather than recursion.
    fn element(&mut self) -> Result<Element, XmlError> {
        let mut stack: Vec<Element> = Vec::new();
        loop {
            let rest = self.rest();
            if rest.is_empty() {
                return fail(self.pos, "truncated document: unclosed elements");
            }
            if rest.starts_with("</") {
                let done = self.end_tag(&mut stack)?;
                if let Some(root) = done {
                    return Ok(root);
                }
            } else if rest.starts_with("<!--") {
                self.pos += 4;
                self.take_until("-->", "comment")?;
            } else if rest.starts_with("<![CDATA[") {
                self.pos += 9;
                let data = self.take_until("]]>", "CDATA section")?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(data);
                }
            } else if rest.starts_with("<?") {
                self.pos += 2;
                self.take_until("?>", "processing instruction")?;
            } else if rest.starts_with("<!") {
                return fail(self.pos, "a declaration inside an element");
            } else if rest.starts_with('<') {
                let (el, empty) = self.start_tag()?;
                if empty {
                    match stack.last_mut() {
                        Some(top) => top.children.push(el),
                        None => return Ok(el),
                    }
                } else if stack.len() >= MAX_DEPTH {
                    return fail(el.start, "elements nested too deep");
                } else {
                    stack.push(el);
                }
            } else {
                self.char_data(&mut stack)?;
            }
        }
    }

    /// Text up to the next `<`, decoded into the open element.
    fn char_data(&mut self, stack: &mut [Element]) -> Result<(), XmlError> {
        let at = self.pos;
        let rest = self.rest();
        let len = rest.find('<').unwrap_or(rest.len());
        self.pos += len;
        let text = decode(&rest[..len], at)?;
        match stack.last_mut() {
            Some(top) => top.text.push_str(&text),
            None if text.trim().is_empty() => {}
            None => return fail(at, "text outside the root element"),
        }
        Ok(())
    }

    /// An end tag: closes the open element, which must have its name.
    /// The closed element, when it was the outermost.
    fn end_tag(&mut self, stack: &mut Vec<Element>) -> Result<Option<Element>, XmlError> {
        let at = self.pos;
        self.pos += 2;
        let name = self.take_until(">", "end tag")?.trim_end();
        let Some(mut el) = stack.pop() else {
            return fail(at, format!("end tag </{name}> with nothing open"));
        };
        if el.name != name {
            return fail(at, format!("end tag </{name}> closes <{}>", el.name));
        }
        el.close = Some(at);
        el.end = self.pos;
        match stack.last_mut() {
            Some(parent) => {
                parent.children.push(el);
                Ok(None)
            }
            None => Ok(Some(el)),
        }
    }

    /// A start tag (or empty-element tag): the element and whether it
    /// was empty.
    fn start_tag(&mut self) -> Result<(Element, bool), XmlError> {
        let start = self.pos;
        self.pos += 1;
        let name = self.name()?;
        let mut el = Element {
            name,
            start,
            ..Element::default()
        };
        loop {
            let ws = self.skip_ws();
            let rest = self.rest();
            if rest.starts_with("/>") {
                self.pos += 2;
                el.end = self.pos;
                return Ok((el, true));
            }
            if rest.starts_with('>') {
                self.pos += 1;
                return Ok((el, false));
            }
            if rest.is_empty() {
                return fail(self.pos, format!("truncated start tag <{}", el.name));
            }
            if !ws {
                return fail(self.pos, "attributes must be separated by whitespace");
            }
            let attr = self.attribute()?;
            if el.attr(&attr.name).is_some() {
                return fail(self.pos, format!("attribute {} given twice", attr.name));
            }
            el.attrs.push(attr);
        }
    }

    /// `name = "value"` or `name = 'value'`.
    fn attribute(&mut self) -> Result<Attr, XmlError> {
        let name = self.name()?;
        self.skip_ws();
        if !self.rest().starts_with('=') {
            return fail(self.pos, format!("attribute {name} has no value"));
        }
        self.pos += 1;
        self.skip_ws();
        let quote = match self.rest().chars().next() {
            Some(q @ ('"' | '\'')) => q,
            _ => return fail(self.pos, format!("attribute {name}: value not quoted")),
        };
        self.pos += 1;
        let at = self.pos;
        let raw = self.take_until(if quote == '"' { "\"" } else { "'" }, "attribute value")?;
        if raw.contains('<') {
            return fail(at, format!("attribute {name}: '<' in a value"));
        }
        Ok(Attr {
            name,
            value: decode(raw, at)?,
        })
    }

    /// An element or attribute name.
    fn name(&mut self) -> Result<String, XmlError> {
        let rest = self.rest();
        let len = rest
            .find(|c: char| c.is_whitespace() || matches!(c, '/' | '>' | '=' | '<' | '"' | '\''))
            .unwrap_or(rest.len());
        let name = &rest[..len];
        let bad_start = name
            .chars()
            .next()
            .is_none_or(|c| c.is_ascii_digit() || matches!(c, '-' | '.' | ':'));
        if bad_start {
            return fail(self.pos, "expected a name");
        }
        self.pos += len;
        Ok(name.to_string())
    }

    /// Skips whitespace; whether there was any.
    fn skip_ws(&mut self) -> bool {
        let rest = self.rest();
        let trimmed = rest.trim_start_matches([' ', '\t', '\r', '\n']);
        self.pos += rest.len() - trimmed.len();
        trimmed.len() != rest.len()
    }
}

/// Decodes the predefined entities and character references of `raw`,
/// which starts at byte `at` of the document.
fn decode(raw: &str, at: usize) -> Result<String, XmlError> {
    if !raw.contains('&') {
        return Ok(raw.to_string());
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let Some(semi) = after.find(';') else {
            return fail(at + raw.len() - rest.len() + i, "unterminated entity");
        };
        let entity = &after[..semi];
        let ch = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "apos" => Some('\''),
            "quot" => Some('"'),
            _ => char_ref(entity),
        };
        match ch {
            Some(c) => out.push(c),
            None => {
                return fail(
                    at + raw.len() - rest.len() + i,
                    format!(
                        "unknown entity &{};",
                        entity.chars().take(20).collect::<String>()
                    ),
                )
            }
        }
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `#N` or `#xH` as a character.
fn char_ref(entity: &str) -> Option<char> {
    let n = if let Some(hex) = entity.strip_prefix("#x") {
        u32::from_str_radix(hex, 16).ok()?
    } else {
        entity.strip_prefix('#')?.parse::<u32>().ok()?
    };
    char::from_u32(n).filter(|c| *c != '\0')
}

/// `value` escaped for an attribute in single or double quotes.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_cover_each_element() {
        let doc = "<?xml version='1.0'?>\n<!-- c -->\n<a x='1' y=\"&lt;2&gt;\">t&amp;u<b/><c k='v'>\n</c></a>\n";
        let a = parse(doc).expect("parses");
        assert_eq!(a.name, "a");
        assert_eq!(a.attr("y"), Some("<2>"));
        assert_eq!(a.text.trim(), "t&u");
        let b = a.child("b").expect("b");
        assert_eq!(&doc[b.start..b.end], "<b/>");
        assert_eq!(b.close, None);
        let c = a.child("c").expect("c");
        assert_eq!(&doc[c.start..c.end], "<c k='v'>\n</c>");
        assert_eq!(
            &doc[a.start..a.end],
            doc.trim_end().split_once("-->\n").unwrap().1
        );
    }

    #[test]
    fn bad_documents_are_refused_not_panicked_on() {
        for bad in [
            "",
            "<",
            "<a",
            "<a>",
            "<a></b>",
            "<a x=1/>",
            "<a x='1' x='2'/>",
            "<a>&bogus;</a>",
            "<a>&#0;</a>",
            "<!DOCTYPE a><a/>",
            "<a/><b/>",
            "text",
            "<a><!-- open</a>",
            "<a x='<'/>",
            "<a x='1'y='2'/>",
            "</a>",
            "<1a/>",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn depth_is_bounded() {
        let deep = "<a>".repeat(MAX_DEPTH + 2);
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn every_prefix_of_a_document_is_handled() {
        let doc = "<domain type='kvm'><name>v</name><!-- x --><devices><interface type='bridge'><mac address='52:54:00:00:00:01'/></interface></devices></domain>";
        for i in 0..doc.len() {
            assert!(parse(&doc[..i]).is_err(), "prefix {i} accepted");
        }
        assert!(parse(doc).is_ok());
    }

    #[test]
    fn escape_round_trips() {
        let v = "a'b\"c<d>&e";
        let doc = format!("<a v='{}'/>", escape(v));
        assert_eq!(parse(&doc).expect("parses").attr("v"), Some(v));
    }
}
