//! The request loop every call goes through: the bearer token (fixed, or exchanged for client
//! credentials and renewed), pacing, retries with jittered backoff around each
//! [`attempt`](super::attempt), and the mapping of whatever came back to a typed [`ApiError`]
//! free of secrets.
//!
//! One loop ([`Inner::execute`]) sends every request, so every operation gets the same rules;
//! `docs/client.md` states them for users.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use reqwest::header::RETRY_AFTER;
use reqwest::{Method, Url};
use tokio::time::Instant;

use super::attempt::{Attempt, Call, MAX_RESPONSE_BYTES, Reply, attempt, too_large};
use super::observer::{ClientObserver, Wait, sleep_observed};
use super::stats::{ClientStats, Counters, bump};
use crate::live::ApiError;
use crate::live::auth::{self, Credentials, TokenCache};
use crate::live::pacer::{Pacer, Ticket};
use crate::live::redact;
use crate::live::retry::{Outcome, Resend, RetryPolicy, Verdict, parse_retry_after, verdict};
use crate::live::wire::{self, TokenRequest, TokenWire};
use crate::lock::lock;
use crate::model::Secret;

/// How many received tokens are remembered for redaction. Renewals are rare (one per token
/// lifetime, plus one per refused token), so this covers every token a request in flight can
/// still carry.
const RECEIVED_TOKENS_KEPT: usize = 16;

/// The audience of the token exchange (the trailing slash matters).
const AUDIENCE: &str = "https://api.pinecone.io/";

/// The Admin API over HTTP. Cheap to clone: clones share the connection pool, the token, the
/// pacing and the counters.
#[derive(Debug, Clone)]
pub struct HttpAdminApi {
    pub(super) inner: Arc<Inner>,
}

/// What every clone of an [`HttpAdminApi`] shares.
pub(super) struct Inner {
    http: reqwest::Client,
    api_base: Url,
    oauth_url: Url,
    pub(super) credentials: Credentials,
    /// Blanked out of any text taken from a response: the credentials' secret parts.
    redact: Vec<String>,
    /// Every token the token endpoint handed out, whatever its shape: a server that echoes a
    /// request (its `Authorization` header) into an error body would otherwise print it, and
    /// only JWT-shaped tokens are recognisable on sight. The most recent few are kept: a
    /// request still carrying an older one may be answered after a renewal.
    received: std::sync::Mutex<VecDeque<String>>,
    policy: RetryPolicy,
    tokens: TokenCache,
    pacer: Pacer,
    counters: Counters,
    /// Told about long waits (see [`HttpAdminApi::observe`]).
    observer: std::sync::OnceLock<Arc<dyn ClientObserver>>,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpAdminApi")
            .field("api_base", &self.api_base.as_str())
            .field("oauth_url", &self.oauth_url.as_str())
            .field("credentials", &self.credentials)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl HttpAdminApi {
    /// The counters so far.
    pub fn stats(&self) -> ClientStats {
        self.inner.counters.snapshot()
    }

    /// Reports this client's long waits (a 429's `Retry-After`, a retry's backoff) to
    /// `observer`, for every clone. The first observer stays; later ones are ignored.
    pub fn observe(&self, observer: Arc<dyn ClientObserver>) {
        let _ = self.inner.observer.set(observer);
    }

    pub(super) fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.api_base.clone();
        // A base URL that can be a base (checked in `parse_base`) always has path segments.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// A read: a GET that may be sent again, and only a 200 answers it.
    pub(super) async fn get(&self, segments: &[&str]) -> Result<Reply, ApiError> {
        self.send(Method::GET, segments, None, Resend::Safe, &[200])
            .await
    }

    /// Sends an Admin API request to the path `segments` and hands back an answer whose status
    /// is one of `ok`, or the typed error.
    pub(super) async fn send(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<Vec<u8>>,
        resend: Resend,
        ok: &[u16],
    ) -> Result<Reply, ApiError> {
        let url = self.url(segments);
        let call = Call {
            method,
            url: &url,
            body,
            resend,
            api: true,
        };
        self.inner
            .call(call, ok)
            .await
            .map_err(|err| self.inner.scrub(err))
    }
}

impl Inner {
    pub(super) fn new(
        http: reqwest::Client,
        api_base: Url,
        oauth_url: Url,
        credentials: Credentials,
        policy: RetryPolicy,
    ) -> Self {
        Inner {
            http,
            api_base,
            oauth_url,
            redact: credentials.secrets(),
            received: std::sync::Mutex::new(VecDeque::new()),
            credentials,
            policy,
            tokens: TokenCache::default(),
            pacer: Pacer::new(),
            counters: Counters::default(),
            observer: std::sync::OnceLock::new(),
        }
    }

    /// Everything to blank out of server text: the credentials' secret parts and the tokens
    /// received so far. Owned, since the received tokens change; see [`as_strs`].
    pub(super) fn redact(&self) -> Vec<String> {
        let mut all = self.redact.clone();
        all.extend(lock(&self.received).iter().cloned());
        all
    }

    /// Remembers a token the token endpoint handed out, so that no error ever prints it.
    fn remember(&self, token: &Secret) {
        let mut received = lock(&self.received);
        if received.len() == RECEIVED_TOKENS_KEPT {
            received.pop_front();
        }
        received.push_back(token.expose().to_owned());
    }

    /// Blanks every credential out of an error's text, whichever path built it: the last
    /// line of defence for text that did not go through [`redact::sanitise`] with the full list.
    pub(super) fn scrub(&self, err: ApiError) -> ApiError {
        err.scrub(&as_strs(&self.redact()))
    }

    /// Sends one request with the retry rules, returning the final answer (any status) or the
    /// error that ended the attempts.
    async fn execute(&self, call: &Call<'_>) -> Result<Reply, ApiError> {
        let started = Instant::now();
        let mut failures = 0_u32;
        let mut throttles = 0_u32;
        let mut refreshed = false;
        let mut sent = 0_u32;
        loop {
            let ticket = if call.api {
                Some(self.take_slot().await)
            } else {
                None
            };
            let bearer = if call.api {
                Some(self.bearer().await?)
            } else {
                None
            };
            sent += 1;
            let token = bearer.as_ref().map(|(token, _)| token);
            let sent_at = Instant::now();
            let attempt =
                attempt(&self.http, call, token, &self.credentials, &self.counters).await?;
            super::observer::log_attempt(call, &attempt, sent_at.elapsed(), sent);

            let outcome = match &attempt {
                Attempt::TooLarge(status) => {
                    // Not worth retrying; for a create, a success status means the key exists.
                    return Err(
                        if call.resend == Resend::Never && (200..300).contains(status) {
                            self.outcome_unknown(&attempt)
                        } else {
                            too_large(*status)
                        },
                    );
                }
                Attempt::Reply(reply) => Outcome::Status(reply.status),
                Attempt::NotSent(_) => Outcome::NotSent,
                Attempt::MaybeSent(_) => Outcome::MaybeSent,
            };
            if let (Attempt::Reply(reply), Some((_, generation))) = (&attempt, &bearer)
                && reply.status == 401
                && self.can_refresh()
                && !refreshed
            {
                // The token may have been revoked or expired early: one fresh one, once.
                // A 401 means the request was refused before any effect, so even a create
                // may be resent.
                refreshed = true;
                self.tokens.invalidate(*generation).await;
                bump(&self.counters.retries);
                continue;
            }
            if let Attempt::Reply(reply) = &attempt
                && (200..300).contains(&reply.status)
                && let Some(ticket) = ticket
            {
                self.pacer.on_success(ticket);
            }

            let retry_after = match &attempt {
                Attempt::Reply(reply) => reply
                    .headers
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, jiff::Timestamp::now())),
                _ => None,
            };
            let (delay, attempts, budget, why) = match verdict(outcome, call.resend) {
                Verdict::Done => return attempt.finish(),
                Verdict::Unknown => return Err(self.outcome_unknown(&attempt)),
                Verdict::Throttled => {
                    bump(&self.counters.throttled);
                    throttles += 1;
                    if let Some(ticket) = ticket {
                        self.pacer.on_throttled(ticket, Instant::now(), retry_after);
                    }
                    // This request waits its Retry-After (or its own backoff) and then queues
                    // for a slot again; the pacer decides whether the others slow down too.
                    let own = match retry_after {
                        Some(wait) => wait,
                        None => self.policy.backoff(throttles, &mut rand::rng()),
                    };
                    let budget = self.policy.max_throttled_attempts;
                    (own, throttles, budget, Wait::RateLimited)
                }
                Verdict::Retry => {
                    failures += 1;
                    let backoff = self.policy.backoff(failures, &mut rand::rng());
                    (
                        retry_after.map_or(backoff, |wait| wait.max(backoff)),
                        failures,
                        self.policy.max_attempts,
                        Wait::Retrying,
                    )
                }
            };
            // `attempts` counts the attempts of this kind that failed, this one included.
            if attempts >= budget || started.elapsed() + delay > self.policy.max_total {
                let excerpt = call.resend != Resend::Never;
                return Err(self.give_up(attempt, sent, started.elapsed(), excerpt));
            }
            bump(&self.counters.retries);
            sleep_observed(self.observer.get(), why, delay).await;
        }
    }

    /// Waits for the pacer's sending slot. A long hold (only a long `Retry-After` holds every
    /// request) is reported to the observer.
    async fn take_slot(&self) -> Ticket {
        loop {
            match self.pacer.try_take(Instant::now()) {
                Ok(ticket) => return ticket,
                Err(due) => {
                    let delay = due.saturating_duration_since(Instant::now());
                    sleep_observed(self.observer.get(), Wait::RateLimited, delay).await;
                }
            }
        }
    }

    fn can_refresh(&self) -> bool {
        matches!(self.credentials, Credentials::ClientCredentials { .. })
    }

    /// The token for the next API request, with its generation (0 for a fixed access token).
    async fn bearer(&self) -> Result<(Secret, u64), ApiError> {
        match &self.credentials {
            Credentials::AccessToken(token) => Ok((token.clone(), 0)),
            Credentials::ClientCredentials { .. } => self.tokens.get(|| self.exchange()).await,
        }
    }

    /// Exchanges the client credentials for a token and its lifetime.
    ///
    /// Boxed: `execute` reaches `exchange` (through `bearer`) for API calls, and `exchange` calls
    /// `execute` for the token request, so the future type needs an indirection.
    fn exchange(&self) -> BoxFuture<'_, Result<(Secret, Duration), ApiError>> {
        Box::pin(self.exchange_inner())
    }

    async fn exchange_inner(&self) -> Result<(Secret, Duration), ApiError> {
        let Credentials::ClientCredentials {
            client_id,
            client_secret,
        } = &self.credentials
        else {
            return Err(ApiError::Credentials(
                "no client credentials to exchange".to_owned(),
            ));
        };
        let body = serde_json::to_vec(&TokenRequest {
            client_id,
            client_secret: client_secret.expose(),
            grant_type: "client_credentials",
            audience: AUDIENCE,
        })
        .map_err(|e| ApiError::Config(format!("encode the token request: {e}")))?;
        let call = Call {
            method: Method::POST,
            url: &self.oauth_url,
            body: Some(body),
            resend: Resend::Safe,
            api: false,
        };
        let reply = self
            .execute(&call)
            .await
            .map_err(|e| token_endpoint_error(e, &self.credentials))?;
        let owned = self.redact();
        let redact = as_strs(&owned);
        if !(200..300).contains(&reply.status) {
            let err =
                wire::error_from_body(reply.status, &reply.headers, &reply.body, true, &redact);
            return Err(token_endpoint_error(err, &self.credentials));
        }
        // No excerpt: the body holds the token.
        let wire: TokenWire = wire::decode(
            reply.status,
            &reply.headers,
            &reply.body,
            "a token",
            false,
            &redact,
        )
        .map_err(|e| token_endpoint_error(e, &self.credentials))?;
        if wire.access_token.trim().is_empty()
            || wire
                .token_type
                .as_deref()
                .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
        {
            return Err(ApiError::Credentials(format!(
                "the token endpoint {} answered without a bearer token: {}",
                self.oauth_url,
                self.credentials.hint()
            )));
        }
        let token = Secret::new(wire.access_token);
        self.remember(&token);
        Ok((token, auth::token_ttl(wire.expires_in)))
    }

    /// The error after the last allowed attempt, saying so.
    fn give_up(
        &self,
        attempt: Attempt,
        attempts: u32,
        elapsed: Duration,
        excerpt: bool,
    ) -> ApiError {
        let note = format!(
            "gave up after {attempts} attempts in {:.1}s",
            elapsed.as_secs_f64()
        );
        match attempt {
            Attempt::Reply(reply) => {
                let hint = if reply.status == 429 {
                    "; the API is rate limiting: try again later or lower --concurrency"
                } else {
                    ""
                };
                self.error_for(&reply, excerpt)
                    .reword(|text| format!("{text}; {note}{hint}"))
            }
            Attempt::NotSent(detail) | Attempt::MaybeSent(detail) => ApiError::Transport {
                status: None,
                detail: format!("{detail}; {note}"),
            },
            Attempt::TooLarge(status) => too_large(status),
        }
    }

    /// A create that may have taken effect. Nothing from the body is quoted: it may hold the secret.
    fn outcome_unknown(&self, attempt: &Attempt) -> ApiError {
        let detail = match attempt {
            Attempt::Reply(reply) => match self.error_for(reply, false) {
                err @ ApiError::Api { .. } => err.to_string(),
                _ => format!(
                    "HTTP {} with {}",
                    reply.status,
                    wire::describe_body(&reply.headers, &reply.body)
                ),
            },
            Attempt::NotSent(detail) | Attempt::MaybeSent(detail) => detail.clone(),
            Attempt::TooLarge(status) => format!(
                "HTTP {status} with a body over {} MiB, not read",
                MAX_RESPONSE_BYTES >> 20
            ),
        };
        ApiError::OutcomeUnknown { detail }
    }

    /// The typed error for a non-success answer. A 401 that survived the refresh is a
    /// credentials error, naming the variables to check.
    fn error_for(&self, reply: &Reply, excerpt: bool) -> ApiError {
        let err = wire::error_from_body(
            reply.status,
            &reply.headers,
            &reply.body,
            excerpt,
            &as_strs(&self.redact()),
        );
        if reply.status == 401 {
            return ApiError::Credentials(format!(
                "the Admin API refused the credentials: {err}; {}",
                self.credentials.hint()
            ));
        }
        err
    }

    /// Sends an API call and hands back a success answer, or the typed error.
    async fn call(&self, call: Call<'_>, ok: &[u16]) -> Result<Reply, ApiError> {
        let excerpt = call.resend != Resend::Never;
        let reply = self.execute(&call).await?;
        let status = reply.status;
        if ok.contains(&status) {
            return Ok(reply);
        }
        let expected = ok
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(" or ");
        if (200..300).contains(&status) {
            let detail = format!("unexpected HTTP {status} where {expected} was expected");
            return Err(if call.resend == Resend::Never {
                ApiError::OutcomeUnknown { detail }
            } else {
                ApiError::Transport {
                    status: Some(status),
                    detail,
                }
            });
        }
        if (300..400).contains(&status) {
            let location = reply
                .headers
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(|l| redact::sanitise(l, &as_strs(&self.redact())))
                .unwrap_or_default();
            return Err(ApiError::Transport {
                status: Some(status),
                detail: format!(
                    "the server redirected to {location:?}, and redirects are not followed \
                     (they could carry the token elsewhere): check --api-host"
                ),
            });
        }
        Err(self.error_for(&reply, excerpt))
    }

    pub(super) fn decode<T: serde::de::DeserializeOwned>(
        &self,
        reply: &Reply,
        what: &str,
    ) -> Result<T, ApiError> {
        wire::decode(
            reply.status,
            &reply.headers,
            &reply.body,
            what,
            true,
            &as_strs(&self.redact()),
        )
    }
}

/// Borrows a list of owned strings as the `&[&str]` the redaction functions take.
pub(super) fn as_strs(owned: &[String]) -> Vec<&str> {
    owned.iter().map(String::as_str).collect()
}

/// Frames an error of the token exchange: a refusal (4xx) names the variables to check.
fn token_endpoint_error(err: ApiError, credentials: &Credentials) -> ApiError {
    match err {
        ApiError::Api { status, .. }
        | ApiError::Transport {
            status: Some(status),
            ..
        } if (400..500).contains(&status) && status != 408 && status != 429 => {
            ApiError::Credentials(format!(
                "the token endpoint refused the client credentials: {err}; {}",
                credentials.hint()
            ))
        }
        other => other.reword(|text| format!("token endpoint: {text}")),
    }
}
