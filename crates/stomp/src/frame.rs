//! A frame, its commands, and how it is written.

use std::fmt;

/// The commands of STOMP 1.2, both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// Client: open a session (`STOMP` is the same, see [`Command::Stomp`]).
    Connect,
    /// Client: `CONNECT` under its 1.2 name.
    Stomp,
    /// Client: a message for a destination.
    Send,
    /// Client: receive a destination's messages.
    Subscribe,
    /// Client: stop receiving.
    Unsubscribe,
    /// Client: acknowledge a message.
    Ack,
    /// Client: refuse a message.
    Nack,
    /// Client: start a transaction.
    Begin,
    /// Client: commit a transaction.
    Commit,
    /// Client: abort a transaction.
    Abort,
    /// Client: close the session.
    Disconnect,
    /// Server: the session is open.
    Connected,
    /// Server: a message of a subscription.
    Message,
    /// Server: a frame with a `receipt` header was handled.
    Receipt,
    /// Server: something went wrong; the connection closes after it.
    Error,
}

impl Command {
    /// Every command, for parsing.
    const ALL: [Command; 15] = [
        Command::Connect,
        Command::Stomp,
        Command::Send,
        Command::Subscribe,
        Command::Unsubscribe,
        Command::Ack,
        Command::Nack,
        Command::Begin,
        Command::Commit,
        Command::Abort,
        Command::Disconnect,
        Command::Connected,
        Command::Message,
        Command::Receipt,
        Command::Error,
    ];

    /// The command as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Connect => "CONNECT",
            Command::Stomp => "STOMP",
            Command::Send => "SEND",
            Command::Subscribe => "SUBSCRIBE",
            Command::Unsubscribe => "UNSUBSCRIBE",
            Command::Ack => "ACK",
            Command::Nack => "NACK",
            Command::Begin => "BEGIN",
            Command::Commit => "COMMIT",
            Command::Abort => "ABORT",
            Command::Disconnect => "DISCONNECT",
            Command::Connected => "CONNECTED",
            Command::Message => "MESSAGE",
            Command::Receipt => "RECEIPT",
            Command::Error => "ERROR",
        }
    }

    /// The command a line names (case matters, as in the spec).
    pub fn parse(line: &[u8]) -> Option<Command> {
        Command::ALL
            .into_iter()
            .find(|c| c.as_str().as_bytes() == line)
    }

    /// Whether header values are escaped: not in the frames that negotiate
    /// the version, for 1.0 peers' sake.
    pub fn escapes_headers(self) -> bool {
        !matches!(self, Command::Connect | Command::Connected)
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why bytes are not a frame, or not one this side accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The command line names no STOMP command.
    #[error("unknown command {0:?}")]
    UnknownCommand(String),
    /// A header line without a colon.
    #[error("header line {0:?} has no colon")]
    NoColon(String),
    /// An escape other than the four STOMP 1.2 defines.
    #[error("header {0:?}: undefined escape sequence")]
    BadEscape(String),
    /// Header text that is not UTF-8.
    #[error("a header is not UTF-8")]
    NotUtf8,
    /// `content-length` that is not a number.
    #[error("content-length {0:?} is not a number")]
    BadLength(String),
    /// The body is not followed by the NUL that ends a frame.
    #[error("the body of content-length {0} is not followed by NUL")]
    NoNul(usize),
    /// The command and headers exceed the bound.
    #[error("the headers exceed {0} bytes")]
    HeadersTooLong(usize),
    /// More header lines than the bound.
    #[error("more than {0} headers")]
    TooManyHeaders(usize),
    /// The body exceeds the bound.
    #[error("the body exceeds {0} bytes")]
    BodyTooLong(usize),
}

/// One STOMP frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What the frame asks or tells.
    pub command: Command,
    /// Headers in order, unescaped; repeats kept (the first one counts).
    pub headers: Vec<(String, String)>,
    /// The body, as bytes.
    pub body: Vec<u8>,
}

impl Frame {
    /// A frame without headers or body.
    pub fn new(command: Command) -> Frame {
        Frame {
            command,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header (builder style).
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Frame {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// Sets the body (builder style).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Frame {
        self.body = body.into();
        self
    }

    /// The value of header `name`: its first occurrence, as the spec says.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The frame's bytes: headers escaped as the command wants, a
    /// `content-length` always (so a body may hold NULs), and the NUL.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.encode_head(self.body.len());
        out.extend_from_slice(&self.body);
        out.push(0);
        out
    }

    /// The frame up to and including the blank line, for a body of `len`
    /// bytes written separately (a big shared answer is not copied).
    pub fn encode_head(&self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + len.min(1 << 16));
        out.extend_from_slice(self.command.as_str().as_bytes());
        out.push(b'\n');
        let escape = self.command.escapes_headers();
        for (name, value) in &self.headers {
            if name == "content-length" {
                continue;
            }
            push_escaped(&mut out, name, escape);
            out.push(b':');
            push_escaped(&mut out, value, escape);
            out.push(b'\n');
        }
        out.extend_from_slice(format!("content-length:{len}\n\n").as_bytes());
        out
    }
}

fn push_escaped(out: &mut Vec<u8>, text: &str, escape: bool) {
    if !escape {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    for b in text.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b':' => out.extend_from_slice(b"\\c"),
            _ => out.push(b),
        }
    }
}

/// Undoes [`push_escaped`]; an undefined escape is an error (the spec
/// says so: it must be treated as fatal).
pub(crate) fn unescape(raw: &str, escape: bool) -> Result<String, FrameError> {
    if !escape || !raw.contains('\\') {
        return Ok(raw.to_string());
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('\\') => '\\',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('c') => ':',
            _ => return Err(FrameError::BadEscape(raw.chars().take(64).collect())),
        });
    }
    Ok(out)
}
