//! The Admin API's JSON, exactly as it travels, and its strict conversion into model types.
//!
//! Everything here is private to `live`. Decoding is strict where a wrong reading would change
//! what keyplan does (a missing `data`, a key without roles, an empty role name are errors, never
//! an empty list or a guess) and lenient where the specs themselves are (`created_at`,
//! `"name": null`) or where Pinecone may grow: a role keyplan does not know is kept by name
//! ([`Role::Other`]), never a reason to fail a listing. Every text taken from a response for an error message goes through
//! [`sanitise`]: short, one line, and with anything shaped like a secret or token blanked out.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};

use super::ApiError;
use super::redact::{excerpt_of, sanitise, sanitise_message};
use crate::model::{
    CreatedKey, KeyId, KeyUpdate, LiveKey, NewKey, Project, ProjectId, Role, Secret,
};

#[derive(Debug, Deserialize)]
pub(crate) struct ListWire<T> {
    pub data: Vec<T>,
    /// Every other field, looked at only for a pagination marker (see [`ListWire::next_page`]).
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

impl<T> ListWire<T> {
    /// The field that says more items follow on another page, if the answer has one (see
    /// [`super::pagination`]).
    pub(crate) fn next_page(&self) -> Option<String> {
        super::pagination::next_page(&self.rest)
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ProjectWire {
    id: String,
    name: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct KeyWire {
    id: String,
    /// Required by the spec, but production was seen to list keys without it, and the Python
    /// SDK accepts both a missing and a `null` name, so keyplan does too: such a key has an
    /// empty name, which no declared key (1-80 characters) can match.
    #[serde(default)]
    name: Option<String>,
    project_id: String,
    roles: Vec<String>,
    #[serde(default)]
    created_at: Option<String>,
}

/// The create response. Deliberately no `Debug`: it holds the secret as a plain string until
/// [`CreatedWire::into_model`] wraps it.
#[derive(Deserialize)]
pub(crate) struct CreatedWire {
    key: KeyWire,
    value: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct CreateBody<'a> {
    name: &'a str,
    roles: Vec<&'a str>,
}

#[derive(Debug, Serialize)]
pub(crate) struct UpdateBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<Vec<&'a str>>,
}

/// The token request. No `Debug`: it carries the client secret.
#[derive(Serialize)]
pub(crate) struct TokenRequest<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub grant_type: &'static str,
    pub audience: &'static str,
}

/// The token response. No `Debug`: it carries the token.
#[derive(Deserialize)]
pub(crate) struct TokenWire {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub token_type: Option<String>,
}

/// Every role by its name, unknown ones (allowed by the manifest) as declared.
fn roles_wire(roles: &crate::model::RoleSet) -> Vec<&str> {
    roles.iter().map(Role::as_str).collect()
}

impl<'a> CreateBody<'a> {
    pub(crate) fn new(key: &'a NewKey) -> Self {
        CreateBody {
            name: &key.name,
            roles: roles_wire(&key.roles),
        }
    }
}

impl<'a> UpdateBody<'a> {
    pub(crate) fn new(update: &'a KeyUpdate) -> Self {
        UpdateBody {
            name: update.name.as_deref(),
            roles: update.roles.as_ref().map(roles_wire),
        }
    }
}

impl ProjectWire {
    pub(crate) fn into_model(self) -> Result<Project, String> {
        if self.id.trim().is_empty() {
            return Err("a project has an empty id".to_owned());
        }
        Ok(Project {
            id: ProjectId(self.id),
            name: self.name,
        })
    }
}

impl KeyWire {
    pub(crate) fn into_model(self) -> Result<LiveKey, String> {
        if self.id.trim().is_empty() {
            return Err("a key has an empty id".to_owned());
        }
        if self.project_id.trim().is_empty() {
            return Err(format!(
                "key {} has an empty project id",
                sanitise(&self.id, &[])
            ));
        }
        let mut roles = BTreeSet::new();
        for role in &self.roles {
            if role.trim().is_empty() {
                return Err(format!("key {} has an empty role", sanitise(&self.id, &[])));
            }
            roles.insert(Role::from_name(role));
        }
        // Informational only: an unreadable timestamp is dropped, never a reason to fail a plan.
        let created_at = self
            .created_at
            .and_then(|t| t.parse::<jiff::Timestamp>().ok());
        Ok(LiveKey {
            id: KeyId(self.id),
            name: self.name.unwrap_or_default(),
            project_id: ProjectId(self.project_id),
            roles,
            created_at,
        })
    }
}

impl CreatedWire {
    /// Checks and converts a create response. The error never repeats anything from the body.
    pub(crate) fn into_model(self, project: &ProjectId) -> Result<CreatedKey, String> {
        let value = Secret::new(self.value);
        if value.expose().trim().is_empty() {
            return Err("the response holds no secret value".to_owned());
        }
        let key = self.key.into_model()?;
        if key.project_id != *project {
            return Err(format!(
                "the key was reported in project {} instead of {project}",
                sanitise(key.project_id.as_str(), &[])
            ));
        }
        Ok(CreatedKey { key, secret: value })
    }
}

/// The request id the API (or a proxy in front of it) gave the exchange, if any.
pub(crate) fn request_id(headers: &HeaderMap) -> Option<String> {
    ["x-pinecone-request-id", "x-request-id"]
        .iter()
        .find_map(|name| headers.get(*name)?.to_str().ok())
        .map(|id| sanitise(id, &[]))
        .filter(|id| !id.is_empty())
}

/// Reads a non-success answer as a typed error.
///
/// A Pinecone error document (`{"error": {"code", "message"}, "status"}`), an OAuth error
/// (`{"error": "access_denied", "error_description"}`) or a bare `{"message"}` becomes
/// [`ApiError::Api`]; anything else (a proxy's HTML page, an empty or truncated body) becomes
/// [`ApiError::Transport`] with the status and, when `excerpt` allows, a sanitised excerpt.
pub(crate) fn error_from_body(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    excerpt: bool,
    redact: &[&str],
) -> ApiError {
    let request_id = request_id(headers);
    if let Some((code, message)) = error_document(body) {
        let message = match message {
            Some(m) if !m.trim().is_empty() => sanitise_message(&m, redact),
            _ => format!("the API answered HTTP {status}"),
        };
        return ApiError::Api {
            status,
            code: code.map(|c| sanitise(&c, redact)).filter(|c| !c.is_empty()),
            message,
            request_id,
        };
    }
    let mut detail = format!(
        "expected a JSON error document, got {}",
        describe_body(headers, body)
    );
    if excerpt && !body.is_empty() {
        let _ = write!(detail, ": {:?}", excerpt_of(body, redact));
    }
    if let Some(id) = request_id {
        let _ = write!(detail, " (request id {id})");
    }
    ApiError::Transport {
        status: Some(status),
        detail,
    }
}

/// The code and message of a JSON error document, if the body is one.
fn error_document(body: &[u8]) -> Option<(Option<String>, Option<String>)> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let object = value.as_object()?;
    let text =
        |v: Option<&serde_json::Value>| v.and_then(serde_json::Value::as_str).map(str::to_owned);
    match object.get("error") {
        Some(serde_json::Value::Object(error)) => {
            Some((text(error.get("code")), text(error.get("message"))))
        }
        Some(serde_json::Value::String(code)) => {
            Some((Some(code.clone()), text(object.get("error_description"))))
        }
        _ => object
            .get("message")
            .and_then(serde_json::Value::as_str)
            .map(|m| (None, Some(m.to_owned()))),
    }
}

/// A few words on what a body is, for an error: its type and size.
pub(crate) fn describe_body(headers: &HeaderMap, body: &[u8]) -> String {
    if body.is_empty() {
        return "an empty body".to_owned();
    }
    let kind = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| sanitise(v.split(';').next().unwrap_or(v), &[]))
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "untyped content".to_owned());
    format!("{} bytes of {}", body.len(), kind)
}

/// Decodes a success body. The error names the status, what was expected and why it failed,
/// and, when `excerpt` allows, quotes the start of the body.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    what: &str,
    excerpt: bool,
    redact: &[&str],
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::Transport {
            status: Some(status),
            detail: format!("expected {what}, got an empty body"),
        });
    }
    serde_json::from_slice(body).map_err(|e| {
        let mut detail = format!("expected {what}, got {}", describe_body(headers, body));
        if excerpt {
            // serde's message quotes offending values, so it is only shown where the body
            // could be quoted too.
            let _ = write!(
                detail,
                " ({}): {:?}",
                sanitise(&e.to_string(), redact),
                excerpt_of(body, redact)
            );
        } else {
            let _ = write!(
                detail,
                " ({:?} at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            );
        }
        if let Some(id) = request_id(headers) {
            let _ = write!(detail, " (request id {id})");
        }
        ApiError::Transport {
            status: Some(status),
            detail,
        }
    })
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn a_pinecone_error_document_becomes_a_typed_error() {
        let body = br#"{"error":{"code":"NOT_FOUND","message":"API key not found"},"status":404}"#;
        let err = error_from_body(
            404,
            &headers(&[("x-pinecone-request-id", "req-1")]),
            body,
            true,
            &[],
        );
        match &err {
            ApiError::Api {
                status,
                code,
                message,
                request_id,
            } => {
                assert_eq!(*status, 404);
                assert_eq!(code.as_deref(), Some("NOT_FOUND"));
                assert_eq!(message, "API key not found");
                assert_eq!(request_id.as_deref(), Some("req-1"));
            }
            other => panic!("{other:?}"),
        }
        assert!(err.is_not_found());
        assert_eq!(
            err.to_string(),
            "API key not found (HTTP 404, NOT_FOUND, request id req-1)"
        );
    }

    #[test]
    fn oauth_and_bare_message_errors_are_read_too() {
        let oauth = br#"{"error":"access_denied","error_description":"Unauthorized"}"#;
        let err = error_from_body(401, &headers(&[("x-request-id", "r2")]), oauth, true, &[]);
        assert_eq!(
            err.to_string(),
            "Unauthorized (HTTP 401, access_denied, request id r2)"
        );
        let bare = br#"{"message":"Too many requests"}"#;
        assert_eq!(
            error_from_body(429, &HeaderMap::new(), bare, true, &[]).to_string(),
            "Too many requests (HTTP 429)"
        );
        let no_message = br#"{"error":{"code":"INTERNAL"}}"#;
        assert_eq!(
            error_from_body(500, &HeaderMap::new(), no_message, true, &[]).to_string(),
            "the API answered HTTP 500 (HTTP 500, INTERNAL)"
        );
    }

    #[test]
    fn an_html_page_is_a_transport_error_with_a_short_excerpt() {
        let mut page = b"<html>\n<head><title>502 Bad Gateway</title></head>\n<body>".to_vec();
        page.extend(std::iter::repeat_n(b'x', 100_000));
        let err = error_from_body(
            502,
            &headers(&[("content-type", "text/html; charset=utf-8")]),
            &page,
            true,
            &[],
        );
        let text = err.to_string();
        assert_eq!(err.status(), Some(502));
        assert!(matches!(err, ApiError::Transport { .. }));
        assert!(text.starts_with("unreadable response (HTTP 502): expected a JSON error document, got 100057 bytes of text/html: \"<html> <head><title>502 Bad Gateway</title></head>"), "{text}");
        assert!(text.len() < 400, "{}", text.len());
        assert!(!text.contains('\n'));
    }

    #[test]
    fn create_errors_never_quote_the_body() {
        let body = b"<html>pcsk_abcdef_0123456789 internal</html>";
        let err = error_from_body(400, &HeaderMap::new(), body, false, &[]);
        assert_eq!(
            err.to_string(),
            "unreadable response (HTTP 400): expected a JSON error document, got 44 bytes of untyped content"
        );
        let truncated = br#"{"key":{"id":"k","name":"n","project_id":"p","roles":[]},"value":"pcsk_abc_SECRETSECRET"#;
        let err = decode::<CreatedWire>(
            200,
            &HeaderMap::new(),
            truncated,
            "a created key",
            false,
            &[],
        )
        .err()
        .unwrap();
        let text = err.to_string();
        assert!(!text.contains("SECRET"), "{text}");
        assert!(text.contains("Eof at line 1"), "{text}");
    }

    #[test]
    fn empty_truncated_and_mistyped_bodies_are_errors_not_empty_lists() {
        let h = headers(&[("content-type", "application/json")]);
        let decode_list =
            |body: &[u8]| decode::<ListWire<KeyWire>>(200, &h, body, "a key list", true, &[]);
        for body in [
            &b""[..],
            b"  \n",
            b"{\"data\": [",
            b"{}",
            b"{\"data\": null}",
            b"{\"data\": {}}",
            b"[]",
            b"<html></html>",
        ] {
            let err = decode_list(body).err().unwrap();
            assert!(
                matches!(
                    err,
                    ApiError::Transport {
                        status: Some(200),
                        ..
                    }
                ),
                "{err:?}"
            );
        }
        assert!(decode_list(b"{\"data\": []}").unwrap().data.is_empty());
        let text = decode_list(b"{\"data\": [").err().unwrap().to_string();
        assert!(
            text.contains(
                "expected a key list, got 10 bytes of application/json (EOF while parsing"
            ),
            "{text}"
        );
    }

    #[test]
    fn keys_are_read_strictly_where_it_matters() {
        let key = |json: &str| {
            serde_json::from_str::<KeyWire>(json)
                .map_err(|e| e.to_string())
                .and_then(KeyWire::into_model)
        };
        let ok = key(r#"{"id":"k1","name":"ci","project_id":"p1","roles":["DataPlaneViewer","ProjectEditor"],"created_at":"2025-10-20T23:40:27.069075Z"}"#).unwrap();
        assert_eq!(ok.name, "ci");
        assert_eq!(
            ok.roles,
            [Role::ProjectEditor, Role::DataPlaneViewer].into()
        );
        assert!(ok.created_at.is_some());
        // Tolerated: a null or missing name, no or an odd created_at, unknown extra fields.
        let lenient = key(r#"{"id":"k1","name":null,"project_id":"p1","roles":[],"created_at":"yesterday","extra":1}"#).unwrap();
        assert_eq!((lenient.name.as_str(), lenient.created_at), ("", None));
        let nameless = key(r#"{"id":"k1","project_id":"p1","roles":[]}"#).unwrap();
        assert_eq!(nameless.name, "");
        // A role Pinecone added after this release is kept by its name, not refused.
        let newer =
            key(r#"{"id":"k1","name":"a","project_id":"p1","roles":["Owner","ProjectViewer"]}"#)
                .unwrap();
        assert_eq!(
            newer.roles,
            [Role::ProjectViewer, Role::from_name("Owner")].into()
        );
        // Refused: missing roles/id, wrong types, empty role names, empty ids.
        for bad in [
            r#"{"id":"k1","name":7,"project_id":"p1","roles":[]}"#,
            r#"{"id":"k1","name":"a","project_id":"p1"}"#,
            r#"{"name":"a","project_id":"p1","roles":[]}"#,
            r#"{"id":7,"name":"a","project_id":"p1","roles":[]}"#,
            r#"{"id":"k1","name":"a","project_id":"p1","roles":"ProjectEditor"}"#,
            r#"{"id":"k1","name":"a","project_id":"p1","roles":[""]}"#,
            r#"{"id":"k1","name":"a","project_id":"p1","roles":[7]}"#,
            r#"{"id":"","name":"a","project_id":"p1","roles":[]}"#,
            r#"{"id":"k1","name":"a","project_id":" ","roles":[]}"#,
        ] {
            assert!(key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_created_key_must_carry_a_secret_and_its_project() {
        let created = |json: &str| {
            serde_json::from_str::<CreatedWire>(json)
                .unwrap()
                .into_model(&ProjectId("p1".into()))
        };
        let ok = created(r#"{"key":{"id":"k","name":"n","project_id":"p1","roles":["ProjectEditor"]},"value":"pcsk_ab_cd"}"#).unwrap();
        assert_eq!(ok.secret.expose(), "pcsk_ab_cd");
        assert!(
            created(r#"{"key":{"id":"k","name":"n","project_id":"p1","roles":[]},"value":""}"#)
                .is_err()
        );
        let err = created(
            r#"{"key":{"id":"k","name":"n","project_id":"p2","roles":[]},"value":"pcsk_x_y"}"#,
        )
        .err()
        .unwrap();
        assert!(!err.contains("pcsk"), "{err}");
    }

    #[test]
    fn request_bodies_match_the_api() {
        let new = NewKey {
            name: "ci".into(),
            roles: [Role::DataPlaneViewer, Role::ProjectViewer].into(),
        };
        assert_eq!(
            serde_json::to_string(&CreateBody::new(&new)).unwrap(),
            r#"{"name":"ci","roles":["ProjectViewer","DataPlaneViewer"]}"#
        );
        let rename = KeyUpdate {
            name: Some("ci-2".into()),
            roles: None,
        };
        assert_eq!(
            serde_json::to_string(&UpdateBody::new(&rename)).unwrap(),
            r#"{"name":"ci-2"}"#
        );
        let both = KeyUpdate {
            name: Some("x".into()),
            roles: Some([Role::ProjectEditor].into()),
        };
        assert_eq!(
            serde_json::to_string(&UpdateBody::new(&both)).unwrap(),
            r#"{"name":"x","roles":["ProjectEditor"]}"#
        );
    }
}
