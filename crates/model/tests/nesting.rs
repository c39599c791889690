//! The deepest and largest request the parser accepts must survive every
//! format that carries it afterwards: the crash journal and the daemon's
//! JSON-RPC envelope wrap the config in more structure, and their readers
//! stop at serde_json's recursion limit.

use netswitch_model::config::Config;
use netswitch_model::parse::{parse_request, MAX_CUSTOM_DEPTH, MAX_NETWORKS};
use serde_json::{json, Value};

/// A `custom` value `depth` levels deep counting `custom` itself, mixing
/// arrays and mappings.
fn deep(depth: usize) -> Value {
    let mut v = json!(1);
    for i in 0..depth - 1 {
        v = if i % 2 == 0 {
            json!([v])
        } else {
            json!({"k": v})
        };
    }
    v
}

/// `v` inside `levels` more mappings and arrays, as an envelope adds them.
fn wrap(mut v: Value, levels: usize) -> Value {
    for i in 0..levels {
        v = if i % 2 == 0 {
            json!({"params": v, "id": 1})
        } else {
            json!([v])
        };
    }
    v
}

fn request(networks: usize, depth: usize) -> Value {
    let nets: serde_json::Map<String, Value> = (0..networks)
        .map(|i| {
            let attrs = json!({"nic": format!("eth{}", i % 4), "vlan": i % 4000 + 1,
                               "bridged": false, "custom": {"x": deep(depth)}});
            (format!("n{i}"), attrs)
        })
        .collect();
    json!({"networks": nets})
}

#[test]
fn the_deepest_accepted_custom_round_trips_inside_envelopes() {
    let req = request(1, MAX_CUSTOM_DEPTH);
    let parsed = parse_request(req.to_string().as_bytes()).expect("deepest accepted");
    let config = Config::default().apply(&parsed);
    let as_value = serde_json::to_value(&config).unwrap();
    // The request itself, and the config made of it, each inside 16 more
    // levels (a journal entry or an RPC envelope adds fewer than that).
    for v in [req.clone(), as_value] {
        let wrapped = wrap(v, 16);
        let text = serde_json::to_string(&wrapped).unwrap();
        let back: Value = serde_json::from_str(&text).expect("read back");
        assert_eq!(back, wrapped);
    }
    let text = serde_json::to_string(&wrap(serde_json::to_value(&config).unwrap(), 16)).unwrap();
    let mut back: Value = serde_json::from_str(&text).unwrap();
    for i in (0..16).rev() {
        back = if i % 2 == 0 {
            back["params"].take()
        } else {
            back[0].take()
        };
    }
    let config_back: Config = serde_json::from_value(back).unwrap();
    assert_eq!(config_back, config);
    // One level deeper is refused before anything could carry it.
    let err = parse_request(request(1, MAX_CUSTOM_DEPTH + 1).to_string().as_bytes())
        .expect_err("too deep accepted");
    assert_eq!(err.code(), 21, "{err}");
    assert!(err.to_string().contains("custom"), "{err}");
}

#[test]
fn the_largest_deep_request_round_trips() {
    let req = request(MAX_NETWORKS, MAX_CUSTOM_DEPTH);
    let text = req.to_string();
    let parsed = parse_request(text.as_bytes()).expect("largest accepted");
    assert_eq!(parsed.networks.len(), MAX_NETWORKS);
    let config = Config::default().apply(&parsed);
    let wrapped = wrap(serde_json::to_value(&config).unwrap(), 16);
    let back: Value = serde_json::from_str(&serde_json::to_string(&wrapped).unwrap()).unwrap();
    assert_eq!(back, wrapped);
}
