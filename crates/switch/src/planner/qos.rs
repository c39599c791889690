//! Host QoS: VDSM's tc layout on each nic or bond under networks with
//! `hostQos`.
//!
//! On the device: root `hfsc` qdisc `1389:` whose default class is
//! `1389:1388`, an `ingress` qdisc; per VLAN network a class `1389:<tag
//! hex>` with its curves, a `fq_codel` leaf `<tag hex>:` and a `basic`
//! filter `meta(vlan eq <tag>)` at priority `<tag>`; the untagged network
//! shapes the default class itself (its `rt`/`ul`) and is steered there by
//! a catch-all `u32` filter at priority 5000 (after every VLAN's). The
//! default class's link-share is the largest of the device's networks, so
//! traffic of no network competes as the heaviest one does.
//!
//! The plan may be scoped to some of a device's networks, so a device is
//! planned class by class: only the classes of networks in the configs
//! given are touched, the others are read from the host (they count for
//! the default class's link-share and keep the tree alive). The host
//! decides what is done: a class deleted behind netswitch's back comes
//! back, one already right is left as it is.

use std::collections::{BTreeMap, BTreeSet};

use netswitch_model::config::{Config, HostQos};
use netswitch_model::host::HostState;
use netswitch_model::tc::{
    Class, Filter, FilterKind, Handle, Qdisc, QdiscKind, ServiceCurve, TcOp, TcTree,
};

use super::builder::PlanBuilder;

/// The root qdisc's major, `1389:` (5001, VDSM's).
pub const ROOT_MAJOR: u16 = 0x1389;
/// The default class's minor, `1388` (5000, VDSM's), also the untagged
/// network's.
pub const DEFAULT_MINOR: u16 = 0x1388;
/// The priority of the untagged network's catch-all filter: after every
/// VLAN filter (priority = tag, at most 4094).
pub const UNTAGGED_PRIO: u16 = 5000;

/// A device's QoS networks in one config: tag (`None` untagged) -> QoS.
type Nets<'a> = BTreeMap<Option<u16>, &'a HostQos>;

/// Networks with `hostQos`, by base device: legacy and OVS alike, since
/// an OVS network's frames leave through its bridge's southbound, the
/// same nic or bond, tagged the same (docs/architecture.md, Host QoS).
fn by_device(c: &Config) -> BTreeMap<&str, Nets<'_>> {
    let mut out: BTreeMap<&str, Nets<'_>> = BTreeMap::new();
    for a in c.networks.values() {
        if let (Some(q), Some(base)) = (&a.host_qos, a.base()) {
            out.entry(base).or_default().insert(a.vlan, q);
        }
    }
    out
}

/// The root qdisc's handle, the parent of every class.
fn root(_dev: &str) -> Handle {
    Handle::new(ROOT_MAJOR, 0)
}

fn minor_of(tag: Option<u16>) -> u16 {
    tag.unwrap_or(DEFAULT_MINOR)
}

/// What one device needs, for the tags in play.
struct DevPlan<'a> {
    dev: &'a str,
    /// The host's tc objects of the device (empty if it is made anew).
    have: TcTree,
    /// Tags planned here: the device's QoS networks in either config.
    tags: BTreeSet<Option<u16>>,
    /// Desired QoS by tag.
    want: Nets<'a>,
}

impl DevPlan<'_> {
    /// The desired class of a tag, with its leaf and filter.
    fn class(&self, tag: Option<u16>, q: &HostQos) -> Class {
        let sc =
            |c: &Option<netswitch_model::config::Curve>| c.as_ref().map(ServiceCurve::from_bits);
        Class {
            dev: self.dev.to_string(),
            classid: Handle::new(ROOT_MAJOR, minor_of(tag)),
            parent: root(self.dev),
            rt: sc(&q.out.rt),
            ls: sc(&q.out.ls),
            ul: sc(&q.out.ul),
        }
    }

    fn leaf(&self, minor: u16) -> Qdisc {
        Qdisc {
            dev: self.dev.to_string(),
            handle: Handle::new(minor, 0),
            parent: Handle::new(ROOT_MAJOR, minor),
            kind: QdiscKind::FqCodel,
        }
    }

    fn filter(&self, tag: Option<u16>) -> Filter {
        let (prio, kind) = match tag {
            Some(t) => (t, FilterKind::BasicVlan { vlan: t }),
            None => (UNTAGGED_PRIO, FilterKind::U32All),
        };
        Filter {
            dev: self.dev.to_string(),
            parent: root(self.dev),
            prio,
            kind,
            flowid: Handle::new(ROOT_MAJOR, minor_of(tag)),
        }
    }

    /// The host's classes of tags not planned here (other networks).
    fn others(&self) -> impl Iterator<Item = &Class> {
        let planned: BTreeSet<u16> = self.tags.iter().map(|t| minor_of(*t)).collect();
        self.have.classes.iter().filter(move |c| {
            c.classid.major() == ROOT_MAJOR
                && c.classid.minor() != DEFAULT_MINOR
                && !planned.contains(&c.classid.minor())
        })
    }

    /// The desired default class, or `None` when the device keeps no QoS.
    fn default_class(&self) -> Option<Class> {
        let vlan_classes = self.want.keys().filter(|t| t.is_some()).count() + self.others().count();
        if vlan_classes == 0 && !self.want.contains_key(&None) {
            return None;
        }
        let largest = self
            .want
            .iter()
            .map(|(t, q)| self.class(*t, q))
            .chain(self.others().cloned())
            .filter_map(|c| c.ls)
            .max_by_key(|ls| (ls.m2, ls.m1, ls.d));
        let mut class = match self.want.get(&None) {
            Some(q) => self.class(None, q),
            None if !self.tags.contains(&None) => self
                .have
                .class(Handle::new(ROOT_MAJOR, DEFAULT_MINOR))
                .cloned()
                .unwrap_or_else(|| self.class(None, &HostQos::default())),
            None => self.class(None, &HostQos::default()),
        };
        class.ls = largest;
        Some(class)
    }
}

/// The ops of every device with host QoS in either config: teardown ops
/// into `tear`, build ops into `build` (run after the devices exist).
pub(crate) fn plan(
    host: &HostState,
    running: &Config,
    desired: &Config,
    deleted: &BTreeSet<&str>,
    tear: &mut PlanBuilder,
    build: &mut Vec<TcOp>,
) {
    let have = by_device(running);
    let want = by_device(desired);
    let devs: BTreeSet<&str> = have.keys().chain(want.keys()).copied().collect();
    for dev in devs {
        if deleted.contains(dev) {
            // Its tc objects go with it; a bond made anew is planned anew.
            if want.contains_key(dev) {
                let p = DevPlan {
                    dev,
                    have: TcTree::default(),
                    tags: want[dev].keys().copied().collect(),
                    want: want[dev].clone(),
                };
                device(&p, &mut PlanBuilder::default(), build);
            }
            continue;
        }
        let p = DevPlan {
            dev,
            have: host.tc.get(dev).cloned().unwrap_or_default(),
            tags: have
                .get(dev)
                .into_iter()
                .chain(want.get(dev))
                .flat_map(|n| n.keys().copied())
                .collect(),
            want: want.get(dev).cloned().unwrap_or_default(),
        };
        device(&p, tear, build);
    }
}

/// The ops of one device, teardown and build, each in the order the
/// kernel needs: a class goes after its filter and leaf, comes before them.
#[derive(Default)]
struct Ops {
    del_filters: Vec<TcOp>,
    del_leaves: Vec<TcOp>,
    del_classes: Vec<TcOp>,
    del_qdiscs: Vec<TcOp>,
    add_qdiscs: Vec<TcOp>,
    classes: Vec<TcOp>,
    add_leaves: Vec<TcOp>,
    add_filters: Vec<TcOp>,
}

/// One device: the classes of the planned tags, the default class, and
/// the qdiscs around them.
fn device(p: &DevPlan<'_>, tear: &mut PlanBuilder, build: &mut Vec<TcOp>) {
    let mut ops = Ops::default();
    let default = p.default_class();
    let root_q = Qdisc {
        dev: p.dev.to_string(),
        handle: root(p.dev),
        parent: Handle::ROOT,
        kind: QdiscKind::Hfsc {
            default_class: DEFAULT_MINOR,
        },
    };
    let have_root = p.have.qdisc(root_q.handle).cloned();
    let wipe = default.is_none() || have_root.as_ref().is_some_and(|q| *q != root_q);
    let empty = TcTree::default();
    let have = if wipe {
        wipe_tree(p, &mut ops);
        &empty
    } else {
        &p.have
    };
    if let Some(default) = default {
        if wipe || have_root.is_none() {
            ops.add_qdiscs.push(TcOp::TcAddQdisc(root_q));
        }
        for tag in p.tags.iter().filter(|t| t.is_some()) {
            let want = p.want.get(tag).map(|q| p.class(*tag, q));
            let filter = want.as_ref().map(|_| p.filter(*tag));
            let have_filter = have.filter(root(p.dev), tag.unwrap_or_default());
            one_class(p, have, minor_of(*tag), want, filter, have_filter, &mut ops);
        }
        // The catch-all filter is the untagged network's; when that network
        // is not planned here, the host's stays (re-added if the default
        // class must be made anew).
        let have_filter = have.filter(root(p.dev), UNTAGGED_PRIO);
        let filter = match p.tags.contains(&None) {
            true => p.want.contains_key(&None).then(|| p.filter(None)),
            false => have_filter.cloned(),
        };
        one_class(
            p,
            have,
            DEFAULT_MINOR,
            Some(default),
            filter,
            have_filter,
            &mut ops,
        );
    }
    let ingress = Qdisc {
        dev: p.dev.to_string(),
        handle: Handle::INGRESS_HANDLE,
        parent: Handle::INGRESS,
        kind: QdiscKind::Ingress,
    };
    match (p.have.qdisc(ingress.handle), p.default_class().is_some()) {
        (None, true) => ops.add_qdiscs.push(TcOp::TcAddQdisc(ingress)),
        (Some(q), false) => ops.del_qdiscs.push(TcOp::TcDelQdisc(q.clone())),
        _ => {}
    }
    tear.extend(ops.del_filters);
    tear.extend(ops.del_leaves);
    tear.extend(ops.del_classes);
    tear.extend(ops.del_qdiscs);
    build.extend(ops.add_qdiscs);
    build.extend(ops.classes);
    build.extend(ops.add_leaves);
    build.extend(ops.add_filters);
}

/// Everything of the host's tree under `1389:`, then the root itself.
fn wipe_tree(p: &DevPlan<'_>, ops: &mut Ops) {
    let ours = |h: Handle| h.major() == ROOT_MAJOR;
    for f in p.have.filters.iter().filter(|f| ours(f.parent)) {
        ops.del_filters.push(TcOp::TcDelFilter(f.clone()));
    }
    for q in p
        .have
        .qdiscs
        .iter()
        .filter(|q| q.parent != Handle::ROOT && ours(q.parent))
    {
        ops.del_leaves.push(TcOp::TcDelQdisc(q.clone()));
    }
    for c in p.have.classes.iter().filter(|c| ours(c.classid)) {
        ops.del_classes.push(TcOp::TcDelClass(c.clone()));
    }
    if let Some(q) = p.have.qdisc(root(p.dev)) {
        ops.del_qdiscs.push(TcOp::TcDelQdisc(q.clone()));
    }
}

/// Whether `h` can become `w` by `tc class change`: the kernel changes the
/// curves it is given and keeps the others, so none may go; and none may
/// come, or the change's undo (back to `h`) would leave it behind.
fn changeable(h: &Class, w: &Class) -> bool {
    h.rt.is_some() == w.rt.is_some()
        && h.ls.is_some() == w.ls.is_some()
        && h.ul.is_some() == w.ul.is_some()
        && h.parent == w.parent
}

/// One class with its leaf and filter: kept, changed, made anew, added or
/// removed.
fn one_class(
    p: &DevPlan<'_>,
    have: &TcTree,
    minor: u16,
    want: Option<Class>,
    filter: Option<Filter>,
    have_filter: Option<&Filter>,
    ops: &mut Ops,
) {
    let classid = Handle::new(ROOT_MAJOR, minor);
    let have_class = have.class(classid);
    let have_leaf = have.qdiscs.iter().find(|q| q.parent == classid);
    let leaf = p.leaf(minor);
    let anew = match (have_class, &want) {
        (Some(h), Some(w)) if h == w => false,
        (Some(h), Some(w)) if changeable(h, w) => {
            ops.classes.push(TcOp::TcChangeClass(w.clone()));
            false
        }
        _ => true,
    };
    let del_filter = anew || have_filter != filter.as_ref();
    let del_leaf = anew || have_leaf.is_some_and(|q| *q != leaf) || want.is_none();
    if let Some(f) = have_filter.filter(|_| del_filter) {
        ops.del_filters.push(TcOp::TcDelFilter(f.clone()));
    }
    if let Some(q) = have_leaf.filter(|_| del_leaf) {
        ops.del_leaves.push(TcOp::TcDelQdisc(q.clone()));
    }
    if let Some(h) = have_class.filter(|_| anew) {
        ops.del_classes.push(TcOp::TcDelClass(h.clone()));
    }
    let Some(w) = want else { return };
    if anew {
        ops.classes.push(TcOp::TcAddClass(w));
    }
    if del_leaf || have_leaf.is_none() {
        ops.add_leaves.push(TcOp::TcAddQdisc(leaf));
    }
    if let Some(f) = filter.filter(|_| del_filter || have_filter.is_none()) {
        ops.add_filters.push(TcOp::TcAddFilter(f));
    }
}
