//! Splits the byte stream from the peer into JSON-RPC messages, bounded.
//!
//! RFC 7047 messages are JSON objects sent back to back with no length
//! prefix, so the only way to find a message's end is to follow its
//! brackets and strings. A streaming JSON parser would buffer whatever the
//! peer sends: one endless string and the process grows until the kernel
//! kills it (issue 14). So the framer counts every byte of the message in
//! progress and gives up, with [`FrameError::TooLarge`], as soon as it
//! passes the limit; only complete messages are handed to `serde_json`.

use serde_json::Value;

/// Why the stream cannot be read on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// A message grew past the limit before it ended.
    TooLarge,
    /// Something that is not a JSON object or array, or invalid JSON.
    Malformed(String),
}

/// The state of the message in progress, kept across reads.
#[derive(Debug)]
pub(crate) struct Framer {
    /// The bytes of the message in progress read so far.
    cur: Vec<u8>,
    /// Bracket nesting depth; 0 between messages.
    depth: usize,
    in_str: bool,
    escaped: bool,
    max: usize,
}

impl Framer {
    /// A framer that refuses messages longer than `max` bytes.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            cur: Vec::new(),
            depth: 0,
            in_str: false,
            escaped: false,
            max,
        }
    }

    /// Consumes `chunk`, pushing every message it completes onto `out`.
    /// After an error the framer is unusable: the connection must go.
    pub(crate) fn feed(&mut self, chunk: &[u8], out: &mut Vec<Value>) -> Result<(), FrameError> {
        // Where the message in progress starts within `chunk`.
        let mut start = 0;
        for (i, &b) in chunk.iter().enumerate() {
            if self.depth == 0 {
                match b {
                    b' ' | b'\t' | b'\n' | b'\r' => {
                        start = i + 1;
                        continue;
                    }
                    b'{' | b'[' => start = i,
                    other => {
                        return Err(FrameError::Malformed(format!(
                            "byte {other:#04x} between messages"
                        )))
                    }
                }
            }
            if self.step(b) {
                let end = i + 1;
                self.check(end - start)?;
                self.cur.extend_from_slice(&chunk[start..end]);
                out.push(self.finish()?);
                start = end;
            }
        }
        if self.depth > 0 && start < chunk.len() {
            self.check(chunk.len() - start)?;
            self.cur.extend_from_slice(&chunk[start..]);
        }
        Ok(())
    }

    /// Advances the bracket/string state by one byte of a message; true
    /// when that byte closes the message.
    fn step(&mut self, b: u8) -> bool {
        if self.in_str {
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.in_str = false;
            }
            return false;
        }
        match b {
            b'"' => self.in_str = true,
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' => {
                self.depth -= 1;
                return self.depth == 0;
            }
            _ => {}
        }
        false
    }

    /// Errs if `more` bytes would take the message past the limit, before
    /// they are copied.
    fn check(&self, more: usize) -> Result<(), FrameError> {
        if self.cur.len().saturating_add(more) > self.max {
            return Err(FrameError::TooLarge);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<Value, FrameError> {
        let v = serde_json::from_slice(&self.cur).map_err(|e| FrameError::Malformed(e.to_string()));
        self.cur = Vec::new();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn frames(chunks: &[&[u8]], max: usize) -> Result<Vec<Value>, FrameError> {
        let mut f = Framer::new(max);
        let mut out = Vec::new();
        for c in chunks {
            f.feed(c, &mut out)?;
        }
        Ok(out)
    }

    #[test]
    fn messages_split_anywhere_come_out_whole() {
        let msgs = br#"{"id":1,"result":["a}\"]",{"b":[]}]} [2]{"x":"\\"}"#;
        let want = vec![
            json!({"id":1,"result":["a}\"]",{"b":[]}]}),
            json!([2]),
            json!({"x":"\\"}),
        ];
        for cut in 0..msgs.len() {
            let (a, b) = msgs.split_at(cut);
            assert_eq!(frames(&[a, b], 1 << 20).unwrap(), want, "cut at {cut}");
        }
    }

    #[test]
    fn a_message_over_the_limit_fails_before_it_is_buffered() {
        let mut f = Framer::new(16);
        let mut out = Vec::new();
        f.feed(br#"{"a":"0123456"#, &mut out).unwrap();
        assert_eq!(f.feed(b"789abcdef", &mut out), Err(FrameError::TooLarge));
        assert!(f.cur.len() <= 16);
        // Exactly at the limit is fine.
        assert_eq!(frames(&[br#"{"a":"012345678"}"#], 17).unwrap().len(), 1);
    }

    #[test]
    fn garbage_between_messages_is_malformed() {
        assert!(matches!(
            frames(&[b"{} x"], 100),
            Err(FrameError::Malformed(_))
        ));
        assert!(matches!(
            frames(&[b"{\"a\":tru}"], 100),
            Err(FrameError::Malformed(_))
        ));
    }
}
