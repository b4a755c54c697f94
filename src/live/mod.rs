//! The Admin API as keyplan sees it: the [`AdminApi`] trait, its typed errors, and the real
//! client over HTTP ([`client::HttpAdminApi`]).
//!
//! Wire types (JSON exactly as the API speaks it) stay private to this module; everything
//! outside sees [`crate::model`] types. An API change then touches this module only.

use std::future::Future;

use crate::model::{CreatedKey, KeyId, KeyUpdate, LiveKey, NewKey, Project, ProjectId};

mod access_token;
mod auth;
pub mod client;
mod pacer;
mod pagination;
mod redact;
mod retry;
mod wire;

/// What keyplan needs from Pinecone's Admin API.
///
/// Implemented by the HTTP client and, in unit tests of failure paths, by in-memory fakes.
/// Every method either returns a well-formed answer or an error: an empty `Vec` always means
/// the API answered a well-formed, empty listing, never "could not tell".
pub trait AdminApi: Send + Sync {
    fn list_projects(&self) -> impl Future<Output = Result<Vec<Project>, ApiError>> + Send;
    fn describe_project(
        &self,
        id: &ProjectId,
    ) -> impl Future<Output = Result<Project, ApiError>> + Send;
    fn list_keys(
        &self,
        project: &ProjectId,
    ) -> impl Future<Output = Result<Vec<LiveKey>, ApiError>> + Send;
    /// Creates a key. Never retried once the request may have reached the server: such a
    /// failure is [`ApiError::OutcomeUnknown`], and the caller reconciles by listing.
    fn create_key(
        &self,
        project: &ProjectId,
        key: &NewKey,
    ) -> impl Future<Output = Result<CreatedKey, ApiError>> + Send;
    fn describe_key(&self, id: &KeyId) -> impl Future<Output = Result<LiveKey, ApiError>> + Send;
    /// One PATCH for name and roles together.
    fn update_key(
        &self,
        id: &KeyId,
        update: &KeyUpdate,
    ) -> impl Future<Output = Result<LiveKey, ApiError>> + Send;
    /// Deletes a key. A key that is already gone is success: `Ok(false)`. Gone means a 404,
    /// or a 5xx (production's answer for a missing key) after which describing the key finds
    /// it missing.
    fn delete_key(&self, id: &KeyId) -> impl Future<Output = Result<bool, ApiError>> + Send;
}

/// An error from the Admin API or on the way to it.
///
/// Messages are lowercase fragments that read after "failed to ...". None of them ever holds a
/// secret, a token or a response body that could carry one.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The API answered with a well-formed error document.
    #[error("{message} (HTTP {status}{code}{request_id})",
        code = code.as_deref().map(|c| format!(", {c}")).unwrap_or_default(),
        request_id = request_id.as_deref().map(|r| format!(", request id {r}")).unwrap_or_default())]
    Api {
        status: u16,
        /// Pinecone's error code, e.g. `NOT_FOUND`, `QUOTA_EXCEEDED`.
        code: Option<String>,
        message: String,
        request_id: Option<String>,
    },
    /// The response could not be read as the API's JSON: a proxy's HTML page, a truncated or
    /// malformed body, a connection that broke. `excerpt` is a short, sanitised piece of the body.
    #[error("{}", match status {
        Some(status) => format!("unreadable response (HTTP {status}): {detail}"),
        None => format!("no response: {detail}"),
    })]
    Transport { status: Option<u16>, detail: String },
    /// A create whose request may have reached the server, but whose answer was lost. The key
    /// may exist, and its secret is then gone: list the project to find out.
    #[error(
        "outcome unknown: the create request may have reached Pinecone but no answer came back ({detail})"
    )]
    OutcomeUnknown { detail: String },
    /// No usable credentials, or the token endpoint refused them.
    #[error("{0}")]
    Credentials(String),
    /// A configuration the client refuses to run with (e.g. credentials over plain http).
    #[error("{0}")]
    Config(String),
}

impl ApiError {
    /// The HTTP status, when an answer came back.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Api { status, .. } => Some(*status),
            ApiError::Transport { status, .. } => *status,
            _ => None,
        }
    }

    /// Whether the API said the thing does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Replaces every occurrence of the strings in `redact` (credentials) in every text the
    /// error holds, whatever its kind. Strings shorter than 4 characters are left alone, as in
    /// [`redact::sanitise`].
    fn scrub(self, redact: &[&str]) -> ApiError {
        let clean = |text: String| {
            redact
                .iter()
                .filter(|s| s.len() >= 4)
                .fold(text, |text, secret| text.replace(secret, "[redacted]"))
        };
        self.map_text(clean, clean)
    }

    /// Rewrites the text of an error the API or the transport gave (the message or the detail),
    /// keeping its status, code and request id; other errors pass through unchanged.
    fn reword(self, text: impl FnOnce(&str) -> String) -> ApiError {
        self.map_text(|message| text(&message), |other| other)
    }

    /// Applies `main` to the message or detail of an API or transport error, and `other` to
    /// every other text the error holds (code, request id, and the text of the other kinds).
    fn map_text(
        self,
        main: impl FnOnce(String) -> String,
        other: impl Fn(String) -> String,
    ) -> ApiError {
        match self {
            ApiError::Api {
                status,
                code,
                message,
                request_id,
            } => ApiError::Api {
                status,
                code: code.map(&other),
                message: main(message),
                request_id: request_id.map(&other),
            },
            ApiError::Transport { status, detail } => ApiError::Transport {
                status,
                detail: main(detail),
            },
            ApiError::OutcomeUnknown { detail } => ApiError::OutcomeUnknown {
                detail: other(detail),
            },
            ApiError::Credentials(text) => ApiError::Credentials(other(text)),
            ApiError::Config(text) => ApiError::Config(other(text)),
        }
    }
}
