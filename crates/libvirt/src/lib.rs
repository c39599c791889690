//! libvirt's side of a vNIC, as pure functions on text.
//!
//! - [`build`]: the `<interface>` element `netswitch vnic xml` prints for a
//!   network on this host's switch (Linux bridge, OVS bridge with its VLAN
//!   tag, or OVN's `br-int` with an `interfaceid`), and netswitch's own
//!   `<metadata>` element that names the vNIC's network.
//! - [`hook`]: what `netswitch libvirt-hook` does with a domain XML on an
//!   incoming migration or restore: each interface of a netswitch network
//!   is re-pointed at this host's switch, by splicing new bytes into the
//!   ranges of the elements that change; every other byte stays.
//! - [`xml`]: the position-keeping scanner both rest on.
//!
//! No libvirt library and no host access: the caller says what the host
//! carries (a [`hook::View`]).

pub mod build;
pub mod hook;
pub mod xml;

use netswitch_model::Code;

/// Why a vNIC's XML cannot be made or a domain cannot be rewritten.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LibvirtError {
    /// A bad value (code 21), naming the attribute.
    #[error("{attr}: {reason}")]
    Bad { attr: String, reason: String },
    /// The domain XML does not parse (code 21).
    #[error("the domain XML: {0}")]
    Malformed(#[from] xml::XmlError),
    /// An interface names a netswitch network this host lacks (code 27).
    #[error("interface {mac}: network {network:?}: this host has no such network")]
    MissingNetwork { mac: String, network: String },
}

impl LibvirtError {
    /// A bad value of `attr`.
    pub fn bad(attr: &str, reason: impl Into<String>) -> Self {
        Self::Bad {
            attr: attr.to_string(),
            reason: reason.into(),
        }
    }

    /// The VDSM code: 21 for bad input, 27 for a missing network.
    pub fn code(&self) -> u8 {
        match self {
            Self::Bad { .. } | Self::Malformed(_) => Code::BadParams.number(),
            Self::MissingNetwork { .. } => Code::BadBridge.number(),
        }
    }
}
