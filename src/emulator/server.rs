//! The HTTP routes: the OAuth token endpoint and the Admin API's project and key endpoints,
//! with the API's validation rules, error shapes and status codes.
//!
//! Response bodies are built here from the store's records; the fault layer (see
//! [`super::layer`]) wraps every route and may delay, replace, mangle or drop what comes out.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::errors::{admin_error, oauth_error};
use super::layer::fault_layer;
use super::shared::Shared;
use super::state::{KeyDoc, KeyRec, Refusal, Store};
use crate::model::{Role, RoleSet, is_uuid, key_name_is_valid};

/// The audience the token endpoint accepts, as production does (the trailing slash matters).
pub(crate) const AUDIENCE: &str = "https://api.pinecone.io/";

/// The router with every route and the fault layer around them.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/oauth/token", post(token))
        .route("/admin/projects", get(list_projects))
        .route("/admin/projects/{project_id}", get(describe_project))
        .route(
            "/admin/projects/{project_id}/api-keys",
            get(list_keys).post(create_key),
        )
        .route(
            "/admin/api-keys/{api_key_id}",
            get(describe_key).patch(update_key).delete(delete_key),
        )
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&shared),
            fault_layer,
        ))
        .with_state(shared)
}

type Answer = Result<Response, Refusal>;

/// Saves the state after a change; a failure is the server's fault (500), the change stays
/// in memory.
fn save(store: &Store) -> Result<(), Refusal> {
    store.save().map_err(|err| Refusal {
        status: 500,
        code: "INTERNAL",
        message: format!("emulator could not save its state: {err}"),
    })
}

fn check_uuid(what: &str, id: &str) -> Result<(), Refusal> {
    if is_uuid(id) {
        Ok(())
    } else {
        Err(Refusal::invalid(format!(
            "{what} must be a UUID, got {id:?}"
        )))
    }
}

#[derive(Debug, Deserialize)]
struct TokenRequest {
    client_id: Option<String>,
    client_secret: Option<String>,
    grant_type: Option<String>,
    audience: Option<String>,
}

/// `POST /oauth/token`: client credentials, JSON or form body.
async fn token(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let parsed: Result<TokenRequest, String> = if is_form {
        axum::Form::<TokenRequest>::from_request(req, &())
            .await
            .map(|form| form.0)
            .map_err(|err| err.body_text())
    } else {
        match Bytes::from_request(req, &()).await {
            Ok(body) => serde_json::from_slice(&body).map_err(|err| err.to_string()),
            Err(err) => Err(err.body_text()),
        }
    };
    let request = match parsed {
        Ok(request) => request,
        Err(detail) => {
            return oauth_error(
                400,
                "invalid_request",
                &format!("Malformed token request: {detail}"),
            );
        }
    };
    match request.grant_type.as_deref() {
        None => {
            return oauth_error(
                400,
                "invalid_request",
                "Missing required parameter: grant_type",
            );
        }
        Some("client_credentials") => {}
        Some(_) => {
            return oauth_error(
                400,
                "unsupported_grant_type",
                "Unsupported grant type: use client_credentials",
            );
        }
    }
    let credentials_match = request.client_id.as_deref() == Some(shared.client_id.as_str())
        && request.client_secret.as_deref() == Some(shared.client_secret.as_str());
    if !credentials_match {
        return oauth_error(401, "access_denied", "Unauthorized");
    }
    match request.audience.as_deref() {
        None => {
            return oauth_error(
                400,
                "invalid_request",
                "Missing required parameter: audience",
            );
        }
        Some(AUDIENCE) => {}
        Some(other) => {
            return oauth_error(
                403,
                "access_denied",
                &format!("Service not enabled within domain: {other}"),
            );
        }
    }
    let access_token = shared.issue_token();
    axum::Json(json!({
        "access_token": access_token,
        "expires_in": shared.token_ttl.as_secs(),
        "token_type": "Bearer",
    }))
    .into_response()
}

async fn list_projects(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Answer {
    shared.authorize(&headers)?;
    let store = shared.store();
    let data: Vec<Value> = store
        .projects()
        .iter()
        .map(super::state::ProjectRec::to_json)
        .collect();
    Ok(axum::Json(json!({ "data": data })).into_response())
}

async fn describe_project(
    State(shared): State<Arc<Shared>>,
    Path(project_id): Path<String>,
    headers: HeaderMap,
) -> Answer {
    shared.authorize(&headers)?;
    check_uuid("project_id", &project_id)?;
    let store = shared.store();
    Ok(axum::Json(store.project(&project_id)?.to_json()).into_response())
}

async fn list_keys(
    State(shared): State<Arc<Shared>>,
    Path(project_id): Path<String>,
    headers: HeaderMap,
) -> Answer {
    shared.authorize(&headers)?;
    check_uuid("project_id", &project_id)?;
    let store = shared.store();
    let data: Vec<KeyDoc<'_>> = store
        .keys_of(&project_id)?
        .iter()
        .map(KeyRec::doc)
        .collect();
    Ok(axum::Json(Listing { data }).into_response())
}

/// A page of `GET /admin/projects/{id}/api-keys`.
#[derive(Serialize)]
struct Listing<'a> {
    data: Vec<KeyDoc<'a>>,
}

async fn create_key(
    State(shared): State<Arc<Shared>>,
    Path(project_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    shared.authorize(&headers)?;
    check_uuid("project_id", &project_id)?;
    let fields = parse_object(&body)?;
    let name = parse_name(fields.get("name"))?
        .ok_or_else(|| Refusal::invalid("name is required (1-80 characters)"))?;
    let mut store = shared.store();
    let roles = parse_roles(fields.get("roles"), &store.extra_roles)?
        .unwrap_or_else(|| RoleSet::from([Role::ProjectEditor]));
    let (key, secret) = store.create_key(&project_id, &name, roles)?;
    save(&store)?;
    drop(store);
    // The one response that carries a secret; it is built here and goes nowhere but the wire.
    Ok(axum::Json(json!({ "key": key.doc(), "value": secret })).into_response())
}

async fn describe_key(
    State(shared): State<Arc<Shared>>,
    Path(key_id): Path<String>,
    headers: HeaderMap,
) -> Answer {
    shared.authorize(&headers)?;
    check_uuid("api_key_id", &key_id)?;
    let store = shared.store();
    Ok(axum::Json(store.key(&key_id)?.doc()).into_response())
}

async fn update_key(
    State(shared): State<Arc<Shared>>,
    Path(key_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    shared.authorize(&headers)?;
    check_uuid("api_key_id", &key_id)?;
    let fields = parse_object(&body)?;
    let name = parse_name(fields.get("name"))?;
    let mut store = shared.store();
    let roles = parse_roles(fields.get("roles"), &store.extra_roles)?;
    let key = store.update_key(&key_id, name, roles)?;
    save(&store)?;
    Ok(axum::Json(key.doc()).into_response())
}

async fn delete_key(
    State(shared): State<Arc<Shared>>,
    Path(key_id): Path<String>,
    headers: HeaderMap,
) -> Answer {
    shared.authorize(&headers)?;
    check_uuid("api_key_id", &key_id)?;
    let mut store = shared.store();
    store.delete_key(&key_id)?;
    save(&store)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn unknown_route() -> Response {
    admin_error(404, "NOT_FOUND", "Route not found")
}

async fn method_not_allowed() -> Response {
    admin_error(405, "UNIMPLEMENTED", "Method not allowed on this route")
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, Refusal> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Refusal::invalid("request body must be a JSON object")),
        Err(err) => Err(Refusal::invalid(format!(
            "request body is not valid JSON: {err}"
        ))),
    }
}

/// `name`: absent or null means "not given"; otherwise a string of 1-80 characters.
fn parse_name(value: Option<&Value>) -> Result<Option<String>, Refusal> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(name)) if key_name_is_valid(name) => Ok(Some(name.clone())),
        Some(Value::String(_)) => Err(Refusal::invalid("name must be 1-80 characters long")),
        Some(_) => Err(Refusal::invalid("name must be a string")),
    }
}

/// `roles`: absent or null means "not given"; otherwise a non-empty array of the six roles (and
/// the configured extra ones).
fn parse_roles(
    value: Option<&Value>,
    extra: &std::collections::BTreeSet<String>,
) -> Result<Option<RoleSet>, Refusal> {
    let items = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(Refusal::invalid("roles must be an array of role names")),
    };
    if items.is_empty() {
        return Err(Refusal::invalid("roles must name at least one role"));
    }
    let mut roles = RoleSet::new();
    for item in items {
        let role = item
            .as_str()
            .and_then(|name| {
                let role = Role::from_name(name);
                (role.is_known() || extra.contains(name)).then_some(role)
            })
            .ok_or_else(|| {
                let names: Vec<&str> = Role::ALL.iter().map(Role::as_str).collect();
                Refusal::invalid(format!(
                    "invalid role {item}; roles must be among {}",
                    names.join(", ")
                ))
            })?;
        roles.insert(role);
    }
    Ok(Some(roles))
}
