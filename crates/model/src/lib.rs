//! The setupNetworks contract as types: requests, canonical config, the host
//! snapshot, plans and the caps report; parse, canonicalize and validate.
//!
//! Pure: no sockets, no files. Every other crate speaks these types, so a
//! rule lives in one place and is testable without a kernel.

pub mod host;
