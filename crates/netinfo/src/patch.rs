//! The host states live netinfo hands out, patched in place rather than
//! rebuilt: a change to one link rebuilds that link (and its master's port
//! list), a changed address or route rebuilds that entry, and the other
//! few thousand entries of a big host are neither parsed nor copied again.
//!
//! Two buffers take turns. A reader keeps the state it was handed (a setup
//! keeps the host as it was before its change, for a rollback) while the
//! host moves on, so the state that is patched must be one nobody holds:
//! every change is noted in both buffers' dirty sets, and a read patches
//! whichever buffer is unshared and returns it. With one reader at a time
//! (the daemon's transactions) no state is ever copied whole; when both
//! are held, the newer one is copied and the copy patched.
//!
//! Addresses and routes are kept in arrival order, by the slot number
//! their raw store gave them, so a patched list is in exactly the order a
//! full rebuild makes; `Live::state_rebuilt` (tests) checks that.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;
use std::time::Instant;

use netswitch_model::host::{HostState, Link};

use crate::live::Kept;
use crate::{addr, link, route};

/// Messages kept in arrival order, found by an identity key; each has a
/// slot number that orders it and that a change of it is noted by.
pub(crate) struct Ordered<K, M> {
    by_key: HashMap<K, u64>,
    items: BTreeMap<u64, (K, M)>,
    next: u64,
}

impl<K: Hash + Eq + Clone, M> Ordered<K, M> {
    pub(crate) fn new() -> Self {
        Self {
            by_key: HashMap::new(),
            items: BTreeMap::new(),
            next: 0,
        }
    }

    /// Inserts or replaces in place; returns the slot and whether the key
    /// is new.
    pub(crate) fn put(&mut self, key: K, msg: M) -> (u64, bool) {
        if let Some(&slot) = self.by_key.get(&key) {
            if let Some(item) = self.items.get_mut(&slot) {
                item.1 = msg;
            }
            return (slot, false);
        }
        let slot = self.next;
        self.by_key.insert(key.clone(), slot);
        self.items.insert(slot, (key, msg));
        self.next += 1;
        (slot, true)
    }

    /// Removes by key; returns the slot it had and the message.
    pub(crate) fn remove(&mut self, key: &K) -> Option<(u64, M)> {
        let slot = self.by_key.remove(key)?;
        self.items.remove(&slot).map(|(_, m)| (slot, m))
    }

    /// Keeps what `keep` accepts; returns the slots of what went.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&K, &M) -> bool) -> Vec<u64> {
        let by_key = &mut self.by_key;
        let mut gone = Vec::new();
        self.items.retain(|slot, (k, m)| {
            let kept = keep(k, m);
            if !kept {
                by_key.remove(k);
                gone.push(*slot);
            }
            kept
        });
        gone
    }

    pub(crate) fn get(&self, slot: u64) -> Option<&M> {
        self.items.get(&slot).map(|(_, m)| m)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &M> {
        self.items.values().map(|(_, m)| m)
    }

    /// `(slot, message)` in slot order.
    pub(crate) fn slots(&self) -> impl Iterator<Item = (u64, &M)> {
        self.items.iter().map(|(s, (_, m))| (*s, m))
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }
}

/// Address identity: family, link index, address bytes, prefix length.
pub(crate) type AddrKey = (u8, u32, [u8; 16], u8);
/// Route identity: a 64-bit hash of what tells two routes of one table
/// apart (a fixed-key SipHash; kept small because a host has thousands).
pub(crate) type RouteKey = u64;

/// The raw messages a state is built from (live netinfo's store).
pub(crate) struct Raw<'a> {
    pub links: &'a BTreeMap<u32, Kept>,
    pub addrs: &'a Ordered<AddrKey, Kept>,
    pub routes: &'a Ordered<RouteKey, Kept>,
    pub rules: &'a Ordered<u64, Kept>,
    /// A link's speed by name (cached by the caller; asked for devices and
    /// veths only).
    pub speed: &'a dyn Fn(&str) -> Option<u32>,
}

/// What changed since a buffer was last brought up to date.
#[derive(Debug, Default, Clone)]
pub(crate) struct Dirty {
    /// Rebuild everything (a fresh dump, a rename).
    pub full: bool,
    /// Link indexes whose message came, changed or went.
    pub links: BTreeSet<u32>,
    /// Address slots that came, changed or went.
    pub addrs: BTreeSet<u64>,
    /// Route slots that came, changed or went.
    pub routes: BTreeSet<u64>,
    /// Rebuild every route (the routes were dumped again, new slots).
    pub all_routes: bool,
    /// Rebuild the rules (a handful; rebuilt whole).
    pub rules: bool,
}

impl Dirty {
    fn is_clean(&self) -> bool {
        !self.full
            && !self.all_routes
            && !self.rules
            && self.links.is_empty()
            && self.addrs.is_empty()
            && self.routes.is_empty()
    }
}

/// One state with what patching it needs.
#[derive(Clone)]
struct Buffer {
    state: Arc<HostState>,
    /// Index to name, as the state's addresses and routes were built with.
    names: HashMap<u32, String>,
    /// The raw slot of each entry of `state.addrs` (ascending).
    addr_slots: Vec<u64>,
    /// The raw slot of each entry of `state.routes` (ascending).
    route_slots: Vec<u64>,
    dirty: Dirty,
}

/// The two buffers, and which one is newest.
#[derive(Default)]
pub(crate) struct Buffers {
    bufs: [Option<Buffer>; 2],
    front: usize,
}

/// What one read cost, for the debug log.
#[derive(Debug, Default)]
pub(crate) struct Cost {
    /// `rebuilt`, `patched`, `copied and patched` or `current`.
    pub how: &'static str,
    /// Link messages parsed.
    pub parsed: usize,
}

impl Buffers {
    /// Notes a change in every buffer.
    pub(crate) fn note(&mut self, f: impl Fn(&mut Dirty)) {
        for b in self.bufs.iter_mut().flatten() {
            f(&mut b.dirty);
        }
    }

    /// Forgets both states (the raw store was replaced).
    pub(crate) fn clear(&mut self) {
        self.bufs = [None, None];
    }

    /// The state as of `raw`, patched from a buffer when one can be.
    pub(crate) fn read(&mut self, raw: &Raw) -> (Arc<HostState>, Cost) {
        if let Some(b) = &self.bufs[self.front] {
            if b.dirty.is_clean() {
                let cost = Cost {
                    how: "current",
                    parsed: 0,
                };
                return (b.state.clone(), cost);
            }
        }
        let unshared = |b: &Option<Buffer>| {
            b.as_ref()
                .is_some_and(|b| !b.dirty.full && Arc::strong_count(&b.state) == 1)
        };
        let front = self.front;
        let (slot, how) = if unshared(&self.bufs[front]) {
            (front, "patched")
        } else if unshared(&self.bufs[1 - front]) {
            (1 - front, "patched")
        } else if self.bufs[front].as_ref().is_some_and(|b| !b.dirty.full) {
            // Both held (or the back one missing): copy the newest.
            let mut copy = self.bufs[front].clone().expect("checked above");
            copy.state = Arc::new(HostState::clone(&copy.state));
            self.bufs[1 - front] = Some(copy);
            (1 - front, "copied and patched")
        } else {
            let back = if self.bufs[front].is_none() {
                front
            } else {
                1 - front
            };
            let (b, parsed) = rebuild(raw);
            self.bufs[back] = Some(b);
            self.front = back;
            let state = self.bufs[back].as_ref().expect("just set").state.clone();
            return (
                state,
                Cost {
                    how: "rebuilt",
                    parsed,
                },
            );
        };
        let buffer = self.bufs[slot].as_mut().expect("picked above");
        let cost = match patch(buffer, raw) {
            Some(parsed) => Cost { how, parsed },
            None => {
                let (b, parsed) = rebuild(raw);
                *buffer = b;
                Cost {
                    how: "rebuilt",
                    parsed,
                }
            }
        };
        self.front = slot;
        (buffer.state.clone(), cost)
    }
}

/// Builds a buffer from all of `raw`; returns it and the links parsed.
fn rebuild(raw: &Raw) -> (Buffer, usize) {
    let raws: Vec<link::RawLink> = raw
        .links
        .values()
        .filter_map(|m| link::read_link_bytes(m))
        .collect();
    let links = link::assemble(raws.iter(), raw.speed);
    let names = link::index_names(&links);
    let (addrs, addr_slots) = build_all(raw.addrs, |m| addr::read_addr_bytes(m)?.resolve(&names));
    let (routes, route_slots) =
        build_all(raw.routes, |m| route::read_route_bytes(m)?.resolve(&names));
    let state = HostState {
        links,
        addrs,
        routes,
        rules: raw
            .rules
            .values()
            .filter_map(|m| route::build_rule_bytes(m))
            .collect(),
        ovs: None,
        tc: Default::default(),
    };
    let parsed = raws.len();
    let buffer = Buffer {
        state: Arc::new(state),
        names,
        addr_slots,
        route_slots,
        dirty: Dirty::default(),
    };
    (buffer, parsed)
}

/// Every entry of a store that builds, with its slot.
fn build_all<K: Hash + Eq + Clone, M, T>(
    store: &Ordered<K, M>,
    build: impl Fn(&M) -> Option<T>,
) -> (Vec<T>, Vec<u64>) {
    let mut out = Vec::with_capacity(store.len());
    let mut slots = Vec::with_capacity(store.len());
    for (slot, m) in store.slots() {
        if let Some(t) = build(m) {
            out.push(t);
            slots.push(slot);
        }
    }
    (out, slots)
}

/// Brings a buffer nobody else holds up to date with `raw`; returns the
/// links parsed, or `None` when only a rebuild will do (a link renamed).
fn patch(b: &mut Buffer, raw: &Raw) -> Option<usize> {
    let dirty = std::mem::take(&mut b.dirty);
    if dirty.full {
        return None;
    }
    let state = Arc::get_mut(&mut b.state)?;

    // Links: the dirty ones are parsed; a rename changes what other
    // entries name, so it takes a rebuild.
    let mut fresh: Vec<link::RawLink> = Vec::new();
    let mut gone: Vec<u32> = Vec::new();
    for &index in &dirty.links {
        match raw.links.get(&index).and_then(|m| link::read_link_bytes(m)) {
            Some(r) => {
                if b.names.get(&index).is_some_and(|n| n != r.name()) {
                    return None;
                }
                fresh.push(r);
            }
            None => gone.push(index),
        }
    }
    let parsed = fresh.len();
    // Masters whose port lists may have changed: those of the dirty links,
    // before and after, and the dirty links that are masters themselves.
    let mut masters: HashSet<String> = HashSet::new();
    // Old entries go first, so a name freed and taken in one batch works.
    for &index in &dirty.links {
        if let Some(name) = b.names.get(&index) {
            if let Some(old) = state.links.remove(name) {
                masters.extend(old.master);
            }
        }
    }
    for index in &gone {
        b.names.remove(index);
    }
    for r in &fresh {
        b.names.insert(r.index(), r.name().to_string());
    }
    let names = &b.names;
    let name_of = |index: u32| names.get(&index).cloned();
    for r in &fresh {
        let l = link::resolve(r, &name_of, &|l: &Link| (raw.speed)(&l.name));
        masters.extend(l.master.clone());
        if l.bond.is_some() || l.bridge.is_some() {
            masters.insert(l.name.clone());
        }
        state.links.insert(l.name.clone(), l);
    }
    if !masters.is_empty() {
        relist_ports(&mut state.links, &masters);
    }

    // Addresses and routes, by slot.
    if !dirty.addrs.is_empty() {
        patch_list(
            &mut state.addrs,
            &mut b.addr_slots,
            &dirty.addrs,
            raw.addrs,
            |m| addr::read_addr_bytes(m)?.resolve(names),
        );
    }
    if dirty.all_routes {
        let (routes, slots) = build_all(raw.routes, |m| route::read_route_bytes(m)?.resolve(names));
        state.routes = routes;
        b.route_slots = slots;
    } else if !dirty.routes.is_empty() {
        patch_list(
            &mut state.routes,
            &mut b.route_slots,
            &dirty.routes,
            raw.routes,
            |m| route::read_route_bytes(m)?.resolve(names),
        );
    }
    if dirty.rules {
        state.rules = raw
            .rules
            .values()
            .filter_map(|m| route::build_rule_bytes(m))
            .collect();
    }
    Some(parsed)
}

/// Recomputes the port (or slave) lists of `masters` from what each link
/// names as its master, in ifindex order as a rebuild lists them.
fn relist_ports(links: &mut BTreeMap<String, Link>, masters: &HashSet<String>) {
    let mut members: HashMap<&str, Vec<(u32, String)>> = HashMap::new();
    for l in links.values() {
        if let Some(m) = l.master.as_deref() {
            if let Some(m) = masters.get(m) {
                members
                    .entry(m.as_str())
                    .or_default()
                    .push((l.index, l.name.clone()));
            }
        }
    }
    let mut lists: Vec<(String, Vec<String>)> = Vec::with_capacity(masters.len());
    for m in masters {
        let mut list = members.remove(m.as_str()).unwrap_or_default();
        list.sort_unstable_by_key(|(i, _)| *i);
        lists.push((m.clone(), list.into_iter().map(|(_, n)| n).collect()));
    }
    for (m, list) in lists {
        let Some(l) = links.get_mut(&m) else { continue };
        if let Some(bond) = l.bond.as_mut() {
            bond.slaves = list;
        } else if let Some(bridge) = l.bridge.as_mut() {
            bridge.ports = list;
        }
    }
}

/// Replaces, inserts or removes the entries of the dirty slots, keeping
/// the list in slot order. Past a quarter of the list, building it whole is
/// cheaper than moving the tail for every entry.
fn patch_list<K: Hash + Eq + Clone, M, T>(
    list: &mut Vec<T>,
    slots: &mut Vec<u64>,
    dirty: &BTreeSet<u64>,
    store: &Ordered<K, M>,
    build: impl Fn(&M) -> Option<T>,
) {
    if dirty.len() > 16 && dirty.len() > list.len() / 4 {
        (*list, *slots) = build_all(store, build);
        return;
    }
    for &slot in dirty {
        let entry = store.get(slot).and_then(&build);
        match (slots.binary_search(&slot), entry) {
            (Ok(i), Some(e)) => list[i] = e,
            (Ok(i), None) => {
                list.remove(i);
                slots.remove(i);
            }
            (Err(i), Some(e)) => {
                list.insert(i, e);
                slots.insert(i, slot);
            }
            (Err(_), None) => {}
        }
    }
}

/// A full rebuild from `raw`, for tests comparing it with what patching
/// produced.
pub(crate) fn rebuilt(raw: &Raw) -> HostState {
    let started = Instant::now();
    let (b, _) = rebuild(raw);
    tracing::trace!(
        elapsed_us = started.elapsed().as_micros() as u64,
        "reference rebuild"
    );
    HostState::clone(&b.state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_replaces_in_place_and_forgets_removed_keys() {
        let mut o: Ordered<&str, u32> = Ordered::new();
        assert_eq!(o.put("a", 1), (0, true));
        assert_eq!(o.put("b", 2), (1, true));
        assert_eq!(o.put("a", 3), (0, false));
        assert_eq!(o.values().copied().collect::<Vec<_>>(), [3, 2]);
        assert_eq!(o.retain(|k, _| *k != "a"), [0]);
        assert_eq!(o.put("a", 4), (2, true), "a retained-away key is new again");
        assert_eq!(o.remove(&"b"), Some((1, 2)));
        assert_eq!(o.values().copied().collect::<Vec<_>>(), [4]);
    }

    #[test]
    fn a_patched_list_keeps_slot_order() {
        let mut o: Ordered<u32, u32> = Ordered::new();
        for k in 0..6 {
            o.put(k, k * 10);
        }
        let (mut list, mut slots) = build_all(&o, |m| (*m != 20).then_some(*m));
        assert_eq!(list, [0, 10, 30, 40, 50]);
        let mut dirty = BTreeSet::new();
        dirty.insert(o.put(2, 21).0);
        dirty.insert(o.remove(&4).map(|(s, _)| s).unwrap());
        dirty.insert(o.put(9, 90).0);
        dirty.insert(o.put(0, 1).0);
        patch_list(&mut list, &mut slots, &dirty, &o, |m| Some(*m));
        let (want, want_slots) = build_all(&o, |m| Some(*m));
        assert_eq!((list, slots), (want, want_slots));
    }
}
