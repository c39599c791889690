//! `netswitch`: the command an operator, a script or an engine runs.
//!
//! Exit status is the VDSM error code of the failure (DESIGN §5.2), 0 on
//! success; `--json` prints JSON only on stdout, a failure as
//! `{"status": {"code": N, "message": "..."}}`.

mod table;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use netswitch_engine::{Engine, EngineError, SetupOptions};
use netswitch_model::{Code, NicPolicy, RequestError};
use serde_json::json;

const ABOUT: &str = "Host networking for virtualization hosts: bridges, bonds, VLANs, MTU, IP, \
routes and DNS from one declarative request, in VDSM's setupNetworks contract.";

const AFTER_HELP: &str = "\
A request names the networks the host must carry:

  {\"networks\": {\"ovirtmgmt\": {\"nic\": \"eth0\", \"vlan\": 100, \"bootproto\": \"none\",
                               \"ipaddr\": \"192.0.2.10\", \"prefix\": 24,
                               \"gateway\": \"192.0.2.1\", \"defaultRoute\": true}},
   \"bondings\": {\"bond0\": {\"nics\": [\"eth1\", \"eth2\"], \"options\": \"mode=4 miimon=100\"}},
   \"options\":  {\"connectivityCheck\": false}}

Examples:
  netswitch caps                              what the host carries, as tables
  netswitch caps --json                       the getNetworkCapabilities object
  netswitch setup --dry-run examples/bridged-vlan-on-bond.json
                                              print the plan; change nothing
  netswitch --netns lab1 caps                 look inside network namespace lab1

Exit status: 0 on success, else the error code: 21 bad parameters, 22 bad address,
23 bad nic, 24 nic in use, 25 bad bonding, 26 bad VLAN, 27 bad network name,
29 backend failure (rolled back), 31 bond in use, 10 no confirmation in time
(rolled back).";

#[derive(Parser, Debug)]
#[command(name = "netswitch", version, about = ABOUT, after_help = AFTER_HELP)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Args, Debug)]
struct Global {
    /// Run inside the named network namespace (see `ip netns list`).
    #[arg(long, global = true, value_name = "NAME")]
    netns: Option<String>,
    /// Where the running and persistent configs live.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "/var/lib/netswitch"
    )]
    state_dir: PathBuf,
    /// The resolver configuration netswitch reads back and writes.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        default_value = "/etc/resolv.conf"
    )]
    resolv_conf: PathBuf,
    /// Name patterns of devices that count as nics besides physical ones
    /// (VDSM's fake_nics), comma-separated; a trailing * matches any rest.
    #[arg(
        long,
        global = true,
        value_name = "PATTERNS",
        default_value = "dummy_*,veth_*"
    )]
    fake_nics: String,
    /// The OVS database OVS networks are configured through (unix:PATH or
    /// tcp:HOST:PORT); only read when OVS networks run or are asked for.
    #[arg(
        long,
        global = true,
        value_name = "ADDR",
        env = "NETSWITCH_OVS_DB",
        default_value = "unix:/run/openvswitch/db.sock"
    )]
    ovs_db: String,
    /// Datapath of the OVS bridges netswitch creates: system (the kernel's
    /// openvswitch module) or netdev (userspace, where the module is missing).
    #[arg(
        long,
        global = true,
        value_name = "TYPE",
        env = "NETSWITCH_OVS_DATAPATH",
        default_value = "system",
        value_parser = ["system", "netdev"]
    )]
    ovs_datapath: String,
    /// Hooks: executables in DIR/before_network_setup/ (may rewrite the
    /// request) and DIR/after_network_setup/, as VDSM runs them.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "/etc/netswitch/hooks.d"
    )]
    hooks_dir: PathBuf,
    /// Print JSON only on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// Log what happens to stderr (-v info, -vv debug); or set NETSWITCH_LOG.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Subcommand, Debug)]
enum Verb {
    /// Show what the host carries: networks, bridges, bonds, VLANs, nics.
    #[command(visible_alias = "show")]
    Caps {
        /// Print YAML instead of tables.
        #[arg(long, conflicts_with = "json")]
        yaml: bool,
    },
    /// Read a setupNetworks request (JSON or YAML) and carry it out.
    ///
    /// The request replaces the named networks' and bonds' attributes as a
    /// whole; networks and bonds it does not name are left as they are. The
    /// plan is applied in netlink batches and verified by reading the host
    /// back; on any failure the host is rolled back to where it was and the
    /// exit status is 29.
    Setup {
        /// The request file, or - for standard input.
        file: String,
        /// Validate and print the plan; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// After applying, wait up to SECS for `netswitch confirm` (from the
        /// management side, over the new network) and roll back with code 10
        /// without it. Also turned on by the request's connectivityCheck.
        #[arg(long, value_name = "SECS")]
        confirm_within: Option<f64>,
        /// Testing aid: fail at this op of the plan (1-based) and roll back.
        #[arg(long, hide = true, value_name = "N")]
        inject_failure_at: Option<usize>,
        /// Seconds a blockingdhcp network waits for its lease (default 30).
        #[arg(long, hide = true, value_name = "SECS")]
        dhcp_timeout: Option<f64>,
    },
    /// Confirm that the host is still reachable, so a waiting `setup
    /// --confirm-within` keeps its change (VDSM's confirmConnectivity).
    Confirm,
    /// Make the running config the persistent one, restored at boot
    /// (VDSM's setSafeNetworkConfig).
    Commit,
    /// Make the host carry the persistent config: unpersisted networks go,
    /// missing or changed ones come back. Runs once per boot (the systemd
    /// unit calls it) unless --force.
    Restore {
        /// Restore even if this boot was restored already.
        #[arg(long)]
        force: bool,
    },
    /// Import a VDSM persistence directory (nets/, bonds/) as the
    /// persistent config; `netswitch restore --force` then applies it.
    ImportVdsm {
        /// The directory, e.g. /var/lib/vdsm/persistence/netconf.
        dir: PathBuf,
    },
    /// The DHCP supervisor of one network, started and stopped by setup
    /// (internal: runs until SIGTERM, then releases its leases).
    #[command(name = "dhcp-client", hide = true)]
    DhcpClient {
        /// The network, whose spec is <state-dir>/dhcp/NET.spec.json.
        net: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.global.verbose);
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = e.code();
            if cli.global.json {
                println!(
                    "{}",
                    json!({"status": {"code": code, "message": e.to_string()}})
                );
            } else {
                eprintln!("netswitch: error {code}: {e}");
            }
            ExitCode::from(code)
        }
    }
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

fn run(cli: &Cli) -> Result<(), EngineError> {
    let g = &cli.global;
    if let Some(ns) = &g.netns {
        // Before any thread exists, so every later thread starts inside it.
        netswitch_netinfo::enter_netns(ns)?;
    }
    if let Verb::DhcpClient { net } = &cli.verb {
        if net.is_empty() || net.contains('/') || net.starts_with('.') {
            return Err(RequestError::request(
                Code::BadParams,
                format!("bad network name {net:?}"),
            )
            .into());
        }
        return netswitch_dhcp::supervise::serve(&g.state_dir, &g.resolv_conf, net)
            .map_err(|e| RequestError::request(Code::BackendFailed, e.to_string()).into());
    }
    let mut engine = Engine::new(&g.state_dir, &g.resolv_conf);
    engine.ovs.db = g.ovs_db.clone();
    engine.ovs.datapath = g.ovs_datapath.clone();
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
    match &cli.verb {
        Verb::Caps { yaml } => {
            let caps = engine.caps()?;
            if g.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&caps).unwrap_or_default()
                );
            } else if *yaml {
                print!("{}", serde_saphyr::to_string(&caps).unwrap_or_default());
            } else {
                print!("{}", table::caps(&caps));
            }
        }
        Verb::Confirm => {
            let waiting = engine.confirm()?;
            let message = if waiting {
                "confirmed"
            } else {
                "no setup is waiting for a confirmation"
            };
            say(g.json, message, json!({"confirmed": waiting}));
        }
        Verb::Commit => {
            let c = engine.commit()?;
            let message = format!(
                "the running config ({} networks, {} bonds) is now the persistent one",
                c.networks.len(),
                c.bonds.len()
            );
            say(g.json, &message, json!({}));
        }
        Verb::Restore { force } => {
            let r = engine.restore(*force)?;
            for s in &r.skipped {
                eprintln!("netswitch: restore: skipped {s}");
            }
            let message = match (r.ran, r.applied) {
                (false, _) => "this boot was restored already (use --force to restore again)",
                (true, false) => "the host already carries the persistent config",
                (true, true) => "the host carries the persistent config again",
            };
            say(
                g.json,
                message,
                json!({"ran": r.ran, "applied": r.applied, "skipped": r.skipped}),
            );
        }
        Verb::DhcpClient { .. } => {}
        Verb::ImportVdsm { dir } => {
            let c = engine.import_vdsm(dir)?;
            let message = format!(
                "imported {} networks and {} bonds as the persistent config; run `netswitch restore --force` to apply it",
                c.networks.len(),
                c.bonds.len()
            );
            say(g.json, &message, json!({}));
        }
        Verb::Setup {
            file,
            dry_run,
            confirm_within,
            inject_failure_at,
            dhcp_timeout,
        } => {
            let text = read_request(file)?;
            let opts = SetupOptions {
                dry_run: *dry_run,
                inject_failure_at: inject_failure_at.map(|n| n.saturating_sub(1)),
                confirm_within: *confirm_within,
                dhcp_timeout: *dhcp_timeout,
                ..SetupOptions::default()
            };
            let started = std::time::Instant::now();
            let outcome = engine.setup(&text, &opts)?;
            if g.json {
                let out = json!({
                    "status": {"code": 0, "message": "Done"},
                    "applied": outcome.applied,
                    "plan": outcome.plan,
                    "desired": outcome.desired,
                });
                println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            } else if !outcome.applied {
                print!("{}", table::plan(&outcome));
            } else {
                println!(
                    "Applied and verified {} operations in {} ms; the running config is saved{}.",
                    outcome.plan.ops.len(),
                    started.elapsed().as_millis(),
                    if outcome.request.options.commit_on_success {
                        " and persistent"
                    } else {
                        ""
                    }
                );
            }
        }
    }
    Ok(())
}

/// Prints a success: a line for people, or the status object and extra
/// fields for scripts.
fn say(as_json: bool, message: &str, extra: serde_json::Value) {
    if as_json {
        let mut out = json!({"status": {"code": 0, "message": message}});
        if let (Some(o), serde_json::Value::Object(e)) = (out.as_object_mut(), extra) {
            o.extend(e);
        }
        println!("{out}");
    } else {
        println!("{message}");
    }
}

fn read_request(file: &str) -> Result<Vec<u8>, EngineError> {
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
