//! Traffic-control ops as rtnetlink requests: `struct tcmsg` and its
//! attributes, byte for byte what `tc(8)` sends for the same object (the
//! unit tests hold `tc`'s own bytes).

use netswitch_model::tc::{
    Class, Filter, FilterKind, Handle, Qdisc, QdiscKind, ServiceCurve, TcOp,
};
use netswitch_netlink::attr::push;
use netswitch_netlink::{NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST};

use crate::consts::*;

/// One request: message type, flags and body (`tcmsg` + attributes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `RTM_NEW*`/`RTM_DEL*`.
    pub kind: u16,
    /// `NLM_F_*`.
    pub flags: u16,
    /// `struct tcmsg` and the attributes.
    pub body: Vec<u8>,
}

/// `struct tcmsg`: family, padding, ifindex, handle, parent, info.
pub fn tcmsg(ifindex: i32, handle: u32, parent: u32, info: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(64);
    b.extend([0u8; 4]);
    b.extend(ifindex.to_ne_bytes());
    b.extend(handle.to_ne_bytes());
    b.extend(parent.to_ne_bytes());
    b.extend(info.to_ne_bytes());
    b
}

/// `TCA_KIND`, NUL-terminated as the kernel expects.
fn push_kind(b: &mut Vec<u8>, kind: &str) {
    let mut v = kind.as_bytes().to_vec();
    v.push(0);
    push(b, TCA_KIND, &v);
}

/// The request for `op` on the device of index `ifindex`.
pub fn encode(op: &TcOp, ifindex: i32) -> Request {
    let create = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    let plain = NLM_F_REQUEST | NLM_F_ACK;
    match op {
        TcOp::TcAddQdisc(q) => Request {
            kind: RTM_NEWQDISC,
            flags: create,
            body: qdisc(q, ifindex, true),
        },
        TcOp::TcDelQdisc(q) => Request {
            kind: RTM_DELQDISC,
            flags: plain,
            body: qdisc(q, ifindex, false),
        },
        TcOp::TcAddClass(c) => Request {
            kind: RTM_NEWTCLASS,
            flags: create,
            body: class(c, ifindex, true),
        },
        TcOp::TcChangeClass(c) => Request {
            kind: RTM_NEWTCLASS,
            flags: plain,
            body: class(c, ifindex, true),
        },
        TcOp::TcDelClass(c) => Request {
            kind: RTM_DELTCLASS,
            flags: plain,
            body: class(c, ifindex, false),
        },
        TcOp::TcAddFilter(f) => Request {
            kind: RTM_NEWTFILTER,
            flags: create,
            body: filter(f, ifindex, true),
        },
        TcOp::TcDelFilter(f) => Request {
            kind: RTM_DELTFILTER,
            flags: plain,
            body: filter(f, ifindex, false),
        },
    }
}

/// A qdisc; a deletion names it by handle and parent only.
fn qdisc(q: &Qdisc, ifindex: i32, full: bool) -> Vec<u8> {
    let mut b = tcmsg(ifindex, q.handle.0, q.parent.0, 0);
    if !full {
        return b;
    }
    match &q.kind {
        QdiscKind::Hfsc { default_class } => {
            push_kind(&mut b, "hfsc");
            // struct tc_hfsc_qopt { __u16 defcls; }
            push(&mut b, TCA_OPTIONS, &default_class.to_ne_bytes());
        }
        QdiscKind::Ingress => push_kind(&mut b, "ingress"),
        QdiscKind::FqCodel => {
            push_kind(&mut b, "fq_codel");
            push(&mut b, TCA_OPTIONS, &[]);
        }
        QdiscKind::Other { name } => push_kind(&mut b, name),
    }
    b
}

/// `struct tc_service_curve { __u32 m1, d, m2; }`.
fn curve(sc: &ServiceCurve) -> [u8; 12] {
    let mut out = [0u8; 12];
    out[..4].copy_from_slice(&sc.m1.to_ne_bytes());
    out[4..8].copy_from_slice(&sc.d.to_ne_bytes());
    out[8..].copy_from_slice(&sc.m2.to_ne_bytes());
    out
}

/// An hfsc class with its curves; a deletion names the class only.
fn class(c: &Class, ifindex: i32, full: bool) -> Vec<u8> {
    if !full {
        return tcmsg(ifindex, c.classid.0, 0, 0);
    }
    let mut b = tcmsg(ifindex, c.classid.0, c.parent.0, 0);
    push_kind(&mut b, "hfsc");
    let mut opts = Vec::with_capacity(48);
    for (kind, sc) in [
        (TCA_HFSC_RSC, c.rt),
        (TCA_HFSC_FSC, c.ls),
        (TCA_HFSC_USC, c.ul),
    ] {
        if let Some(sc) = sc {
            push(&mut opts, kind, &curve(&sc));
        }
    }
    push(&mut b, TCA_OPTIONS, &opts);
    b
}

/// `tcm_info` of a filter: priority in the upper half, the protocol
/// (network order) in the lower.
fn filter_info(prio: u16) -> u32 {
    (u32::from(prio) << 16) | u32::from(ETH_P_ALL.to_be())
}

/// A filter; a deletion names its priority (the whole `tcf_proto`).
fn filter(f: &Filter, ifindex: i32, full: bool) -> Vec<u8> {
    let mut b = tcmsg(ifindex, 0, f.parent.0, filter_info(f.prio));
    match &f.kind {
        FilterKind::BasicVlan { vlan } => {
            push_kind(&mut b, "basic");
            if full {
                push(&mut b, TCA_OPTIONS, &basic_vlan(*vlan, f.flowid));
            }
        }
        FilterKind::U32All => {
            push_kind(&mut b, "u32");
            if full {
                push(&mut b, TCA_OPTIONS, &u32_all(f.flowid));
            }
        }
        FilterKind::Other { name } => push_kind(&mut b, name),
    }
    b
}

/// `basic` options: classid and one ematch tree of one `meta(vlan eq N)`.
fn basic_vlan(vlan: u16, flowid: Handle) -> Vec<u8> {
    // struct tcf_meta_hdr: left { kind = TYPE_INT << 12 | ID_VLAN_TAG,
    // shift 0, op EQ }, right { kind = TYPE_INT << 12 | ID_VALUE }.
    let mut meta = Vec::with_capacity(32);
    let mut hdr = Vec::with_capacity(8);
    hdr.extend(META_LEFT_VLAN_TAG.to_ne_bytes());
    hdr.extend([0u8, TCF_EM_OPND_EQ]);
    hdr.extend(META_RIGHT_VALUE.to_ne_bytes());
    hdr.extend([0u8, 0]);
    push(&mut meta, TCA_EM_META_HDR, &hdr);
    push(&mut meta, TCA_EM_META_LVALUE, &0u32.to_ne_bytes());
    push(
        &mut meta,
        TCA_EM_META_RVALUE,
        &u32::from(vlan).to_ne_bytes(),
    );
    // struct tcf_ematch_hdr { matchid 0, kind TCF_EM_META, flags 0, pad }
    let mut one = Vec::with_capacity(48);
    one.extend(0u16.to_ne_bytes());
    one.extend(TCF_EM_META.to_ne_bytes());
    one.extend([0u8; 4]);
    one.extend(meta);
    let mut list = Vec::with_capacity(56);
    push(&mut list, 1, &one);
    let mut tree = Vec::with_capacity(64);
    // struct tcf_ematch_tree_hdr { nmatches 1, progid 0 }
    push(&mut tree, TCA_EMATCH_TREE_HDR, &[1, 0, 0, 0]);
    push(&mut tree, TCA_EMATCH_TREE_LIST, &list);
    let mut opts = Vec::with_capacity(80);
    push(&mut opts, TCA_BASIC_EMATCHES, &tree);
    push(&mut opts, TCA_BASIC_CLASSID, &flowid.0.to_ne_bytes());
    opts
}

/// `u32` options: classid, and a terminal selector of one key matching
/// everything (mask 0, value 0).
fn u32_all(flowid: Handle) -> Vec<u8> {
    let mut opts = Vec::with_capacity(48);
    push(&mut opts, TCA_U32_CLASSID, &flowid.0.to_ne_bytes());
    // struct tc_u32_sel { flags, offshift, nkeys, pad; offmask; off;
    // offoff; hoff; hmask; keys[1] { mask, val, off, offmask } }
    let mut sel = vec![TC_U32_TERMINAL, 0, 1, 0];
    sel.extend([0u8; 12]);
    sel.extend([0u8; 16]);
    push(&mut opts, TCA_U32_SEL, &sel);
    opts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `tc`'s request as captured, without its `nlmsghdr` (the first 16
    /// bytes: length, type, flags, sequence, pid), device index 3.
    fn body_of(hex: &str) -> (u16, u16, Vec<u8>) {
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let kind = u16::from_le_bytes([bytes[4], bytes[5]]);
        let flags = u16::from_le_bytes([bytes[6], bytes[7]]);
        (kind, flags, bytes[16..].to_vec())
    }

    fn same_as_tc(op: TcOp, hex: &str) {
        let got = encode(&op, 3);
        let (kind, flags, body) = body_of(hex);
        assert_eq!((got.kind, got.flags), (kind, flags), "{op}");
        assert_eq!(got.body, body, "{op}");
    }

    fn h(s: &str) -> Handle {
        s.parse().unwrap()
    }

    fn dev() -> String {
        "veth_q0".into()
    }

    /// `tc qdisc add dev veth_q0 root handle 1389: hfsc default 1388`, and
    /// `... ingress`, `... parent 1389:a handle a: fq_codel`, `tc qdisc del
    /// dev veth_q0 root`.
    #[test]
    fn qdiscs_are_what_tc_sends() {
        same_as_tc(
            TcOp::TcAddQdisc(Qdisc {
                dev: dev(),
                handle: h("1389:"),
                parent: Handle::ROOT,
                kind: QdiscKind::Hfsc { default_class: 0x1388 },
            }),
            "3800000024000506e130166b00000000000000000300000000008913ffffffff000000000900010068667363000000000600020088130000",
        );
        same_as_tc(
            TcOp::TcAddQdisc(Qdisc {
                dev: dev(),
                handle: Handle::INGRESS_HANDLE,
                parent: Handle::INGRESS,
                kind: QdiscKind::Ingress,
            }),
            "3000000024000506e130166b0000000000000000030000000000fffff1ffffff000000000c000100696e677265737300",
        );
        same_as_tc(
            TcOp::TcAddQdisc(Qdisc {
                dev: dev(),
                handle: h("a:"),
                parent: h("1389:a"),
                kind: QdiscKind::FqCodel,
            }),
            "3800000024000506e230166b00000000000000000300000000000a000a008913000000000d00010066715f636f64656c0000000004000200",
        );
        same_as_tc(
            TcOp::TcDelQdisc(Qdisc {
                dev: dev(),
                handle: Handle(0),
                parent: Handle::ROOT,
                kind: QdiscKind::Hfsc {
                    default_class: 0x1388,
                },
            }),
            "2400000025000500e230166b00000000000000000300000000000000ffffffff00000000",
        );
    }

    /// `tc class add dev veth_q0 parent 1389: classid 1389:1388 hfsc ls m2
    /// 100000bit`; `... classid 1389:a hfsc rt m1 800000bit d 100us m2
    /// 400000bit ls m2 200000bit ul m2 800000bit`; `tc class del dev veth_q0
    /// classid 1389:a`.
    #[test]
    fn hfsc_classes_are_what_tc_sends() {
        let sc = |m1, d, m2| Some(ServiceCurve { m1, d, m2 });
        same_as_tc(
            TcOp::TcAddClass(Class {
                dev: dev(),
                classid: h("1389:1388"),
                parent: h("1389:"),
                rt: None,
                ls: sc(0, 0, 12500),
                ul: None,
            }),
            "4400000028000506e130166b00000000000000000300000088138913000089130000000009000100686673630000000014000200100002000000000000000000d4300000",
        );
        let a = Class {
            dev: dev(),
            classid: h("1389:a"),
            parent: h("1389:"),
            rt: sc(100_000, 100, 50_000),
            ls: sc(0, 0, 25_000),
            ul: sc(0, 0, 100_000),
        };
        same_as_tc(
            TcOp::TcAddClass(a.clone()),
            "6400000028000506e130166b0000000000000000030000000a00891300008913000000000900010068667363000000003400020010000100a08601006400000050c30000100002000000000000000000a8610000100003000000000000000000a0860100",
        );
        same_as_tc(
            TcOp::TcDelClass(a),
            "2400000029000500e230166b0000000000000000030000000a0089130000000000000000",
        );
    }

    /// `tc filter add dev veth_q0 parent 1389: prio 10 protocol all basic
    /// match 'meta(vlan eq 10)' flowid 1389:a`; `... prio 5000 protocol all
    /// u32 match u32 0 0 flowid 1389:1388`; `tc filter del dev veth_q0
    /// parent 1389: prio 10 protocol all basic`.
    #[test]
    fn filters_are_what_tc_sends() {
        let vlan = Filter {
            dev: dev(),
            parent: h("1389:"),
            prio: 10,
            kind: FilterKind::BasicVlan { vlan: 10 },
            flowid: h("1389:a"),
        };
        same_as_tc(
            TcOp::TcAddFilter(vlan.clone()),
            "740000002c000506e230166b000000000000000003000000000000000000891300030a000a0001006261736963000000440002003800020008000100010000002c0002002800010000000400000000000c0001002e100000001000000800020000000000080003000a000000080001000a008913",
        );
        same_as_tc(
            TcOp::TcAddFilter(Filter {
                dev: dev(),
                parent: h("1389:"),
                prio: 5000,
                kind: FilterKind::U32All,
                flowid: h("1389:1388"),
            }),
            "5c0000002c000506e230166b0000000000000000030000000000000000008913000388130800010075333200300002000800010088138913240005000100010000000000000000000000000000000000000000000000000000000000",
        );
        same_as_tc(
            TcOp::TcDelFilter(vlan),
            "300000002d000500e230166b000000000000000003000000000000000000891300030a000a0001006261736963000000",
        );
    }
}
