//! Traffic-control objects as plan payloads and host state: qdiscs,
//! classes and filters of one device, typed, in the kernel's units.
//!
//! Only what host QoS uses is modelled (`hfsc`, `fq_codel`, `ingress`
//! qdiscs; `hfsc` classes; `basic` VLAN and catch-all `u32` filters):
//! anything else the kernel reports is kept as [`QdiscKind::Other`] so a
//! device's foreign tc objects are seen and left alone.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A tc handle (`major:minor`, 16 bits each), written as `tc(8)` writes it
/// (hex, `1389:a`; `root`, `ingress` for the special parents).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Handle(pub u32);

impl Handle {
    /// `TC_H_ROOT`: the parent of a root qdisc.
    pub const ROOT: Handle = Handle(0xffff_ffff);
    /// `TC_H_INGRESS`: the parent of the ingress qdisc.
    pub const INGRESS: Handle = Handle(0xffff_fff1);
    /// The ingress qdisc's own handle, `ffff:`.
    pub const INGRESS_HANDLE: Handle = Handle(0xffff_0000);

    /// `major:minor`.
    pub const fn new(major: u16, minor: u16) -> Self {
        Handle(((major as u32) << 16) | minor as u32)
    }

    pub const fn major(self) -> u16 {
        (self.0 >> 16) as u16
    }

    pub const fn minor(self) -> u16 {
        self.0 as u16
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Handle::ROOT => write!(f, "root"),
            Handle::INGRESS => write!(f, "ingress"),
            h if h.minor() == 0 => write!(f, "{:x}:", h.major()),
            h => write!(f, "{:x}:{:x}", h.major(), h.minor()),
        }
    }
}

impl FromStr for Handle {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "root" => return Ok(Handle::ROOT),
            "ingress" => return Ok(Handle::INGRESS),
            _ => {}
        }
        let (maj, min) = s
            .split_once(':')
            .ok_or_else(|| format!("{s:?} is no handle"))?;
        let hex = |t: &str| {
            if t.is_empty() {
                Ok(0)
            } else {
                u16::from_str_radix(t, 16).map_err(|_| format!("{s:?} is no handle"))
            }
        };
        Ok(Handle::new(hex(maj)?, hex(min)?))
    }
}

impl Serialize for Handle {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Handle {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// An HFSC service curve in the kernel's units (`struct
/// tc_service_curve`): `m1` bytes/s for `d` µs, then `m2` bytes/s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServiceCurve {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub m1: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub d: u32,
    pub m2: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl ServiceCurve {
    /// From a request's curve (bit/s, µs; checked to fit by validation,
    /// saturated otherwise).
    pub fn from_bits(c: &crate::config::Curve) -> Self {
        let bytes = |b: u64| u32::try_from(b / 8).unwrap_or(u32::MAX);
        ServiceCurve {
            m1: bytes(c.m1.unwrap_or(0)),
            d: u32::try_from(c.d.unwrap_or(0)).unwrap_or(u32::MAX),
            m2: bytes(c.m2),
        }
    }
}

impl fmt::Display for ServiceCurve {
    /// `tc(8)`'s words, in bit/s.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.m1 != 0 || self.d != 0 {
            write!(f, "m1 {}bit d {}us ", u64::from(self.m1) * 8, self.d)?;
        }
        write!(f, "m2 {}bit", u64::from(self.m2) * 8)
    }
}

/// A qdisc's type and its options.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum QdiscKind {
    /// `hfsc` with its default class's minor.
    Hfsc {
        default_class: u16,
    },
    Ingress,
    /// `fq_codel` with the kernel's defaults.
    FqCodel,
    /// Anything else, by its kind name (read back, never planned).
    Other {
        name: String,
    },
}

/// One qdisc of a device.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Qdisc {
    pub dev: String,
    pub handle: Handle,
    pub parent: Handle,
    #[serde(flatten)]
    pub kind: QdiscKind,
}

/// One `hfsc` class of a device: real-time, link-share, upper-limit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Class {
    pub dev: String,
    pub classid: Handle,
    pub parent: Handle,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rt: Option<ServiceCurve>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ls: Option<ServiceCurve>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ul: Option<ServiceCurve>,
}

/// What a filter matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "match", rename_all = "snake_case")]
pub enum FilterKind {
    /// `basic match meta(vlan eq N)`: frames of one VLAN tag.
    BasicVlan { vlan: u16 },
    /// `u32 match u32 0 0`: everything.
    U32All,
    /// Anything else, by its kind name (read back, never planned).
    Other { name: String },
}

/// One filter (`protocol all`) of a device, sending what it matches to
/// `flowid`. `prio` identifies it: one filter per priority.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Filter {
    pub dev: String,
    pub parent: Handle,
    pub prio: u16,
    #[serde(flatten)]
    pub kind: FilterKind,
    pub flowid: Handle,
}

/// One traffic-control operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum TcOp {
    TcAddQdisc(Qdisc),
    TcDelQdisc(Qdisc),
    TcAddClass(Class),
    /// The class's curves as a whole (`tc class change`).
    TcChangeClass(Class),
    TcDelClass(Class),
    TcAddFilter(Filter),
    TcDelFilter(Filter),
}

impl TcOp {
    /// The device the op works on.
    pub fn dev(&self) -> &str {
        match self {
            TcOp::TcAddQdisc(q) | TcOp::TcDelQdisc(q) => &q.dev,
            TcOp::TcAddClass(c) | TcOp::TcChangeClass(c) | TcOp::TcDelClass(c) => &c.dev,
            TcOp::TcAddFilter(f) | TcOp::TcDelFilter(f) => &f.dev,
        }
    }
}

/// The tc objects of one device, as read back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcTree {
    pub qdiscs: Vec<Qdisc>,
    pub classes: Vec<Class>,
    pub filters: Vec<Filter>,
}

impl TcTree {
    pub fn qdisc(&self, handle: Handle) -> Option<&Qdisc> {
        self.qdiscs.iter().find(|q| q.handle == handle)
    }

    pub fn class(&self, classid: Handle) -> Option<&Class> {
        self.classes.iter().find(|c| c.classid == classid)
    }

    pub fn filter(&self, parent: Handle, prio: u16) -> Option<&Filter> {
        self.filters
            .iter()
            .find(|f| f.parent == parent && f.prio == prio)
    }

    pub fn is_empty(&self) -> bool {
        self.qdiscs.is_empty() && self.classes.is_empty() && self.filters.is_empty()
    }
}

impl fmt::Display for QdiscKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QdiscKind::Hfsc { default_class } => write!(f, "hfsc default {default_class:x}"),
            QdiscKind::Ingress => write!(f, "ingress"),
            QdiscKind::FqCodel => write!(f, "fq_codel"),
            QdiscKind::Other { name } => write!(f, "{name}"),
        }
    }
}

fn fmt_class(f: &mut fmt::Formatter<'_>, c: &Class) -> fmt::Result {
    write!(
        f,
        "dev {} parent {} classid {} hfsc",
        c.dev, c.parent, c.classid
    )?;
    for (name, sc) in [("rt", c.rt), ("ls", c.ls), ("ul", c.ul)] {
        if let Some(sc) = sc {
            write!(f, " {name} {sc}")?;
        }
    }
    Ok(())
}

fn fmt_filter(f: &mut fmt::Formatter<'_>, x: &Filter) -> fmt::Result {
    write!(
        f,
        "dev {} parent {} prio {} protocol all ",
        x.dev, x.parent, x.prio
    )?;
    match &x.kind {
        FilterKind::BasicVlan { vlan } => write!(f, "basic match meta(vlan eq {vlan})")?,
        FilterKind::U32All => write!(f, "u32 match u32 0 0")?,
        FilterKind::Other { name } => write!(f, "{name}")?,
    }
    write!(f, " flowid {}", x.flowid)
}

impl fmt::Display for TcOp {
    /// One line in `tc(8)`'s words, for `--dry-run`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let qdisc = |f: &mut fmt::Formatter<'_>, verb: &str, q: &Qdisc| {
            write!(f, "tc qdisc {verb} dev {} ", q.dev)?;
            match q.parent {
                Handle::ROOT | Handle::INGRESS => write!(f, "{}", q.parent)?,
                p => write!(f, "parent {p}")?,
            }
            write!(f, " handle {} {}", q.handle, q.kind)
        };
        match self {
            TcOp::TcAddQdisc(q) => qdisc(f, "add", q),
            TcOp::TcDelQdisc(q) => qdisc(f, "del", q),
            TcOp::TcAddClass(c) => f.write_str("tc class add ").and_then(|_| fmt_class(f, c)),
            TcOp::TcChangeClass(c) => f
                .write_str("tc class change ")
                .and_then(|_| fmt_class(f, c)),
            TcOp::TcDelClass(c) => f.write_str("tc class del ").and_then(|_| fmt_class(f, c)),
            TcOp::TcAddFilter(x) => f.write_str("tc filter add ").and_then(|_| fmt_filter(f, x)),
            TcOp::TcDelFilter(x) => f.write_str("tc filter del ").and_then(|_| fmt_filter(f, x)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn handles_read_and_write_as_tc_does() {
        for text in ["1389:", "1389:a", "1389:1388", "root", "ingress", "ffff:"] {
            let h: Handle = text.parse().unwrap();
            assert_eq!(h.to_string(), text);
        }
        assert_eq!("1389:a".parse::<Handle>().unwrap(), Handle(0x1389_000a));
        assert!("x".parse::<Handle>().is_err());
        assert!("1:zz".parse::<Handle>().is_err());
    }

    #[test]
    fn ops_keep_their_on_disk_shape() {
        let op = TcOp::TcAddClass(Class {
            dev: "bond0".into(),
            classid: Handle::new(0x1389, 10),
            parent: Handle::new(0x1389, 0),
            rt: None,
            ls: Some(ServiceCurve {
                m1: 0,
                d: 0,
                m2: 12500,
            }),
            ul: Some(ServiceCurve {
                m1: 100,
                d: 5,
                m2: 25000,
            }),
        });
        let v = serde_json::to_value(&op).unwrap();
        assert_eq!(
            v,
            json!({"op": "tc_add_class", "dev": "bond0", "classid": "1389:a",
                "parent": "1389:", "ls": {"m2": 12500}, "ul": {"m1": 100, "d": 5, "m2": 25000}})
        );
        assert_eq!(serde_json::from_value::<TcOp>(v).unwrap(), op);
        assert_eq!(
            op.to_string(),
            "tc class add dev bond0 parent 1389: classid 1389:a hfsc ls m2 100000bit \
             ul m1 800bit d 5us m2 200000bit"
        );
        let q = TcOp::TcAddQdisc(Qdisc {
            dev: "bond0".into(),
            handle: Handle::new(0x1389, 0),
            parent: Handle::ROOT,
            kind: QdiscKind::Hfsc {
                default_class: 0x1388,
            },
        });
        let v = serde_json::to_value(&q).unwrap();
        assert_eq!(
            v,
            json!({"op": "tc_add_qdisc", "dev": "bond0", "handle": "1389:", "parent": "root",
                "kind": "hfsc", "default_class": 5000})
        );
        assert_eq!(serde_json::from_value::<TcOp>(v).unwrap(), q);
        assert_eq!(
            q.to_string(),
            "tc qdisc add dev bond0 root handle 1389: hfsc default 1388"
        );
        let fl = TcOp::TcAddFilter(Filter {
            dev: "eth0".into(),
            parent: Handle::new(0x1389, 0),
            prio: 10,
            kind: FilterKind::BasicVlan { vlan: 10 },
            flowid: Handle::new(0x1389, 10),
        });
        let v = serde_json::to_value(&fl).unwrap();
        assert_eq!(serde_json::from_value::<TcOp>(v).unwrap(), fl);
        assert_eq!(
            fl.to_string(),
            "tc filter add dev eth0 parent 1389: prio 10 protocol all basic match \
             meta(vlan eq 10) flowid 1389:a"
        );
    }
}
