//! The `ovs-vsctl` reference both OVS benches measure netswitch against:
//! one bridge with a nic, and a tagged internal port per network.

/// `ovs-vsctl` arguments for `bridge` (of `datapath`) with `nic` as its port.
pub fn bridge_args(bridge: &str, datapath: &str, nic: &str) -> Vec<String> {
    [
        "add-br",
        bridge,
        "--",
        "set",
        "Bridge",
        bridge,
        &format!("datapath_type={datapath}"),
        "--",
        "add-port",
        bridge,
        nic,
    ]
    .iter()
    .map(|a| a.to_string())
    .collect()
}

/// `ovs-vsctl` arguments for network i's internal port, tagged i.
pub fn port_args(bridge: &str, i: usize) -> Vec<String> {
    vec![
        "add-port".into(),
        bridge.into(),
        format!("net{i}"),
        format!("tag={i}"),
        "--".into(),
        "set".into(),
        "Interface".into(),
        format!("net{i}"),
        "type=internal".into(),
    ]
}
