//! The real HTTP client against the real emulator, over HTTP on loopback: every operation, every
//! error path, retries, pacing under a rate limit, token renewal, the create-never-resent rule,
//! malformed answers, and bounded concurrency.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::time::{Duration, Instant};

use keyplan::emulator::{EmulatorConfig, Fault, Faults, RateLimit, Route, RunningEmulator, start};
use keyplan::live::client::{
    ClientConfig, Credentials, HttpAdminApi, RetryPolicy, list_keys_of_projects,
};
use keyplan::live::{AdminApi, ApiError};
use keyplan::model::{KeyId, KeyUpdate, NewKey, ProjectId, Role, RoleSet, Secret};

pub(crate) const CLIENT_ID: &str = "svc-test";
pub(crate) const CLIENT_SECRET: &str = "svc-test-secret-5f1b";

pub(crate) async fn emulator_with(config: EmulatorConfig) -> RunningEmulator {
    let config = EmulatorConfig {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        ..config
    };
    start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

pub(crate) async fn emulator() -> RunningEmulator {
    emulator_with(EmulatorConfig::default()).await
}

/// An emulator with these faults and otherwise the defaults.
async fn emulator_faulty(faults: Faults) -> RunningEmulator {
    emulator_with(EmulatorConfig {
        faults,
        ..EmulatorConfig::default()
    })
    .await
}

/// Adds `n` projects named `p0`, `p1`, ... and returns their ids.
fn add_projects(emu: &RunningEmulator, n: u32) -> Vec<ProjectId> {
    (0..n)
        .map(|i| emu.add_project(&format!("p{i}")).id)
        .collect()
}

/// The faults that mangle an answer's body: every one must be an error, never a value.
const MANGLED_BODIES: [Fault; 6] = [
    Fault::TruncatedJson,
    Fault::EmptyOk,
    Fault::WrongTypes,
    Fault::MissingFields,
    Fault::HugeBody,
    Fault::Trickle,
];

/// Retries fast enough for tests, with the default budgets.
fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(100),
        max_total: Duration::from_secs(30),
        ..RetryPolicy::default()
    }
}

pub(crate) fn config(emu: &RunningEmulator, credentials: Credentials) -> ClientConfig {
    let mut config = ClientConfig::new(credentials);
    config.api_host = emu.base_url();
    config.oauth_url = emu.oauth_url();
    config.retry = quick_retry();
    config.request_timeout = Duration::from_secs(5);
    config
}

pub(crate) fn service_account() -> Credentials {
    Credentials::ClientCredentials {
        client_id: CLIENT_ID.into(),
        client_secret: Secret::new(CLIENT_SECRET),
    }
}

pub(crate) fn client(emu: &RunningEmulator) -> HttpAdminApi {
    HttpAdminApi::new(config(emu, service_account())).unwrap()
}

fn client_with(emu: &RunningEmulator, edit: impl FnOnce(&mut ClientConfig)) -> HttpAdminApi {
    let mut config = config(emu, service_account());
    edit(&mut config);
    HttpAdminApi::new(config).unwrap()
}

pub(crate) fn roles(roles: &[Role]) -> RoleSet {
    roles.iter().cloned().collect()
}

pub(crate) fn new_key(name: &str, r: &[Role]) -> NewKey {
    NewKey {
        name: name.into(),
        roles: roles(r),
    }
}

/// Fails when any secret or token the emulator issued (or the client secret) appears in `text`.
pub(crate) fn assert_no_secrets(emu: &RunningEmulator, text: &str) {
    for secret in emu.issued_secrets().iter().chain(&emu.issued_tokens()) {
        assert!(
            !text.contains(secret.as_str()),
            "a secret leaked into: {text}"
        );
    }
    assert!(
        !text.contains(CLIENT_SECRET),
        "the client secret leaked into: {text}"
    );
}

#[tokio::test]
async fn every_operation_round_trips() {
    let emu = emulator().await;
    let demo = emu.add_project("demo");
    let other = emu.add_project("other");
    let seeded = emu.add_key(&demo.id, "seeded", &[Role::DataPlaneViewer]);
    let api = client(&emu);

    let projects = api.list_projects().await.unwrap();
    assert_eq!(projects, vec![demo.clone(), other.clone()]);
    assert_eq!(api.describe_project(&demo.id).await.unwrap(), demo);
    assert_eq!(api.list_keys(&demo.id).await.unwrap(), vec![seeded.clone()]);
    assert!(api.list_keys(&other.id).await.unwrap().is_empty());

    let created = api
        .create_key(
            &demo.id,
            &new_key("ci", &[Role::DataPlaneEditor, Role::DataPlaneViewer]),
        )
        .await
        .unwrap();
    assert_eq!(created.key.name, "ci");
    assert_eq!(created.key.project_id, demo.id);
    assert_eq!(
        created.key.roles,
        roles(&[Role::DataPlaneEditor, Role::DataPlaneViewer])
    );
    assert!(created.secret.expose().starts_with("pcsk_"));
    assert!(
        emu.issued_secrets()
            .contains(&created.secret.expose().to_owned())
    );
    assert_no_secrets(&emu, &format!("{created:?}"));

    let described = api.describe_key(&created.key.id).await.unwrap();
    assert_eq!(described, created.key);

    let update = KeyUpdate {
        name: Some("ci-2".into()),
        roles: Some(roles(&[Role::ProjectViewer])),
    };
    let updated = api.update_key(&created.key.id, &update).await.unwrap();
    assert_eq!(
        (updated.name.as_str(), &updated.roles),
        ("ci-2", &roles(&[Role::ProjectViewer]))
    );
    let renamed_only = api
        .update_key(
            &created.key.id,
            &KeyUpdate {
                name: Some("ci-3".into()),
                roles: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        renamed_only.roles,
        roles(&[Role::ProjectViewer]),
        "PATCH leaves roles alone"
    );
    assert_eq!(emu.keys(&demo.id)[1].name, "ci-3");

    assert!(api.delete_key(&created.key.id).await.unwrap());
    assert!(
        !api.delete_key(&created.key.id).await.unwrap(),
        "already gone"
    );
    let err = api.describe_key(&created.key.id).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(emu.keys(&demo.id), vec![seeded]);

    let counters = emu.counters();
    assert_eq!(counters.missing_api_version, 0);
    assert_eq!(
        counters.route(Route::Token),
        1,
        "one token for the whole session"
    );
    let stats = api.stats();
    assert_eq!(stats.requests, counters.total);
    assert_eq!(
        (stats.token_requests, stats.retries, stats.throttled),
        (1, 0, 0)
    );
}

#[tokio::test]
async fn an_access_token_is_used_as_is() {
    let emu = emulator().await;
    let project = emu.add_project("demo");
    let api = HttpAdminApi::new(config(
        &emu,
        Credentials::AccessToken(Secret::new(emu.issue_token())),
    ))
    .unwrap();
    assert!(api.list_keys(&project.id).await.unwrap().is_empty());
    assert_eq!(emu.counters().route(Route::Token), 0);
    assert_eq!(api.stats().token_requests, 0);
}

#[tokio::test]
async fn api_errors_are_typed_with_code_message_and_request_id() {
    let emu = emulator().await;
    let project = emu.add_project("demo");
    let api = client(&emu);

    let missing = ProjectId(uuid::Uuid::new_v4().to_string());
    match api.describe_project(&missing).await.unwrap_err() {
        ApiError::Api {
            status,
            code,
            message,
            request_id,
        } => {
            assert_eq!((status, code.as_deref()), (404, Some("NOT_FOUND")));
            assert!(message.contains("not found"), "{message}");
            assert!(request_id.is_some_and(|id| id.starts_with("emu-")));
        }
        other => panic!("{other:?}"),
    }
    assert!(api.list_keys(&missing).await.unwrap_err().is_not_found());
    let unknown_key = KeyId(uuid::Uuid::new_v4().to_string());
    assert!(
        api.describe_key(&unknown_key)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        api.update_key(&unknown_key, &KeyUpdate::default())
            .await
            .unwrap_err()
            .is_not_found()
    );

    let too_long = api
        .create_key(
            &project.id,
            &new_key(&"x".repeat(81), &[Role::ProjectEditor]),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&too_long, ApiError::Api { status: 400, code: Some(c), .. } if c == "INVALID_ARGUMENT"),
        "{too_long:?}"
    );
    let no_roles = api
        .create_key(&project.id, &new_key("empty", &[]))
        .await
        .unwrap_err();
    assert_eq!(no_roles.status(), Some(400), "{no_roles}");

    emu.set_key_quota(Some(1));
    api.create_key(&project.id, &new_key("one", &[Role::ProjectEditor]))
        .await
        .unwrap();
    let full = api
        .create_key(&project.id, &new_key("two", &[Role::ProjectEditor]))
        .await
        .unwrap_err();
    assert!(
        matches!(&full, ApiError::Api { status: 403, code: Some(c), .. } if c == "QUOTA_EXCEEDED"),
        "{full:?}"
    );
    emu.set_key_quota(None);

    emu.set_starter_plan(true);
    let key = emu.keys(&project.id)[0].clone();
    let refused = api
        .update_key(
            &key.id,
            &KeyUpdate {
                name: None,
                roles: Some(roles(&[Role::ProjectViewer])),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(403), "{refused}");
    let stats = api.stats();
    assert_eq!(stats.retries, 0, "4xx answers are final");
}

#[tokio::test]
async fn rejected_credentials_name_the_variables() {
    let emu = emulator().await;
    let wrong = Credentials::ClientCredentials {
        client_id: CLIENT_ID.into(),
        client_secret: Secret::new("not-the-secret"),
    };
    let api = HttpAdminApi::new(config(&emu, wrong)).unwrap();
    let err = api.list_projects().await.unwrap_err();
    assert!(matches!(err, ApiError::Credentials(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("PINECONE_CLIENT_ID") && text.contains("PINECONE_CLIENT_SECRET"),
        "{text}"
    );
    assert!(text.contains("access_denied"), "{text}");
    assert!(!text.contains("not-the-secret"), "{text}");
    assert_eq!(
        emu.counters().route(Route::Token),
        1,
        "a refusal is not retried"
    );
    assert_eq!(emu.counters().route(Route::ListProjects), 0);

    let bad_token = Credentials::AccessToken(Secret::new("emu_forged_token"));
    let api = HttpAdminApi::new(config(&emu, bad_token)).unwrap();
    let err = api.list_projects().await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ApiError::Credentials(_)), "{err:?}");
    assert!(
        text.contains("PINECONE_ACCESS_TOKEN") && text.contains("HTTP 401"),
        "{text}"
    );
    assert!(!text.contains("emu_forged_token"), "{text}");
    assert_eq!(
        emu.counters().route(Route::ListProjects),
        1,
        "a fixed token is not retried"
    );
}

/// A bare socket that answers one request with `status` and `body`, and hands back the request
/// as received (head and body), lowercased: for what the emulator does not show.
async fn one_shot(
    status: &'static str,
    body: &'static str,
) -> (String, tokio::task::JoinHandle<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0_u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map_or(0, |n| n.trim().parse::<usize>().unwrap());
                if request.len() >= end + 4 + length {
                    break;
                }
            }
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed early");
            request.extend_from_slice(&buf[..n]);
        }
        let answer = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(answer.as_bytes()).await.unwrap();
        String::from_utf8(request).unwrap().to_ascii_lowercase()
    });
    (format!("http://{addr}"), server)
}

fn token_client(api_host: String) -> HttpAdminApi {
    let mut config = ClientConfig::new(Credentials::AccessToken(Secret::new("tok-abc")));
    config.api_host = api_host;
    config.retry = RetryPolicy::none();
    HttpAdminApi::new(config).unwrap()
}

#[tokio::test]
async fn every_request_carries_the_version_agent_and_bearer_headers() {
    let (host, server) = one_shot("200 OK", r#"{"data":[]}"#).await;
    assert!(token_client(host).list_projects().await.unwrap().is_empty());
    let head = server.await.unwrap();
    assert!(
        head.starts_with("get /admin/projects http/1.1\r\n"),
        "{head}"
    );
    assert!(
        head.contains("\r\nx-pinecone-api-version: 2026-04\r\n"),
        "{head}"
    );
    let agent = format!("\r\nuser-agent: keyplan/{}\r\n", env!("CARGO_PKG_VERSION"));
    assert!(head.contains(&agent), "{head}");
    assert!(
        head.contains("\r\nauthorization: bearer tok-abc\r\n"),
        "{head}"
    );
}

#[tokio::test]
async fn success_statuses_are_checked_per_operation() {
    let project = "0b9e2f3c-6a3e-4a8e-9d57-3f6f1f2f9c01";
    let created = r#"{"key":{"id":"5c3e1a52-2f7c-4f6b-9a4e-7d1f9f0c2b11","name":"ci","project_id":"0b9e2f3c-6a3e-4a8e-9d57-3f6f1f2f9c01","roles":["DataPlaneViewer"]},"value":"pcsk_abc123_0123456789abcdef"}"#;
    let (host, server) = one_shot("201 Created", created).await;
    let key = token_client(host)
        .create_key(
            &ProjectId(project.into()),
            &new_key("ci", &[Role::DataPlaneViewer]),
        )
        .await
        .unwrap();
    assert_eq!(key.secret.expose(), "pcsk_abc123_0123456789abcdef");
    let request = server.await.unwrap();
    let line = format!("post /admin/projects/{project}/api-keys http/1.1");
    assert!(request.starts_with(&line), "{request}");
    assert!(
        request.contains("\r\ncontent-type: application/json\r\n"),
        "{request}"
    );
    assert!(
        request.ends_with(r#"{"name":"ci","roles":["dataplaneviewer"]}"#),
        "{request}"
    );

    // Redirects are not followed, and an unexpected success status is no listing.
    let (host, server) = one_shot(
        "301 Moved Permanently\r\nlocation: http://elsewhere.example/admin/projects",
        "",
    )
    .await;
    let err = token_client(host).list_projects().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("redirected to \"http://elsewhere.example/admin/projects\""),
        "{err}"
    );
    server.await.unwrap();
    let (host, server) = one_shot("204 No Content", "").await;
    let err = token_client(host)
        .list_keys(&ProjectId(project.into()))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unreadable response (HTTP 204): unexpected HTTP 204 where 200 was expected"
    );
    server.await.unwrap();
    let (host, server) = one_shot("202 Accepted", "").await;
    let err = token_client(host)
        .create_key(
            &ProjectId(project.into()),
            &new_key("ci", &[Role::DataPlaneViewer]),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::OutcomeUnknown { .. }), "{err:?}");
    server.await.unwrap();

    for status in ["200 OK", "204 No Content", "202 Accepted"] {
        let (host, server) = one_shot(status, "").await;
        let api = token_client(host);
        assert!(
            api.delete_key(&KeyId("k".into())).await.unwrap(),
            "{status}"
        );
        let request = server.await.unwrap();
        assert!(
            request.starts_with("delete /admin/api-keys/k http/1.1"),
            "{request}"
        );
    }
}

#[tokio::test]
async fn a_burst_of_429s_and_5xx_is_ridden_out() {
    let emu = emulator().await;
    let project = emu.add_project("demo");
    emu.add_key(&project.id, "k", &[Role::ProjectEditor]);
    let api = client_with(&emu, |c| c.retry.max_attempts = 5);
    emu.push_faults(
        Route::ListKeys,
        [
            Fault::Throttle {
                retry_after_secs: 0,
            },
            Fault::Status(503),
            Fault::Throttle {
                retry_after_secs: 1,
            },
            Fault::Status(502),
            Fault::Throttle {
                retry_after_secs: 0,
            },
            Fault::Drop,
            Fault::Html(504),
            Fault::Throttle {
                retry_after_secs: 0,
            },
        ],
    );
    let started = Instant::now();
    let keys = api.list_keys(&project.id).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    let counters = emu.counters();
    assert_eq!(counters.route(Route::ListKeys), 9);
    assert_eq!(counters.route_status(Route::ListKeys, 429), 4);
    let stats = api.stats();
    assert_eq!((stats.retries, stats.throttled), (8, 4));
}

#[tokio::test]
async fn giving_up_is_a_clear_error() {
    let emu = emulator().await;
    let project = emu.add_project("demo");
    let api = client_with(&emu, |c| c.retry.max_attempts = 3);
    emu.push_faults(Route::ListKeys, [Fault::Status(503); 3]);
    let err = api.list_keys(&project.id).await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert!(
        err.to_string().contains("gave up after 3 attempts"),
        "{err}"
    );
    assert_eq!(emu.counters().route(Route::ListKeys), 3);

    // The throttle budget is separate and says what the user can do.
    let api = client_with(&emu, |c| c.retry.max_throttled_attempts = 4);
    emu.push_faults(
        Route::ListProjects,
        [Fault::Throttle {
            retry_after_secs: 0,
        }; 4],
    );
    let err = api.list_projects().await.unwrap_err();
    let text = err.to_string();
    assert_eq!(err.status(), Some(429));
    assert!(
        text.contains("gave up after 4 attempts") && text.contains("--concurrency"),
        "{text}"
    );
    assert_eq!(emu.counters().route(Route::ListProjects), 4);

    // The total time bound wins over the attempt budget.
    let api = client_with(&emu, |c| {
        c.retry.max_throttled_attempts = 100;
        c.retry.max_total = Duration::from_millis(1500);
    });
    emu.push_faults(
        Route::ListProjects,
        [Fault::Throttle {
            retry_after_secs: 1,
        }; 5],
    );
    let started = Instant::now();
    let err = api.list_projects().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.to_string().contains("gave up after 2 attempts"),
        "{err}"
    );

    // Nobody listening: a connection error, retried, then reported as such.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let mut config = ClientConfig::new(Credentials::AccessToken(Secret::new("t")));
    config.api_host = format!("http://{closed}");
    config.retry = quick_retry();
    let api = HttpAdminApi::new(config).unwrap();
    let err = api.list_projects().await.unwrap_err();
    assert!(
        matches!(err, ApiError::Transport { status: None, .. }),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("no response: "), "{err}");
    assert!(
        err.to_string().contains("gave up after 5 attempts"),
        "{err}"
    );
    assert_eq!(api.stats().requests, 5);
}

#[tokio::test]
async fn the_token_is_renewed_before_it_expires() {
    let emu = emulator_with(EmulatorConfig {
        token_ttl: Duration::from_secs(1),
        ..EmulatorConfig::default()
    })
    .await;
    let api = client(&emu);
    api.list_projects().await.unwrap();
    api.list_projects().await.unwrap();
    assert_eq!(api.stats().token_requests, 1, "cached while fresh");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    api.list_projects().await.unwrap();
    assert_eq!(api.stats().token_requests, 2, "renewed");
    assert_eq!(
        emu.counters().status(401),
        0,
        "renewed before the API refused it"
    );
}

#[tokio::test]
async fn concurrent_requests_share_one_token_exchange() {
    let emu = emulator_faulty(Faults {
        latency: Duration::from_millis(30),
        ..Faults::default()
    })
    .await;
    let projects = add_projects(&emu, 12);
    let api = client(&emu);
    list_keys_of_projects(&api, &projects, 12).await.unwrap();
    assert_eq!(emu.counters().route(Route::Token), 1);
}

#[tokio::test]
async fn a_401_is_retried_once_with_a_fresh_token() {
    let emu = emulator().await;
    let project = emu.add_project("demo");
    let api = client(&emu);
    emu.push_faults(Route::ListKeys, [Fault::Status(401)]);
    assert!(api.list_keys(&project.id).await.unwrap().is_empty());
    assert_eq!(api.stats().token_requests, 2);
    assert_eq!(emu.counters().route(Route::ListKeys), 2);

    // A real revocation: every token the client holds is refused.
    emu.revoke_tokens();
    assert!(api.list_keys(&project.id).await.unwrap().is_empty());
    assert_eq!(api.stats().token_requests, 3);
    assert_eq!(emu.counters().route_status(Route::ListKeys, 401), 2);

    // Even a create: a 401 is refused before anything happens.
    emu.push_faults(Route::CreateKey, [Fault::Status(401)]);
    api.create_key(&project.id, &new_key("after-401", &[Role::ProjectEditor]))
        .await
        .unwrap();
    assert_eq!(emu.keys(&project.id).len(), 1);

    // Only once.
    emu.push_faults(
        Route::ListProjects,
        [Fault::Status(401), Fault::Status(401)],
    );
    let err = api.list_projects().await.unwrap_err();
    assert!(matches!(err, ApiError::Credentials(_)), "{err:?}");
    assert!(err.to_string().contains("PINECONE_CLIENT_ID"), "{err}");
    assert_eq!(emu.counters().route(Route::ListProjects), 2);
    assert_eq!(api.stats().token_requests, 5);
}

#[tokio::test]
async fn credentials_never_travel_over_plain_http_to_other_hosts() {
    let token = || Credentials::AccessToken(Secret::new("tok"));
    let mut refused = ClientConfig::new(token());
    refused.api_host = "http://example.invalid".into();
    let err = HttpAdminApi::new(refused.clone()).unwrap_err();
    assert!(matches!(err, ApiError::Config(_)), "{err:?}");
    assert!(err.to_string().contains("--allow-insecure-http"), "{err}");
    assert!(err.to_string().contains("example.invalid"), "{err}");

    // The OAuth URL receives the client secret, so it is held to the same rule.
    let mut refused = ClientConfig::new(service_account());
    refused.oauth_url = "http://login.example.invalid/oauth/token".into();
    let err = HttpAdminApi::new(refused).unwrap_err();
    assert!(err.to_string().contains("--oauth-url"), "{err}");

    // The override lets it through; the request then fails to connect, as it should.
    let mut allowed = ClientConfig::new(token());
    allowed.api_host = "http://example.invalid".into();
    allowed.allow_insecure_http = true;
    allowed.retry = RetryPolicy::none();
    let err = HttpAdminApi::new(allowed)
        .unwrap()
        .list_projects()
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::Transport { status: None, .. }),
        "{err:?}"
    );

    // Loopback needs no override (every other test here relies on it).
    let emu = emulator().await;
    assert!(HttpAdminApi::new(config(&emu, token())).is_ok());
}

#[tokio::test]
async fn a_create_that_may_have_landed_is_never_resent() {
    let emu = emulator().await;
    let project = emu.add_project("demo");
    let api = client_with(&emu, |c| c.request_timeout = Duration::from_secs(2));
    let creates = |emu: &RunningEmulator| emu.counters().route(Route::CreateKey);

    // Committed, answer lost: reported, not resent, the key exists once.
    emu.push_faults(Route::CreateKey, [Fault::LoseResponse]);
    let err = api
        .create_key(&project.id, &new_key("lost", &[Role::ProjectEditor]))
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::OutcomeUnknown { .. }), "{err:?}");
    assert_eq!(creates(&emu), 1);
    assert_eq!(emu.keys(&project.id).len(), 1);
    assert_no_secrets(&emu, &err.to_string());

    // A 5xx or a dropped connection may follow a commit just as well.
    for fault in [
        Fault::Status(500),
        Fault::Status(503),
        Fault::Html(502),
        Fault::Drop,
    ] {
        let before = creates(&emu);
        emu.push_faults(Route::CreateKey, [fault]);
        let err = api
            .create_key(&project.id, &new_key("maybe", &[Role::ProjectEditor]))
            .await
            .unwrap_err();
        assert!(
            matches!(err, ApiError::OutcomeUnknown { .. }),
            "{fault:?}: {err:?}"
        );
        assert_eq!(creates(&emu), before + 1, "{fault:?} resent");
    }
    // A timeout: the request went out, the answer did not come in time.
    let before = creates(&emu);
    emu.push_faults(Route::CreateKey, [Fault::Delay(Duration::from_secs(3))]);
    let err = api
        .create_key(&project.id, &new_key("slow", &[Role::ProjectEditor]))
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::OutcomeUnknown { .. }), "{err:?}");
    assert_eq!(creates(&emu), before + 1);

    // Refusals that provably did nothing are retried: 429 and 408.
    let keys_before = emu.keys(&project.id).len();
    let before = creates(&emu);
    emu.push_faults(
        Route::CreateKey,
        [
            Fault::Throttle {
                retry_after_secs: 0,
            },
            Fault::Status(408),
        ],
    );
    api.create_key(&project.id, &new_key("throttled", &[Role::ProjectEditor]))
        .await
        .unwrap();
    assert_eq!(creates(&emu), before + 3);
    tokio::time::sleep(Duration::from_millis(3100)).await; // let the delayed create land
    let names: Vec<String> = emu.keys(&project.id).into_iter().map(|k| k.name).collect();
    assert_eq!(
        names.iter().filter(|n| *n == "throttled").count(),
        1,
        "{names:?}"
    );
    assert!(emu.keys(&project.id).len() > keys_before);
}

#[tokio::test]
async fn malformed_answers_are_errors_never_empty_listings() {
    let emu = emulator().await;
    let full = emu.add_project("full");
    let empty = emu.add_project("empty");
    emu.add_key(&full.id, "k1", &[Role::ProjectEditor]);
    let api = client_with(&emu, |c| {
        c.retry = RetryPolicy::none();
        c.request_timeout = Duration::from_secs(2);
    });
    let faults =
        MANGLED_BODIES
            .into_iter()
            .chain([Fault::Html(200), Fault::Html(502), Fault::Html(404)]);
    for project in [&full, &empty] {
        for fault in faults.clone() {
            emu.push_faults(Route::ListKeys, [fault]);
            let err = api
                .list_keys(&project.id)
                .await
                .expect_err(&format!("{fault:?} read as a listing"));
            assert!(
                matches!(err, ApiError::Transport { .. }),
                "{fault:?}: {err:?}"
            );
            let text = err.to_string();
            assert!(text.len() < 600, "{fault:?}: {} bytes", text.len());
            assert!(!text.contains('\n'), "{text}");
        }
        // And the same project reads fine right after.
        api.list_keys(&project.id).await.unwrap();
    }

    // The errors say what happened.
    emu.push_faults(Route::ListKeys, [Fault::Html(502)]);
    let text = api.list_keys(&full.id).await.unwrap_err().to_string();
    assert!(
        text.contains("HTTP 502") && text.contains("text/html") && text.contains("502 Bad Gateway"),
        "{text}"
    );
    emu.push_faults(Route::ListKeys, [Fault::HugeBody]);
    let text = api.list_keys(&full.id).await.unwrap_err().to_string();
    assert!(text.contains("exceeds 8 MiB"), "{text}");
    emu.push_faults(Route::ListKeys, [Fault::Trickle]);
    let text = api.list_keys(&full.id).await.unwrap_err().to_string();
    assert!(text.contains("timed out"), "{text}");
    emu.push_faults(Route::ListKeys, [Fault::EmptyOk]);
    let text = api.list_keys(&full.id).await.unwrap_err().to_string();
    assert!(
        text.contains("HTTP 200") && text.contains("empty body"),
        "{text}"
    );

    // Every other read is as strict.
    let key = emu.keys(&full.id)[0].clone();
    for fault in [
        Fault::TruncatedJson,
        Fault::EmptyOk,
        Fault::WrongTypes,
        Fault::MissingFields,
    ] {
        emu.push_faults(Route::ListProjects, [fault]);
        assert!(api.list_projects().await.is_err(), "{fault:?}");
        emu.push_faults(Route::DescribeProject, [fault]);
        assert!(api.describe_project(&full.id).await.is_err(), "{fault:?}");
        emu.push_faults(Route::DescribeKey, [fault]);
        assert!(api.describe_key(&key.id).await.is_err(), "{fault:?}");
        emu.push_faults(Route::UpdateKey, [fault]);
        let rename = KeyUpdate {
            name: Some("k1".into()),
            roles: None,
        };
        assert!(api.update_key(&key.id, &rename).await.is_err(), "{fault:?}");
    }
    // A 404 page that is not the API's does not read as "already deleted".
    emu.push_faults(Route::DeleteKey, [Fault::Html(404)]);
    let err = api.delete_key(&key.id).await.unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::Transport {
                status: Some(404),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(emu.keys(&full.id).len(), 1);
}

#[tokio::test]
async fn a_mangled_create_answer_is_outcome_unknown_and_quotes_nothing() {
    let emu = emulator().await;
    let project = emu.add_project("demo");
    let api = client_with(&emu, |c| c.request_timeout = Duration::from_secs(2));
    for (i, fault) in MANGLED_BODIES.into_iter().enumerate() {
        emu.push_faults(Route::CreateKey, [fault]);
        let err = api
            .create_key(
                &project.id,
                &new_key(&format!("k{i}"), &[Role::ProjectEditor]),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, ApiError::OutcomeUnknown { .. }),
            "{fault:?}: {err:?}"
        );
        let text = format!("{err} {err:?}");
        assert_no_secrets(&emu, &text);
        assert!(!text.contains("pcsk_"), "{text}");
        assert_eq!(
            emu.keys(&project.id).len(),
            i + 1,
            "{fault:?}: committed once"
        );
    }
    assert_eq!(emu.counters().route(Route::CreateKey), 6, "never resent");
}

#[tokio::test]
async fn many_projects_are_listed_in_about_n_over_c_round_trips() {
    const N: u32 = 16;
    const C: usize = 4;
    let latency = Duration::from_millis(60);
    let emu = emulator_faulty(Faults {
        latency,
        ..Faults::default()
    })
    .await;
    let projects = add_projects(&emu, N);
    for project in &projects {
        emu.add_key(project, "k", &[Role::ProjectEditor]);
    }
    let token = Credentials::AccessToken(Secret::new(emu.issue_token()));

    let api = HttpAdminApi::new(config(&emu, token.clone())).unwrap();
    let started = Instant::now();
    let listed = list_keys_of_projects(&api, &projects, C).await.unwrap();
    let concurrent = started.elapsed();
    assert_eq!(listed.len(), N as usize);
    assert!(listed.values().all(|keys| keys.len() == 1));
    assert_eq!(
        api.stats().requests,
        u64::from(N),
        "one request per project"
    );
    // ceil(N/C) rounds = 4 × 60 ms; sequential would be 16 × 60 ms.
    assert!(concurrent >= latency * 4, "{concurrent:?}");
    assert!(concurrent < latency * N / 2, "{concurrent:?}");

    let api = HttpAdminApi::new(config(&emu, token)).unwrap();
    let started = Instant::now();
    list_keys_of_projects(&api, &projects, 1).await.unwrap();
    let sequential = started.elapsed();
    assert!(sequential >= latency * N, "{sequential:?}");

    // One bad project fails the listing, naming it.
    emu.push_faults(Route::ListKeys, [Fault::TruncatedJson]);
    let api = HttpAdminApi::new(config(
        &emu,
        Credentials::AccessToken(Secret::new(emu.issue_token())),
    ))
    .unwrap();
    let err = list_keys_of_projects(&api, &projects, C).await.unwrap_err();
    assert!(
        err.to_string().contains("list the keys of project"),
        "{err}"
    );
}

#[tokio::test]
async fn a_rate_limited_listing_slows_down_instead_of_failing() {
    let emu = emulator_faulty(Faults {
        rate_limit: Some(RateLimit {
            per_second: 40.0,
            burst: 10,
        }),
        ..Faults::default()
    })
    .await;
    let projects = add_projects(&emu, 100);
    let api = client(&emu);
    let started = Instant::now();
    let listed = list_keys_of_projects(&api, &projects, 16).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(listed.len(), 100);
    let stats = api.stats();
    assert!(stats.throttled > 0, "the limit was hit: {stats:?}");
    // 100 requests at 40/s after a burst of 10 take at least 2.25 s; pacing keeps the waste low.
    assert!(elapsed >= Duration::from_millis(2200), "{elapsed:?}");
    // About 3 s here (the last throttled requests wait out a whole-second Retry-After); holding
    // every request for each Retry-After took 14.5 s.
    assert!(elapsed < Duration::from_secs(6), "{elapsed:?} {stats:?}");
    assert!(
        stats.throttled < 40,
        "pacing should avoid most 429s: {elapsed:?} {stats:?}"
    );
}

#[tokio::test]
async fn creates_under_a_rate_limit_all_land_exactly_once() {
    let emu = emulator_faulty(Faults {
        rate_limit: Some(RateLimit {
            per_second: 50.0,
            burst: 5,
        }),
        ..Faults::default()
    })
    .await;
    let project = emu.add_project("busy");
    let api = client(&emu);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..60 {
        let api = api.clone();
        let project = project.id.clone();
        tasks.spawn(async move {
            api.create_key(
                &project,
                &new_key(&format!("k{i:02}"), &[Role::ProjectEditor]),
            )
            .await
        });
    }
    let mut secrets = std::collections::BTreeSet::new();
    while let Some(created) = tasks.join_next().await {
        secrets.insert(created.unwrap().unwrap().secret.expose().to_owned());
    }
    assert_eq!(secrets.len(), 60);
    let mut names: Vec<String> = emu.keys(&project.id).into_iter().map(|k| k.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 60, "no create lost or doubled");
    assert_eq!(emu.keys(&project.id).len(), 60);
    let stats = api.stats();
    assert!(stats.throttled > 0, "{stats:?}");
    assert_eq!(
        emu.counters().route_status(Route::CreateKey, 200),
        60,
        "{stats:?}"
    );
}

#[tokio::test]
async fn random_faults_on_reads_and_updates_are_ridden_out() {
    let emu = emulator_faulty(Faults {
        seed: 7,
        error_rate: 0.15,
        throttle_rate: 0.05,
        drop_rate: 0.1,
        ..Faults::default()
    })
    .await;
    let projects = add_projects(&emu, 12);
    let keys: Vec<KeyId> = projects
        .iter()
        .map(|p| emu.add_key(p, "k", &[Role::ProjectEditor]).id)
        .collect();
    // Sequential, so the seeded faults hit the same requests on every run.
    let api = client_with(&emu, |c| c.retry.max_attempts = 8);
    let listed = list_keys_of_projects(&api, &projects, 1).await.unwrap();
    assert!(listed.values().all(|keys| keys.len() == 1));
    for key in &keys {
        let update = KeyUpdate {
            name: Some("renamed".into()),
            roles: Some(roles(&[Role::ProjectViewer])),
        };
        let updated = api.update_key(key, &update).await.unwrap();
        assert_eq!(updated.name, "renamed");
        assert!(api.delete_key(key).await.is_ok());
    }
    assert!(projects.iter().all(|p| emu.keys(p).is_empty()));
    let stats = api.stats();
    assert!(stats.retries > 5, "the faults were hit: {stats:?}");
}
