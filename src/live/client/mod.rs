//! The real Admin API client over HTTP (reqwest), in four parts whose imports point one way:
//!
//! - [`config`](self::config): where the client connects and how it behaves, and the checks
//!   and set-up that build an [`HttpAdminApi`] from that before anything is sent;
//! - [`transport`](self::transport): the one request loop, with its token handling, retries,
//!   timeouts, pacing, capped reads and secret-free typed errors;
//! - [`operations`](self::operations): the [`AdminApi`](super::AdminApi) operations on top of
//!   that loop;
//! - [`listing`](self::listing): the bounded concurrent listing of many projects, over any
//!   [`AdminApi`](super::AdminApi).
//!
//! `docs/client.md` states the policy for users.

mod attempt;
mod config;
mod listing;
mod operations;
mod stats;
mod transport;

pub use super::auth::Credentials;
pub use super::retry::RetryPolicy;
pub use attempt::MAX_RESPONSE_BYTES;
pub use config::{
    API_VERSION, ClientConfig, DEFAULT_API_HOST, DEFAULT_OAUTH_URL, DEFAULT_REQUEST_TIMEOUT,
};
pub use listing::{DEFAULT_CONCURRENCY, list_keys_of_projects};
pub use stats::ClientStats;
pub use transport::HttpAdminApi;
