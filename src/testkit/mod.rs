//! Test support shared by the integration tests (`tests/it`), the examples and the benches.
//!
//! Built only with the `testkit` feature (Cargo.toml says how every test, example and bench
//! gets it); the keyplan binary never contains it.

#![allow(
    missing_debug_implementations,
    reason = "test support: harness types hold emulators and child processes"
)]

pub mod files;
pub mod reliability;
pub mod synth;
