//! A [`HostState`] kept current from rtnetlink multicast groups, for the
//! daemon: one dump at start, then every link, address, route and rule
//! notification is applied as it comes, and a read costs no dump.
//!
//! Two plain netlink sockets and no async runtime, so it works from any
//! thread (a tokio worker included): one socket joined to the groups, one
//! for dumps. Notifications are applied under one lock by whoever gets
//! there first — the background thread when the socket turns readable, or
//! a reader in [`Live::state`], which first drains what is queued. That
//! makes a read after a change (a setup that just returned) see the change:
//! the kernel queues a notification before it acks the change.
//!
//! The raw messages are kept, stripped to the attributes the state is
//! built from (links by index, the rest by identity, in arrival order), and
//! the [`HostState`] is built from them with the same parsers as a
//! snapshot, lazily, once per batch of changes: built whole at start, then
//! patched where the messages changed (see [`crate::patch`]), so a read
//! after a one-link change costs that link, not the host. A generation counter
//! moves with every applied change ([`Live::generation`]), so a reader can
//! keep what it derived from a state until the counter moves. When the
//! kernel drops notifications (`ENOBUFS`: the receive buffer overflowed),
//! what is queued is thrown away and everything is dumped again.
//!
//! Known differences from a fresh snapshot: values that change without a
//! notification (bridge timers, address lifetimes) are as of the last
//! notification; addresses and routes are listed in arrival order, not in
//! the kernel's list order.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ops::ControlFlow;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netswitch_model::host::HostState;
use netswitch_netlink::{Socket, NETLINK_ROUTE};
use nix::libc;
use tokio::sync::broadcast;

use crate::patch::{self, AddrKey, Buffers, Ordered, Raw, RouteKey};
use crate::raw::{self, *};
use crate::{ethtool, fast, DumpKind, NetinfoError};

mod apply;
mod event;

pub use event::LiveEvent;

/// A kept message: its payload bytes, stripped (see [`raw::compact`]).
pub(crate) type Kept = Box<[u8]>;

/// `RTNLGRP_LINK`, `RTNLGRP_TC`, `RTNLGRP_IPV4_IFADDR`,
/// `RTNLGRP_IPV4_ROUTE`, `RTNLGRP_IPV4_RULE`, `RTNLGRP_IPV6_IFADDR`,
/// `RTNLGRP_IPV6_ROUTE`, `RTNLGRP_IPV6_RULE`.
const GROUPS: [u32; 8] = [1, 4, 5, 7, 8, 9, 11, 19];
/// Notification datagrams taken per `recvmmsg`, and the slot for each (a
/// notification is one message; a link's with statistics is a few KiB).
const MCAST_SLOTS: usize = 64;
const MCAST_SLOT_BYTES: usize = 16 << 10;
/// Receive buffer asked for the multicast socket: a 1000-network setup
/// makes tens of thousands of notifications in a burst.
const MCAST_RCVBUF: usize = 16 << 20;
/// Events a slow subscriber may fall behind by before it is told it lost some.
const EVENT_BACKLOG: usize = 4096;
/// How many changes [`Live::changed_since`] can look back over.
const CHANGE_LOG: usize = 8192;

/// The raw state and everything needed to keep it current.
struct Tracker {
    mcast: Socket,
    dump: Socket,
    links: BTreeMap<u32, Kept>,
    addrs: Ordered<AddrKey, Kept>,
    routes: Ordered<RouteKey, Kept>,
    rules: Ordered<u64, Kept>,
    /// Link speeds by name, read once per link notification.
    speeds: RefCell<HashMap<String, Option<u32>>>,
    ethtool: Option<ethtool::Ethtool>,
    /// The states built from the raw messages, patched on a read after a
    /// change (see [`crate::patch`]).
    bufs: Buffers,
    /// Bumped on every change applied to the raw state (and on every
    /// route refresh and resync), so a reader can tell "nothing changed
    /// since generation N" without rebuilding anything.
    generation: u64,
    /// When the state was last rebuilt or patched; the heap is trimmed
    /// [`IDLE_TRIM`] after it.
    built_at: Option<Instant>,
    /// What each change since `changes_floor` touched, by generation: the
    /// link's name (of a link, or of the link an address or route is on),
    /// or `None` when it cannot be told (a rule). See [`Live::changed_since`].
    changes: VecDeque<(u64, Option<String>)>,
    /// Every change after this generation is in `changes`.
    changes_floor: u64,
    /// A link went down: the kernel dropped routes without notifications,
    /// so the routes are dumped again before the next rebuild.
    routes_stale: bool,
    resyncs: u64,
}

/// Counters of a [`Live`], for logs and benchmarks.
#[derive(Debug, Clone, Copy, Default)]
pub struct LiveCounters {
    /// Full dumps after the first one (socket overflows).
    pub resyncs: u64,
    /// Links, addresses, routes and rules held.
    pub links: usize,
    /// Addresses held.
    pub addrs: usize,
    /// Routes held.
    pub routes: usize,
    /// Rules held.
    pub rules: usize,
}

struct Shared {
    tracker: Mutex<Tracker>,
    events: broadcast::Sender<LiveEvent>,
    stop: AtomicBool,
}

/// Live netinfo of the calling thread's network namespace.
///
/// Dropping it stops its background thread.
pub struct Live {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Live {
    /// Joins the multicast groups, takes the first dump and starts the
    /// background thread. The sockets belong to the calling thread's
    /// network namespace.
    pub fn start() -> Result<Live, NetinfoError> {
        let mut mcast = Socket::open(NETLINK_ROUTE).map_err(NetinfoError::Connect)?;
        for group in GROUPS {
            mcast.join_group(group).map_err(NetinfoError::Connect)?;
        }
        mcast.set_slot_bytes(MCAST_SLOT_BYTES);
        let got = mcast.grow_rcvbuf(MCAST_RCVBUF).unwrap_or_default();
        tracing::debug!(rcvbuf = got, "live netinfo: multicast socket joined");
        let mut tracker = Tracker {
            mcast,
            dump: Socket::open(NETLINK_ROUTE).map_err(NetinfoError::Connect)?,
            links: BTreeMap::new(),
            addrs: Ordered::new(),
            routes: Ordered::new(),
            rules: Ordered::new(),
            speeds: RefCell::new(HashMap::new()),
            ethtool: ethtool::Ethtool::open(),
            bufs: Buffers::default(),
            changes: VecDeque::new(),
            changes_floor: 0,
            built_at: None,
            generation: 0,
            routes_stale: false,
            resyncs: 0,
        };
        tracker.full_dump()?;
        let (events, _) = broadcast::channel(EVENT_BACKLOG);
        let shared = Arc::new(Shared {
            tracker: Mutex::new(tracker),
            events,
            stop: AtomicBool::new(false),
        });
        let bg = shared.clone();
        let thread = std::thread::Builder::new()
            .name("netinfo-live".into())
            .spawn(move || background(&bg))
            .map_err(NetinfoError::Runtime)?;
        Ok(Live {
            shared,
            thread: Some(thread),
        })
    }

    /// The host as it is now: what is queued is applied first, then the
    /// state is rebuilt if anything changed since the last read.
    pub fn state(&self) -> Arc<HostState> {
        let mut t = self.lock();
        let events = t.drain();
        let state = t.host();
        drop(t);
        self.publish(events);
        state
    }

    /// The generation of the host as it is now: what is queued is applied
    /// first (and stale routes read again), but nothing is rebuilt. Equal
    /// generations mean [`Live::state`] would return the same state, so a
    /// reader can keep what it derived from it (the daemon's caps answer).
    pub fn generation(&self) -> u64 {
        let mut t = self.lock();
        let events = t.drain();
        if t.routes_stale {
            t.refresh_routes();
        }
        let generation = t.generation;
        drop(t);
        self.publish(events);
        generation
    }

    /// [`Live::state`] together with its [`Live::generation`], taken
    /// under one lock so the two match.
    pub fn state_with_generation(&self) -> (u64, Arc<HostState>) {
        let mut t = self.lock();
        let events = t.drain();
        let state = t.host();
        let generation = t.generation;
        drop(t);
        self.publish(events);
        (generation, state)
    }

    /// The names of the links that changed after `generation` (a link, an
    /// address or a route on it came, changed or went), so a caller that
    /// knows the host was as it wanted at that generation can look at those
    /// alone; `None` when that cannot be told (a rule changed, too many
    /// changes ago, or a resync in between).
    pub fn changed_since(&self, generation: u64) -> Option<BTreeSet<String>> {
        let mut t = self.lock();
        let events = t.drain();
        if t.routes_stale {
            t.refresh_routes();
        }
        let names = t.changed_since(generation);
        drop(t);
        self.publish(events);
        names
    }

    /// The state rebuilt whole from the raw messages, bypassing the
    /// patched buffers: tests check that patching gives exactly this.
    #[doc(hidden)]
    pub fn state_rebuilt(&self) -> HostState {
        let mut t = self.lock();
        let events = t.drain();
        if t.routes_stale {
            t.refresh_routes();
        }
        let state = t.rebuilt();
        drop(t);
        self.publish(events);
        state
    }

    /// A stream of what happens from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.shared.events.subscribe()
    }

    /// How much is held and how often it was dumped again.
    pub fn counters(&self) -> LiveCounters {
        let t = self.lock();
        LiveCounters {
            resyncs: t.resyncs,
            links: t.links.len(),
            addrs: t.addrs.len(),
            routes: t.routes.len(),
            rules: t.rules.len(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Tracker> {
        // A panic while holding the lock leaves raw messages that are
        // still each whole; go on with them.
        self.shared
            .tracker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, events: Vec<LiveEvent>) {
        publish(&self.shared, events);
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn publish(shared: &Shared, events: Vec<LiveEvent>) {
    for e in events {
        // No subscriber is not an error.
        let _ = shared.events.send(e);
    }
}

/// The background thread: wait for the multicast socket, drain it.
fn background(shared: &Shared) {
    let fd = match shared.tracker.lock() {
        Ok(t) => t.mcast.as_raw_fd(),
        Err(e) => e.into_inner().mcast.as_raw_fd(),
    };
    while !shared.stop.load(Ordering::Relaxed) {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, for the duration of the call.
        let n = unsafe { libc::poll(&mut pfd, 1, 200) };
        if n <= 0 {
            forget_when_idle(shared);
            continue;
        }
        let events = {
            let mut t = shared.tracker.lock().unwrap_or_else(|e| e.into_inner());
            t.drain()
        };
        publish(shared, events);
    }
}

/// How long after the last rebuild or patch the heap is given back: a
/// burst of changes leaves freed memory behind that an idle daemon does not
/// need.
const IDLE_TRIM: Duration = Duration::from_secs(3);

fn forget_when_idle(shared: &Shared) {
    let mut t = shared.tracker.lock().unwrap_or_else(|e| e.into_inner());
    if t.built_at.is_none_or(|at| at.elapsed() < IDLE_TRIM) {
        return;
    }
    t.built_at = None;
    drop(t);
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

impl Tracker {
    /// Applies every queued notification; resyncs on overflow.
    fn drain(&mut self) -> Vec<LiveEvent> {
        let mut events = Vec::new();
        loop {
            let mut batch: Vec<(u16, u16, Kept)> = Vec::new();
            let mut cut = false;
            let got =
                self.mcast
                    .recv_batch(MCAST_SLOTS, libc::MSG_DONTWAIT, |datagram, was_cut| {
                        cut |= was_cut;
                        batch.extend(
                            netswitch_netlink::messages(datagram)
                                .map(|m| (m.kind, m.flags, raw::compact(m.kind, m.payload))),
                        );
                        ControlFlow::Continue(())
                    });
            for (kind, flags, msg) in batch {
                self.apply(kind, flags, msg, &mut events);
            }
            if cut {
                // A datagram larger than a slot was cut: a message is lost,
                // so the state cannot be trusted. Grow and resync.
                self.mcast.set_slot_bytes(MCAST_SLOT_BYTES * 4);
                self.resync();
                events.push(LiveEvent::Resynced);
                continue;
            }
            match got {
                Ok(_) => {}
                Err(err) => match err.raw_os_error() {
                    Some(libc::EAGAIN) => break,
                    Some(libc::ENOBUFS) => {
                        self.resync();
                        events.push(LiveEvent::Resynced);
                    }
                    _ => {
                        tracing::warn!(error = %err, "live netinfo: receive failed");
                        break;
                    }
                },
            }
        }
        events
    }

    /// After an overflow: what is queued predates the loss and would undo
    /// newer state, so it is thrown away; then everything is dumped again.
    fn resync(&mut self) {
        let started = Instant::now();
        loop {
            let got = self
                .mcast
                .recv_batch(MCAST_SLOTS, libc::MSG_DONTWAIT, |_, _| {
                    ControlFlow::Continue(())
                });
            if let Err(e) = got {
                if e.raw_os_error() != Some(libc::ENOBUFS) {
                    break;
                }
            }
        }
        self.resyncs += 1;
        match self.full_dump() {
            Ok(()) => tracing::info!(
                resyncs = self.resyncs,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "live netinfo: notifications were lost; dumped everything again"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "live netinfo: resync dump failed; state may be stale")
            }
        }
    }

    /// One dump on the dump socket, each reply kept stripped.
    fn dump(
        &mut self,
        kind: DumpKind,
        msg_type: u16,
        body: &[u8],
    ) -> Result<Vec<(u16, Kept)>, NetinfoError> {
        fast::dump(&mut self.dump, kind, msg_type, body, |m| {
            Some((m.kind, raw::compact(m.kind, m.payload)))
        })
    }

    /// Replaces the raw state with fresh dumps.
    fn full_dump(&mut self) -> Result<(), NetinfoError> {
        let links = self.dump(DumpKind::Links, RTM_GETLINK, &raw::link_request())?;
        let addrs = self.dump(DumpKind::Addresses, RTM_GETADDR, &raw::addr_request())?;
        let routes = self.dump_routes()?;
        let mut rules = self.dump(DumpKind::Rules4, RTM_GETRULE, &family_request(AF_INET))?;
        rules.extend(self.dump(DumpKind::Rules6, RTM_GETRULE, &family_request(AF_INET6))?);
        self.routes_stale = false;
        self.links.clear();
        self.addrs = Ordered::new();
        self.routes = Ordered::new();
        self.rules = Ordered::new();
        self.speeds.borrow_mut().clear();
        self.changed();
        self.bufs.clear();
        let mut sink = Vec::new();
        for (kind, m) in links.into_iter().chain(addrs).chain(routes).chain(rules) {
            self.apply(kind, 0, m, &mut sink);
        }
        // What changed before is unknown: whoever asks from before, hears so.
        self.changes.clear();
        self.changes_floor = self.generation;
        Ok(())
    }

    fn dump_routes(&mut self) -> Result<Vec<(u16, Kept)>, NetinfoError> {
        let mut routes = self.dump(DumpKind::Routes4, RTM_GETROUTE, &family_request(AF_INET))?;
        routes.extend(self.dump(DumpKind::Routes6, RTM_GETROUTE, &family_request(AF_INET6))?);
        Ok(routes)
    }

    /// Replaces the routes with a fresh dump (after a link went down).
    fn refresh_routes(&mut self) {
        match self.dump_routes() {
            Ok(routes) => {
                self.routes = Ordered::new();
                self.bufs.note(|d| d.all_routes = true);
                let mut sink = Vec::new();
                for (kind, m) in routes {
                    self.apply(kind, 0, m, &mut sink);
                }
                self.changed();
                self.routes_stale = false;
            }
            Err(e) => {
                tracing::warn!(error = %e, "live netinfo: route dump failed; routes may be stale")
            }
        }
    }

    /// See [`Live::changed_since`].
    fn changed_since(&self, generation: u64) -> Option<BTreeSet<String>> {
        if generation < self.changes_floor {
            return None;
        }
        let mut names = BTreeSet::new();
        for (g, name) in self.changes.iter().rev() {
            if *g <= generation {
                break;
            }
            names.insert(name.clone()?);
        }
        Some(names)
    }

    /// Moves the generation on.
    fn changed(&mut self) {
        self.generation += 1;
    }

    /// The state as of the raw messages: the newest one when nothing
    /// changed since, else patched (see [`crate::patch`]).
    fn host(&mut self) -> Arc<HostState> {
        if self.routes_stale {
            self.refresh_routes();
        }
        let started = Instant::now();
        let speeds = &self.speeds;
        let ethtool = self.ethtool.as_ref();
        let speed = |name: &str| {
            if let Some(s) = speeds.borrow().get(name) {
                return *s;
            }
            let s = ethtool.and_then(|e| e.speed(name));
            speeds.borrow_mut().insert(name.to_string(), s);
            s
        };
        let raw = Raw {
            links: &self.links,
            addrs: &self.addrs,
            routes: &self.routes,
            rules: &self.rules,
            speed: &speed,
        };
        let (state, cost) = self.bufs.read(&raw);
        if cost.how != "current" {
            self.built_at = Some(started);
            tracing::debug!(
                links = state.links.len(),
                how = cost.how,
                parsed = cost.parsed,
                elapsed_us = started.elapsed().as_micros() as u64,
                "live netinfo: state rebuilt"
            );
        }
        state
    }

    /// A full rebuild from the raw messages, without touching the buffers.
    fn rebuilt(&self) -> HostState {
        let speeds = &self.speeds;
        let ethtool = self.ethtool.as_ref();
        let speed = |name: &str| match speeds.borrow().get(name) {
            Some(s) => *s,
            None => ethtool.and_then(|e| e.speed(name)),
        };
        patch::rebuilt(&Raw {
            links: &self.links,
            addrs: &self.addrs,
            routes: &self.routes,
            rules: &self.rules,
            speed: &speed,
        })
    }
}
