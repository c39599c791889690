//! Which networks and bonds a setupNetworks request reaches, so that the
//! plan and its verification look at those and not at the whole host.
//!
//! VDSM's contract: a request (re)configures the networks and bonds it
//! names; the others are left as they are. The planner itself is written
//! over whole configs, so scoping restricts its inputs: the running and
//! desired configs cut down to the reached entities. What they share with
//! the rest must come along, or the plan would differ from the whole one:
//!
//! - every network on the same nic or bond (a device's MTU is the largest
//!   of the networks on it, and a nic carries one untagged network);
//! - a bond and every network on it; every bond or network using one of its
//!   nics (a nic moving between bonds, or from a network into a bond);
//! - the entities whose attributes the request changes without naming them
//!   (the old holder of a moved defaultRoute).
//!
//! OVS networks share their switch's bridges and mappings; a request that
//! touches any gets no scope (the whole config is planned).
//!
//! With the host in step with the running config, the scoped plan is the
//! whole plan; debug builds check that on every setup ([`plan_scoped`]).

use std::collections::{BTreeSet, HashMap};

use netswitch_model::config::{Config, SwitchType};
use netswitch_model::error::RequestError;
use netswitch_model::host::HostState;
use netswitch_model::plan::Plan;

/// The networks and bonds a request reaches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub networks: BTreeSet<String>,
    pub bonds: BTreeSet<String>,
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
        // Entities (is it a bond, name) of both configs, numbered.
        let mut ids: HashMap<(bool, &str), usize> = HashMap::new();
        let mut names: Vec<(bool, &str)> = Vec::new();
        let mut id = |key: (bool, &'a str)| {
            *ids.entry(key).or_insert_with(|| {
                names.push(key);
                names.len() - 1
            })
        };
        // Devices, with the entities that use them (nic or bond by name:
        // the names of nics and bonds never collide).
        let mut users: HashMap<&str, Vec<usize>> = HashMap::new();
        for c in [running, desired] {
            for (name, a) in &c.networks {
                let n = id((false, name.as_str()));
                if let Some(base) = a.base() {
                    users.entry(base).or_default().push(n);
                }
            }
            for (name, b) in &c.bonds {
                let n = id((true, name.as_str()));
                users.entry(name.as_str()).or_default().push(n);
                for nic in &b.nics {
                    users.entry(nic.as_str()).or_default().push(n);
                }
            }
        }
        // Union-find over entities sharing a device.
        let mut parent: Vec<usize> = (0..names.len()).collect();
        fn root(parent: &mut [usize], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        for list in users.values() {
            for w in list.windows(2) {
                let (a, b) = (root(&mut parent, w[0]), root(&mut parent, w[1]));
                parent[a] = b;
            }
        }
        // Seeds: what the request names, and what changed without being named.
        let mut seeds: Vec<usize> = Vec::new();
        for n in nets {
            seeds.extend(ids.get(&(false, n.as_str())));
        }
        for b in bonds {
            seeds.extend(ids.get(&(true, b.as_str())));
        }
        for dev in drifted {
            // A bridge is named after its network, a VLAN device after its
            // base; a nic or a bond is used by its networks and bonds.
            seeds.extend(ids.get(&(false, dev.as_str())));
            seeds.extend(ids.get(&(true, dev.as_str())));
            let base = dev.rsplit_once('.').map_or(dev.as_str(), |(b, _)| b);
            for d in [dev.as_str(), base] {
                seeds.extend(users.get(d).into_iter().flatten());
            }
        }
        for (&(is_bond, name), &i) in &ids {
            let changed = if is_bond {
                running.bonds.get(name) != desired.bonds.get(name)
            } else {
                running.networks.get(name) != desired.networks.get(name)
            };
            if changed {
                seeds.push(i);
            }
        }
        let reached: BTreeSet<usize> = seeds.iter().map(|&s| root(&mut parent, s)).collect();
        let mut scope = Scope::default();
        for (i, &(is_bond, name)) in names.iter().enumerate() {
            if reached.contains(&root(&mut parent, i)) {
                if is_bond {
                    scope.bonds.insert(name.to_string());
                } else {
                    scope.networks.insert(name.to_string());
                }
            }
        }
        // Most of the config: planning it whole costs the same.
        if (scope.networks.len() + scope.bonds.len()) * 2 > names.len() {
            return None;
        }
        Some(scope)
    }

    /// `config` cut down to the scope.
    pub fn restrict(&self, config: &Config) -> Config {
        Config {
            networks: self
                .networks
                .iter()
                .filter_map(|n| Some((n.clone(), config.networks.get(n)?.clone())))
                .collect(),
            bonds: self
                .bonds
                .iter()
                .filter_map(|b| Some((b.clone(), config.bonds.get(b)?.clone())))
                .collect(),
        }
    }
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
