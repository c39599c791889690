//! The command line: global options, verbs, their help, and the range
//! checks every numeric flag gets before anything runs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const ABOUT: &str = "Host networking for virtualization hosts: bridges, bonds, VLANs, MTU, IP, \
routes and DNS from one declarative request, in VDSM's setupNetworks contract.";

const AFTER_HELP: &str = "\
A request names the networks the host must carry (JSON or YAML; every attribute
is in docs/api.md, examples in examples/):

  {\"networks\": {\"ovirtmgmt\": {\"nic\": \"eth0\", \"vlan\": 100, \"bootproto\": \"none\",
                               \"ipaddr\": \"192.0.2.10\", \"prefix\": 24,
                               \"gateway\": \"192.0.2.1\", \"defaultRoute\": true}},
   \"bondings\": {\"bond0\": {\"nics\": [\"eth1\", \"eth2\"], \"options\": \"mode=4 miimon=100\"}},
   \"options\":  {\"connectivityCheck\": false}}

A network named in a request gets exactly the attributes given (omitted ones
return to their defaults); {\"remove\": true} takes it away; networks and bonds
not named are left alone.

Where verbs run: when the daemon's socket (--socket) answers, every verb but
import-vdsm goes through the daemon (its own --state-dir, --resolv-conf and
--fake-nics then apply); otherwise it runs in this process. Both ways take the
same flags and print the same output.

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

Exit status: 0 on success, else the error code: 2 a command line clap cannot
read (unknown flag, missing argument), 10 no confirmation in time (rolled
back), 21 bad parameters (also a numeric flag out of range), 22 bad address,
23 bad nic, 24 nic in use, 25 bad bonding, 26 bad VLAN, 27 bad network name,
29 backend failure (rolled back), 31 bond in use, 32 OVS database
unreachable, 40 another verb is running. A refused request changes nothing;
the message names the network or bond and the attribute at fault. With
--json a failure prints {\"status\": {\"code\": N, \"message\": \"...\"}} on
stdout. A closed stdout (`| head`) does not change the exit status.";

const SETUP_HELP: &str = "\
Reads: the request (FILE, or standard input for -), the running config in
--state-dir, the host over netlink (and OVSDB for OVS networks), the hooks
in --hooks-dir.

Writes: the host's devices, addresses, routes and rules; --resolv-conf for
the defaultRoute network's name servers; the running config (and the
persistent one with commitOnSuccess); a journal while it runs, so a killed
setup is rolled back by the next verb.

Exit status: 0 applied and verified (or planned, with --dry-run); 21-31 the
request was refused, nothing changed; 29 a backend op or the verification
failed and the host was rolled back; 10 no confirmation within
--confirm-within (rolled back); 40 another verb is running.";

const CAPS_HELP: &str = "\
Reads: the host over netlink, the running and persistent configs in
--state-dir (for which networks netswitch owns), --resolv-conf.
Exit status: 0, or 29 if the host cannot be read.";

const LLDP_HELP: &str = "\
Reads: LLDP frames (ethertype 0x88cc) on every interface, over an AF_PACKET
socket (needs CAP_NET_RAW; without it every nic is reported with LLDP off),
and the host's links over netlink for the list of nics.
Exit status: 0; 21 for --listen outside 1..300.";

/// The parsed command line.
#[derive(Parser, Debug)]
#[command(name = "netswitch", version, about = ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub verb: Verb,
}

/// Options every verb takes.
#[derive(Args, Debug)]
pub struct Global {
    /// Run inside the named network namespace (see `ip netns list`).
    #[arg(long, global = true, value_name = "NAME")]
    pub netns: Option<String>,
    /// Where the running and persistent configs live.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "/var/lib/netswitch"
    )]
    pub state_dir: PathBuf,
    /// The resolver configuration netswitch reads back and writes.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        default_value = "/etc/resolv.conf"
    )]
    pub resolv_conf: PathBuf,
    /// Name patterns of devices that count as nics besides physical ones
    /// (VDSM's fake_nics), comma-separated; a trailing * matches any rest.
    #[arg(
        long,
        global = true,
        value_name = "PATTERNS",
        default_value = "dummy_*,veth_*"
    )]
    pub fake_nics: String,
    /// The OVS database OVS networks are configured through (unix:PATH or
    /// tcp:HOST:PORT); only read when OVS networks run or are asked for.
    #[arg(
        long,
        global = true,
        value_name = "ADDR",
        env = "NETSWITCH_OVS_DB",
        default_value = "unix:/run/openvswitch/db.sock"
    )]
    pub ovs_db: String,
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
    pub ovs_datapath: String,
    /// How long to wait for ovs-vswitchd to carry out an OVS transaction
    /// before failing (29) and rolling back, in seconds (0 < SECS <= 86400);
    /// a slow host with hundreds of ports to create may need more. Also the
    /// deadline of all of a setup's OVSDB calls, writes included (32 past it).
    #[arg(
        long,
        global = true,
        value_name = "SECS",
        env = "NETSWITCH_OVS_TIMEOUT",
        default_value_t = 30.0,
        allow_negative_numbers = true,
        value_parser = ovs_secs
    )]
    pub ovs_timeout: f64,
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
    pub ovs_max_message: u16,
    /// How long an OVN vNIC's plug waits for ovn-controller to install its
    /// port (ovn-installed) before it is undone (29), in seconds.
    #[arg(
        long,
        global = true,
        value_name = "SECS",
        env = "NETSWITCH_OVN_TIMEOUT",
        default_value_t = 90.0,
        allow_negative_numbers = true,
        value_parser = ovs_secs
    )]
    pub ovn_timeout: f64,
    /// Hooks: executables in DIR/before_network_setup/ (may rewrite the
    /// request) and DIR/after_network_setup/, as VDSM runs them.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "/etc/netswitch/hooks.d"
    )]
    pub hooks_dir: PathBuf,
    /// The daemon's socket. When it exists the verbs go to the daemon
    /// (the daemon's own --state-dir, --resolv-conf and --fake-nics then
    /// apply); otherwise they run in this process. Default
    /// /run/netswitch/api.sock, or /run/netswitch/netns-NAME.sock with --netns.
    #[arg(long, global = true, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Print JSON only on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Log what happens to stderr (-v info, -vv debug); or set NETSWITCH_LOG.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The verbs.
#[derive(Subcommand, Debug)]
pub enum Verb {
    /// Show what the host carries: networks, bridges, bonds, VLANs, nics.
    ///
    /// As tables, as YAML (--yaml), or as VDSM's getNetworkCapabilities
    /// object (--json). Changes nothing.
    #[command(visible_alias = "show", after_help = CAPS_HELP)]
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
    /// back to where it was and the exit status is 29. --dry-run (or the
    /// request's dryRun option) prints the plan only: it takes no lock and
    /// runs no hooks.
    #[command(after_help = SETUP_HELP)]
    Setup(SetupArgs),
    /// Confirm that the host is still reachable, so a waiting `setup
    /// --confirm-within` keeps its change (VDSM's confirmConnectivity).
    ///
    /// Reads and removes the pending-confirmation mark in --state-dir.
    /// Exit status: 0 (also when no setup was waiting: the output says so).
    Confirm,
    /// Make the running config the persistent one, restored at boot
    /// (VDSM's setSafeNetworkConfig).
    ///
    /// Reads and writes the configs in --state-dir; the host is not touched.
    /// Exit status: 0, 29 if the configs cannot be written, 40 if another
    /// verb is running.
    Commit,
    /// Make the host carry the persistent config: unpersisted networks go,
    /// missing or changed ones come back. Runs once per boot (the systemd
    /// unit calls it) unless --force.
    ///
    /// Reads the persistent config in --state-dir and the host; writes the
    /// host and the running config. Exit status as for setup.
    Restore {
        /// Restore even if this boot was restored already.
        #[arg(long)]
        force: bool,
    },
    /// Serve the verbs as JSON-RPC 2.0 on a Unix socket (mode 0600), with
    /// caps from netinfo kept live by netlink notifications.
    ///
    /// Runs until SIGTERM. Exit status: 29 if the socket cannot be served
    /// (another daemon serves it, or it cannot be created), or a
    /// listener's certificates or address are unusable.
    Daemon(crate::remote::DaemonArgs),
    /// Print what happens on the host as it happens (links up/down,
    /// addresses, setups, DHCP leases), one JSON object per line with --json.
    ///
    /// Reads netlink notifications (or the daemon's Host.subscribe). Runs
    /// until --count events were printed or stdout closes. Exit status: 0.
    Events {
        /// Stop after this many events (1 or more).
        #[arg(
            long,
            value_name = "N",
            allow_negative_numbers = true,
            value_parser = clap::value_parser!(u64).range(1..)
        )]
        count: Option<u64>,
    },
    /// Per-interface traffic counters: bytes, packets, errors, drops, speed.
    ///
    /// Reads netlink and ethtool. Exit status: 0, or 29 if they cannot be
    /// read.
    Stats,
    /// Show each nic's LLDP neighbor: the switch, port and VLANs it is
    /// plugged into (VDSM's Host.getLldp).
    ///
    /// With the daemon, its receiver's current table (it listens all the
    /// time). In this process there is no long-lived receiver: it listens
    /// for --listen seconds and reports what it heard (a switch announces
    /// every 30 s by default). --json prints the Host.getLldp answer.
    #[command(after_help = LLDP_HELP)]
    Lldp(LldpArgs),
    /// Import a VDSM persistence directory (nets/, bonds/) as the
    /// persistent config; `netswitch restore --force` then applies it.
    ///
    /// Always runs in this process. Exit status: 0, 21-31 for a file that
    /// breaks a rule (named in the message), 40 if another verb is running.
    ImportVdsm {
        /// The directory, e.g. /var/lib/vdsm/persistence/netconf.
        dir: PathBuf,
    },
    /// Plug, unplug and list VMs' vNICs (a tap or veth end joined to a
    /// host network's bridge or OVS bridge).
    ///
    /// Reads and writes <state-dir>/vnics/ and the host (or OVS). Exit
    /// status: 0; 21 bad parameters, 23 no such device, 24 the device is a
    /// port of something else, 27 no such network, 29 the backend failed
    /// (undone), 40 another verb is running.
    #[command(subcommand)]
    Vnic(VnicVerb),
    /// libvirt's qemu hook (/etc/libvirt/hooks/qemu runs it with libvirt's
    /// arguments: GUEST OPERATION SUB-OPERATION EXTRA).
    #[command(name = "libvirt-hook", after_help = crate::libvirt::HOOK_HELP)]
    LibvirtHook(crate::libvirt::HookArgs),

    /// Mirror a network's frames to a device (a VM's tap), stop, list.
    ///
    /// Legacy: tc on the network's bridge (ingress and root prio qdiscs,
    /// a matchall filter with one mirred action per target, the bridge
    /// promiscuous). OVS: a Mirror row per target on the network's OVS
    /// bridge; the target must be a plugged vNIC of that bridge. Kept in
    /// <state-dir>/mirrors/, not in the config; a mirror goes with its
    /// target device. Exit status: 0; 21 bad parameters, 23 no such device
    /// (or not mirrored to), 24 a device of the host's networks, 27 no such
    /// network, 29 the backend failed (undone), 40 another verb is running.
    #[command(subcommand)]
    Mirror(MirrorVerb),
    /// Set the number of SR-IOV virtual functions of NIC (a nic name or a
    /// PCI address), going through 0 where the driver demands it; kept as
    /// devices/NIC in the running and persistent config and restored at
    /// boot before networks (VDSM's hostdevChangeNumvfs).
    ///
    /// Exit status: 0; 21 beyond the device's total or while a network,
    /// bond or vNIC uses one of its VFs; 23 no such nic or no SR-IOV; 29
    /// the kernel refused; 40 another verb is running.
    Sriov {
        /// The PF: a nic name or a PCI address (0000:03:00.0).
        nic: String,
        /// The number of VFs it should have.
        #[arg(value_parser = clap::value_parser!(u32).range(0..=65535))]
        numvfs: u32,
    },
    /// Turn LLDP transmission on NIC on or off: the daemon then announces
    /// the host's name, the nic and the nic's tagged networks (802.1 VLAN
    /// Name TLVs) every 30 s. Kept as devices/NIC {"lldp": {"tx": true}}
    /// in the running and persistent config.
    ///
    /// Exit status: 0; 21 bad value; 23 not a nic; 40 another verb is
    /// running. Without a daemon only the setting is saved.
    #[command(name = "lldp-tx")]
    LldpTx {
        /// The nic.
        nic: String,
        /// on or off.
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// Serve Neutron v2.0 and Keystone (v3, v2.0) over the OVN northbound
    /// DB: an external network provider for oVirt engine and OpenStack
    /// clients (docs/howto-provider.md).
    ///
    /// Reads --config (JSON). Runs until SIGTERM. Exit status: 21 bad
    /// config, 29 a listener cannot be bound, 32 no NB remote answers.
    #[command(name = "provider-ovn")]
    ProviderOvn {
        /// The config file.
        #[arg(long, value_name = "FILE", default_value = netswitch_provider::config::DEFAULT_PATH)]
        config: PathBuf,
    },
    /// Record external network providers (Keystone + Neutron), test them,
    /// list and import their networks (docs/api.md §11).
    #[command(subcommand)]
    Provider(crate::provider::ProviderVerb),
    /// Configure, unconfigure and show this host as an OVN chassis.
    #[command(subcommand)]
    Ovn(crate::ovn::OvnVerb),
    /// The DHCP supervisor of one network, started and stopped by setup
    /// (internal: runs until SIGTERM, then releases its leases).
    #[command(name = "dhcp-client", hide = true)]
    DhcpClient {
        /// The network, whose spec is <state-dir>/dhcp/NET.spec.json.
        net: String,
    },
}

/// `vnic`'s verbs.
#[derive(Subcommand, Debug)]
pub enum VnicVerb {
    /// Join DEVICE to NETWORK as VM's vNIC with MAC (idempotent).
    Plug {
        /// The VM the vNIC belongs to.
        #[arg(long, value_name = "VM")]
        vm: String,
        /// The vNIC's MAC address.
        #[arg(long, value_name = "MAC")]
        mac: String,
        /// The host network to join.
        #[arg(
            long,
            value_name = "NET",
            required_unless_present = "port",
            conflicts_with = "port"
        )]
        network: Option<String>,
        /// OVN: the logical switch port to bind (the device joins br-int
        /// and the plug waits for ovn-controller to install it).
        #[arg(long, value_name = "PORT_ID")]
        port: Option<String>,
        /// An external network provider (`provider add`): the port is
        /// found (by the vNIC id as `device_id`) or created on the
        /// provider's --network (name, id, or imported name), then plugged
        /// as an OVN vNIC; unplug deletes it.
        #[arg(
            long,
            value_name = "NAME",
            requires = "network",
            conflicts_with_all = ["port", "iface_id", "mac_spoof", "mirror", "vf"]
        )]
        provider: Option<String>,
        /// With --provider: the vNIC id the port's device_id carries
        /// (default: a UUID derived from --vm and --mac).
        #[arg(long, value_name = "ID", requires = "provider")]
        vnic_id: Option<String>,
        /// OVN: how long to wait for ovn-controller, in seconds (default
        /// --ovn-timeout); past it the plug is undone (29).
        #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
        timeout: Option<f64>,
        /// The device's MTU (at most the network's; the network's if absent).
        #[arg(long, value_name = "MTU", value_parser = clap::value_parser!(u32).range(68..=65535))]
        mtu: Option<u32>,
        /// OVS only: the port's external_ids:iface-id.
        #[arg(long, value_name = "ID")]
        iface_id: Option<String>,
        /// false: MAC spoofing protection (the vNIC may send only from
        /// MAC: a locked bridge port, tc filters on an OVS vNIC's device,
        /// the PF's spoof check on a VF; a VF checks unless true).
        #[arg(long, value_name = "BOOL")]
        mac_spoof: Option<bool>,

        /// Mirror this network's frames to the device while it is plugged
        /// (repeatable).
        #[arg(long, value_name = "NET")]
        mirror: Vec<String>,
        /// SR-IOV: the VF that is the vNIC, PF:N (PF a nic or PCI
        /// address): the PF sets its MAC and the network's VLAN; no DEVICE.
        #[arg(long, value_name = "PF:N", conflicts_with_all = ["device", "port"])]
        vf: Option<String>,
        /// The tap or veth end the hypervisor made.
        #[arg(required_unless_present = "vf")]
        device: Option<String>,
    },
    /// Plug OVN vNICs listed in FILE (a JSON list of {vmId, mac, port,
    /// device, [mtu]}; - for stdin) in one call: one OVSDB transaction
    /// and one wait for ovn-controller.
    PlugBatch {
        /// The list.
        file: String,
        /// How long to wait for ovn-controller, in seconds.
        #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
        timeout: Option<f64>,
    },
    /// Take DEVICE off its network (the device itself stays; a VF,
    /// PF:N, is reset).
    Unplug {
        /// The plugged device, or PF:N.
        device: String,
    },
    /// The plugged vNICs.
    List,
    /// Print the libvirt <interface> element for a vNIC on NET (or on an
    /// OVN port) as this host's switch carries it.
    #[command(after_help = crate::libvirt::XML_HELP)]
    Xml(crate::libvirt::XmlArgs),
}

/// `mirror`'s verbs.
#[derive(Subcommand, Debug)]
pub enum MirrorVerb {
    /// Copy every frame of NETWORK to DEVICE too (idempotent).
    Add {
        /// The network to mirror.
        network: String,
        /// The device that receives the copies.
        device: String,
    },
    /// Stop copying NETWORK's frames to DEVICE.
    Remove {
        /// The mirrored network.
        network: String,
        /// The device that received the copies.
        device: String,
    },
    /// The active mirrors by network.
    List,
}

/// `setup`'s own flags.
#[derive(Args, Debug)]
pub struct SetupArgs {
    /// The request file, or - for standard input.
    pub file: String,
    /// Validate and print the plan; change nothing, take no lock, run no
    /// hooks.
    #[arg(long)]
    pub dry_run: bool,
    /// After applying, wait up to SECS (0..3600) for `netswitch confirm`
    /// (from the management side, over the new network) and roll back with
    /// code 10 without it. Also turned on by the request's connectivityCheck.
    #[arg(
        long,
        value_name = "SECS",
        allow_negative_numbers = true,
        value_parser = wait_secs
    )]
    pub confirm_within: Option<f64>,
    /// Seconds (0..3600) a blockingdhcp network waits for its lease before
    /// the setup rolls back (default 30).
    #[arg(
        long,
        value_name = "SECS",
        allow_negative_numbers = true,
        value_parser = wait_secs
    )]
    pub dhcp_timeout: Option<f64>,
    /// Testing aid: fail at this op of the plan (1-based; 0 counts as 1)
    /// and roll back.
    #[cfg(feature = "fault-injection")]
    #[arg(
        long,
        hide = true,
        value_name = "N",
        allow_negative_numbers = true,
        value_parser = clap::value_parser!(u32)
    )]
    pub inject_failure_at: Option<u32>,
    /// Testing aid: after applying, change an MTU behind the plan's back
    /// so that verification fails and rolls back.
    #[cfg(feature = "fault-injection")]
    #[arg(long, hide = true)]
    pub inject_drift: bool,
}

/// `lldp`'s own flags.
#[derive(Args, Debug)]
pub struct LldpArgs {
    /// The nics to report (default: every nic).
    #[arg(value_name = "NIC")]
    pub nics: Vec<String>,
    /// In-process only (no daemon): how long to listen, 1..=300 seconds.
    /// The daemon answers at once from what it has heard.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 30,
        allow_negative_numbers = true,
        value_parser = clap::value_parser!(u16).range(1..=300)
    )]
    pub listen: u16,
}

/// Seconds in `lo..=hi`, finite: what every duration flag takes.
fn secs_in(text: &str, lo_open: bool, hi: f64) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && (s > 0.0 || (!lo_open && s == 0.0)) && s <= hi => Ok(s),
        _ => Err(format!(
            "{text:?} is not a number of seconds in {}..{hi}",
            if lo_open { "0 (exclusive)" } else { "0" }
        )),
    }
}

/// `--ovs-timeout`: more than 0, at most a day.
fn ovs_secs(text: &str) -> Result<f64, String> {
    secs_in(text, true, 86_400.0)
}

/// `--confirm-within`, `--dhcp-timeout`: 0..3600, as the request's
/// connectivityTimeout.
fn wait_secs(text: &str) -> Result<f64, String> {
    secs_in(text, false, 3600.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_out_of_range_are_refused() {
        for bad in ["inf", "-inf", "nan", "-1", "1e19", "3601", "x", ""] {
            assert!(wait_secs(bad).is_err(), "{bad}");
        }
        for bad in ["0", "inf", "86401", "-0.5"] {
            assert!(ovs_secs(bad).is_err(), "{bad}");
        }
        assert_eq!(wait_secs("0"), Ok(0.0));
        assert_eq!(wait_secs("0.5"), Ok(0.5));
        assert_eq!(ovs_secs("30"), Ok(30.0));
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
