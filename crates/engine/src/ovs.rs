//! The OVS backend: reads what OVS carries into the host snapshot (from the
//! replica of a kept connection, [`Link`]) and sends a plan's OVS ops to
//! OVSDB as one transaction (docs/api.md §7), then waits
//! until ovs-vswitchd has carried it out, as `ovs-vsctl` does, so the
//! kernel ops that follow find the internal ports.
//!
//! New interfaces are inserted without `mtu_request`, which a second, small
//! transaction sets once ovs-vswitchd has created them. Asked to size an
//! interface it has not created yet, ovs-vswitchd 3.1 fails (`failed to set
//! MTU ... No such device`), remembers the failure and then takes 2–4× as
//! long to add each port: 0.5 s instead of 0.15 s per internal port under
//! TCG (docs/benchmarks.md, "what changed").

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use netswitch_model::host::OvsState;
use netswitch_model::plan::OvsOp;
use netswitch_ovsdb::datum::empty_set;
use netswitch_ovsdb::{row, Client, Condition, Mutation, Mutator, OpResult, Row, Uuid, VSWITCH_DB};
use serde_json::{json, Value};
use tracing::{debug, info_span, warn};

/// Where OVS is and how netswitch's bridges are made.
#[derive(Debug, Clone)]
pub struct OvsSettings {
    /// The OVSDB address (`unix:PATH` or `tcp:HOST:PORT`).
    pub db: String,
    /// `datapath_type` of the bridges netswitch creates: `system` (the
    /// kernel datapath) or `netdev` (userspace, for hosts without the
    /// openvswitch module).
    pub datapath: String,
    /// How long to wait for ovs-vswitchd to carry out a transaction; also
    /// the overall deadline of one setup's OVS calls, writes included.
    pub timeout: Duration,
    /// The longest message accepted from OVSDB (bytes); a peer sending
    /// more loses its connection rather than grow netswitch.
    pub max_message: usize,
    /// How long an OVN vNIC's plug waits for ovn-controller to install its
    /// port (`ovn-installed`); the first binding on a chassis can take
    /// ~50 s under TCG.
    pub ovn_timeout: Duration,
    /// The kept connection and its replica; clones share it, so the
    /// daemon's engine keeps one connection for its whole life.
    pub link: Arc<Link>,
}

impl Default for OvsSettings {
    fn default() -> Self {
        Self {
            db: "unix:/run/openvswitch/db.sock".into(),
            datapath: "system".into(),
            timeout: Duration::from_secs(30),
            max_message: netswitch_ovsdb::DEFAULT_MAX_MESSAGE,
            ovn_timeout: Duration::from_secs(90),
            link: Arc::default(),
        }
    }
}

/// The key of `Open_vSwitch.external_ids` OVN reads physical networks from.
const MAPPINGS_KEY: &str = "ovn-bridge-mappings";

mod build;
mod link;

use build::build;
pub use link::Link;
use link::{read_replica, Read};

/// Reads OVS's bridges and ports (from the kept connection's replica,
/// connecting first if need be); an unreachable database is code 32.
pub fn read_state(settings: &OvsSettings) -> Result<OvsState, netswitch_ovsdb::Error> {
    let _span = info_span!("ovs_read", db = %settings.db).entered();
    Ok(settings.link.read(settings)?.state)
}

/// Poisoning only means another thread panicked holding the lock; the
/// connection is still usable or will be found lost and made again.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A connection bounded as `settings` say: every call (and every write)
/// ends by `settings.timeout` from now.
fn connect(settings: &OvsSettings) -> Result<Client, netswitch_ovsdb::Error> {
    let options = netswitch_ovsdb::Options {
        timeout: settings.timeout,
        max_message: settings.max_message,
    };
    let c = Client::connect_with(&settings.db, options)?;
    c.set_deadline(Some(Instant::now() + settings.timeout));
    Ok(c)
}

/// A new Interface row; its `mtu_request` comes later (module doc).
fn interface_row(name: &str, internal: bool) -> Row {
    let mut r = row([("name", json!(name))]);
    if internal {
        r.insert("type".into(), json!("internal"));
    }
    r
}

fn tag_datum(tag: Option<u16>) -> Value {
    match tag {
        Some(t) => json!(t),
        None => empty_set(),
    }
}

/// Sends `ops` (all OVS ops) as one transaction and waits for ovs-vswitchd
/// to carry it out; then, if it added interfaces with an MTU, a second
/// transaction that sets their `mtu_request` (module doc), and the same
/// wait; then checks that every interface it added opened. Errs with a
/// message naming the op or interface at fault. Should the second
/// transaction fail, the new interfaces stay unsized: the caller's rollback,
/// which plans from the host read back, removes them with the rest.
///
/// `base_mappings` is the `ovn-bridge-mappings` the plan was computed from.
/// Setting the mappings is a read-modify-write of the root row's
/// `external_ids`, which OVN's tools write too: the transaction carries a
/// `wait` on the `external_ids` it read, and the value written keeps what
/// another writer changed since the plan ([`rebase_mappings`]). Should
/// another writer slip in between this read and the commit, the guard
/// fails the whole transaction (nothing changes) and it is built again
/// from a fresh read, once.
pub fn apply(
    settings: &OvsSettings,
    ops: &[OvsOp],
    base_mappings: Option<&str>,
) -> Result<(), String> {
    let _span = info_span!("ovs_apply", ops = ops.len()).entered();
    let started = Instant::now();
    let c = settings.link.client(settings).map_err(|e| e.to_string())?;
    // Every call and wait of this apply ends by one deadline.
    let _deadline = Deadline::set(&c, started + settings.timeout);
    let wait = Wait {
        deadline: started + settings.timeout,
        timeout: settings.timeout,
    };
    let mut attempt = 0;
    let (root, built, res) = loop {
        attempt += 1;
        // The replica holds every commit made so far (module `link`).
        let now = c.with_replica(read_replica);
        let root = now
            .root
            .clone()
            .ok_or("the OVS database has no Open_vSwitch row (run ovs-vsctl init)")?;
        let mut built = build(settings, ops, &now, base_mappings)?;
        let tx = std::mem::take(&mut built.tx);
        let mutations = std::mem::take(&mut built.root_mutations);
        #[cfg(test)]
        hook::before_commit();
        match commit(&c, &root, tx, mutations, built.guard, &wait) {
            Ok(res) => break (root, built, res),
            Err(Failed::Guard) if attempt == 1 => {
                warn!("{MAPPINGS_KEY} changed under the OVS transaction; reading again");
                // The other writer's change is on its way to the replica.
                let left = wait.deadline.saturating_duration_since(Instant::now());
                c.wait_for(left, |r| {
                    r.open_vswitch().map(|o| o.external_ids).unwrap_or_default() != now.root_external_ids
                })
                .map_err(|e| format!("waiting for the other writer's change: {e}"))?;
            }
            Err(Failed::Guard) => {
                return Err(format!(
                    "another writer changed Open_vSwitch external_ids ({MAPPINGS_KEY}) under the OVS transaction twice; nothing was changed, try again"
                ))
            }
            Err(Failed::Other(m)) => return Err(m),
        }
    };
    resize(&c, &root, &built.sizes, &res, &wait)?;
    check_interfaces(&c, &built.added_ifaces)?;
    drop(_deadline);
    debug!(elapsed = ?started.elapsed(), "OVS transaction carried out");
    Ok(())
}

/// Commits the rows `build` makes from a fresh read of the replica (bridge
/// and port UUIDs by name) as one transaction and waits for ovs-vswitchd
/// to carry it out: for rows no plan op describes (a vNIC's port with its
/// `external_ids`, `crate::vnic`).
pub(crate) fn transact_rows(
    settings: &OvsSettings,
    build: impl FnOnce(
        &BTreeMap<String, Uuid>,
        &BTreeMap<String, Uuid>,
    ) -> Result<Vec<netswitch_ovsdb::Op>, String>,
) -> Result<(), String> {
    transact_root(settings, |now| {
        Ok((build(&now.bridge_uuid, &now.port_uuid)?, Vec::new()))
    })
}

/// Like [`transact_rows`], for writers that also change the root row
/// (the OVN chassis keys, `crate::ovn`): `build` gets the whole read and
/// returns the ops and the root-row mutations.
pub(crate) fn transact_root(
    settings: &OvsSettings,
    build: impl FnOnce(&Read) -> Result<(Vec<netswitch_ovsdb::Op>, Vec<Mutation>), String>,
) -> Result<(), String> {
    let started = Instant::now();
    let c = settings.link.client(settings).map_err(|e| e.to_string())?;
    let _deadline = Deadline::set(&c, started + settings.timeout);
    let wait = Wait {
        deadline: started + settings.timeout,
        timeout: settings.timeout,
    };
    let now = c.with_replica(read_replica);
    let root = now
        .root
        .clone()
        .ok_or("the OVS database has no Open_vSwitch row (run ovs-vsctl init)")?;
    let (tx, mutations) = build(&now)?;
    match commit(&c, &root, tx, mutations, None, &wait) {
        Ok(_) => Ok(()),
        Err(Failed::Guard) => Err("OVSDB: unexpected guard failure".into()),
        Err(Failed::Other(m)) => Err(m),
    }
}

/// Sets the MTU of the interfaces the first transaction added
/// (`res` its results), in a second transaction (module doc).
fn resize(
    c: &Client,
    root: &Uuid,
    sizes: &[(usize, u32)],
    res: &[OpResult],
    wait: &Wait,
) -> Result<(), String> {
    if sizes.is_empty() {
        return Ok(());
    }
    let mut tx = vec![netswitch_ovsdb::Op::Comment(format!(
        "netswitch: MTU of {} new interfaces",
        sizes.len()
    ))];
    for (at, mtu) in sizes {
        let u = res
            .get(*at)
            .and_then(|r| r.uuid.as_ref())
            .ok_or("OVSDB transaction: no UUID for an inserted interface")?;
        tx.push(netswitch_ovsdb::Op::update(
            "Interface",
            vec![Condition::uuid(u)],
            row([("mtu_request", json!(mtu))]),
        ));
    }
    match commit(c, root, tx, Vec::new(), None, wait) {
        Ok(_) => Ok(()),
        Err(Failed::Guard) => Err("OVSDB: unexpected guard failure".into()),
        Err(Failed::Other(m)) => Err(m),
    }
}

/// How long ovs-vswitchd may take: until `deadline`, `timeout` after the
/// start (for the message).
struct Wait {
    deadline: Instant,
    timeout: Duration,
}

/// Sends `tx` with `root_mutations` and a `next_cfg` increment on the root
/// row, then waits for ovs-vswitchd to carry it out. Returns the
/// transaction's results (index for index with `tx`).
fn commit(
    c: &Client,
    root: &Uuid,
    mut tx: Vec<netswitch_ovsdb::Op>,
    mut root_mutations: Vec<Mutation>,
    guard: Option<usize>,
    wait: &Wait,
) -> Result<Vec<OpResult>, Failed> {
    root_mutations.push(Mutation::new("next_cfg", Mutator::Add, json!(1)));
    tx.push(netswitch_ovsdb::Op::mutate(
        "Open_vSwitch",
        vec![Condition::uuid(root)],
        root_mutations,
    ));
    tx.push(netswitch_ovsdb::Op::Select {
        table: "Open_vSwitch".into(),
        conditions: vec![Condition::uuid(root)],
        columns: Some(vec!["next_cfg".into()]),
    });
    let res = c.transact(VSWITCH_DB, &tx).map_err(|e| {
        if guard.is_some_and(|g| e.is_guard_failure(g)) {
            Failed::Guard
        } else {
            Failed::Other(format!("OVSDB transaction: {e}"))
        }
    })?;
    let next_cfg = res
        .last()
        .and_then(|r| r.rows.as_ref())
        .and_then(|rows| rows.first())
        .and_then(|r| r.get("next_cfg"))
        .and_then(Value::as_i64)
        .ok_or_else(|| Failed::Other("OVSDB transaction: no next_cfg in the reply".into()))?;
    wait_for_cfg(c, root, next_cfg, wait).map_err(Failed::Other)?;
    Ok(res)
}

/// Why [`commit`] failed.
enum Failed {
    /// The read-modify-write guard: another writer changed what the
    /// transaction was computed from; nothing was changed.
    Guard,
    /// Anything else, as the message the caller reports.
    Other(String),
}

/// The `ovn-bridge-mappings` to write: `target` (what the plan computed
/// from `base`), with what another writer changed since (`current`) kept.
/// Per physical network, an entry the plan left as it was in `base` takes
/// its `current` value (added, changed or removed by the other writer);
/// one the plan changed takes the plan's.
fn rebase_mappings(
    base: Option<&str>,
    target: Option<&str>,
    current: Option<&str>,
) -> Option<String> {
    if base == current {
        return target.map(str::to_owned);
    }
    let entries = |s: Option<&str>| -> Vec<(String, String)> {
        s.unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|e| {
                let net = e.split_once(':').map_or(e, |(n, _)| n);
                (net.to_owned(), e.to_owned())
            })
            .collect()
    };
    let (base, target, current) = (entries(base), entries(target), entries(current));
    let find = |list: &[(String, String)], net: &str| {
        list.iter().find(|(n, _)| n == net).map(|(_, e)| e.clone())
    };
    let mut nets: Vec<String> = Vec::new();
    for (net, _) in current.iter().chain(target.iter()).chain(base.iter()) {
        if !nets.contains(net) {
            nets.push(net.clone());
        }
    }
    let out: Vec<String> = nets
        .iter()
        .filter_map(|net| {
            let t = find(&target, net);
            if t == find(&base, net) {
                find(&current, net)
            } else {
                t
            }
        })
        .collect();
    (!out.is_empty()).then(|| out.join(","))
}

/// Waits until ovs-vswitchd reports `cur_cfg >= next_cfg`: it has
/// reconfigured with the transaction. `c` monitors `cur_cfg`.
fn wait_for_cfg(c: &Client, root: &Uuid, next_cfg: i64, wait: &Wait) -> Result<(), String> {
    let cur = |r: &netswitch_ovsdb::Replica| {
        r.row("Open_vSwitch", root)
            .and_then(|row| row.get("cur_cfg"))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    };
    loop {
        // In slices, to notice a lost connection (no update ever comes then).
        let left = wait.deadline.saturating_duration_since(Instant::now());
        match c.wait_for(left.min(CONNECTION_CHECK), |r| cur(r) >= next_cfg) {
            Ok(()) => return Ok(()),
            Err(netswitch_ovsdb::Error::ReplicaTimeout { .. }) if !left.is_zero() => {
                if !c.is_connected() {
                    return Err(format!(
                        "lost the OVSDB connection while waiting for ovs-vswitchd (cur_cfg {}, want {next_cfg})",
                        c.with_replica(cur)
                    ));
                }
            }
            Err(netswitch_ovsdb::Error::ReplicaTimeout { .. }) => {
                return Err(format!(
                    "ovs-vswitchd did not carry out the transaction within {:?} (cur_cfg {}, want {next_cfg}); is it running?",
                    wait.timeout,
                    c.with_replica(cur)
                ))
            }
            Err(other) => return Err(format!("waiting for ovs-vswitchd: {other}")),
        }
    }
}

/// How often a wait for ovs-vswitchd checks that the connection is up.
const CONNECTION_CHECK: Duration = Duration::from_secs(1);

/// Fails naming the first added interface OVS could not open, as the
/// replica has them after ovs-vswitchd's `cur_cfg` bump.
fn check_interfaces(c: &Client, names: &[String]) -> Result<(), String> {
    if names.is_empty() {
        return Ok(());
    }
    c.with_replica(|r| {
        r.interfaces()
            .into_iter()
            .filter(|i| names.contains(&i.name))
            .find_map(|i| Some((i.error?, i.name)))
    })
    .map_or(Ok(()), |(e, name)| {
        Err(format!("OVS could not add interface {name}: {e}"))
    })
}

/// The client's deadline for as long as this lives; lifted on drop, so a
/// kept connection's next user does not inherit it.
struct Deadline<'a>(&'a Client);

impl<'a> Deadline<'a> {
    fn set(c: &'a Client, at: Instant) -> Self {
        c.set_deadline(Some(at));
        Self(c)
    }
}

impl Drop for Deadline<'_> {
    fn drop(&mut self) {
        self.0.set_deadline(None);
    }
}

#[cfg(test)]
mod tests;

/// Test-only: runs between an apply's read and its commit, where another
/// writer can slip in. Compiled into unit tests only, never a binary.
#[cfg(test)]
mod hook {
    use std::cell::RefCell;

    thread_local! {
        pub(super) static BEFORE_COMMIT: RefCell<Option<Box<dyn FnMut()>>> =
            RefCell::new(None);
    }

    pub(super) fn before_commit() {
        BEFORE_COMMIT.with(|h| {
            if let Some(f) = h.borrow_mut().as_mut() {
                f();
            }
        });
    }
}
