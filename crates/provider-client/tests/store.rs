//! The provider client's checks and files, without a provider: what is
//! refused writes nothing, what is kept is private, and what a vNIC uses
//! cannot be forgotten under it. (The calls to a real provider are the
//! CLI's and the daemon's tests: `crates/cli/tests/provider_*_netns.rs`.)

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use netswitch_provider_client::ops::{self, AddRequest};
use netswitch_provider_client::{External, PortRecord, Store};

fn request(name: &str) -> AddRequest {
    AddRequest {
        name: name.into(),
        auth_url: "http://127.0.0.1:1/v3".into(),
        user: "admin".into(),
        password: "secret".into(),
        ..AddRequest::default()
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_refused_add_writes_nothing_and_says_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let cases: [(AddRequest, &str); 6] = [
        (request("../x"), "\"../x\""),
        (request(""), "\"\""),
        (
            AddRequest {
                auth_url: "ftp://x".into(),
                ..request("p")
            },
            "authUrl",
        ),
        (
            AddRequest {
                url: Some("http://".into()),
                ..request("p")
            },
            "url",
        ),
        (
            AddRequest {
                user: String::new(),
                ..request("p")
            },
            "user",
        ),
        (
            AddRequest {
                keystone_version: Some("4".into()),
                ..request("p")
            },
            "keystoneVersion",
        ),
    ];
    for (req, says) in cases {
        let e = ops::add(&store, &req).expect_err(says);
        assert_eq!(e.code, 21, "{e}");
        assert!(e.message.contains(says), "{e}");
    }
    assert!(!dir.path().join("providers").exists());
}

#[test]
fn the_password_is_kept_apart_and_private() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let p = ops::add(&store, &request("p")).unwrap();
    assert_eq!(p.keystone_version, netswitch_neutron_client::Version::V3);
    let providers = dir.path().join("providers");
    assert_eq!(mode(&providers), 0o700);
    assert_eq!(mode(&providers.join("p.secret")), 0o600);
    assert_eq!(mode(&providers.join("p.json")), 0o600);
    let record = std::fs::read_to_string(providers.join("p.json")).unwrap();
    assert!(!record.contains("secret"), "{record}");
    assert_eq!(store.secret("p").unwrap().password, "secret");
    std::fs::set_permissions(providers.join("p.secret"), PermissionsExt::from_mode(0o640)).unwrap();
    let e = store.secret("p").err().unwrap();
    assert_eq!(e.code, 21);
    assert!(
        e.message.contains("0600") && e.message.contains("640"),
        "{e}"
    );
    assert_eq!(ops::client(&store, "nosuch").err().unwrap().code, 27);
}

#[test]
fn what_a_vnic_uses_is_not_forgotten_under_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    ops::add(&store, &request("p")).unwrap();
    let red = External {
        provider: "p".into(),
        id: "net-1".into(),
        name: "red".into(),
    };
    store.save_external(&red).unwrap();
    let port = PortRecord {
        provider: "p".into(),
        network_id: "net-1".into(),
        port_id: "port-1".into(),
        vnic_id: "vnic-1".into(),
        vm_id: "vm-1".into(),
        mac: "52:54:00:00:00:01".into(),
    };
    store.save_port("tap1", &port).unwrap();
    for e in [
        ops::remove(&store, "p").err().unwrap(),
        ops::unimport(&store, "red").err().unwrap(),
    ] {
        assert_eq!(e.code, 21, "{e}");
        assert!(e.message.contains("tap1"), "{e}");
    }
    assert_eq!(
        netswitch_provider_client::port::device_of(&store, "vm-1", "52:54:00:00:00:01")
            .unwrap()
            .as_deref(),
        Some("tap1")
    );
    store.remove_port("tap1").unwrap();
    assert_eq!(ops::unimport(&store, "red").unwrap(), red);
    assert_eq!(ops::unimport(&store, "red").err().unwrap().code, 27);
    store.save_external(&red).unwrap();
    ops::remove(&store, "p").unwrap();
    assert!(store.externals().unwrap().is_empty(), "its networks go too");
    assert_eq!(store.provider("p").err().unwrap().code, 27);
}
