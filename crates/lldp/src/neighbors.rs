//! The neighbor table: per interface the last good LLDPDU and when it
//! expires (its TTL after reception), read back in VDSM's report shape.

use crate::pdu::Lldpdu;
use crate::report::{tlvs, DeviceReport};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A change of an interface's neighbor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A neighbor was heard on a device that had none.
    Appeared {
        /// Interface name.
        device: String,
        /// Its LLDPDU.
        pdu: Lldpdu,
    },
    /// The neighbor's LLDPDU differs from the last one.
    Changed {
        /// Interface name.
        device: String,
        /// The new LLDPDU.
        pdu: Lldpdu,
    },
    /// The neighbor's TTL ran out (or it sent TTL 0: shutting down).
    Expired {
        /// Interface name.
        device: String,
    },
}

struct Entry {
    pdu: Lldpdu,
    expires: Instant,
}

#[derive(Default)]
struct Inner {
    entries: BTreeMap<String, Entry>,
    listening: BTreeSet<String>,
}

/// Neighbors by interface name; shared between the receiver thread and
/// readers. Entries past their TTL are never returned, whether or not the
/// receiver has swept them yet.
#[derive(Default)]
pub struct Neighbors {
    inner: Mutex<Inner>,
    malformed: AtomicU64,
}

impl Neighbors {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves a consistent map
        // (every update is one insert/remove), so poisoning is ignored.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an LLDPDU heard on `device` at `now`; the event it causes.
    pub fn update(&self, device: &str, pdu: Lldpdu, now: Instant) -> Option<Event> {
        let mut inner = self.lock();
        let device_s = device.to_string();
        if pdu.ttl == 0 {
            return inner
                .entries
                .remove(device)
                .map(|_| Event::Expired { device: device_s });
        }
        let expires = now + Duration::from_secs(pdu.ttl.into());
        let old = inner.entries.insert(
            device_s.clone(),
            Entry {
                pdu: pdu.clone(),
                expires,
            },
        );
        match old {
            Some(o) if o.expires > now && o.pdu == pdu => None,
            Some(o) if o.expires > now => Some(Event::Changed {
                device: device_s,
                pdu,
            }),
            _ => Some(Event::Appeared {
                device: device_s,
                pdu,
            }),
        }
    }

    /// Drops entries expired at `now`; one event each.
    pub fn expire(&self, now: Instant) -> Vec<Event> {
        let mut inner = self.lock();
        let gone: Vec<String> = inner
            .entries
            .iter()
            .filter(|(_, e)| e.expires <= now)
            .map(|(d, _)| d.clone())
            .collect();
        for d in &gone {
            inner.entries.remove(d);
        }
        gone.into_iter()
            .map(|device| Event::Expired { device })
            .collect()
    }

    /// The current neighbor of `device`, if any and not expired.
    pub fn get(&self, device: &str) -> Option<Lldpdu> {
        let now = Instant::now();
        let inner = self.lock();
        inner
            .entries
            .get(device)
            .filter(|e| e.expires > now)
            .map(|e| e.pdu.clone())
    }

    /// Marks the devices the receiver listens on (the report's `enabled`).
    /// The neighbor of a device no longer listed (deleted, renamed, moved
    /// to another namespace) is dropped at once: one `Expired` event each.
    pub fn set_listening(&self, devices: impl IntoIterator<Item = String>) -> Vec<Event> {
        let mut inner = self.lock();
        inner.listening = devices.into_iter().collect();
        let gone: Vec<String> = inner
            .entries
            .keys()
            .filter(|d| !inner.listening.contains(*d))
            .cloned()
            .collect();
        for d in &gone {
            inner.entries.remove(d);
        }
        gone.into_iter()
            .map(|device| Event::Expired { device })
            .collect()
    }

    /// Counts one dropped malformed frame.
    pub fn count_malformed(&self) {
        self.malformed.fetch_add(1, Ordering::Relaxed);
    }

    /// Malformed frames dropped so far.
    pub fn malformed(&self) -> u64 {
        self.malformed.load(Ordering::Relaxed)
    }

    /// `Host.getLldp`'s answer for `devices`; for an empty slice, every
    /// device listened on or with a neighbor. A device we do not listen on
    /// is reported `enabled: false` with no TLVs.
    pub fn report(&self, devices: &[String]) -> BTreeMap<String, DeviceReport> {
        let now = Instant::now();
        let inner = self.lock();
        let all: Vec<String>;
        let wanted = if devices.is_empty() {
            all = inner
                .listening
                .iter()
                .chain(inner.entries.keys())
                .cloned()
                .collect();
            &all
        } else {
            devices
        };
        wanted
            .iter()
            .map(|d| {
                let live = inner.entries.get(d).filter(|e| e.expires > now);
                let tlvs = live.map(|e| tlvs(&e.pdu)).unwrap_or_default();
                // Rounded up: a neighbor still there has at least 1 s.
                let ttl_left = live.map(|e| (e.expires - now).as_millis().div_ceil(1000) as u64);
                let enabled = inner.listening.contains(d);
                let report = DeviceReport {
                    enabled,
                    tlvs,
                    ttl_left,
                };
                (d.clone(), report)
            })
            .collect()
    }
}
