//! Bounds on what clients can make the daemon hold: connections, bytes of
//! unfinished request lines across all connections, and how long a
//! partial line may stall.
//!
//! Without them each connection could buffer up to a whole message
//! (16 MiB) of a line that never ends, and there was no limit on how many
//! connections did. Over a bound the connection that has made no progress
//! the longest with a partial line is dropped to make room: a client that
//! opens connections and stalls loses its own oldest ones, and a fresh
//! caller still gets in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tracing::info;

/// The daemon's bounds.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections open at once.
    pub max_connections: usize,
    /// Bytes of unfinished request lines held across all connections (a
    /// single line may be up to [`crate::MAX_MESSAGE_BYTES`]).
    pub max_buffered: usize,
    /// How long a partial line may go without a byte before its
    /// connection is closed. Between messages a connection may idle
    /// forever (subscribers do).
    pub stall: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 64,
            max_buffered: 64 << 20,
            stall: Duration::from_secs(30),
        }
    }
}

/// One open connection as the bounds see it.
struct Entry {
    /// Bytes its unfinished line holds (capacity).
    partial: usize,
    /// When its unfinished line last grew; `None` between lines.
    progress: Option<Instant>,
    /// Told when the connection is dropped to make room.
    evicted: Arc<Notify>,
}

#[derive(Default)]
struct Table {
    next: u64,
    entries: HashMap<u64, Entry>,
    buffered: usize,
}

impl Table {
    /// Drops the connection stalled longest on a partial line, other than
    /// `keep`; false when there is none.
    fn evict_one(&mut self, keep: Option<u64>) -> bool {
        let victim = self
            .entries
            .iter()
            .filter(|(id, e)| Some(**id) != keep && e.partial > 0)
            .min_by_key(|(_, e)| e.progress)
            .map(|(id, _)| *id);
        let Some(id) = victim else { return false };
        if let Some(e) = self.entries.remove(&id) {
            self.buffered -= e.partial;
            info!(
                bytes = e.partial,
                "dropped a connection stalled on a partial line to make room"
            );
            e.evicted.notify_one();
        }
        true
    }
}

/// The connections open now, against [`Limits`].
pub(crate) struct Conns {
    pub limits: Limits,
    table: Mutex<Table>,
}

/// An admitted connection's place; gives it up on drop.
pub(crate) struct Ticket {
    conns: Arc<Conns>,
    id: u64,
    /// Notified when this connection is dropped to make room.
    pub evicted: Arc<Notify>,
}

impl Conns {
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            table: Mutex::new(Table::default()),
        })
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a new connection, making room if all places are taken;
    /// `None` when every open connection is between lines (nothing to drop).
    pub fn admit(self: &Arc<Self>) -> Option<Ticket> {
        let mut t = self.table();
        while t.entries.len() >= self.limits.max_connections {
            if !t.evict_one(None) {
                return None;
            }
        }
        t.next += 1;
        let id = t.next;
        let evicted = Arc::new(Notify::new());
        t.entries.insert(
            id,
            Entry {
                partial: 0,
                progress: None,
                evicted: evicted.clone(),
            },
        );
        Some(Ticket {
            conns: self.clone(),
            id,
            evicted,
        })
    }

    /// Bytes held by unfinished lines now.
    #[cfg(test)]
    pub fn buffered(&self) -> usize {
        self.table().buffered
    }
}

impl Ticket {
    /// Lets this connection's unfinished line hold `bytes` (0: the line is
    /// done), dropping stalled connections if the total would exceed the
    /// bound. False when it cannot: the line must be given up.
    pub fn hold(&self, bytes: usize) -> bool {
        let mut t = self.conns.table();
        let Some(old) = t.entries.get(&self.id).map(|e| e.partial) else {
            return false;
        };
        if bytes > old {
            let max = self.conns.limits.max_buffered;
            while t.buffered - old + bytes > max {
                if !t.evict_one(Some(self.id)) {
                    return false;
                }
            }
        }
        t.buffered = t.buffered - old + bytes;
        if let Some(e) = t.entries.get_mut(&self.id) {
            e.partial = bytes;
            e.progress = (bytes > 0).then(Instant::now);
        }
        true
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut t = self.conns.table();
        if let Some(e) = t.entries.remove(&self.id) {
            t.buffered -= e.partial;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_connections: usize, max_buffered: usize) -> Limits {
        Limits {
            max_connections,
            max_buffered,
            stall: Duration::from_secs(1),
        }
    }

    #[test]
    fn a_full_house_drops_the_longest_stalled_partial_line() {
        let conns = Conns::new(limits(2, 1 << 20));
        let a = conns.admit().unwrap();
        let b = conns.admit().unwrap();
        // Both between lines: nothing to drop, the newcomer is refused.
        assert!(conns.admit().is_none());
        assert!(a.hold(10));
        std::thread::sleep(Duration::from_millis(2));
        assert!(b.hold(10));
        let c = conns.admit().expect("room made");
        assert!(!a.hold(20), "a was dropped");
        assert!(b.hold(20));
        assert_eq!(conns.buffered(), 20);
        drop((a, b, c));
        assert_eq!(conns.buffered(), 0);
    }

    #[test]
    fn bytes_over_the_bound_drop_others_or_are_refused() {
        let conns = Conns::new(limits(8, 100));
        let a = conns.admit().unwrap();
        let b = conns.admit().unwrap();
        assert!(a.hold(60));
        assert!(b.hold(60), "a dropped to make room");
        assert!(!a.hold(1));
        assert!(!b.hold(101), "alone over the bound");
        assert!(b.hold(0));
        assert_eq!(conns.buffered(), 0);
    }
}
