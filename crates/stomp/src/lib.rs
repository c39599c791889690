//! STOMP 1.2 frames: the codec an oVirt engine's JSON-RPC rides on.
//!
//! Pure and bounded: [`Decoder`] reads frames out of whatever bytes came
//! in, never holding more than its [`Bounds`] allow (a peer that sends an
//! endless header or body is refused with a [`FrameError`], not buffered),
//! and [`Frame::encode`] writes one. Heart-beats (a bare EOL between
//! frames) are reported as [`Item::HeartBeat`] so the caller can count
//! them as signs of life.
//!
//! What STOMP 1.2 says and this follows: a frame is a command line, header
//! lines `name:value`, an empty line, a body, and a NUL; lines end in LF
//! or CRLF; header names and values escape `\\`, `\n`, `\r` and `:` as
//! `\\\\`, `\\n`, `\\r`, `\\c` (but not in `CONNECT`/`CONNECTED` frames);
//! the first of repeated headers wins; a `content-length` header gives the
//! body's length (which may then contain NULs), otherwise the body ends at
//! the first NUL.

#![warn(missing_docs)]

mod decode;
mod frame;

pub use decode::{Bounds, Decoder, Item};
pub use frame::{Command, Frame, FrameError};
