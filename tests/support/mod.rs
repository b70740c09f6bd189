//! Test support shared by integration tests and benches.
#![allow(dead_code)]

pub mod cluster;
pub mod fake_api;
pub mod operator;
