//! A blocking JSON-RPC client of the daemon, one call at a time, for the
//! CLI and tests.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use serde_json::{json, Value};

use crate::MAX_MESSAGE_BYTES;

/// A failed call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The daemon answered with a JSON-RPC error.
    #[error("{message}")]
    Rpc {
        /// The VDSM code (docs/api.md §4), or a JSON-RPC code (negative).
        code: i64,
        /// What failed and where.
        message: String,
    },
    /// The socket failed or the daemon went away.
    #[error("daemon socket: {0}")]
    Io(#[from] io::Error),
    /// The daemon sent something that is not a JSON-RPC response.
    #[error("daemon sent a malformed message: {0}")]
    Protocol(String),
}

/// One connection to the daemon.
pub struct Client {
    writer: UnixStream,
    reader: BufReader<UnixStream>,
    next_id: u64,
}

impl Client {
    /// Connects to the daemon's socket.
    pub fn connect(path: &Path) -> io::Result<Client> {
        let stream = UnixStream::connect(path)?;
        Ok(Client {
            writer: stream.try_clone()?,
            reader: BufReader::new(stream),
            next_id: 1,
        })
    }

    /// Calls `method` with `params` and waits for its response;
    /// notifications that arrive meanwhile are dropped.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let mut line =
            serde_json::to_vec(&msg).map_err(|e| ClientError::Protocol(e.to_string()))?;
        line.push(b'\n');
        self.writer.write_all(&line)?;
        loop {
            let msg = self.read_message()?;
            if msg.get("id") != Some(&json!(id)) {
                continue;
            }
            if let Some(err) = msg.get("error") {
                return Err(ClientError::Rpc {
                    code: err.get("code").and_then(Value::as_i64).unwrap_or(-32603),
                    message: err
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("no message")
                        .to_string(),
                });
            }
            return msg
                .get("result")
                .cloned()
                .ok_or_else(|| ClientError::Protocol("a response without result".into()));
        }
    }

    /// The next message from the daemon (after `Host.subscribe`: the next
    /// notification).
    pub fn read_message(&mut self) -> Result<Value, ClientError> {
        let mut line = Vec::new();
        let n = (&mut self.reader)
            .take(MAX_MESSAGE_BYTES as u64 * 4)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Err(ClientError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the daemon closed the connection",
            )));
        }
        serde_json::from_slice(&line).map_err(|e| ClientError::Protocol(e.to_string()))
    }
}
