//! The names of netinfo's dumps, for errors and logs. The dumps themselves
//! run on [`netswitch_netlink::Socket::dump`], which starts a dump again
//! when the kernel says the host changed under it (`NLM_F_DUMP_INTR`).

use std::fmt;

/// Which of the snapshot's dumps an error comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpKind {
    /// `RTM_GETLINK`, all families.
    Links,
    /// `RTM_GETADDR`, all families.
    Addresses,
    /// `RTM_GETROUTE`, IPv4, all tables.
    Routes4,
    /// `RTM_GETROUTE`, IPv6, all tables.
    Routes6,
    /// `RTM_GETRULE`, IPv4.
    Rules4,
    /// `RTM_GETRULE`, IPv6.
    Rules6,
}

impl fmt::Display for DumpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Links => "link",
            Self::Addresses => "address",
            Self::Routes4 => "IPv4 route",
            Self::Routes6 => "IPv6 route",
            Self::Rules4 => "IPv4 rule",
            Self::Rules6 => "IPv6 rule",
        })
    }
}
