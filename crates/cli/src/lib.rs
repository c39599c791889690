//! The `netswitch` command lives in the binary target (`src/main.rs`).
//!
//! This empty library target exists so that the package's own tests can
//! depend on it with the `fault-injection` feature (see `Cargo.toml`):
//! cargo ignores a dependency on a package without a library, and with it
//! the feature that builds the tests' `netswitch` binary with fault
//! injection.
