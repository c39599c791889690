//! The receiver thread: reads LLDP frames from every interface of its
//! network namespace into a [`Neighbors`] table.

use crate::neighbors::{Event, Neighbors};
use crate::pdu::parse;
use crate::sock;
use std::collections::BTreeMap;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Largest LLDPDU we read; a longer frame is cut and then refused as
/// truncated (counted malformed). Jumbo-sized, so any real LLDPDU fits.
pub const MAX_FRAME: usize = 9216;

/// How often the thread wakes without traffic: to sweep expired entries,
/// pick up new interfaces and notice it should stop.
const TICK: Duration = Duration::from_millis(250);

/// A running receiver; stops (and joins its thread) when dropped.
pub struct Receiver {
    neighbors: Arc<Neighbors>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Opens the socket in the calling thread's network namespace and
    /// starts the receiver thread there (a new thread inherits the
    /// namespace of the thread creating it). `on_event` runs on that
    /// thread for every appeared/changed/expired neighbor; keep it short
    /// (send to a channel: a tokio `UnboundedSender` works).
    pub fn spawn(on_event: impl FnMut(Event) + Send + 'static) -> io::Result<Self> {
        Self::spawn_with_socket(sock::open(TICK)?, on_event)
    }

    /// Like [`Receiver::spawn`] with a socket the caller opened earlier
    /// with [`open_socket`]. The socket must belong to the calling thread's
    /// namespace: interface names and group memberships are resolved there.
    pub fn spawn_with_socket(
        fd: OwnedFd,
        on_event: impl FnMut(Event) + Send + 'static,
    ) -> io::Result<Self> {
        let neighbors = Arc::new(Neighbors::new());
        let stop = Arc::new(AtomicBool::new(false));
        let mut worker = Worker {
            fd,
            neighbors: neighbors.clone(),
            stop: stop.clone(),
            joined: BTreeMap::new(),
            last_scan: Instant::now(),
            on_event: Box::new(on_event),
        };
        worker.rescan();
        let thread = std::thread::Builder::new()
            .name("lldp-rx".into())
            .spawn(move || worker.run())?;
        Ok(Self {
            neighbors,
            stop,
            thread: Some(thread),
        })
    }

    /// The table this receiver fills.
    pub fn neighbors(&self) -> &Arc<Neighbors> {
        &self.neighbors
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Opens the receiver's socket in the calling thread's namespace, for
/// [`Receiver::spawn_with_socket`].
pub fn open_socket() -> io::Result<OwnedFd> {
    sock::open(TICK)
}

struct Worker {
    fd: OwnedFd,
    neighbors: Arc<Neighbors>,
    stop: Arc<AtomicBool>,
    /// ifindex -> name of the interfaces joined to the LLDP group.
    joined: BTreeMap<u32, String>,
    /// When the interfaces were last listed.
    last_scan: Instant,
    on_event: Box<dyn FnMut(Event) + Send>,
}

impl Worker {
    fn run(mut self) {
        let mut buf = vec![0u8; MAX_FRAME];
        while !self.stop.load(Ordering::Relaxed) {
            match sock::recv(&self.fd, &mut buf) {
                Ok(r) => self.frame(&buf, r),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "LLDP receive failed");
                    std::thread::sleep(TICK);
                }
            }
            let now = Instant::now();
            for ev in self.neighbors.expire(now) {
                (self.on_event)(ev);
            }
            if now.duration_since(self.last_scan) >= Duration::from_secs(1) {
                self.rescan();
            }
        }
    }

    fn frame(&mut self, buf: &[u8], r: sock::Received) {
        if r.pkttype == libc::PACKET_OUTGOING {
            return;
        }
        let Some(device) = self.device(r.ifindex) else {
            return;
        };
        let bytes = &buf[..r.len.min(buf.len())];
        let parsed = if r.len > buf.len() {
            Err(crate::pdu::ParseError::Truncated { offset: buf.len() })
        } else {
            parse(bytes)
        };
        match parsed {
            Ok(pdu) => {
                if let Some(ev) = self.neighbors.update(&device, pdu, Instant::now()) {
                    tracing::debug!(?ev, "LLDP neighbor");
                    (self.on_event)(ev);
                }
            }
            Err(e) => {
                self.neighbors.count_malformed();
                tracing::debug!(device, error = %e, "malformed LLDPDU dropped");
            }
        }
    }

    /// The name of `ifindex`, rescanning for an interface born since the
    /// last scan (at most every 100 ms: frames on `lo` or an interface
    /// being deleted must not turn into a netlink dump each).
    fn device(&mut self, ifindex: u32) -> Option<String> {
        let recent = self.last_scan.elapsed() < Duration::from_millis(100);
        if !self.joined.contains_key(&ifindex) && !recent {
            self.rescan();
        }
        self.joined.get(&ifindex).cloned()
    }

    /// Joins the LLDP group on interfaces new since the last scan and
    /// forgets the ones gone.
    fn rescan(&mut self) {
        self.last_scan = Instant::now();
        let Ok(list) = sock::interfaces() else {
            return;
        };
        let mut now = BTreeMap::new();
        for (index, name) in list {
            if name == "lo" {
                continue;
            }
            if self.joined.get(&index) != Some(&name) {
                if let Err(e) = sock::join(&self.fd, index) {
                    tracing::debug!(device = name, error = %e, "cannot join the LLDP group");
                }
            }
            now.insert(index, name);
        }
        self.joined = now;
        for ev in self.neighbors.set_listening(self.joined.values().cloned()) {
            (self.on_event)(ev);
        }
    }
}
