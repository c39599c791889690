//! The journal's on-disk format and its version.
//!
//! A journal is read by a later process than the one that wrote it, and
//! after an upgrade by a later netswitch. So it carries a `version`, and
//! reading one is explicit about what it understands:
//!
//! - [`VERSION`]: this format;
//! - no `version` field: a journal of a netswitch from before versioning
//!   (format 1). Its fields are those of format 2 without `version`, so it
//!   is read and recovered as such; one that does not parse that way is
//!   refused;
//! - any other version (a newer netswitch's, after a downgrade): refused,
//!   never guessed at.
//!
//! A refused journal is moved aside by the caller and the host is not
//! rolled back from it (a misread journal would undo the wrong things).

use serde_json::Value;
use thiserror::Error;

use super::Journal;

/// The format this netswitch writes.
pub const VERSION: u32 = 2;

/// The format of journals written before they carried a version.
pub const UNVERSIONED: u32 = 1;

/// Why a journal was not read.
#[derive(Debug, Error)]
pub enum FormatError {
    #[error("the journal is not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("journal format version {found} is not one this netswitch reads (it reads {UNVERSIONED} and {VERSION})")]
    Unknown { found: Value },
    #[error("the journal has no format version (written before netswitch versioned it) and does not read as format {UNVERSIONED}: {0}")]
    Unversioned(serde_json::Error),
    #[error("the journal says format {VERSION} but does not read as it: {0}")]
    Corrupt(serde_json::Error),
}

/// Reads a journal file's bytes, by its version.
pub fn decode(text: &[u8]) -> Result<Journal, FormatError> {
    let mut value: Value = serde_json::from_slice(text).map_err(FormatError::NotJson)?;
    let found = value.get("version").cloned();
    match found {
        None => {
            if let Some(obj) = value.as_object_mut() {
                obj.insert("version".into(), Value::from(UNVERSIONED));
            }
            serde_json::from_value(value).map_err(FormatError::Unversioned)
        }
        Some(v) if v.as_u64() == Some(u64::from(VERSION)) => {
            serde_json::from_value(value).map_err(FormatError::Corrupt)
        }
        Some(v) => Err(FormatError::Unknown { found: v }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netswitch_model::config::Config;
    use netswitch_model::plan::{KernelOp, Op};

    fn journal() -> Journal {
        let ops: Vec<Op> = vec![KernelOp::SetMtu {
            link: "eth0".into(),
            mtu: 1500,
        }
        .into()];
        Journal::new("setup", &Config::default(), &Config::default(), false, &ops)
    }

    #[test]
    fn a_journal_is_written_with_its_version_and_reads_back() {
        let j = journal();
        let text = serde_json::to_vec(&j).unwrap();
        let v: Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(v["version"], VERSION);
        let back = decode(&text).unwrap();
        assert_eq!(back.version, VERSION);
        assert_eq!(back.ops, j.ops);
    }

    #[test]
    fn an_unversioned_journal_of_the_old_shape_is_read_as_format_1() {
        // What netswitch wrote before versioning: the same fields, no version.
        let old = br#"{"verb":"setup","pid":4242,"changes":{"networks":{},"bonds":{}},
            "persist":true,"ops":[{"op":"set_mtu","link":"eth0","mtu":1500},
            {"op":"set_master","link":"eth1","master":"br"}],
            "before_links":[],"resolv":null}"#;
        let j = decode(old).unwrap();
        assert_eq!(j.version, UNVERSIONED);
        assert_eq!((j.verb.as_str(), j.pid, j.persist), ("setup", 4242, true));
        assert_eq!(j.ops.len(), 2);
        assert_eq!(j.ops[1].to_string(), "set eth1 master br");
    }

    #[test]
    fn an_unversioned_journal_that_does_not_read_as_format_1_is_refused() {
        let odd = br#"{"verb":"setup","pid":1,"ops":[{"op":"teleport"}]}"#;
        let e = decode(odd).unwrap_err();
        assert!(matches!(e, FormatError::Unversioned(_)), "{e}");
        assert!(e.to_string().contains("no format version"), "{e}");
    }

    #[test]
    fn a_journal_of_an_unknown_version_is_refused_not_guessed_at() {
        let mut v = serde_json::to_value(journal()).unwrap();
        v["version"] = Value::from(99);
        let e = decode(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(matches!(e, FormatError::Unknown { .. }), "{e}");
        assert!(e.to_string().contains("version 99"), "{e}");
        assert!(matches!(decode(b"{not json"), Err(FormatError::NotJson(_))));
    }
}
