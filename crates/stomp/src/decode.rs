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
    /// Reserve a body's whole announced `content-length` at once, so a big
    /// body is received into one buffer without growing it (a client
    /// reading answers from a server it trusts). Off, a peer's claim alone
    /// costs no memory: the buffer grows as the bytes come (a server).
    pub reserve_announced: bool,
}

impl Default for Bounds {
    /// 64 KiB of headers (an engine sends a handful), 100 of them, and
    /// 16 MiB of body: the daemon's bound on one JSON-RPC message.
    fn default() -> Self {
        Bounds {
            max_head: 64 << 10,
            max_headers: 100,
            max_body: 16 << 20,
            reserve_announced: false,
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

/// A frame whose head is read and whose body, of announced length, is
/// being collected in a buffer of its own: bytes pushed go straight there
/// (one copy), and the buffer becomes the frame's body as it is.
struct Open {
    head: Head,
    /// The body and its NUL: `len + 1` bytes once complete.
    body: Vec<u8>,
    len: usize,
}

/// Frames out of bytes pushed in as they arrive.
#[derive(Default)]
pub struct Decoder {
    bounds: Bounds,
    buf: Vec<u8>,
    /// Where to go on looking for the NUL of a body without
    /// content-length, so a body coming in pieces is scanned once.
    nul_from: usize,
    open: Option<Open>,
}

impl Decoder {
    /// A decoder within `bounds`.
    pub fn new(bounds: Bounds) -> Decoder {
        Decoder {
            bounds,
            ..Decoder::default()
        }
    }

    /// Appends bytes read from the peer.
    pub fn push(&mut self, mut bytes: &[u8]) {
        if let Some(open) = &mut self.open {
            let take = (open.len + 1 - open.body.len()).min(bytes.len());
            open.body.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held for a frame not complete yet.
    pub fn buffered(&self) -> usize {
        self.buf.len() + self.open.as_ref().map_or(0, |o| o.head.len + o.body.len())
    }

    /// The next heart-beat or frame, `None` until more bytes are needed.
    /// After an error the stream is lost (STOMP has no resync): the
    /// caller answers `ERROR` and closes.
    pub fn next_item(&mut self) -> Result<Option<Item>, FrameError> {
        if self.open.is_some() {
            return self.finish_open();
        }
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
        if let Some(n) = head.content_length {
            return self.open_body(head, n);
        }
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

    /// Moves a frame with a `content-length` of `n` from the shared buffer
    /// to a body buffer of its own, with what of its body is in already.
    fn open_body(&mut self, head: Head, n: usize) -> Result<Option<Item>, FrameError> {
        if n > self.bounds.max_body {
            return Err(FrameError::BodyTooLong(self.bounds.max_body));
        }
        let end = (head.len + n + 1).min(self.buf.len());
        let mut body = if self.bounds.reserve_announced {
            Vec::with_capacity(n + 1)
        } else {
            Vec::new()
        };
        body.extend_from_slice(&self.buf[head.len..end]);
        self.consume(end);
        self.open = Some(Open { head, body, len: n });
        self.finish_open()
    }

    /// The open frame, once its body and NUL are all in.
    fn finish_open(&mut self) -> Result<Option<Item>, FrameError> {
        let Some(open) = self.open.take_if(|o| o.body.len() > o.len) else {
            return Ok(None);
        };
        let Open {
            head,
            mut body,
            len,
        } = open;
        if body.pop() != Some(0) {
            return Err(FrameError::NoNul(len));
        }
        Ok(Some(Item::Frame(Frame {
            command: head.command,
            headers: head.headers,
            body,
        })))
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

    /// The body after `head` (which has no content-length: the body ends
    /// at the first NUL), once it and its NUL are in; consumes the frame.
    fn body(&mut self, head: &Head) -> Result<Option<Vec<u8>>, FrameError> {
        let max = self.bounds.max_body;
        let start = head.len;
        let from = self.nul_from.max(start);
        let (len, end) = match self.buf[from..].iter().position(|&b| b == 0) {
            Some(i) if from + i - start > max => return Err(FrameError::BodyTooLong(max)),
            Some(i) => (from + i - start, from + i + 1),
            None if self.buf.len() - start > max => return Err(FrameError::BodyTooLong(max)),
            None => {
                self.nul_from = self.buf.len();
                return Ok(None);
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
