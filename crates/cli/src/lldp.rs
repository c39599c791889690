//! `netswitch lldp`: the `Host.getLldp` answer as a table, one row per
//! device, with the TLVs an operator looks for when tracing a cable.

use comfy_table::{presets, ContentArrangement, Table};
use serde_json::Value;

/// The value of `prop` in the first TLV named `tlv` of a device's list.
fn prop<'a>(tlvs: &'a [Value], tlv: &str, prop: &str) -> Option<&'a str> {
    tlvs.iter()
        .find(|t| t["name"] == tlv)
        .and_then(|t| t["properties"][prop].as_str())
}

/// The VLANs the neighbor announces: its port VLAN (marked pvid) and the
/// VLAN IDs of its VLAN Name TLVs.
fn vlans(tlvs: &[Value]) -> String {
    let mut out: Vec<String> = prop(tlvs, "Port VLAN ID", "Port VLAN ID")
        .filter(|v| *v != "0")
        .map(|v| format!("{v} (pvid)"))
        .into_iter()
        .collect();
    out.extend(
        tlvs.iter()
            .filter(|t| t["name"] == "VLAN Name")
            .filter_map(|t| t["properties"]["VLAN ID"].as_str())
            .map(str::to_string),
    );
    if out.is_empty() {
        "-".into()
    } else {
        out.join(", ")
    }
}

/// Seconds until the neighbor expires (`ttlLeft`), else its announced TTL.
fn ttl_left(report: &Value, tlvs: &[Value]) -> String {
    match report["ttlLeft"].as_u64() {
        Some(s) => format!("{s} s"),
        None => prop(tlvs, "Time to Live", "time to live").map_or("-".into(), |t| format!("{t} s")),
    }
}

/// One row: the device and its neighbor's identity, or why there is none.
fn row(dev: &str, report: &Value) -> Vec<String> {
    let empty = Vec::new();
    let tlvs = report["tlvs"].as_array().unwrap_or(&empty);
    if tlvs.is_empty() {
        let why = if report["enabled"] == true {
            "(no neighbor)"
        } else {
            "(LLDP off)"
        };
        let mut r = vec![dev.to_string(), why.to_string()];
        r.extend(std::iter::repeat_n("-".to_string(), 5));
        return r;
    }
    let get = |tlv: &str, p: &str| prop(tlvs, tlv, p).unwrap_or("-").to_string();
    vec![
        dev.to_string(),
        get("Chassis ID", "chassis ID"),
        get("Port ID", "port ID"),
        get("System Name", "system name"),
        get("Port Description", "port description"),
        ttl_left(report, tlvs),
        vlans(tlvs),
    ]
}

/// The answer as a table, devices in name order.
pub fn table(answer: &Value) -> String {
    let mut t = Table::new();
    t.load_style(presets::UTF8_HORIZONTAL_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header([
            "device",
            "chassis ID",
            "port ID",
            "system name",
            "port description",
            "TTL left",
            "VLANs",
        ]);
    if let Some(devices) = answer.as_object() {
        for (dev, report) in devices {
            t.add_row(row(dev, report));
        }
    }
    format!("{t}\n")
}
