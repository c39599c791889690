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

use crate::bondopts::BondOptions;
pub use crate::tc::TcOp;

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

/// One kernel operation (rtnetlink), with typed payloads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum KernelOp {
    CreateBridge {
        name: String,
        mtu: u32,
        stp: bool,
        options: BTreeMap<String, String>,
    },
    CreateBond {
        name: String,
        /// Canonical options; on disk as VDSM's option string.
        #[serde(with = "bond_text")]
        options: BondOptions,
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
    /// The bond's options as a whole: what is left out returns to its default.
    SetBondOptions {
        name: String,
        #[serde(with = "bond_text")]
        options: BondOptions,
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
}

/// One OVSDB operation; a plan's OVS ops go as one transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op")]
pub enum OvsOp {
    /// An OVS bridge netswitch owns, marked in `external_ids` so it is
    /// found again (its name is made up), with its southbound port.
    #[serde(rename = "ovs_add_bridge")]
    AddBridge {
        name: String,
        /// The mark: `dev:<southbound>` or `net:<network>` for a nicless one.
        mark: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        southbound: Option<String>,
    },
    #[serde(rename = "ovs_del_bridge")]
    DelBridge { name: String },
    /// A port on an OVS bridge: a network's internal port or a southbound.
    #[serde(rename = "ovs_add_port")]
    AddPort {
        bridge: String,
        name: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        tag: Option<u16>,
        internal: bool,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        mtu: Option<u32>,
    },
    #[serde(rename = "ovs_del_port")]
    DelPort { bridge: String, name: String },
    /// A network's internal port gets a new tag or MTU.
    #[serde(rename = "ovs_set_port")]
    SetPort {
        name: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        tag: Option<u16>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        mtu: Option<u32>,
    },
    /// `ovn-bridge-mappings`; `None` removes the key.
    #[serde(rename = "ovs_set_mappings")]
    SetMappings {
        #[serde(skip_serializing_if = "Option::is_none", default)]
        mappings: Option<String>,
    },
}

/// One plan operation, by the backend that carries it out. A new backend
/// (traffic control: `Tc(TcOp)`, say) is one more variant here, one
/// `Backend` in the engine, and its ops' `Display`.
///
/// On disk (the journal) an op is its backend op's object as is: the
/// `op` names do not overlap, so the backend is known from the name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Op {
    Kernel(KernelOp),
    Ovs(OvsOp),
    /// Traffic control (host QoS), by rtnetlink (`netswitch-tc`).
    Tc(TcOp),
}

impl From<TcOp> for Op {
    fn from(op: TcOp) -> Self {
        Op::Tc(op)
    }
}

impl From<KernelOp> for Op {
    fn from(op: KernelOp) -> Self {
        Op::Kernel(op)
    }
}

impl From<OvsOp> for Op {
    fn from(op: OvsOp) -> Self {
        Op::Ovs(op)
    }
}

impl Op {
    /// Whether the op goes to OVSDB rather than the kernel. The engine
    /// sends a plan's OVS ops as one transaction.
    pub fn is_ovs(&self) -> bool {
        matches!(self, Op::Ovs(_))
    }

    /// The kernel op, if it is one.
    pub fn as_kernel(&self) -> Option<&KernelOp> {
        match self {
            Op::Kernel(k) => Some(k),
            _ => None,
        }
    }

    /// The traffic-control op, if it is one.
    pub fn as_tc(&self) -> Option<&TcOp> {
        match self {
            Op::Tc(t) => Some(t),
            _ => None,
        }
    }

    /// The OVS op, if it is one.
    pub fn as_ovs(&self) -> Option<&OvsOp> {
        match self {
            Op::Ovs(o) => Some(o),
            _ => None,
        }
    }
}

/// Bond options on disk as VDSM's option string, parsed back (checked) on
/// reading.
mod bond_text {
    use super::BondOptions;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(o: &BondOptions, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(o)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BondOptions, D::Error> {
        let text = String::deserialize(d)?;
        BondOptions::parse(&text).map_err(serde::de::Error::custom)
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

impl fmt::Display for KernelOp {
    /// One line in the spirit of `ip(8)`, for `--dry-run`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelOp::CreateBridge {
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
            KernelOp::CreateBond {
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
            KernelOp::CreateVlan {
                name,
                parent,
                id,
                mtu,
            } => write!(f, "create vlan {name} on {parent} id {id} mtu {mtu}"),
            KernelOp::DeleteLink { name } => write!(f, "delete link {name}"),
            KernelOp::SetMaster { link, master } => write!(f, "set {link} master {master}"),
            KernelOp::ReleaseMaster { link } => write!(f, "set {link} nomaster"),
            KernelOp::SetMtu { link, mtu } => write!(f, "set {link} mtu {mtu}"),
            KernelOp::SetUp { link } => write!(f, "set {link} up"),
            KernelOp::SetDown { link } => write!(f, "set {link} down"),
            KernelOp::SetBridgeOptions { name, stp, options } => {
                write!(
                    f,
                    "set bridge {name} stp {}{}",
                    if *stp { "on" } else { "off" },
                    fmt_opts(options)
                )
            }
            KernelOp::SetBondOptions { name, options } => write!(f, "set bond {name} {options}"),
            KernelOp::SetMac { link, mac } => write!(f, "set {link} address {mac}"),
            KernelOp::AddAddr { link, addr } => write!(f, "add address {addr} dev {link}"),
            KernelOp::DelAddr { link, addr } => write!(f, "delete address {addr} dev {link}"),
            KernelOp::AddRoute(r) => write!(f, "add route {r}"),
            KernelOp::DelRoute(r) => write!(f, "delete route {r}"),
            KernelOp::AddRule(r) => write!(f, "add rule {r}"),
            KernelOp::DelRule(r) => write!(f, "delete rule {r}"),
        }
    }
}

impl fmt::Display for OvsOp {
    /// One line for `--dry-run`, prefixed `ovs`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OvsOp::AddBridge {
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
            OvsOp::DelBridge { name } => write!(f, "ovs delete bridge {name}"),
            OvsOp::AddPort {
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
            OvsOp::DelPort { bridge, name } => write!(f, "ovs delete port {name} from {bridge}"),
            OvsOp::SetPort { name, tag, mtu } => {
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
            OvsOp::SetMappings { mappings } => match mappings {
                Some(m) => write!(f, "ovs set ovn-bridge-mappings {m}"),
                None => write!(f, "ovs remove ovn-bridge-mappings"),
            },
        }
    }
}

impl fmt::Display for Op {
    /// The backend op's line: what `--dry-run` prints and errors quote.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Kernel(k) => k.fmt(f),
            Op::Ovs(o) => o.fmt(f),
            Op::Tc(t) => t.fmt(f),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ops_keep_their_on_disk_shape_and_read_back_to_their_backend() {
        let ops: Vec<Op> = vec![
            KernelOp::CreateBond {
                name: "bond0".into(),
                options: BondOptions::parse("mode=802.3ad miimon=100").unwrap(),
                hwaddr: None,
            }
            .into(),
            OvsOp::AddPort {
                bridge: "vdsmbr_x".into(),
                name: "net".into(),
                tag: Some(5),
                internal: true,
                mtu: None,
            }
            .into(),
        ];
        let v = serde_json::to_value(&ops).unwrap();
        assert_eq!(
            v,
            json!([
                {"op": "create_bond", "name": "bond0", "options": "mode=4 miimon=100"},
                {"op": "ovs_add_port", "bridge": "vdsmbr_x", "name": "net", "tag": 5, "internal": true}
            ])
        );
        let back: Vec<Op> = serde_json::from_value(v).unwrap();
        assert_eq!(back, ops);
        assert!(!back[0].is_ovs() && back[1].is_ovs());
        assert_eq!(back[0].to_string(), "create bond bond0 mode=4 miimon=100");
        assert_eq!(
            back[1].to_string(),
            "ovs add port net to vdsmbr_x internal tag 5"
        );
    }

    #[test]
    fn bond_options_that_do_not_parse_are_refused_on_reading() {
        let bad = json!({"op": "set_bond_options", "name": "bond0", "options": "mode=9"});
        assert!(serde_json::from_value::<Op>(bad).is_err());
    }
}
