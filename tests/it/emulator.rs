//! The emulator over real HTTP on loopback: every route, the auth and validation failures, the
//! organisation modes, each fault kind as a client sees it, the state file and the seed.
#![expect(clippy::unwrap_used, reason = "tests")]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use keyplan::emulator::{
    EmulatorConfig, Fault, Faults, RateLimit, Route, RunningEmulator, Seed, start,
};
use keyplan::model::{Project, ProjectId, Role};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const AUDIENCE: &str = "https://api.pinecone.io/";

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn emulator(config: EmulatorConfig) -> RunningEmulator {
    start(config, any_port()).await.unwrap()
}

/// The common set-up: a default emulator, one project "demo" in it, and a client with a token.
async fn demo() -> (RunningEmulator, Project, Api) {
    demo_with(EmulatorConfig::default()).await
}

/// [`demo`] on an emulator with this configuration.
async fn demo_with(config: EmulatorConfig) -> (RunningEmulator, Project, Api) {
    let emu = emulator(config).await;
    let project = emu.add_project("demo");
    let api = Api::new(&emu).await;
    (emu, project, api)
}

/// A raw HTTP client bound to one emulator and one token.
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

/// What came back, read whole.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "not JSON ({err}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts the Admin API's error shape with this status and code; returns the message.
    fn admin_error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status.as_u16(), status, "{self:?}");
        let doc = self.json();
        assert_eq!(doc["status"], json!(status), "{doc}");
        assert_eq!(doc["error"]["code"], json!(code), "{doc}");
        doc["error"]["message"].as_str().unwrap().to_owned()
    }
}

async fn token_request(http: &reqwest::Client, emu: &RunningEmulator, body: Value) -> Answer {
    let response = http.post(emu.oauth_url()).json(&body).send().await.unwrap();
    read(response).await
}

async fn read(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.unwrap().to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

fn credentials() -> Value {
    json!({
        "client_id": "keyplan-emulator",
        "client_secret": "emulator-secret",
        "grant_type": "client_credentials",
        "audience": AUDIENCE,
    })
}

impl Api {
    async fn new(emu: &RunningEmulator) -> Api {
        let http = reqwest::Client::new();
        let answer = token_request(&http, emu, credentials()).await;
        assert_eq!(answer.status, StatusCode::OK);
        let token = answer.json()["access_token"].as_str().unwrap().to_owned();
        Api {
            http,
            base: emu.base_url(),
            token,
        }
    }

    fn request(&self, method: Method, path: &str, body: Option<Value>) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("X-Pinecone-Api-Version", "2025-10");
        if let Some(body) = body {
            request = request.json(&body);
        }
        request
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        read(self.request(method, path, body).send().await.unwrap()).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    async fn create(&self, project: &ProjectId, body: Value) -> Answer {
        self.call(
            Method::POST,
            &format!("/admin/projects/{project}/api-keys"),
            Some(body),
        )
        .await
    }

    async fn list_keys(&self, project: &ProjectId) -> Vec<Value> {
        let answer = self
            .get(&format!("/admin/projects/{project}/api-keys"))
            .await;
        assert_eq!(answer.status, StatusCode::OK);
        answer.json()["data"].as_array().unwrap().clone()
    }
}

fn is_secret_shaped(value: &str) -> bool {
    let parts: Vec<&str> = value.split('_').collect();
    parts.len() == 3
        && parts[0] == "pcsk"
        && parts[1].len() == 6
        && parts[2].len() >= 60
        && parts[1..]
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_alphanumeric()))
}

fn is_micro_timestamp(value: &Value) -> bool {
    let text = value.as_str().unwrap_or_default();
    text.len() == "2025-10-20T23:40:27.069075Z".len()
        && text.ends_with('Z')
        && text.parse::<jiff::Timestamp>().is_ok()
}

#[tokio::test]
async fn the_token_endpoint_takes_json_and_form_and_refuses_bad_requests() {
    let emu = emulator(EmulatorConfig::default()).await;
    let http = reqwest::Client::new();

    let ok = token_request(&http, &emu, credentials()).await;
    assert_eq!(ok.status, StatusCode::OK);
    let doc = ok.json();
    assert_eq!(doc["token_type"], "Bearer");
    assert_eq!(doc["expires_in"], 1800);
    assert!(ok.headers.contains_key("x-pinecone-request-id"));

    let form = http
        .post(emu.oauth_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("client_id=keyplan-emulator&client_secret=emulator-secret&grant_type=client_credentials&audience=https%3A%2F%2Fapi.pinecone.io%2F")
        .send()
        .await
        .unwrap();
    let form = read(form).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.json()["access_token"].is_string());

    let mut wrong_secret = credentials();
    wrong_secret["client_secret"] = json!("nope");
    let refused = token_request(&http, &emu, wrong_secret).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.json()["error"], "access_denied");
    assert!(refused.json()["error_description"].is_string());

    let mut wrong_audience = credentials();
    wrong_audience["audience"] = json!("https://api.pinecone.io");
    let refused = token_request(&http, &emu, wrong_audience).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.json()["error"], "access_denied");

    let mut no_audience = credentials();
    no_audience.as_object_mut().unwrap().remove("audience");
    let refused = token_request(&http, &emu, no_audience).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.json()["error"], "invalid_request");

    let mut bad_grant = credentials();
    bad_grant["grant_type"] = json!("password");
    let refused = token_request(&http, &emu, bad_grant).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.json()["error"], "unsupported_grant_type");

    let garbage = http
        .post(emu.oauth_url())
        .body("{not json")
        .send()
        .await
        .unwrap();
    let garbage = read(garbage).await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
    assert_eq!(garbage.json()["error"], "invalid_request");
    emu.shutdown().await;
}

#[tokio::test]
async fn admin_routes_need_a_valid_unexpired_bearer_token() {
    let emu = emulator(EmulatorConfig {
        token_ttl: Duration::from_secs(1),
        ..EmulatorConfig::default()
    })
    .await;
    let api = Api::new(&emu).await;
    assert_eq!(api.get("/admin/projects").await.status, StatusCode::OK);

    let none = read(
        api.http
            .get(format!("{}/admin/projects", api.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    none.admin_error(401, "UNAUTHENTICATED");
    assert!(none.headers.contains_key("x-pinecone-request-id"));

    let forged = Api {
        http: api.http.clone(),
        base: api.base.clone(),
        token: "emu_forged".into(),
    };
    forged
        .get("/admin/projects")
        .await
        .admin_error(401, "UNAUTHENTICATED");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let message = api
        .get("/admin/projects")
        .await
        .admin_error(401, "UNAUTHENTICATED");
    assert!(message.contains("expired"), "{message}");
    // A token minted in-process works as PINECONE_ACCESS_TOKEN would.
    let minted = Api {
        token: emu.issue_token(),
        ..forged
    };
    assert_eq!(minted.get("/admin/projects").await.status, StatusCode::OK);
    // A server-side revocation: every token issued so far is refused, new ones work.
    emu.revoke_tokens();
    minted
        .get("/admin/projects")
        .await
        .admin_error(401, "UNAUTHENTICATED");
    let fresh = Api::new(&emu).await;
    assert_eq!(fresh.get("/admin/projects").await.status, StatusCode::OK);
    emu.shutdown().await;
}

#[tokio::test]
#[expect(
    clippy::too_many_lines,
    reason = "one key's whole life, read as one story"
)]
async fn every_route_behaves_like_the_admin_api() {
    let emu = emulator(EmulatorConfig::default()).await;
    let project = emu.add_project("demo");
    let twin = emu.add_project("demo");
    assert_ne!(project.id, twin.id, "project names may repeat");
    let api = Api::new(&emu).await;

    let projects = api.get("/admin/projects").await;
    assert_eq!(projects.status, StatusCode::OK);
    let listed = projects.json()["data"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 2);
    for field in [
        "id",
        "name",
        "max_pods",
        "force_encryption_with_cmek",
        "organization_id",
    ] {
        assert!(
            listed[0].get(field).is_some(),
            "{field} missing: {}",
            listed[0]
        );
    }
    assert!(keyplan::model::is_uuid(listed[0]["id"].as_str().unwrap()));
    assert!(is_micro_timestamp(&listed[0]["created_at"]));

    let described = api.get(&format!("/admin/projects/{}", project.id)).await;
    assert_eq!(described.json()["name"], "demo");
    assert_eq!(described.json()["id"], project.id.as_str());

    // Create: 200, the key and its one-time secret.
    let created = api
        .create(
            &project.id,
            json!({"name": "ci", "roles": ["DataPlaneViewer", "DataPlaneEditor"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK);
    let doc = created.json();
    let secret = doc["value"].as_str().unwrap().to_owned();
    assert!(is_secret_shaped(&secret), "{secret}");
    assert_eq!(emu.issued_secrets(), vec![secret.clone()]);
    let key = doc["key"].clone();
    let key_id = key["id"].as_str().unwrap().to_owned();
    assert!(keyplan::model::is_uuid(&key_id));
    assert_eq!(key["name"], "ci");
    assert_eq!(key["project_id"], project.id.as_str());
    assert_eq!(key["roles"], json!(["DataPlaneEditor", "DataPlaneViewer"]));
    assert!(is_micro_timestamp(&key["created_at"]));

    // Default roles, duplicate names allowed, listing in creation order without secrets.
    let second = api.create(&project.id, json!({"name": "ci"})).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.json()["key"]["roles"], json!(["ProjectEditor"]));
    let list = api
        .get(&format!("/admin/projects/{}/api-keys", project.id))
        .await;
    assert!(!String::from_utf8_lossy(&list.body).contains("pcsk_"));
    let keys = list.json()["data"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["id"], key_id.as_str());
    assert!(keys[0]["created_at"].as_str() < keys[1]["created_at"].as_str());
    assert!(keys.iter().all(|k| k.get("value").is_none()));
    assert_eq!(api.list_keys(&twin.id).await.len(), 0);

    let path = format!("/admin/api-keys/{key_id}");
    let described = api.get(&path).await;
    assert_eq!(described.json(), key);

    // PATCH: omitted fields stay, roles replace the whole set.
    let renamed = api
        .call(Method::PATCH, &path, Some(json!({"name": "ci-2"})))
        .await;
    assert_eq!(renamed.status, StatusCode::OK);
    assert_eq!(renamed.json()["name"], "ci-2");
    assert_eq!(renamed.json()["roles"], key["roles"]);
    let reroled = api
        .call(
            Method::PATCH,
            &path,
            Some(json!({"roles": ["ProjectViewer"]})),
        )
        .await;
    assert_eq!(reroled.json()["name"], "ci-2");
    assert_eq!(reroled.json()["roles"], json!(["ProjectViewer"]));
    let both = api
        .call(
            Method::PATCH,
            &path,
            Some(json!({"name": "ci-3", "roles": ["ControlPlaneViewer", "ProjectEditor"]})),
        )
        .await;
    assert_eq!(both.json()["name"], "ci-3");
    assert_eq!(
        both.json()["roles"],
        json!(["ProjectEditor", "ControlPlaneViewer"])
    );
    assert_eq!(both.json()["created_at"], key["created_at"]);
    let live = emu.keys(&project.id);
    assert_eq!(live[0].name, "ci-3");

    // Delete: 202 with no body; then gone everywhere, and 404s say "not found".
    let deleted = api.call(Method::DELETE, &path, None).await;
    assert_eq!(deleted.status, StatusCode::ACCEPTED);
    assert!(deleted.body.is_empty());
    let message = api.get(&path).await.admin_error(404, "NOT_FOUND");
    assert!(message.contains("not found"), "{message}");
    let again = api.call(Method::DELETE, &path, None).await;
    assert!(again.admin_error(404, "NOT_FOUND").contains("not found"));
    let patch_gone = api
        .call(Method::PATCH, &path, Some(json!({"name": "x"})))
        .await;
    patch_gone.admin_error(404, "NOT_FOUND");
    assert_eq!(api.list_keys(&project.id).await.len(), 1);
    assert_eq!(emu.keys(&project.id).len(), 1);

    let absent = uuid::Uuid::new_v4();
    let message = api
        .get(&format!("/admin/projects/{absent}"))
        .await
        .admin_error(404, "NOT_FOUND");
    assert!(message.contains("not found"), "{message}");
    api.get(&format!("/admin/projects/{absent}/api-keys"))
        .await
        .admin_error(404, "NOT_FOUND");
    api.create(&ProjectId(absent.to_string()), json!({"name": "x"}))
        .await
        .admin_error(404, "NOT_FOUND");
    emu.shutdown().await;
}

#[tokio::test]
async fn invalid_names_roles_ids_and_bodies_answer_400() {
    let (emu, project, api) = demo().await;
    let bad_bodies = [
        json!({}),
        json!({"name": ""}),
        json!({"name": "x".repeat(81)}),
        json!({"name": 7}),
        json!({"name": "ok", "roles": []}),
        json!({"name": "ok", "roles": ["ProjectOwner"]}),
        json!({"name": "ok", "roles": "ProjectEditor"}),
        json!(["not", "an", "object"]),
    ];
    for body in bad_bodies {
        let answer = api.create(&project.id, body.clone()).await;
        answer.admin_error(400, "INVALID_ARGUMENT");
    }
    let eighty = api
        .create(&project.id, json!({"name": "é".repeat(80)}))
        .await;
    assert_eq!(eighty.status, StatusCode::OK, "80 characters are allowed");
    assert_eq!(emu.keys(&project.id).len(), 1);

    let raw = api
        .http
        .post(format!(
            "{}/admin/projects/{}/api-keys",
            api.base, project.id
        ))
        .bearer_auth(&api.token)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    read(raw).await.admin_error(400, "INVALID_ARGUMENT");

    let key = emu.add_key(&project.id, "k", &[Role::ProjectEditor]);
    let path = format!("/admin/api-keys/{}", key.id);
    for body in [
        json!({"name": ""}),
        json!({"roles": []}),
        json!({"roles": ["Nope"]}),
    ] {
        api.call(Method::PATCH, &path, Some(body))
            .await
            .admin_error(400, "INVALID_ARGUMENT");
    }
    api.get("/admin/api-keys/not-a-uuid")
        .await
        .admin_error(400, "INVALID_ARGUMENT");
    api.get("/admin/projects/not-a-uuid")
        .await
        .admin_error(400, "INVALID_ARGUMENT");
    let unknown = api.get("/admin/nowhere").await;
    unknown.admin_error(404, "NOT_FOUND");
    emu.shutdown().await;
}

#[tokio::test]
async fn a_full_quota_answers_403_quota_exceeded() {
    let (emu, project, api) = demo_with(EmulatorConfig {
        key_quota: Some(2),
        ..EmulatorConfig::default()
    })
    .await;
    for name in ["a", "b"] {
        assert_eq!(
            api.create(&project.id, json!({"name": name})).await.status,
            StatusCode::OK
        );
    }
    let full = api.create(&project.id, json!({"name": "c"})).await;
    full.admin_error(403, "QUOTA_EXCEEDED");
    let first = emu.keys(&project.id)[0].id.clone();
    let deleted = api
        .call(Method::DELETE, &format!("/admin/api-keys/{first}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::ACCEPTED);
    assert_eq!(
        api.create(&project.id, json!({"name": "c"})).await.status,
        StatusCode::OK
    );
    emu.set_key_quota(None);
    assert_eq!(
        api.create(&project.id, json!({"name": "d"})).await.status,
        StatusCode::OK
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn the_starter_plan_allows_only_project_editor_and_no_role_changes() {
    let (emu, project, api) = demo_with(EmulatorConfig {
        starter_plan: true,
        ..EmulatorConfig::default()
    })
    .await;
    let refused = api
        .create(
            &project.id,
            json!({"name": "ro", "roles": ["ProjectViewer"]}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Starter")
    );
    let mixed = api
        .create(
            &project.id,
            json!({"name": "ro", "roles": ["ProjectEditor", "ProjectViewer"]}),
        )
        .await;
    assert_eq!(mixed.status, StatusCode::FORBIDDEN);
    let created = api
        .create(
            &project.id,
            json!({"name": "all", "roles": ["ProjectEditor"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK);
    let path = format!(
        "/admin/api-keys/{}",
        created.json()["key"]["id"].as_str().unwrap()
    );
    let change = api
        .call(
            Method::PATCH,
            &path,
            Some(json!({"roles": ["DataPlaneViewer"]})),
        )
        .await;
    assert_eq!(change.status, StatusCode::FORBIDDEN);
    let rename = api
        .call(
            Method::PATCH,
            &path,
            Some(json!({"name": "all-2", "roles": ["ProjectEditor"]})),
        )
        .await;
    assert_eq!(
        rename.status,
        StatusCode::OK,
        "a rename with unchanged roles is allowed"
    );
    assert_eq!(rename.json()["name"], "all-2");
    emu.set_starter_plan(false);
    let change = api
        .call(
            Method::PATCH,
            &path,
            Some(json!({"roles": ["DataPlaneViewer"]})),
        )
        .await;
    assert_eq!(change.status, StatusCode::OK);
    emu.shutdown().await;
}

#[tokio::test]
async fn status_throttle_and_html_faults_answer_without_performing() {
    let (emu, project, api) = demo().await;
    emu.push_faults(
        Route::CreateKey,
        [
            Fault::Status(503),
            Fault::Throttle {
                retry_after_secs: 7,
            },
            Fault::Html(502),
        ],
    );
    let body = json!({"name": "k"});
    let unavailable = api.create(&project.id, body.clone()).await;
    unavailable.admin_error(503, "UNAVAILABLE");
    assert!(unavailable.headers.contains_key("x-pinecone-request-id"));
    let throttled = api.create(&project.id, body.clone()).await;
    throttled.admin_error(429, "RESOURCE_EXHAUSTED");
    assert_eq!(throttled.headers["retry-after"], "7");
    let html = api.create(&project.id, body.clone()).await;
    assert_eq!(html.status, StatusCode::BAD_GATEWAY);
    assert!(
        html.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(String::from_utf8_lossy(&html.body).starts_with("<html>"));
    assert!(
        emu.keys(&project.id).is_empty(),
        "refused before the operation"
    );
    // The queue is empty again.
    assert_eq!(api.create(&project.id, body).await.status, StatusCode::OK);
    assert_eq!(emu.keys(&project.id).len(), 1);

    // The token route speaks OAuth errors under faults too.
    emu.push_faults(Route::Token, [Fault::Status(500)]);
    let token = token_request(&api.http, &emu, credentials()).await;
    assert_eq!(token.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(token.json()["error"], "server_error");
    emu.shutdown().await;
}

#[tokio::test]
async fn drop_breaks_the_connection_and_lose_response_commits_first() {
    let (emu, project, api) = demo().await;
    let path = format!("/admin/projects/{}/api-keys", project.id);

    emu.push_faults(Route::CreateKey, [Fault::Drop]);
    let dropped = api
        .request(Method::POST, &path, Some(json!({"name": "k"})))
        .send()
        .await;
    let err = dropped.expect_err("a dropped connection gives no response");
    assert!(err.status().is_none(), "{err:?}");
    assert!(
        emu.keys(&project.id).is_empty(),
        "Drop does not perform the create"
    );

    emu.push_faults(Route::CreateKey, [Fault::LoseResponse]);
    let lost = api
        .request(Method::POST, &path, Some(json!({"name": "lost"})))
        .send()
        .await;
    assert!(lost.is_err(), "{lost:?}");
    let keys = emu.keys(&project.id);
    assert_eq!(keys.len(), 1, "LoseResponse commits the create");
    assert_eq!(keys[0].name, "lost");
    assert_eq!(emu.issued_secrets().len(), 1);

    let counters = emu.counters();
    assert_eq!(counters.dropped, 2);
    assert_eq!(counters.route(Route::CreateKey), 2);
    assert_eq!(counters.route_status(Route::CreateKey, 200), 0);
    // The client recovers on a fresh connection.
    assert_eq!(api.list_keys(&project.id).await.len(), 1);
    emu.shutdown().await;
}

#[tokio::test]
async fn malformed_body_faults_reach_the_client_as_200s_it_must_refuse() {
    let emu = emulator(EmulatorConfig::default()).await;
    let project = emu.add_project("demo");
    emu.add_key(&project.id, "k", &[Role::DataPlaneViewer]);
    let api = Api::new(&emu).await;
    let path = format!("/admin/projects/{}/api-keys", project.id);
    emu.push_faults(
        Route::ListKeys,
        [
            Fault::TruncatedJson,
            Fault::EmptyOk,
            Fault::WrongTypes,
            Fault::MissingFields,
            Fault::HugeBody,
        ],
    );
    let truncated = api.get(&path).await;
    assert_eq!(truncated.status, StatusCode::OK);
    assert!(!truncated.body.is_empty());
    assert!(serde_json::from_slice::<Value>(&truncated.body).is_err());

    let empty = api.get(&path).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.body.is_empty());

    let wrong = api.get(&path).await.json();
    assert!(wrong["data"][0]["id"].is_number(), "{wrong}");
    assert!(wrong["data"][0]["roles"].is_string(), "{wrong}");

    let missing = api.get(&path).await.json();
    assert!(missing["data"][0].get("id").is_none(), "{missing}");
    assert!(missing["data"][0].get("roles").is_none(), "{missing}");

    let huge = api.get(&path).await;
    assert_eq!(huge.status, StatusCode::OK);
    assert!(huge.body.len() > 10 * 1024 * 1024);

    assert_eq!(api.list_keys(&project.id).await.len(), 1);
    emu.shutdown().await;
}

#[tokio::test]
async fn trickle_sends_headers_then_stalls_the_body() {
    let emu = emulator(EmulatorConfig::default()).await;
    let api = Api::new(&emu).await;
    emu.push_faults(Route::ListProjects, [Fault::Trickle]);
    let started = Instant::now();
    let response = api
        .request(Method::GET, "/admin/projects", None)
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "headers come at once"
    );
    let body = response.bytes().await;
    let err = body.expect_err("the body cannot arrive within the timeout");
    assert!(err.is_timeout(), "{err:?}");
    // Shutdown does not wait minutes for the trickle.
    let stopping = Instant::now();
    emu.shutdown().await;
    assert!(stopping.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn delay_and_latency_slow_answers_down() {
    let emu = emulator(EmulatorConfig::default()).await;
    let api = Api::new(&emu).await;
    emu.push_faults(
        Route::ListProjects,
        [Fault::Delay(Duration::from_millis(300))],
    );
    let started = Instant::now();
    assert_eq!(api.get("/admin/projects").await.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
    emu.set_faults(Faults {
        latency: Duration::from_millis(150),
        ..Faults::default()
    });
    let started = Instant::now();
    assert_eq!(api.get("/admin/projects").await.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(150));
    emu.shutdown().await;
}

#[tokio::test]
async fn scripted_faults_match_their_route_in_order_and_any_matches_all() {
    let (emu, project, api) = demo().await;
    emu.push_faults(Route::ListKeys, [Fault::Status(500), Fault::Status(504)]);
    assert_eq!(
        api.get("/admin/projects").await.status,
        StatusCode::OK,
        "other routes untouched"
    );
    let path = format!("/admin/projects/{}/api-keys", project.id);
    assert_eq!(api.get(&path).await.status.as_u16(), 500);
    assert_eq!(api.get(&path).await.status.as_u16(), 504);
    assert_eq!(api.get(&path).await.status.as_u16(), 200);
    emu.push_faults(Route::Any, [Fault::Status(502)]);
    assert_eq!(api.get("/admin/projects").await.status.as_u16(), 502);
    assert_eq!(api.get("/admin/projects").await.status.as_u16(), 200);
    emu.shutdown().await;
}

async fn statuses(emu: &RunningEmulator, requests: usize) -> Vec<Option<u16>> {
    let api = Api::new(emu).await;
    let mut seen = Vec::new();
    for _ in 0..requests {
        let outcome = api
            .request(Method::GET, "/admin/projects", None)
            .send()
            .await;
        seen.push(outcome.ok().map(|r| r.status().as_u16()));
    }
    seen
}

#[tokio::test]
async fn random_faults_follow_their_rates_and_repeat_per_seed() {
    let faults = Faults {
        seed: 42,
        error_rate: 0.3,
        throttle_rate: 0.2,
        drop_rate: 0.1,
        ..Faults::default()
    };
    let config = || EmulatorConfig {
        faults: faults.clone(),
        ..EmulatorConfig::default()
    };
    let first = emulator(config()).await;
    let second = emulator(config()).await;
    let a = statuses(&first, 60).await;
    let b = statuses(&second, 60).await;
    assert_eq!(a, b, "same seed, same faults");
    assert!(a.contains(&Some(200)));
    assert!(a.contains(&Some(429)));
    assert!(a.contains(&None), "some connections dropped");
    assert!(a.iter().any(|s| matches!(s, Some(500..=504))));
    assert_eq!(
        first.counters().dropped,
        a.iter().filter(|s| s.is_none()).count() as u64
    );

    // Every admin request fails at error_rate 1, the token route never does.
    first.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let all = statuses(&first, 5).await;
    assert!(all.iter().all(|s| matches!(s, Some(500..=504))), "{all:?}");
    first.shutdown().await;
    second.shutdown().await;
}

#[tokio::test]
async fn lost_create_responses_commit_the_key() {
    let (emu, project, api) = demo_with(EmulatorConfig {
        faults: Faults {
            lose_create_response_rate: 1.0,
            ..Faults::default()
        },
        ..EmulatorConfig::default()
    })
    .await;
    for name in ["a", "b"] {
        let sent = api
            .request(
                Method::POST,
                &format!("/admin/projects/{}/api-keys", project.id),
                Some(json!({"name": name})),
            )
            .send()
            .await;
        assert!(sent.is_err());
    }
    assert_eq!(
        api.list_keys(&project.id).await.len(),
        2,
        "only creates are lost"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn the_rate_limit_is_a_token_bucket_answering_429() {
    let emu = emulator(EmulatorConfig {
        faults: Faults {
            rate_limit: Some(RateLimit {
                per_second: 1.0,
                burst: 3,
            }),
            ..Faults::default()
        },
        ..EmulatorConfig::default()
    })
    .await;
    let api = Api::new(&emu).await;
    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(api.get("/admin/projects").await);
    }
    let codes: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
    assert_eq!(codes, [200, 200, 200, 429]);
    answers[3].admin_error(429, "RESOURCE_EXHAUSTED");
    let wait: u64 = answers[3].headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait >= 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        api.get("/admin/projects").await.status,
        StatusCode::OK,
        "refilled"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn counters_count_by_route_and_status() {
    let (emu, project, api) = demo().await;
    api.get("/admin/projects").await;
    api.get("/admin/projects").await;
    api.create(&project.id, json!({"name": ""})).await;
    api.create(&project.id, json!({"name": "ok"})).await;
    let no_version = api
        .http
        .get(format!("{}/admin/projects", api.base))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(no_version.status(), StatusCode::OK);
    let counters = emu.counters();
    assert_eq!(counters.total, 6);
    assert_eq!(counters.route(Route::Token), 1);
    assert_eq!(counters.route(Route::ListProjects), 3);
    assert_eq!(counters.route(Route::CreateKey), 2);
    assert_eq!(counters.route_status(Route::CreateKey, 400), 1);
    assert_eq!(counters.route_status(Route::CreateKey, 200), 1);
    assert_eq!(counters.status(200), 5);
    // The token request and the bare request carry no version header.
    assert_eq!(counters.missing_api_version, 2);
    emu.reset_counters();
    assert_eq!(emu.counters().total, 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn sequential_requests_do_not_wait_for_delayed_acks() {
    // Trap 11: without TCP_NODELAY each keep-alive request waits ~40 ms; 200 would take 8 s.
    let (emu, project, api) = demo().await;
    let path = format!("/admin/projects/{}/api-keys", project.id);
    api.get(&path).await;
    let started = Instant::now();
    for _ in 0..200 {
        assert_eq!(api.get(&path).await.status, StatusCode::OK);
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(3),
        "200 requests took {elapsed:?}"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn the_state_file_survives_a_restart_and_holds_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("sandbox.json");
    let seed =
        Seed::from_json(r#"{"projects":[{"name":"demo","keys":[{"name":"old"}]}]}"#).unwrap();
    let config = |seed: Seed| EmulatorConfig {
        state_file: Some(state.clone()),
        seed: Some(seed),
        ..EmulatorConfig::default()
    };
    let first = emulator(config(seed)).await;
    assert!(state.exists(), "the seeded state is saved at once");
    let project = first.projects()[0].clone();
    let api = Api::new(&first).await;
    let created = api
        .create(
            &project.id,
            json!({"name": "new", "roles": ["DataPlaneEditor"]}),
        )
        .await;
    let secret = created.json()["value"].as_str().unwrap().to_owned();
    let renamed_id = first.keys(&project.id)[0].id.clone();
    api.call(
        Method::PATCH,
        &format!("/admin/api-keys/{renamed_id}"),
        Some(json!({"name": "old-2"})),
    )
    .await;
    let before = first.keys(&project.id);
    first.shutdown().await;

    let text = std::fs::read_to_string(&state).unwrap();
    assert!(!text.contains(&secret), "no secret in the state file");
    assert!(!text.contains("pcsk_"));
    let digest = {
        use sha2::Digest as _;
        format!("{:x}", sha2::Sha256::digest(secret.as_bytes()))
    };
    assert!(text.contains(&digest), "the secret's hash is kept");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left behind");

    // A second run with another seed is refused (the seed would be ignored); with the same
    // seed it carries on from the state file.
    let other = Seed::from_json(r#"{"projects":[{"name":"other"}]}"#).unwrap();
    let refused = keyplan::emulator::start(config(other), "127.0.0.1:0".parse().unwrap())
        .await
        .err()
        .unwrap();
    assert_eq!(refused.kind(), std::io::ErrorKind::AlreadyExists);
    let same =
        Seed::from_json(r#"{"projects":[{"name":"demo","keys":[{"name":"old"}]}]}"#).unwrap();
    let second = emulator(config(same)).await;
    assert_eq!(second.projects(), vec![project.clone()]);
    assert_eq!(second.keys(&project.id), before);
    let api = Api::new(&second).await;
    let listed = api.list_keys(&project.id).await;
    assert_eq!(listed[0]["name"], "old-2");
    assert_eq!(listed[1]["roles"], json!(["DataPlaneEditor"]));
    // A new key still sorts after the restored ones.
    let newer = api
        .create(&project.id, json!({"name": "newer"}))
        .await
        .json();
    assert!(newer["key"]["created_at"].as_str() > listed[1]["created_at"].as_str());
    second.shutdown().await;

    std::fs::write(&state, "{ not json").unwrap();
    let broken = start(config(Seed::default()), any_port()).await;
    let err = broken.expect_err("a corrupt state file is an error, not an empty org");
    assert!(err.to_string().contains("sandbox.json"), "{err}");
}

#[tokio::test]
async fn a_seed_declares_projects_and_keys_with_optional_ids() {
    let dir = tempfile::tempdir().unwrap();
    let seed_path = dir.path().join("seed.toml");
    std::fs::write(
        &seed_path,
        r#"
[[projects]]
name = "demo"
id = "6f1c1d4e-2b1a-4c55-9d6e-1f2a3b4c5d6e"

[[projects.keys]]
name = "ci"
roles = ["DataPlaneViewer", "ControlPlaneViewer"]
id = "0b9e2f3c-6a3e-4a8e-9d57-3f6f1f2f9c01"
created_at = "2025-10-20T23:40:27.069075Z"

[[projects.keys]]
name = "ci"

[[projects]]
name = "demo"
"#,
    )
    .unwrap();
    let seed = Seed::load(&seed_path).unwrap();
    let emu = emulator(EmulatorConfig {
        seed: Some(seed),
        ..EmulatorConfig::default()
    })
    .await;
    let projects = emu.projects();
    assert_eq!(projects.len(), 2);
    assert_eq!(
        projects[0].id.as_str(),
        "6f1c1d4e-2b1a-4c55-9d6e-1f2a3b4c5d6e"
    );
    let api = Api::new(&emu).await;
    let keys = api.list_keys(&projects[0].id).await;
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["id"], "0b9e2f3c-6a3e-4a8e-9d57-3f6f1f2f9c01");
    assert_eq!(keys[0]["created_at"], "2025-10-20T23:40:27.069075Z");
    assert_eq!(
        keys[0]["roles"],
        json!(["ControlPlaneViewer", "DataPlaneViewer"])
    );
    assert_eq!(keys[1]["roles"], json!(["ProjectEditor"]));
    assert_eq!(
        emu.issued_secrets().len(),
        2,
        "pre-existing keys have secrets nobody saw"
    );

    std::fs::write(&seed_path, "[[projects]]\nname = \"x\"\nid = \"p1\"\n").unwrap();
    let err = Seed::load(&seed_path).unwrap_err();
    assert!(err.to_string().contains("not a UUID"), "{err}");
    emu.shutdown().await;
}

#[tokio::test]
async fn debug_output_never_shows_secrets_or_tokens() {
    let (emu, project, api) = demo().await;
    api.create(&project.id, json!({"name": "k"})).await;
    let debug = format!("{emu:?}");
    for secret in emu
        .issued_secrets()
        .iter()
        .chain(emu.issued_tokens().iter())
    {
        assert!(!debug.contains(secret.as_str()), "{debug}");
    }
    assert!(!debug.contains("emulator-secret"));
    emu.shutdown().await;
}

#[tokio::test]
async fn the_command_announces_its_address_and_stops_on_sigterm() {
    use tokio::io::AsyncBufReadExt as _;

    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.json");
    std::fs::write(&seed, r#"{"projects":[{"name":"demo"}]}"#).unwrap();
    let state = dir.path().join("state.json");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyplan"))
        .args([
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--starter-plan",
            "--seed",
        ])
        .arg(&seed)
        .arg("--state")
        .arg(&state)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let base = line
        .strip_prefix("keyplan emulator listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(
        base.starts_with("http://127.0.0.1:") && !base.ends_with(":0"),
        "{base}"
    );

    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{base}/oauth/token"))
        .json(&credentials())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap();
    let projects: Value = http
        .get(format!("{base}/admin/projects"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let project = projects["data"][0]["id"].as_str().unwrap();
    assert_eq!(projects["data"][0]["name"], "demo");
    let refused = http
        .post(format!("{base}/admin/projects/{project}/api-keys"))
        .bearer_auth(token)
        .json(&json!({"name": "ro", "roles": ["ProjectViewer"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        StatusCode::FORBIDDEN,
        "--starter-plan took effect"
    );
    assert!(state.exists(), "--state took effect");

    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_background_emulator_serves_synchronous_tests() {
    use std::io::{Read as _, Write as _};

    let emu =
        keyplan::emulator::start_in_background(EmulatorConfig::default(), any_port()).unwrap();
    emu.add_project("demo");
    let mut stream = std::net::TcpStream::connect(emu.addr()).unwrap();
    stream
        .write_all(b"GET /admin/projects HTTP/1.1\r\nHost: emulator\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("UNAUTHENTICATED"), "{answer}");
    assert_eq!(emu.projects().len(), 1);
    assert_eq!(emu.counters().route_status(Route::ListProjects, 401), 1);
    let addr = emu.addr();
    drop(emu);
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "stopped on drop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_all_land_with_distinct_ids_and_ordered_times() {
    let emu = emulator(EmulatorConfig::default()).await;
    let project = emu.add_project("demo");
    let api = std::sync::Arc::new(Api::new(&emu).await);
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let api = std::sync::Arc::clone(&api);
        let project = project.id.clone();
        tasks.push(tokio::spawn(async move {
            api.create(&project, json!({"name": "same-name"}))
                .await
                .status
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::OK);
    }
    let keys = api.list_keys(&project.id).await;
    assert_eq!(keys.len(), 40);
    let ids: std::collections::BTreeSet<_> =
        keys.iter().map(|k| k["id"].clone().to_string()).collect();
    assert_eq!(ids.len(), 40);
    let times: Vec<&str> = keys
        .iter()
        .map(|k| k["created_at"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    assert_eq!(emu.issued_secrets().len(), 40);
    emu.shutdown().await;
}
