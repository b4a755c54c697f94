//! keyplan's integration tests, one test binary: `cargo test --test it` runs them all,
//! `cargo test --test it cli::` one module. Each module was a test binary of its own before.
//!
//! The shared harnesses live in `common` (the CLI harness: every keyplan run it makes is
//! scanned for leaked secrets) and in `keyplan::testkit` (built with the `testkit` feature,
//! which the dev-dependency on keyplan itself turns on; see Cargo.toml).

mod access_token;
mod api_version;
mod ci_outputs;
mod ci_workflows;
mod cli;
mod client;
mod command_safety;
mod common;
mod defaults;
mod destinations;
mod docs;
mod emulator;
mod environments;
mod faults;
mod hardening_api;
mod hardening_names;
mod help;
mod keyring;
mod keyring_linux;
mod manifest;
mod output;
mod overlap;
mod policy;
mod quota;
mod recipes;
mod report;
mod rerun;
mod roles;
mod schemas;
mod secret_get;
mod secrets;
mod support_stores;
mod terminal;
mod tls;
mod verbose_log;
