//! The API's two error document shapes, Admin API and OAuth, in which both the routes and the
//! injected faults answer.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::state::Refusal;

/// The Admin API's error document: `{"error": {"code", "message"}, "status"}`.
pub(crate) fn admin_error(status: u16, code: &str, message: &str) -> Response {
    let status_code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({ "error": { "code": code, "message": message }, "status": status });
    (status_code, axum::Json(body)).into_response()
}

/// The OAuth error document: `{"error", "error_description"}`.
pub(crate) fn oauth_error(status: u16, error: &str, description: &str) -> Response {
    let status_code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({ "error": error, "error_description": description });
    (status_code, axum::Json(body)).into_response()
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        admin_error(self.status, self.code, &self.message)
    }
}
