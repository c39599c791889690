//! Applies plan operations to the kernel through netlink (legacy switch backend).
//!
//! Not yet built: applying plans is the legacy-switch issue. The crate exists
//! so the workspace has its final shape and the boundaries stay visible.
