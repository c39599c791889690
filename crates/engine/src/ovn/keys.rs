//! The OVSDB side of the chassis configuration: the checks of an
//! `ovn-remote`, a chassis name when none is given, and the ops that write
//! the keys (and br-int).

use std::net::IpAddr;

use netswitch_ovsdb::datum::{named_uuid, set, str_map};
use netswitch_ovsdb::{row, Mutation, Mutator, Op, Uuid};
use serde_json::json;

use super::BR_INT;

/// Checks an `ovn-remote`: comma-separated `tcp:HOST:PORT`,
/// `ssl:HOST:PORT` (HOST an IPv4 address, `[IPv6]` or a DNS name) or
/// `unix:/PATH`. The message says what is wrong with which entry.
pub fn valid_remote(remote: &str) -> Result<(), String> {
    if remote.is_empty() || remote.len() > 1024 {
        return Err("empty or over 1024 bytes".into());
    }
    for entry in remote.split(',') {
        valid_entry(entry.trim()).map_err(|why| {
            let e = netswitch_model::error::clip(entry, 80);
            format!("{e:?}: {why} (want tcp:IP:PORT, ssl:IP:PORT or unix:PATH)")
        })?;
    }
    Ok(())
}

fn valid_entry(entry: &str) -> Result<(), &'static str> {
    let (proto, rest) = entry.split_once(':').ok_or("no protocol")?;
    match proto {
        "unix" if rest.starts_with('/') && !rest.contains('\0') => Ok(()),
        "unix" => Err("not an absolute path"),
        "tcp" | "ssl" => {
            let (host, port) = rest.rsplit_once(':').ok_or("no port")?;
            match port.parse::<u16>() {
                Ok(p) if p > 0 => {}
                _ => return Err("bad port"),
            }
            valid_host(host)
        }
        _ => Err("unknown protocol"),
    }
}

fn valid_host(host: &str) -> Result<(), &'static str> {
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return match v6.parse::<IpAddr>() {
            Ok(IpAddr::V6(_)) => Ok(()),
            _ => Err("bad IPv6 address"),
        };
    }
    if host.parse::<IpAddr>().is_ok_and(|a| a.is_ipv4()) {
        return Ok(());
    }
    let name_like = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && host.chars().any(|c| c.is_ascii_alphabetic());
    if name_like {
        Ok(())
    } else {
        Err("bad host")
    }
}

/// A random (version 4) UUID: the chassis name when none is given and OVS
/// has none, as `ovs-ctl` makes one.
pub fn random_uuid() -> String {
    let mut b = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut b);
    }
    if b == [0u8; 16] {
        // No /dev/urandom: time and pid are unique enough for one host.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b = (t ^ (u128::from(std::process::id()) << 96)).to_be_bytes();
    }
    netswitch_ovsdb::Uuid::from_bytes(b, 4).0
}

/// The root-row mutations that set `keys` (each replacing its value).
pub(super) fn set_keys(keys: &[(String, String)]) -> (Vec<Op>, Vec<Mutation>) {
    let names: Vec<_> = keys.iter().map(|(k, _)| json!(k)).collect();
    let pairs = keys.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    (
        Vec::new(),
        vec![
            Mutation::new("external_ids", Mutator::Delete, set(names)),
            Mutation::new("external_ids", Mutator::Insert, str_map(pairs)),
        ],
    )
}

/// The root-row mutation that removes `keys`.
pub(super) fn remove_ops(keys: &[&str]) -> (Vec<Op>, Vec<Mutation>) {
    let names: Vec<_> = keys.iter().map(|k| json!(k)).collect();
    (
        Vec::new(),
        vec![Mutation::new("external_ids", Mutator::Delete, set(names))],
    )
}

/// [`set_keys`], plus br-int: made when missing; given the host's
/// datapath when it has another one (`have`: its `datapath_type`, `""`
/// meaning `system`). ovn-controller makes br-int itself as soon as it
/// connects to OVS, always with the kernel datapath unless told otherwise,
/// which a host without the openvswitch module cannot carry.
pub(super) fn set_ops(
    keys: &[(String, String)],
    br: Option<(&Uuid, &str)>,
    datapath: &str,
) -> (Vec<Op>, Vec<Mutation>) {
    let (mut ops, mut mutations) = set_keys(keys);
    let norm = |d: &str| {
        if d.is_empty() {
            "system".to_string()
        } else {
            d.to_string()
        }
    };
    match br {
        None => {
            let (o, m) = br_int(datapath, Vec::new());
            ops.extend(o);
            mutations.push(m);
        }
        Some((u, have)) if norm(have) != norm(datapath) => ops.push(Op::update(
            "Bridge",
            vec![netswitch_ovsdb::Condition::uuid(u)],
            row([("datapath_type", json!(datapath))]),
        )),
        Some(_) => {}
    }
    (ops, mutations)
}

/// The rows of br-int (with its internal port), as ovn-controller would
/// make it: `fail_mode=secure`, so nothing passes until ovn-controller has
/// programmed it; and the root-row mutation that adds it. `ports` (named
/// UUIDs of Port rows of the same transaction) join it at once.
pub(crate) fn br_int(datapath: &str, mut ports: Vec<serde_json::Value>) -> (Vec<Op>, Mutation) {
    ports.push(named_uuid("brint_p"));
    let ops = vec![
        Op::insert_named(
            "Interface",
            "brint_i",
            row([("name", json!(BR_INT)), ("type", json!("internal"))]),
        ),
        Op::insert_named(
            "Port",
            "brint_p",
            row([
                ("name", json!(BR_INT)),
                ("interfaces", named_uuid("brint_i")),
            ]),
        ),
        Op::insert_named(
            "Bridge",
            "brint_b",
            row([
                ("name", json!(BR_INT)),
                ("fail_mode", json!("secure")),
                ("datapath_type", json!(datapath)),
                ("ports", set(ports)),
            ]),
        ),
    ];
    let m = Mutation::new("bridges", Mutator::Insert, set([named_uuid("brint_b")]));
    (ops, m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes() {
        for ok in [
            "tcp:192.0.2.1:6642",
            "ssl:[2001:db8::1]:6642",
            "unix:/run/ovn/ovnsb_db.sock",
            "tcp:10.0.0.1:6642,tcp:10.0.0.2:6642",
            "tcp:central.example.org:6642",
        ] {
            assert!(valid_remote(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "192.0.2.1:6642",
            "tcp:192.0.2.1",
            "tcp:192.0.2.1:0",
            "tcp:192.0.2.1:70000",
            "udp:192.0.2.1:6642",
            "unix:relative",
            "tcp:[nonsense]:6642",
            "tcp:1.2.3:6642",
            "tcp:a b:6642",
        ] {
            assert!(valid_remote(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn uuids_are_version_4() {
        let u = random_uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(u, random_uuid());
    }
}
