//! Shared by the switch crate's tests and benches: a host built from a
//! short description, and a host moved along by a plan's ops as the kernel
//! and OVS would carry them out.

#![allow(dead_code)]

pub mod sim;
