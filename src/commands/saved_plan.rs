//! Saved plans (`plan --out FILE`, `apply FILE`, `show FILE`).
//!
//! A saved plan holds the plan and a snapshot of the live keys it was computed from, under a
//! SHA-256 checksum. It holds no secret and no token. The checksum catches corruption, not
//! tampering (whoever can write the file can recompute it), so `apply FILE` trusts none of the
//! file's changes: it plans again from the manifest and the live keys, and applies only if that
//! plan is the saved one ([`SavedPlan::differences`]). It also refuses a file made against
//! another API host, one already applied, and one whose live keys changed since (stale).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::{KeyId, KeyRef, Project, ProjectId, RoleSet};
use crate::plan::{Action, Cause, Change, LiveState, Plan};
use crate::render::change_label;
use crate::render::words::{clean, project_label, quoted, verb};

use super::error::{CommandError, ErrorKind};

/// The version of the saved-plan file format. Version 3 holds plans of
/// [`crate::plan::FORMAT_VERSION`] 2 (changes typed by action, causes as data), without the
/// manifest's hash of version 2 (a plan is checked against the manifest's meaning instead).
pub const SAVED_PLAN_VERSION: &str = "3";

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
    pub fn new(plan: Plan, live: &LiveState, projects: &[Project], api_host: String) -> Self {
        let mut saved = SavedPlan {
            saved_plan_version: SAVED_PLAN_VERSION.to_owned(),
            keyplan_version: env!("CARGO_PKG_VERSION").to_owned(),
            plan_id: uuid::Uuid::new_v4().to_string(),
            created_at: jiff::Timestamp::now(),
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

    /// Refuses a plan made against another API, or applied already. Whether it is still the
    /// manifest's plan is [`SavedPlan::differences`]'s question.
    pub fn check_applicable(&self, api_host: &str) -> Result<(), CommandError> {
        if let Some(at) = self.applied_at {
            return Err(CommandError::new(
                ErrorKind::StalePlan,
                format!("this plan was already applied at {at}"),
            )
            .hint("run `keyplan plan --out FILE` for a new plan"));
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

    /// The `--replace` requests the plan was made with, as its requested replacements show
    /// them: planning again needs them to reach the same plan. (A file edited to request more
    /// can only ask for what `--replace` can: a declared key replaced with its declared roles.)
    pub fn requested_replacements(&self) -> Vec<KeyRef> {
        self.plan
            .changes
            .iter()
            .filter(|c| c.causes.contains(&Cause::Requested))
            .filter_map(|c| {
                Some(KeyRef {
                    project: c.project.id.to_string(),
                    key: c.after()?.name.clone(),
                })
            })
            .collect()
    }

    /// The projects the plan was made for, when it was made for some only (`--project`);
    /// empty when it covers every project of the manifest (`declared` of them).
    pub fn selected_projects(&self, declared: usize) -> Vec<String> {
        if self.snapshot.len() >= declared {
            return Vec::new();
        }
        self.snapshot
            .iter()
            .map(|s| s.project.id.to_string())
            .collect()
    }

    /// How the saved plan differs from `now`, the plan the manifest and the live keys give
    /// today; empty when they are the same plan. Changes are compared by what an apply does
    /// (action, project, key id, names, roles), not by their causes: a rotation's age moves on
    /// between the two.
    pub fn differences(&self, now: &Plan) -> Vec<String> {
        let saved: Vec<Effect<'_>> = self.plan.changes.iter().map(Effect::of).collect();
        let fresh: Vec<Effect<'_>> = now.changes.iter().map(Effect::of).collect();
        let mut differences = Vec::new();
        for (effect, change) in saved.iter().zip(&self.plan.changes) {
            if !fresh.contains(effect) {
                differences.push(format!(
                    "in the saved plan, not in the plan now: {}",
                    describe(change)
                ));
            }
        }
        for (effect, change) in fresh.iter().zip(&now.changes) {
            if !saved.contains(effect) {
                differences.push(format!(
                    "in the plan now, not in the saved plan: {}",
                    describe(change)
                ));
            }
        }
        if differences.is_empty() && saved.len() != fresh.len() {
            differences.push(format!(
                "the saved plan has {} changes, the plan now {}",
                saved.len(),
                fresh.len()
            ));
        }
        differences
    }

    /// Marks the file as applied, so it cannot be applied twice.
    pub fn mark_applied(&mut self, path: &Path) -> Result<(), CommandError> {
        self.applied_at = Some(jiff::Timestamp::now());
        self.checksum = self.compute_checksum();
        self.write(path)
    }
}

/// What applying a change does, without why: equal effects are the same change.
#[derive(Debug, PartialEq, Eq)]
struct Effect<'p> {
    action: Action,
    project: &'p ProjectId,
    before: Option<(&'p KeyId, &'p str, &'p RoleSet)>,
    after: Option<(&'p str, &'p RoleSet)>,
}

impl<'p> Effect<'p> {
    fn of(change: &'p Change) -> Self {
        Effect {
            action: change.action(),
            project: &change.project.id,
            before: change.before().map(|b| (&b.id, b.name.as_str(), &b.roles)),
            after: change.after().map(|a| (a.name.as_str(), &a.roles)),
        }
    }
}

/// `replace "prod/ci" (key 1234) with roles [ProjectViewer]`: a change as a difference names it.
fn describe(change: &Change) -> String {
    let key = change
        .before()
        .map(|b| format!(" (key {})", clean(b.id.as_str())))
        .unwrap_or_default();
    let roles = change
        .after()
        .map(|a| format!(" with roles {}", roles_text(&a.roles)))
        .unwrap_or_default();
    format!(
        "{} {}{key}{roles}",
        verb(change.action()).base,
        change_label(change)
    )
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
        let saved = SavedPlan::new(empty_plan(), &live, &projects, "h".into());
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
        let saved = SavedPlan::new(empty_plan(), &live, &projects, "h".into());
        assert!(saved.staleness(&live).is_empty());
        live.keys.get_mut(&ProjectId("p1".into())).unwrap()[0].roles = [Role::ProjectViewer].into();
        let changes = saved.staleness(&live);
        assert_eq!(changes.len(), 1);
        assert!(changes[0].contains("changed"), "{changes:?}");
    }

    #[test]
    fn another_api_or_a_second_apply_is_refused() {
        let (live, projects) = live();
        let mut saved = SavedPlan::new(empty_plan(), &live, &projects, "h".into());
        assert!(saved.check_applicable("h").is_ok());
        assert_eq!(
            saved.check_applicable("elsewhere").unwrap_err().kind,
            ErrorKind::StalePlan
        );
        saved.applied_at = Some(jiff::Timestamp::now());
        assert_eq!(
            saved.check_applicable("h").unwrap_err().kind,
            ErrorKind::StalePlan
        );
    }

    #[test]
    fn differences_compare_what_changes_do_not_why() {
        use crate::plan::{ChangeKind, KeyAfter, KeyBefore};
        let (live, projects) = live();
        let create = |roles: RoleSet, causes: Vec<Cause>| Change {
            project: projects[0].clone(),
            kind: ChangeKind::Create {
                after: KeyAfter {
                    name: "new".into(),
                    roles,
                },
            },
            causes,
        };
        let delete = Change {
            project: projects[0].clone(),
            kind: ChangeKind::Delete {
                before: KeyBefore {
                    id: KeyId("k1".into()),
                    name: "ci".into(),
                    roles: [Role::ProjectEditor].into(),
                    created_at: None,
                },
            },
            causes: vec![Cause::Unmanaged],
        };
        let plan = |changes: Vec<Change>| Plan {
            changes,
            ..empty_plan()
        };
        let viewer: RoleSet = [Role::ProjectViewer].into();
        let saved = SavedPlan::new(
            plan(vec![create(viewer.clone(), vec![Cause::Missing])]),
            &live,
            &projects,
            "h".into(),
        );
        // Another cause, the same effect: the same plan.
        assert!(
            saved
                .differences(&plan(vec![create(viewer.clone(), vec![Cause::Requested])]))
                .is_empty()
        );
        // Other roles, or one change more: another plan, both sides named.
        let escalated = saved.differences(&plan(vec![create(
            [Role::ProjectEditor].into(),
            vec![Cause::Missing],
        )]));
        assert_eq!(escalated.len(), 2, "{escalated:?}");
        assert!(escalated[0].contains("ProjectViewer"), "{escalated:?}");
        assert!(escalated[1].contains("ProjectEditor"), "{escalated:?}");
        let more = saved.differences(&plan(vec![create(viewer, vec![Cause::Missing]), delete]));
        assert_eq!(more.len(), 1, "{more:?}");
        assert!(more[0].starts_with("in the plan now") && more[0].contains("delete"));
    }
}
