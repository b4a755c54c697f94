//! One HTTP attempt: the request with its body and bearer header, sent once, and the answer
//! read in full up to [`MAX_RESPONSE_BYTES`]; what became of it is an [`Attempt`] for the
//! request loop to judge.

use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, Url};

use super::stats::{Counters, bump};
use crate::live::ApiError;
use crate::live::auth::Credentials;
use crate::live::redact;
use crate::live::retry::Resend;
use crate::model::Secret;

/// The largest response body read; a bigger one is an error, so a runaway proxy or server cannot
/// exhaust memory. The largest real answer (one project's keys) is a few kilobytes.
pub const MAX_RESPONSE_BYTES: usize = 8 << 20;

/// An answer read in full.
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) headers: HeaderMap,
    pub(super) body: Vec<u8>,
}

/// What became of one attempt.
pub(super) enum Attempt {
    Reply(Reply),
    /// No connection was made.
    NotSent(String),
    /// Sent, or possibly sent, but no complete answer came back.
    MaybeSent(String),
    /// An answer with this status whose body exceeds [`MAX_RESPONSE_BYTES`] (not read further).
    TooLarge(u16),
}

/// Which request the loop sends, and how.
pub(super) struct Call<'a> {
    pub(super) method: Method,
    pub(super) url: &'a Url,
    pub(super) body: Option<Vec<u8>>,
    pub(super) resend: Resend,
    /// Whether this is an Admin API call (bearer token, 401 refresh, pacing) or the token exchange.
    pub(super) api: bool,
}

impl Attempt {
    /// The final attempt as the loop's result: an answer, or the failure that ended it.
    pub(super) fn finish(self) -> Result<Reply, ApiError> {
        match self {
            Attempt::Reply(reply) => Ok(reply),
            Attempt::TooLarge(status) => Err(too_large(status)),
            Attempt::NotSent(detail) | Attempt::MaybeSent(detail) => Err(ApiError::Transport {
                status: None,
                detail,
            }),
        }
    }
}

/// One attempt: send, then read the whole body (capped).
pub(super) async fn attempt(
    http: &reqwest::Client,
    call: &Call<'_>,
    bearer: Option<&Secret>,
    credentials: &Credentials,
    counters: &Counters,
) -> Result<Attempt, ApiError> {
    let mut request = http.request(call.method.clone(), call.url.clone());
    if let Some(body) = &call.body {
        request = request
            .header(CONTENT_TYPE, "application/json")
            .body(body.clone());
    }
    if let Some(token) = bearer {
        let mut value =
            HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                ApiError::Credentials(format!(
                    "the access token holds characters not allowed in an HTTP header: {}",
                    credentials.hint()
                ))
            })?;
        value.set_sensitive(true);
        request = request.header(AUTHORIZATION, value);
    }
    bump(&counters.requests);
    if !call.api {
        bump(&counters.token_requests);
    }
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(e) if e.is_connect() => {
            let detail = error_chain(&e);
            // A refused certificate fails the same way every time: not retried, explained.
            if let Some(advice) = super::tls::refused_certificate_advice(&detail) {
                return Err(ApiError::Transport {
                    status: None,
                    detail: format!("{detail}; {advice}"),
                });
            }
            return Ok(Attempt::NotSent(detail));
        }
        Err(e) => return Ok(Attempt::MaybeSent(error_chain(&e))),
    };
    let status = response.status().as_u16();
    let headers = std::mem::take(response.headers_mut());
    let announced = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_RESPONSE_BYTES as u64) {
        return Ok(Attempt::TooLarge(status));
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Ok(Attempt::TooLarge(status));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => {
                return Ok(Attempt::MaybeSent(format!(
                    "the HTTP {status} answer broke off after {} bytes: {}",
                    body.len(),
                    error_chain(&e)
                )));
            }
        }
    }
    Ok(Attempt::Reply(Reply {
        status,
        headers,
        body,
    }))
}

/// The error for an answer over [`MAX_RESPONSE_BYTES`].
pub(super) fn too_large(status: u16) -> ApiError {
    ApiError::Transport {
        status: Some(status),
        detail: format!("the response body exceeds {} MiB", MAX_RESPONSE_BYTES >> 20),
    }
}

/// An error and its causes on one line (reqwest's own message alone says little).
pub(super) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    redact::sanitise(&text, &[])
}
