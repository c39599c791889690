//! The OVN southbound DB, read only for one thing: which chassis declare
//! themselves gateway-capable, so routers' gateway ports can be bound to
//! them (docs/api.md, provider section, "Gateway chassis").
//!
//! A [`ClusterClient`] keeps a replica of SB's `Chassis` table (only the
//! columns the choice reads). The SB is optional for serving: an SB that
//! cannot be reached at start, or drops later, is retried by a background
//! thread, and meanwhile no chassis is eligible (gateways are made
//! unbound, as with no chassis at all) rather than calls failing.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use netswitch_ovsdb::cluster::parse_remotes;
use netswitch_ovsdb::{Address, ClusterClient, ClusterOptions, Row, TableMonitor};

use crate::error::Error;
use crate::nb::{key, rows, s};

/// The database name.
pub const SB_DB: &str = "OVN_Southbound";

/// The columns of `Chassis` the choice needs.
const COLUMNS: &[&str] = &["name", "hostname", "other_config", "external_ids"];

/// How long one connect attempt (around all remotes) may take: short, so
/// that an absent SB delays the provider's start by little.
const ATTEMPT: Duration = Duration::from_secs(3);

/// How often the background thread checks the connection.
const PERIOD: Duration = Duration::from_secs(1);

/// One chassis as the gateway choice sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chassis {
    /// Its `name` (the `system-id`), what `Gateway_Chassis.chassis_name`
    /// takes.
    pub name: String,
    /// Whether `ovn-cms-options` holds `enable-chassis-as-gw`.
    pub gateway: bool,
    /// The physical networks its `ovn-bridge-mappings` map.
    pub physnets: Vec<String>,
}

impl Chassis {
    /// Reads a `Chassis` row. OVN 22.09 and later keep the CMS keys in
    /// `other_config`, older ones in `external_ids`: `other_config` wins
    /// when both have a key.
    pub fn from_row(r: &Row) -> Self {
        let get = |k: &str| key(r, "other_config", k).or_else(|| key(r, "external_ids", k));
        let gateway = get("ovn-cms-options")
            .unwrap_or_default()
            .split(',')
            .any(|o| o.trim() == "enable-chassis-as-gw");
        let physnets = get("ovn-bridge-mappings")
            .unwrap_or_default()
            .split(',')
            .filter_map(|m| m.split_once(':').map(|(p, _)| p.trim().to_owned()))
            .filter(|p| !p.is_empty())
            .collect();
        Self {
            name: s(r, "name").to_owned(),
            gateway,
            physnets,
        }
    }
}

/// The SB connection: absent until the first connect succeeds.
pub struct Sb {
    client: Mutex<Option<Arc<ClusterClient>>>,
}

impl Sb {
    /// Checks `remotes` (a bad address is a config error), tries once to
    /// connect, and leaves a thread that connects (if that failed) and
    /// keeps following the leader until the `Sb` is dropped.
    pub fn start(remotes: &[String]) -> Result<Arc<Self>, Error> {
        let bad = |e: netswitch_ovsdb::Error| Error::Config(format!("sb_remotes: {e}"));
        let mut all = Vec::new();
        for r in remotes {
            all.extend(parse_remotes(r).map_err(bad)?);
        }
        for a in &all {
            Address::parse(a).map_err(bad)?;
        }
        let sb = Arc::new(Self {
            client: Mutex::new(None),
        });
        sb.try_connect(&all);
        let weak = Arc::downgrade(&sb);
        std::thread::Builder::new()
            .name("ovn-sb".into())
            .spawn(move || keep(&weak, &all))?;
        Ok(sb)
    }

    fn current(&self) -> Option<Arc<ClusterClient>> {
        self.client
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// One connect attempt with its monitor; logs the outcome.
    fn try_connect(&self, all: &[String]) {
        let options = ClusterOptions {
            failover: ATTEMPT,
            ..ClusterOptions::default()
        };
        let r = ClusterClient::connect_with(all, SB_DB, options).and_then(|c| {
            c.monitor_cond(SB_DB, &[TableMonitor::columns("Chassis", COLUMNS)])?;
            Ok(c)
        });
        match r {
            Ok(c) => {
                tracing::info!(remotes = %all.join(","), "reading gateway chassis from the OVN southbound DB");
                *self.client.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(c));
            }
            Err(e) => {
                tracing::warn!(remotes = %all.join(","), error = %e, "OVN southbound DB unreachable: no gateway chassis eligible until it answers; retrying");
            }
        }
    }

    /// Every chassis in the replica (none while SB is unreachable).
    pub fn chassis(&self) -> Vec<Chassis> {
        let Some(c) = self.current() else {
            return Vec::new();
        };
        c.with_replica(|r| {
            rows(r, "Chassis")
                .map(|(_, row)| Chassis::from_row(row))
                .collect()
        })
    }
}

/// The background thread: connects until it succeeds, then asks the
/// client for its leader now and then, which reconnects (and re-monitors)
/// after a drop. Ends when the provider drops the `Sb`.
fn keep(weak: &Weak<Sb>, all: &[String]) {
    loop {
        std::thread::sleep(PERIOD);
        let Some(sb) = weak.upgrade() else {
            return;
        };
        match sb.current() {
            None => sb.try_connect(all),
            Some(c) => {
                if let Err(e) = c.client() {
                    tracing::warn!(error = %e, "OVN southbound DB lost; retrying");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn row(other: Value, ext: Value) -> Row {
        Row::from([
            ("name".to_owned(), json!("ch1")),
            ("other_config".to_owned(), json!(["map", other])),
            ("external_ids".to_owned(), json!(["map", ext])),
        ])
    }

    #[test]
    fn options_are_read_from_other_config_before_external_ids() {
        let r = row(
            json!([["ovn-cms-options", "enable-chassis-as-gw"]]),
            json!([["ovn-bridge-mappings", "physnet1:br-ex, physnet2:br-v"]]),
        );
        let ch = Chassis::from_row(&r);
        assert_eq!(ch.name, "ch1");
        assert!(ch.gateway);
        assert_eq!(ch.physnets, ["physnet1", "physnet2"]);
        let r = row(
            json!([["ovn-cms-options", "enable-chassis-as-extport-host"]]),
            json!([["ovn-cms-options", "enable-chassis-as-gw"]]),
        );
        assert!(!Chassis::from_row(&r).gateway, "other_config wins");
        let r = row(
            json!([]),
            json!([["ovn-cms-options", "x=1, enable-chassis-as-gw"]]),
        );
        assert!(Chassis::from_row(&r).gateway, "older OVN's external_ids");
    }
}
