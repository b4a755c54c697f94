//! The real Admin API client over HTTP (reqwest): configuration, the request loop with its
//! token handling, retries, timeouts and pacing, the [`AdminApi`] operations, and the bounded
//! concurrent listing of many projects.
//!
//! One loop ([`Inner::execute`]) sends every request, so every operation gets the same rules:
//! a bearer token renewed before expiry and refreshed once on a 401, retries with jittered
//! backoff on 408/429/5xx/broken connections, a create never resent once it may have reached
//! the server, responses capped in size, errors typed and free of secrets. `docs/client.md`
//! states the policy for users.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use reqwest::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER,
};
use reqwest::{Method, Url};
use tokio::time::Instant;

pub use super::auth::Credentials;
use super::auth::{self, TokenCache};
pub use super::retry::RetryPolicy;
use super::retry::{Outcome, Pacer, Resend, Verdict, parse_retry_after, verdict};
use super::wire::{
    self, CreateBody, CreatedWire, KeyWire, ListWire, ProjectWire, TokenRequest, TokenWire,
    UpdateBody,
};
use super::{AdminApi, ApiError};
use crate::model::{CreatedKey, KeyId, KeyUpdate, LiveKey, NewKey, Project, ProjectId, Secret};

/// The Admin API's base URL.
pub const DEFAULT_API_HOST: &str = "https://api.pinecone.io";
/// Where client credentials are exchanged for an access token.
pub const DEFAULT_OAUTH_URL: &str = "https://login.pinecone.io/oauth/token";
/// The API version keyplan speaks (sent as `X-Pinecone-Api-Version`).
pub const API_VERSION: &str = "2025-10";
/// The audience of the token exchange (the trailing slash matters).
const AUDIENCE: &str = "https://api.pinecone.io/";
/// How many projects are listed at once by default: see `docs/client.md` for the reasoning.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// The default bound on one attempt, from connecting to the last byte of the body.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest response body read; a bigger one is an error, so a runaway proxy or server cannot
/// exhaust memory. The largest real answer (one project's keys) is a few kilobytes.
pub const MAX_RESPONSE_BYTES: usize = 8 << 20;

/// Where the client connects and how it behaves.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The Admin API's base URL (`--api-host`, `PINECONE_CONTROLLER_HOST`).
    pub api_host: String,
    /// The token endpoint (`--oauth-url`, `PINECONE_OAUTH_URL`); used with client credentials only.
    pub oauth_url: String,
    pub credentials: Credentials,
    /// The bound on one attempt, body included.
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    /// Allows credentials over plain http to hosts that are not loopback (`--allow-insecure-http`).
    pub allow_insecure_http: bool,
}

impl ClientConfig {
    /// The production hosts and the default policies.
    pub fn new(credentials: Credentials) -> Self {
        ClientConfig {
            api_host: DEFAULT_API_HOST.to_owned(),
            oauth_url: DEFAULT_OAUTH_URL.to_owned(),
            credentials,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            retry: RetryPolicy::default(),
            allow_insecure_http: false,
        }
    }

    /// Applies `PINECONE_CONTROLLER_HOST` and `PINECONE_OAUTH_URL` when they are set.
    #[must_use]
    pub fn with_env_hosts(self) -> Self {
        self.with_hosts_from(|name| std::env::var(name).ok())
    }

    /// [`ClientConfig::with_env_hosts`] over any source of variables.
    #[must_use]
    pub fn with_hosts_from(mut self, lookup: impl Fn(&str) -> Option<String>) -> Self {
        let var = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if let Some(host) = var("PINECONE_CONTROLLER_HOST") {
            self.api_host = host;
        }
        if let Some(url) = var("PINECONE_OAUTH_URL") {
            self.oauth_url = url;
        }
        self
    }
}

/// What a client has done so far, for tests, benchmarks and `--verbose` summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// HTTP requests sent, every attempt and token exchange included.
    pub requests: u64,
    /// Of those, token exchanges.
    pub token_requests: u64,
    /// Attempts that were retries (after a failure, a 429 or a 401).
    pub retries: u64,
    /// 429 answers seen.
    pub throttled: u64,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    token_requests: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The Admin API over HTTP. Cheap to clone: clones share the connection pool, the token, the
/// pacing and the counters.
#[derive(Debug, Clone)]
pub struct HttpAdminApi {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    api_base: Url,
    oauth_url: Url,
    credentials: Credentials,
    /// Blanked out of any text taken from a response.
    redact: Vec<String>,
    policy: RetryPolicy,
    tokens: TokenCache,
    pacer: Pacer,
    counters: Counters,
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
    /// Checks the configuration and builds the client. Nothing is sent yet: credentials that
    /// would travel over plain http to a non-loopback host are refused here, before any request.
    pub fn new(config: ClientConfig) -> Result<Self, ApiError> {
        let api_base = parse_base(&config.api_host, "--api-host")?;
        auth::check_transport(&api_base, "--api-host", config.allow_insecure_http)?;
        let oauth_url = parse_base(&config.oauth_url, "--oauth-url")?;
        if matches!(config.credentials, Credentials::ClientCredentials { .. }) {
            auth::check_transport(&oauth_url, "--oauth-url", config.allow_insecure_http)?;
        }
        if config.retry.max_attempts == 0 || config.retry.max_throttled_attempts == 0 {
            return Err(ApiError::Config(
                "retry attempts must be at least 1".to_owned(),
            ));
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-pinecone-api-version",
            HeaderValue::from_static(API_VERSION),
        );
        let mut builder = reqwest::Client::builder();
        if api_base.scheme() == "http" || oauth_url.scheme() == "http" {
            // The loopback rule assumes a direct connection: an HTTP_PROXY from the environment
            // would carry the token in clear text to another host. (Over https a proxy only
            // sees an encrypted tunnel, so HTTPS_PROXY is honoured.)
            builder = builder.no_proxy();
        }
        let http = builder
            .user_agent(concat!("keyplan/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            // Without it, a small request on a keep-alive connection can wait ~40 ms for a
            // delayed ACK (TRAPS.md, trap 11).
            .tcp_nodelay(true)
            .tcp_keepalive(Duration::from_secs(60))
            .pool_idle_timeout(Duration::from_secs(90))
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            .timeout(config.request_timeout)
            // The API never redirects; following one could carry the token elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                ApiError::Config(format!("set up the HTTP client: {}", error_chain(&e)))
            })?;
        Ok(HttpAdminApi {
            inner: Arc::new(Inner {
                http,
                api_base,
                oauth_url,
                redact: config.credentials.secrets(),
                credentials: config.credentials,
                policy: config.retry,
                tokens: TokenCache::default(),
                pacer: Pacer::new(),
                counters: Counters::default(),
            }),
        })
    }

    /// The counters so far.
    pub fn stats(&self) -> ClientStats {
        let c = &self.inner.counters;
        ClientStats {
            requests: c.requests.load(Ordering::Relaxed),
            token_requests: c.token_requests.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            throttled: c.throttled.load(Ordering::Relaxed),
        }
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.api_base.clone();
        // A base URL that can be a base (checked in `parse_base`) always has path segments.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// A read: a GET that may be sent again, and only a 200 answers it.
    async fn get(&self, segments: &[&str]) -> Result<Reply, ApiError> {
        self.send(Method::GET, segments, None, Resend::Safe, &[200])
            .await
    }

    /// Sends an Admin API request to the path `segments` and hands back an answer whose status
    /// is one of `ok`, or the typed error.
    async fn send(
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
        self.inner.call(call, ok).await
    }
}

fn parse_base(text: &str, what: &str) -> Result<Url, ApiError> {
    let url = Url::parse(text.trim()).map_err(|e| {
        ApiError::Config(format!(
            "{what} {text:?} is not a URL ({e}): use e.g. https://api.pinecone.io"
        ))
    })?;
    if url.cannot_be_a_base() || url.query().is_some() || url.fragment().is_some() {
        return Err(ApiError::Config(format!(
            "{what} {text:?} is not a plain base URL: use e.g. https://api.pinecone.io"
        )));
    }
    Ok(url)
}

/// A boxed, sendable future.
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An answer read in full.
struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// What became of one attempt.
enum Attempt {
    Reply(Reply),
    /// No connection was made.
    NotSent(String),
    /// Sent, or possibly sent, but no complete answer came back.
    MaybeSent(String),
    /// An answer with this status whose body exceeds [`MAX_RESPONSE_BYTES`] (not read further).
    TooLarge(u16),
}

/// Which request the loop sends, and how.
struct Call<'a> {
    method: Method,
    url: &'a Url,
    body: Option<Vec<u8>>,
    resend: Resend,
    /// Whether this is an Admin API call (bearer token, 401 refresh, pacing) or the token exchange.
    api: bool,
}

impl Inner {
    fn redact(&self) -> Vec<&str> {
        self.redact.iter().map(String::as_str).collect()
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
            if call.api {
                while let Err(due) = self.pacer.try_take(Instant::now()) {
                    tokio::time::sleep_until(due).await;
                }
            }
            let bearer = if call.api {
                Some(self.bearer().await?)
            } else {
                None
            };
            let sent_at = Instant::now();
            sent += 1;
            let attempt = self
                .attempt(call, bearer.as_ref().map(|(token, _)| token))
                .await?;

            let outcome = match &attempt {
                Attempt::TooLarge(status) => {
                    // Not worth retrying; for a create, a success status means the key exists.
                    return Err(
                        if call.resend == Resend::Never && (200..300).contains(status) {
                            self.outcome_unknown(&attempt)
                        } else {
                            Inner::too_large(*status)
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
                && call.api
            {
                self.pacer.on_success();
            }

            let retry_after = match &attempt {
                Attempt::Reply(reply) => reply
                    .headers
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, jiff::Timestamp::now())),
                _ => None,
            };
            let (delay, attempts, budget) = match verdict(outcome, call.resend) {
                Verdict::Done => return Inner::finish(attempt),
                Verdict::Unknown => return Err(self.outcome_unknown(&attempt)),
                Verdict::Throttled => {
                    bump(&self.counters.throttled);
                    throttles += 1;
                    if call.api {
                        self.pacer
                            .on_throttled(sent_at, Instant::now(), retry_after);
                    }
                    // The pacer slows the client's other requests; this one waits its Retry-After
                    // (or its own backoff) and then queues for a slot again.
                    let own = match retry_after {
                        Some(wait) => wait,
                        None => self.policy.backoff(throttles, &mut rand::rng()),
                    };
                    (own, throttles, self.policy.max_throttled_attempts)
                }
                Verdict::Retry => {
                    failures += 1;
                    let backoff = self.policy.backoff(failures, &mut rand::rng());
                    (
                        retry_after.map_or(backoff, |wait| wait.max(backoff)),
                        failures,
                        self.policy.max_attempts,
                    )
                }
            };
            // `attempts` counts the attempts of this kind that failed, this one included.
            if attempts >= budget || started.elapsed() + delay > self.policy.max_total {
                let excerpt = call.resend == Resend::Safe;
                return Err(self.give_up(attempt, sent, started.elapsed(), excerpt));
            }
            bump(&self.counters.retries);
            tokio::time::sleep(delay).await;
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
        let redact = self.redact();
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
        Ok((
            Secret::new(wire.access_token),
            auth::token_ttl(wire.expires_in),
        ))
    }

    /// One attempt: send, then read the whole body (capped).
    async fn attempt(&self, call: &Call<'_>, bearer: Option<&Secret>) -> Result<Attempt, ApiError> {
        let mut request = self.http.request(call.method.clone(), call.url.clone());
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
                        self.credentials.hint()
                    ))
                })?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        bump(&self.counters.requests);
        if !call.api {
            bump(&self.counters.token_requests);
        }
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(e) if e.is_connect() => return Ok(Attempt::NotSent(error_chain(&e))),
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

    fn too_large(status: u16) -> ApiError {
        ApiError::Transport {
            status: Some(status),
            detail: format!("the response body exceeds {} MiB", MAX_RESPONSE_BYTES >> 20),
        }
    }

    /// The final attempt as the loop's result: an answer, or the failure that ended it.
    fn finish(attempt: Attempt) -> Result<Reply, ApiError> {
        match attempt {
            Attempt::Reply(reply) => Ok(reply),
            Attempt::TooLarge(status) => Err(Inner::too_large(status)),
            Attempt::NotSent(detail) | Attempt::MaybeSent(detail) => Err(ApiError::Transport {
                status: None,
                detail,
            }),
        }
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
                reword(self.error_for(&reply, excerpt), |text| {
                    format!("{text}; {note}{hint}")
                })
            }
            Attempt::NotSent(detail) | Attempt::MaybeSent(detail) => ApiError::Transport {
                status: None,
                detail: format!("{detail}; {note}"),
            },
            Attempt::TooLarge(status) => Inner::too_large(status),
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
            &self.redact(),
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
        let excerpt = call.resend == Resend::Safe;
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
                .map(|l| wire::sanitise(l, &[]))
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

    fn decode<T: serde::de::DeserializeOwned>(
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
            &self.redact(),
        )
    }
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
        other => reword(other, |text| format!("token endpoint: {text}")),
    }
}

/// An error and its causes on one line (reqwest's own message alone says little).
fn error_chain(err: &dyn std::error::Error) -> String {
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
    wire::sanitise(&text, &[])
}

fn json_body<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(|e| ApiError::Config(format!("encode the request: {e}")))
}

/// Converts a list of wire items, failing on the first bad one.
fn convert<W, M>(
    items: Vec<W>,
    into: impl Fn(W) -> Result<M, String>,
    status: u16,
) -> Result<Vec<M>, ApiError> {
    items
        .into_iter()
        .map(into)
        .collect::<Result<_, _>>()
        .map_err(unreadable(status))
}

/// The error for an answer whose JSON parsed but holds a value keyplan cannot use.
fn unreadable(status: u16) -> impl Fn(String) -> ApiError {
    move |detail| ApiError::Transport {
        status: Some(status),
        detail,
    }
}

impl AdminApi for HttpAdminApi {
    async fn list_projects(&self) -> Result<Vec<Project>, ApiError> {
        let reply = self.get(&["admin", "projects"]).await?;
        let list: ListWire<ProjectWire> = self.inner.decode(&reply, "a project list")?;
        convert(list.data, ProjectWire::into_model, reply.status)
    }

    async fn describe_project(&self, id: &ProjectId) -> Result<Project, ApiError> {
        let reply = self.get(&["admin", "projects", id.as_str()]).await?;
        let project: ProjectWire = self.inner.decode(&reply, "a project")?;
        project.into_model().map_err(unreadable(reply.status))
    }

    async fn list_keys(&self, project: &ProjectId) -> Result<Vec<LiveKey>, ApiError> {
        // Only a well-formed 200 is a listing (TRAPS.md, trap 4).
        let reply = self
            .get(&["admin", "projects", project.as_str(), "api-keys"])
            .await?;
        let list: ListWire<KeyWire> = self.inner.decode(&reply, "a key list")?;
        let keys = convert(list.data, KeyWire::into_model, reply.status)?;
        if let Some(stray) = keys.iter().find(|k| k.project_id != *project) {
            return Err(ApiError::Transport {
                status: Some(reply.status),
                detail: format!(
                    "the key list of project {project} holds key {} of project {}",
                    stray.id, stray.project_id
                ),
            });
        }
        Ok(keys)
    }

    async fn create_key(&self, project: &ProjectId, key: &NewKey) -> Result<CreatedKey, ApiError> {
        let body = json_body(&CreateBody::new(key))?;
        let reply = self
            .send(
                Method::POST,
                &["admin", "projects", project.as_str(), "api-keys"],
                Some(body),
                Resend::Never,
                &[200, 201],
            )
            .await?;
        // The key exists from here on: an answer that cannot be read loses its secret, so it is
        // "outcome unknown" for the caller to reconcile, and nothing of the body is quoted.
        let unknown = |why: String| ApiError::OutcomeUnknown {
            detail: format!("HTTP {} but {why}", reply.status),
        };
        let created: CreatedWire = wire::decode(
            reply.status,
            &reply.headers,
            &reply.body,
            "a created key",
            false,
            &[],
        )
        .map_err(|e| unknown(format!("the answer could not be read: {e}")))?;
        created.into_model(project).map_err(unknown)
    }

    async fn describe_key(&self, id: &KeyId) -> Result<LiveKey, ApiError> {
        let reply = self.get(&["admin", "api-keys", id.as_str()]).await?;
        let key: KeyWire = self.inner.decode(&reply, "a key")?;
        key.into_model().map_err(unreadable(reply.status))
    }

    async fn update_key(&self, id: &KeyId, update: &KeyUpdate) -> Result<LiveKey, ApiError> {
        let body = json_body(&UpdateBody::new(update))?;
        // A PATCH sets absolute values: sending it twice has the effect of sending it once.
        let reply = self
            .send(
                Method::PATCH,
                &["admin", "api-keys", id.as_str()],
                Some(body),
                Resend::Safe,
                &[200],
            )
            .await?;
        let key: KeyWire = self.inner.decode(&reply, "the updated key")?;
        key.into_model().map_err(unreadable(reply.status))
    }

    async fn delete_key(&self, id: &KeyId) -> Result<bool, ApiError> {
        let reply = self
            .send(
                Method::DELETE,
                &["admin", "api-keys", id.as_str()],
                None,
                Resend::Safe,
                &[200, 202, 204, 404],
            )
            .await?;
        if reply.status != 404 {
            return Ok(true);
        }
        // "Already gone" only on the API's own 404 document: a proxy's or a wrong host's 404
        // page must not read as a successful delete.
        match wire::error_from_body(404, &reply.headers, &reply.body, true, &self.inner.redact()) {
            ApiError::Api { .. } => Ok(false),
            err => Err(err),
        }
    }
}

/// Lists the keys of every project in `projects`, at most `concurrency` requests at a time, so
/// N projects cost about N / concurrency round trips. The first failure ends the listing and is
/// returned, naming the project: a partial listing is never returned (TRAPS.md, trap 4).
pub async fn list_keys_of_projects<A: AdminApi>(
    api: &A,
    projects: &[ProjectId],
    concurrency: usize,
) -> Result<BTreeMap<ProjectId, Vec<LiveKey>>, ApiError> {
    type Listing<'a> =
        Pin<Box<dyn Future<Output = (&'a ProjectId, Result<Vec<LiveKey>, ApiError>)> + Send + 'a>>;
    let unique: BTreeSet<&ProjectId> = projects.iter().collect();
    let mut pending = unique.into_iter();
    let mut in_flight: Vec<Listing<'_>> = Vec::new();
    let mut listed = BTreeMap::new();
    loop {
        while in_flight.len() < concurrency.max(1) {
            let Some(project) = pending.next() else { break };
            in_flight.push(Box::pin(
                async move { (project, api.list_keys(project).await) },
            ));
        }
        if in_flight.is_empty() {
            return Ok(listed);
        }
        // A small `buffer_unordered`: poll the listings in flight, take the first that is done.
        let (project, keys) = std::future::poll_fn(|cx| {
            for i in 0..in_flight.len() {
                if let Poll::Ready(done) = in_flight[i].as_mut().poll(cx) {
                    drop(in_flight.swap_remove(i));
                    return Poll::Ready(done);
                }
            }
            Poll::Pending
        })
        .await;
        let keys = keys.map_err(|err| in_project(err, project))?;
        listed.insert(project.clone(), keys);
    }
}

/// Puts the project into an error's text, so a failure among hundreds says where it happened.
fn in_project(err: ApiError, project: &ProjectId) -> ApiError {
    reword(err, |text| {
        format!("list the keys of project {project}: {text}")
    })
}

/// Rewrites the text of an error the API or the transport gave (the message or the detail),
/// keeping its status, code and request id; other errors pass through unchanged.
fn reword(err: ApiError, text: impl FnOnce(&str) -> String) -> ApiError {
    match err {
        ApiError::Api {
            status,
            code,
            message,
            request_id,
        } => ApiError::Api {
            status,
            code,
            message: text(&message),
            request_id,
        },
        ApiError::Transport { status, detail } => ApiError::Transport {
            status,
            detail: text(&detail),
        },
        other => other,
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn config_defaults_and_env_hosts() {
        let config = ClientConfig::new(Credentials::AccessToken(Secret::new("t")));
        assert_eq!(config.api_host, DEFAULT_API_HOST);
        assert_eq!(config.oauth_url, DEFAULT_OAUTH_URL);
        assert!(!config.allow_insecure_http);
        let config = config.with_hosts_from(|name| match name {
            "PINECONE_CONTROLLER_HOST" => Some("http://127.0.0.1:8787".into()),
            "PINECONE_OAUTH_URL" => Some(String::new()),
            _ => None,
        });
        assert_eq!(config.api_host, "http://127.0.0.1:8787");
        assert_eq!(config.oauth_url, DEFAULT_OAUTH_URL);
    }

    #[test]
    fn construction_refuses_plain_http_and_bad_urls_before_sending() {
        let token = || Credentials::AccessToken(Secret::new("tok"));
        let build = |api: &str, oauth: &str, creds: Credentials, allow: bool| {
            let mut config = ClientConfig::new(creds);
            config.api_host = api.into();
            config.oauth_url = oauth.into();
            config.allow_insecure_http = allow;
            HttpAdminApi::new(config)
        };
        let err = build("http://example.invalid", DEFAULT_OAUTH_URL, token(), false)
            .err()
            .unwrap();
        assert!(err.to_string().contains("--allow-insecure-http"), "{err}");
        assert!(build("http://example.invalid", DEFAULT_OAUTH_URL, token(), true).is_ok());
        // With a token, the OAuth URL is never used, so it is not checked.
        assert!(
            build(
                "https://api.example",
                "http://example.invalid/t",
                token(),
                false
            )
            .is_ok()
        );
        let creds = Credentials::ClientCredentials {
            client_id: "id".into(),
            client_secret: Secret::new("s"),
        };
        let err = build(
            "https://api.example",
            "http://example.invalid/t",
            creds,
            false,
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("--oauth-url"), "{err}");
        for bad in ["api.pinecone.io", "", "https://h/?q=1", "mailto:x@y"] {
            assert!(
                matches!(
                    build(bad, DEFAULT_OAUTH_URL, token(), false),
                    Err(ApiError::Config(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn urls_keep_a_base_path_and_escape_ids() {
        let mut config = ClientConfig::new(Credentials::AccessToken(Secret::new("t")));
        config.api_host = "https://proxy.example/pinecone/".into();
        let api = HttpAdminApi::new(config).unwrap();
        assert_eq!(
            api.url(&["admin", "projects", "a/b?c", "api-keys"])
                .as_str(),
            "https://proxy.example/pinecone/admin/projects/a%2Fb%3Fc/api-keys"
        );
    }

    #[test]
    fn debug_output_holds_no_credentials() {
        let mut config = ClientConfig::new(Credentials::ClientCredentials {
            client_id: "id".into(),
            client_secret: Secret::new("very-secret-value"),
        });
        config.oauth_url = "https://login.example/oauth/token".into();
        let api = HttpAdminApi::new(config.clone()).unwrap();
        for text in [format!("{api:?}"), format!("{config:?}")] {
            assert!(!text.contains("very-secret-value"), "{text}");
        }
    }

    /// An in-memory API whose listings take a while, counting how many run at once.
    struct Slow {
        running: AtomicUsize,
        peak: AtomicUsize,
        fail: Option<ProjectId>,
        seen: Mutex<Vec<ProjectId>>,
    }

    impl Slow {
        fn new(fail: Option<&str>) -> Self {
            Slow {
                running: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
                fail: fail.map(|f| ProjectId(f.into())),
                seen: Mutex::new(Vec::new()),
            }
        }
    }

    impl AdminApi for Slow {
        async fn list_projects(&self) -> Result<Vec<Project>, ApiError> {
            unimplemented!()
        }
        async fn describe_project(&self, _: &ProjectId) -> Result<Project, ApiError> {
            unimplemented!()
        }
        async fn list_keys(&self, project: &ProjectId) -> Result<Vec<LiveKey>, ApiError> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            self.seen.lock().unwrap().push(project.clone());
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            if self.fail.as_ref() == Some(project) {
                return Err(ApiError::Transport {
                    status: Some(200),
                    detail: "truncated".into(),
                });
            }
            Ok(vec![LiveKey {
                id: KeyId(format!("k-{project}")),
                name: "n".into(),
                project_id: project.clone(),
                roles: RoleSet::new(),
                created_at: None,
            }])
        }
        async fn create_key(&self, _: &ProjectId, _: &NewKey) -> Result<CreatedKey, ApiError> {
            unimplemented!()
        }
        async fn describe_key(&self, _: &KeyId) -> Result<LiveKey, ApiError> {
            unimplemented!()
        }
        async fn update_key(&self, _: &KeyId, _: &KeyUpdate) -> Result<LiveKey, ApiError> {
            unimplemented!()
        }
        async fn delete_key(&self, _: &KeyId) -> Result<bool, ApiError> {
            unimplemented!()
        }
    }

    use crate::model::RoleSet;

    fn ids(n: usize) -> Vec<ProjectId> {
        (0..n).map(|i| ProjectId(format!("p{i:03}"))).collect()
    }

    #[tokio::test]
    async fn listing_many_projects_overlaps_up_to_the_bound() {
        let api = Slow::new(None);
        let mut projects = ids(40);
        projects.push(ProjectId("p000".into()));
        let started = std::time::Instant::now();
        let listed = list_keys_of_projects(&api, &projects, 8).await.unwrap();
        let elapsed = started.elapsed();
        assert_eq!(listed.len(), 40);
        assert!(
            listed
                .iter()
                .all(|(p, keys)| keys.len() == 1 && keys[0].project_id == *p)
        );
        assert_eq!(api.peak.load(Ordering::SeqCst), 8);
        assert_eq!(
            api.seen.lock().unwrap().len(),
            40,
            "the duplicate is listed once"
        );
        // 5 rounds of 20 ms; sequentially it would be 800 ms.
        assert!(elapsed < Duration::from_millis(400), "{elapsed:?}");

        let api = Slow::new(None);
        list_keys_of_projects(&api, &ids(3), 0).await.unwrap();
        assert_eq!(
            api.peak.load(Ordering::SeqCst),
            1,
            "zero means one at a time"
        );
        assert!(
            list_keys_of_projects(&api, &[], 4)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn one_failed_listing_fails_the_whole_listing_and_names_the_project() {
        let api = Slow::new(Some("p017"));
        let err = list_keys_of_projects(&api, &ids(40), 8)
            .await
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "unreadable response (HTTP 200): list the keys of project p017: truncated"
        );
    }
}
