//! The real Admin API client over HTTP (reqwest), in parts whose imports point one way (each
//! uses only those listed after it):
//!
//! - `config`: where the client connects and how it behaves, and the checks
//!   and set-up that build an [`HttpAdminApi`] before anything is sent;
//! - `operations`: the [`AdminApi`](super::AdminApi) operations, each one
//!   request through the transport and a strict reading of its answer;
//! - `transport`: the one request loop, with its token handling, retries,
//!   pacing and secret-free typed errors;
//! - `attempt`: one request sent and its answer read, capped in size;
//! - `stats`: what the client has done so far;
//! - `observer`: what the client reports while it waits (for a progress display);
//! - `tls`: the certificate authorities trusted beyond the bundled and OS roots
//!   (`SSL_CERT_FILE`), checked before anything is sent;
//! - `listing`: the bounded concurrent listing of many projects, over any
//!   [`AdminApi`](super::AdminApi).
//!
//! `docs/client.md` states the policy for users.

mod attempt;
mod config;
mod listing;
mod observer;
mod operations;
mod stats;
mod tls;
mod transport;

pub use super::access_token::APPLY_TOKEN_MARGIN;
pub use super::auth::Credentials;
pub use super::retry::RetryPolicy;
pub use attempt::MAX_RESPONSE_BYTES;
pub use config::{
    ApiVersion, ClientConfig, DEFAULT_API_HOST, DEFAULT_OAUTH_URL, DEFAULT_REQUEST_TIMEOUT,
};
pub use listing::{DEFAULT_CONCURRENCY, list_keys_of_projects};
pub use observer::{ClientObserver, Wait};
pub use stats::ClientStats;
pub use transport::HttpAdminApi;
