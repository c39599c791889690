//! The tc objects of port mirroring on a Linux bridge, encoded and read
//! over rtnetlink: an `ingress` qdisc and a root `prio` qdisc, each with
//! one `matchall` filter whose action list is one `mirred egress mirror
//! dev <target>` per target device, and the bridge's promiscuous flag.
//!
//! This is VDSM's layout (it used `tc`; netswitch speaks netlink), so a
//! bridge taken over from VDSM reads the same. The ingress side sees every
//! frame the bridge passes up to itself, which with the bridge promiscuous
//! is every frame it switches; the root side sees what the host itself
//! sends into the bridge.
//!
//! Beside host QoS's typed tc ops (the rest of this crate), because a
//! mirror is not planned: it is set and cleared by its own verbs, and a
//! change is a handful of requests, sent one acknowledged request at a
//! time over the shared [`netswitch_netlink::Socket`], in the calling
//! thread's network namespace. The message header and the kernel's
//! numbers are the crate's (`encode::tcmsg`, `consts`).
//!
//! `matchall` cannot change an existing filter (the kernel answers
//! `EEXIST`), so a new action list is the old filter deleted and a new one
//! added; frames switched between the two requests are not copied.

use std::io;

use netswitch_netlink::attr::{push, str_of, u32_at};
use netswitch_netlink::{Attrs, Message, Socket, NETLINK_ROUTE, NLM_F_ACK, NLM_F_CREATE};
use netswitch_netlink::{NLM_F_EXCL, NLM_F_REPLACE};

use netswitch_model::tc::Handle;

use crate::consts::{
    RTM_DELQDISC, RTM_DELTFILTER, RTM_GETQDISC, RTM_GETTFILTER, RTM_NEWQDISC, RTM_NEWTFILTER,
    TCA_KIND, TCA_OPTIONS,
};

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;

const TCA_MATCHALL_ACT: u16 = 2;
const TCA_ACT_KIND: u16 = 1;
const TCA_ACT_OPTIONS: u16 = 2;
const TCA_MIRRED_PARMS: u16 = 2;
const NLA_F_NESTED: u16 = 0x8000;

/// `TC_H_ROOT`: the parent of a root qdisc.
pub const TC_H_ROOT: u32 = Handle::ROOT.0;
/// `TC_H_INGRESS`: the parent of the ingress qdisc.
pub const TC_H_INGRESS: u32 = Handle::INGRESS.0;
/// The ingress qdisc's handle, `ffff:`: the parent of its filters.
pub const INGRESS_HANDLE: u32 = Handle::INGRESS_HANDLE.0;
/// The preference a new mirror filter gets: the one the kernel picks for
/// the first filter of a qdisc, so the tree reads as `tc` would make it.
pub const MIRROR_PREF: u16 = 49152;
/// The handle of the mirror filter (one per qdisc).
const FILTER_HANDLE: u32 = 1;

/// `TCA_EGRESS_MIRR`: copy the frame out of the target's egress.
const TCA_EGRESS_MIRR: i32 = 2;
/// `TC_ACT_PIPE`: go on with the next action (and let the frame pass).
const TC_ACT_PIPE: i32 = 3;
/// `ETH_P_ALL`, in network byte order as `tcm_info` carries it.
const PROTO_ALL: u16 = crate::consts::ETH_P_ALL.to_be();
const IFF_PROMISC: u32 = 0x100;

/// A qdisc of the device, as dumped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qdisc {
    /// `TCA_KIND`: `ingress`, `prio`, `noqueue`, ...
    pub kind: String,
    /// Its handle (`major << 16`); 0 for the kernel's default qdiscs.
    pub handle: u32,
    /// Its parent: [`TC_H_ROOT`], [`TC_H_INGRESS`] or a class.
    pub parent: u32,
}

/// A filter of one qdisc, as dumped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The qdisc it hangs on (`major << 16`).
    pub parent: u32,
    /// Its preference (priority).
    pub pref: u16,
    /// Its handle.
    pub handle: u32,
    /// `TCA_KIND`: `matchall`, `u32`, ...
    pub kind: String,
    /// Its actions, in order, with the mirred ones' targets.
    pub actions: Vec<Action>,
}

impl Filter {
    /// The targets of the filter's `mirred egress mirror` actions, when
    /// that is all it does (a mirror filter); `None` otherwise.
    pub fn mirror_targets(&self) -> Option<Vec<u32>> {
        if self.kind != "matchall" || self.actions.is_empty() {
            return None;
        }
        self.actions
            .iter()
            .map(|a| match a {
                Action::Mirred {
                    eaction: TCA_EGRESS_MIRR,
                    ifindex,
                } => Some(*ifindex),
                _ => None,
            })
            .collect()
    }
}

/// One action of a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `mirred`: `eaction` 2 is egress mirror, 1 egress redirect.
    Mirred {
        /// `TCA_EGRESS_MIRR` and friends.
        eaction: i32,
        /// The target device.
        ifindex: u32,
    },
    /// Any other kind.
    Other(String),
}

/// The mirroring side of a device's tc state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorTree {
    /// The device's qdiscs.
    pub qdiscs: Vec<Qdisc>,
    /// The filters of its ingress and root qdiscs.
    pub filters: Vec<Filter>,
    /// Whether the device was set promiscuous (by a user, not by being a
    /// bridge port).
    pub promisc: bool,
}

impl MirrorTree {
    /// The root qdisc, unless it is the kernel's default (handle 0).
    pub fn root(&self) -> Option<&Qdisc> {
        self.qdiscs
            .iter()
            .find(|q| q.parent == TC_H_ROOT && q.handle != 0)
    }

    /// Whether the ingress qdisc is there.
    pub fn has_ingress(&self) -> bool {
        self.qdiscs.iter().any(|q| q.parent == TC_H_INGRESS)
    }

    /// The mirror filter on `parent`, with its targets.
    pub fn mirror_on(&self, parent: u32) -> Option<(&Filter, Vec<u32>)> {
        self.filters
            .iter()
            .filter(|f| f.parent == parent)
            .find_map(|f| Some((f, f.mirror_targets()?)))
    }

    /// Whether `parent` has filters besides the mirror one.
    fn others_on(&self, parent: u32) -> bool {
        self.filters
            .iter()
            .any(|f| f.parent == parent && f.mirror_targets().is_none())
    }
}

/// A refused or failed tc request, with the step it was.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {source}")]
pub struct MirrorError {
    /// What was being done, naming the device.
    pub step: String,
    /// The kernel's (or the socket's) error.
    #[source]
    pub source: io::Error,
}

fn at(step: impl Into<String>) -> impl FnOnce(io::Error) -> MirrorError {
    let step = step.into();
    move |source| MirrorError { step, source }
}

/// `struct tcmsg` for the device of index `ifindex`.
fn tcmsg(ifindex: u32, handle: u32, parent: u32, info: u32) -> Vec<u8> {
    crate::encode::tcmsg(ifindex as i32, handle, parent, info)
}

fn open() -> Result<Socket, MirrorError> {
    let s = Socket::open(NETLINK_ROUTE).map_err(at("opening a netlink socket"))?;
    s.set_ext_ack(true).map_err(at("NETLINK_EXT_ACK"))?;
    s.set_timeout(std::time::Duration::from_secs(10))
        .map_err(at("SO_RCVTIMEO"))?;
    Ok(s)
}

/// Reads the device's qdiscs, the filters of its ingress and root qdiscs,
/// and its promiscuous flag.
pub fn read(ifindex: u32) -> Result<MirrorTree, MirrorError> {
    let mut s = open()?;
    read_with(&mut s, ifindex)
}

fn read_with(s: &mut Socket, ifindex: u32) -> Result<MirrorTree, MirrorError> {
    let what = format!("dumping the qdiscs of ifindex {ifindex}");
    let qdiscs = s
        .dump(&what, RTM_GETQDISC, &tcmsg(0, 0, 0, 0), |m| {
            parse_qdisc(m, ifindex)
        })
        .map_err(at(what.clone()))?;
    let mut tree = MirrorTree {
        qdiscs,
        ..MirrorTree::default()
    };
    let parents: Vec<u32> = tree
        .qdiscs
        .iter()
        .filter(|q| q.handle != 0 && (q.parent == TC_H_ROOT || q.parent == TC_H_INGRESS))
        .map(|q| q.handle)
        .collect();
    for parent in parents {
        let what = format!("dumping the filters of {parent:x} on ifindex {ifindex}");
        let body = tcmsg(ifindex, 0, parent, 0);
        let got = s
            .dump(&what, RTM_GETTFILTER, &body, |m| parse_filter(m, parent))
            .map_err(at(what.clone()))?;
        tree.filters.extend(got);
    }
    tree.promisc = link_flags(s, ifindex)? & IFF_PROMISC != 0;
    Ok(tree)
}

fn parse_qdisc(m: &Message<'_>, ifindex: u32) -> Option<Qdisc> {
    if m.kind != RTM_NEWQDISC || u32_at(m.payload, 4) != ifindex {
        return None;
    }
    let kind = Attrs::new(m.payload.get(20..)?).find_kind(TCA_KIND)?;
    Some(Qdisc {
        kind: str_of(kind)?.to_string(),
        handle: u32_at(m.payload, 8),
        parent: u32_at(m.payload, 12),
    })
}

/// A filter message; the per-preference header message the kernel sends
/// before a filter list (handle 0, no options) is skipped.
fn parse_filter(m: &Message<'_>, parent: u32) -> Option<Filter> {
    let handle = u32_at(m.payload, 8);
    if m.kind != RTM_NEWTFILTER || handle == 0 {
        return None;
    }
    let attrs = Attrs::new(m.payload.get(20..)?);
    let kind = str_of(attrs.clone().find_kind(TCA_KIND)?)?.to_string();
    let actions = attrs
        .find_kind(TCA_OPTIONS)
        .and_then(|o| Attrs::new(o).find_kind(TCA_MATCHALL_ACT))
        .map(parse_actions)
        .unwrap_or_default();
    Some(Filter {
        parent,
        pref: (u32_at(m.payload, 16) >> 16) as u16,
        handle,
        kind,
        actions,
    })
}

/// The action list of a filter: one nest per action, in order.
fn parse_actions(list: &[u8]) -> Vec<Action> {
    let mut out: Vec<(u16, Action)> = Attrs::new(list)
        .map(|(order, a)| {
            let attrs = Attrs::new(a);
            let kind = attrs
                .clone()
                .find_kind(TCA_ACT_KIND)
                .and_then(str_of)
                .unwrap_or_default()
                .to_string();
            let parms = attrs
                .find_kind(TCA_ACT_OPTIONS)
                .and_then(|o| Attrs::new(o).find_kind(TCA_MIRRED_PARMS));
            let action = match parms.filter(|p| kind == "mirred" && p.len() >= 28) {
                Some(p) => Action::Mirred {
                    eaction: u32_at(p, 20) as i32,
                    ifindex: u32_at(p, 24),
                },
                None => Action::Other(kind),
            };
            (order, action)
        })
        .collect();
    out.sort_by_key(|(order, _)| *order);
    out.into_iter().map(|(_, a)| a).collect()
}

/// `ifi_flags` of the device (`IFF_PROMISC` as a user set it).
fn link_flags(s: &mut Socket, ifindex: u32) -> Result<u32, MirrorError> {
    let mut flags = 0;
    s.request(RTM_GETLINK, 0, &ifinfomsg(ifindex, 0, 0), |m| {
        flags = u32_at(m.payload, 8);
    })
    .map_err(at(format!("reading the flags of ifindex {ifindex}")))?;
    Ok(flags)
}

/// `struct ifinfomsg` with `flags` and the `change` mask.
fn ifinfomsg(ifindex: u32, flags: u32, change: u32) -> Vec<u8> {
    let mut b = vec![0u8; 4];
    b.extend(ifindex.to_ne_bytes());
    b.extend(flags.to_ne_bytes());
    b.extend(change.to_ne_bytes());
    b
}

/// The `TCA_OPTIONS` of a `prio` qdisc: three bands and the kernel's
/// default priority map (`struct tc_prio_qopt`), what `tc qdisc add ...
/// prio` sends.
fn prio_options() -> Vec<u8> {
    let mut b = 3i32.to_ne_bytes().to_vec();
    b.extend([1u8, 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]);
    b
}

/// A `matchall` filter's `TCA_OPTIONS`: one `mirred egress mirror` per
/// target, each passing the frame on (`TC_ACT_PIPE`), as `tc`'s `action
/// mirred egress mirror dev X` is.
fn matchall_options(targets: &[u32]) -> Vec<u8> {
    let mut list = Vec::new();
    for (i, ifindex) in targets.iter().enumerate() {
        // struct tc_mirred: index, capab, action, refcnt, bindcnt,
        // eaction, ifindex.
        let mut parms = vec![0u8; 8];
        parms.extend(TC_ACT_PIPE.to_ne_bytes());
        parms.extend([0u8; 8]);
        parms.extend(TCA_EGRESS_MIRR.to_ne_bytes());
        parms.extend(ifindex.to_ne_bytes());
        let mut opts = Vec::new();
        push(&mut opts, TCA_MIRRED_PARMS, &parms);
        let mut act = Vec::new();
        push(&mut act, TCA_ACT_KIND, b"mirred\0");
        push(&mut act, TCA_ACT_OPTIONS | NLA_F_NESTED, &opts);
        push(&mut list, (i as u16 + 1) | NLA_F_NESTED, &act);
    }
    let mut out = Vec::new();
    push(&mut out, TCA_MATCHALL_ACT | NLA_F_NESTED, &list);
    out
}

/// Sends one acknowledged request.
fn ack(
    s: &mut Socket,
    kind: u16,
    flags: u16,
    body: &[u8],
    step: String,
) -> Result<(), MirrorError> {
    s.request(kind, NLM_F_ACK | flags, body, |_| {})
        .map(|_| ())
        .map_err(at(step))
}

/// Makes the device's mirroring be `targets` (ifindexes, in order): with
/// targets, the ingress and root `prio` qdiscs (each made only when
/// missing; a root qdisc of another kind is refused, it is not ours to
/// replace), a mirror filter on each with exactly these targets, and the
/// device promiscuous when `promisc`; with none, the mirror filters go,
/// then each qdisc that has no other filter left (the ingress one, and a
/// root `prio`), and the promiscuous flag is cleared when `promisc`.
/// Returns the tree as read back.
pub fn set_mirror(ifindex: u32, targets: &[u32], promisc: bool) -> Result<MirrorTree, MirrorError> {
    let mut s = open()?;
    let tree = read_with(&mut s, ifindex)?;
    if targets.is_empty() {
        clear(&mut s, ifindex, &tree, promisc)?;
    } else {
        let root = ensure_qdiscs(&mut s, ifindex, &tree)?;
        let tree = read_with(&mut s, ifindex)?;
        for parent in [INGRESS_HANDLE, root] {
            set_filter(&mut s, ifindex, &tree, parent, targets)?;
        }
        if promisc && !tree.promisc {
            set_promisc(&mut s, ifindex, true)?;
        }
    }
    read_with(&mut s, ifindex)
}

/// Adds what is missing of the two qdiscs; returns the root one's handle.
fn ensure_qdiscs(s: &mut Socket, ifindex: u32, tree: &MirrorTree) -> Result<u32, MirrorError> {
    if !tree.has_ingress() {
        let mut body = tcmsg(ifindex, INGRESS_HANDLE, TC_H_INGRESS, 0);
        push(&mut body, TCA_KIND, b"ingress\0");
        let step = format!("adding the ingress qdisc to ifindex {ifindex}");
        ack(s, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, &body, step)?;
    }
    match tree.root() {
        Some(q) if q.kind == "prio" => Ok(q.handle),
        Some(q) => Err(MirrorError {
            step: format!(
                "ifindex {ifindex} has a root {} qdisc ({:x}:) that is not netswitch's",
                q.kind,
                q.handle >> 16
            ),
            source: io::Error::from_raw_os_error(libc::EBUSY),
        }),
        None => {
            // Handle 0: the kernel picks one, as `tc qdisc add ... root prio`.
            let mut body = tcmsg(ifindex, 0, TC_H_ROOT, 0);
            push(&mut body, TCA_KIND, b"prio\0");
            push(&mut body, TCA_OPTIONS, &prio_options());
            let step = format!("adding a root prio qdisc to ifindex {ifindex}");
            ack(s, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE, &body, step)?;
            let now = read_with(s, ifindex)?;
            now.root().map(|q| q.handle).ok_or_else(|| MirrorError {
                step: format!("the root prio qdisc of ifindex {ifindex} is not there"),
                source: io::Error::from_raw_os_error(libc::ENOENT),
            })
        }
    }
}

/// Puts a mirror filter with `targets` on `parent`, replacing the mirror
/// filter there unless it has those targets already.
fn set_filter(
    s: &mut Socket,
    ifindex: u32,
    tree: &MirrorTree,
    parent: u32,
    targets: &[u32],
) -> Result<(), MirrorError> {
    let mut pref = MIRROR_PREF;
    if let Some((f, now)) = tree.mirror_on(parent) {
        if now == targets {
            return Ok(());
        }
        pref = f.pref;
        del_filter(s, ifindex, parent, pref)?;
    }
    let info = (u32::from(pref) << 16) | u32::from(PROTO_ALL);
    let mut body = tcmsg(ifindex, FILTER_HANDLE, parent, info);
    push(&mut body, TCA_KIND, b"matchall\0");
    push(
        &mut body,
        TCA_OPTIONS | NLA_F_NESTED,
        &matchall_options(targets),
    );
    let step = format!("adding the mirror filter to {parent:x} on ifindex {ifindex}");
    ack(s, RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, &body, step)
}

fn del_filter(s: &mut Socket, ifindex: u32, parent: u32, pref: u16) -> Result<(), MirrorError> {
    let info = (u32::from(pref) << 16) | u32::from(PROTO_ALL);
    let body = tcmsg(ifindex, 0, parent, info);
    let step = format!("deleting the mirror filter of {parent:x} on ifindex {ifindex}");
    ack(s, RTM_DELTFILTER, 0, &body, step)
}

/// Takes the mirroring away (see [`set_mirror`]).
fn clear(
    s: &mut Socket,
    ifindex: u32,
    tree: &MirrorTree,
    promisc: bool,
) -> Result<(), MirrorError> {
    let root = tree.root().filter(|q| q.kind == "prio").map(|q| q.handle);
    let ingress = tree.has_ingress().then_some(INGRESS_HANDLE);
    for parent in [ingress, root].into_iter().flatten() {
        if let Some((f, _)) = tree.mirror_on(parent) {
            del_filter(s, ifindex, parent, f.pref)?;
        }
        if tree.others_on(parent) {
            continue;
        }
        let (handle, qparent) = if parent == INGRESS_HANDLE {
            (INGRESS_HANDLE, TC_H_INGRESS)
        } else {
            (parent, TC_H_ROOT)
        };
        let step = format!("deleting qdisc {:x}: of ifindex {ifindex}", handle >> 16);
        ack(
            s,
            RTM_DELQDISC,
            0,
            &tcmsg(ifindex, handle, qparent, 0),
            step,
        )?;
    }
    if promisc && tree.promisc {
        set_promisc(s, ifindex, false)?;
    }
    Ok(())
}

fn set_promisc(s: &mut Socket, ifindex: u32, on: bool) -> Result<(), MirrorError> {
    let flags = if on { IFF_PROMISC } else { 0 };
    let body = ifinfomsg(ifindex, flags, IFF_PROMISC);
    let step = format!("setting promiscuous {on} on ifindex {ifindex}");
    ack(s, RTM_NEWLINK, 0, &body, step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_encoded_reads_back_as_the_same_targets() {
        let opts = matchall_options(&[7, 9]);
        let act = Attrs::new(&opts).find_kind(TCA_MATCHALL_ACT).expect("act");
        let actions = parse_actions(act);
        assert_eq!(
            actions,
            vec![
                Action::Mirred {
                    eaction: TCA_EGRESS_MIRR,
                    ifindex: 7
                },
                Action::Mirred {
                    eaction: TCA_EGRESS_MIRR,
                    ifindex: 9
                }
            ]
        );
        let f = Filter {
            parent: INGRESS_HANDLE,
            pref: MIRROR_PREF,
            handle: 1,
            kind: "matchall".into(),
            actions,
        };
        assert_eq!(f.mirror_targets(), Some(vec![7, 9]));
        let other = Filter {
            actions: vec![Action::Other("gact".into())],
            ..f
        };
        assert_eq!(other.mirror_targets(), None);
        assert_eq!(prio_options().len(), 20);
    }
}
