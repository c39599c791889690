//! Reading frames out of a byte stream, within bounds.

use crate::frame::{unescape, Command, Frame, FrameError};

/// What a decoder will hold for one frame.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// The command line and headers, with their EOLs.
    pub max_head: usize,
    /// Header lines.
    pub max_headers: usize,
    /// The body.
    pub max_body: usize,
}

impl Default for Bounds {
    /// 64 KiB of headers (an engine sends a handful), 100 of them, and
    /// 16 MiB of body: the daemon's bound on one JSON-RPC message.
    fn default() -> Self {
        Bounds {
            max_head: 64 << 10,
            max_headers: 100,
            max_body: 16 << 20,
        }
    }
}

/// What came off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A whole frame.
    Frame(Frame),
    /// A bare EOL between frames: the peer is alive.
    HeartBeat,
}

/// A frame's command line and headers, read but not yet its body.
struct Head {
    command: Command,
    headers: Vec<(String, String)>,
    /// Bytes of the head, blank line included.
    len: usize,
    content_length: Option<usize>,
}

/// Frames out of bytes pushed in as they arrive.
#[derive(Default)]
pub struct Decoder {
    bounds: Bounds,
    buf: Vec<u8>,
    /// Where to go on looking for the NUL of a body without
    /// content-length, so a body coming in pieces is scanned once.
    nul_from: usize,
}

impl Decoder {
    /// A decoder within `bounds`.
    pub fn new(bounds: Bounds) -> Decoder {
        Decoder {
            bounds,
            buf: Vec::new(),
            nul_from: 0,
        }
    }

    /// Appends bytes read from the peer.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held for a frame not complete yet.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next heart-beat or frame, `None` until more bytes are needed.
    /// After an error the stream is lost (STOMP has no resync): the
    /// caller answers `ERROR` and closes.
    pub fn next_item(&mut self) -> Result<Option<Item>, FrameError> {
        match self.buf.first() {
            None => return Ok(None),
            Some(b'\n') => {
                self.consume(1);
                return Ok(Some(Item::HeartBeat));
            }
            Some(b'\r') => {
                return match self.buf.get(1) {
                    None => Ok(None),
                    Some(b'\n') => {
                        self.consume(2);
                        Ok(Some(Item::HeartBeat))
                    }
                    Some(_) => Err(FrameError::UnknownCommand("\r".into())),
                };
            }
            Some(_) => {}
        }
        let Some(head) = self.head()? else {
            return Ok(None);
        };
        let Some(body) = self.body(&head)? else {
            return Ok(None);
        };
        let frame = Frame {
            command: head.command,
            headers: head.headers,
            body,
        };
        Ok(Some(Item::Frame(frame)))
    }

    fn consume(&mut self, n: usize) {
        self.buf.drain(..n);
        self.nul_from = 0;
        if self.buf.is_empty() && self.buf.capacity() > 1 << 16 {
            // A big frame's buffer is not kept for a connection's life.
            self.buf = Vec::new();
        }
    }

    /// The command and headers, once the blank line after them is in.
    fn head(&self) -> Result<Option<Head>, FrameError> {
        let mut lines = Vec::new();
        let mut at = 0;
        let len = loop {
            let Some(nl) = self.buf[at..].iter().position(|&b| b == b'\n') else {
                if self.buf.len() > self.bounds.max_head {
                    return Err(FrameError::HeadersTooLong(self.bounds.max_head));
                }
                return Ok(None);
            };
            let end = at + nl;
            if end + 1 > self.bounds.max_head {
                return Err(FrameError::HeadersTooLong(self.bounds.max_head));
            }
            let line = &self.buf[at..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            at = end + 1;
            if line.is_empty() {
                break at;
            }
            if lines.len() > self.bounds.max_headers {
                return Err(FrameError::TooManyHeaders(self.bounds.max_headers));
            }
            lines.push(line);
        };
        let Some((first, rest)) = lines.split_first() else {
            return Err(FrameError::UnknownCommand(String::new()));
        };
        let command = Command::parse(first).ok_or_else(|| {
            FrameError::UnknownCommand(
                String::from_utf8_lossy(&first[..first.len().min(32)]).into(),
            )
        })?;
        let headers = rest
            .iter()
            .map(|l| header(l, command.escapes_headers()))
            .collect::<Result<Vec<_>, _>>()?;
        let content_length = match headers.iter().find(|(n, _)| n == "content-length") {
            None => None,
            Some((_, v)) => Some(
                v.trim()
                    .parse::<usize>()
                    .map_err(|_| FrameError::BadLength(v.chars().take(32).collect()))?,
            ),
        };
        Ok(Some(Head {
            command,
            headers,
            len,
            content_length,
        }))
    }

    /// The body after `head`, once it and its NUL are in; consumes the
    /// frame.
    fn body(&mut self, head: &Head) -> Result<Option<Vec<u8>>, FrameError> {
        let max = self.bounds.max_body;
        let start = head.len;
        let (len, end) = match head.content_length {
            Some(n) if n > max => return Err(FrameError::BodyTooLong(max)),
            Some(n) => {
                if self.buf.len() < start + n + 1 {
                    return Ok(None);
                }
                if self.buf[start + n] != 0 {
                    return Err(FrameError::NoNul(n));
                }
                (n, start + n + 1)
            }
            None => {
                let from = self.nul_from.max(start);
                match self.buf[from..].iter().position(|&b| b == 0) {
                    Some(i) if from + i - start > max => return Err(FrameError::BodyTooLong(max)),
                    Some(i) => (from + i - start, from + i + 1),
                    None if self.buf.len() - start > max => {
                        return Err(FrameError::BodyTooLong(max))
                    }
                    None => {
                        self.nul_from = self.buf.len();
                        return Ok(None);
                    }
                }
            }
        };
        let body = self.buf[start..start + len].to_vec();
        self.consume(end);
        Ok(Some(body))
    }
}

/// One `name:value` line, split at its first colon and unescaped.
fn header(line: &[u8], escape: bool) -> Result<(String, String), FrameError> {
    let text = std::str::from_utf8(line).map_err(|_| FrameError::NotUtf8)?;
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| FrameError::NoColon(text.chars().take(64).collect()))?;
    Ok((unescape(name, escape)?, unescape(value, escape)?))
}

#[cfg(test)]
mod tests;
