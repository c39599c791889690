//! The state directory's hardening, read back as an operator would: modes
//! on disk whatever the umask, refusal (code 21, the path named) of a
//! directory others may write or own, planted symlinks never followed or
//! deleted through, a dangling `running` link an error rather than an
//! empty config, and a failed save leaving nothing behind.
//!
//! No network is touched: these go through the store and the lock only.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use netswitch_engine::{Engine, Store, Which};
use netswitch_model::config::{Config, NetAttrs};

fn one_net(name: &str) -> Config {
    let mut c = Config::default();
    c.networks.insert(
        name.into(),
        NetAttrs {
            nic: Some("eth0".into()),
            ..NetAttrs::default()
        },
    );
    c
}

/// Every entry under `dir` with its mode, not following links.
fn modes(dir: &Path, out: &mut Vec<(String, bool, u32)>) {
    for e in fs::read_dir(dir).unwrap().flatten() {
        let m = fs::symlink_metadata(e.path()).unwrap();
        if m.file_type().is_symlink() {
            continue;
        }
        out.push((
            e.path().display().to_string(),
            m.is_dir(),
            m.mode() & 0o7777,
        ));
        if m.is_dir() {
            modes(&e.path(), out);
        }
    }
}

/// A directory tree with a file, to plant links at: must stay intact.
fn victim(base: &Path) -> std::path::PathBuf {
    let v = base.join("victim");
    fs::create_dir_all(v.join("sub")).unwrap();
    fs::write(v.join("sub/keep"), b"precious").unwrap();
    fs::set_permissions(v.join("sub/keep"), fs::Permissions::from_mode(0o644)).unwrap();
    v
}

fn victim_intact(v: &Path) {
    assert_eq!(fs::read(v.join("sub/keep")).unwrap(), b"precious");
}

#[test]
fn everything_is_created_0700_and_0600_even_under_umask_0() {
    // SAFETY: umask(2) cannot fail. Left at 0 for this process: the other
    // tests of this file only gain from a looser mask.
    unsafe { libc::umask(0) };
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("a/state");
    let engine = Engine::new(&root, base.path().join("resolv.conf"));
    engine.store.save(Which::Running, &one_net("n1")).unwrap();
    let lock = engine.lock().unwrap();
    drop(lock);
    engine.commit().unwrap();
    assert_eq!(
        fs::metadata(&root).unwrap().mode() & 0o7777,
        0o700,
        "the state dir"
    );
    assert_eq!(
        fs::metadata(base.path().join("a")).unwrap().mode() & 0o7777,
        0o700
    );
    let mut all = Vec::new();
    modes(&root, &mut all);
    assert!(all.iter().any(|(p, _, _)| p.ends_with("/lock")), "{all:?}");
    assert!(
        all.iter().any(|(p, _, _)| p.ends_with("/nets/n1")),
        "{all:?}"
    );
    for (path, is_dir, mode) in &all {
        let want = if *is_dir { 0o700 } else { 0o600 };
        assert_eq!(*mode, want, "{path}: mode {mode:o}");
    }
}

#[test]
fn replaced_files_are_0600_even_when_an_older_one_was_wider() {
    // SAFETY: as above; the mask only loosens what others create.
    unsafe { libc::umask(0) };
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("state");
    let dir = netswitch_engine::statedir::Dir::open_root(&root, true)
        .unwrap()
        .unwrap();
    // What an older version left under a loose umask.
    fs::write(root.join("journal"), b"old").unwrap();
    fs::set_permissions(root.join("journal"), fs::Permissions::from_mode(0o666)).unwrap();
    dir.replace("journal", b"new").unwrap();
    dir.replace("restored-boot-id", b"id").unwrap();
    for name in ["journal", "restored-boot-id"] {
        let m = fs::metadata(root.join(name)).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o600, "{name}");
    }
    assert_eq!(fs::read(root.join("journal")).unwrap(), b"new");
    assert!(!root.join("journal.tmp").exists());
    let lock = dir.open_lock("lock").unwrap();
    assert_eq!(lock.metadata().unwrap().mode() & 0o7777, 0o600);
}

#[test]
fn a_state_dir_others_may_write_or_own_is_refused_with_21() {
    let base = tempfile::tempdir().unwrap();
    for (name, mode, owner) in [
        ("open", 0o777, None),
        ("group", 0o770, None),
        ("theirs", 0o700, Some(65534)),
    ] {
        let root = base.path().join(name);
        fs::create_dir(&root).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(mode)).unwrap();
        if let Some(uid) = owner {
            std::os::unix::fs::chown(&root, Some(uid), Some(uid)).unwrap();
        }
        let engine = Engine::new(&root, base.path().join("resolv.conf"));
        let e = engine.lock().unwrap_err();
        assert_eq!(e.code(), 21, "{name}: {e}");
        assert!(e.to_string().contains(&root.display().to_string()), "{e}");
        let e = engine
            .store
            .save(Which::Running, &one_net("n"))
            .unwrap_err();
        assert_eq!(e.code(), 21, "{name}: {e}");
        assert!(engine.store.load(Which::Running).is_err(), "{name}");
        // Nothing was created in it.
        assert_eq!(fs::read_dir(&root).unwrap().count(), 0, "{name}");
    }
}

#[test]
fn a_running_link_pointing_outside_is_refused_and_its_target_kept() {
    let base = tempfile::tempdir().unwrap();
    let v = victim(base.path());
    let root = base.path().join("state");
    let store = Store::new(&root);
    store.save(Which::Running, &one_net("n1")).unwrap();
    for planted in [
        v.clone(),
        "../victim".into(),
        ".running.x/../../victim".into(),
    ] {
        fs::remove_file(root.join("running")).unwrap();
        std::os::unix::fs::symlink(&planted, root.join("running")).unwrap();
        let fresh = Store::new(&root);
        let e = fresh.save(Which::Running, &one_net("n2")).unwrap_err();
        assert_eq!(e.code(), 21, "{e}");
        assert!(e.to_string().contains("running"), "{e}");
        fresh.settle();
        let e = fresh.load(Which::Running).unwrap_err();
        assert_eq!(e.code(), 21, "{e}");
        victim_intact(&v);
        // The refusal left the planted link as it was.
        assert_eq!(fs::read_link(root.join("running")).unwrap(), planted);
    }
    // Crash recovery's sweep does not follow it either.
    store.remove_orphans();
    victim_intact(&v);
}

#[test]
fn a_real_directory_in_place_of_the_running_link_is_refused() {
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("state");
    fs::create_dir_all(root.join("running/nets")).unwrap();
    let e = Store::new(&root).load(Which::Running).unwrap_err();
    assert_eq!(e.code(), 21, "{e}");
}

#[test]
fn planted_lock_journal_and_marker_links_are_not_written_through() {
    let base = tempfile::tempdir().unwrap();
    let v = victim(base.path());
    let root = base.path().join("state");
    fs::create_dir(&root).unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o700)).unwrap();
    let target = v.join("sub/keep");
    std::os::unix::fs::symlink(&target, root.join("lock")).unwrap();
    let engine = Engine::new(&root, base.path().join("resolv.conf"));
    let e = engine.lock().unwrap_err();
    assert_eq!(e.code(), 21, "{e}");
    assert!(e.to_string().contains("lock"), "{e}");
    fs::remove_file(root.join("lock")).unwrap();
    // A journal link: recovery refuses to read through it.
    std::os::unix::fs::symlink(&target, root.join("journal")).unwrap();
    let e = engine.lock().unwrap_err();
    assert_eq!(e.code(), 21, "{e}");
    assert!(e.to_string().contains("journal"), "{e}");
    victim_intact(&v);
    assert_eq!(fs::metadata(&target).unwrap().mode() & 0o777, 0o644);
}

#[test]
fn a_dangling_running_link_is_an_error_not_an_empty_config() {
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("state");
    let store = Store::new(&root);
    store.save(Which::Running, &one_net("n1")).unwrap();
    let target = fs::read_link(root.join("running")).unwrap();
    fs::remove_dir_all(root.join(&target)).unwrap();
    for s in [Store::new(&root), store] {
        let e = s.load(Which::Running).unwrap_err();
        assert_eq!(e.code(), 29, "{e}");
        assert!(
            e.to_string().contains("running") && e.to_string().contains("missing"),
            "{e}"
        );
    }
    let engine = Engine::new(&root, base.path().join("resolv.conf"));
    assert!(engine.running().is_err());
}

#[test]
fn a_save_that_fails_half_way_leaves_no_generation_behind() {
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("state");
    let store = Store::new(&root);
    let good = one_net("n1");
    store.save(Which::Running, &good).unwrap();
    store.settle();
    let list = || {
        let mut names: Vec<_> = fs::read_dir(&root)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        names
    };
    let before = list();
    // The second entity cannot be created (a name longer than NAME_MAX):
    // the write fails after the generation dir and a first file exist.
    let mut bad = good.clone();
    bad.networks.insert("z".repeat(300), NetAttrs::default());
    let e = store.save(Which::Running, &bad).unwrap_err();
    assert_eq!(e.code(), 29, "{e}");
    assert_eq!(list(), before, "nothing left by the failed save");
    assert_eq!(Store::new(&root).load(Which::Running).unwrap(), good);
}
