//! Dumps and notifications back into typed objects. Only what host QoS
//! plans is decoded in full; any other qdisc or filter comes back as
//! `Other` with its kind, so the caller sees it and leaves it alone.

use netswitch_model::tc::{Class, Filter, FilterKind, Handle, Qdisc, QdiscKind, ServiceCurve};
use netswitch_netlink::attr::{str_of, u32_at, u32_of, Attrs};

use crate::consts::*;

/// The fixed header of a tc message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcMsg {
    /// The device.
    pub ifindex: i32,
    /// The object's handle (a qdisc's, a class's id, a filter's own).
    pub handle: u32,
    /// Its parent.
    pub parent: u32,
    /// Filters: priority and protocol.
    pub info: u32,
}

const TCMSG_LEN: usize = 20;

/// The header and the attributes of a tc message payload.
pub fn split(payload: &[u8]) -> Option<(TcMsg, Attrs<'_>)> {
    let attrs = payload.get(TCMSG_LEN..)?;
    let msg = TcMsg {
        ifindex: u32_at(payload, 4) as i32,
        handle: u32_at(payload, 8),
        parent: u32_at(payload, 12),
        info: u32_at(payload, 16),
    };
    Some((msg, Attrs::new(attrs)))
}

fn kind_of(attrs: &Attrs<'_>) -> Option<String> {
    attrs
        .clone()
        .find_kind(TCA_KIND)
        .and_then(str_of)
        .map(str::to_string)
}

/// An `RTM_NEWQDISC` payload; `dev` names its device.
pub fn qdisc(payload: &[u8], dev: &str) -> Option<Qdisc> {
    let (msg, attrs) = split(payload)?;
    let name = kind_of(&attrs)?;
    let opts = attrs.clone().find_kind(TCA_OPTIONS);
    let kind = match name.as_str() {
        "hfsc" => QdiscKind::Hfsc {
            default_class: opts
                .and_then(|o| o.get(..2))
                .map_or(0, |b| u16::from_ne_bytes([b[0], b[1]])),
        },
        "ingress" => QdiscKind::Ingress,
        "fq_codel" => QdiscKind::FqCodel,
        _ => QdiscKind::Other { name },
    };
    Some(Qdisc {
        dev: dev.to_string(),
        handle: Handle(msg.handle),
        parent: Handle(msg.parent),
        kind,
    })
}

fn curve_of(p: &[u8]) -> Option<ServiceCurve> {
    Some(ServiceCurve {
        m1: u32_of(p.get(..4)?)?,
        d: u32_of(p.get(4..8)?)?,
        m2: u32_of(p.get(8..12)?)?,
    })
}

/// An `RTM_NEWTCLASS` payload of an hfsc class; `None` for other kinds
/// (and for the hfsc root class, which has no curves).
pub fn class(payload: &[u8], dev: &str) -> Option<Class> {
    let (msg, attrs) = split(payload)?;
    if kind_of(&attrs).as_deref() != Some("hfsc") {
        return None;
    }
    let mut c = Class {
        dev: dev.to_string(),
        classid: Handle(msg.handle),
        parent: Handle(msg.parent),
        rt: None,
        ls: None,
        ul: None,
    };
    let opts = attrs.clone().find_kind(TCA_OPTIONS)?;
    for (kind, p) in Attrs::new(opts) {
        match kind {
            TCA_HFSC_RSC => c.rt = curve_of(p),
            TCA_HFSC_FSC => c.ls = curve_of(p),
            TCA_HFSC_USC => c.ul = curve_of(p),
            _ => {}
        }
    }
    (c.rt.is_some() || c.ls.is_some() || c.ul.is_some()).then_some(c)
}

/// An `RTM_NEWTFILTER` payload of one filter (with its flowid). The
/// kernel also sends a header message per priority, and u32 its hash
/// tables: those carry no flowid and give `None`.
pub fn filter(payload: &[u8], dev: &str) -> Option<Filter> {
    let (msg, attrs) = split(payload)?;
    let name = kind_of(&attrs)?;
    let opts = attrs.clone().find_kind(TCA_OPTIONS)?;
    let (kind, flowid) = match name.as_str() {
        "basic" => basic(opts)?,
        "u32" => u32_filter(opts)?,
        _ => (FilterKind::Other { name }, 0),
    };
    Some(Filter {
        dev: dev.to_string(),
        parent: Handle(msg.parent),
        prio: (msg.info >> 16) as u16,
        kind,
        flowid: Handle(flowid),
    })
}

fn basic(opts: &[u8]) -> Option<(FilterKind, u32)> {
    let flowid = Attrs::new(opts)
        .find_kind(TCA_BASIC_CLASSID)
        .and_then(u32_of)?;
    let vlan = Attrs::new(opts)
        .find_kind(TCA_BASIC_EMATCHES)
        .and_then(vlan_of_tree);
    let kind = match vlan {
        Some(vlan) => FilterKind::BasicVlan { vlan },
        None => FilterKind::Other {
            name: "basic".into(),
        },
    };
    Some((kind, flowid))
}

/// The tag of a tree that is exactly one `meta(vlan eq N)`.
fn vlan_of_tree(tree: &[u8]) -> Option<u16> {
    let hdr = Attrs::new(tree).find_kind(TCA_EMATCH_TREE_HDR)?;
    if hdr.get(..2)? != 1u16.to_ne_bytes() {
        return None;
    }
    let list = Attrs::new(tree).find_kind(TCA_EMATCH_TREE_LIST)?;
    let one = Attrs::new(list).find_kind(1)?;
    let kind = u16::from_ne_bytes([*one.get(2)?, *one.get(3)?]);
    if kind != TCF_EM_META {
        return None;
    }
    let meta = one.get(8..)?;
    let hdr = Attrs::new(meta).find_kind(TCA_EM_META_HDR)?;
    let left = u16::from_ne_bytes([*hdr.first()?, *hdr.get(1)?]);
    if left != META_LEFT_VLAN_TAG || *hdr.get(3)? != TCF_EM_OPND_EQ {
        return None;
    }
    let value = Attrs::new(meta)
        .find_kind(TCA_EM_META_RVALUE)
        .and_then(u32_of)?;
    u16::try_from(value).ok()
}

fn u32_filter(opts: &[u8]) -> Option<(FilterKind, u32)> {
    let flowid = Attrs::new(opts)
        .find_kind(TCA_U32_CLASSID)
        .and_then(u32_of)?;
    let sel = Attrs::new(opts).find_kind(TCA_U32_SEL)?;
    // One key (nkeys at byte 2) of mask 0 (bytes 16..20) and value 0.
    let all = sel.get(2) == Some(&1) && sel.get(16..24).is_some_and(|k| k.iter().all(|b| *b == 0));
    let kind = if all {
        FilterKind::U32All
    } else {
        FilterKind::Other { name: "u32".into() }
    };
    Some((kind, flowid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::encode;
    use netswitch_model::tc::TcOp;

    /// What the planner encodes reads back as itself (the kernel echoes a
    /// created object's attributes in the same layout).
    #[test]
    fn encoded_objects_decode_to_themselves() {
        let q = Qdisc {
            dev: "b".into(),
            handle: Handle::new(0x1389, 0),
            parent: Handle::ROOT,
            kind: QdiscKind::Hfsc {
                default_class: 0x1388,
            },
        };
        let body = encode(&TcOp::TcAddQdisc(q.clone()), 7).body;
        assert_eq!(qdisc(&body, "b"), Some(q));
        assert_eq!(split(&body).unwrap().0.ifindex, 7);
        let c = Class {
            dev: "b".into(),
            classid: Handle::new(0x1389, 0x64),
            parent: Handle::new(0x1389, 0),
            rt: Some(ServiceCurve { m1: 9, d: 8, m2: 7 }),
            ls: Some(ServiceCurve { m1: 0, d: 0, m2: 5 }),
            ul: None,
        };
        let body = encode(&TcOp::TcAddClass(c.clone()), 7).body;
        assert_eq!(class(&body, "b"), Some(c));
        for kind in [FilterKind::BasicVlan { vlan: 4094 }, FilterKind::U32All] {
            let f = Filter {
                dev: "b".into(),
                parent: Handle::new(0x1389, 0),
                prio: 4094,
                kind,
                flowid: Handle::new(0x1389, 0xffe),
            };
            let body = encode(&TcOp::TcAddFilter(f.clone()), 7).body;
            assert_eq!(filter(&body, "b"), Some(f));
        }
    }
}
