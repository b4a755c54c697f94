//! The emulator's knobs: how it authenticates, which limits the organisation has, which faults it
//! injects, and the seed file that declares projects and keys that exist before the first run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::Role;

/// The client id the emulator accepts unless configured otherwise.
pub const DEFAULT_CLIENT_ID: &str = "keyplan-emulator";

/// The client secret the emulator accepts unless configured otherwise (not a real secret).
pub const DEFAULT_CLIENT_SECRET: &str = "emulator-secret";

/// Where `keyplan emulator` listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";

/// Everything [`super::start`] needs to know.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// The service account's client id the token endpoint accepts.
    pub client_id: String,
    /// The service account's client secret the token endpoint accepts.
    pub client_secret: String,
    /// How long an access token stays valid (`expires_in` of the token response).
    pub token_ttl: Duration,
    /// Keys per project; a create in a full project answers 403 `QUOTA_EXCEEDED`.
    pub key_quota: Option<usize>,
    /// Starter-plan organisation: keys only with `ProjectEditor`, role changes refused (403).
    pub starter_plan: bool,
    /// Deleting a key that does not exist answers 500 `INTERNAL` instead of 404, as production
    /// was seen to do.
    pub delete_missing_500: bool,
    /// Roles creates and updates accept beyond the six, as if Pinecone had added them after
    /// this keyplan release (a seed or [`super::RunningEmulator::add_key`] may give keys any role).
    pub extra_roles: Vec<String>,
    /// Faults injected at random (scripted ones come through [`super::RunningEmulator::push_faults`]).
    pub faults: Faults,
    /// Where the state lives between runs (JSON). Loaded at start, saved after each change.
    pub state_file: Option<PathBuf>,
    /// Projects and keys to start with; applied only when the state file does not exist yet.
    pub seed: Option<Seed>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            client_secret: DEFAULT_CLIENT_SECRET.to_owned(),
            token_ttl: Duration::from_secs(1800),
            key_quota: None,
            starter_plan: false,
            delete_missing_500: false,
            extra_roles: Vec::new(),
            faults: Faults::default(),
            state_file: None,
            seed: None,
        }
    }
}

/// The routes the emulator serves, for scripted faults and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Route {
    /// `POST /oauth/token`
    Token,
    /// `GET /admin/projects`
    ListProjects,
    /// `GET /admin/projects/{id}`
    DescribeProject,
    /// `GET /admin/projects/{id}/api-keys`
    ListKeys,
    /// `POST /admin/projects/{id}/api-keys`
    CreateKey,
    /// `GET /admin/api-keys/{id}`
    DescribeKey,
    /// `PATCH /admin/api-keys/{id}`
    UpdateKey,
    /// `DELETE /admin/api-keys/{id}`
    DeleteKey,
    /// Matches every route in [`super::RunningEmulator::push_faults`]; in counters, a request
    /// to a path or method the emulator does not serve.
    Any,
}

impl Route {
    /// Which route a request is for, judged from its method and path alone.
    pub fn classify(method: &str, path: &str) -> Route {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (method, segments.as_slice()) {
            ("POST", ["oauth", "token"]) => Route::Token,
            ("GET", ["admin", "projects"]) => Route::ListProjects,
            ("GET", ["admin", "projects", _]) => Route::DescribeProject,
            ("GET", ["admin", "projects", _, "api-keys"]) => Route::ListKeys,
            ("POST", ["admin", "projects", _, "api-keys"]) => Route::CreateKey,
            ("GET", ["admin", "api-keys", _]) => Route::DescribeKey,
            ("PATCH", ["admin", "api-keys", _]) => Route::UpdateKey,
            ("DELETE", ["admin", "api-keys", _]) => Route::DeleteKey,
            _ => Route::Any,
        }
    }

    /// Whether a scripted fault pushed for `self` applies to a request for `route`.
    pub fn matches(self, route: Route) -> bool {
        self == Route::Any || self == route
    }

    /// Admin routes get random faults and the rate limit; the token endpoint (another host in
    /// production) only scripted faults and latency.
    pub fn is_admin(self) -> bool {
        !matches!(self, Route::Token | Route::Any)
    }
}

/// One injected misbehaviour, for one request.
///
/// `Status`, `Throttle`, `Drop`, `Html`, `Echo` and `EchoText` answer before the operation runs
/// (nothing changes).
/// `LoseResponse`, `TruncatedJson`, `EmptyOk`, `WrongTypes`, `MissingFields`, `HugeBody` and
/// `Trickle` perform the operation, then lose or mangle its answer, as a broken proxy or network
/// would; `NamelessKey` and `NextPage` perform it and answer what production was seen to answer. `Delay` performs it and answers late;
/// `CommitLate` performs it late even if the client has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// This status with the API's JSON error document (OAuth shape on the token route).
    Status(u16),
    /// 429 with a `Retry-After` header.
    Throttle { retry_after_secs: u64 },
    /// Close the connection without any response.
    Drop,
    /// Perform the operation (a create commits), then close the connection without a response.
    LoseResponse,
    /// This status with a proxy's HTML page.
    Html(u16),
    /// The real status with the first half of the real JSON body.
    TruncatedJson,
    /// 200 with an empty body.
    EmptyOk,
    /// 200 with the real document whose fields have the wrong JSON types.
    WrongTypes,
    /// 200 with the real document missing required fields (`id`, `roles`, `data`, `value`, ...).
    MissingFields,
    /// 200 with the real JSON padded past 10 MiB with whitespace.
    HugeBody,
    /// Headers at once, then the body one byte per second (padded to at least 1 KiB).
    Trickle,
    /// Perform the operation and answer after this extra delay.
    Delay(Duration),
    /// Perform the operation after this delay, on a task of its own that finishes even when
    /// the client has gone meanwhile (killed, or timed out), then answer: a create still in
    /// flight at the server when its client died commits later, as on a real server.
    CommitLate(Duration),
    /// The real answer with the `name` field removed from its first key (the first item of a
    /// key listing, or the key itself), as production was seen to list keys.
    NamelessKey,
    /// The real listing with `"pagination": {"next": "<token>"}` added, as if more items
    /// followed on another page.
    NextPage,
    /// Not performed: this status with the route's JSON error document whose message echoes
    /// the request, its `Authorization` header (the bearer token) and its body (on the token
    /// route: the client id and secret), as a careless server or proxy does.
    Echo(u16),
    /// Like [`Fault::Echo`], as a `text/plain` body instead of a JSON document.
    EchoText(u16),
}

/// A token bucket: `burst` requests at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

/// Faults injected at random on admin routes, decided by a RNG seeded with `seed`, so a run
/// with the same seed and the same request order sees the same faults.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Added to every request (token route included) before it is answered.
    pub latency: Duration,
    /// Seed of the RNG that decides the random faults.
    pub seed: u64,
    /// Share of admin requests answered 500, 502, 503 or 504 (JSON error document).
    pub error_rate: f64,
    /// Share of admin requests answered 429 with `Retry-After: 1`.
    pub throttle_rate: f64,
    /// Share of admin requests whose connection is closed without a response.
    pub drop_rate: f64,
    /// Share of creates that commit but whose response is lost (connection closed).
    pub lose_create_response_rate: f64,
    /// A token bucket over admin requests; an empty bucket answers 429 with `Retry-After`.
    pub rate_limit: Option<RateLimit>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            latency: Duration::ZERO,
            seed: 0,
            error_rate: 0.0,
            throttle_rate: 0.0,
            drop_rate: 0.0,
            lose_create_response_rate: 0.0,
            rate_limit: None,
        }
    }
}

/// Requests the emulator has seen, by route and by answered status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Every request that reached a handler (including faulted and dropped ones).
    pub total: u64,
    /// Requests by route; requests to unknown paths count under [`Route::Any`].
    pub by_route: BTreeMap<Route, u64>,
    /// Responses by HTTP status (dropped connections have none and are not counted here).
    pub by_status: BTreeMap<u16, u64>,
    /// Responses by route and status.
    pub by_route_status: BTreeMap<(Route, u16), u64>,
    /// Connections closed without a response (`Drop`, `LoseResponse`).
    pub dropped: u64,
    /// Requests without an `X-Pinecone-Api-Version` header.
    pub missing_api_version: u64,
    /// Requests by the `X-Pinecone-Api-Version` they carried, so a test can tell which version
    /// a client spoke.
    pub by_api_version: BTreeMap<String, u64>,
}

impl Counters {
    /// Requests for `route` ([`Route::Any`] counts only unknown paths; use `total` for all).
    pub fn route(&self, route: Route) -> u64 {
        self.by_route.get(&route).copied().unwrap_or(0)
    }

    /// Responses with `status`.
    pub fn status(&self, status: u16) -> u64 {
        self.by_status.get(&status).copied().unwrap_or(0)
    }

    /// Responses for `route` with `status`.
    pub fn route_status(&self, route: Route, status: u16) -> u64 {
        self.by_route_status
            .get(&(route, status))
            .copied()
            .unwrap_or(0)
    }
}

/// Projects and keys that exist before the first request: a JSON or TOML file.
///
/// ```toml
/// [[projects]]
/// name = "demo"
/// id = "0b9e2f3c-6a3e-4a8e-9d57-3f6f1f2f9c01"   # optional
///
/// [[projects.keys]]
/// name = "ci"
/// roles = ["DataPlaneViewer"]                   # optional, default ["ProjectEditor"]; any
///                                               # name, as if Pinecone had added a role
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    #[serde(default)]
    pub projects: Vec<SeedProject>,
}

/// A project in a [`Seed`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedProject {
    pub name: String,
    /// A UUID; a fresh one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default)]
    pub keys: Vec<SeedKey>,
}

/// A pre-existing key in a [`Seed`]. Its secret is generated and never shown, as for a key
/// someone else created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedKey {
    pub name: String,
    #[serde(default = "default_roles")]
    pub roles: Vec<Role>,
    /// A UUID; a fresh one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// When absent, the time the seed is applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<jiff::Timestamp>,
}

fn default_roles() -> Vec<Role> {
    vec![Role::ProjectEditor]
}

impl Seed {
    /// Reads a seed file: TOML when the name ends in `.toml`, JSON otherwise.
    pub fn load(path: &Path) -> std::io::Result<Seed> {
        let text = std::fs::read_to_string(path).map_err(|err| {
            std::io::Error::new(
                err.kind(),
                format!("cannot read seed file {}: {err}", path.display()),
            )
        })?;
        let is_toml = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("toml"));
        let parsed = if is_toml {
            Seed::from_toml(&text)
        } else {
            Seed::from_json(&text)
        };
        parsed.map_err(|msg| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("invalid seed file {}: {msg}", path.display()),
            )
        })
    }

    /// Parses a seed from JSON text.
    pub fn from_json(text: &str) -> Result<Seed, String> {
        let seed: Seed = serde_json::from_str(text).map_err(|err| err.to_string())?;
        seed.validate()?;
        Ok(seed)
    }

    /// Parses a seed from TOML text.
    pub fn from_toml(text: &str) -> Result<Seed, String> {
        let seed: Seed = toml::from_str(text).map_err(|err| err.to_string())?;
        seed.validate()?;
        Ok(seed)
    }

    /// Checks what the API itself would refuse: ids that are not UUIDs, bad key names, no roles.
    pub fn validate(&self) -> Result<(), String> {
        let mut ids = std::collections::BTreeSet::new();
        let mut unique = |id: &Option<String>| match id {
            Some(id) if !ids.insert(id.to_ascii_lowercase()) => {
                Err(format!("id {id:?} appears more than once"))
            }
            _ => Ok(()),
        };
        for project in &self.projects {
            unique(&project.id)?;
            for key in &project.keys {
                unique(&key.id)?;
            }
        }
        for project in &self.projects {
            if project.name.is_empty() {
                return Err("a project has an empty name".to_owned());
            }
            if let Some(id) = &project.id
                && !crate::model::is_uuid(id)
            {
                return Err(format!(
                    "project {:?}: id {id:?} is not a UUID",
                    project.name
                ));
            }
            for key in &project.keys {
                if !crate::model::key_name_is_valid(&key.name) {
                    return Err(format!(
                        "project {:?}: key name {:?} must be 1-80 characters",
                        project.name, key.name
                    ));
                }
                if key.roles.is_empty() {
                    return Err(format!(
                        "project {:?}: key {:?} has no roles",
                        project.name, key.name
                    ));
                }
                if let Some(id) = &key.id
                    && !crate::model::is_uuid(id)
                {
                    return Err(format!("key {:?}: id {id:?} is not a UUID", key.name));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_classified_by_method_and_path() {
        let cases = [
            ("POST", "/oauth/token", Route::Token),
            ("GET", "/admin/projects", Route::ListProjects),
            ("GET", "/admin/projects/x", Route::DescribeProject),
            ("GET", "/admin/projects/x/api-keys", Route::ListKeys),
            ("POST", "/admin/projects/x/api-keys", Route::CreateKey),
            ("GET", "/admin/api-keys/k", Route::DescribeKey),
            ("PATCH", "/admin/api-keys/k", Route::UpdateKey),
            ("DELETE", "/admin/api-keys/k", Route::DeleteKey),
            ("PUT", "/admin/api-keys/k", Route::Any),
            ("GET", "/nowhere", Route::Any),
        ];
        for (method, path, route) in cases {
            assert_eq!(Route::classify(method, path), route, "{method} {path}");
        }
    }

    #[test]
    fn seeds_parse_from_toml_and_json_alike() {
        let toml_seed = Seed::from_toml(
            "[[projects]]\nname = \"demo\"\n[[projects.keys]]\nname = \"ci\"\nroles = [\"DataPlaneViewer\"]\n[[projects.keys]]\nname = \"default\"\n",
        )
        .unwrap_or_default();
        let json_seed = Seed::from_json(
            r#"{"projects":[{"name":"demo","keys":[{"name":"ci","roles":["DataPlaneViewer"]},{"name":"default"}]}]}"#,
        )
        .unwrap_or_default();
        assert_eq!(toml_seed, json_seed);
        assert_eq!(
            toml_seed.projects[0].keys[1].roles,
            vec![Role::ProjectEditor]
        );
    }

    #[test]
    fn seeds_with_bad_ids_or_names_are_refused() {
        let bad_id = Seed::from_json(r#"{"projects":[{"name":"demo","id":"p1"}]}"#);
        assert!(bad_id.is_err_and(|e| e.contains("not a UUID")));
        let long = "x".repeat(81);
        let bad_name = Seed::from_json(&format!(
            r#"{{"projects":[{{"name":"d","keys":[{{"name":"{long}"}}]}}]}}"#
        ));
        assert!(bad_name.is_err_and(|e| e.contains("1-80")));
        assert!(Seed::from_json(r#"{"projects":[{"name":"d","extra":1}]}"#).is_err());
        let id = "0b9e2f3c-6a3e-4a8e-9d57-3f6f1f2f9c01";
        let twice = Seed::from_json(&format!(
            r#"{{"projects":[{{"name":"a","id":"{id}"}},{{"name":"b","keys":[{{"name":"k","id":"{id}"}}]}}]}}"#
        ));
        assert!(twice.is_err_and(|e| e.contains("more than once")));
    }
}
