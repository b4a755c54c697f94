//! Credentials and access tokens: where they come from, which hosts may receive them, and the
//! cache that renews a service account's token before it expires.
//!
//! The exchange itself (an HTTP call with retries) lives in [`super::client`]; this module
//! decides when one is needed and which token a request carries, so that a burst of concurrent
//! requests triggers one exchange, not one each.

use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use reqwest::Url;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::ApiError;
use crate::model::Secret;

pub(crate) const ENV_ACCESS_TOKEN: &str = "PINECONE_ACCESS_TOKEN";
pub(crate) const ENV_CLIENT_ID: &str = "PINECONE_CLIENT_ID";
pub(crate) const ENV_CLIENT_SECRET: &str = "PINECONE_CLIENT_SECRET";

/// The longest a token is kept before its expiry: renewal happens 5 minutes before, or 10% of
/// the lifetime before for short-lived tokens (as the official Python SDK does).
const RENEW_MARGIN: Duration = Duration::from_secs(300);
/// The lifetime assumed when the token endpoint does not say (the spec's example value).
const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(1800);

/// How keyplan authenticates to the Admin API.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A ready access token, used as is (never renewed).
    AccessToken(Secret),
    /// A service account's client id and secret, exchanged for a token at the OAuth URL.
    ClientCredentials {
        client_id: String,
        client_secret: Secret,
    },
}

/// By hand: the client id is a credential too (see [`Credentials::secrets`]), so `Debug` shows
/// neither part of a service account's login.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::AccessToken(token) => f.debug_tuple("AccessToken").field(token).finish(),
            Credentials::ClientCredentials { client_secret, .. } => f
                .debug_struct("ClientCredentials")
                .field("client_id", &format_args!("[redacted]"))
                .field("client_secret", client_secret)
                .finish(),
        }
    }
}

impl Credentials {
    /// `PINECONE_ACCESS_TOKEN` if set, else `PINECONE_CLIENT_ID` with `PINECONE_CLIENT_SECRET`.
    pub fn from_env() -> Result<Credentials, ApiError> {
        Credentials::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`Credentials::from_env`] over any source of variables (empty values count as unset).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Credentials, ApiError> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        if let Some(token) = var(ENV_ACCESS_TOKEN) {
            return Ok(Credentials::AccessToken(Secret::new(token.trim())));
        }
        match (var(ENV_CLIENT_ID), var(ENV_CLIENT_SECRET)) {
            (Some(client_id), Some(secret)) => Ok(Credentials::ClientCredentials {
                client_id: client_id.trim().to_owned(),
                client_secret: Secret::new(secret.trim()),
            }),
            (Some(_), None) => Err(ApiError::Credentials(format!(
                "{ENV_CLIENT_ID} is set but {ENV_CLIENT_SECRET} is not: set both to a service \
                 account's client id and secret"
            ))),
            (None, Some(_)) => Err(ApiError::Credentials(format!(
                "{ENV_CLIENT_SECRET} is set but {ENV_CLIENT_ID} is not: set both to a service \
                 account's client id and secret"
            ))),
            (None, None) => Err(ApiError::Credentials(format!(
                "find Pinecone credentials: set {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET} (a service \
                 account of the organisation), or {ENV_ACCESS_TOKEN}"
            ))),
        }
    }

    /// Strings that must never appear in output: every part of these credentials. The client
    /// id is included: it is half of a service account's login, and a token endpoint that
    /// echoes its request would show it next to the secret.
    pub(crate) fn secrets(&self) -> Vec<String> {
        match self {
            Credentials::AccessToken(token) => vec![token.expose().to_owned()],
            Credentials::ClientCredentials {
                client_id,
                client_secret,
            } => vec![client_secret.expose().to_owned(), client_id.clone()],
        }
    }

    /// The hint for an error where the API or the token endpoint refused these credentials:
    /// for an access token, why (expired at T, or revoked) and how to get a new one.
    pub(crate) fn hint(&self) -> String {
        match self {
            Credentials::AccessToken(_) => self.refused_token_hint(jiff::Timestamp::now()),
            Credentials::ClientCredentials { .. } => super::access_token::client_credentials_hint(),
        }
    }
}

/// Whether credentials may travel to `url`: always over https, over plain http only to a
/// loopback host (a local emulator), or when the user explicitly allowed it.
///
/// `what` names the setting for the error (e.g. "--api-host"). Schemes other than http and
/// https, and URLs without a host, are refused whatever the override.
pub(crate) fn check_transport(
    url: &Url,
    what: &str,
    allow_insecure_http: bool,
) -> Result<(), ApiError> {
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| {
        ApiError::Config(format!(
            "{what} {url} has no host: use e.g. https://api.pinecone.io"
        ))
    })?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_insecure_http || is_loopback(host) => Ok(()),
        "http" => Err(ApiError::Config(format!(
            "refuse to send credentials over plain http to {host} ({what} {url}): use https, or \
             pass --allow-insecure-http if you accept that the token travels unencrypted"
        ))),
        other => Err(ApiError::Config(format!(
            "{what} {url} uses the unsupported scheme {other:?}: use https://"
        ))),
    }
}

/// Loopback addresses and the name `localhost`, which never leave the machine. `host` is as
/// [`Url::host_str`] gives it: IPv6 addresses in brackets.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.trim_end_matches('.').eq_ignore_ascii_case("localhost"),
    }
}

/// How long before `ttl` runs out a fresh token should be renewed.
pub(crate) fn renew_after(ttl: Duration) -> Duration {
    ttl.saturating_sub((ttl / 10).min(RENEW_MARGIN))
}

/// The lifetime the token endpoint announced, or the default when it did not say.
pub(crate) fn token_ttl(expires_in: Option<u64>) -> Duration {
    expires_in.map_or(DEFAULT_TOKEN_TTL, Duration::from_secs)
}

/// A token and the instant it must be renewed. `generation` tells tokens apart so that a 401
/// on an old token does not throw away a newer one another request just fetched.
#[derive(Debug)]
struct Cached {
    token: Secret,
    renew_at: Instant,
    generation: u64,
}

/// The cached token of a client using client credentials.
#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    slot: Mutex<Option<Cached>>,
    generations: std::sync::atomic::AtomicU64,
}

impl TokenCache {
    /// The current token, fetching a fresh one with `exchange` (which returns the token and
    /// its lifetime) when there is none or it is due for renewal. Concurrent callers wait for
    /// one exchange instead of each running their own.
    pub(crate) async fn get<F, Fut>(&self, exchange: F) -> Result<(Secret, u64), ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(Secret, Duration), ApiError>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(cached) = slot.as_ref().filter(|c| Instant::now() < c.renew_at) {
            return Ok((cached.token.clone(), cached.generation));
        }
        let started = Instant::now();
        let (token, ttl) = exchange().await?;
        let generation = 1 + self
            .generations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Measured from the request, not the answer: the lifetime started at the server.
        *slot = Some(Cached {
            token: token.clone(),
            renew_at: started + renew_after(ttl),
            generation,
        });
        Ok((token, generation))
    }

    /// Drops the token of `generation` after the API refused it (401), unless a newer one has
    /// replaced it already.
    pub(crate) async fn invalidate(&self, generation: u64) {
        let mut slot = self.slot.lock().await;
        if slot.as_ref().is_some_and(|c| c.generation == generation) {
            *slot = None;
        }
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn an_access_token_wins_over_client_credentials() {
        let creds = Credentials::from_lookup(lookup(&[
            (ENV_ACCESS_TOKEN, "tok"),
            (ENV_CLIENT_ID, "id"),
            (ENV_CLIENT_SECRET, "sec"),
        ]))
        .unwrap();
        assert_eq!(creds, Credentials::AccessToken(Secret::new("tok")));
        let creds = Credentials::from_lookup(lookup(&[
            (ENV_ACCESS_TOKEN, " "),
            (ENV_CLIENT_ID, "id"),
            (ENV_CLIENT_SECRET, "sec"),
        ]))
        .unwrap();
        assert_eq!(
            creds,
            Credentials::ClientCredentials {
                client_id: "id".into(),
                client_secret: Secret::new("sec")
            }
        );
        assert!(!format!("{creds:?}").contains("sec\""), "{creds:?}");
    }

    #[test]
    fn missing_credentials_name_the_variables() {
        let none = Credentials::from_lookup(lookup(&[]))
            .err()
            .unwrap()
            .to_string();
        for var in [ENV_ACCESS_TOKEN, ENV_CLIENT_ID, ENV_CLIENT_SECRET] {
            assert!(none.contains(var), "{none}");
        }
        let half = Credentials::from_lookup(lookup(&[(ENV_CLIENT_ID, "id")]))
            .err()
            .unwrap();
        assert!(matches!(half, ApiError::Credentials(_)));
        assert!(
            half.to_string().contains("PINECONE_CLIENT_SECRET is not"),
            "{half}"
        );
        let other_half = Credentials::from_lookup(lookup(&[(ENV_CLIENT_SECRET, "s")]))
            .err()
            .unwrap();
        assert!(
            other_half.to_string().contains("PINECONE_CLIENT_ID is not"),
            "{other_half}"
        );
    }

    #[test]
    fn plain_http_is_for_loopback_only_unless_allowed() {
        let check =
            |url: &str, allow| check_transport(&Url::parse(url).unwrap(), "--api-host", allow);
        for ok in [
            "https://api.pinecone.io",
            "https://example.com:8443/x",
            "http://127.0.0.1:8787",
            "http://127.8.9.10",
            "http://[::1]:80",
            "http://localhost:1",
            "http://LOCALHOST.",
        ] {
            assert!(check(ok, false).is_ok(), "{ok}");
        }
        for refused in [
            "http://example.invalid",
            "http://10.0.0.1:8787",
            "http://[::2]",
            "http://localhost.example.com",
            "http://127.0.0.1.nip.io",
            "http://0.0.0.0:8787",
        ] {
            let err = check(refused, false).err().unwrap();
            assert!(matches!(err, ApiError::Config(_)));
            assert!(err.to_string().contains("--allow-insecure-http"), "{err}");
            assert!(check(refused, true).is_ok(), "{refused}");
        }
        for never in ["ftp://127.0.0.1", "file:///tmp/x", "unix:/run/sock"] {
            assert!(check(never, true).is_err(), "{never}");
        }
    }

    #[test]
    fn tokens_are_renewed_well_before_expiry() {
        assert_eq!(
            renew_after(Duration::from_secs(86_400)),
            Duration::from_secs(86_100)
        );
        assert_eq!(
            renew_after(Duration::from_secs(1800)),
            Duration::from_secs(1620)
        );
        assert_eq!(
            renew_after(Duration::from_secs(2)),
            Duration::from_millis(1800)
        );
        assert_eq!(renew_after(Duration::ZERO), Duration::ZERO);
        assert_eq!(token_ttl(None), DEFAULT_TOKEN_TTL);
        assert_eq!(token_ttl(Some(60)), Duration::from_secs(60));
    }

    #[tokio::test]
    async fn the_cache_exchanges_once_and_again_after_invalidation_or_expiry() {
        let cache = TokenCache::default();
        let exchanges = std::sync::atomic::AtomicU32::new(0);
        let exchange = |ttl: Duration| {
            let exchanges = &exchanges;
            move || async move {
                let n = exchanges.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok((Secret::new(format!("t{n}")), ttl))
            }
        };
        let long = Duration::from_secs(3600);
        let (t, g1) = cache.get(exchange(long)).await.unwrap();
        assert_eq!(t.expose(), "t0");
        let (t, g) = cache.get(exchange(long)).await.unwrap();
        assert_eq!((t.expose(), g), ("t0", g1));
        // A 401 on an older generation leaves the current token alone.
        cache.invalidate(g1 + 5).await;
        assert_eq!(cache.get(exchange(long)).await.unwrap().0.expose(), "t0");
        cache.invalidate(g1).await;
        let (t, g2) = cache.get(exchange(Duration::ZERO)).await.unwrap();
        assert_eq!(t.expose(), "t1");
        assert!(g2 > g1);
        // A zero lifetime is due at once.
        assert_eq!(cache.get(exchange(long)).await.unwrap().0.expose(), "t2");
        // A failed exchange leaves nothing cached and reports its error.
        cache.invalidate(g2 + 1).await;
        let failing = || async { Err::<(Secret, Duration), _>(ApiError::Credentials("no".into())) };
        let cache = TokenCache::default();
        assert!(cache.get(failing).await.is_err());
        assert_eq!(cache.get(exchange(long)).await.unwrap().0.expose(), "t3");
    }
}
