//! Hooks in a scratch namespace: real shell scripts in a temporary hooks
//! dir, run by `netswitch setup --hooks-dir DIR` before and after the setup.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::Host;
use serde_json::{json, Value};

/// A hooks dir with its two stage directories.
struct Hooks {
    dir: tempfile::TempDir,
}

impl Hooks {
    fn new() -> Hooks {
        let dir = tempfile::tempdir().unwrap();
        for stage in ["before_network_setup", "after_network_setup"] {
            std::fs::create_dir(dir.path().join(stage)).unwrap();
        }
        Hooks { dir }
    }

    fn path(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }

    /// A shell script hook, executable unless `mode` says otherwise.
    fn add(&self, stage: &str, name: &str, body: &str, mode: u32) -> PathBuf {
        let p = self.dir.path().join(stage).join(name);
        std::fs::write(&p, format!("#!/bin/sh\nset -e\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.file(name)).unwrap_or_default()
    }
}

fn setup_with_hooks(h: &Host, hooks: &Hooks, req: &Value) -> (i32, String) {
    let (code, out, err) = h.netswitch(&["--hooks-dir", hooks.path(), "setup", "-"], Some(req));
    (code, format!("{err}{out}"))
}

fn json_file(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn before_hooks_run_in_name_order_and_may_rewrite_the_request() {
    let h = Host::new();
    let hooks = Hooks::new();
    let log = hooks.file("log");
    let log = log.to_str().unwrap();
    // 20 moves the network to the other nic; 10 runs first and sees the
    // request as sent; 30 sees 20's rewrite.
    hooks.add(
        "before_network_setup",
        "20-move-nic",
        &format!("echo 20 >> {log}\nsed -i 's/veth_a0/veth_b0/' \"$_hook_json\""),
        0o755,
    );
    hooks.add(
        "before_network_setup",
        "10-first",
        &format!(
            "echo 10 >> {log}\ncp \"$_hook_json\" {}",
            hooks.file("seen-by-10").display()
        ),
        0o755,
    );
    hooks.add(
        "before_network_setup",
        "30-last",
        &format!(
            "echo 30 >> {log}\ncp \"$_hook_json\" {}",
            hooks.file("seen-by-30").display()
        ),
        0o755,
    );
    // Neither a non-executable file nor a hidden one runs.
    hooks.add(
        "before_network_setup",
        "15-not-executable",
        &format!("echo 15 >> {log}"),
        0o644,
    );
    hooks.add(
        "before_network_setup",
        ".05-hidden",
        &format!("echo 05 >> {log}"),
        0o755,
    );

    let (code, out) =
        setup_with_hooks(&h, &hooks, &json!({"networks": {"n1": {"nic": "veth_a0"}}}));
    assert_eq!(code, 0, "{out}");
    assert_eq!(hooks.read("log"), "10\n20\n30\n");
    let seen = json_file(&hooks.file("seen-by-10"));
    assert_eq!(
        seen,
        json!({"request": {"networks": {"n1": {"nic": "veth_a0"}}, "bondings": {}, "options": {}}})
    );
    assert_eq!(
        json_file(&hooks.file("seen-by-30"))["request"]["networks"]["n1"]["nic"],
        "veth_b0"
    );
    // The rewritten request is what the host got.
    assert_eq!(h.link("veth_b0").unwrap()["master"], "n1");
    assert!(h.link("veth_a0").unwrap().get("master").is_none());
    assert_eq!(h.running().networks["n1"].nic.as_deref(), Some("veth_b0"));
}

#[test]
fn hooks_see_a_yaml_request_as_json() {
    let h = Host::new();
    let hooks = Hooks::new();
    hooks.add(
        "before_network_setup",
        "10-copy",
        &format!("cp \"$_hook_json\" {}", hooks.file("seen").display()),
        0o755,
    );
    let req = h.state.path().join("req.yaml");
    std::fs::write(
        &req,
        "networks:\n  n1:\n    nic: veth_a0\n    bridged: false\n",
    )
    .unwrap();
    let (code, _, err) = h.netswitch(
        &["--hooks-dir", hooks.path(), "setup", req.to_str().unwrap()],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        json_file(&hooks.file("seen"))["request"]["networks"]["n1"],
        json!({"nic": "veth_a0", "bridged": false})
    );
}

#[test]
fn after_hooks_get_the_request_and_the_outcome_on_success_and_failure() {
    let h = Host::new();
    let hooks = Hooks::new();
    let out = hooks.file("after");
    hooks.add(
        "after_network_setup",
        "50-record",
        &format!("cp \"$_hook_json\" {}", out.display()),
        0o755,
    );
    // A failing after-hook is logged; it changes neither the outcome nor
    // whether the later ones run.
    hooks.add("after_network_setup", "10-fails", "exit 7", 0o755);

    let (code, text) =
        setup_with_hooks(&h, &hooks, &json!({"networks": {"n1": {"nic": "veth_a0"}}}));
    assert_eq!(code, 0, "{text}");
    let doc = json_file(&out);
    assert_eq!(doc["request"]["networks"]["n1"]["nic"], "veth_a0");
    assert_eq!(
        doc["outcome"]["status"],
        json!({"code": 0, "message": "Done"})
    );

    // A request the kernel refuses (IPv6 is off for new devices, so the
    // IPv6 address fails): rolled back with 29; the after-hook still runs
    // and is told so.
    h.ns.exec(&["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
    let bad = json!({"networks": {"n2": {"nic": "veth_b0", "ipaddr": "192.0.2.10", "prefix": 24,
                                          "ipv6addr": "2001:db8:5::10/64", "gateway": "192.0.2.1", "defaultRoute": true}}});
    let (code, text) = setup_with_hooks(&h, &hooks, &bad);
    assert_eq!(code, 29, "{text}");
    let doc = json_file(&out);
    assert_eq!(doc["request"]["networks"]["n2"]["gateway"], "192.0.2.1");
    assert_eq!(doc["outcome"]["status"]["code"], 29);
    assert!(
        doc["outcome"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("rolled back"),
        "{doc}"
    );
    // And a request refused by validation (23) too.
    let (code, _) = setup_with_hooks(&h, &hooks, &json!({"networks": {"n3": {"nic": "nope0"}}}));
    assert_eq!(code, 23);
    assert_eq!(json_file(&out)["outcome"]["status"]["code"], 23);
}

#[test]
fn a_failing_before_hook_fails_the_request_naming_it_and_changes_nothing() {
    let h = Host::new();
    h.setup(json!({"networks": {"keep": {"nic": "veth_b0"}}}));
    let before = h.facts();
    let running = h.running();
    let hooks = Hooks::new();
    let ran_after = hooks.file("after-ran");
    hooks.add(
        "after_network_setup",
        "10-mark",
        &format!("touch {}", ran_after.display()),
        0o755,
    );
    let req = json!({"networks": {"n1": {"nic": "veth_a0"}, "keep": {"remove": true}}});

    hooks.add(
        "before_network_setup",
        "10-refuse",
        "echo 'site policy: no new networks today' >&2\nexit 3",
        0o755,
    );
    let (code, text) = setup_with_hooks(&h, &hooks, &req);
    assert_eq!(code, 29, "{text}");
    assert!(
        text.contains("hook before_network_setup/10-refuse failed")
            && text.contains("site policy: no new networks today"),
        "{text}"
    );
    assert_eq!(h.facts(), before);
    assert_eq!(h.running(), running);
    assert!(!ran_after.exists(), "no setup ran, so no after-hook either");

    // A hook that leaves something that is not a request: code 21.
    std::fs::remove_file(hooks.dir.path().join("before_network_setup/10-refuse")).unwrap();
    let bad = hooks.add(
        "before_network_setup",
        "20-garbles",
        "echo '{\"request\": {\"networks\": ' > \"$_hook_json\"",
        0o755,
    );
    let (code, text) = setup_with_hooks(&h, &hooks, &req);
    assert_eq!(code, 21, "{text}");
    assert!(
        text.contains("hook before_network_setup/20-garbles left a bad request: not valid JSON"),
        "{text}"
    );
    std::fs::write(&bad, "#!/bin/sh\necho '[1, 2]' > \"$_hook_json\"\n").unwrap();
    let (code, text) = setup_with_hooks(&h, &hooks, &req);
    assert_eq!(code, 21, "{text}");
    assert!(text.contains("no \"request\" object"), "{text}");
    // A hook that deletes the file.
    std::fs::write(&bad, "#!/bin/sh\nrm \"$_hook_json\"\n").unwrap();
    let (code, text) = setup_with_hooks(&h, &hooks, &req);
    assert_eq!(code, 21, "{text}");
    assert_eq!(h.facts(), before);
    assert_eq!(h.running(), running);

    // A rewrite that breaks a rule gets that rule's code, as any request.
    std::fs::write(
        &bad,
        "#!/bin/sh\nsed -i 's/veth_a0/nope0/' \"$_hook_json\"\n",
    )
    .unwrap();
    let (code, text) = setup_with_hooks(&h, &hooks, &req);
    assert_eq!(code, 23, "{text}");
    assert!(text.contains("nope0"), "{text}");
    assert_eq!(h.facts(), before);
}

#[test]
fn without_hooks_dir_nothing_runs() {
    // The default dir (/etc/netswitch/hooks.d) is absent here; a missing
    // dir given explicitly is no error either.
    let h = Host::new();
    let (code, _, err) = h.netswitch(
        &["--hooks-dir", "/nonexistent/hooks", "setup", "-"],
        Some(&json!({"networks": {"n1": {"nic": "veth_a0"}}})),
    );
    assert_eq!(code, 0, "{err}");
}
