//! The middleware around every route: it counts each request, adds the configured latency,
//! applies the fault the [`FaultEngine`](super::faults::FaultEngine) decided (answering in place
//! of the route, mangling its answer, or breaking the connection) and stamps the request id.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::config::{Fault, Route};
use super::conn::{ConnCtl, ConnHandle};
use super::errors::{admin_error, oauth_error};
use super::latency;
use super::shared::Shared;
use crate::lock::lock;

/// Size of a [`Fault::HugeBody`] answer: past the 10 MB any sane client allows.
const HUGE_BODY_BYTES: usize = 11 * 1024 * 1024;

/// A [`Fault::Trickle`] body is padded to this size, so at one byte a second it takes minutes.
const TRICKLE_BODY_BYTES: usize = 1024;

/// Wraps every route: counts, delays, injects the fault, stamps the request id.
pub(crate) async fn fault_layer(
    State(shared): State<Arc<Shared>>,
    req: Request,
    next: Next,
) -> Response {
    let route = Route::classify(req.method().as_str(), req.uri().path());
    let conn = req
        .extensions()
        .get::<ConnectInfo<ConnHandle>>()
        .map(|info| Arc::clone(&info.0.0));
    let version = req
        .headers()
        .get("x-pinecone-api-version")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    {
        let mut counters = lock(&shared.counters);
        counters.total += 1;
        *counters.by_route.entry(route).or_default() += 1;
        match version {
            Some(version) => *counters.by_api_version.entry(version).or_default() += 1,
            None => counters.missing_api_version += 1,
        }
    }
    let (fault, latency) = {
        let mut engine = lock(&shared.faults);
        (engine.decide(route), engine.latency())
    };
    if !latency.is_zero() {
        latency::wait(latency).await;
    }
    let answer = apply(fault, route, req, next, conn.as_deref()).await;
    let mut counters = lock(&shared.counters);
    let Some(mut response) = answer else {
        counters.dropped += 1;
        // Never reaches the client: the connection fails on its next write.
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let status = response.status().as_u16();
    *counters.by_status.entry(status).or_default() += 1;
    *counters.by_route_status.entry((route, status)).or_default() += 1;
    drop(counters);
    if let Ok(id) = HeaderValue::from_str(&shared.next_request_id()) {
        response.headers_mut().insert("x-pinecone-request-id", id);
    }
    response
}

/// Runs the request under `fault`. `None` means the connection was broken: no response.
async fn apply(
    fault: Option<Fault>,
    route: Route,
    req: Request,
    next: Next,
    conn: Option<&ConnCtl>,
) -> Option<Response> {
    let Some(fault) = fault else {
        return Some(next.run(req).await);
    };
    match fault {
        Fault::Status(status) => Some(error_for(route, status)),
        Fault::Throttle { retry_after_secs } => {
            let mut response = if route == Route::Token {
                oauth_error(429, "too_many_requests", "Too many requests")
            } else {
                admin_error(
                    429,
                    "RESOURCE_EXHAUSTED",
                    &format!("Too many requests. Retry after {retry_after_secs} seconds."),
                )
            };
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            Some(response)
        }
        Fault::Drop => break_connection(conn),
        Fault::LoseResponse => {
            let _performed = next.run(req).await;
            break_connection(conn)
        }
        Fault::Html(status) => Some(html_page(status)),
        Fault::Echo(status) | Fault::EchoText(status) => {
            Some(echo(route, status, fault == Fault::Echo(status), req).await)
        }
        Fault::Delay(delay) => {
            tokio::time::sleep(delay).await;
            Some(next.run(req).await)
        }
        Fault::CommitLate(delay) => {
            // Detached: the connection's end drops this future, not the commit.
            let commit = tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                next.run(req).await
            });
            Some(commit.await.unwrap_or_else(|_| error_for(route, 500)))
        }
        Fault::TruncatedJson
        | Fault::EmptyOk
        | Fault::WrongTypes
        | Fault::MissingFields
        | Fault::HugeBody
        | Fault::Trickle
        | Fault::NamelessKey
        | Fault::NextPage => {
            let response = next.run(req).await;
            let (mut parts, body) = response.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            parts.headers.remove(header::CONTENT_LENGTH);
            let (status, body) = mangle(fault, parts.status, &body);
            parts.status = status;
            if fault == Fault::Trickle {
                let Some(conn) = conn else {
                    return Some(error_for(route, 500));
                };
                conn.trickle();
                parts
                    .headers
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            parts.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Some(Response::from_parts(parts, Body::from(body)))
        }
    }
}

fn break_connection(conn: Option<&ConnCtl>) -> Option<Response> {
    match conn {
        Some(conn) => {
            conn.kill();
            None
        }
        // Only a router served without the emulator's listener has no handle; answer
        // something unmistakable instead of silently succeeding.
        None => Some(admin_error(
            503,
            "UNAVAILABLE",
            "connection drop not possible",
        )),
    }
}

/// The error document for an injected status, in the shape of the route's API.
fn error_for(route: Route, status: u16) -> Response {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    if route == Route::Token {
        let error = if status >= 500 {
            "server_error"
        } else {
            "invalid_request"
        };
        return oauth_error(status, error, reason);
    }
    let code = match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        402 => "FAILED_PRECONDITION",
        403 => "FORBIDDEN",
        404 => "NOT_FOUND",
        408 | 504 => "DEADLINE_EXCEEDED",
        409 => "ALREADY_EXISTS",
        429 => "RESOURCE_EXHAUSTED",
        500 => "INTERNAL",
        501 => "UNIMPLEMENTED",
        502 | 503 => "UNAVAILABLE",
        _ => "UNKNOWN",
    };
    let message = if status == 404 {
        "Resource not found".to_owned()
    } else {
        format!("{reason} (injected by the emulator)")
    };
    admin_error(status, code, &message)
}

/// An error that repeats the request: its `Authorization` header and its body, as a JSON error
/// document of the route's API (`json`) or as plain text. Clients must never print it as is.
async fn echo(route: Route, status: u16, json: bool, req: Request) -> Response {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("(none)")
        .to_owned();
    let body = axum::body::to_bytes(req.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let message = format!(
        "Cannot process request with Authorization: {authorization} and body: {}",
        String::from_utf8_lossy(&body)
    );
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    if !json {
        let mut response = (code, message).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        return response;
    }
    if route == Route::Token {
        oauth_error(status, "invalid_request", &message)
    } else {
        admin_error(status, "INVALID_ARGUMENT", &message)
    }
}

/// What a proxy in front of the API answers: an HTML page, not JSON.
fn html_page(status: u16) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let title = format!(
        "{} {}",
        code.as_u16(),
        code.canonical_reason().unwrap_or("Error")
    );
    let page = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    let mut response = (code, page).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// The body (and status) a mangling fault makes of the route's real answer.
fn mangle(fault: Fault, status: StatusCode, body: &[u8]) -> (StatusCode, Bytes) {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    match fault {
        Fault::TruncatedJson => {
            let whole: &[u8] = if body.len() >= 2 {
                body
            } else {
                b"{\"data\":[{\"id\":\""
            };
            (status, Bytes::copy_from_slice(&whole[..whole.len() / 2]))
        }
        Fault::EmptyOk => (StatusCode::OK, Bytes::new()),
        Fault::WrongTypes => {
            let value = json.map_or_else(|| Value::from(42), wrong_types);
            (StatusCode::OK, Bytes::from(value.to_string()))
        }
        Fault::MissingFields => {
            let mut value =
                json.map_or_else(|| Value::Object(serde_json::Map::new()), missing_fields);
            if let Value::Object(map) = &mut value {
                // An empty listing with its fields stripped is still a valid empty listing;
                // remove the list itself so the document really misses a required field.
                if map
                    .get("data")
                    .is_some_and(|d| d.as_array().is_some_and(Vec::is_empty))
                {
                    map.remove("data");
                }
            }
            (StatusCode::OK, Bytes::from(value.to_string()))
        }
        Fault::HugeBody => {
            let mut padded = body.to_vec();
            padded.resize(HUGE_BODY_BYTES.max(body.len() + 1), b' ');
            (StatusCode::OK, Bytes::from(padded))
        }
        Fault::NamelessKey => {
            let mut value = json.unwrap_or(Value::Null);
            let key = match value.get_mut("data").and_then(Value::as_array_mut) {
                Some(items) => items.first_mut(),
                None => Some(&mut value),
            };
            if let Some(Value::Object(key)) = key {
                key.remove("name");
            }
            (status, Bytes::from(value.to_string()))
        }
        Fault::NextPage => {
            let mut value = json.unwrap_or(Value::Null);
            if let Value::Object(map) = &mut value {
                map.insert(
                    "pagination".to_owned(),
                    serde_json::json!({ "next": "eyJza2lwX3Bhc3QiOiIxMDAifQ" }),
                );
            }
            (status, Bytes::from(value.to_string()))
        }
        Fault::Trickle => {
            let mut padded = body.to_vec();
            if padded.len() < TRICKLE_BODY_BYTES {
                padded.resize(TRICKLE_BODY_BYTES, b' ');
            }
            (status, Bytes::from(padded))
        }
        _ => (status, Bytes::copy_from_slice(body)),
    }
}

/// Every field of every object gets a value of the wrong JSON type; lists of objects stay lists
/// so that each item is wrong too.
fn wrong_types(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(name, field)| (name, wrong_type_field(field)))
                .collect(),
        ),
        other => wrong_type_field(other),
    }
}

fn wrong_type_field(value: Value) -> Value {
    match value {
        Value::String(_) => Value::from(42),
        Value::Number(n) => Value::from(n.to_string()),
        Value::Bool(b) => Value::from(b.to_string()),
        Value::Null => Value::from(0),
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_object) => {
            Value::Array(items.into_iter().map(wrong_types).collect())
        }
        Value::Array(_) => Value::from("wrong type"),
        object @ Value::Object(_) => wrong_types(object),
    }
}

/// Removes the fields a client cannot do without, in every object.
fn missing_fields(value: Value) -> Value {
    const REQUIRED: [&str; 5] = ["id", "roles", "value", "access_token", "expires_in"];
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(name, _)| !REQUIRED.contains(&name.as_str()))
                .map(|(name, field)| (name, missing_fields(field)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(missing_fields).collect()),
        other => other,
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn mangled_bodies_are_not_the_real_document() {
        let body = br#"{"data":[{"id":"a","name":"n","roles":["ProjectEditor"]}]}"#;
        let (_, wrong) = mangle(Fault::WrongTypes, StatusCode::OK, body);
        let wrong: Value = serde_json::from_slice(&wrong).unwrap();
        assert_eq!(wrong["data"][0]["id"], Value::from(42));
        assert!(wrong["data"][0]["roles"].is_string());
        let (_, missing) = mangle(Fault::MissingFields, StatusCode::OK, body);
        let missing: Value = serde_json::from_slice(&missing).unwrap();
        assert_eq!(missing["data"][0].get("id"), None);
        let (_, empty) = mangle(Fault::MissingFields, StatusCode::OK, br#"{"data":[]}"#);
        assert_eq!(&empty[..], b"{}");
        let (_, truncated) = mangle(Fault::TruncatedJson, StatusCode::OK, body);
        assert!(serde_json::from_slice::<Value>(&truncated).is_err());
    }
}
