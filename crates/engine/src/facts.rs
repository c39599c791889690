//! The comparable facts of a host, which a rollback must restore: what
//! tells "back as before" from "rolled back incompletely".

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use netswitch_model::host::HostState;

use crate::Engine;

/// The facts of a host that a rollback must restore, in a form that
/// compares equal across re-creation (no ifindexes, no counters, no MACs
/// of recreated bridges, no kernel-made routes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub links: BTreeSet<String>,
    pub addrs: BTreeSet<String>,
    pub routes: BTreeSet<String>,
    pub rules: BTreeSet<String>,
    /// Traffic control (host QoS) of the host's devices, when read
    /// (`Engine::observe`): qdiscs, classes and filters.
    pub tc: BTreeSet<String>,
}

impl Facts {
    /// The comparable facts of a snapshot.
    pub fn of(h: &HostState) -> Facts {
        let links = h
            .links
            .values()
            .map(|l| {
                format!(
                    "{} kind={:?} master={} mtu={} up={} vlan={:?}",
                    l.name,
                    l.kind,
                    l.master.as_deref().unwrap_or("-"),
                    l.mtu,
                    l.admin_up,
                    l.vlan.as_ref().map(|v| (&v.parent, v.id))
                )
            })
            .collect();
        let addrs = h
            .addrs
            .iter()
            .filter(|a| {
                !a.dynamic
                    && !matches!(a.address, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80)
            })
            .map(|a| format!("{} {}/{}", a.link, a.address, a.prefix_len))
            .collect();
        let routes = h
            .routes
            .iter()
            .filter(|r| r.protocol != "kernel" && r.table != 255 && r.protocol != "ra")
            .map(|r| {
                format!(
                    "table {} {} via {:?} dev {} src {:?} scope {} {}",
                    r.table,
                    r.dst,
                    r.gateway,
                    r.oif.as_deref().unwrap_or("-"),
                    r.prefsrc,
                    r.scope,
                    r.kind
                )
            })
            .collect();
        let rules = h
            .rules
            .iter()
            .map(|r| {
                format!(
                    "{:?} {} {:?} {:?} {:?} {}",
                    r.priority, r.family, r.src, r.dst, r.iif, r.table
                )
            })
            .collect();
        let tc =
            h.tc.values()
                .flat_map(|t| {
                    let q = t.qdiscs.iter().map(|q| format!("{q:?}"));
                    let c = t.classes.iter().map(|c| format!("{c:?}"));
                    q.chain(c).chain(t.filters.iter().map(|f| format!("{f:?}")))
                })
                .collect();
        Facts {
            links,
            addrs,
            routes,
            rules,
            tc,
        }
    }

    /// What differs, one line per fact, for an error message.
    pub fn diff(&self, after: &Facts) -> Vec<String> {
        let mut out = Vec::new();
        for (what, a, b) in [
            ("link", &self.links, &after.links),
            ("address", &self.addrs, &after.addrs),
            ("route", &self.routes, &after.routes),
            ("rule", &self.rules, &after.rules),
            ("tc object", &self.tc, &after.tc),
        ] {
            out.extend(a.difference(b).map(|x| format!("{what} lost: {x}")));
            out.extend(b.difference(a).map(|x| format!("{what} left over: {x}")));
        }
        out
    }
}

impl Engine {
    /// The host's differences from `before` once the rollback has settled.
    /// ovs-vswitchd derives some kernel state itself after its transaction
    /// is carried out (the MTU of a bridge's own port follows its ports'),
    /// so with OVS involved a difference is read again for a short while
    /// before it counts.
    pub(crate) fn settled_differences(&self, before: &HostState, with_ovs: bool) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let differences = match self.observe(with_ovs) {
                Ok(now) => Facts::of(before).diff(&Facts::of(&now)),
                Err(e) => vec![e.to_string()],
            };
            if differences.is_empty() || !with_ovs || Instant::now() >= deadline {
                return differences;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
