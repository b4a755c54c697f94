//! keyplan: Pinecone API keys as code.
//!
//! A manifest declares which keys each project holds; keyplan lists the live keys through the
//! Admin API, diffs them into a [`plan::Plan`], shows it for approval, and applies it, sending
//! each new key's one-time secret straight to a [`secrets::SecretStore`].
//!
//! Dependencies point one way: `model` ← `desired` ← `manifest`, `plan` ← `render`, `apply` ←
//! `commands`. `live` and `emulator` speak HTTP; `plan` and `model` never do I/O.

pub mod apply;
pub mod atomic_write;
pub mod commands;
pub mod desired;
pub mod emulator;
pub mod exit;
pub mod live;
pub(crate) mod lock;
pub mod manifest;
pub mod model;
pub mod plan;
pub mod policy;
pub mod render;
pub mod report;
pub mod secrets;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use commands::run;
