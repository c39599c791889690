//! One netlink dump: send the request, collect the replies, notice when the
//! kernel says the host changed under the dump and start it again.
//!
//! [`dump`] runs over an rtnetlink connection (the async
//! [`crate::snapshot_with`]); the blocking readers use
//! [`netswitch_netlink::Socket::dump`], which retries the same way.

use std::fmt;
use std::time::Instant;

use futures::StreamExt;
use netlink_packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;

use crate::NetinfoError;

/// How often a dump the kernel flagged `NLM_F_DUMP_INTR` is started again
/// before its (possibly inconsistent) result is taken as it is.
const ATTEMPTS: u32 = 3;

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

/// Runs one dump and keeps the replies `pick` accepts.
pub(crate) async fn dump<T>(
    handle: &rtnetlink::Handle,
    kind: DumpKind,
    request: RouteNetlinkMessage,
    mut pick: impl FnMut(RouteNetlinkMessage) -> Option<T>,
) -> Result<Vec<T>, NetinfoError> {
    let fail = |source| NetinfoError::Dump { kind, source };
    let mut attempt = 1;
    loop {
        let started = Instant::now();
        let mut req = NetlinkMessage::from(request.clone());
        req.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        let mut replies = handle.clone().request(req).map_err(fail)?;

        let mut out = Vec::new();
        let mut interrupted = false;
        while let Some(msg) = replies.next().await {
            interrupted |= msg.header.flags & NLM_F_DUMP_INTR != 0;
            if matches!(msg.payload, NetlinkPayload::Overrun(_)) {
                return Err(fail(rtnetlink::Error::UnexpectedMessage(msg)));
            }
            match msg.payload {
                NetlinkPayload::InnerMessage(inner) => out.extend(pick(inner)),
                NetlinkPayload::Error(err) if err.code.is_some() => {
                    return Err(fail(rtnetlink::Error::NetlinkError(err)));
                }
                _ => {}
            }
        }

        tracing::debug!(
            dump = %kind,
            count = out.len(),
            elapsed_us = started.elapsed().as_micros() as u64,
            interrupted,
            attempt,
            "netlink dump"
        );
        if take_or_retry(kind, interrupted, &mut attempt) {
            return Ok(out);
        }
    }
}

/// After one dump: whether to take its result (it was whole, or it was the
/// last attempt, which is taken as it is), else counts the next attempt.
fn take_or_retry(kind: DumpKind, interrupted: bool, attempt: &mut u32) -> bool {
    if !interrupted {
        return true;
    }
    if *attempt == ATTEMPTS {
        tracing::warn!(dump = %kind, attempts = ATTEMPTS, "dump kept being interrupted by changes; using the last one");
        return true;
    }
    *attempt += 1;
    false
}
