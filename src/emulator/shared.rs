//! The state every route and the fault layer share: the store, the issued access tokens, the
//! fault engine, the request counters and the live connections, each behind its own lock.
//!
//! It sits below both [`super::server`] (the routes) and [`super::layer`] (the middleware
//! around them), so that neither has to import the other.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use rand::distr::{Alphanumeric, SampleString};

use super::config::{Counters, EmulatorConfig};
use super::conn::ConnRegistry;
use super::faults::FaultEngine;
use super::state::{Refusal, Store};
use crate::lock::lock;

/// Everything the routes share. Each part has its own lock, never held across an `.await`.
pub(crate) struct Shared {
    pub client_id: String,
    pub client_secret: String,
    pub token_ttl: Duration,
    pub store: Mutex<Store>,
    /// Access tokens issued, with their expiry.
    pub tokens: Mutex<HashMap<String, Instant>>,
    pub faults: Mutex<FaultEngine>,
    pub counters: Mutex<Counters>,
    pub conns: ConnRegistry,
    next_request: AtomicU64,
}

/// By hand: access tokens and the client secret must never reach a `Debug` output.
impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("client_id", &self.client_id)
            .field("token_ttl", &self.token_ttl)
            .field("store", &self.store)
            .field("faults", &self.faults)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub fn new(config: &EmulatorConfig, store: Store) -> Self {
        Shared {
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            token_ttl: config.token_ttl,
            store: Mutex::new(store),
            tokens: Mutex::new(HashMap::new()),
            faults: Mutex::new(FaultEngine::new(config.faults.clone())),
            counters: Mutex::new(Counters::default()),
            conns: ConnRegistry::default(),
            next_request: AtomicU64::new(1),
        }
    }

    /// A fresh `x-pinecone-request-id`.
    pub fn next_request_id(&self) -> String {
        let n = self.next_request.fetch_add(1, Ordering::Relaxed);
        format!(
            "emu-{n:08}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        )
    }

    /// Issues an access token valid for the configured time.
    pub fn issue_token(&self) -> String {
        let token = format!("emu_{}", Alphanumeric.sample_string(&mut rand::rng(), 48));
        let now = Instant::now();
        let mut tokens = lock(&self.tokens);
        tokens.retain(|_, expiry| *expiry > now);
        tokens.insert(token.clone(), now + self.token_ttl);
        token
    }

    /// Issues an access token shaped like production's, a JWT whose `exp` claim is
    /// `expires_at` (its signature is random: nothing here checks it), accepted until then.
    pub fn issue_jwt(&self, expires_at: jiff::Timestamp) -> String {
        use base64::Engine as _;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let now = jiff::Timestamp::now();
        let claims = serde_json::json!({
            "iss": "keyplan-emulator",
            "sub": "emulator-user",
            "aud": "https://api.pinecone.io/",
            "iat": now.as_second(),
            "exp": expires_at.as_second(),
        });
        let signature = Alphanumeric.sample_string(&mut rand::rng(), 43);
        let token = format!(
            "{}.{}.{}",
            b64(br#"{"alg":"RS256","typ":"JWT"}"#),
            b64(claims.to_string().as_bytes()),
            b64(signature.as_bytes())
        );
        let left =
            u64::try_from(expires_at.as_second().saturating_sub(now.as_second())).unwrap_or(0);
        lock(&self.tokens).insert(token.clone(), Instant::now() + Duration::from_secs(left));
        token
    }

    /// Checks the bearer token of an admin request.
    pub fn authorize(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let unauthenticated = |message: &str| Refusal {
            status: 401,
            code: "UNAUTHENTICATED",
            message: message.to_owned(),
        };
        let value = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                unauthenticated("Missing access token: send Authorization: Bearer <token>.")
            })?;
        let token = value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| {
                unauthenticated("Invalid Authorization header: expected a Bearer token.")
            })?;
        let tokens = lock(&self.tokens);
        match tokens.get(token) {
            Some(expiry) if *expiry > Instant::now() => Ok(()),
            Some(_) => Err(unauthenticated(
                "Access token expired. Request a new token.",
            )),
            None => Err(unauthenticated("Invalid access token.")),
        }
    }

    pub fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }
}
