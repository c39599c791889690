//! Golden pictures of caps reports, the well-formedness of what is drawn,
//! and the layout's crossing reduction.
//!
//! `NETSWITCH_BLESS=1 cargo test -p netswitch-draw` rewrites the golden
//! `.dot` and `.svg` files from the `.json` reports next to them.

use std::path::{Path, PathBuf};
use std::process::Command;

use netswitch_draw::{draw, layout, Format, Graph, NodeKind, State};
use netswitch_model::caps::Caps;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn fixtures() -> Vec<(String, Caps)> {
    let mut out = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("golden dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    for p in paths {
        let text = std::fs::read_to_string(&p).expect("read fixture");
        let caps: Caps = serde_json::from_str(&text).expect("fixture is a caps report");
        let stem = p.file_stem().expect("stem").to_string_lossy().into_owned();
        out.push((stem, caps));
    }
    assert!(out.len() >= 6, "fixtures missing: {out:?}");
    out
}

fn fixture(name: &str) -> Caps {
    fixtures()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, c)| c)
        .expect("fixture")
}

#[test]
fn golden_pictures() {
    let bless = std::env::var_os("NETSWITCH_BLESS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for (name, caps) in fixtures() {
        for (ext, fmt) in [("dot", Format::Dot), ("svg", Format::Svg)] {
            let got = draw(&caps, fmt);
            let path = golden_dir().join(format!("{name}.{ext}"));
            if bless {
                std::fs::write(&path, &got).expect("bless");
                continue;
            }
            let want = std::fs::read_to_string(&path).unwrap_or_default();
            if got != want {
                stale.push(path.display().to_string());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "pictures differ from golden files (NETSWITCH_BLESS=1 rewrites): {stale:?}"
    );
}

#[test]
fn drawing_is_deterministic() {
    for (_, caps) in fixtures() {
        for fmt in [Format::Dot, Format::Svg] {
            assert_eq!(draw(&caps, fmt), draw(&caps, fmt));
        }
    }
}

/// Runs a checker over a file when the tool is installed; `None` when not.
fn check_with(tool: &str, args: &[&str], file: &Path) -> Option<std::process::Output> {
    match Command::new(tool).args(args).arg(file).output() {
        Ok(out) => Some(out),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("{tool} not installed: skipping that check");
            None
        }
        Err(e) => panic!("running {tool}: {e}"),
    }
}

/// A small well-formedness check for when xmllint is missing: tags balance,
/// and every `&` starts one of the five predefined entities.
fn tags_balance(svg: &str) {
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = svg;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').expect("unclosed tag") + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') || tag.ends_with('/') {
            continue;
        }
        let name = tag
            .trim_start_matches('/')
            .split_whitespace()
            .next()
            .unwrap_or("");
        if tag.starts_with('/') {
            assert_eq!(stack.pop(), Some(name), "unbalanced </{name}>");
        } else {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    for (i, _) in svg.match_indices('&') {
        let ok = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
            .iter()
            .any(|e| svg[i..].starts_with(e));
        assert!(ok, "bare & at {i}");
    }
}

#[test]
fn svg_is_well_formed_xml() {
    let dir = std::env::temp_dir().join(format!("netswitch-draw-xml-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    for (name, caps) in fixtures() {
        let svg = draw(&caps, Format::Svg);
        tags_balance(&svg);
        assert!(!svg.contains("<script"), "{name}: scripts");
        assert!(!svg.contains("href"), "{name}: external references");
        let file = dir.join(format!("{name}.svg"));
        std::fs::write(&file, &svg).expect("write svg");
        if let Some(out) = check_with("xmllint", &["--noout"], &file) {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{name}: xmllint: {err}");
        }
    }
    std::fs::remove_dir_all(&dir).expect("clean tmp dir");
}

#[test]
fn dot_is_valid_graphviz() {
    let dir = std::env::temp_dir().join(format!("netswitch-draw-dot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    for (name, caps) in fixtures() {
        let file = dir.join(format!("{name}.dot"));
        std::fs::write(&file, draw(&caps, Format::Dot)).expect("write dot");
        if let Some(out) = check_with("dot", &["-Tsvg", "-o", "/dev/null"], &file) {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success() && err.is_empty(), "{name}: dot: {err}");
        }
    }
    std::fs::remove_dir_all(&dir).expect("clean tmp dir");
}

#[test]
fn odd_names_are_escaped() {
    let caps = fixture("odd_names");
    let svg = draw(&caps, Format::Svg);
    assert!(svg.contains("a&lt;b&gt;&amp;&quot;c&apos;"), "{svg}");
    let dot = draw(&caps, Format::Dot);
    assert!(dot.contains(r#""net:a<b>&\"c'""#), "{dot}");
    assert!(dot.contains(r#""dev:eth\\x""#), "{dot}");
}

fn node_state(g: &Graph, id: &str) -> State {
    g.nodes
        .iter()
        .find(|n| n.id == id)
        .unwrap_or_else(|| panic!("no node {id}"))
        .state
}

#[test]
fn states_follow_the_report() {
    let g = Graph::from_caps(&fixture("down_nic"));
    assert_eq!(node_state(&g, "dev:eth1"), State::Down, "speed 0");
    assert_eq!(node_state(&g, "dev:public"), State::Down, "only port down");
    assert_eq!(node_state(&g, "net:public"), State::Down);
    assert_eq!(node_state(&g, "net:backup"), State::Up);
    assert_eq!(
        node_state(&g, "net:lost"),
        State::Drifted,
        "eth9 not a port"
    );
    assert!(g.notes.iter().any(|n| n.contains("netConfigDirty")));
}

#[test]
fn kinds_take_their_layers() {
    let g = Graph::from_caps(&fixture("bond_vlans_bridged"));
    let lay = layout::place(&g);
    let kinds: Vec<Vec<NodeKind>> = lay
        .columns
        .iter()
        .enumerate()
        .map(|(c, _)| {
            let real = lay.real(c, g.nodes.len());
            let mut k: Vec<NodeKind> = real.iter().map(|&i| g.nodes[i].kind).collect();
            k.dedup();
            k
        })
        .collect();
    assert_eq!(kinds[1], vec![NodeKind::Bond]);
    assert_eq!(kinds[2], vec![NodeKind::Vlan]);
    assert_eq!(kinds[3], vec![NodeKind::Bridge]);
    assert_eq!(kinds[4], vec![NodeKind::Network]);
    let ovs = Graph::from_caps(&fixture("ovs_network"));
    assert_eq!(node_state(&ovs, "dev:ovsnet"), State::Up);
    assert!(ovs.nodes.iter().any(|n| n.kind == NodeKind::OvsBridge));
}

/// Two nics under two bonds in crossed name order (`a` under `y`, `b` under
/// `x`): the report's order crosses, the sweeps uncross it.
#[test]
fn sweeps_remove_crossings() {
    let text = r#"{"networks":{},"bridges":{},"vlans":{},"nameservers":[],
        "supportsIPv6":true,"netConfigDirty":false,
        "nics":{"a":{NIC},"b":{NIC},"c":{NIC}},
        "bondings":{"x":{BOND,"slaves":["c"]},"y":{BOND,"slaves":["a"]},"z":{BOND,"slaves":["b"]}}}"#;
    let ip = r#""addr":"","netmask":"","ipv4addrs":[],"gateway":"","ipv4defaultroute":false,
        "ipv6addrs":[],"ipv6gateway":"::","ipv6autoconf":false,"dhcpv4":false,"dhcpv6":false,"mtu":"1500""#;
    let text = text
        .replace("{NIC}", &format!(r#"{{{ip},"hwaddr":"","speed":1000}}"#))
        .replace(
            "{BOND",
            &format!(r#"{{{ip},"hwaddr":"","active_slave":"","opts":{{}},"switch":"legacy""#),
        );
    let caps: Caps = serde_json::from_str(&text).expect("caps");
    let g = Graph::from_caps(&caps);
    let lay = layout::place(&g);
    assert_eq!(lay.crossings(), 0);
    let names = |c: usize| -> Vec<&str> {
        lay.columns[c]
            .iter()
            .map(|&i| g.nodes[i].lines[0].as_str())
            .collect()
    };
    let (nics, bonds) = (names(0), names(1));
    for (n, b) in [("a", "y"), ("b", "z"), ("c", "x")] {
        let pn = nics.iter().position(|x| *x == n);
        let pb = bonds.iter().position(|x| *x == b);
        assert_eq!(pn, pb, "{n} beside {b}: {nics:?} {bonds:?}");
    }
}

/// The node ids at the two ends of every edge into `id`.
fn edges_into(g: &Graph, id: &str) -> Vec<String> {
    g.edges
        .iter()
        .filter(|e| g.nodes[e.to].id == id)
        .map(|e| g.nodes[e.from].id.clone())
        .collect()
}

fn lines_of(g: &Graph, id: &str) -> Vec<String> {
    g.nodes
        .iter()
        .find(|n| n.id == id)
        .unwrap_or_else(|| panic!("no node {id}"))
        .lines
        .clone()
}

#[test]
fn vnics_hang_under_their_networks_and_br_int() {
    let g = Graph::from_caps(&fixture("vnics_ovn"));
    assert_eq!(edges_into(&g, "vnic:vnet0"), ["net:vmnet"], "legacy vNIC");
    assert_eq!(edges_into(&g, "vnic:vnet1"), ["net:ovsnet"], "OVS vNIC");
    assert_eq!(edges_into(&g, "vnic:vnet2"), ["ovn:br-int"], "OVN vNIC");
    assert!(lines_of(&g, "vnic:vnet2").contains(&"port lsp-web-1".to_string()));
    assert!(edges_into(&g, "vnic:vnet3").is_empty());
    assert_eq!(
        node_state(&g, "vnic:vnet3"),
        State::Drifted,
        "no such network"
    );
    // The tap is drawn once, as the vNIC, not also as a bridge port; a
    // port that is no vNIC stays a port.
    assert!(!g.nodes.iter().any(|n| n.id == "dev:vnet0"));
    assert_eq!(edges_into(&g, "dev:vmnet"), ["dev:eth2", "dev:vnet9"]);
    let lay = layout::place(&g);
    let last = lay.real(lay.columns.len() - 1, g.nodes.len());
    assert!(last.iter().all(|&i| g.nodes[i].kind == NodeKind::Vnic));
    assert_eq!(last.len(), 4);
}

#[test]
fn br_int_shows_the_chassis_and_its_bridge_mappings() {
    let g = Graph::from_caps(&fixture("vnics_ovn"));
    let lines = lines_of(&g, "ovn:br-int");
    for want in [
        "chassis chassis-7",
        "geneve 192.0.2.30 (ovsnet)",
        "sb tcp:192.0.2.1:6642",
        "map ovsnet:vdsmbr_k3x9a0q2",
        "map physnet:br-ex",
    ] {
        assert!(lines.contains(&want.to_string()), "{want}: {lines:?}");
    }
    assert_eq!(node_state(&g, "ovn:br-int"), State::Up);
    // ovsnet's entry comes from the OVS network's bridge; br-ex is no
    // netswitch network, so a plain bridge node stands for it.
    assert_eq!(edges_into(&g, "ovn:br-int"), ["dev:ovsnet", "dev:br-ex"]);
    assert!(lines_of(&g, "dev:br-ex").contains(&"mapped as physnet".to_string()));
    let dot = draw(&fixture("vnics_ovn"), Format::Dot);
    assert!(dot.contains(r#""dev:ovsnet" -> "ovn:br-int";"#), "{dot}");
    assert!(dot.contains(r#""ovn:br-int" -> "vnic:vnet2";"#), "{dot}");
}

#[test]
fn an_ovn_vnic_without_a_chassis_is_drifted_and_states_are_classes() {
    let caps = fixture("ovn_unconfigured");
    let g = Graph::from_caps(&caps);
    assert_eq!(node_state(&g, "ovn:br-int"), State::Drifted);
    assert_eq!(edges_into(&g, "vnic:tap0"), ["ovn:br-int"]);
    let svg = draw(&caps, Format::Svg);
    assert!(
        svg.contains(r#"<g class="node nic down" data-node="dev:eth0">"#),
        "{svg}"
    );
    assert!(svg.contains(r#"<g class="node ovn drifted" data-node="ovn:br-int">"#));
    assert!(svg.contains(r#"<g class="node vnic up" data-node="vnic:tap0">"#));
}
