//! The emulated organisation in memory: its projects and keys and the rules the API enforces
//! on them (names, roles, quota, Starter plan). Loading, seeding and saving are in [`persist`].
//!
//! Secrets are generated here and handed out once; the store keeps only their SHA-256 hashes,
//! and the list of issued values lives in memory only, for tests that scan output for leaks.

mod persist;

use std::collections::HashMap;
use std::path::PathBuf;

use jiff::Timestamp;
use rand::distr::{Alphanumeric, SampleString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::{KeyId, LiveKey, Project, ProjectId, Role, RoleSet};

/// The organisation every emulated project belongs to.
const ORGANIZATION_ID: &str = "-NM7emulatorOrg01";

/// A project as the emulator holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProjectRec {
    pub id: String,
    pub name: String,
    pub created_at: Timestamp,
}

/// A key as the emulator holds it: never the secret, only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyRec {
    pub id: String,
    pub name: String,
    pub project_id: String,
    pub roles: RoleSet,
    pub created_at: Timestamp,
    pub secret_sha256: String,
}

/// Why the API refuses an operation, as status, Pinecone code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Refusal::new(400, "INVALID_ARGUMENT", message)
    }

    fn key_not_found() -> Self {
        Refusal::new(404, "NOT_FOUND", "API key not found")
    }

    fn project_not_found() -> Self {
        Refusal::new(404, "NOT_FOUND", "Project not found")
    }
}

/// The organisation's state and the rules on it.
pub(crate) struct Store {
    projects: Vec<ProjectRec>,
    /// Each project's keys by project id, in creation order, so listings come out ordered by
    /// `created_at` and a listing reads only its own project's keys.
    keys: HashMap<String, Vec<KeyRec>>,
    /// The last `created_at` handed out: the next one is strictly later.
    last_created: Timestamp,
    /// Every secret value issued in this process (memory only).
    issued: Vec<String>,
    state_file: Option<PathBuf>,
    pub key_quota: Option<usize>,
    pub starter_plan: bool,
    /// Deleting a key that does not exist answers 500 instead of 404, as production does.
    pub delete_missing_500: bool,
    /// Roles accepted on create and update beyond the six ([`super::super::EmulatorConfig::extra_roles`]).
    pub extra_roles: std::collections::BTreeSet<String>,
    /// The fingerprint of the seed the state file started from (see [`persist`]).
    seed_sha256: Option<String>,
}

/// By hand: the issued secrets must never reach a `Debug` output.
impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("projects", &self.projects.len())
            .field("keys", &self.all_keys().count())
            .field("issued_secrets", &self.issued.len())
            .field("state_file", &self.state_file)
            .field("key_quota", &self.key_quota)
            .field("starter_plan", &self.starter_plan)
            .field("delete_missing_500", &self.delete_missing_500)
            .field("extra_roles", &self.extra_roles)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// The next `created_at`: now, to the microsecond, but strictly after every earlier one so
    /// that ordering by `created_at` is ordering by creation.
    fn next_created_at(&mut self) -> Timestamp {
        let now = Timestamp::now();
        let micros = now
            .as_microsecond()
            .max(self.last_created.as_microsecond() + 1);
        let at = Timestamp::from_microsecond(micros).unwrap_or(now);
        self.last_created = at;
        at
    }

    fn bump_clock(&mut self, at: Timestamp) {
        if at > self.last_created {
            self.last_created = at;
        }
    }

    pub fn insert_project(&mut self, name: &str, id: Option<String>) -> ProjectRec {
        let rec = ProjectRec {
            id: id.unwrap_or_else(new_id),
            name: name.to_owned(),
            created_at: self.next_created_at(),
        };
        self.projects.push(rec.clone());
        rec
    }

    /// Adds a key without any of the API's checks (seed and test set-up). Returns the key and
    /// its secret.
    pub fn insert_key(
        &mut self,
        project_id: &str,
        name: &str,
        roles: RoleSet,
        id: Option<String>,
        created_at: Option<Timestamp>,
    ) -> (KeyRec, String) {
        let secret = new_secret();
        let created_at = match created_at {
            Some(at) => {
                self.bump_clock(at);
                at
            }
            None => self.next_created_at(),
        };
        let rec = KeyRec {
            id: id.unwrap_or_else(new_id),
            name: name.to_owned(),
            project_id: project_id.to_owned(),
            roles,
            created_at,
            secret_sha256: sha256_hex(&secret),
        };
        self.issued.push(secret.clone());
        self.keys
            .entry(project_id.to_owned())
            .or_default()
            .push(rec.clone());
        (rec, secret)
    }

    pub fn projects(&self) -> &[ProjectRec] {
        &self.projects
    }

    pub fn project(&self, id: &str) -> Result<&ProjectRec, Refusal> {
        self.projects
            .iter()
            .find(|project| project.id == id)
            .ok_or_else(Refusal::project_not_found)
    }

    pub fn keys_of(&self, project_id: &str) -> Result<&[KeyRec], Refusal> {
        self.project(project_id)?;
        Ok(self.keys.get(project_id).map_or(&[], Vec::as_slice))
    }

    /// Every key of every project.
    fn all_keys(&self) -> impl Iterator<Item = &KeyRec> {
        self.keys.values().flatten()
    }

    pub fn key(&self, id: &str) -> Result<&KeyRec, Refusal> {
        self.all_keys()
            .find(|key| key.id == id)
            .ok_or_else(Refusal::key_not_found)
    }

    pub fn issued_secrets(&self) -> &[String] {
        &self.issued
    }

    /// `POST /admin/projects/{id}/api-keys` after the body was validated.
    pub fn create_key(
        &mut self,
        project_id: &str,
        name: &str,
        roles: RoleSet,
    ) -> Result<(KeyRec, String), Refusal> {
        let existing = self.keys_of(project_id)?.len();
        if self.starter_plan && roles != RoleSet::from([Role::ProjectEditor]) {
            return Err(Refusal::new(
                403,
                "FORBIDDEN",
                "Your organization's plan (Starter) only allows API keys with the ProjectEditor \
                 role (\"All\"). Upgrade your plan to use other roles.",
            ));
        }
        if let Some(quota) = self.key_quota
            && existing >= quota
        {
            return Err(Refusal::new(
                403,
                "QUOTA_EXCEEDED",
                format!(
                    "The project has reached its quota of {quota} API keys. Delete a key or \
                         contact support to increase the quota."
                ),
            ));
        }
        Ok(self.insert_key(project_id, name, roles, None, None))
    }

    /// `PATCH /admin/api-keys/{id}` after the body was validated: omitted fields stay.
    pub fn update_key(
        &mut self,
        id: &str,
        name: Option<String>,
        roles: Option<RoleSet>,
    ) -> Result<KeyRec, Refusal> {
        let starter = self.starter_plan;
        let key = self
            .keys
            .values_mut()
            .flatten()
            .find(|key| key.id == id)
            .ok_or_else(Refusal::key_not_found)?;
        if let Some(roles) = &roles
            && starter
            && *roles != key.roles
        {
            return Err(Refusal::new(
                403,
                "FORBIDDEN",
                "Your organization's plan (Starter) does not allow changing an API key's \
                     roles. Create a new API key instead.",
            ));
        }
        if let Some(name) = name {
            key.name = name;
        }
        if let Some(roles) = roles {
            key.roles = roles;
        }
        Ok(key.clone())
    }

    /// `DELETE /admin/api-keys/{id}`.
    pub fn delete_key(&mut self, id: &str) -> Result<(), Refusal> {
        let found = self.keys.values_mut().find_map(|keys| {
            let at = keys.iter().position(|key| key.id == id)?;
            Some(keys.remove(at))
        });
        if found.is_none() {
            if self.delete_missing_500 {
                return Err(Refusal::new(500, "INTERNAL", "Internal server error"));
            }
            return Err(Refusal::key_not_found());
        }
        Ok(())
    }
}

impl ProjectRec {
    pub fn to_model(&self) -> Project {
        Project {
            id: ProjectId(self.id.clone()),
            name: self.name.clone(),
        }
    }

    /// The API's Project document.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "name": self.name,
            "max_pods": 0,
            "force_encryption_with_cmek": false,
            "organization_id": ORGANIZATION_ID,
            "created_at": format_timestamp(self.created_at),
        })
    }
}

impl KeyRec {
    pub fn to_model(&self) -> LiveKey {
        LiveKey {
            id: KeyId(self.id.clone()),
            name: self.name.clone(),
            project_id: ProjectId(self.project_id.clone()),
            roles: self.roles.clone(),
            created_at: Some(self.created_at),
        }
    }

    /// The API's `APIKey` document (never the secret).
    pub fn doc(&self) -> KeyDoc<'_> {
        KeyDoc {
            created_at: format_timestamp(self.created_at),
            id: &self.id,
            name: &self.name,
            project_id: &self.project_id,
            roles: self.roles.iter().map(Role::as_str).collect(),
        }
    }
}

/// The API's `APIKey` document, written straight from a [`KeyRec`] (a listing of thousands of
/// keys builds no intermediate JSON values). The fields are in alphabetical order, as a JSON
/// object value would write them.
#[derive(Debug, Serialize)]
pub(crate) struct KeyDoc<'a> {
    created_at: String,
    id: &'a str,
    name: &'a str,
    project_id: &'a str,
    roles: Vec<&'a str>,
}

/// RFC 3339 in UTC with microseconds, as the API's examples show: `2025-10-20T23:40:27.069075Z`.
pub(crate) fn format_timestamp(at: Timestamp) -> String {
    jiff::fmt::temporal::DateTimePrinter::new()
        .precision(Some(6))
        .timestamp_to_string(&at)
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A secret shaped like production's: `pcsk_` + 6 + `_` + 64 alphanumerics (76 characters).
fn new_secret() -> String {
    let mut rng = rand::rng();
    format!(
        "pcsk_{}_{}",
        Alphanumeric.sample_string(&mut rng, 6),
        Alphanumeric.sample_string(&mut rng, 64)
    )
}

pub(crate) fn sha256_hex(value: &str) -> String {
    format!("{:x}", Sha256::digest(value.as_bytes()))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn store() -> Store {
        Store::open(None, None, None, false).unwrap()
    }

    #[test]
    fn created_at_strictly_increases_and_prints_micros() {
        let mut store = store();
        let project = store.insert_project("p", None);
        let mut last = project.created_at;
        for _ in 0..50 {
            let (key, _) = store.insert_key(&project.id, "k", RoleSet::new(), None, None);
            assert!(key.created_at > last);
            last = key.created_at;
        }
        let text = format_timestamp(last);
        assert_eq!(text.len(), "2025-10-20T23:40:27.069075Z".len(), "{text}");
        assert!(text.ends_with('Z'));
    }

    #[test]
    fn secrets_have_the_production_shape_and_only_hashes_are_kept() {
        let mut store = store();
        let project = store.insert_project("p", None);
        let (key, secret) = store
            .create_key(&project.id, "k", RoleSet::from([Role::ProjectEditor]))
            .unwrap();
        let parts: Vec<&str> = secret.split('_').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], "pcsk");
        assert_eq!(parts[1].len(), 6);
        assert_eq!(parts[2].len(), 64);
        assert!(
            parts[1..]
                .iter()
                .all(|p| p.chars().all(|c| c.is_ascii_alphanumeric()))
        );
        assert_eq!(key.secret_sha256, sha256_hex(&secret));
        assert!(!format!("{key:?}").contains(&secret));
        assert_eq!(store.issued_secrets(), [secret]);
    }

    #[test]
    fn quota_and_starter_plan_refuse_with_403() {
        let mut store = store();
        let project = store.insert_project("p", None);
        store.key_quota = Some(1);
        let editor = RoleSet::from([Role::ProjectEditor]);
        store.create_key(&project.id, "a", editor.clone()).unwrap();
        let full = store
            .create_key(&project.id, "b", editor.clone())
            .unwrap_err();
        assert_eq!((full.status, full.code), (403, "QUOTA_EXCEEDED"));
        store.key_quota = None;
        store.starter_plan = true;
        let viewer = RoleSet::from([Role::ProjectViewer]);
        let refused = store
            .create_key(&project.id, "c", viewer.clone())
            .unwrap_err();
        assert_eq!(refused.status, 403);
        let (key, _) = store.create_key(&project.id, "d", editor.clone()).unwrap();
        assert_eq!(
            store
                .update_key(&key.id, None, Some(viewer))
                .unwrap_err()
                .status,
            403
        );
        let renamed = store
            .update_key(&key.id, Some("e".into()), Some(editor))
            .unwrap();
        assert_eq!(renamed.name, "e");
    }
}
