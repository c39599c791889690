//! A parsed, canonical setupNetworks request (docs/api.md §3.1).

use std::collections::BTreeMap;

use crate::config::{BondAttrs, NetAttrs};

/// What a request asks of one network.
// Boxing `Set` would buy nothing: a request holds one per network, and
// nearly all of them are `Set`.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum NetChange {
    /// `{"remove": true}`.
    Remove,
    /// Set the network to exactly these attributes.
    Set {
        attrs: NetAttrs,
        /// Wait for the DHCP lease before returning; never persisted.
        blocking_dhcp: bool,
    },
}

impl NetChange {
    /// The attributes asked for, unless this is a removal.
    pub fn attrs(&self) -> Option<&NetAttrs> {
        match self {
            NetChange::Remove => None,
            NetChange::Set { attrs, .. } => Some(attrs),
        }
    }
}

/// What a request asks of one bond.
#[derive(Debug, Clone, PartialEq)]
pub enum BondChange {
    Remove,
    Set(BondAttrs),
}

impl BondChange {
    /// The attributes asked for, unless this is a removal.
    pub fn attrs(&self) -> Option<&BondAttrs> {
        match self {
            BondChange::Remove => None,
            BondChange::Set(a) => Some(a),
        }
    }
}

/// The request's `options`.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Wait for a confirmation after applying; roll back without one.
    pub connectivity_check: bool,
    /// How long to wait for the confirmation, in seconds.
    pub connectivity_timeout: f64,
    /// Make the result the persistent (safe) config on success.
    pub commit_on_success: bool,
    /// Plan only; change nothing.
    pub dry_run: bool,
}

impl Default for Options {
    /// VDSM's defaults: connectivity check on, 4 s.
    fn default() -> Self {
        Self {
            connectivity_check: true,
            connectivity_timeout: 4.0,
            commit_on_success: false,
            dry_run: false,
        }
    }
}

/// A whole setupNetworks request, canonical.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    pub networks: BTreeMap<String, NetChange>,
    pub bondings: BTreeMap<String, BondChange>,
    pub options: Options,
    /// Which options the request spelled out, so a caller (the CLI) can
    /// apply its own defaults to the rest.
    pub options_given: Vec<String>,
}
