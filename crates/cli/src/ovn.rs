//! `netswitch ovn configure|unconfigure|show` (what `vdsm-tool ovn-config`
//! did) and `vnic plug --batch FILE` (many OVN vNICs in one call).

use std::time::Duration;

use clap::Subcommand;
use netswitch_engine::ovn::OvnConfig;
use netswitch_engine::vnic::Vnic;
use netswitch_model::caps::OvnReport;
use netswitch_model::{Code, RequestError};
use serde_json::json;

use crate::failure::Failure;
use crate::host::Host;
use crate::out;

/// `ovn`'s verbs.
#[derive(Subcommand, Debug)]
pub enum OvnVerb {
    /// Make this host an OVN chassis: Open_vSwitch external_ids system-id,
    /// ovn-remote, ovn-encap-type, ovn-encap-ip; br-int if missing.
    ///
    /// Kept in <state-dir>/ovn.json and written again at restore. Exit
    /// status: 0; 21 a bad remote, IP, system id or encap type, or a
    /// network without an address; 27 no such network; 29 OVS failed
    /// (nothing changed); 32 OVS unreachable.
    Configure {
        /// The southbound database: tcp:IP:PORT, ssl:IP:PORT or unix:PATH
        /// (several, comma-separated).
        #[arg(long, value_name = "R")]
        remote: String,
        /// The tunnel endpoint address.
        #[arg(long, value_name = "IP", conflicts_with = "encap_network")]
        encap_ip: Option<String>,
        /// A netswitch network whose address is the tunnel endpoint (and
        /// stays it when the address changes).
        #[arg(long, value_name = "NET")]
        encap_network: Option<String>,
        /// The chassis name (default: the one OVS has, else a new UUID).
        #[arg(long, value_name = "ID")]
        system_id: Option<String>,
        /// geneve (default) or vxlan.
        #[arg(long, value_name = "TYPE")]
        encap_type: Option<String>,
    },
    /// Remove what configure set, but system-id; other keys stay.
    Unconfigure,
    /// The chassis' configuration.
    Show,
}

/// Runs an `ovn` verb.
pub fn run(host: &mut dyn Host, as_json: bool, verb: &OvnVerb) -> Result<(), Failure> {
    let report = match verb {
        OvnVerb::Configure {
            remote,
            encap_ip,
            encap_network,
            system_id,
            encap_type,
        } => host.configure_ovn(&OvnConfig {
            remote: remote.clone(),
            encap_ip: encap_ip.clone(),
            encap_network: encap_network.clone(),
            system_id: system_id.clone(),
            encap_type: encap_type.clone(),
        })?,
        OvnVerb::Unconfigure => host.unconfigure_ovn()?,
        OvnVerb::Show => host.ovn()?,
    };
    if as_json {
        let mut doc = json!({"status": {"code": 0, "message": "Done"}, "ovn": report});
        if matches!(verb, OvnVerb::Show) {
            doc = json!({"ovn": report});
        }
        out::line(&doc.to_string());
    } else {
        out::stdout(&text(&report));
    }
    Ok(())
}

/// `ovn show` as lines.
fn text(r: &OvnReport) -> String {
    if !r.configured {
        return "OVN: not configured\n".into();
    }
    let v = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
    let mut s = format!(
        "OVN: configured\nsystem-id:    {}\nremote:       {}\nencap:        {} {}\n",
        v(&r.system_id),
        v(&r.remote),
        v(&r.encap_type),
        v(&r.encap_ip)
    );
    if let Some(n) = &r.encap_network {
        s += &format!("encap network: {n}\n");
    }
    s += &format!("bridge-mappings: {}\n", v(&r.bridge_mappings));
    s
}

/// `vnic plug --batch FILE` (`-` for stdin): a JSON list of vNICs
/// (`{vmId, mac, port, device, [mtu]}`) plugged as one batch.
pub fn plug_batch(
    host: &mut dyn Host,
    as_json: bool,
    file: &str,
    timeout: Option<f64>,
) -> Result<(), Failure> {
    let text = if file == "-" {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)
            .map_err(|e| bad(format!("--batch: reading stdin: {e}")))?;
        b
    } else {
        std::fs::read(file).map_err(|e| bad(format!("--batch {file}: {e}")))?
    };
    let vnics: Vec<Vnic> = serde_json::from_slice(&text)
        .map_err(|e| bad(format!("--batch {file}: not a JSON list of vNICs: {e}")))?;
    let plugged = host.plug_vnics(&vnics, timeout)?;
    let message = format!("{} vNICs are plugged and installed", plugged.len());
    if as_json {
        out::line(
            &json!({"status": {"code": 0, "message": message}, "vnics": plugged}).to_string(),
        );
    } else {
        out::line(&message);
    }
    Ok(())
}

fn bad(message: String) -> Failure {
    RequestError::request(Code::BadParams, message).into()
}

/// A per-call timeout in seconds as the engine takes it (21 when it is no
/// number of seconds in 0..86400).
pub fn timeout(secs: Option<f64>) -> Result<Option<Duration>, Failure> {
    Ok(netswitch_engine::vnic::timeout_of(secs)?)
}
