//! The audit report's data (`keyplan report`): every live key of the declared projects with
//! its age, roles, rotation due date, how the manifest treats it and its policy status.
//!
//! Pure, like the plan: the live state, the manifest and `now` in, rows out. A live key is
//! tied to its declaration the way a reviewer would read the manifest: by the declared `id`,
//! else by the declared name or a previous name (a key keyplan is creating or retiring by its
//! declared name). Ambiguities the plan would refuse are not this report's business: it lists
//! what is there.

use crate::desired::{Desired, DesiredKey, DesiredProject};
use crate::model::{KeyId, LiveKey, Project, RoleSet};
use crate::policy::Violation;

use super::{LiveState, audit, judged_name, pending_stem, retiring_stem};

/// How the manifest treats a live key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Managed {
    /// Declared: keyplan keeps it as the manifest says.
    Declared,
    /// Being created or retired by keyplan (a pending or retiring name).
    InFlight,
    /// Matched by an `ignore` glob: keyplan neither changes nor reports it as drift.
    Ignored,
    /// Not declared: kept or deleted by the project's `unmanaged`.
    Unmanaged,
}

/// One live key in the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryKey {
    pub project: Project,
    pub name: String,
    pub id: KeyId,
    pub roles: RoleSet,
    pub created_at: Option<jiff::Timestamp>,
    /// Whole days since `created_at`.
    pub age_days: Option<i64>,
    pub managed: Managed,
    /// The declaring key's `rotate_after`, as spelt.
    pub rotate_after: Option<String>,
    /// When the key is due for rotation: `created_at` plus `rotate_after`.
    pub rotation_due: Option<jiff::Timestamp>,
    /// This key's violations (empty: it keeps every rule).
    pub violations: Vec<Violation>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    /// When the report was made: ages and due dates are as of this time.
    pub now: jiff::Timestamp,
    /// The declared projects the report covers, by name and id (a project with no live key
    /// is still one the report looked at).
    pub projects: Vec<Project>,
    /// Every live key of the declared projects, by project name, project id, key name, id.
    pub keys: Vec<InventoryKey>,
    /// Violations of whole projects (`max_keys`).
    pub project_violations: Vec<Violation>,
}

impl Inventory {
    /// Every violation: the keys' own, then the project-wide ones.
    pub fn violations(&self) -> impl Iterator<Item = &Violation> {
        self.keys
            .iter()
            .flat_map(|k| &k.violations)
            .chain(&self.project_violations)
    }
}

/// The report of the live keys of `projects` (the resolved declared projects, in the order of
/// `desired.projects`).
pub fn inventory(
    desired: &Desired,
    projects: &[Project],
    live: &LiveState,
    now: jiff::Timestamp,
) -> Inventory {
    let mut violations = audit(desired, projects, live, now);
    let mut keys = Vec::new();
    let mut seen: Vec<&Project> = Vec::new();
    for (declared, project) in desired.projects.iter().zip(projects) {
        if seen.contains(&project) {
            continue;
        }
        seen.push(project);
        for key in live.keys.get(&project.id).into_iter().flatten() {
            keys.push(row(declared, project, key, now, &mut violations));
        }
    }
    keys.sort_by(|a, b| {
        (&a.project.name, &a.project.id, &a.name, &a.id).cmp(&(
            &b.project.name,
            &b.project.id,
            &b.name,
            &b.id,
        ))
    });
    let mut projects: Vec<Project> = seen.into_iter().cloned().collect();
    projects.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    Inventory {
        now,
        projects,
        keys,
        project_violations: violations,
    }
}

/// One key's row; takes its violations out of `violations`.
fn row(
    declared: &DesiredProject,
    project: &Project,
    key: &LiveKey,
    now: jiff::Timestamp,
    violations: &mut Vec<Violation>,
) -> InventoryKey {
    let declaring = declaring_key(declared, key);
    let in_flight = pending_stem(&key.name).is_some() || retiring_stem(&key.name).is_some();
    let managed = if in_flight {
        Managed::InFlight
    } else if declaring.is_some() {
        Managed::Declared
    } else if declared.ignore.iter().any(|g| g.is_match(&key.name)) {
        Managed::Ignored
    } else {
        Managed::Unmanaged
    };
    let rotate_after = declaring.and_then(|d| d.rotate_after.as_ref());
    let (mine, rest): (Vec<Violation>, Vec<Violation>) = std::mem::take(violations)
        .into_iter()
        .partition(|v| v.project == *project && v.id.as_ref() == Some(&key.id));
    *violations = rest;
    InventoryKey {
        project: project.clone(),
        name: key.name.clone(),
        id: key.id.clone(),
        roles: key.roles.clone(),
        created_at: key.created_at,
        age_days: key
            .created_at
            .map(|created| now.duration_since(created).as_secs() / 86_400),
        managed,
        rotate_after: rotate_after.map(|r| r.spelled.clone()),
        rotation_due: match (key.created_at, rotate_after) {
            (Some(created), Some(after)) => created.checked_add(after.limit).ok(),
            _ => None,
        },
        violations: mine,
    }
}

/// The declared key a live key stands for: by `id`, else by name or previous name.
fn declaring_key<'d>(declared: &'d DesiredProject, key: &LiveKey) -> Option<&'d DesiredKey> {
    let name = judged_name(key);
    declared
        .keys
        .iter()
        .find(|d| d.id.as_ref() == Some(&key.id))
        .or_else(|| {
            declared
                .keys
                .iter()
                .find(|d| d.id.is_none() && (d.name == name || d.previous_names.contains(&name)))
        })
}
