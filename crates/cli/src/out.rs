//! Writing to stdout and stderr without panicking.
//!
//! `println!` panics when stdout is gone (`netswitch caps --json | head`),
//! which after a committed setup would turn its success into exit 101. A
//! verb's status is what it did to the host, not whether someone read its
//! report: a write that fails is dropped, and the verb exits with its own
//! status.

use std::io::Write;

/// Writes `text` to stdout and flushes; false when stdout is closed or
/// failing (the caller may stop producing more, e.g. `events`).
pub fn stdout(text: &str) -> bool {
    let mut o = std::io::stdout().lock();
    o.write_all(text.as_bytes())
        .and_then(|()| o.flush())
        .is_ok()
}

/// `text` and a newline on stdout.
pub fn line(text: &str) -> bool {
    stdout(&format!("{text}\n"))
}

/// `text` and a newline on stderr; a closed stderr is ignored.
pub fn err(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}
