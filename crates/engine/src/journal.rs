//! The transaction journal: what a process killed in the middle of a setup
//! leaves behind so the next start can put the host back.
//!
//! A transaction writes `<state-dir>/journal` (temp file, fsync, rename,
//! fsync of the directory) before its first change, and removes it only
//! after the running config is saved or the rollback is finished. The
//! journal holds what the transaction changes in the config (each changed
//! network and bond before and after; the rest of both configs is the
//! running config, which only this transaction writes while it holds the
//! lock, so a one-network edit of a 1000-network host journals one
//! network), the plan's ops with the links they touch as they were before,
//! and the resolver file's old bytes when the plan rewrites it: enough to
//! roll back without the dead process's memory.
//!
//! Every transaction holds an exclusive `flock` on `<state-dir>/lock` from
//! before it reads the running config until its journal is gone. The
//! kernel drops the lock when the holder dies, so a journal whose lock can
//! be taken belongs to a dead transaction; one whose lock is held belongs
//! to a live one and is left alone.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use netswitch_model::config::{BondAttrs, Config, NetAttrs};
use netswitch_model::error::{Code, RequestError};
use netswitch_model::host::{HostState, Link};
use netswitch_model::plan::{KernelOp, Op, OvsOp};
use serde::{Deserialize, Serialize};
use tracing::{info, info_span, warn};

use crate::statedir::Dir;
use crate::store::StoreError;
use crate::transaction::uses_ovs;
use crate::{resolv, Engine, EngineError, Which};

mod format;

pub use format::{FormatError, VERSION as JOURNAL_VERSION};

const JOURNAL: &str = "journal";
const LOCK: &str = "lock";
const JOURNAL_ASIDE: &str = "journal.unreadable";

/// The record of one transaction in flight.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Journal {
    /// The on-disk format ([`JOURNAL_VERSION`]); absent from journals
    /// written before it was versioned (read as format 1, see `format`).
    pub version: u32,
    /// Which verb wrote it (`setup`, `restore`), for the log.
    pub verb: String,
    /// The process that ran the transaction.
    pub pid: u32,
    /// The networks and bonds the transaction changes, before and after:
    /// with the running config found at recovery (the old one or the
    /// desired one, whichever was saved last), the old config (what a
    /// rollback restores) and the desired one.
    pub changes: Changes,
    /// Whether the desired config is also to become the persistent one
    /// (`commitOnSuccess`).
    pub persist: bool,
    /// The plan's ops; a recovery undoes all of them (an undo of an op that
    /// never ran fails harmlessly or sets a value to what it already is).
    pub ops: Vec<Op>,
    /// The links the ops name, as they were before the plan: what the
    /// inverses of the ops restore on devices netswitch does not own.
    pub before_links: Vec<Link>,
    /// The resolver file and its old bytes, when the plan rewrites it.
    pub resolv: Option<ResolvBackup>,
}

/// The entities that differ between two configs, with both values
/// (`None`: absent from that config).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Changes {
    pub networks: BTreeMap<String, (Option<NetAttrs>, Option<NetAttrs>)>,
    pub bonds: BTreeMap<String, (Option<BondAttrs>, Option<BondAttrs>)>,
}

impl Changes {
    /// What differs from `old` to `desired`.
    pub fn between(old: &Config, desired: &Config) -> Changes {
        Changes {
            networks: differing(&old.networks, &desired.networks),
            bonds: differing(&old.bonds, &desired.bonds),
        }
    }

    /// The old config, from a config that equals it or the desired one
    /// outside the changed entities.
    pub fn old_from(&self, running: &Config) -> Config {
        self.side(running, true)
    }

    /// The desired config, likewise.
    pub fn desired_from(&self, running: &Config) -> Config {
        self.side(running, false)
    }

    fn side(&self, running: &Config, old: bool) -> Config {
        fn put<T: Clone>(
            map: &mut BTreeMap<String, T>,
            pairs: &BTreeMap<String, (Option<T>, Option<T>)>,
            old: bool,
        ) {
            for (name, (before, after)) in pairs {
                match if old { before } else { after } {
                    Some(v) => map.insert(name.clone(), v.clone()),
                    None => map.remove(name),
                };
            }
        }
        let mut c = running.clone();
        put(&mut c.networks, &self.networks, old);
        put(&mut c.bonds, &self.bonds, old);
        c
    }
}

/// The entries of two maps that differ, with both values.
fn differing<T: Clone + PartialEq>(
    old: &BTreeMap<String, T>,
    new: &BTreeMap<String, T>,
) -> BTreeMap<String, (Option<T>, Option<T>)> {
    let mut out = BTreeMap::new();
    for (k, v) in old {
        if new.get(k) != Some(v) {
            out.insert(k.clone(), (Some(v.clone()), new.get(k).cloned()));
        }
    }
    for (k, v) in new {
        if !old.contains_key(k) {
            out.insert(k.clone(), (None, Some(v.clone())));
        }
    }
    out
}

/// The resolver file as it was before a transaction rewrote it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResolvBackup {
    pub path: PathBuf,
    /// Its old contents; `None`: there was no file.
    pub old: Option<Vec<u8>>,
}

/// What [`Engine::recover`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// The verb and process of the interrupted transaction.
    pub verb: String,
    pub pid: u32,
    /// True when the interrupted transaction had already saved its running
    /// config (it was complete but for the journal's removal or the
    /// persistent copy): it was finished, not rolled back.
    pub completed: bool,
    /// What could not be put back, if anything.
    pub problems: Vec<String>,
}

/// An exclusive hold on the state directory for one transaction; released
/// when dropped (or by the kernel when the process dies).
#[derive(Debug)]
pub struct TxLock {
    _file: File,
}

fn io_err(path: &Path, source: std::io::Error) -> EngineError {
    EngineError::Store(StoreError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The links `ops` name.
pub(crate) fn op_links(op: &Op) -> Vec<&str> {
    // OVSDB keeps its own record; the planner restores OVS.
    let Op::Kernel(op) = op else {
        return Vec::new();
    };
    match op {
        KernelOp::CreateBridge { name, .. }
        | KernelOp::CreateBond { name, .. }
        | KernelOp::DeleteLink { name }
        | KernelOp::SetBridgeOptions { name, .. }
        | KernelOp::SetBondOptions { name, .. } => vec![name],
        KernelOp::CreateVlan { name, parent, .. } => vec![name, parent],
        KernelOp::SetMaster { link, master } => vec![link, master],
        KernelOp::ReleaseMaster { link }
        | KernelOp::SetMtu { link, .. }
        | KernelOp::SetUp { link }
        | KernelOp::SetDown { link }
        | KernelOp::SetMac { link, .. }
        | KernelOp::AddAddr { link, .. }
        | KernelOp::DelAddr { link, .. } => vec![link],
        KernelOp::AddRoute(r) | KernelOp::DelRoute(r) => vec![&r.dev],
        KernelOp::AddRule(r) | KernelOp::DelRule(r) => r.iif.as_deref().into_iter().collect(),
    }
}

/// The OVS bridges and ports an OVS op names.
fn ovs_op_names(op: &OvsOp) -> Vec<&str> {
    match op {
        OvsOp::AddBridge { name, .. } | OvsOp::DelBridge { name } => vec![name],
        OvsOp::AddPort { bridge, name, .. } | OvsOp::DelPort { bridge, name } => {
            vec![bridge, name]
        }
        OvsOp::SetPort { name, .. } => vec![name],
        OvsOp::SetMappings { .. } => Vec::new(),
    }
}

impl Journal {
    /// The journal of a transaction about to apply `ops` planned against
    /// `before`.
    pub fn new(verb: &str, old: &Config, desired: &Config, persist: bool, ops: &[Op]) -> Self {
        Journal {
            version: JOURNAL_VERSION,
            verb: verb.to_string(),
            pid: std::process::id(),
            changes: Changes::between(old, desired),
            persist,
            ops: ops.to_vec(),
            before_links: Vec::new(),
            resolv: None,
        }
    }

    /// Keeps the links the ops name as `before` has them.
    pub fn with_links(mut self, before: &HostState) -> Self {
        let names: std::collections::BTreeSet<&str> = self.ops.iter().flat_map(op_links).collect();
        self.before_links = names
            .into_iter()
            .filter_map(|n| before.link(n).cloned())
            .collect();
        self
    }

    /// The networks the transaction changes and every link, OVS bridge
    /// and port its ops name: whatever vNICs sit on may have been rebuilt.
    pub(crate) fn reached(&self) -> std::collections::BTreeSet<String> {
        let mut names: std::collections::BTreeSet<String> =
            self.changes.networks.keys().cloned().collect();
        for op in &self.ops {
            names.extend(op_links(op).into_iter().map(str::to_string));
            if let Op::Ovs(o) = op {
                names.extend(ovs_op_names(o).into_iter().map(str::to_string));
            }
        }
        names
    }

    fn before(&self) -> HostState {
        HostState {
            links: self
                .before_links
                .iter()
                .map(|l| (l.name.clone(), l.clone()))
                .collect(),
            ..HostState::default()
        }
    }
}

impl Engine {
    fn journal_path(&self) -> PathBuf {
        self.store.root().join(JOURNAL)
    }

    /// Takes the state directory's transaction lock, or fails with code 40
    /// when another process (or thread) holds it; then recovers whatever a
    /// dead transaction left behind. Held by every verb that changes the
    /// host or the configs.
    pub fn lock(&self) -> Result<TxLock, EngineError> {
        let lock = self.try_lock()?.ok_or_else(|| {
            EngineError::Request(RequestError::request(
                Code::Busy,
                "another network verb is running on this state directory",
            ))
        })?;
        self.recover_locked()?;
        Ok(lock)
    }

    fn try_lock(&self) -> Result<Option<TxLock>, EngineError> {
        let dir = self.state_dir()?;
        let path = dir.path().join(LOCK);
        let file = dir.open_lock(LOCK)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(TxLock { _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(io_err(&path, e)),
        }
    }

    /// Brings the host back from a transaction that died: with a journal
    /// left and its lock free, the host is rolled back to the journal's old
    /// running config through the planner (or, if the transaction had saved
    /// its running config already, its persistent copy is finished), the
    /// resolver file restored, a pending confirmation dropped, the journal
    /// removed. Costs one `stat` when there is no journal; a journal of a
    /// live transaction is left to it. Idempotent: a recovery killed half
    /// way is redone by the next one. Every engine verb calls it first; the
    /// daemon calls it at start.
    pub fn recover(&self) -> Result<Option<Recovery>, EngineError> {
        if !self.journal_path().exists() && !self.has_half_plugs() {
            return Ok(None);
        }
        match self.try_lock() {
            Ok(Some(_lock)) => self.recover_locked(),
            Ok(None) => Ok(None),
            Err(e) => {
                // A reader that may not take the lock (not root, say) goes
                // on; the next mutating verb recovers or fails loudly.
                warn!(error = %e, "a transaction journal is left but the lock cannot be taken; not recovered");
                Ok(None)
            }
        }
    }

    fn recover_locked(&self) -> Result<Option<Recovery>, EngineError> {
        self.undo_half_plugs();
        let dir = self.state_dir()?;
        let Some(text) = dir.read(JOURNAL)? else {
            return Ok(None);
        };
        let _span = info_span!("recover").entered();
        let journal: Journal = match format::decode(&text) {
            Ok(j) => j,
            Err(e) => {
                // Written by rename, so never torn; a journal that does not
                // read is of a format this version does not know. Keep it
                // for a human and go on rather than block every verb or
                // undo what a misread journal says.
                let aside = dir.path().join(JOURNAL_ASIDE);
                warn!(error = %e, aside = %aside.display(), "a transaction journal cannot be read; moved aside, host not rolled back");
                dir.rename(JOURNAL, JOURNAL_ASIDE)?;
                return Ok(Some(Recovery {
                    verb: "?".into(),
                    pid: 0,
                    completed: false,
                    problems: vec![format!(
                        "unreadable journal moved to {}: {e}",
                        aside.display()
                    )],
                }));
            }
        };
        let running = self.store.load(Which::Running)?;
        let old = journal.changes.old_from(&running);
        let desired = journal.changes.desired_from(&running);
        let mut out = Recovery {
            verb: journal.verb.clone(),
            pid: journal.pid,
            completed: running == desired && desired != old,
            problems: Vec::new(),
        };
        if out.completed {
            // The running config is saved only after verify and the
            // confirmation: the host carries the new config. Finish.
            if journal.persist {
                self.store.save(Which::Persistent, &desired)?;
            }
        } else {
            out.problems = self.roll_back_journal(&journal, &old, &desired);
            if running != old {
                self.store.save(Which::Running, &old)?;
            }
        }
        let _ = dir.remove_file(crate::safe::PENDING);
        self.store.remove_orphans();
        self.replug_reached(&journal);
        self.set_in_step(None);
        remove_journal_file(&dir)?;
        if out.completed {
            warn!(
                verb = %out.verb,
                pid = out.pid,
                "recovered an interrupted {}: it had saved its running config; finished it",
                out.verb
            );
        } else if out.problems.is_empty() {
            warn!(
                verb = %out.verb,
                pid = out.pid,
                "recovered an interrupted {}: the host and the running config are back to the old config",
                out.verb
            );
        } else {
            warn!(
                verb = %out.verb,
                pid = out.pid,
                problems = %out.problems.join("; "),
                "recovered an interrupted {}: rolled back incompletely",
                out.verb
            );
        }
        Ok(Some(out))
    }

    /// The rollback of a dead transaction: undo every op, then plan from
    /// the host as it is to the old config, then the resolver file.
    fn roll_back_journal(&self, j: &Journal, old: &Config, desired: &Config) -> Vec<String> {
        let before = j.before();
        let all: Vec<usize> = (0..j.ops.len()).collect();
        // The journal keeps no OVS state to undo OVS ops against: the
        // planner pass below puts OVS back as the old config has it.
        let undo: Vec<_> = netswitch_switch::inverse::undo(&j.ops, &all, &before)
            .into_iter()
            .filter(|op| !op.is_ovs())
            .collect();
        let with_ovs = uses_ovs(old, desired);
        // Undo steps for ops that never ran fail; only what is left after
        // the planner pass counts.
        let _ = self.apply_best_effort(&undo, with_ovs);
        let mut problems = Vec::new();
        match self.observe(with_ovs) {
            Ok(now) => match netswitch_switch::plan(&now, desired, old) {
                Ok(back) => {
                    let _ = self.apply_best_effort(&back.ops, with_ovs);
                }
                Err(e) => problems.push(format!("replanning the old config: {e}")),
            },
            Err(e) => problems.push(e.to_string()),
        }
        if let Some(r) = &j.resolv {
            if let Err(e) = resolv::restore(&r.path, r.old.as_deref()) {
                problems.push(format!("restoring {}: {e}", r.path.display()));
            }
        }
        match self.observe(with_ovs) {
            Ok(now) => match netswitch_switch::plan(&now, old, old) {
                Ok(left) => problems.extend(
                    left.ops
                        .iter()
                        .take(5)
                        .map(|op| format!("the old config still needs \"{op}\"")),
                ),
                Err(e) => problems.push(format!("checking the old config: {e}")),
            },
            Err(e) => problems.push(e.to_string()),
        }
        problems
    }

    /// Writes the journal, durably, before the transaction's first change.
    pub(crate) fn begin_journal(&self, journal: &Journal) -> Result<(), EngineError> {
        let dir = self.state_dir()?;
        let text = serde_json::to_vec(journal).map_err(|source| {
            EngineError::Store(StoreError::Corrupt {
                path: self.journal_path(),
                source,
            })
        })?;
        // Temp file, fsync, rename, fsync of the directory; a failed write
        // (a full disk) removes its temp file before it returns.
        dir.replace(JOURNAL, &text)?;
        info!(ops = journal.ops.len(), "journal written");
        crash_point("journaled");
        Ok(())
    }

    /// Removes the journal, durably: the transaction is over.
    pub(crate) fn end_journal(&self) -> Result<(), EngineError> {
        remove_journal_file(&self.state_dir()?)
    }

    /// The state directory, created (0700) if missing, open and checked
    /// (see [`crate::statedir`]).
    pub(crate) fn state_dir(&self) -> Result<Dir, EngineError> {
        let root = self.store.root();
        self.store
            .dir(true)?
            .ok_or_else(|| io_err(root, std::io::Error::from(std::io::ErrorKind::NotFound)))
    }
}

/// Removes the journal, durably; never through a link.
fn remove_journal_file(dir: &Dir) -> Result<(), EngineError> {
    dir.remove_file(JOURNAL)?;
    Ok(dir.sync()?)
}

/// Testing aid: when `NETSWITCH_TEST_CRASH_AT` names this point, the
/// process kills itself with SIGKILL here, so tests can place a crash
/// exactly (between the two saves of commitOnSuccess, say) besides the
/// random kills. Only with the `fault-injection` feature: a release build
/// ignores the variable.
#[cfg(feature = "fault-injection")]
pub(crate) fn crash_point(name: &str) {
    if std::env::var_os("NETSWITCH_TEST_CRASH_AT").is_some_and(|v| v == name) {
        warn!(point = name, "NETSWITCH_TEST_CRASH_AT: killing myself");
        // SAFETY: kill(2) on our own pid with a constant signal; no memory
        // is touched.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

/// Without `fault-injection`, no crash points.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub(crate) fn crash_point(_name: &str) {}

#[cfg(test)]
mod tests {
    use super::*;
    use netswitch_model::host::LinkKind;
    use std::fs;

    #[test]
    fn a_journal_keeps_only_the_links_its_ops_name_and_reads_back() {
        let mut host = HostState::default();
        for (i, name) in ["eth0", "eth1", "other"].iter().enumerate() {
            let mut l = Link::new(i as u32 + 1, name, LinkKind::Device);
            l.mtu = 9000;
            host.links.insert(name.to_string(), l);
        }
        let ops: Vec<Op> = vec![
            KernelOp::SetMtu {
                link: "eth0".into(),
                mtu: 1500,
            }
            .into(),
            KernelOp::SetMaster {
                link: "eth1".into(),
                master: "br".into(),
            }
            .into(),
        ];
        let mut j = Journal::new("setup", &Config::default(), &Config::default(), true, &ops)
            .with_links(&host);
        j.resolv = Some(ResolvBackup {
            path: "/etc/resolv.conf".into(),
            old: Some(b"nameserver 10.0.0.1\n".to_vec()),
        });
        let names: Vec<&str> = j.before_links.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, vec!["eth0", "eth1"]);
        let back: Journal = serde_json::from_slice(&serde_json::to_vec(&j).unwrap()).unwrap();
        assert_eq!(back.ops, ops);
        assert_eq!(back.before().link("eth0").unwrap().mtu, 9000);
        assert_eq!(
            back.resolv.unwrap().old.as_deref(),
            Some(&b"nameserver 10.0.0.1\n"[..])
        );
    }

    #[test]
    fn the_changes_give_back_both_configs_from_either() {
        let net = |nic: &str| NetAttrs {
            nic: Some(nic.into()),
            ..NetAttrs::default()
        };
        let mut old = Config::default();
        for i in 0..50 {
            old.networks.insert(format!("n{i}"), net("eth0"));
        }
        old.bonds.insert(
            "bond0".into(),
            BondAttrs {
                nics: vec!["eth5".into()],
                options: netswitch_model::bondopts::BondOptions::parse("mode=1").unwrap(),
                hwaddr: None,
                switch: netswitch_model::config::SwitchType::Legacy,
            },
        );
        let mut desired = old.clone();
        desired.networks.insert("n3".into(), net("eth1"));
        desired.networks.remove("n7");
        desired.networks.insert("new".into(), net("eth2"));
        desired.bonds.remove("bond0");
        let c = Changes::between(&old, &desired);
        assert_eq!(c.networks.len(), 3, "only what changed is kept");
        assert_eq!(c.bonds.len(), 1);
        for from in [&old, &desired] {
            assert_eq!(c.old_from(from), old);
            assert_eq!(c.desired_from(from), desired);
        }
        let back: Changes = serde_json::from_slice(&serde_json::to_vec(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn an_unversioned_journal_is_recovered() {
        // Recovery reads the host and replans: in a scratch namespace.
        let ns = netswitch_testkit::Netns::new();
        let dir = tempfile::tempdir().unwrap();
        let old = br#"{"verb":"restore","pid":777,"changes":{"networks":{},"bonds":{}},
            "persist":false,"ops":[],"before_links":[],"resolv":null}"#;
        fs::write(dir.path().join(JOURNAL), old).unwrap();
        let engine = Engine::new(dir.path(), dir.path().join("resolv.conf"));
        let r = ns.run(|| engine.recover()).unwrap().expect("a recovery");
        assert_eq!((r.verb.as_str(), r.pid), ("restore", 777), "{r:?}");
        assert!(r.problems.is_empty(), "{r:?}");
        assert!(!dir.path().join(JOURNAL).exists());
        assert!(!dir.path().join("journal.unreadable").exists());
    }

    #[test]
    fn a_journal_of_an_unknown_version_is_set_aside_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let text = br#"{"version":7,"verb":"setup","pid":1,"ops":[{"op":"warp"}]}"#;
        fs::write(dir.path().join(JOURNAL), text).unwrap();
        let engine = Engine::new(dir.path(), dir.path().join("resolv.conf"));
        // Refused before anything reads or touches the host.
        let r = engine.recover().unwrap().expect("a recovery");
        assert!(!r.completed);
        assert!(
            r.problems.iter().any(|p| p.contains("format version 7")),
            "{r:?}"
        );
        assert!(!dir.path().join(JOURNAL).exists());
        assert_eq!(
            fs::read(dir.path().join("journal.unreadable")).unwrap(),
            text
        );
    }

    #[test]
    fn recover_without_a_journal_does_nothing_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("state");
        let engine = Engine::new(&root, dir.path().join("resolv.conf"));
        assert_eq!(engine.recover().unwrap(), None);
        assert!(!root.exists());
    }

    #[test]
    fn a_second_lock_on_the_same_state_dir_is_refused_with_40() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::new(dir.path(), dir.path().join("resolv.conf"));
        let held = engine.lock().unwrap();
        let e = engine.lock().unwrap_err();
        assert_eq!(e.code(), 40, "{e}");
        drop(held);
        engine.lock().unwrap();
    }
}
