//! Saved plans (`plan --out FILE`, `apply FILE`, `show FILE`).
//!
//! A saved plan holds the plan, the manifest's hash, and a snapshot of the live keys it was
//! computed from, under a SHA-256 checksum. It holds no secret and no token. `apply FILE`
//! refuses a file whose checksum does not match (edited or corrupted), one made from another
//! manifest, one already applied, and one whose live keys changed since (stale).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::{KeyId, Project, ProjectId, RoleSet};
use crate::plan::{LiveState, Plan};
use crate::render::words::{clean, project_label, quoted};

use super::error::{CommandError, ErrorKind};

/// The version of the saved-plan file format. Version 2 holds plans of
/// [`crate::plan::FORMAT_VERSION`] 2 (changes typed by action, causes as data).
pub const SAVED_PLAN_VERSION: &str = "2";

/// A live key as the plan saw it: enough to tell whether it changed since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySnapshot {
    pub id: KeyId,
    pub name: String,
    pub roles: RoleSet,
}

/// The keys of one project as the plan saw them, sorted by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectSnapshot {
    pub project: Project,
    pub keys: Vec<KeySnapshot>,
}

/// Just the version of a saved plan, read before the rest.
#[derive(Deserialize)]
struct Versioned {
    saved_plan_version: String,
}

/// The file `plan --out` writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPlan {
    pub saved_plan_version: String,
    pub keyplan_version: String,
    pub plan_id: String,
    pub created_at: jiff::Timestamp,
    /// SHA-256 of the manifest's text (`Manifest::sha256`).
    pub manifest_sha256: String,
    /// The API the plan was made against (so a sandbox plan is not applied to Pinecone).
    pub api_host: String,
    pub snapshot: Vec<ProjectSnapshot>,
    pub plan: Plan,
    /// Set once the plan has been applied; a second apply is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<jiff::Timestamp>,
    /// SHA-256 over the rest of the document.
    #[serde(default)]
    pub checksum: String,
}

impl SavedPlan {
    pub fn new(
        plan: Plan,
        live: &LiveState,
        projects: &[Project],
        manifest_sha256: &str,
        api_host: String,
    ) -> Self {
        let mut saved = SavedPlan {
            saved_plan_version: SAVED_PLAN_VERSION.to_owned(),
            keyplan_version: env!("CARGO_PKG_VERSION").to_owned(),
            plan_id: uuid::Uuid::new_v4().to_string(),
            created_at: jiff::Timestamp::now(),
            manifest_sha256: manifest_sha256.to_owned(),
            api_host,
            snapshot: snapshot(live, projects),
            plan,
            applied_at: None,
            checksum: String::new(),
        };
        saved.checksum = saved.compute_checksum();
        saved
    }

    fn compute_checksum(&self) -> String {
        let unsigned = SavedPlan {
            checksum: String::new(),
            ..self.clone()
        };
        // Serialising our own plain data cannot fail; an empty body would only weaken the check.
        let bytes = serde_json::to_vec(&unsigned).unwrap_or_default();
        format!("{:x}", Sha256::digest(&bytes))
    }

    /// Writes the file atomically (temp file, fsync, rename).
    pub fn write(&self, path: &Path) -> Result<(), CommandError> {
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| CommandError::wrap("serialise the plan", &e))?;
        crate::atomic_write::write_atomically(path, format!("{json}\n").as_bytes())
            .map_err(|e| CommandError::wrap(format!("write the plan to {}", path.display()), &e))
    }

    /// Reads and verifies a saved plan: format, version and checksum.
    pub fn read(path: &Path) -> Result<Self, CommandError> {
        let bytes = std::fs::read(path).map_err(|e| {
            CommandError::wrap(format!("read the saved plan {}", path.display()), &e)
        })?;
        let not_a_plan = |e: serde_json::Error| {
            CommandError::failed(format!("{} is not a keyplan saved plan", path.display()))
                .cause(e)
                .hint("save a plan with `keyplan plan --out FILE`")
        };
        // The version first: an older file's plan has another shape, and deserves a message
        // saying so rather than a parse error.
        let version: Versioned = serde_json::from_slice(&bytes).map_err(not_a_plan)?;
        if version.saved_plan_version != SAVED_PLAN_VERSION {
            return Err(CommandError::failed(format!(
                "{} has saved-plan version {:?}; this keyplan reads version {SAVED_PLAN_VERSION}",
                path.display(),
                version.saved_plan_version
            ))
            .hint("plan again with this keyplan: `keyplan plan --out FILE`"));
        }
        let saved: SavedPlan = serde_json::from_slice(&bytes).map_err(not_a_plan)?;
        if saved.checksum != saved.compute_checksum() {
            return Err(CommandError::new(ErrorKind::Failed,
                format!("{} fails its checksum: it was edited or corrupted", path.display()),
            )
            .hint("a saved plan must be applied exactly as it was reviewed; run `keyplan plan --out FILE` again"));
        }
        Ok(saved)
    }

    /// Refuses a plan made from another manifest, or applied already.
    pub fn check_applicable(
        &self,
        manifest_sha256: &str,
        api_host: &str,
    ) -> Result<(), CommandError> {
        if let Some(at) = self.applied_at {
            return Err(CommandError::new(
                ErrorKind::StalePlan,
                format!("this plan was already applied at {at}"),
            )
            .hint("run `keyplan plan --out FILE` for a new plan"));
        }
        if manifest_sha256 != self.manifest_sha256 {
            return Err(CommandError::new(
                ErrorKind::StalePlan,
                "the manifest changed since this plan was saved (or it is another manifest)",
            )
            .hint("pass the manifest the plan was made from with -f, or plan again"));
        }
        if api_host != self.api_host {
            return Err(CommandError::new(
                ErrorKind::StalePlan,
                format!(
                    "this plan was made against {}, not {api_host}",
                    self.api_host
                ),
            ));
        }
        Ok(())
    }

    /// What changed in the live keys since the plan was saved; empty when nothing did.
    pub fn staleness(&self, live: &LiveState) -> Vec<String> {
        let projects: Vec<Project> = self.snapshot.iter().map(|s| s.project.clone()).collect();
        let now: BTreeMap<ProjectId, ProjectSnapshot> = snapshot(live, &projects)
            .into_iter()
            .map(|s| (s.project.id.clone(), s))
            .collect();
        let mut changes = Vec::new();
        for before in &self.snapshot {
            let label = project_label(&before.project);
            let Some(after) = now.get(&before.project.id) else {
                changes.push(format!("{label}: the project could not be listed"));
                continue;
            };
            let old: BTreeMap<&KeyId, &KeySnapshot> =
                before.keys.iter().map(|k| (&k.id, k)).collect();
            let new: BTreeMap<&KeyId, &KeySnapshot> =
                after.keys.iter().map(|k| (&k.id, k)).collect();
            for (id, key) in &old {
                match new.get(id) {
                    None => changes.push(format!(
                        "{label}: key {} ({}) was deleted",
                        quoted(&key.name),
                        clean(id.as_str())
                    )),
                    Some(now) if now != key => changes.push(format!(
                        "{label}: key {} ({}) changed (now {} with roles {})",
                        quoted(&key.name),
                        clean(id.as_str()),
                        quoted(&now.name),
                        roles_text(&now.roles)
                    )),
                    Some(_) => {}
                }
            }
            for (id, key) in &new {
                if !old.contains_key(id) {
                    changes.push(format!(
                        "{label}: key {} ({}) was created",
                        quoted(&key.name),
                        clean(id.as_str())
                    ));
                }
            }
        }
        changes
    }

    /// Marks the file as applied, so it cannot be applied twice.
    pub fn mark_applied(&mut self, path: &Path) -> Result<(), CommandError> {
        self.applied_at = Some(jiff::Timestamp::now());
        self.checksum = self.compute_checksum();
        self.write(path)
    }
}

fn roles_text(roles: &RoleSet) -> String {
    crate::render::words::BracketedRoles(roles).to_string()
}

fn snapshot(live: &LiveState, projects: &[Project]) -> Vec<ProjectSnapshot> {
    let mut snapshot: Vec<ProjectSnapshot> = projects
        .iter()
        .filter_map(|project| {
            let keys = live.keys.get(&project.id)?;
            let mut keys: Vec<KeySnapshot> = keys
                .iter()
                .map(|k| KeySnapshot {
                    id: k.id.clone(),
                    name: k.name.clone(),
                    roles: k.roles.clone(),
                })
                .collect();
            keys.sort_by(|a, b| a.id.cmp(&b.id));
            Some(ProjectSnapshot {
                project: project.clone(),
                keys,
            })
        })
        .collect();
    snapshot.sort_by(|a, b| a.project.id.cmp(&b.project.id));
    snapshot.dedup_by(|a, b| a.project.id == b.project.id);
    snapshot
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::model::{LiveKey, Role};

    fn live() -> (LiveState, Vec<Project>) {
        let project = Project {
            id: ProjectId("p1".into()),
            name: "prod".into(),
        };
        let key = LiveKey {
            id: KeyId("k1".into()),
            name: "ci".into(),
            project_id: project.id.clone(),
            roles: [Role::ProjectEditor].into(),
            created_at: None,
        };
        let live = LiveState {
            projects: vec![project.clone()],
            keys: [(project.id.clone(), vec![key])].into(),
        };
        (live, vec![project])
    }

    fn empty_plan() -> Plan {
        Plan {
            format_version: crate::plan::FORMAT_VERSION.into(),
            changes: vec![],
            unmanaged: vec![],
            summary: crate::plan::Summary::default(),
            projects: vec![],
            guard: None,
            notes: Vec::new(),
        }
    }

    #[test]
    fn a_plan_saved_by_an_older_keyplan_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.json");
        // Version 1's changes had optional before/after and a `reason` sentence.
        std::fs::write(
            &path,
            r#"{"saved_plan_version": "1", "plan": {"changes": [{"action": "create",
                "before": null, "after": {"name": "a", "roles": []}, "reason": "x"}]}}"#,
        )
        .unwrap();
        let error = SavedPlan::read(&path).unwrap_err();
        assert!(error.message.contains("version \"1\""), "{}", error.message);
        assert!(
            error.hints.iter().any(|h| h.contains("plan again")),
            "{error:?}"
        );
    }

    #[test]
    fn a_saved_plan_round_trips_and_detects_edits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        let (live, projects) = live();
        let saved = SavedPlan::new(empty_plan(), &live, &projects, "manifest", "h".into());
        saved.write(&path).unwrap();
        assert_eq!(SavedPlan::read(&path).unwrap(), saved);

        let edited = std::fs::read_to_string(&path)
            .unwrap()
            .replace("\"ci\"", "\"cd\"");
        std::fs::write(&path, edited).unwrap();
        let error = SavedPlan::read(&path).unwrap_err();
        assert!(error.message.contains("checksum"), "{}", error.message);
    }

    #[test]
    fn staleness_names_what_changed() {
        let (mut live, projects) = live();
        let saved = SavedPlan::new(empty_plan(), &live, &projects, "m", "h".into());
        assert!(saved.staleness(&live).is_empty());
        live.keys.get_mut(&ProjectId("p1".into())).unwrap()[0].roles = [Role::ProjectViewer].into();
        let changes = saved.staleness(&live);
        assert_eq!(changes.len(), 1);
        assert!(changes[0].contains("changed"), "{changes:?}");
    }

    #[test]
    fn another_manifest_or_a_second_apply_is_refused() {
        let (live, projects) = live();
        let mut saved = SavedPlan::new(empty_plan(), &live, &projects, "m", "h".into());
        assert!(saved.check_applicable("m", "h").is_ok());
        assert_eq!(
            saved.check_applicable("other", "h").unwrap_err().kind,
            ErrorKind::StalePlan
        );
        assert_eq!(
            saved.check_applicable("m", "elsewhere").unwrap_err().kind,
            ErrorKind::StalePlan
        );
        saved.applied_at = Some(jiff::Timestamp::now());
        assert_eq!(
            saved.check_applicable("m", "h").unwrap_err().kind,
            ErrorKind::StalePlan
        );
    }
}
