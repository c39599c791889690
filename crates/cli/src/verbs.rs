//! One function per verb, against [`Host`]: the flags, the output and the
//! exit status do not depend on where the verb runs.

use std::io::Read;
use std::path::Path;

use netswitch_engine::{Engine, Faults, SetupOptions};
use netswitch_model::{Code, RequestError};
use serde_json::{json, Value};

use crate::args::{LldpArgs, SetupArgs, Verb, VnicVerb};
use crate::failure::Failure;
use crate::host::Host;
use crate::{out, table};

/// Runs a verb that goes through [`Host`].
pub fn run(host: &mut dyn Host, as_json: bool, verb: &Verb) -> Result<(), Failure> {
    match verb {
        Verb::Caps { yaml, format } => caps(host, as_json, *yaml, format.as_deref()),
        Verb::Setup(args) => setup(host, as_json, args),
        Verb::Confirm => confirm(host, as_json),
        Verb::Commit => commit(host, as_json),
        Verb::Restore { force } => restore(host, as_json, *force),
        Verb::Stats => stats(host, as_json),
        Verb::Events { count } => events(host, as_json, *count),
        Verb::Lldp(args) => lldp(host, as_json, args),

        Verb::Vnic(v) => vnic(host, as_json, v),
        Verb::Mirror(v) => crate::mirror::run(host, as_json, v),
        Verb::Sriov { nic, numvfs } => sriov(host, as_json, nic, *numvfs),
        Verb::LldpTx { nic, state } => {
            let tx = host.set_lldp_tx(nic, state == "on")?;
            let message = format!("{nic}: LLDP transmit {}", if tx { "on" } else { "off" });
            say(
                as_json,
                &message,
                json!({"lldp": {"device": nic, "tx": tx}}),
            );
            Ok(())
        }
        Verb::Ovn(v) => crate::ovn::run(host, as_json, v),
        Verb::Daemon(_)
        | Verb::ImportVdsm { .. }
        | Verb::DhcpClient { .. }
        | Verb::LibvirtHook(_)
        | Verb::ProviderOvn { .. }
        | Verb::Provider(_) => Err(Failure::new(
            Code::BadParams.number(),
            "this verb does not run against a host",
        )),
    }
}

fn caps(
    host: &mut dyn Host,
    as_json: bool,
    yaml: bool,
    format: Option<&str>,
) -> Result<(), Failure> {
    let caps = host.caps()?;
    if let Some(f) = format {
        let f = match f {
            "svg" => netswitch_draw::Format::Svg,
            _ => netswitch_draw::Format::Dot,
        };
        out::stdout(&netswitch_draw::draw(&caps, f));
    } else if as_json {
        out::line(&serde_json::to_string_pretty(&caps).unwrap_or_default());
    } else if yaml {
        out::stdout(&serde_saphyr::to_string(&caps).unwrap_or_default());
    } else {
        out::stdout(&table::caps(&caps));
    }
    Ok(())
}

/// The engine's options for `setup`'s flags.
pub fn setup_options(args: &SetupArgs) -> SetupOptions {
    SetupOptions {
        dry_run: args.dry_run,
        confirm_within: args.confirm_within,
        dhcp_timeout: args.dhcp_timeout,
        faults: faults(args),
        ..SetupOptions::default()
    }
}

/// The faults `setup`'s testing flags ask for (none without the
/// `fault-injection` feature).
#[allow(unused_variables)]
fn faults(args: &SetupArgs) -> Faults {
    #[allow(unused_mut)]
    let mut faults = Faults::default();
    #[cfg(feature = "fault-injection")]
    {
        faults.fail_at = args.inject_failure_at.map(|n| n.saturating_sub(1) as usize);
        faults.drift = args.inject_drift;
    }
    faults
}

fn setup(host: &mut dyn Host, as_json: bool, args: &SetupArgs) -> Result<(), Failure> {
    let text = read_request(&args.file)?;
    let started = std::time::Instant::now();
    let outcome = host.setup(&text, &setup_options(args))?;
    if as_json {
        let doc = json!({
            "status": {"code": 0, "message": "Done"},
            "applied": outcome.applied,
            "plan": outcome.plan,
            "desired": outcome.desired,
        });
        out::line(&serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else if !outcome.applied {
        out::stdout(&table::plan(&outcome));
    } else {
        out::line(&format!(
            "Applied and verified {} operations in {} ms; the running config is saved{}.",
            outcome.plan.ops.len(),
            started.elapsed().as_millis(),
            if outcome.request.options.commit_on_success {
                " and persistent"
            } else {
                ""
            }
        ));
    }
    Ok(())
}

fn confirm(host: &mut dyn Host, as_json: bool) -> Result<(), Failure> {
    let waiting = host.confirm()?;
    let message = if waiting {
        "confirmed"
    } else {
        "no setup is waiting for a confirmation"
    };
    say(as_json, message, json!({"confirmed": waiting}));
    Ok(())
}

fn commit(host: &mut dyn Host, as_json: bool) -> Result<(), Failure> {
    let (nets, bonds) = host.commit()?;
    let message =
        format!("the running config ({nets} networks, {bonds} bonds) is now the persistent one");
    say(as_json, &message, json!({}));
    Ok(())
}

fn restore(host: &mut dyn Host, as_json: bool, force: bool) -> Result<(), Failure> {
    let r = host.restore(force)?;
    for s in &r.skipped {
        out::err(&format!("netswitch: restore: skipped {s}"));
    }
    let message = match (r.ran, r.applied) {
        (false, _) => "this boot was restored already (use --force to restore again)",
        (true, false) => "the host already carries the persistent config",
        (true, true) => "the host carries the persistent config again",
    };
    say(
        as_json,
        message,
        json!({"ran": r.ran, "applied": r.applied, "skipped": r.skipped}),
    );
    Ok(())
}

fn stats(host: &mut dyn Host, as_json: bool) -> Result<(), Failure> {
    let stats = host.stats()?;
    if as_json {
        out::line(&serde_json::to_string_pretty(&stats).unwrap_or_default());
    } else {
        out::stdout(&table::stats(&stats));
    }
    Ok(())
}

/// Prints events until `count` were printed or stdout closes.
fn events(host: &mut dyn Host, as_json: bool, count: Option<u64>) -> Result<(), Failure> {
    let mut left = count.unwrap_or(u64::MAX);
    host.events(&mut |v: &Value| {
        let text = if as_json {
            v.to_string()
        } else {
            table::event(v)
        };
        left -= 1;
        out::line(&text) && left > 0
    })
}

/// `lldp`: each nic's LLDP neighbor (the daemon's table, or what this
/// process heard for `--listen` seconds).
fn lldp(host: &mut dyn Host, as_json: bool, args: &LldpArgs) -> Result<(), Failure> {
    let listen = std::time::Duration::from_secs(u64::from(args.listen));
    let answer = host.lldp(&args.nics, listen)?;
    if as_json {
        out::line(&serde_json::to_string_pretty(&answer).unwrap_or_default());
    } else {
        out::stdout(&crate::lldp::table(&answer));
    }
    Ok(())
}

/// `vnic plug|unplug|list`.
fn vnic(host: &mut dyn Host, as_json: bool, verb: &VnicVerb) -> Result<(), Failure> {
    use netswitch_engine::vnic::{Target, Vnic};
    match verb {
        VnicVerb::Plug {
            vm,
            mac,
            network,
            port,
            timeout,
            mtu,
            iface_id,
            mac_spoof,

            mirror,
            vf,
            device,
            ..
        } => {
            let v = Vnic {
                vm_id: vm.clone(),
                mac: mac.clone(),
                network: network.clone().unwrap_or_default(),
                port: port.clone(),
                device: device.clone().unwrap_or_default(),
                vf: vf.clone(),
                mtu: *mtu,
                iface_id: iface_id.clone(),
                mac_spoof: *mac_spoof,

                port_mirroring: mirror.clone(),
            };
            let p = match port {
                Some(_) => {
                    crate::ovn::timeout(*timeout)?;
                    host.plug_vnics(std::slice::from_ref(&v), *timeout)?
                        .remove(0)
                }
                None => host.plug_vnic(&v)?,
            };
            let to = port.as_deref().or(network.as_deref()).unwrap_or("");
            let message = match p.tag {
                _ if p.vnic.vf.is_none() => format!(
                    "{} is plugged into {to} ({} bridge {})",
                    p.key(),
                    p.switch,
                    p.bridge
                ),
                Some(tag) => format!("VF {} carries {to} (VLAN {tag})", p.key()),
                None => format!("VF {} carries {to} (untagged)", p.key()),
            };
            say(as_json, &message, json!({"vnic": p}));
        }
        VnicVerb::PlugBatch { file, timeout } => {
            crate::ovn::timeout(*timeout)?;
            crate::ovn::plug_batch(host, as_json, file, *timeout)?;
        }
        VnicVerb::Unplug { device } => {
            let p = host.unplug_vnic(&Target::Device(device.clone()))?;
            let message = format!("{} is unplugged from {}", p.key(), p.vnic.network);
            say(as_json, &message, json!({"vnic": p}));
        }
        VnicVerb::Xml(_) => {
            return Err(Failure::new(
                Code::BadParams.number(),
                "vnic xml runs in this process",
            ))
        }
        VnicVerb::List => {
            let vnics = host.vnics()?;
            if as_json {
                out::line(&json!({"vnics": vnics}).to_string());
            } else {
                out::stdout(&table::vnics(&vnics));
            }
        }
    }
    Ok(())
}

/// `import-vdsm`: in-process only (it writes the persistent config and
/// nothing else).
pub fn import_vdsm(engine: &Engine, as_json: bool, dir: &Path) -> Result<(), Failure> {
    let c = engine.import_vdsm(dir)?;
    let message = format!(
        "imported {} networks and {} bonds as the persistent config; run `netswitch restore --force` to apply it",
        c.networks.len(),
        c.bonds.len()
    );
    say(as_json, &message, json!({}));
    Ok(())
}

/// Prints a success: a line for people, or the status object and extra
/// fields for scripts.
pub(crate) fn say(as_json: bool, message: &str, extra: Value) {
    if as_json {
        let mut doc = json!({"status": {"code": 0, "message": message}});
        if let (Some(o), Value::Object(e)) = (doc.as_object_mut(), extra) {
            o.extend(e);
        }
        out::line(&doc.to_string());
    } else {
        out::line(message);
    }
}

fn read_request(file: &str) -> Result<Vec<u8>, Failure> {
    let limit = netswitch_model::parse::MAX_REQUEST_BYTES as u64 + 1;
    let mut buf = Vec::new();
    let res = if file == "-" {
        std::io::stdin().lock().take(limit).read_to_end(&mut buf)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(limit).read_to_end(&mut buf))
    };
    res.map_err(|e| {
        let what = if file == "-" {
            "standard input".to_string()
        } else {
            file.to_string()
        };
        RequestError::request(
            Code::BadParams,
            format!("cannot read the request from {what}: {e}"),
        )
    })?;
    Ok(buf)
}

/// `sriov NIC NUMVFS`.
fn sriov(host: &mut dyn Host, as_json: bool, nic: &str, numvfs: u32) -> Result<(), Failure> {
    let done = host.change_numvfs(nic, numvfs)?;
    let dev = done["device"].as_str().unwrap_or(nic);
    let from = done["from"].as_u64().unwrap_or(0);
    let via = if done["viaZero"].as_bool() == Some(true) {
        " (through 0)"
    } else {
        ""
    };
    let message = format!("{dev}: {from} -> {numvfs} VFs{via}");
    say(as_json, &message, json!({"sriov": done}));
    Ok(())
}
