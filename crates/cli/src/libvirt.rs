//! `netswitch vnic xml` and `netswitch libvirt-hook`: this host's networks
//! as libvirt sees them.
//!
//! Both only read (the running config in the state dir, the host's OVS
//! bridges), so they always run in this process, like `import-vdsm`:
//! libvirt runs the hook synchronously while it migrates a VM, and a hook
//! must not depend on a daemon being up. The XML itself is made and
//! rewritten by the pure `netswitch-libvirt` crate.

use std::io::{IsTerminal, Read};

use clap::Args;
use netswitch_engine::Engine;
use netswitch_libvirt::build::{self, Spec, Target};
use netswitch_libvirt::hook::{self, Action, View};
use netswitch_libvirt::LibvirtError;
use netswitch_model::config::SwitchType;
use netswitch_model::{Code, RequestError};
use serde_json::json;

use crate::failure::Failure;
use crate::out;

pub const XML_HELP: &str = "\
Reads: the running config in --state-dir and, for an OVS network, the OVS
bridge that carries it (--ovs-db). Always runs in this process. Changes
nothing.

Legacy network: <source bridge='NET'/>. OVS network: its OVS bridge with
<virtualport type='openvswitch'/> and <vlan><tag id='N'/></vlan> for a VLAN
network. --port: OVN's br-int with the port's interfaceid (a UUID).
--with-metadata also prints netswitch's element for the domain's
<metadata>, which lets the migration hook find the network on any host.

Exit status: 0; 21 a bad MAC, port or tap name (or a bridgeless network),
27 no such network, 29 no OVS bridge carries the network, 32 OVSDB
unreachable.";

pub const HOOK_HELP: &str = "\
Install as /etc/libvirt/hooks/qemu (see contrib/libvirt/). For `migrate
begin` (an incoming migration) and `restore begin` it reads the domain XML
on stdin and writes it to stdout with each vNIC of a netswitch network
pointed at this host's switch for that network (Linux bridge, or OVS bridge
with its VLAN tag); every other byte is written as it came. Every other
operation (prepare, start, started, stopped, release, reconnect, attach, the
end sub-operations) exits 0 with no output.

Reads: the running config in --state-dir, the OVS bridges (--ovs-db).
Exit status: 0; 21 a malformed domain XML; 27 netswitch's metadata names a
network this host lacks; 32 OVSDB unreachable. On failure stdout is empty
and libvirt refuses the migration.";

/// `vnic xml`'s flags.
#[derive(Args, Debug)]
pub struct XmlArgs {
    /// The host network the vNIC joins.
    #[arg(long, value_name = "NET", required_unless_present = "port")]
    pub network: Option<String>,
    /// The vNIC's MAC address.
    #[arg(long, value_name = "MAC")]
    pub mac: String,
    /// An OVN logical port id (a UUID): the vNIC joins br-int.
    #[arg(long, value_name = "ID")]
    pub port: Option<String>,
    /// The tap device libvirt should name (<target dev=.../>).
    #[arg(long, value_name = "TAPNAME")]
    pub name: Option<String>,
    /// Also print netswitch's <metadata> element naming the network.
    #[arg(long, requires = "network")]
    pub with_metadata: bool,
}

/// `libvirt-hook`'s arguments, as libvirt passes them.
#[derive(Args, Debug)]
pub struct HookArgs {
    /// GUEST_NAME OPERATION SUB-OPERATION EXTRA.
    #[arg(num_args = 0.., allow_hyphen_values = true, value_name = "ARG")]
    pub args: Vec<String>,
}

fn failure(e: &LibvirtError, what: &str) -> Failure {
    Failure::new(e.code(), format!("{what}: {e}"))
}

/// This host's networks a vNIC can join, and where.
pub fn view(engine: &Engine) -> Result<View, Failure> {
    let running = engine.running()?;
    let with_ovs = running
        .networks
        .values()
        .any(|n| n.switch == SwitchType::Ovs);
    let host = if with_ovs {
        Some(engine.observe(true)?)
    } else {
        None
    };
    let ovs = host.as_ref().and_then(|h| h.ovs.as_ref());
    let mut view = View::default();
    for (name, net) in &running.networks {
        let target = match net.switch {
            SwitchType::Legacy if net.bridged => Target::Legacy {
                bridge: name.clone(),
            },
            SwitchType::Legacy => continue,
            SwitchType::Ovs => match ovs.and_then(|o| o.bridge_of_port(name)) {
                Some(b) => Target::Ovs {
                    bridge: b.name.clone(),
                    vlan: net.vlan,
                },
                None => {
                    tracing::warn!(network = %name, "no OVS bridge carries it");
                    continue;
                }
            },
        };
        view.networks.insert(name.clone(), target);
    }
    Ok(view)
}

/// The target of `network` on this host: 27 when it has none, 21 when it
/// is bridgeless, 29 when no OVS bridge carries it.
fn target_of(engine: &Engine, network: &str) -> Result<Target, Failure> {
    let running = engine.running()?;
    let net = netswitch_model::error::clip(network, 40);
    let Some(attrs) = running.networks.get(network) else {
        return Err(RequestError::request(
            Code::BadBridge,
            format!("vnic xml: network: no network {net:?}"),
        )
        .into());
    };
    if attrs.switch == SwitchType::Legacy && !attrs.bridged {
        return Err(RequestError::request(
            Code::BadParams,
            format!("vnic xml: network: {net} is bridgeless: nothing to join"),
        )
        .into());
    }
    view(engine)?.networks.remove(network).ok_or_else(|| {
        Failure::new(
            Code::BackendFailed.number(),
            format!("vnic xml: network {net}: no OVS bridge carries it"),
        )
    })
}

/// `vnic xml`.
pub fn vnic_xml(engine: &Engine, as_json: bool, a: &XmlArgs) -> Result<(), Failure> {
    let mut spec = Spec {
        mac: a.mac.clone(),
        target: Target::Legacy {
            bridge: String::new(),
        },
        tap: a.name.clone(),
    };
    if let Some(p) = &a.port {
        spec.target = Target::Ovn { port: p.clone() };
    }
    build::check(&spec).map_err(|e| failure(&e, "vnic xml"))?;
    if a.port.is_none() {
        let net = a.network.as_deref().unwrap_or_default();
        spec.target = target_of(engine, net)?;
    }
    let interface = build::interface(&spec);
    let metadata = match (&a.network, a.with_metadata) {
        (Some(n), true) => Some(build::metadata(&spec.mac, n)),
        _ => None,
    };
    if as_json {
        let doc = json!({
            "status": {"code": 0, "message": "Done"},
            "interface": interface,
            "metadata": metadata,
        });
        out::line(&doc.to_string());
    } else {
        out::stdout(&interface);
        if let Some(m) = metadata {
            out::stdout(&m);
        }
    }
    Ok(())
}

/// `libvirt-hook`: libvirt's qemu hook protocol.
pub fn libvirt_hook(engine: &Engine, a: &HookArgs) -> Result<(), Failure> {
    let [_guest, op, sub, ..] = a.args.as_slice() else {
        return Err(RequestError::request(
            Code::BadParams,
            "libvirt-hook: expected libvirt's arguments GUEST OPERATION SUB-OPERATION EXTRA",
        )
        .into());
    };
    if hook::action(op, sub) == Action::Ignore {
        drain_stdin();
        return Ok(());
    }
    let doc = read_domain()?;
    let view = view(engine)?;
    let r = hook::rewrite(&doc, &view).map_err(|e| failure(&e, "libvirt-hook"))?;
    for m in &r.moved {
        tracing::info!(mac = %m.mac, network = %m.network, "vNIC re-pointed for this host");
    }
    out::stdout(&r.xml);
    Ok(())
}

/// Reads what libvirt writes to an ignored operation, so it never sees
/// its pipe closed early (nothing to read from a terminal).
fn drain_stdin() {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let _ = std::io::copy(
            &mut stdin.lock().take(hook::MAX_DOMAIN_BYTES as u64),
            &mut std::io::sink(),
        );
    }
}

/// The domain XML on stdin: UTF-8, at most [`hook::MAX_DOMAIN_BYTES`].
fn read_domain() -> Result<String, Failure> {
    let mut buf = Vec::new();
    let limit = hook::MAX_DOMAIN_BYTES as u64 + 1;
    let bad = |m: String| -> Failure {
        RequestError::request(Code::BadParams, format!("libvirt-hook: {m}")).into()
    };
    std::io::stdin()
        .lock()
        .take(limit)
        .read_to_end(&mut buf)
        .map_err(|e| bad(format!("cannot read the domain XML: {e}")))?;
    if buf.len() as u64 == limit {
        return Err(bad(format!(
            "the domain XML is over {} bytes",
            hook::MAX_DOMAIN_BYTES
        )));
    }
    String::from_utf8(buf).map_err(|e| bad(format!("the domain XML is not UTF-8: {e}")))
}
