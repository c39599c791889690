//! `netswitch`: the command an operator, a script or an engine runs.
//!
//! Exit status is the VDSM error code of the failure (see `docs/api.md`),
//! 0 on success; `--json` prints JSON only on stdout, a failure as
//! `{"status": {"code": N, "message": "..."}}`. Every verb runs through one
//! function against [`host::Host`], whether the engine runs here or the
//! daemon does.

mod args;
mod failure;
mod host;
mod libvirt;
mod lldp;
mod mirror;
mod out;
mod ovn;
mod provider;
mod remote;
mod table;
mod verbs;

use std::process::ExitCode;

use args::{Cli, Global, Verb};
use clap::Parser;
use failure::Failure;
use netswitch_daemon::Client;
use netswitch_engine::{Engine, EngineError};
use netswitch_model::{Code, NicPolicy, RequestError};
use serde_json::json;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return command_line_error(&e),
    };
    init_logging(cli.global.verbose);
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(cli.global.json, &e);
            ExitCode::from(e.code)
        }
    }
}

/// Prints a failure: the status object with `--json`, a line on stderr
/// otherwise.
fn report(as_json: bool, e: &Failure) {
    if as_json {
        let status = json!({"status": {"code": e.code, "message": e.message}});
        out::line(&status.to_string());
    } else {
        out::err(&format!("netswitch: error {}: {e}", e.code));
    }
}

/// A command line clap refused. A value out of range (a number of seconds
/// that is `inf`, a count of `-1`) is a bad parameter: code 21, reported
/// like any other failure; everything else (an unknown flag, `--help`)
/// goes as clap says, with its own status (2, or 0 for help).
fn command_line_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if !matches!(
        e.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        let _ = e.print();
        return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
    }
    let text = e.render().to_string();
    let first = text.lines().next().unwrap_or("bad value");
    let message = first.strip_prefix("error: ").unwrap_or(first).to_string();
    let as_json = std::env::args_os().any(|a| a == "--json");
    let code = Code::BadParams.number();
    if as_json {
        report(true, &Failure::new(code, message));
    } else {
        out::err(text.trim_end());
    }
    ExitCode::from(code)
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter =
        EnvFilter::try_from_env("NETSWITCH_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The engine the global options describe.
fn engine(g: &Global) -> Engine {
    let mut engine = Engine::new(&g.state_dir, &g.resolv_conf);
    engine.ovs.db = g.ovs_db.clone();
    engine.ovs.datapath = g.ovs_datapath.clone();
    engine.ovs.timeout = std::time::Duration::from_secs_f64(g.ovs_timeout);
    engine.ovs.max_message = usize::from(g.ovs_max_message) << 20;
    engine.ovs.ovn_timeout = std::time::Duration::from_secs_f64(g.ovn_timeout);
    engine.hooks_dir = Some(g.hooks_dir.clone());
    engine.nics = NicPolicy {
        fake_nics: g
            .fake_nics
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect(),
    };
    engine
}

/// Connects to the daemon when its socket is there; `None` means run the
/// engine here (no socket, or a stale one nobody listens on).
fn daemon_client(g: &Global) -> Result<Option<Client>, Failure> {
    let path = g
        .socket
        .clone()
        .unwrap_or_else(|| netswitch_daemon::default_socket(g.netns.as_deref()));
    if !path.exists() {
        return Ok(None);
    }
    match Client::connect(&path) {
        Ok(c) => Ok(Some(c)),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            tracing::warn!(socket = %path.display(), "stale daemon socket; running in-process");
            Ok(None)
        }
        Err(e) => Err(Failure::new(
            29,
            format!("daemon socket {}: {e}", path.display()),
        )),
    }
}

/// What the verbs run against: the daemon if it answers, else the engine
/// here (inside `--netns`).
fn open_host(g: &Global) -> Result<Box<dyn host::Host>, Failure> {
    if let Some(c) = daemon_client(g)? {
        return Ok(Box::new(host::Remote(c)));
    }
    if let Some(ns) = &g.netns {
        netswitch_netinfo::enter_netns(ns)?;
    }
    Ok(Box::new(host::Local(engine(g))))
}

fn run(cli: &Cli) -> Result<(), Failure> {
    let g = &cli.global;
    if let Some(done) = provider::plug::dispatch(g, &cli.verb) {
        return done;
    }
    match &cli.verb {
        Verb::DhcpClient { net } => dhcp_client(g, net),
        Verb::Daemon(a) => daemon(g, a),
        Verb::ProviderOvn { config } => provider_ovn(config),
        Verb::ImportVdsm { dir } => {
            // Only writes the persistent config: always in-process.
            if let Some(ns) = &g.netns {
                netswitch_netinfo::enter_netns(ns)?;
            }
            verbs::import_vdsm(&engine(g), g.json, dir)
        }
        Verb::Vnic(args::VnicVerb::Xml(a)) => in_process(g, |e| libvirt::vnic_xml(e, g.json, a)),
        Verb::LibvirtHook(a) => in_process(g, |e| libvirt::libvirt_hook(e, a)),
        verb => verbs::run(&mut *open_host(g)?, g.json, verb),
    }
}

/// Runs a read-only verb against the engine here (inside `--netns`),
/// never through the daemon.
fn in_process(
    g: &Global,
    verb: impl FnOnce(&Engine) -> Result<(), Failure>,
) -> Result<(), Failure> {
    if let Some(ns) = &g.netns {
        netswitch_netinfo::enter_netns(ns)?;
    }
    verb(&engine(g))
}

fn dhcp_client(g: &Global, net: &str) -> Result<(), Failure> {
    if net.is_empty() || net.contains('/') || net.starts_with('.') {
        return Err(
            RequestError::request(Code::BadParams, format!("bad network name {net:?}")).into(),
        );
    }
    netswitch_dhcp::supervise::serve(&g.state_dir, &g.resolv_conf, net).map_err(|e| {
        EngineError::from(RequestError::request(Code::BackendFailed, e.to_string())).into()
    })
}

fn daemon(g: &Global, remote: &remote::DaemonArgs) -> Result<(), Failure> {
    let listeners = remote.listeners()?;
    if let Some(ns) = &g.netns {
        // Before any thread exists, so every later thread starts inside it.
        netswitch_netinfo::enter_netns(ns)?;
    }
    let socket = g
        .socket
        .clone()
        .unwrap_or_else(|| netswitch_daemon::default_socket(g.netns.as_deref()));
    let config = netswitch_daemon::DaemonConfig {
        socket,
        engine: engine(g),
    };
    netswitch_daemon::serve_listeners(config, netswitch_daemon::Limits::default(), listeners)
        .map_err(|e| Failure::new(e.code(), e.to_string()))
}

/// `netswitch provider-ovn`: the provider runs in this process until killed.
fn provider_ovn(config: &std::path::Path) -> Result<(), Failure> {
    let fail = |e: netswitch_provider::Error| Failure::new(e.code(), e.to_string());
    let config = netswitch_provider::Config::load(config).map_err(fail)?;
    netswitch_provider::run(config).map_err(fail)
}
