//! OVSDB JSON-RPC client (RFC 7047) for the ovs switch.
//!
//! Not yet built: this is the OVS-switch issue. The crate exists so the
//! workspace has its final shape.
