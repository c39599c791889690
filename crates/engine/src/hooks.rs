//! Hooks as VDSM has them: executables an administrator drops into
//! `<hooks-dir>/before_network_setup/` and `<hooks-dir>/after_network_setup/`.
//!
//! Each runs with no arguments, in file name order, with the environment
//! variable `_hook_json` naming a file that holds
//! `{"request": {"networks": .., "bondings": .., "options": ..}}`. A
//! before-hook may rewrite that file: the next hook, and then the setup,
//! see the rewritten request. A before-hook that fails, hangs or leaves
//! something that is not such an object fails the request before anything
//! changes. After-hooks also get `"outcome": {"status": {"code", "message"}}`
//! and run whether the setup succeeded or failed; their failures are logged
//! and change nothing.
//!
//! Hooks are run by path with fixed arguments; no shell is involved and no
//! request string reaches a command line.
//!
//! Hooks run as root, so only trusted ones run: the hooks dir, the stage
//! dir and the hook (the file it resolves to) must be owned by root (or the
//! user running netswitch) and writable by no one else. An untrusted
//! before-hook fails the setup (29, naming the hook and why) before
//! anything changes — skipping it would apply a request the administrator
//! meant the hook to rewrite; an untrusted after-hook is not run and is
//! logged. Each hook runs in a process group of its own, killed as a whole
//! when it runs too long, so nothing it started outlives it; each of its
//! output streams is kept up to [`OUTPUT_LIMIT`] bytes for the log, the
//! rest read and dropped (with a warning) so the hook never blocks on a
//! full pipe.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use netswitch_model::error::{clip, Code};
use serde_json::{json, Map, Value};
use tracing::{debug, info, warn};

/// Hooks run before a setup; they may rewrite the request.
pub const BEFORE_NETWORK_SETUP: &str = "before_network_setup";
/// Hooks run after a setup, whatever its outcome.
pub const AFTER_NETWORK_SETUP: &str = "after_network_setup";
/// The environment variable naming the request file (VDSM's name).
pub const HOOK_JSON_ENV: &str = "_hook_json";
/// How long one hook may run before it is killed and counted as failed.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(60);
/// How much of each of a hook's output streams is kept.
pub const OUTPUT_LIMIT: u64 = 1 << 20;

/// Why a before-hook stopped the request; names the hook.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The hook could not be started, exited non-zero, or ran too long.
    #[error("hook {hook} failed: {reason}")]
    Failed { hook: String, reason: String },
    /// The hook left a request file that is not `{"request": {..}}`.
    #[error("hook {hook} left a bad request: {reason}")]
    BadRequest { hook: String, reason: String },
    /// The request file could not be written.
    #[error("hooks: {0}")]
    Io(String),
    /// The hook, or a directory it is in, may be changed by others than
    /// root; it was not run.
    #[error("hook {hook} refused: {reason}; not run")]
    Untrusted { hook: String, reason: String },
}

impl HookError {
    /// The VDSM code: a broken rewrite is a bad request (21); a hook that
    /// fails is a failed operation (29). Either way nothing was changed.
    pub fn code(&self) -> u8 {
        match self {
            HookError::BadRequest { .. } => Code::BadParams.number(),
            HookError::Failed { .. } | HookError::Io(_) | HookError::Untrusted { .. } => {
                Code::BackendFailed.number()
            }
        }
    }
}

/// The executables of `<dir>/<stage>/` in name order; none when the
/// directory is missing. Hidden files and non-executables are skipped,
/// as VDSM does.
pub fn list(dir: &Path, stage: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir.join(stage)) else {
        return Vec::new();
    };
    let mut hooks: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let hidden = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_none_or(|n| n.starts_with('.'));
            let executable = fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false);
            if !hidden && !executable {
                debug!(hook = %p.display(), "not executable; skipped");
            }
            !hidden && executable
        })
        .collect();
    hooks.sort();
    hooks
}

fn hook_name(stage: &str, hook: &Path) -> String {
    format!(
        "{stage}/{}",
        hook.file_name().unwrap_or_default().to_string_lossy()
    )
}

/// The request as hooks see it: the three sections, each an object.
pub fn request_value(doc: &Value) -> Value {
    let mut out = Map::new();
    for key in ["networks", "bondings", "options"] {
        out.insert(
            key.to_string(),
            doc.get(key).cloned().unwrap_or_else(|| json!({})),
        );
    }
    if let Value::Object(o) = doc {
        // Anything else the caller sent goes along too, so the parser
        // still sees (and refuses) it after the hooks.
        for (k, v) in o {
            out.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    Value::Object(out)
}

/// Why `hook` may not run as root: it, its stage dir or the hooks dir is
/// owned by someone else than root or the effective user, or writable by
/// group or others.
pub fn untrusted(dir: &Path, stage: &str, hook: &Path) -> Option<String> {
    let stage_dir = dir.join(stage);
    for (path, what) in [
        (dir, "the hooks dir"),
        (stage_dir.as_path(), "the stage dir"),
        (hook, "the hook"),
    ] {
        let meta = match fs::metadata(path) {
            Ok(m) => m,
            Err(e) => return Some(format!("{}: {e}", path.display())),
        };
        if let Err(e) = crate::statedir::check_owner_and_mode(path, &meta, what) {
            return Some(e.to_string());
        }
    }
    None
}

/// Reads a hook's output stream: the first [`OUTPUT_LIMIT`] bytes kept,
/// the rest read to the end and counted, so the hook never blocks on a
/// full pipe and its output never fills memory.
fn drain(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<(Vec<u8>, u64)> {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("hook-output".into())
        .spawn(move || {
            let mut kept = Vec::new();
            let mut head = stream.take(OUTPUT_LIMIT);
            let _ = head.read_to_end(&mut kept);
            let dropped = std::io::copy(&mut head.into_inner(), &mut std::io::sink()).unwrap_or(0);
            let _ = tx.send((kept, dropped));
        });
    if spawned.is_err() {
        warn!("no thread to read a hook's output");
    }
    rx
}

/// Waits for `child` up to `timeout`; past it, kills its whole process
/// group (the hook and anything it started) and says so.
fn wait_or_kill(child: &mut Child, timeout: Duration) -> Result<ExitStatus, String> {
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if started.elapsed() > timeout => {
                kill_group(child);
                let _ = child.wait();
                return Err(format!(
                    "still running after {} s; killed with everything it started",
                    timeout.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                kill_group(child);
                let _ = child.wait();
                return Err(e.to_string());
            }
        }
    }
}

fn kill_group(child: &Child) {
    if let Ok(pgid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) with a negative pid signals the process group the
        // hook leads (spawned with process_group(0)); no memory is touched.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

/// Runs one hook with `_hook_json` pointing at `file`, in a process group
/// of its own, for up to `timeout`.
fn run_one(stage: &str, hook: &Path, file: &Path, timeout: Duration) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let name = hook_name(stage, hook);
    let started = Instant::now();
    let mut child = Command::new(hook)
        .env(HOOK_JSON_ENV, file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run it: {e}"))?;
    let streams = [
        child.stdout.take().map(drain),
        child.stderr.take().map(drain),
    ];
    let status = wait_or_kill(&mut child, timeout);
    // Whatever the hook left behind in its group goes too: nothing it
    // started may hold its output open (or run on) past it.
    kill_group(&child);
    let mut text = String::new();
    for rx in streams.into_iter().flatten() {
        // A process that left the group (setsid) may hold the pipe open:
        // its reader is left behind rather than waited for.
        let Ok((kept, dropped)) = rx.recv_timeout(Duration::from_secs(5)) else {
            continue;
        };
        if dropped > 0 {
            warn!(hook = %name, kept = kept.len(), dropped, "hook output over the limit; the rest dropped");
        }
        text.push_str(&String::from_utf8_lossy(&kept));
    }
    let status = status?;
    let text = text.trim();
    info!(
        hook = %name,
        status = %status,
        elapsed_ms = started.elapsed().as_millis() as u64,
        output = %clip(text, 2000),
        "hook ran"
    );
    if status.success() {
        Ok(())
    } else if text.is_empty() {
        Err(format!("{status}"))
    } else {
        Err(format!("{status}: {}", clip(text, 500)))
    }
}

/// Reads back the request a hook left in `file`.
fn read_back(file: &Path) -> Result<Value, String> {
    let text = fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let doc: Value = serde_json::from_slice(&text).map_err(|e| format!("not valid JSON: {e}"))?;
    match doc.get("request") {
        Some(r @ Value::Object(_)) => Ok(r.clone()),
        _ => Err("no \"request\" object at the top level".into()),
    }
}

/// Runs the before-hooks on `request` (as [`request_value`] shapes it) and
/// returns the request they leave; `None` when there are no hooks.
pub fn before_network_setup(dir: &Path, request: &Value) -> Result<Option<Value>, HookError> {
    before_network_setup_within(dir, request, HOOK_TIMEOUT)
}

/// [`before_network_setup`] with each hook given `timeout`.
pub fn before_network_setup_within(
    dir: &Path,
    request: &Value,
    timeout: Duration,
) -> Result<Option<Value>, HookError> {
    let hooks = list(dir, BEFORE_NETWORK_SETUP);
    // All are checked before any runs: a refusal changes nothing.
    for hook in &hooks {
        if let Some(reason) = untrusted(dir, BEFORE_NETWORK_SETUP, hook) {
            return Err(HookError::Untrusted {
                hook: hook_name(BEFORE_NETWORK_SETUP, hook),
                reason,
            });
        }
    }
    if hooks.is_empty() {
        return Ok(None);
    }
    let tmp = tempfile::tempdir().map_err(|e| HookError::Io(e.to_string()))?;
    let file = tmp.path().join("request.json");
    let mut current = request.clone();
    for hook in &hooks {
        let text = serde_json::to_vec_pretty(&json!({ "request": current }))
            .map_err(|e| HookError::Io(e.to_string()))?;
        fs::write(&file, text).map_err(|e| HookError::Io(format!("{}: {e}", file.display())))?;
        let name = hook_name(BEFORE_NETWORK_SETUP, hook);
        run_one(BEFORE_NETWORK_SETUP, hook, &file, timeout).map_err(|reason| {
            HookError::Failed {
                hook: name.clone(),
                reason,
            }
        })?;
        current =
            read_back(&file).map_err(|reason| HookError::BadRequest { hook: name, reason })?;
    }
    Ok(Some(current))
}

/// Runs the after-hooks with the request and the outcome (`code` 0 and
/// "Done" on success). Failures are logged only: the setup is over.
pub fn after_network_setup(dir: &Path, request: &Value, code: u8, message: &str) {
    let hooks = list(dir, AFTER_NETWORK_SETUP);
    if hooks.is_empty() {
        return;
    }
    let run = || -> Result<(), String> {
        let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
        let file = tmp.path().join("request.json");
        let doc = json!({
            "request": request,
            "outcome": {"status": {"code": code, "message": message}},
        });
        for hook in &hooks {
            // Each hook gets the same document, whatever the previous did.
            fs::write(&file, doc.to_string()).map_err(|e| e.to_string())?;
            if let Some(why) = untrusted(dir, AFTER_NETWORK_SETUP, hook) {
                warn!(hook = %hook_name(AFTER_NETWORK_SETUP, hook), "after-hook refused, not run: {why}");
                continue;
            }
            if let Err(why) = run_one(AFTER_NETWORK_SETUP, hook, &file, HOOK_TIMEOUT) {
                warn!(hook = %hook_name(AFTER_NETWORK_SETUP, hook), "after-hook failed: {why}");
            }
        }
        Ok(())
    };
    if let Err(e) = run() {
        warn!("after-hooks not run: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(dir: &Path, name: &str, body: &str, mode: u32) {
        let p = dir.join(name);
        fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn executables_are_listed_in_name_order_and_others_skipped() {
        let root = tempfile::tempdir().unwrap();
        let d = root.path().join(BEFORE_NETWORK_SETUP);
        fs::create_dir(&d).unwrap();
        script(&d, "20-b", "", 0o755);
        script(&d, "10-a", "", 0o700);
        script(&d, "15-plain", "", 0o644);
        script(&d, ".hidden", "", 0o755);
        fs::create_dir(d.join("30-dir")).unwrap();
        let names: Vec<String> = list(root.path(), BEFORE_NETWORK_SETUP)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["10-a", "20-b"]);
        assert!(list(root.path(), AFTER_NETWORK_SETUP).is_empty());
    }

    #[test]
    fn a_rewrite_is_passed_on_and_a_failure_names_the_hook() {
        let root = tempfile::tempdir().unwrap();
        let d = root.path().join(BEFORE_NETWORK_SETUP);
        fs::create_dir(&d).unwrap();
        script(
            &d,
            "10-rewrite",
            "echo '{\"request\": {\"networks\": {\"x\": {}}}}' > \"$_hook_json\"",
            0o755,
        );
        let req = request_value(&json!({"networks": {}}));
        let out = before_network_setup(root.path(), &req).unwrap().unwrap();
        assert_eq!(out, json!({"networks": {"x": {}}}));
        script(&d, "20-fail", "echo nope >&2; exit 4", 0o755);
        let e = before_network_setup(root.path(), &req).unwrap_err();
        assert_eq!(e.code(), 29);
        assert!(
            e.to_string().contains("before_network_setup/20-fail")
                && e.to_string().contains("nope"),
            "{e}"
        );
    }
}
