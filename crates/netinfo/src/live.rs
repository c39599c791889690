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
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netlink_packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REPLACE, NLM_F_REQUEST,
};
use netlink_packet_route::{
    address::{AddressAttribute, AddressMessage},
    link::{InfoData, InfoPortData, LinkAttribute, LinkFlags, LinkInfo, LinkMessage},
    route::{RouteAttribute, RouteFlags, RouteMessage},
    rule::RuleMessage,
    AddressFamily, RouteNetlinkMessage,
};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use netswitch_model::host::HostState;
use nix::libc;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::patch::{self, AddrKey, Buffers, Ordered, Raw, RouteKey};
use crate::{ethtool, names, DumpKind, NetinfoError};

/// `RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV4_RULE
/// | RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_ROUTE` (the legacy bind mask).
const GROUPS: u32 = 0x1 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400;
/// `RTNLGRP_IPV6_RULE`, beyond the legacy mask's named bits.
const RTNLGRP_IPV6_RULE: u32 = 19;
/// Receive buffer asked for the multicast socket: a 1000-network setup
/// makes tens of thousands of notifications in a burst.
const MCAST_RCVBUF: usize = 16 << 20;
/// Events a slow subscriber may fall behind by before it is told it lost some.
const EVENT_BACKLOG: usize = 4096;
/// How many changes [`Live::changed_since`] can look back over.
const CHANGE_LOG: usize = 8192;
/// How long one dump reply may take before the dump is given up.
const DUMP_TIMEOUT: Duration = Duration::from_secs(10);

/// Something that happened to the host, as a subscriber sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum LiveEvent {
    /// A link appeared.
    #[serde(rename = "link.added")]
    LinkAdded {
        /// Its name.
        link: String,
    },
    /// A link went away.
    #[serde(rename = "link.removed")]
    LinkRemoved {
        /// Its name.
        link: String,
    },
    /// A link became usable: administratively up and operationally up (or
    /// `unknown`, as virtual devices without carrier report).
    #[serde(rename = "link.up")]
    LinkUp {
        /// Its name.
        link: String,
        /// The kernel's operational state.
        #[serde(rename = "operState")]
        oper_state: String,
    },
    /// A link stopped being usable: set down, or lost its carrier.
    #[serde(rename = "link.down")]
    LinkDown {
        /// Its name.
        link: String,
        /// Whether it is still administratively up (a carrier loss).
        #[serde(rename = "adminUp")]
        admin_up: bool,
        /// The kernel's operational state.
        #[serde(rename = "operState")]
        oper_state: String,
    },
    /// An address was added to a link.
    #[serde(rename = "address.added")]
    AddressAdded {
        /// The link's name.
        link: String,
        /// `address/prefix`.
        address: String,
    },
    /// An address was removed from a link.
    #[serde(rename = "address.removed")]
    AddressRemoved {
        /// The link's name.
        link: String,
        /// `address/prefix`.
        address: String,
    },
    /// Notifications were lost (the socket overflowed) and the whole state
    /// was dumped again; events in between may be missing.
    #[serde(rename = "resynced")]
    Resynced,
}

fn hash_of(text: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    h.write(text.as_bytes());
    h.finish()
}

/// The raw state and everything needed to keep it current.
struct Tracker {
    mcast: Socket,
    dump: DumpSocket,
    links: BTreeMap<u32, LinkMessage>,
    addrs: Ordered<AddrKey, AddressMessage>,
    routes: Ordered<RouteKey, RouteMessage>,
    rules: Ordered<u64, RuleMessage>,
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
    buf: Vec<u8>,
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
        let mut mcast = Socket::new(NETLINK_ROUTE).map_err(NetinfoError::Connect)?;
        mcast
            .bind(&SocketAddr::new(0, GROUPS))
            .map_err(NetinfoError::Connect)?;
        mcast
            .add_membership(RTNLGRP_IPV6_RULE)
            .map_err(NetinfoError::Connect)?;
        let got = grow_rcvbuf(mcast.as_raw_fd(), MCAST_RCVBUF);
        tracing::debug!(rcvbuf = got, "live netinfo: multicast socket joined");
        mcast
            .set_non_blocking(true)
            .map_err(NetinfoError::Connect)?;
        let mut tracker = Tracker {
            mcast,
            dump: DumpSocket {
                compact: true,
                ..DumpSocket::open()?
            },
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
            buf: vec![0; 1 << 16],
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
            // SAFETY: recv into our own buffer, bounded by its length.
            let n = unsafe {
                libc::recv(
                    self.mcast.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                let err = io::Error::last_os_error();
                match err.raw_os_error() {
                    Some(libc::EAGAIN) => break,
                    Some(libc::EINTR) => continue,
                    Some(libc::ENOBUFS) => {
                        self.resync();
                        events.push(LiveEvent::Resynced);
                        continue;
                    }
                    _ => {
                        tracing::warn!(error = %err, "live netinfo: receive failed");
                        break;
                    }
                }
            }
            let n = n as usize;
            if n > self.buf.len() {
                // A datagram larger than the buffer was cut: a message is
                // lost, so the state cannot be trusted. Grow and resync.
                self.buf.resize(n.next_power_of_two(), 0);
                self.resync();
                events.push(LiveEvent::Resynced);
                continue;
            }
            let data = std::mem::take(&mut self.buf);
            for msg in messages(&data[..n]) {
                if let NetlinkPayload::InnerMessage(inner) = msg.payload {
                    self.apply(inner, msg.header.flags, &mut events);
                }
            }
            self.buf = data;
        }
        events
    }

    /// After an overflow: what is queued predates the loss and would undo
    /// newer state, so it is thrown away; then everything is dumped again.
    fn resync(&mut self) {
        let started = Instant::now();
        loop {
            // SAFETY: as in `drain`.
            let n = unsafe {
                libc::recv(
                    self.mcast.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error().raw_os_error();
                if e == Some(libc::EAGAIN) {
                    break;
                }
                if e != Some(libc::ENOBUFS) && e != Some(libc::EINTR) {
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

    /// Replaces the raw state with fresh dumps.
    fn full_dump(&mut self) -> Result<(), NetinfoError> {
        let links = self.dump.dump(DumpKind::Links, crate::link_request())?;
        let addrs = self
            .dump
            .dump(DumpKind::Addresses, crate::address_request())?;
        let routes = self.dump_routes()?;
        let mut rules = self
            .dump
            .dump(DumpKind::Rules4, crate::rule_request(AddressFamily::Inet))?;
        rules.extend(
            self.dump
                .dump(DumpKind::Rules6, crate::rule_request(AddressFamily::Inet6))?,
        );
        self.routes_stale = false;
        self.links.clear();
        self.addrs = Ordered::new();
        self.routes = Ordered::new();
        self.rules = Ordered::new();
        self.speeds.borrow_mut().clear();
        self.changed();
        self.bufs.clear();
        let mut sink = Vec::new();
        for m in links.into_iter().chain(addrs).chain(routes).chain(rules) {
            self.apply(m, 0, &mut sink);
        }
        // What changed before is unknown: whoever asks from before, hears so.
        self.changes.clear();
        self.changes_floor = self.generation;
        Ok(())
    }

    fn dump_routes(&mut self) -> Result<Vec<RouteNetlinkMessage>, NetinfoError> {
        let mut routes = self
            .dump
            .dump(DumpKind::Routes4, crate::route_request(AddressFamily::Inet))?;
        routes.extend(self.dump.dump(
            DumpKind::Routes6,
            crate::route_request(AddressFamily::Inet6),
        )?);
        Ok(routes)
    }

    /// Replaces the routes with a fresh dump (after a link went down).
    fn refresh_routes(&mut self) {
        match self.dump_routes() {
            Ok(routes) => {
                self.routes = Ordered::new();
                self.bufs.note(|d| d.all_routes = true);
                let mut sink = Vec::new();
                for m in routes {
                    self.apply(m, 0, &mut sink);
                }
                self.changed();
                self.routes_stale = false;
            }
            Err(e) => {
                tracing::warn!(error = %e, "live netinfo: route dump failed; routes may be stale")
            }
        }
    }

    /// Applies one message to the raw state, noting events.
    fn apply(&mut self, mut msg: RouteNetlinkMessage, flags: u16, events: &mut Vec<LiveEvent>) {
        compact(&mut msg);
        // The links the change is on, for `changes`.
        let mut touched: Vec<Option<String>> = Vec::with_capacity(2);
        match msg {
            RouteNetlinkMessage::NewLink(m) => {
                // The bridge module reports its ports in AF_BRIDGE messages
                // on the same group; they are port views, not links.
                if m.header.interface_family == AddressFamily::Bridge {
                    return;
                }
                let index = m.header.index;
                let new = link_view(&m);
                touched.push(new.name.clone());
                match self.links.get(&index).map(link_view) {
                    None => {
                        if let Some(name) = &new.name {
                            events.push(LiveEvent::LinkAdded { link: name.clone() });
                        }
                    }
                    Some(old) => {
                        if old.name != new.name {
                            if let Some(n) = &old.name {
                                self.speeds.borrow_mut().remove(n);
                            }
                            touched.push(old.name.clone());
                        }
                        if old.usable() != new.usable() {
                            if let Some(name) = &new.name {
                                events.push(if new.usable() {
                                    LiveEvent::LinkUp {
                                        link: name.clone(),
                                        oper_state: new.oper.clone(),
                                    }
                                } else {
                                    LiveEvent::LinkDown {
                                        link: name.clone(),
                                        admin_up: new.admin_up,
                                        oper_state: new.oper.clone(),
                                    }
                                });
                            }
                        }
                        if old.admin_up && !new.admin_up {
                            // The kernel flushes some of a downed link's
                            // routes without telling (IPv4 keeps local ones):
                            // read the routes again before the next read.
                            self.routes_stale = true;
                        }
                    }
                }
                if let Some(n) = &new.name {
                    self.speeds.borrow_mut().remove(n);
                }
                self.bufs.note(|d| {
                    d.links.insert(index);
                });
                self.links.insert(index, m);
            }
            RouteNetlinkMessage::DelLink(m) => {
                if m.header.interface_family == AddressFamily::Bridge {
                    return;
                }
                let index = m.header.index;
                if let Some(old) = self.links.remove(&index) {
                    if let Some(name) = link_view(&old).name {
                        self.speeds.borrow_mut().remove(&name);
                        touched.push(Some(name.clone()));
                        events.push(LiveEvent::LinkRemoved { link: name });
                    }
                }
                let addrs = self.addrs.retain(|k, _| k.1 != index);
                let routes = self.routes.retain(|_, r| route_oif(r) != Some(index));
                self.bufs.note(|d| {
                    d.links.insert(index);
                    d.addrs.extend(&addrs);
                    d.routes.extend(&routes);
                });
            }
            RouteNetlinkMessage::NewAddress(m) => {
                let Some(key) = addr_key(&m) else { return };
                let text = self.addr_text(&m);
                touched.push(self.link_name(m.header.index));
                let (slot, new) = self.addrs.put(key, m);
                self.bufs.note(|d| {
                    d.addrs.insert(slot);
                });
                if new {
                    events.extend(
                        text.map(|(link, address)| LiveEvent::AddressAdded { link, address }),
                    );
                }
            }
            RouteNetlinkMessage::DelAddress(m) => {
                let Some(key) = addr_key(&m) else { return };
                let text = self.addr_text(&m);
                touched.push(self.link_name(m.header.index));
                if let Some((slot, _)) = self.addrs.remove(&key) {
                    self.bufs.note(|d| {
                        d.addrs.insert(slot);
                    });
                    events.extend(
                        text.map(|(link, address)| LiveEvent::AddressRemoved { link, address }),
                    );
                }
            }
            RouteNetlinkMessage::NewRoute(m) => {
                if m.header.flags.contains(RouteFlags::Cloned) {
                    return;
                }
                let mut gone = Vec::new();
                if flags & NLM_F_REPLACE != 0 {
                    let slot = route_slot(&m);
                    gone = self.routes.retain(|_, r| route_slot(r) != slot);
                }
                touched.extend(route_oif(&m).map(|i| self.link_name(i)));
                let key = route_key(&m);
                let (slot, _) = self.routes.put(key, m);
                self.bufs.note(|d| {
                    d.routes.extend(&gone);
                    d.routes.insert(slot);
                });
            }
            RouteNetlinkMessage::DelRoute(m) => {
                touched.extend(route_oif(&m).map(|i| self.link_name(i)));
                let key = route_key(&m);
                if let Some((slot, _)) = self.routes.remove(&key) {
                    self.bufs.note(|d| {
                        d.routes.insert(slot);
                    });
                }
            }
            RouteNetlinkMessage::NewRule(m) => {
                self.rules
                    .put(hash_of(&format!("{:?}", (&m.header, &m.attributes))), m);
                self.bufs.note(|d| d.rules = true);
                touched.push(None);
            }
            RouteNetlinkMessage::DelRule(m) => {
                self.rules
                    .remove(&hash_of(&format!("{:?}", (&m.header, &m.attributes))));
                self.bufs.note(|d| d.rules = true);
                touched.push(None);
            }
            _ => return,
        }
        self.changed();
        for t in touched {
            self.changes.push_back((self.generation, t));
        }
        while self.changes.len() > CHANGE_LOG {
            if let Some((g, _)) = self.changes.pop_front() {
                self.changes_floor = g.max(self.changes_floor);
            }
        }
    }

    /// A link's name by index, as the raw state has it.
    fn link_name(&self, index: u32) -> Option<String> {
        self.links.get(&index).and_then(|l| link_view(l).name)
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

    /// `(link name, "address/prefix")` for an address event.
    fn addr_text(&self, m: &AddressMessage) -> Option<(String, String)> {
        let link = self
            .links
            .get(&m.header.index)
            .and_then(|l| link_view(l).name)?;
        let ip = m.attributes.iter().fold(None, |acc, a| match a {
            AddressAttribute::Local(a) => Some(*a),
            AddressAttribute::Address(a) => acc.or(Some(*a)),
            _ => acc,
        })?;
        Some((link, format!("{ip}/{}", m.header.prefix_len)))
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

/// What a link message says about usability, for up/down events.
struct LinkView {
    name: Option<String>,
    admin_up: bool,
    oper: String,
}

impl LinkView {
    fn usable(&self) -> bool {
        self.admin_up && matches!(self.oper.as_str(), "up" | "unknown")
    }
}

fn link_view(m: &LinkMessage) -> LinkView {
    let mut v = LinkView {
        name: None,
        admin_up: m.header.flags.contains(LinkFlags::Up),
        oper: "unknown".into(),
    };
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => v.name = Some(n.clone()),
            LinkAttribute::OperState(s) => v.oper = names::oper_state(s),
            _ => {}
        }
    }
    v
}

/// The attributes `link::build_links` reads; the rest (statistics, the
/// per-family blocks) is most of a notification's bytes and is dropped.
fn kept_link_attr(a: &LinkAttribute) -> bool {
    matches!(
        a,
        LinkAttribute::IfName(_)
            | LinkAttribute::Mtu(_)
            | LinkAttribute::Address(_)
            | LinkAttribute::PermAddress(_)
            | LinkAttribute::OperState(_)
            | LinkAttribute::Controller(_)
            | LinkAttribute::Link(_)
            | LinkAttribute::LinkNetNsId(_)
            | LinkAttribute::LinkInfo(_)
    )
}

/// The parts of `IFLA_LINKINFO` `link::build_links` reads: the kind, bond,
/// bridge and VLAN data, the port kind and a bond port's data (a veth's
/// peer block and a bridge port's thirty options are dropped).
fn kept_link_info(i: &LinkInfo) -> bool {
    matches!(
        i,
        LinkInfo::Kind(_)
            | LinkInfo::PortKind(_)
            | LinkInfo::Data(InfoData::Bond(_) | InfoData::Bridge(_) | InfoData::Vlan(_))
            | LinkInfo::PortData(InfoPortData::BondPort(_))
    )
}

/// The attributes `addr::build_addr` and the address events read.
fn kept_addr_attr(a: &AddressAttribute) -> bool {
    matches!(
        a,
        AddressAttribute::Local(_)
            | AddressAttribute::Address(_)
            | AddressAttribute::Flags(_)
            | AddressAttribute::CacheInfo(_)
    )
}

/// The attributes `route::build_route` and the route identity read.
fn kept_route_attr(a: &RouteAttribute) -> bool {
    matches!(
        a,
        RouteAttribute::Table(_)
            | RouteAttribute::Destination(_)
            | RouteAttribute::Source(_)
            | RouteAttribute::Gateway(_)
            | RouteAttribute::Via(_)
            | RouteAttribute::Oif(_)
            | RouteAttribute::PrefSource(_)
            | RouteAttribute::Priority(_)
            | RouteAttribute::MultiPath(_)
    )
}

/// A new vector of exactly the kept items. The parser's vectors grow by
/// doubling, and a link attribute is 208 bytes whatever it holds: a dumped
/// link kept whole costs about 13 KiB, its kept attributes under 2 KiB.
fn kept<T>(items: Vec<T>, keep: impl Fn(&T) -> bool) -> Vec<T> {
    let n = items.iter().filter(|i| keep(i)).count();
    let mut out = Vec::with_capacity(n);
    out.extend(items.into_iter().filter(|i| keep(i)));
    out
}

/// Drops from a message what the state is not built from, so that what is
/// held per link, address and route is small (the daemon keeps thousands).
fn compact(msg: &mut RouteNetlinkMessage) {
    match msg {
        RouteNetlinkMessage::NewLink(m) | RouteNetlinkMessage::DelLink(m) => {
            let mut attrs = kept(std::mem::take(&mut m.attributes), kept_link_attr);
            for a in &mut attrs {
                if let LinkAttribute::LinkInfo(infos) = a {
                    let mut infos2 = kept(std::mem::take(infos), kept_link_info);
                    for i in &mut infos2 {
                        match i {
                            LinkInfo::Data(InfoData::Bridge(v)) => v.shrink_to_fit(),
                            LinkInfo::Data(InfoData::Bond(v)) => v.shrink_to_fit(),
                            LinkInfo::Data(InfoData::Vlan(v)) => v.shrink_to_fit(),
                            LinkInfo::PortData(InfoPortData::BondPort(v)) => v.shrink_to_fit(),
                            _ => {}
                        }
                    }
                    *infos = infos2;
                }
            }
            m.attributes = attrs;
        }
        RouteNetlinkMessage::NewAddress(m) | RouteNetlinkMessage::DelAddress(m) => {
            m.attributes = kept(std::mem::take(&mut m.attributes), kept_addr_attr);
        }
        RouteNetlinkMessage::NewRoute(m) | RouteNetlinkMessage::DelRoute(m) => {
            m.attributes = kept(std::mem::take(&mut m.attributes), kept_route_attr);
        }
        _ => {}
    }
}

fn addr_key(m: &AddressMessage) -> Option<AddrKey> {
    let ip = m.attributes.iter().fold(None, |acc, a| match a {
        AddressAttribute::Local(a) => Some(*a),
        AddressAttribute::Address(a) => acc.or(Some(*a)),
        _ => acc,
    })?;
    let bytes = match ip {
        std::net::IpAddr::V4(v) => v.to_ipv6_mapped().octets(),
        std::net::IpAddr::V6(v) => v.octets(),
    };
    Some((
        u8::from(m.header.family),
        m.header.index,
        bytes,
        m.header.prefix_len,
    ))
}

fn route_oif(m: &RouteMessage) -> Option<u32> {
    m.attributes.iter().find_map(|a| match a {
        RouteAttribute::Oif(i) => Some(*i),
        _ => None,
    })
}

fn route_table(m: &RouteMessage) -> u32 {
    m.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(m.header.table))
}

/// What the kernel looks a route up by (family, table, destination, tos,
/// priority, source prefix): a replacing route takes this slot over.
fn route_slot(m: &RouteMessage) -> String {
    let h = &m.header;
    let mut dst = None;
    let mut src = None;
    let mut prio = None;
    for a in &m.attributes {
        match a {
            RouteAttribute::Destination(d) => dst = Some(d),
            RouteAttribute::Source(s) => src = Some(s),
            RouteAttribute::Priority(p) => prio = Some(*p),
            _ => {}
        }
    }
    format!(
        "{:?} {} {:?}/{} {:?}/{} tos {} prio {:?}",
        h.address_family,
        route_table(m),
        dst,
        h.destination_prefix_length,
        src,
        h.source_prefix_length,
        h.tos,
        prio
    )
}

/// A route's identity: its slot plus type, output link and next hops, so
/// routes appended to one slot stay apart.
fn route_key(m: &RouteMessage) -> RouteKey {
    let mut gw = None;
    let mut mp = None;
    for a in &m.attributes {
        match a {
            RouteAttribute::Gateway(g) => gw = Some(format!("{g:?}")),
            RouteAttribute::Via(v) => gw = Some(format!("{v:?}")),
            RouteAttribute::MultiPath(h) => mp = Some(format!("{h:?}")),
            _ => {}
        }
    }
    hash_of(&format!(
        "{} {:?} oif {:?} gw {:?} mp {:?}",
        route_slot(m),
        m.header.kind,
        route_oif(m),
        gw,
        mp
    ))
}

/// Splits a datagram into netlink messages; a message that does not parse
/// is skipped (with a debug event), as the snapshot skips what it cannot read.
fn messages(mut data: &[u8]) -> Vec<NetlinkMessage<RouteNetlinkMessage>> {
    let mut out = Vec::new();
    while data.len() >= 16 {
        let len = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]) as usize;
        if len < 16 || len > data.len() {
            break;
        }
        match NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[..len]) {
            Ok(m) => out.push(m),
            Err(e) => tracing::debug!(error = %e, "live netinfo: unreadable message skipped"),
        }
        // Messages are 4-byte aligned.
        let step = (len + 3) & !3;
        data = &data[step.min(data.len())..];
    }
    out
}

/// A blocking rtnetlink socket for dumps, one at a time.
pub(crate) struct DumpSocket {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
    /// Compact each message as it arrives (live netinfo's own dumps), so
    /// a full dump never holds every link whole at once.
    compact: bool,
}

impl DumpSocket {
    /// Opens and binds the socket (kernel-assigned port), with a receive
    /// timeout so a lost reply cannot hang the caller.
    pub(crate) fn open() -> Result<Self, NetinfoError> {
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(NetinfoError::Connect)?;
        sock.bind_auto().map_err(NetinfoError::Connect)?;
        let tv = libc::timeval {
            tv_sec: DUMP_TIMEOUT.as_secs() as libc::time_t,
            tv_usec: 0,
        };
        // SAFETY: setsockopt with a live timeval of the size passed.
        let rc = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(NetinfoError::Connect(io::Error::last_os_error()));
        }
        Ok(Self {
            sock,
            seq: 0,
            buf: vec![0; 1 << 16],
            compact: false,
        })
    }

    /// Runs one dump; restarted when the kernel flags it interrupted.
    pub(crate) fn dump(
        &mut self,
        kind: DumpKind,
        request: RouteNetlinkMessage,
    ) -> Result<Vec<RouteNetlinkMessage>, NetinfoError> {
        let mut attempt = 1;
        loop {
            let (out, interrupted) = self.dump_once(kind, request.clone())?;
            if !interrupted || attempt == 3 {
                return Ok(out);
            }
            attempt += 1;
        }
    }

    fn dump_once(
        &mut self,
        kind: DumpKind,
        request: RouteNetlinkMessage,
    ) -> Result<(Vec<RouteNetlinkMessage>, bool), NetinfoError> {
        let fail = |source: io::Error| NetinfoError::DumpIo { kind, source };
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut req = NetlinkMessage::from(request);
        req.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        req.header.sequence_number = seq;
        req.finalize();
        let mut bytes = vec![0; req.buffer_len()];
        req.serialize(&mut bytes);
        self.sock
            .send_to(&bytes, &SocketAddr::new(0, 0), 0)
            .map_err(fail)?;
        let mut out = Vec::new();
        let mut interrupted = false;
        loop {
            // SAFETY: recv into our own buffer, bounded by its length.
            let n = unsafe {
                libc::recv(
                    self.sock.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Err(fail(e));
            }
            let n = n as usize;
            if n > self.buf.len() {
                self.buf.resize(n.next_power_of_two(), 0);
                return Err(fail(io::Error::other("dump reply larger than the buffer")));
            }
            for msg in messages(&self.buf[..n]) {
                if msg.header.sequence_number != seq {
                    continue;
                }
                interrupted |= msg.header.flags & NLM_F_DUMP_INTR != 0;
                match msg.payload {
                    NetlinkPayload::Done(_) => return Ok((out, interrupted)),
                    NetlinkPayload::Error(err) if err.code.is_some() => {
                        return Err(NetinfoError::Dump {
                            kind,
                            source: rtnetlink::Error::NetlinkError(err),
                        });
                    }
                    NetlinkPayload::InnerMessage(mut inner) => {
                        if self.compact {
                            compact(&mut inner);
                        }
                        out.push(inner)
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Raises a socket's receive buffer (`SO_RCVBUFFORCE` as root, else up to
/// the system limit); returns what the kernel granted.
fn grow_rcvbuf(fd: i32, want: usize) -> usize {
    let value = want as libc::c_int;
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: setsockopt with a live int of the size passed.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            break;
        }
    }
    let mut got: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt into a live int with its size.
    unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&mut got as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    got as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_datagram_splits_into_its_messages() {
        let mut bytes = Vec::new();
        for index in [3u32, 4] {
            let mut m = LinkMessage::default();
            m.header.index = index;
            m.attributes
                .push(LinkAttribute::IfName(format!("x{index}")));
            let mut nl = NetlinkMessage::from(RouteNetlinkMessage::NewLink(m));
            nl.finalize();
            let mut b = vec![0; nl.buffer_len()];
            nl.serialize(&mut b);
            bytes.extend(b);
        }
        let msgs = messages(&bytes);
        assert_eq!(msgs.len(), 2);
    }
}
