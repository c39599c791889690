//! Applying one notification (or dumped message) to live netinfo's raw
//! state: which kept message it replaces or removes, what it dirties for
//! the next patch, and the events it makes.

use super::{Kept, LiveEvent, Tracker, CHANGE_LOG};
use crate::patch::RouteKey;
use crate::raw::{self, *};
use netswitch_netlink::NLM_F_REPLACE;

impl Tracker {
    /// Applies one kept message (of type `kind`, with the header's
    /// `flags`) to the raw state, noting events.
    pub(super) fn apply(&mut self, kind: u16, flags: u16, msg: Kept, events: &mut Vec<LiveEvent>) {
        // The links the change is on, for `changes`.
        let mut touched: Vec<Option<String>> = Vec::with_capacity(2);
        match kind {
            RTM_NEWLINK | RTM_DELLINK => {
                // The bridge module reports its ports in AF_BRIDGE messages
                // on the same group; they are port views, not links.
                let (family, index) = link_family_index(&msg);
                if family == AF_BRIDGE {
                    return;
                }
                if kind == RTM_NEWLINK {
                    self.new_link(index, msg, &mut touched, events);
                } else {
                    self.del_link(index, &mut touched, events);
                }
            }
            RTM_NEWADDR | RTM_DELADDR => {
                let Some(key) = addr_key(&msg) else { return };
                let text = self.addr_text(&msg);
                touched.push(self.link_name(addr_index(&msg)));
                let changed = if kind == RTM_NEWADDR {
                    let (slot, new) = self.addrs.put(key, msg);
                    self.bufs.note(|d| {
                        d.addrs.insert(slot);
                    });
                    new
                } else {
                    let gone = self.addrs.remove(&key);
                    self.bufs
                        .note(|d| d.addrs.extend(gone.as_ref().map(|g| g.0)));
                    gone.is_some()
                };
                let event = |(link, address)| match kind {
                    RTM_NEWADDR => LiveEvent::AddressAdded { link, address },
                    _ => LiveEvent::AddressRemoved { link, address },
                };
                events.extend(text.filter(|_| changed).map(event));
            }
            RTM_NEWROUTE | RTM_DELROUTE => {
                if route_is_cloned(&msg) {
                    return;
                }
                touched.extend(route_oif(&msg).map(|i| self.link_name(i)));
                self.route(kind, flags, msg);
            }
            RTM_NEWRULE | RTM_DELRULE => {
                let key = rule_key(&msg);
                if kind == RTM_NEWRULE {
                    self.rules.put(key, msg);
                } else {
                    self.rules.remove(&key);
                }
                self.bufs.note(|d| d.rules = true);
                touched.push(None);
            }
            // RTM_{NEW,DEL}{QDISC,TCLASS,TFILTER}: host QoS. Nothing is
            // kept (the engine dumps tc when it plans), but the device
            // counts as changed, so a scoped plan looks at its networks
            // again and puts back a class removed behind netswitch's back.
            36 | 37 | 40 | 41 | 44 | 45 => {
                touched.push(self.link_name(netswitch_netlink::attr::u32_at(&msg, 4)));
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

    /// A link came or changed: up/down events, and the speed read again.
    fn new_link(
        &mut self,
        index: u32,
        msg: Kept,
        touched: &mut Vec<Option<String>>,
        events: &mut Vec<LiveEvent>,
    ) {
        let new = link_view(&msg);
        touched.push(new.name.clone());
        match self.links.get(&index).map(|l| link_view(l)) {
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
                    events.extend(new.name.clone().map(|link| up_or_down(link, &new)));
                }
                if old.admin_up && !new.admin_up {
                    // The kernel flushes some of a downed link's routes
                    // without telling (IPv4 keeps local ones): read the
                    // routes again before the next read.
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
        self.links.insert(index, msg);
    }

    /// A link went: so did its addresses and the routes through it.
    fn del_link(
        &mut self,
        index: u32,
        touched: &mut Vec<Option<String>>,
        events: &mut Vec<LiveEvent>,
    ) {
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

    /// A route came (replacing what held its slot, with `NLM_F_REPLACE`)
    /// or went.
    fn route(&mut self, kind: u16, flags: u16, msg: Kept) {
        let key: RouteKey = route_key(&msg);
        if kind == RTM_DELROUTE {
            if let Some((slot, _)) = self.routes.remove(&key) {
                self.bufs.note(|d| {
                    d.routes.insert(slot);
                });
            }
            return;
        }
        let mut gone = Vec::new();
        if flags & NLM_F_REPLACE != 0 {
            let slot = route_slot(&msg);
            gone = self.routes.retain(|_, r| route_slot(r) != slot);
        }
        let (slot, _) = self.routes.put(key, msg);
        self.bufs.note(|d| {
            d.routes.extend(&gone);
            d.routes.insert(slot);
        });
    }

    /// A link's name by index, as the raw state has it.
    fn link_name(&self, index: u32) -> Option<String> {
        self.links.get(&index).and_then(|l| link_view(l).name)
    }

    /// `(link name, "address/prefix")` for an address event.
    fn addr_text(&self, m: &[u8]) -> Option<(String, String)> {
        let link = self.link_name(addr_index(m))?;
        let (ip, prefix) = addr_ip(m)?;
        Some((link, format!("{ip}/{prefix}")))
    }
}

/// The event for a link whose usability changed to `new`'s.
fn up_or_down(link: String, new: &raw::LinkView) -> LiveEvent {
    if new.usable() {
        LiveEvent::LinkUp {
            link,
            oper_state: new.oper.clone(),
        }
    } else {
        LiveEvent::LinkDown {
            link,
            admin_up: new.admin_up,
            oper_state: new.oper.clone(),
        }
    }
}
