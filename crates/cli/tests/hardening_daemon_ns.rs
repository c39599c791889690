//! One rule for a request in-process and through the daemon: what one path
//! accepts the other does too (`"options": null` was accepted in-process
//! and refused through the daemon).

mod common;
#[path = "support/daemon.rs"]
mod daemon;

use common::Host;
use daemon::Daemon;
use serde_json::{json, Value};

fn setup(h: &Host, socket: &str, req: &Value) -> (i32, String) {
    let (code, out, err) = h.netswitch(&["--socket", socket, "setup", "-"], Some(req));
    (code, format!("{err}{out}"))
}

#[test]
fn null_sections_are_read_alike_in_process_and_through_the_daemon() {
    let h = Host::new();
    let d = Daemon::start(&h);
    let remote = d.socket.to_str().unwrap().to_string();
    let local = "/nonexistent/netswitch.sock".to_string();
    for (i, path) in [&local, &remote].into_iter().enumerate() {
        let net = format!("n{i}");
        let req = json!({"networks": {&net: {"nic": "veth_a0", "bridged": false}}, "bondings": null, "options": null});
        let (code, out) = setup(&h, path, &req);
        assert_eq!(code, 0, "{path}: {out}");
        assert!(h.running().networks.contains_key(&net), "{path}");
        let (code, out) = setup(
            &h,
            path,
            &json!({"networks": {&net: {"remove": true}}, "options": null}),
        );
        assert_eq!(code, 0, "{path}: {out}");
        // An options section of the wrong type is refused alike.
        let (code, out) = setup(&h, path, &json!({"networks": {}, "options": [1]}));
        assert_eq!(code, 21, "{path}: {out}");
    }
    // A raw JSON-RPC caller gets the same rule.
    let mut client = netswitch_daemon::Client::connect(&d.socket).unwrap();
    let answer = client
        .call(
            "Host.setupNetworks",
            json!({"networks": {}, "bondings": null, "options": null}),
        )
        .expect("options null through JSON-RPC");
    assert_eq!(answer["status"]["code"], 0, "{answer}");
}
