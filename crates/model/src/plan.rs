//! A plan: the ordered backend operations that move the host from its
//! current state to the desired one.
//!
//! Ops are plain data so the planner stays pure, `--dry-run` can print them,
//! and the applier (and its journal of inverses) can be tested op by op.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// One route to add or delete.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RouteSpec {
    pub table: u32,
    pub dst: IpNet,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gateway: Option<IpAddr>,
    pub dev: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub prefsrc: Option<IpAddr>,
    /// `link` for on-link subnet routes, `universe` otherwise.
    pub scope: String,
}

/// One policy rule to add or delete.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RuleSpec {
    pub priority: u32,
    pub table: u32,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub src: Option<IpNet>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub dst: Option<IpNet>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub iif: Option<String>,
}

/// One backend operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    CreateBridge {
        name: String,
        mtu: u32,
        stp: bool,
        options: BTreeMap<String, String>,
    },
    CreateBond {
        name: String,
        options: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        hwaddr: Option<String>,
    },
    CreateVlan {
        name: String,
        parent: String,
        id: u16,
        mtu: u32,
    },
    DeleteLink {
        name: String,
    },
    SetMaster {
        link: String,
        master: String,
    },
    ReleaseMaster {
        link: String,
    },
    SetMtu {
        link: String,
        mtu: u32,
    },
    SetUp {
        link: String,
    },
    SetDown {
        link: String,
    },
    SetBridgeOptions {
        name: String,
        stp: bool,
        options: BTreeMap<String, String>,
    },
    SetBondOptions {
        name: String,
        options: String,
    },
    SetMac {
        link: String,
        mac: String,
    },
    AddAddr {
        link: String,
        addr: IpNet,
    },
    DelAddr {
        link: String,
        addr: IpNet,
    },
    AddRoute(RouteSpec),
    DelRoute(RouteSpec),
    AddRule(RuleSpec),
    DelRule(RuleSpec),
    /// An OVS bridge netswitch owns, marked in `external_ids` so it is
    /// found again (its name is made up), with its southbound port.
    OvsAddBridge {
        name: String,
        /// The mark: `dev:<southbound>` or `net:<network>` for a nicless one.
        mark: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        southbound: Option<String>,
    },
    OvsDelBridge {
        name: String,
    },
    /// A port on an OVS bridge: a network's internal port or a southbound.
    OvsAddPort {
        bridge: String,
        name: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        tag: Option<u16>,
        internal: bool,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        mtu: Option<u32>,
    },
    OvsDelPort {
        bridge: String,
        name: String,
    },
    /// A network's internal port gets a new tag or MTU.
    OvsSetPort {
        name: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        tag: Option<u16>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        mtu: Option<u32>,
    },
    /// `ovn-bridge-mappings`; `None` removes the key.
    OvsSetMappings {
        #[serde(skip_serializing_if = "Option::is_none", default)]
        mappings: Option<String>,
    },
}

impl Op {
    /// Whether the op goes to OVSDB rather than the kernel. The engine
    /// sends a plan's OVS ops as one transaction.
    pub fn is_ovs(&self) -> bool {
        matches!(
            self,
            Op::OvsAddBridge { .. }
                | Op::OvsDelBridge { .. }
                | Op::OvsAddPort { .. }
                | Op::OvsDelPort { .. }
                | Op::OvsSetPort { .. }
                | Op::OvsSetMappings { .. }
        )
    }
}

fn fmt_opts(opts: &BTreeMap<String, String>) -> String {
    opts.iter().map(|(k, v)| format!(" {k}={v}")).collect()
}

impl fmt::Display for RouteSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dst = if self.dst.prefix_len() == 0 {
            "default".to_string()
        } else {
            self.dst.to_string()
        };
        write!(f, "{dst}")?;
        if let Some(gw) = self.gateway {
            write!(f, " via {gw}")?;
        }
        write!(f, " dev {}", self.dev)?;
        if let Some(src) = self.prefsrc {
            write!(f, " src {src}")?;
        }
        if self.scope != "universe" {
            write!(f, " scope {}", self.scope)?;
        }
        write!(f, " table {}", self.table)
    }
}

impl fmt::Display for RuleSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "prio {}", self.priority)?;
        match &self.src {
            Some(src) => write!(f, " from {src}")?,
            None => write!(f, " from all")?,
        }
        if let Some(dst) = &self.dst {
            write!(f, " to {dst}")?;
        }
        if let Some(iif) = &self.iif {
            write!(f, " iif {iif}")?;
        }
        write!(f, " table {}", self.table)
    }
}

impl fmt::Display for Op {
    /// One line in the spirit of `ip(8)`, for `--dry-run`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::CreateBridge {
                name,
                mtu,
                stp,
                options,
            } => {
                write!(
                    f,
                    "create bridge {name} mtu {mtu} stp {}{}",
                    if *stp { "on" } else { "off" },
                    fmt_opts(options)
                )
            }
            Op::CreateBond {
                name,
                options,
                hwaddr,
            } => {
                write!(f, "create bond {name} {options}")?;
                if let Some(mac) = hwaddr {
                    write!(f, " hwaddr {mac}")?;
                }
                Ok(())
            }
            Op::CreateVlan {
                name,
                parent,
                id,
                mtu,
            } => write!(f, "create vlan {name} on {parent} id {id} mtu {mtu}"),
            Op::DeleteLink { name } => write!(f, "delete link {name}"),
            Op::SetMaster { link, master } => write!(f, "set {link} master {master}"),
            Op::ReleaseMaster { link } => write!(f, "set {link} nomaster"),
            Op::SetMtu { link, mtu } => write!(f, "set {link} mtu {mtu}"),
            Op::SetUp { link } => write!(f, "set {link} up"),
            Op::SetDown { link } => write!(f, "set {link} down"),
            Op::SetBridgeOptions { name, stp, options } => {
                write!(
                    f,
                    "set bridge {name} stp {}{}",
                    if *stp { "on" } else { "off" },
                    fmt_opts(options)
                )
            }
            Op::SetBondOptions { name, options } => write!(f, "set bond {name} {options}"),
            Op::SetMac { link, mac } => write!(f, "set {link} address {mac}"),
            Op::AddAddr { link, addr } => write!(f, "add address {addr} dev {link}"),
            Op::DelAddr { link, addr } => write!(f, "delete address {addr} dev {link}"),
            Op::AddRoute(r) => write!(f, "add route {r}"),
            Op::DelRoute(r) => write!(f, "delete route {r}"),
            Op::AddRule(r) => write!(f, "add rule {r}"),
            Op::DelRule(r) => write!(f, "delete rule {r}"),
            Op::OvsAddBridge {
                name,
                mark,
                southbound,
            } => {
                write!(f, "ovs add bridge {name} ({mark})")?;
                if let Some(sb) = southbound {
                    write!(f, " port {sb}")?;
                }
                Ok(())
            }
            Op::OvsDelBridge { name } => write!(f, "ovs delete bridge {name}"),
            Op::OvsAddPort {
                bridge,
                name,
                tag,
                internal,
                mtu,
            } => {
                write!(f, "ovs add port {name} to {bridge}")?;
                if *internal {
                    write!(f, " internal")?;
                }
                if let Some(t) = tag {
                    write!(f, " tag {t}")?;
                }
                if let Some(m) = mtu {
                    write!(f, " mtu {m}")?;
                }
                Ok(())
            }
            Op::OvsDelPort { bridge, name } => write!(f, "ovs delete port {name} from {bridge}"),
            Op::OvsSetPort { name, tag, mtu } => {
                write!(f, "ovs set port {name}")?;
                match tag {
                    Some(t) => write!(f, " tag {t}")?,
                    None => write!(f, " untagged")?,
                }
                if let Some(m) = mtu {
                    write!(f, " mtu {m}")?;
                }
                Ok(())
            }
            Op::OvsSetMappings { mappings } => match mappings {
                Some(m) => write!(f, "ovs set ovn-bridge-mappings {m}"),
                None => write!(f, "ovs remove ovn-bridge-mappings"),
            },
        }
    }
}

/// Everything one request needs done, in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Kernel and OVS operations, in the order they must run (the OVS ones
    /// contiguous: one OVSDB transaction).
    pub ops: Vec<Op>,
    /// Name servers to write to the resolver configuration; `None` keeps
    /// the file as it is.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub nameservers: Option<Vec<IpAddr>>,
}

impl Plan {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.nameservers.is_none()
    }
}
