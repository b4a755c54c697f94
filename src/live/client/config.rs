//! Where the client connects and how it behaves ([`ClientConfig`]: hosts, credentials,
//! timeouts, retry policy), and the checks and set-up that turn a configuration into an
//! [`HttpAdminApi`] before anything is sent.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderValue};

use super::attempt::error_chain;
use super::transport::{HttpAdminApi, Inner};
use crate::live::ApiError;
use crate::live::auth::{self, Credentials};
use crate::live::retry::RetryPolicy;

/// The Admin API's base URL.
pub const DEFAULT_API_HOST: &str = "https://api.pinecone.io";
/// Where client credentials are exchanged for an access token.
pub const DEFAULT_OAUTH_URL: &str = "https://login.pinecone.io/oauth/token";
/// The default bound on one attempt, from connecting to the last byte of the body.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// An Admin API version keyplan is tested against (`--api-version`). Only these: the key and
/// project endpoints keyplan uses are identical in both, and a version keyplan was never run
/// against could change them silently, so any other value is refused rather than passed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ApiVersion {
    V2025_10,
    V2026_04,
}

impl ApiVersion {
    /// Every accepted version, oldest first.
    pub const ALL: [ApiVersion; 2] = [ApiVersion::V2025_10, ApiVersion::V2026_04];
    /// The default: the newest accepted version.
    pub const LATEST: ApiVersion = ApiVersion::V2026_04;

    /// The header value, e.g. `2026-04`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V2025_10 => "2025-10",
            ApiVersion::V2026_04 => "2026-04",
        }
    }
}

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    /// Sent as `X-Pinecone-Api-Version` on every request (`--api-version`).
    pub api_version: ApiVersion,
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
            api_version: ApiVersion::LATEST,
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

impl HttpAdminApi {
    /// Checks the configuration and builds the client. Nothing is sent yet: credentials that
    /// would travel over plain http to a non-loopback host are refused here, before any request,
    /// and so is a CA bundle named by `SSL_CERT_FILE` that cannot be used.
    pub fn new(config: ClientConfig) -> Result<Self, ApiError> {
        // An expired access token would get a 401 on every request: refused before any.
        config
            .credentials
            .check_not_expired(jiff::Timestamp::now())?;
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
            HeaderValue::from_static(config.api_version.as_str()),
        );
        let mut builder = reqwest::Client::builder();
        // Trusted: the bundled roots, the OS store (both on by default), and `SSL_CERT_FILE`.
        for root in super::tls::roots_from_env()? {
            builder = builder.add_root_certificate(root);
        }
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
            // delayed ACK.
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
            inner: Arc::new(Inner::new(
                http,
                api_base,
                oauth_url,
                config.credentials,
                config.retry,
            )),
        })
    }
}

impl HttpAdminApi {
    /// Refuses an access token that expires within `needed` from now (keyplan cannot renew
    /// one): for a command that must not stop half-way, such as apply.
    pub fn require_token_lifetime(&self, needed: Duration) -> Result<(), ApiError> {
        (self.inner.credentials).check_lifetime(jiff::Timestamp::now(), needed)
    }

    /// A warning when the access token expires within `needed` from now, for commands that
    /// only read.
    pub fn token_lifetime_warning(&self, needed: Duration) -> Option<String> {
        (self.inner.credentials).lifetime_warning(jiff::Timestamp::now(), needed)
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

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::model::Secret;

    #[test]
    fn config_defaults_and_env_hosts() {
        let config = ClientConfig::new(Credentials::AccessToken(Secret::new("t")));
        assert_eq!(config.api_host, DEFAULT_API_HOST);
        assert_eq!(config.oauth_url, DEFAULT_OAUTH_URL);
        assert!(!config.allow_insecure_http);
        assert_eq!(config.api_version.as_str(), "2026-04");
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
            client_id: "svc-client-id-7f3a".into(),
            client_secret: Secret::new("very-secret-value"),
        });
        config.oauth_url = "https://login.example/oauth/token".into();
        let api = HttpAdminApi::new(config.clone()).unwrap();
        for text in [format!("{api:?}"), format!("{config:?}")] {
            assert!(!text.contains("very-secret-value"), "{text}");
            assert!(!text.contains("svc-client-id-7f3a"), "{text}");
        }
    }
}
