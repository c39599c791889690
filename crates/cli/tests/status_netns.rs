//! The daemon's read-only status page in headless Chromium (Debian's
//! `chromium`): it draws the host and lists its networks, and an event
//! shows up live when a link goes down, and the picture redraws itself
//! with that link down. The screenshot is kept under the target dir
//! (`status-page.png`).

mod common;
#[path = "support/daemon.rs"]
mod daemon;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

use common::Host;
use daemon::Daemon;
use serde_json::{json, Value};

const ADDR: &str = "127.0.0.1:8080";

/// A raw HTTP request inside the host's namespace; the whole answer.
fn http(host: &Host, request: &str) -> String {
    host.ns.run(|| {
        let mut s = std::net::TcpStream::connect(ADDR).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    })
}

/// A GET's status line, checked to be 200 with the content type; the body.
fn get(host: &Host, path: &str, kind: &str) -> String {
    let answer = http(host, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"));
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{path}: {head}");
    assert!(
        head.contains(&format!("Content-Type: {kind}")),
        "{path}: {head}"
    );
    body.to_string()
}

#[test]
fn the_page_draws_the_host_lists_its_networks_and_shows_events_live() {
    if !Path::new("/usr/bin/chromium").exists() {
        eprintln!("skipped: no /usr/bin/chromium (tests/run-all installs it)");
        return;
    }
    let host = Host::new();
    // A VLAN where the kernel has 8021q (the lab); a bridge everywhere.
    let vlans = host
        .ns
        .try_ip(&[
            "link", "add", "link", "veth_b0", "name", "probe.9", "type", "vlan", "id", "9",
        ])
        .is_ok();
    let mut networks = json!({"net_br": {"nic": "veth_a0", "ipaddr": "10.2.0.1", "prefix": 24}});
    if vlans {
        host.ns.ip(&["link", "del", "probe.9"]);
        networks["net_vlan"] = json!({"nic": "veth_b0", "vlan": 10, "bridged": true});
    } else {
        eprintln!("no 8021q in this kernel: the page is checked with the bridge only");
    }
    host.setup(json!({"networks": networks}));
    let d = Daemon::start_daemon_args(&host, &["--http", ADDR]);

    let status = |req: &str| http(&host, req).lines().next().unwrap_or("").to_string();
    assert!(status("POST / HTTP/1.1\r\nHost: x\r\n\r\n").contains("405"));
    assert!(status("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").contains("404"));
    // What the page fetches to redraw: the picture and the table alone.
    let svg = get(&host, "/caps.svg", "image/svg+xml");
    assert!(svg.starts_with("<?xml") && svg.contains(r#"data-node="net:net_br""#));
    let table = get(&host, "/networks", "text/html");
    assert!(table.starts_with("<table id=\"networks\">") && table.contains("<td>net_br</td>"));

    let png = Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    let _ = std::fs::remove_file(&png);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/status/cdp.py");
    let out = Command::new("ip")
        .args(["netns", "exec", host.ns.name(), "python3"])
        .arg(script)
        .arg(format!("http://{ADDR}/"))
        .arg(&png)
        .args([
            "veth_b1",
            "dev:veth_b1",
            "ip",
            "link",
            "set",
            "veth_b1",
            "down",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(text.trim()).unwrap();
    let svg = v["svg"].as_str().unwrap();
    assert!(svg.contains("net_br") && svg.contains("veth_a0"), "{svg}");
    let rows = v["rows"].as_array().unwrap();
    let row = |name: &str| rows.iter().find(|r| r[0] == name).cloned();
    let br = row("net_br").expect("net_br in the table");
    assert_eq!(br[2], "yes");
    assert_eq!(br[7], "10.2.0.1/255.255.255.0");
    if vlans {
        assert!(svg.contains("net_vlan"), "{svg}");
        assert_eq!(row("net_vlan").expect("net_vlan in the table")[5], "10");
    }
    let live = v["live"].to_string();
    assert!(
        live.contains("link.down") && live.contains("veth_b1"),
        "{live}"
    );
    // The picture redrew itself: the link that went down is drawn down.
    assert_eq!(v["before"], "node nic up", "{v}");
    assert_eq!(v["after"], "node nic down", "{v}");
    assert!(v["redraws"].as_str().is_some_and(|n| n != "0"), "{v}");
    let shot = std::fs::read(&png).unwrap();
    assert!(
        shot.starts_with(b"\x89PNG") && shot.len() > 10_000,
        "{} bytes",
        shot.len()
    );
    eprintln!("screenshot: {}", png.display());
    drop(d);
}
