//! Applies a plan's ops to the backends they belong to: kernel ops by
//! batched netlink, the OVS ops as one OVSDB transaction. After the OVS
//! transaction the host is read again, since the kernel ops that follow
//! address the internal ports ovs-vswitchd just created.
//!
//! Each backend implements [`Backend`] over its own typed ops; [`apply`]
//! cuts the plan into runs of one backend's ops and hands each run to its
//! backend. A new backend (traffic control, say) is one more `Op` variant,
//! one more implementation and one more arm in [`apply`].

use std::sync::Arc;

use netswitch_kernel::{Applied, OpFailure};
use netswitch_model::host::HostState;
use netswitch_model::plan::{KernelOp, Op, OvsOp};
use netswitch_model::tc::TcOp;
use tracing::debug;

use crate::ovs::{self, OvsSettings};
use crate::HostSource;

/// One backend: the ops it carries out and how.
pub trait Backend {
    /// This backend's own ops.
    type Op: Clone + Into<Op>;

    /// The backend's op inside a plan op, if the plan op is this backend's.
    fn pick(op: &Op) -> Option<&Self::Op>;

    /// Applies a run of this backend's ops, planned against `host`, with
    /// [`netswitch_kernel::apply`]'s contract: `done` indexes into `ops`,
    /// `failure` is the first op that failed.
    fn apply(&self, host: &HostState, ops: &[Self::Op]) -> Applied;

    /// Whether the host must be read again after a run (it created devices
    /// that later ops address by index).
    fn rereads_host(&self) -> bool {
        false
    }
}

/// The kernel, over batched rtnetlink (`netswitch-kernel`).
pub struct KernelBackend;

impl Backend for KernelBackend {
    type Op = KernelOp;

    fn pick(op: &Op) -> Option<&KernelOp> {
        op.as_kernel()
    }

    fn apply(&self, host: &HostState, ops: &[KernelOp]) -> Applied {
        netswitch_kernel::apply(host, ops)
    }
}

/// Traffic control (host QoS), over batched rtnetlink (`netswitch-tc`).
/// Devices are named by their index now, not the snapshot's: a bond the
/// same plan created has none in the snapshot.
pub struct TcBackend;

impl Backend for TcBackend {
    type Op = TcOp;

    fn pick(op: &Op) -> Option<&TcOp> {
        op.as_tc()
    }

    fn apply(&self, _host: &HostState, ops: &[TcOp]) -> Applied {
        let index_of = |name: &str| {
            let c = std::ffi::CString::new(name).ok()?;
            // SAFETY: a NUL-terminated name that lives through the call.
            let ix = unsafe { libc::if_nametoindex(c.as_ptr()) };
            (ix != 0).then_some(ix as i32)
        };
        let got = netswitch_tc::apply(ops, &index_of);
        let mut out = Applied {
            done: got.done,
            ..Applied::default()
        };
        out.stats.messages = got.messages;
        out.stats.sendmsg_calls = got.sendmsg_calls;
        out.failure = got.failure.map(|f| OpFailure {
            index: f.index,
            op: ops[f.index].clone().into(),
            errno: f.errno,
            message: f.message,
        });
        out
    }
}

/// Open vSwitch: a run of OVS ops is one OVSDB transaction, all or nothing.
pub struct OvsBackend<'a> {
    pub settings: &'a OvsSettings,
}

impl Backend for OvsBackend<'_> {
    type Op = OvsOp;

    fn pick(op: &Op) -> Option<&OvsOp> {
        op.as_ovs()
    }

    fn apply(&self, host: &HostState, ops: &[OvsOp]) -> Applied {
        let mut out = Applied::default();
        // The mappings the plan was made against: another writer's change
        // since then is rebased, not overwritten (`ovs::apply`).
        let base = host.ovs.as_ref().and_then(|o| o.bridge_mappings.as_deref());
        match ovs::apply(self.settings, ops, base) {
            Ok(()) => out.done.extend(0..ops.len()),
            // The transaction is all or nothing: its first op stands for it.
            Err(message) => {
                out.failure = ops.first().map(|op| OpFailure {
                    index: 0,
                    op: op.clone().into(),
                    errno: NO_ERRNO,
                    message,
                })
            }
        }
        out
    }

    fn rereads_host(&self) -> bool {
        true
    }
}

/// Applies `ops` in order, planned against `before`. Same contract as
/// [`netswitch_kernel::apply`]: `done` holds the indexes (into `ops`) of
/// what took effect, `failure` the first op that failed (for an OVS
/// transaction, its first op: the transaction is all or nothing). `source`
/// reads the host again after a backend that asks for it (OVS).
pub fn apply(
    before: &HostState,
    ops: &[Op],
    settings: &OvsSettings,
    source: &dyn HostSource,
) -> Applied {
    let mut run = Runner {
        out: Applied::default(),
        host: None,
        before,
        source,
    };
    let mut i = 0;
    while i < ops.len() {
        let kind = std::mem::discriminant(&ops[i]);
        let end = ops[i..]
            .iter()
            .position(|o| std::mem::discriminant(o) != kind)
            .map_or(ops.len(), |p| i + p);
        let ok = match &ops[i] {
            Op::Kernel(_) => run.segment(&KernelBackend, ops, i..end),
            Op::Ovs(_) => run.segment(&OvsBackend { settings }, ops, i..end),
            Op::Tc(_) => run.segment(&TcBackend, ops, i..end),
        };
        if !ok {
            break;
        }
        i = end;
    }
    run.out
}

/// The state of one [`apply`]: what is done so far and the host as the
/// next run must see it.
struct Runner<'a> {
    out: Applied,
    host: Option<Arc<HostState>>,
    before: &'a HostState,
    source: &'a dyn HostSource,
}

impl Runner<'_> {
    /// Runs `ops[range]` (all of `B`'s) on `backend`; false on a failure.
    fn segment<B: Backend>(
        &mut self,
        backend: &B,
        ops: &[Op],
        range: std::ops::Range<usize>,
    ) -> bool {
        let first = range.start;
        let own: Vec<B::Op> = ops[range.clone()]
            .iter()
            .filter_map(|o| B::pick(o).cloned())
            .collect();
        let host = self.host.as_deref().unwrap_or(self.before);
        let applied = backend.apply(host, &own);
        self.out.done.extend(applied.done.iter().map(|d| d + first));
        let stats = &mut self.out.stats;
        stats.messages += applied.stats.messages;
        stats.bytes += applied.stats.bytes;
        stats.sendmsg_calls += applied.stats.sendmsg_calls;
        stats.recv_calls += applied.stats.recv_calls;
        if let Some(mut f) = applied.failure {
            f.index += first;
            self.out.failure = Some(f);
            return false;
        }
        debug!(ops = own.len(), "backend run applied");
        if backend.rereads_host() {
            return self.reread(ops, range.end);
        }
        true
    }

    /// Reads the host again; a failure is charged to the op after the run.
    fn reread(&mut self, ops: &[Op], end: usize) -> bool {
        match self.source.read() {
            Ok(h) => {
                self.host = Some(h);
                true
            }
            Err(e) => {
                let at = end.min(ops.len() - 1);
                self.out.failure = Some(OpFailure {
                    index: at,
                    op: ops[at].clone(),
                    errno: NO_ERRNO,
                    message: format!("reading the host after the OVS transaction: {e}"),
                });
                false
            }
        }
    }
}

/// The `errno` of a failure that has none (OVSDB's, or reading the host
/// after the OVS transaction): no kernel failure carries 0, and the
/// transaction's typed error turns it into `None`.
pub const NO_ERRNO: i32 = 0;
