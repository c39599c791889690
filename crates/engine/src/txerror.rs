//! The typed failure of a transaction after its plan was made: which step
//! failed, on which op, with which errno, and how far the rollback got.
//!
//! Edges derive what they need from it and never from its text: the VDSM
//! code ([`TransactionError::code`]) for the CLI's exit status and the
//! daemon's JSON-RPC error, whether the host was rolled back
//! ([`crate::EngineError::rolled_back`]) for the daemon's events, and the
//! message ([`std::fmt::Display`]) for people.

use std::fmt;

use netswitch_model::error::Code;

/// The step of a transaction that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// A backend op (netlink or OVSDB) failed, or a test injected that.
    BackendOp,
    /// The DHCP clients could not be stopped, moved or started, or a
    /// blocking network got no lease in time.
    Dynamic,
    /// The resolver file could not be written.
    Resolver,
    /// After applying, the host still differs from the desired config (or
    /// could not be read back to tell).
    Verify,
    /// Waiting for `confirm` failed (not a timeout: an I/O failure).
    ConfirmWait,
    /// No confirmation came in time (VDSM's lost connectivity, code 10).
    LostConnectivity,
    /// The running or persistent config could not be saved.
    Save,
}

/// The op of the plan that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedOp {
    /// Its index in the plan, 0-based (messages print it 1-based).
    pub index: usize,
    /// How it reads (`add route default via ...`).
    pub display: String,
}

/// How far the rollback got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollback {
    /// The host's facts are as before and every file was restored.
    Complete,
    /// The host still differs from before: the differences, then the steps
    /// of the rollback that failed.
    Incomplete {
        /// `link lost: ...`, `route left over: ...`, one per fact.
        differences: Vec<String>,
        /// The rollback steps that failed, in order.
        problems: Vec<String>,
    },
    /// The host's facts are as before, but the resolver file or the
    /// running config could not be restored.
    RestoreFailed {
        /// The rollback steps that failed, in order.
        problems: Vec<String>,
    },
}

impl Rollback {
    /// Whether the host and its files are exactly as before.
    pub fn is_complete(&self) -> bool {
        matches!(self, Rollback::Complete)
    }
}

/// A transaction that failed after planning and was rolled back.
#[derive(Debug, Clone, thiserror::Error)]
pub struct TransactionError {
    /// What failed.
    pub kind: FailureKind,
    /// The plan's op that failed, for [`FailureKind::BackendOp`].
    pub op: Option<FailedOp>,
    /// The kernel's errno, when the kernel (or its socket) gave one; OVSDB
    /// and injected failures have none.
    pub errno: Option<i32>,
    /// What went wrong, for people (the kernel's or OVSDB's explanation,
    /// the verification's residual op, ...).
    pub reason: String,
    /// How far the rollback got.
    pub rollback: Rollback,
    /// Why the journal could not be removed after the rollback (the next
    /// start redoes the rollback), if it could not.
    pub journal_kept: Option<String>,
}

impl TransactionError {
    /// A failure of `kind`, to be rolled back; the rollback's outcome is
    /// filled in by whoever rolls back.
    pub fn new(kind: FailureKind, reason: impl Into<String>) -> Self {
        Self {
            kind,
            op: None,
            errno: None,
            reason: reason.into(),
            rollback: Rollback::Complete,
            journal_kept: None,
        }
    }

    /// The same, blaming the plan's op at `index`.
    pub fn with_op(mut self, index: usize, display: impl fmt::Display) -> Self {
        self.op = Some(FailedOp {
            index,
            display: display.to_string(),
        });
        self
    }

    /// The VDSM code: 10 for a missing confirmation, else 29.
    pub fn code(&self) -> u8 {
        match self.kind {
            FailureKind::LostConnectivity => Code::LostConnectivity.number(),
            _ => Code::BackendFailed.number(),
        }
    }
}

impl fmt::Display for TransactionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.op {
            Some(op) => write!(
                f,
                "op {} ({}) failed: {}",
                op.index + 1,
                op.display,
                self.reason
            )?,
            None => f.write_str(&self.reason)?,
        }
        f.write_str("; rolled back")?;
        match &self.rollback {
            Rollback::Complete => {}
            Rollback::Incomplete {
                differences,
                problems,
            } => {
                let all: Vec<&str> = differences
                    .iter()
                    .chain(problems)
                    .map(String::as_str)
                    .collect();
                write!(f, " incompletely: {}", all.join("; "))?;
            }
            Rollback::RestoreFailed { problems } => {
                write!(f, " incompletely: {}", problems.join("; "))?;
            }
        }
        if let Some(e) = &self.journal_kept {
            write!(f, " (the journal stays: {e})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_before() {
        let e = TransactionError::new(FailureKind::BackendOp, "File exists").with_op(2, "add x");
        assert_eq!(
            e.to_string(),
            "op 3 (add x) failed: File exists; rolled back"
        );
        assert_eq!(e.code(), 29);
        let mut e = TransactionError::new(FailureKind::LostConnectivity, "no confirmation");
        e.rollback = Rollback::Incomplete {
            differences: vec!["link lost: a".into()],
            problems: vec!["undo op b failed: c".into()],
        };
        e.journal_kept = Some("EIO".into());
        assert_eq!(
            e.to_string(),
            "no confirmation; rolled back incompletely: link lost: a; undo op b failed: c \
             (the journal stays: EIO)"
        );
        assert_eq!(e.code(), 10);
    }
}
