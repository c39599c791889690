//! Which networks and bonds a setupNetworks request reaches, so that the
//! plan and its verification look at those and not at the whole host.
//!
//! VDSM's contract: a request (re)configures the networks and bonds it
//! names; the others are left as they are. The planner itself is written
//! over whole configs, so scoping restricts its inputs: the running and
//! desired configs cut down to the reached entities, plus what the planner
//! needs to get the devices they share right:
//!
//! - a reached network's bond comes along (unexpanded: its other networks
//!   stay out), and so do, on each base device (nic or bond) of a reached
//!   network, the other network with the largest MTU (a base's MTU is the
//!   largest of its networks) and the untagged network, if any (it makes
//!   the base a bridge port);
//! - a bond the request names or changes reaches every network on it and
//!   every bond or network using one of its nics (it may be built anew,
//!   or a nic may move);
//! - the entities whose attributes the request changes without naming them
//!   (the old holder of a moved defaultRoute) are reached too, as are the
//!   networks on devices that changed behind netswitch's back.
//!
//! OVS networks share their switch's bridges and mappings; a request that
//! touches any gets no scope (the whole config is planned).
//!
//! With the host in step with the running config, the scoped plan is the
//! whole plan; debug builds check that on every setup ([`plan_scoped`]).

use std::collections::{BTreeSet, HashMap};

use netswitch_model::config::{Config, NetAttrs, SwitchType};
use netswitch_model::error::RequestError;
use netswitch_model::host::HostState;
use netswitch_model::plan::Plan;

/// The networks and bonds a request reaches, and those planned beside them
/// for the devices they share.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Networks reached.
    pub networks: BTreeSet<String>,
    /// Bonds reached or carried (the base of a reached network).
    pub bonds: BTreeSet<String>,
    /// Networks not reached but planned beside the reached ones: on each
    /// of their base devices, the largest MTU and the untagged network.
    pub beside: BTreeSet<String>,
}

/// Both configs, indexed: base device -> networks on it; nic -> bonds
/// holding it. (Lists, not sets: a name may appear twice, once per config;
/// a 1000-network bond's set would cost more than all the rest.)
struct Index<'a> {
    configs: [&'a Config; 2],
    on_base: HashMap<&'a str, Vec<(&'a str, &'a NetAttrs)>>,
    bonds_of_nic: HashMap<&'a str, BTreeSet<&'a str>>,
}

impl<'a> Index<'a> {
    fn of(configs: [&'a Config; 2]) -> Self {
        let mut on_base: HashMap<&str, Vec<(&str, &NetAttrs)>> = HashMap::new();
        let mut bonds_of_nic: HashMap<&str, BTreeSet<&str>> = HashMap::new();
        for c in configs {
            for (name, a) in &c.networks {
                if let Some(base) = a.base() {
                    on_base.entry(base).or_default().push((name, a));
                }
            }
            for (name, b) in &c.bonds {
                for nic in &b.nics {
                    bonds_of_nic.entry(nic).or_default().insert(name);
                }
            }
        }
        Index {
            configs,
            on_base,
            bonds_of_nic,
        }
    }

    fn is_bond(&self, b: &str) -> bool {
        self.configs.iter().any(|c| c.bonds.contains_key(b))
    }

    /// A network's attributes, desired first, then running.
    fn attrs(&self, n: &str) -> impl Iterator<Item = &'a NetAttrs> {
        let [running, desired] = self.configs;
        desired
            .networks
            .get(n)
            .into_iter()
            .chain(running.networks.get(n))
    }

    /// The networks on a base device.
    fn on(&self, base: &str) -> impl Iterator<Item = &(&'a str, &'a NetAttrs)> {
        self.on_base.get(base).into_iter().flatten()
    }
}

/// What a request reaches, as it grows.
#[derive(Default)]
struct Reach<'a> {
    reached: BTreeSet<&'a str>,
    /// Bonds whose change reaches what is on them and what shares a nic.
    expand: BTreeSet<&'a str>,
    /// Base devices the plan must get right (their MTU and master).
    bases: BTreeSet<&'a str>,
}

impl<'a> Reach<'a> {
    /// A device changed behind netswitch's back. A bridge is named after
    /// its network; a VLAN device after its base and tag; a nic or a bond
    /// is the base of its networks.
    fn drifted(&mut self, idx: &Index<'a>, dev: &str) {
        let named = idx
            .configs
            .iter()
            .find_map(|c| c.networks.get_key_value(dev));
        self.reached.extend(named.map(|(k, _)| k.as_str()));
        if let Some((base, tag)) = dev.rsplit_once('.') {
            for (n, a) in idx.on(base) {
                if a.vlan.is_some_and(|v| tag.parse::<u16>() == Ok(v)) {
                    self.reached.insert(n);
                }
            }
        }
        if let Some((k, _)) = idx.on_base.get_key_value(dev) {
            self.bases.insert(k);
        }
        for b in idx.bonds_of_nic.get(dev).into_iter().flatten() {
            self.bases.insert(b);
        }
    }

    /// Bonds that change reach what is on them and what shares a nic.
    fn expand_bonds(&mut self, idx: &Index<'a>) {
        let mut queue: Vec<&str> = self.expand.iter().copied().collect();
        while let Some(b) = queue.pop() {
            self.reached.extend(idx.on(b).map(|(n, _)| *n));
            for c in idx.configs {
                let Some(bond) = c.bonds.get(b) else { continue };
                for nic in &bond.nics {
                    self.reached.extend(idx.on(nic).map(|(n, _)| *n));
                    for other in idx.bonds_of_nic.get(nic.as_str()).into_iter().flatten() {
                        if self.expand.insert(other) {
                            queue.push(other);
                        }
                    }
                }
            }
        }
    }

    /// On each base, the untagged network and the one with the largest MTU
    /// among those not reached.
    fn beside(&self, idx: &Index<'a>) -> BTreeSet<&'a str> {
        let mut beside: BTreeSet<&str> = BTreeSet::new();
        for base in &self.bases {
            let others = idx.on(base).filter(|(n, _)| !self.reached.contains(*n));
            let mut largest: Option<(u32, &str)> = None;
            for &(n, a) in others {
                if a.vlan.is_none() {
                    beside.insert(n);
                }
                if largest.is_none_or(|(m, _)| a.mtu > m) {
                    largest = Some((a.mtu, n));
                }
            }
            beside.extend(largest.map(|(_, n)| n));
        }
        beside
    }
}

impl Scope {
    /// The scope of moving `running` to `desired` by a request naming
    /// `nets` and `bonds`, on a host where the devices named in `drifted`
    /// may have changed behind netswitch's back since it was last seen in
    /// step (the networks on them are reached too, so the plan repairs
    /// them as the whole plan would); `None` when the whole config must be
    /// planned (OVS involved, or the request reaches most of it anyway).
    pub fn of<'a>(
        running: &'a Config,
        desired: &'a Config,
        nets: impl IntoIterator<Item = &'a String>,
        bonds: impl IntoIterator<Item = &'a String>,
        drifted: &BTreeSet<String>,
    ) -> Option<Scope> {
        let ovs = |c: &Config| {
            c.networks.values().any(|n| n.switch == SwitchType::Ovs)
                || c.bonds.values().any(|b| b.switch == SwitchType::Ovs)
        };
        if ovs(running) || ovs(desired) {
            return None;
        }
        let idx = Index::of([running, desired]);
        let mut r = Reach::default();
        r.reached.extend(nets.into_iter().map(String::as_str));
        r.expand.extend(bonds.into_iter().map(String::as_str));
        r.reached
            .extend(differing(&running.networks, &desired.networks));
        r.expand.extend(differing(&running.bonds, &desired.bonds));
        for dev in drifted {
            r.drifted(&idx, dev);
        }
        r.expand_bonds(&idx);
        let reached: Vec<&str> = r.reached.iter().copied().collect();
        for n in reached {
            for a in idx.attrs(n) {
                r.bases.extend(a.base());
            }
        }
        let beside = r.beside(&idx);
        let mut carried: BTreeSet<&str> = r.expand.clone();
        carried.extend(r.bases.iter().filter(|b| idx.is_bond(b)));
        for n in r.reached.iter().chain(&beside) {
            for a in idx.attrs(n) {
                carried.extend(a.bonding.as_deref());
            }
        }

        let total = running.networks.len().max(desired.networks.len())
            + running.bonds.len().max(desired.bonds.len());
        // Most of the config: planning it whole costs the same.
        if (r.reached.len() + beside.len() + carried.len()) * 2 > total {
            return None;
        }
        let owned = |set: BTreeSet<&str>| set.into_iter().map(str::to_string).collect();
        Some(Scope {
            networks: owned(r.reached),
            bonds: owned(carried),
            beside: owned(beside),
        })
    }

    /// `config` cut down to the scope.
    pub fn restrict(&self, config: &Config) -> Config {
        let pick = |names: &BTreeSet<String>,
                    out: &mut std::collections::BTreeMap<String, NetAttrs>| {
            for n in names {
                if let Some(a) = config.networks.get(n) {
                    out.insert(n.clone(), a.clone());
                }
            }
        };
        let mut networks = std::collections::BTreeMap::new();
        pick(&self.networks, &mut networks);
        pick(&self.beside, &mut networks);
        Config {
            networks,
            bonds: self
                .bonds
                .iter()
                .filter_map(|b| Some((b.clone(), config.bonds.get(b)?.clone())))
                .collect(),
        }
    }
}

/// The keys whose entries differ between two maps (present in one only, or
/// with different values), by one merge over both in key order.
fn differing<'a, T: PartialEq>(
    a: &'a std::collections::BTreeMap<String, T>,
    b: &'a std::collections::BTreeMap<String, T>,
) -> Vec<&'a str> {
    use std::cmp::Ordering;
    let mut out = Vec::new();
    let (mut x, mut y) = (a.iter().peekable(), b.iter().peekable());
    loop {
        match (x.peek(), y.peek()) {
            (None, None) => break,
            (Some((k, _)), None) => {
                out.push(k.as_str());
                x.next();
            }
            (None, Some((k, _))) => {
                out.push(k.as_str());
                y.next();
            }
            (Some((ka, va)), Some((kb, vb))) => match ka.cmp(kb) {
                Ordering::Less => {
                    out.push(ka.as_str());
                    x.next();
                }
                Ordering::Greater => {
                    out.push(kb.as_str());
                    y.next();
                }
                Ordering::Equal => {
                    if va != vb {
                        out.push(ka.as_str());
                    }
                    x.next();
                    y.next();
                }
            },
        }
    }
    out
}

/// [`crate::plan`] over a scope (`None`: the whole configs).
///
/// Debug builds also plan the whole configs and, when the host is in step
/// with `running` (the whole plan from `running` to itself is empty),
/// panic unless the two plans are the same: the test suite then checks
/// the scoping of every setup it runs.
pub fn plan_scoped(
    host: &HostState,
    running: &Config,
    desired: &Config,
    scope: Option<&Scope>,
) -> Result<Plan, RequestError> {
    let Some(scope) = scope else {
        return crate::plan(host, running, desired);
    };
    let plan = crate::plan(host, &scope.restrict(running), &scope.restrict(desired))?;
    #[cfg(debug_assertions)]
    {
        let in_step = crate::plan(host, running, running)?.ops.is_empty();
        if in_step {
            let whole = crate::plan(host, running, desired)?;
            assert_eq!(
                plan, whole,
                "the plan over {scope:?} differs from the whole plan"
            );
        }
    }
    Ok(plan)
}
