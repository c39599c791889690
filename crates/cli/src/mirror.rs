//! `netswitch mirror add|remove|list`: port mirroring through [`Host`].

use std::collections::BTreeMap;

use netswitch_engine::mirror::Mirrored;
use serde_json::json;

use crate::args::MirrorVerb;
use crate::failure::Failure;
use crate::host::Host;
use crate::out;

/// Runs one `mirror` verb.
pub fn run(host: &mut dyn Host, as_json: bool, verb: &MirrorVerb) -> Result<(), Failure> {
    match verb {
        MirrorVerb::Add { network, device } => {
            let m = host.set_mirror(network, device)?;
            let message = format!(
                "{network}'s frames are mirrored to {} ({} bridge {})",
                m.devices.join(", "),
                m.switch,
                m.bridge
            );
            say(as_json, &message, &m);
        }
        MirrorVerb::Remove { network, device } => {
            let m = host.unset_mirror(network, device)?;
            let message = if m.devices.is_empty() {
                format!("{network} is mirrored nowhere now")
            } else {
                format!("{network} is mirrored to {} only", m.devices.join(", "))
            };
            say(as_json, &message, &m);
        }
        MirrorVerb::List => {
            let all = host.mirrors()?;
            if as_json {
                out::line(&json!({"mirrors": all}).to_string());
            } else {
                out::stdout(&table(&all));
            }
        }
    }
    Ok(())
}

fn say(as_json: bool, message: &str, m: &Mirrored) {
    if as_json {
        out::line(&json!({"status": {"code": 0, "message": message}, "mirror": m}).to_string());
    } else {
        out::line(message);
    }
}

/// The active mirrors, one line per network.
fn table(all: &BTreeMap<String, Mirrored>) -> String {
    if all.is_empty() {
        return "no port mirroring\n".into();
    }
    let mut rows = vec![[
        "NETWORK".to_string(),
        "SWITCH".into(),
        "BRIDGE".into(),
        "TARGETS".into(),
    ]];
    for m in all.values() {
        rows.push([
            m.network.clone(),
            m.switch.clone(),
            m.bridge.clone(),
            m.devices.join(","),
        ]);
    }
    let width = |i: usize| rows.iter().map(|r| r[i].len()).max().unwrap_or(0);
    let widths = [width(0), width(1), width(2)];
    let mut text = String::new();
    for r in &rows {
        text.push_str(&format!(
            "{:w0$}  {:w1$}  {:w2$}  {}\n",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        ));
    }
    text
}
