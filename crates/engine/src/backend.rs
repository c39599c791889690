//! Applies a plan's ops to the backends they belong to: kernel ops by
//! batched netlink, the OVS ops as one OVSDB transaction. After the OVS
//! transaction the host is read again, since the kernel ops that follow
//! address the internal ports ovs-vswitchd just created.

use netswitch_kernel::{Applied, OpFailure};
use netswitch_model::host::HostState;
use netswitch_model::plan::Op;
use tracing::debug;

use crate::ovs::{self, OvsSettings};
use crate::HostSource;

/// Applies `ops` in order, planned against `before`. Same contract as
/// [`netswitch_kernel::apply`]: `done` holds the indexes (into `ops`) of
/// what took effect, `failure` the first op that failed (for an OVS
/// transaction, its first op: the transaction is all or nothing). `source`
/// reads the host again after an OVS transaction.
pub fn apply(
    before: &HostState,
    ops: &[Op],
    settings: &OvsSettings,
    source: &dyn HostSource,
) -> Applied {
    let mut out = Applied::default();
    let mut host: Option<std::sync::Arc<HostState>> = None;
    let mut i = 0;
    while i < ops.len() {
        let ovs_seg = ops[i].is_ovs();
        let end = ops[i..]
            .iter()
            .position(|o| o.is_ovs() != ovs_seg)
            .map_or(ops.len(), |p| i + p);
        let seg = &ops[i..end];
        if ovs_seg {
            let base = before
                .ovs
                .as_ref()
                .and_then(|o| o.bridge_mappings.as_deref());
            if let Err(message) = ovs::apply(settings, seg, base) {
                out.failure = Some(OpFailure {
                    index: i,
                    op: seg[0].clone(),
                    errno: NO_ERRNO,
                    message,
                });
                return out;
            }
            out.done.extend(i..end);
            debug!(ops = seg.len(), "OVS segment applied");
            match source.read() {
                Ok(h) => host = Some(h),
                Err(e) => {
                    out.failure = Some(OpFailure {
                        index: end.min(ops.len() - 1),
                        op: ops[end.min(ops.len() - 1)].clone(),
                        errno: NO_ERRNO,
                        message: format!("reading the host after the OVS transaction: {e}"),
                    });
                    return out;
                }
            }
        } else {
            let applied = netswitch_kernel::apply(host.as_deref().unwrap_or(before), seg);
            out.done.extend(applied.done.iter().map(|d| d + i));
            out.stats.messages += applied.stats.messages;
            out.stats.bytes += applied.stats.bytes;
            out.stats.sendmsg_calls += applied.stats.sendmsg_calls;
            out.stats.recv_calls += applied.stats.recv_calls;
            if let Some(mut f) = applied.failure {
                f.index += i;
                out.failure = Some(f);
                return out;
            }
        }
        i = end;
    }
    out
}

/// The `errno` of a failure that has none (OVSDB's, or reading the host
/// after the OVS transaction): no kernel failure carries 0, and the
/// transaction's typed error turns it into `None`.
pub const NO_ERRNO: i32 = 0;
