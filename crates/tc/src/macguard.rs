//! MAC spoofing protection on a device's ingress: what a VM sends into
//! its tap passes only from the vNIC's MAC (used for vNICs on OVS, where
//! no Linux bridge port can be locked).
//!
//! Four `u32` filters on the device's `ingress` qdisc, at preferences
//! netswitch keeps for this ([`PREFS`]), as `tc` would make them:
//!
//! ```text
//! prio 40000 protocol arp u32 match ether src MAC
//!            match u32 MAC[0..4] at 8 match u16 MAC[4..6] at 12  action pass
//! prio 40001 protocol arp u32 match u32 0 0                       action drop
//! prio 40002 protocol all u32 match ether src MAC                 action pass
//! prio 40003 protocol all u32 match u32 0 0                       action drop
//! ```
//!
//! An ARP frame passes only when both its source and its sender hardware
//! address (offset 8 of the ARP header) are the MAC; anything else passes
//! only from the MAC. The pass filters go in first, so the VM's own
//! frames are never dropped while the guard is being set. The ingress
//! hook runs before a switch that takes the frame from the device's
//! receive path (a Linux bridge, OVS's kernel datapath); a reader on a
//! packet socket (OVS's userspace datapath) sees the frame before it.
//!
//! The ingress qdisc may be shared (libvirt's outbound bandwidth limit
//! puts a policer there): only the filters at [`PREFS`] are netswitch's,
//! and the qdisc goes with them only when nothing else is left on it.

use std::io;

use netswitch_netlink::attr::{push, str_of, u32_at};
use netswitch_netlink::NLM_F_EXCL;
use netswitch_netlink::{Attrs, Message, Socket, NETLINK_ROUTE, NLM_F_ACK, NLM_F_CREATE};

use crate::consts::{
    ETH_P_ALL, RTM_DELQDISC, RTM_DELTFILTER, RTM_GETTFILTER, RTM_NEWQDISC, RTM_NEWTFILTER,
    TCA_KIND, TCA_OPTIONS, TCA_U32_SEL, TC_U32_TERMINAL,
};
use crate::mirror::{INGRESS_HANDLE, TC_H_INGRESS};

/// The preferences of the guard's filters, in the order they are made.
pub const PREFS: [u16; 4] = [40000, 40002, 40001, 40003];

const TCA_U32_ACT: u16 = 7;
const TCA_ACT_KIND: u16 = 1;
const TCA_ACT_OPTIONS: u16 = 2;
const TCA_GACT_PARMS: u16 = 2;
const NLA_F_NESTED: u16 = 0x8000;
const ETH_P_ARP: u16 = 0x0806;
/// `TC_ACT_OK`: `action pass`.
pub const TC_ACT_OK: i32 = 0;
/// `TC_ACT_SHOT`: `action drop`.
pub const TC_ACT_SHOT: i32 = 2;
/// The source MAC from the network header a `u32` match counts from.
const ETHER_SRC: i32 = -8;
/// The ARP sender hardware address in the ARP header.
const ARP_SHA: i32 = 8;

/// One `u32` key: mask and value (in network byte order on the wire),
/// offset from the network header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// Which bits count.
    pub mask: u32,
    /// What they must be.
    pub value: u32,
    /// Where, from the network header (negative: the MAC header).
    pub off: i32,
}

/// One guard filter as made or read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardFilter {
    /// Its preference.
    pub pref: u16,
    /// Its protocol (host order: 0x0806 ARP, 0x0003 all).
    pub protocol: u16,
    /// Its selector's keys.
    pub keys: Vec<Key>,
    /// `gact`'s verdict: [`TC_ACT_OK`] or [`TC_ACT_SHOT`].
    pub action: i32,
}

/// A refused or failed tc request, with the step it was.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {source}")]
pub struct GuardError {
    /// What was being done, naming the device.
    pub step: String,
    /// The kernel's (or the socket's) error.
    #[source]
    pub source: io::Error,
}

fn at(step: impl Into<String>) -> impl FnOnce(io::Error) -> GuardError {
    let step = step.into();
    move |source| GuardError { step, source }
}

/// The two keys matching six bytes at `off` (`off` 4-aligned), as `tc`
/// packs `match ether src`: four bytes, then two under a 16-bit mask.
fn mac_keys(mac: [u8; 6], off: i32) -> [Key; 2] {
    [
        Key {
            mask: u32::MAX,
            value: u32::from_be_bytes([mac[0], mac[1], mac[2], mac[3]]),
            off,
        },
        Key {
            mask: 0xffff_0000,
            value: u32::from_be_bytes([mac[4], mac[5], 0, 0]),
            off: off + 4,
        },
    ]
}

/// The guard's filters for `mac`, in the order they are made.
pub fn filters(mac: [u8; 6]) -> Vec<GuardFilter> {
    let all = Key {
        mask: 0,
        value: 0,
        off: 0,
    };
    let src = mac_keys(mac, ETHER_SRC);
    let mut arp = src.to_vec();
    arp.extend(mac_keys(mac, ARP_SHA));
    let f = |pref, protocol, keys: Vec<Key>, action| GuardFilter {
        pref,
        protocol,
        keys,
        action,
    };
    vec![
        f(PREFS[0], ETH_P_ARP, arp, TC_ACT_OK),
        f(PREFS[1], ETH_P_ALL, src.to_vec(), TC_ACT_OK),
        f(PREFS[2], ETH_P_ARP, vec![all], TC_ACT_SHOT),
        f(PREFS[3], ETH_P_ALL, vec![all], TC_ACT_SHOT),
    ]
}

/// `tcm_info` of a filter: preference and protocol (network order).
fn info(pref: u16, protocol: u16) -> u32 {
    (u32::from(pref) << 16) | u32::from(protocol.to_be())
}

/// The body of `tc filter add dev IFINDEX parent ffff: prio P protocol
/// PROTO u32 match ... action pass|drop` (tcmsg and attributes).
fn add_body(ifindex: u32, f: &GuardFilter) -> Vec<u8> {
    // struct tc_gact { index, capab, action, refcnt, bindcnt }
    let mut parms = vec![0u8; 8];
    parms.extend(f.action.to_ne_bytes());
    parms.extend([0u8; 8]);
    let mut opts = Vec::new();
    push(&mut opts, TCA_GACT_PARMS, &parms);
    let mut act = Vec::new();
    push(&mut act, TCA_ACT_KIND, b"gact\0");
    push(&mut act, TCA_ACT_OPTIONS | NLA_F_NESTED, &opts);
    let mut list = Vec::new();
    push(&mut list, 1, &act);
    // struct tc_u32_sel { flags, offshift, nkeys, pad; offmask; off;
    // offoff; hoff; hmask; keys[] { mask, val, off, offmask } }
    let mut sel = vec![TC_U32_TERMINAL, 0, f.keys.len() as u8, 0];
    sel.extend([0u8; 12]);
    for k in &f.keys {
        sel.extend(k.mask.to_be_bytes());
        sel.extend(k.value.to_be_bytes());
        sel.extend(k.off.to_ne_bytes());
        sel.extend([0u8; 4]);
    }
    let mut u32opts = Vec::new();
    push(&mut u32opts, TCA_U32_ACT, &list);
    push(&mut u32opts, TCA_U32_SEL, &sel);
    let mut body =
        crate::encode::tcmsg(ifindex as i32, 0, INGRESS_HANDLE, info(f.pref, f.protocol));
    push(&mut body, TCA_KIND, b"u32\0");
    push(&mut body, TCA_OPTIONS, &u32opts);
    body
}

/// The body of `tc filter del dev IFINDEX parent ffff: prio P protocol
/// PROTO u32`.
fn del_body(ifindex: u32, pref: u16, protocol: u16) -> Vec<u8> {
    let mut body = crate::encode::tcmsg(ifindex as i32, 0, INGRESS_HANDLE, info(pref, protocol));
    push(&mut body, TCA_KIND, b"u32\0");
    body
}

fn open() -> Result<Socket, GuardError> {
    let s = Socket::open(NETLINK_ROUTE).map_err(at("opening a netlink socket"))?;
    s.set_ext_ack(true).map_err(at("NETLINK_EXT_ACK"))?;
    s.set_timeout(std::time::Duration::from_secs(10))
        .map_err(at("SO_RCVTIMEO"))?;
    Ok(s)
}

fn ack(s: &mut Socket, kind: u16, flags: u16, body: &[u8], step: String) -> Result<(), GuardError> {
    s.request(kind, NLM_F_ACK | flags, body, |_| {})
        .map(|_| ())
        .map_err(at(step))
}

/// What a device's ingress carries: whether it has the qdisc, the
/// guard's filters, and whether other filters share it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Guard {
    /// The ingress qdisc is there.
    pub ingress: bool,
    /// The filters at [`PREFS`], by preference.
    pub filters: Vec<GuardFilter>,
    /// Filters at other preferences (not netswitch's).
    pub others: usize,
}

impl Guard {
    /// The MAC the guard lets through, when all four filters are there
    /// and say the same.
    pub fn mac(&self) -> Option<[u8; 6]> {
        let pass = self.filters.iter().find(|f| f.pref == PREFS[1])?;
        let [a, b] = pass.keys.as_slice() else {
            return None;
        };
        let (x, y) = (a.value.to_be_bytes(), b.value.to_be_bytes());
        let mac = [x[0], x[1], x[2], x[3], y[0], y[1]];
        let mut want = filters(mac);
        want.sort_by_key(|f| f.pref);
        (self.filters == want).then_some(mac)
    }
}

/// Reads the guard of the device `ifindex`.
pub fn read(ifindex: u32) -> Result<Guard, GuardError> {
    let mut s = open()?;
    read_with(&mut s, ifindex)
}

fn read_with(s: &mut Socket, ifindex: u32) -> Result<Guard, GuardError> {
    let tree = crate::mirror::read(ifindex).map_err(|e| GuardError {
        step: e.step,
        source: e.source,
    })?;
    let mut g = Guard {
        ingress: tree.has_ingress(),
        ..Guard::default()
    };
    if !g.ingress {
        return Ok(g);
    }
    let what = format!("dumping the ingress filters of ifindex {ifindex}");
    let body = crate::encode::tcmsg(ifindex as i32, 0, INGRESS_HANDLE, 0);
    let got = s
        .dump(&what, RTM_GETTFILTER, &body, |m| Some(parse_filter(m)))
        .map_err(at(what.clone()))?;
    for (pref, parsed) in got {
        match parsed {
            Some(f) if PREFS.contains(&pref) => g.filters.push(f),
            Some(_) => g.others += 1,
            // A u32 hash table or a chain header: counted by its nodes.
            None if !PREFS.contains(&pref) => g.others += 1,
            None => {}
        }
    }
    g.filters.sort_by_key(|f| f.pref);
    g.filters.dedup();
    Ok(g)
}

/// A filter message: its preference, and the filter when it is a `u32`
/// node with a selector and a `gact` verdict.
fn parse_filter(m: &Message<'_>) -> (u16, Option<GuardFilter>) {
    let info = u32_at(m.payload, 16);
    let pref = (info >> 16) as u16;
    if m.kind != RTM_NEWTFILTER {
        return (pref, None);
    }
    let f = m.payload.get(20..).and_then(|a| {
        let attrs = Attrs::new(a);
        let kind = str_of(attrs.clone().find_kind(TCA_KIND)?)?;
        let opts = attrs.find_kind(TCA_OPTIONS)?;
        (kind == "u32").then_some(())?;
        Some(GuardFilter {
            pref,
            protocol: u16::from_be(info as u16),
            keys: parse_keys(Attrs::new(opts).find_kind(TCA_U32_SEL)?),
            action: parse_gact(Attrs::new(opts).find_kind(TCA_U32_ACT)?)?,
        })
    });
    (pref, f)
}

/// The keys of a `tc_u32_sel`.
fn parse_keys(sel: &[u8]) -> Vec<Key> {
    let n = usize::from(sel.get(2).copied().unwrap_or(0));
    (0..n)
        .filter_map(|i| {
            let k = sel.get(16 + i * 16..32 + i * 16)?;
            Some(Key {
                mask: u32::from_be_bytes(k[0..4].try_into().ok()?),
                value: u32::from_be_bytes(k[4..8].try_into().ok()?),
                off: i32::from_ne_bytes(k[8..12].try_into().ok()?),
            })
        })
        .collect()
}

/// The verdict of a filter's only action, when it is `gact`.
fn parse_gact(list: &[u8]) -> Option<i32> {
    let (_, act) = Attrs::new(list).next()?;
    let attrs = Attrs::new(act);
    (str_of(attrs.clone().find_kind(TCA_ACT_KIND)?)? == "gact").then_some(())?;
    let parms = Attrs::new(attrs.find_kind(TCA_ACT_OPTIONS)?).find_kind(TCA_GACT_PARMS)?;
    Some(u32_at(parms, 8) as i32)
}

/// Guards the device `ifindex` so that it takes frames from `mac` only
/// (see the module doc); a guard for another MAC is replaced. Returns
/// the guard as read back.
pub fn guard(ifindex: u32, mac: [u8; 6]) -> Result<Guard, GuardError> {
    let mut s = open()?;
    let now = read_with(&mut s, ifindex)?;
    if now.mac() == Some(mac) {
        return Ok(now);
    }
    if !now.filters.is_empty() {
        del_filters(&mut s, ifindex, &now)?;
    }
    let created = !now.ingress;
    if created {
        let mut body = crate::encode::tcmsg(ifindex as i32, INGRESS_HANDLE, TC_H_INGRESS, 0);
        push(&mut body, TCA_KIND, b"ingress\0");
        let step = format!("adding the ingress qdisc to ifindex {ifindex}");
        ack(&mut s, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, &body, step)?;
    }
    let added = filters(mac).iter().try_for_each(|f| {
        let step = format!("adding guard filter {} to ifindex {ifindex}", f.pref);
        let body = add_body(ifindex, f);
        ack(
            &mut s,
            RTM_NEWTFILTER,
            NLM_F_CREATE | NLM_F_EXCL,
            &body,
            step,
        )
    });
    if let Err(e) = added {
        // Nothing half-made stays: the filters that went in, and the
        // qdisc when this call made it.
        let _ = take_off(&mut s, ifindex, created);
        return Err(e);
    }
    read_with(&mut s, ifindex)
}

fn del_filters(s: &mut Socket, ifindex: u32, g: &Guard) -> Result<(), GuardError> {
    // Drops first, so the VM is not cut off while its guard goes.
    for f in g.filters.iter().rev() {
        let step = format!("deleting guard filter {} of ifindex {ifindex}", f.pref);
        ack(
            s,
            RTM_DELTFILTER,
            0,
            &del_body(ifindex, f.pref, f.protocol),
            step,
        )?;
    }
    Ok(())
}

/// Takes the guard off the device `ifindex`: its filters, and the
/// ingress qdisc when no other filter is left on it. A device without a
/// guard is left as it is.
pub fn unguard(ifindex: u32) -> Result<(), GuardError> {
    let mut s = open()?;
    take_off(&mut s, ifindex, false)
}

/// Deletes the guard's filters, then the ingress qdisc when nothing else
/// is on it and there was a guard (or `made_qdisc`: this run added it).
fn take_off(s: &mut Socket, ifindex: u32, made_qdisc: bool) -> Result<(), GuardError> {
    let now = read_with(s, ifindex)?;
    if now.filters.is_empty() && !(made_qdisc && now.ingress) {
        return Ok(());
    }
    del_filters(s, ifindex, &now)?;
    if now.others == 0 {
        let body = crate::encode::tcmsg(ifindex as i32, INGRESS_HANDLE, TC_H_INGRESS, 0);
        let step = format!("deleting the ingress qdisc of ifindex {ifindex}");
        ack(s, RTM_DELQDISC, 0, &body, step)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// `tc`'s requests as captured (strace), without the 16-byte
    /// `nlmsghdr`, device index 3, MAC 52:54:00:12:34:56: `tc filter add
    /// dev veth_q0 parent ffff: prio 40000 protocol arp u32 match ether src
    /// MAC match u32 0x52540012 0xffffffff at 8 match u16 0x3456 0xffff at
    /// 12 action pass`, `... prio 40002 protocol all u32 match ether src
    /// MAC action pass`, `... prio 40003 protocol all u32 match u32 0 0
    /// action drop`, `tc filter del dev veth_q0 parent ffff: prio 40000
    /// protocol arp u32`.
    const TC_ARP_PASS: &str =
        "0000000003000000000000000000ffff0806409c08000100753332008800020030000700\
        2c0001000900010067616374000000001c00028018000200000000000000000000000000\
        00000000000000005400050001000400000000000000000000000000ffffffff52540012\
        f8ffffff00000000ffff000034560000fcffffff00000000ffffffff5254001208000000\
        00000000ffff0000345600000c00000000000000";
    const TC_ALL_PASS: &str =
        "0000000003000000000000000000ffff0003429c08000100753332006800020030000700\
        2c0001000900010067616374000000001c00028018000200000000000000000000000000\
        00000000000000003400050001000200000000000000000000000000ffffffff52540012\
        f8ffffff00000000ffff000034560000fcffffff00000000";
    const TC_ALL_DROP: &str =
        "0000000003000000000000000000ffff0003439c08000100753332005800020030000700\
        2c0001000900010067616374000000001c00028018000200000000000000000002000000\
        000000000000000024000500010001000000000000000000000000000000000000000000\
        0000000000000000";
    const TC_DEL_ARP: &str = "0000000003000000000000000000ffff0806409c0800010075333200";

    const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];

    #[test]
    fn filters_are_what_tc_sends() {
        let fs = filters(MAC);
        let by = |p: u16| fs.iter().find(|f| f.pref == p).unwrap();
        assert_eq!(add_body(3, by(40000)), hex(TC_ARP_PASS));
        assert_eq!(add_body(3, by(40002)), hex(TC_ALL_PASS));
        assert_eq!(add_body(3, by(40003)), hex(TC_ALL_DROP));
        assert_eq!(del_body(3, 40000, ETH_P_ARP), hex(TC_DEL_ARP));
        assert_eq!(
            fs.iter().map(|f| f.pref).collect::<Vec<_>>(),
            PREFS,
            "pass filters before drops"
        );
    }

    #[test]
    fn a_filter_reads_back_as_made() {
        for f in filters(MAC) {
            let body = add_body(3, &f);
            let mut msg = vec![0u8; 0];
            msg.extend(&body);
            let m = Message {
                kind: RTM_NEWTFILTER,
                flags: 0,
                seq: 0,
                payload: &msg,
            };
            assert_eq!(parse_filter(&m), (f.pref, Some(f.clone())));
        }
        let mut g = Guard {
            ingress: true,
            filters: filters(MAC),
            others: 0,
        };
        g.filters.sort_by_key(|f| f.pref);
        assert_eq!(g.mac(), Some(MAC));
        g.filters.pop();
        assert_eq!(g.mac(), None, "a guard missing a filter is none");
    }
}
