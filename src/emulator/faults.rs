//! Fault injection: which fault a request gets (scripted first, then the rate limit, then the
//! seeded random faults), and the middleware that counts every request, adds the request id,
//! and applies the fault: answering in place of the route, mangling its answer, or breaking
//! the connection.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use super::config::{Fault, Faults, RateLimit, Route};
use super::conn::{ConnCtl, ConnHandle};
use super::server::{Shared, admin_error, lock, oauth_error};

/// Size of a [`Fault::HugeBody`] answer: past the 10 MB any sane client allows.
const HUGE_BODY_BYTES: usize = 11 * 1024 * 1024;

/// A [`Fault::Trickle`] body is padded to this size, so at one byte a second it takes minutes.
const TRICKLE_BODY_BYTES: usize = 1024;

/// Decides the fault of each request.
#[derive(Debug)]
pub(crate) struct FaultEngine {
    faults: Faults,
    rng: StdRng,
    scripted: VecDeque<(Route, Fault)>,
    bucket: Option<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    limit: RateLimit,
    tokens: f64,
    refilled: Instant,
}

impl Bucket {
    fn new(limit: RateLimit) -> Self {
        Bucket {
            limit,
            tokens: f64::from(limit.burst),
            refilled: Instant::now(),
        }
    }

    /// Takes a token, or says how many whole seconds until one is there.
    fn take(&mut self) -> Option<u64> {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        let capacity = f64::from(self.limit.burst.max(1));
        self.tokens = (self.tokens + elapsed * self.limit.per_second).min(capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return None;
        }
        let per_second = self.limit.per_second.max(f64::MIN_POSITIVE);
        let wait = ((1.0 - self.tokens) / per_second).ceil();
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "wait is positive and clamped to an hour"
        )]
        let wait = wait.clamp(1.0, 3600.0) as u64;
        Some(wait)
    }
}

impl FaultEngine {
    pub fn new(faults: Faults) -> Self {
        FaultEngine {
            rng: StdRng::seed_from_u64(faults.seed),
            bucket: faults.rate_limit.map(Bucket::new),
            faults,
            scripted: VecDeque::new(),
        }
    }

    /// Replaces the random faults (re-seeding the RNG, refilling the bucket); scripted faults
    /// still queued stay.
    pub fn set(&mut self, faults: Faults) {
        let scripted = std::mem::take(&mut self.scripted);
        *self = FaultEngine::new(faults);
        self.scripted = scripted;
    }

    pub fn push(&mut self, route: Route, faults: impl IntoIterator<Item = Fault>) {
        self.scripted
            .extend(faults.into_iter().map(|fault| (route, fault)));
    }

    pub fn latency(&self) -> Duration {
        self.faults.latency
    }

    /// The fault for the next request to `route`, if any.
    pub fn decide(&mut self, route: Route) -> Option<Fault> {
        if let Some(at) = self.scripted.iter().position(|(r, _)| r.matches(route)) {
            return self.scripted.remove(at).map(|(_, fault)| fault);
        }
        if !route.is_admin() {
            return None;
        }
        if let Some(wait) = self.bucket.as_mut().and_then(Bucket::take) {
            return Some(Fault::Throttle {
                retry_after_secs: wait,
            });
        }
        // Always the same number of draws per request, so one knob's value does not shift
        // which requests another knob hits.
        let draws: [f64; 5] = std::array::from_fn(|_| self.rng.random::<f64>());
        let f = &self.faults;
        if draws[0] < f.error_rate {
            const STATUSES: [u16; 4] = [500, 502, 503, 504];
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "draw is in [0, 1)"
            )]
            let pick = (draws[4] * 4.0) as usize;
            return Some(Fault::Status(STATUSES[pick.min(3)]));
        }
        if draws[1] < f.throttle_rate {
            return Some(Fault::Throttle {
                retry_after_secs: 1,
            });
        }
        if draws[2] < f.drop_rate {
            return Some(Fault::Drop);
        }
        if route == Route::CreateKey && draws[3] < f.lose_create_response_rate {
            return Some(Fault::LoseResponse);
        }
        None
    }
}

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
    let missing_version = !req.headers().contains_key("x-pinecone-api-version");
    {
        let mut counters = lock(&shared.counters);
        counters.total += 1;
        *counters.by_route.entry(route).or_default() += 1;
        if missing_version {
            counters.missing_api_version += 1;
        }
    }
    let (fault, latency) = {
        let mut engine = lock(&shared.faults);
        (engine.decide(route), engine.latency())
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
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
        Fault::Delay(delay) => {
            tokio::time::sleep(delay).await;
            Some(next.run(req).await)
        }
        Fault::TruncatedJson
        | Fault::EmptyOk
        | Fault::WrongTypes
        | Fault::MissingFields
        | Fault::HugeBody
        | Fault::Trickle => {
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

    fn random(seed: u64) -> Faults {
        Faults {
            seed,
            error_rate: 0.3,
            throttle_rate: 0.2,
            drop_rate: 0.1,
            lose_create_response_rate: 0.5,
            ..Faults::default()
        }
    }

    #[test]
    fn random_faults_are_deterministic_per_seed() {
        let run = |seed| {
            let mut engine = FaultEngine::new(random(seed));
            (0..200)
                .map(|_| engine.decide(Route::CreateKey))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let faults = run(7);
        let clean = faults.iter().filter(|f| f.is_none()).count();
        assert!((20..120).contains(&clean), "{clean} clean of 200");
        assert!(faults.contains(&Some(Fault::LoseResponse)));
        assert!(faults.contains(&Some(Fault::Drop)));
    }

    #[test]
    fn the_token_route_gets_no_random_faults_and_scripted_ones_come_first() {
        let mut engine = FaultEngine::new(Faults {
            error_rate: 1.0,
            ..Faults::default()
        });
        assert_eq!(engine.decide(Route::Token), None);
        engine.push(Route::ListKeys, [Fault::EmptyOk, Fault::Drop]);
        engine.push(Route::Any, [Fault::Html(502)]);
        assert_eq!(engine.decide(Route::Token), Some(Fault::Html(502)));
        assert_eq!(engine.decide(Route::ListKeys), Some(Fault::EmptyOk));
        assert_eq!(engine.decide(Route::ListKeys), Some(Fault::Drop));
        assert!(matches!(
            engine.decide(Route::ListKeys),
            Some(Fault::Status(500..=504))
        ));
    }

    #[test]
    fn the_bucket_throttles_past_its_burst() {
        let mut engine = FaultEngine::new(Faults {
            rate_limit: Some(RateLimit {
                per_second: 0.5,
                burst: 3,
            }),
            ..Faults::default()
        });
        for _ in 0..3 {
            assert_eq!(engine.decide(Route::ListProjects), None);
        }
        assert_eq!(
            engine.decide(Route::ListProjects),
            Some(Fault::Throttle {
                retry_after_secs: 2
            })
        );
    }

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
