//! The one error type a request can fail with, carrying the VDSM code.
//!
//! An engine reacts to the code (docs/api.md §4); an operator reads the
//! message, so every message names the network or bond and the attribute.

use std::fmt;

/// The VDSM error code of a failure (docs/api.md §4). Numbers are the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Code {
    /// The host lost connectivity and the change was rolled back.
    LostConnectivity = 10,
    /// Bad parameters: unknown attribute, wrong type, conflicting attributes.
    BadParams = 21,
    /// Bad IP address, netmask, prefix or gateway.
    BadAddr = 22,
    /// A nic that does not exist or is not a nic.
    BadNic = 23,
    /// A nic used twice (bond slave and network nic, or in two bonds).
    UsedNic = 24,
    /// Bad bond name, options or reference.
    BadBonding = 25,
    /// Bad VLAN id or a VLAN without a device.
    BadVlan = 26,
    /// Bad bridge/network name, or removing a network that does not exist.
    BadBridge = 27,
    /// A backend operation failed; the change was rolled back.
    BackendFailed = 29,
    /// Removing a bond that a network still uses.
    BondInUse = 31,
    /// The OVS database could not be reached.
    OvsdbUnreachable = 32,
    /// Another network verb is running.
    Busy = 40,
}

impl Code {
    /// The number an engine receives and the CLI exits with.
    pub fn number(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number())
    }
}

/// What a request is judged by: where in the request the fault is.
///
/// Kept separate from the message so tests (and an engine's logs) can tell
/// which entity and attribute were blamed without parsing prose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Culprit {
    /// The request as a whole (its syntax, size, or top-level keys).
    Request,
    /// `options.<attr>`.
    Option(String),
    /// `networks.<net>[.<attr>]`.
    Network { net: String, attr: Option<String> },
    /// `bondings.<bond>[.<attr>]`.
    Bond { bond: String, attr: Option<String> },
}

/// Text from a request made safe to print on one line: control bytes
/// escaped, and cut to `max` characters, so a hostile or huge name cannot
/// break a log line or a terminal.
pub fn clip(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == max {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

const NAME_MAX: usize = 64;
const REASON_MAX: usize = 400;

impl fmt::Display for Culprit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = |s: &str| clip(s, NAME_MAX);
        match self {
            Culprit::Request => write!(f, "request"),
            Culprit::Option(o) => write!(f, "option {}", c(o)),
            Culprit::Network { net, attr: None } => write!(f, "network {}", c(net)),
            Culprit::Network { net, attr: Some(a) } => write!(f, "network {}: {}", c(net), c(a)),
            Culprit::Bond { bond, attr: None } => write!(f, "bond {}", c(bond)),
            Culprit::Bond {
                bond,
                attr: Some(a),
            } => write!(f, "bond {}: {}", c(bond), c(a)),
        }
    }
}

/// A rejected request: a code, who is at fault, and why.
///
/// One type rather than an enum per rule: the rules number in the dozens and
/// each needs only these three facts; the code and culprit are what callers
/// match on, the reason is for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{culprit}: {}", clip(reason, REASON_MAX))]
pub struct RequestError {
    pub code: Code,
    pub culprit: Culprit,
    pub reason: String,
}

impl RequestError {
    /// The VDSM error code (docs/api.md §4).
    pub fn code(&self) -> u8 {
        self.code.number()
    }

    /// A fault of the request as a whole.
    pub fn request(code: Code, reason: impl Into<String>) -> Self {
        Self {
            code,
            culprit: Culprit::Request,
            reason: reason.into(),
        }
    }

    /// A fault of one network, optionally of one attribute.
    pub fn net(code: Code, net: &str, attr: Option<&str>, reason: impl Into<String>) -> Self {
        Self {
            code,
            culprit: Culprit::Network {
                net: net.to_string(),
                attr: attr.map(str::to_string),
            },
            reason: reason.into(),
        }
    }

    /// A fault of one bond, optionally of one attribute.
    pub fn bond(code: Code, bond: &str, attr: Option<&str>, reason: impl Into<String>) -> Self {
        Self {
            code,
            culprit: Culprit::Bond {
                bond: bond.to_string(),
                attr: attr.map(str::to_string),
            },
            reason: reason.into(),
        }
    }

    /// A fault of one of the request's options.
    pub fn option(code: Code, opt: &str, reason: impl Into<String>) -> Self {
        Self {
            code,
            culprit: Culprit::Option(opt.to_string()),
            reason: reason.into(),
        }
    }
}
