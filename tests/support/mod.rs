//! Test support shared by integration tests and benches.
#![allow(dead_code)]

pub mod binary;
pub mod cluster;
pub mod operator;

/// The fake API server, a crate of its own (`tests/fake-api`) so that it is built once.
pub use fake_api;
