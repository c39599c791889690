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
use netswitch_daemon::{Client, ClientError};
use netswitch_engine::{Engine, EngineError, Outcome, SetupOptions};
use netswitch_model::{Code, NicPolicy, RequestError};
use serde_json::{json, Value};

const ABOUT: &str = "Host networking for virtualization hosts: bridges, bonds, VLANs, MTU, IP, \
routes and DNS from one declarative request, in VDSM's setupNetworks contract.";

const AFTER_HELP: &str = "\
A request names the networks the host must carry (JSON or YAML; every attribute
is in DESIGN.md §5.1, examples in examples/):

  {\"networks\": {\"ovirtmgmt\": {\"nic\": \"eth0\", \"vlan\": 100, \"bootproto\": \"none\",
                               \"ipaddr\": \"192.0.2.10\", \"prefix\": 24,
                               \"gateway\": \"192.0.2.1\", \"defaultRoute\": true}},
   \"bondings\": {\"bond0\": {\"nics\": [\"eth1\", \"eth2\"], \"options\": \"mode=4 miimon=100\"}},
   \"options\":  {\"connectivityCheck\": false}}

A network named in a request gets exactly the attributes given (omitted ones
return to their defaults); {\"remove\": true} takes it away; networks and bonds
not named are left alone.

Examples:
  netswitch caps                              what the host carries, as tables
  netswitch caps --json                       the getNetworkCapabilities object
  netswitch caps --format svg > host.svg      a picture of the host (or dot)
  netswitch setup --dry-run examples/bridged-vlan-on-bond.json
                                              print the plan; change nothing
  netswitch setup examples/static-ip-default-route.json
                                              apply, verify, or roll back (exit 29)
  echo '{\"networks\": {\"ovirtmgmt\": {\"remove\": true}}}' | netswitch setup -
                                              a request on standard input
  netswitch setup --confirm-within 60 req.yaml && netswitch commit
                                              keep it only if `netswitch confirm`
                                              comes within 60 s; then persist it
  netswitch --netns lab1 caps                 look inside network namespace lab1

Exit status: 0 on success, else the error code: 10 no confirmation in time
(rolled back), 21 bad parameters, 22 bad address, 23 bad nic, 24 nic in use,
25 bad bonding, 26 bad VLAN, 27 bad network name, 29 backend failure (rolled
back), 31 bond in use, 32 OVS database unreachable, 40 another verb is running.
A refused request changes nothing; the message names the network or bond and
the attribute at fault.";

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
    /// How long to wait for ovs-vswitchd to carry out an OVS transaction
    /// before failing (29) and rolling back; a slow host with hundreds of
    /// ports to create may need more. Also the deadline of all of a
    /// setup's OVSDB calls, writes included (32 past it).
    #[arg(
        long,
        global = true,
        value_name = "SECS",
        env = "NETSWITCH_OVS_TIMEOUT",
        default_value_t = 30.0,
        value_parser = parse_secs
    )]
    ovs_timeout: f64,
    /// The longest message accepted from the OVS database, in MiB; a
    /// longer one drops the connection (32) instead of growing netswitch.
    #[arg(
        long,
        global = true,
        value_name = "MIB",
        env = "NETSWITCH_OVS_MAX_MESSAGE",
        default_value_t = 64,
        value_parser = clap::value_parser!(u16).range(1..=4096)
    )]
    ovs_max_message: u16,
    /// Hooks: executables in DIR/before_network_setup/ (may rewrite the
    /// request) and DIR/after_network_setup/, as VDSM runs them.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "/etc/netswitch/hooks.d"
    )]
    hooks_dir: PathBuf,
    /// The daemon's socket. When it exists the verbs go to the daemon
    /// (the daemon's own --state-dir, --resolv-conf and --fake-nics then
    /// apply); otherwise they run in this process. Default
    /// /run/netswitch/api.sock, or /run/netswitch/netns-NAME.sock with --netns.
    #[arg(long, global = true, value_name = "PATH")]
    socket: Option<PathBuf>,
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
        /// Draw the host as a layered graph: svg, or dot for Graphviz.
        #[arg(long, value_parser = ["svg", "dot"], conflicts_with_all = ["json", "yaml"])]
        format: Option<String>,
    },
    /// Read a setupNetworks request (JSON or YAML) and carry it out.
    ///
    /// The request replaces the named networks' and bonds' attributes as a
    /// whole; networks and bonds it does not name are left as they are. A
    /// request that breaks a rule is refused with its code (21-31) before
    /// anything changes. Otherwise the plan is applied in netlink batches and
    /// verified by reading the host back; on any failure the host is rolled
    /// back to where it was and the exit status is 29.
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
        /// Testing aid: after applying, change an MTU behind the plan's back
        /// so that verification fails and rolls back.
        #[arg(long, hide = true)]
        inject_drift: bool,
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
    /// Serve the verbs as JSON-RPC 2.0 on a Unix socket (mode 0600), with
    /// caps from netinfo kept live by netlink notifications.
    Daemon,
    /// Print what happens on the host as it happens (links up/down,
    /// addresses, setups), one JSON object per line with --json.
    Events {
        /// Stop after this many events.
        #[arg(long, value_name = "N")]
        count: Option<usize>,
    },
    /// Per-interface traffic counters: bytes, packets, errors, drops, speed.
    Stats,
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

/// A failed verb: the exit code (the VDSM code, DESIGN §5.2) and what
/// failed, whether it ran here or in the daemon.
#[derive(Debug)]
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn code(&self) -> u8 {
        self.code
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Self {
        Failure {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

impl From<RequestError> for Failure {
    fn from(e: RequestError) -> Self {
        EngineError::from(e).into()
    }
}

impl From<netswitch_netinfo::NetinfoError> for Failure {
    fn from(e: netswitch_netinfo::NetinfoError) -> Self {
        EngineError::from(e).into()
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        let code = match &e {
            // A VDSM code passes through; JSON-RPC's own (negative) codes
            // and permission refusals are not VDSM codes: exit 1.
            ClientError::Rpc { code, .. } => {
                u8::try_from(*code).ok().filter(|c| *c > 0).unwrap_or(1)
            }
            ClientError::Io(_) | ClientError::Protocol(_) => 29,
        };
        Failure {
            code,
            message: e.to_string(),
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
        Err(e) => Err(Failure {
            code: 29,
            message: format!("daemon socket {}: {e}", path.display()),
        }),
    }
}

fn run(cli: &Cli) -> Result<(), Failure> {
    let g = &cli.global;
    if let Verb::DhcpClient { net } = &cli.verb {
        if net.is_empty() || net.contains('/') || net.starts_with('.') {
            return Err(EngineError::from(RequestError::request(
                Code::BadParams,
                format!("bad network name {net:?}"),
            ))
            .into());
        }
        return netswitch_dhcp::supervise::serve(&g.state_dir, &g.resolv_conf, net).map_err(|e| {
            EngineError::from(RequestError::request(Code::BackendFailed, e.to_string())).into()
        });
    }
    let mut engine = Engine::new(&g.state_dir, &g.resolv_conf);
    engine.ovs.db = g.ovs_db.clone();
    engine.ovs.datapath = g.ovs_datapath.clone();
    engine.ovs.timeout = std::time::Duration::from_secs_f64(g.ovs_timeout);
    engine.ovs.max_message = usize::from(g.ovs_max_message) << 20;
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
    if let Verb::Daemon = cli.verb {
        if let Some(ns) = &g.netns {
            // Before any thread exists, so every later thread starts inside it.
            netswitch_netinfo::enter_netns(ns)?;
        }
        let socket = g
            .socket
            .clone()
            .unwrap_or_else(|| netswitch_daemon::default_socket(g.netns.as_deref()));
        return netswitch_daemon::serve(netswitch_daemon::DaemonConfig { socket, engine }).map_err(
            |e| Failure {
                code: e.code(),
                message: e.to_string(),
            },
        );
    }
    // import-vdsm only writes the persistent config; it stays in-process.
    let mut remote = match cli.verb {
        Verb::ImportVdsm { .. } => None,
        _ => daemon_client(g)?,
    };
    if remote.is_none() {
        if let Some(ns) = &g.netns {
            netswitch_netinfo::enter_netns(ns)?;
        }
    }
    match &cli.verb {
        Verb::Daemon => unreachable!("handled above"),
        Verb::Caps { yaml, format } => {
            let caps = match remote.as_mut() {
                Some(c) => {
                    let v = c.call("Host.getNetworkCapabilities", json!({}))?;
                    serde_json::from_value(v).map_err(|e| protocol(&e))?
                }
                None => engine.caps()?,
            };
            if let Some(f) = format {
                let f = match f.as_str() {
                    "svg" => netswitch_draw::Format::Svg,
                    _ => netswitch_draw::Format::Dot,
                };
                print!("{}", netswitch_draw::draw(&caps, f));
            } else if g.json {
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
            let waiting = match remote.as_mut() {
                Some(c) => c
                    .call("Host.confirmConnectivity", json!({}))?
                    .get("confirmed")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                None => engine.confirm()?,
            };
            let message = if waiting {
                "confirmed"
            } else {
                "no setup is waiting for a confirmation"
            };
            say(g.json, message, json!({"confirmed": waiting}));
        }
        Verb::Commit => {
            let (nets, bonds) = match remote.as_mut() {
                Some(c) => {
                    let v = c.call("Host.setSafeNetworkConfig", json!({}))?;
                    (
                        v["networks"].as_u64().unwrap_or(0) as usize,
                        v["bonds"].as_u64().unwrap_or(0) as usize,
                    )
                }
                None => {
                    let c = engine.commit()?;
                    (c.networks.len(), c.bonds.len())
                }
            };
            let message = format!(
                "the running config ({nets} networks, {bonds} bonds) is now the persistent one"
            );
            say(g.json, &message, json!({}));
        }
        Verb::Restore { force } => {
            let (ran, applied, skipped) = match remote.as_mut() {
                Some(c) => {
                    let v = c.call("Host.restoreNetworks", json!({"force": force}))?;
                    let skipped: Vec<String> =
                        serde_json::from_value(v["skipped"].clone()).unwrap_or_default();
                    (
                        v["ran"].as_bool().unwrap_or(false),
                        v["applied"].as_bool().unwrap_or(false),
                        skipped,
                    )
                }
                None => {
                    let r = engine.restore(*force)?;
                    (r.ran, r.applied, r.skipped)
                }
            };
            for s in &skipped {
                eprintln!("netswitch: restore: skipped {s}");
            }
            let message = match (ran, applied) {
                (false, _) => "this boot was restored already (use --force to restore again)",
                (true, false) => "the host already carries the persistent config",
                (true, true) => "the host carries the persistent config again",
            };
            say(
                g.json,
                message,
                json!({"ran": ran, "applied": applied, "skipped": skipped}),
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
        Verb::Stats => {
            let stats = match remote.as_mut() {
                Some(c) => c.call("Host.getNetworkStatistics", json!({}))?,
                None => {
                    let mut ifaces = serde_json::Map::new();
                    for s in netswitch_netinfo::statistics()? {
                        let mut v = serde_json::to_value(&s).unwrap_or(Value::Null);
                        if let Some(o) = v.as_object_mut() {
                            o.remove("name");
                        }
                        ifaces.insert(s.name, v);
                    }
                    json!({"interfaces": ifaces})
                }
            };
            if g.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&stats).unwrap_or_default()
                );
            } else {
                print!("{}", table::stats(&stats));
            }
        }
        Verb::Events { count } => {
            let mut left = count.unwrap_or(usize::MAX);
            let print = |v: &Value| {
                if g.json {
                    println!("{v}");
                } else {
                    println!("{}", table::event(v));
                }
                use std::io::Write as _;
                let _ = std::io::stdout().flush();
            };
            match remote.as_mut() {
                Some(c) => {
                    c.call("Host.subscribe", json!({}))?;
                    while left > 0 {
                        let msg = c.read_message()?;
                        if msg.get("method").and_then(Value::as_str) == Some("Host.event") {
                            print(&msg["params"]);
                            left -= 1;
                        }
                    }
                }
                None => {
                    let live = netswitch_netinfo::Live::start()?;
                    let mut rx = live.subscribe();
                    while left > 0 {
                        match rx.blocking_recv() {
                            Ok(e) => {
                                print(&serde_json::to_value(&e).unwrap_or(Value::Null));
                                left -= 1;
                            }
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                                print(&json!({"event": "lagged", "missed": n}));
                            }
                            Err(_) => break,
                        }
                    }
                }
            }
        }
        Verb::Setup {
            file,
            dry_run,
            confirm_within,
            inject_failure_at,
            dhcp_timeout,
            inject_drift,
        } => {
            let text = read_request(file)?;
            let started = std::time::Instant::now();
            let outcome = match remote.as_mut() {
                Some(c) => remote_setup(c, &text, *dry_run, *confirm_within, *inject_failure_at)?,
                None => {
                    let opts = SetupOptions {
                        dry_run: *dry_run,
                        inject_failure_at: inject_failure_at.map(|n| n.saturating_sub(1)),
                        confirm_within: *confirm_within,
                        dhcp_timeout: *dhcp_timeout,
                        inject_drift: *inject_drift,
                        ..SetupOptions::default()
                    };
                    engine.setup(&text, &opts)?
                }
            };
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

fn protocol(e: &serde_json::Error) -> Failure {
    Failure {
        code: 29,
        message: format!("daemon sent a malformed answer: {e}"),
    }
}

/// setup through the daemon, with the CLI's contract kept: the connectivity
/// check is off unless the request's options or --confirm-within turn it
/// on (over JSON-RPC it is on by default), and the request is parsed here
/// first so a malformed one fails exactly as in-process.
fn remote_setup(
    client: &mut Client,
    text: &[u8],
    dry_run: bool,
    confirm_within: Option<f64>,
    inject_failure_at: Option<usize>,
) -> Result<Outcome, Failure> {
    let request = netswitch_model::parse::parse_request(text)?;
    let doc = netswitch_model::parse::parse_document(text)?;
    let Value::Object(mut doc) = doc else {
        unreachable!("parse_request accepted it, so it is an object")
    };
    let options = doc
        .entry("options")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| RequestError::request(Code::BadParams, "options must be an object"))?;
    match confirm_within {
        Some(secs) => {
            options.insert("connectivityCheck".into(), json!(true));
            options.insert("connectivityTimeout".into(), json!(secs));
        }
        None => {
            options.entry("connectivityCheck").or_insert(json!(false));
        }
    }
    if dry_run {
        options.insert("dryRun".into(), json!(true));
    }
    if let Some(n) = inject_failure_at {
        doc.insert("_injectFailureAt".into(), json!(n));
    }
    doc.insert("_withDesired".into(), json!(true));
    let v = client.call("Host.setupNetworks", Value::Object(doc))?;
    Ok(Outcome {
        request,
        desired: serde_json::from_value(v["desired"].clone()).map_err(|e| protocol(&e))?,
        plan: serde_json::from_value(v["plan"].clone()).map_err(|e| protocol(&e))?,
        applied: v["applied"].as_bool().unwrap_or(false),
    })
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

/// A positive, finite number of seconds (for `--ovs-timeout`).
fn parse_secs(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => Ok(s),
        _ => Err(format!(
            "{text:?} is not a number of seconds between 0 and 86400"
        )),
    }
}
