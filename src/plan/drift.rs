//! The drift report: the scheduled audit's view of a plan.
//!
//! `keyplan drift` asks "does the live state still match the manifest?", not "what would
//! apply do?". It reports what a plan would hide or treat as routine: keys changed outside
//! keyplan, declared keys that are missing, live keys the manifest does not declare (even
//! where `unmanaged = "keep"` keeps them), keys due for rotation, and leftovers of interrupted
//! or concurrent applies. It is derived from a [`Plan`] alone, so both always agree.

use serde::{Deserialize, Serialize};

use crate::model::{KeyId, Project};

use super::{Action, Cause, Change, FORMAT_VERSION, Plan, PlanNote, engine::format_roles};

/// One finding of the drift report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftItem {
    pub project: Project,
    /// The key's name: the declared name where there is one, else the live name.
    pub key: String,
    /// The live key's id; `None` for a missing key.
    pub id: Option<KeyId>,
    /// What differs, in words.
    pub detail: String,
}

/// What differs between the manifest and the live keys. Each list is sorted like the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftReport {
    pub format_version: String,
    /// Projects looked at, sorted by id.
    pub projects: Vec<Project>,
    /// Declared keys whose live name or roles differ from the manifest.
    pub changed: Vec<DriftItem>,
    /// Declared keys with no live key.
    pub missing: Vec<DriftItem>,
    /// Live keys the manifest does not declare (and does not ignore).
    pub unmanaged: Vec<DriftItem>,
    /// Keys older than their `rotate_after`.
    pub rotation_due: Vec<DriftItem>,
    /// Keys left by an interrupted replace or create, and duplicates left by an interrupted
    /// or concurrent apply.
    pub leftovers: Vec<DriftItem>,
    /// Not drift, but worth knowing (e.g. a key whose age cannot be checked).
    pub notes: Vec<PlanNote>,
}

impl DriftReport {
    /// No drift: every list but the notes is empty.
    pub fn is_clean(&self) -> bool {
        self.changed.is_empty()
            && self.missing.is_empty()
            && self.unmanaged.is_empty()
            && self.rotation_due.is_empty()
            && self.leftovers.is_empty()
    }
}

/// The drift report of a plan.
pub fn drift(plan: &Plan) -> DriftReport {
    let mut report = DriftReport {
        format_version: FORMAT_VERSION.to_owned(),
        projects: plan.projects.clone(),
        changed: Vec::new(),
        missing: Vec::new(),
        unmanaged: Vec::new(),
        rotation_due: Vec::new(),
        leftovers: Vec::new(),
        notes: plan.notes.clone(),
    };
    for change in &plan.changes {
        for cause in &change.causes {
            let list = match cause {
                Cause::Missing => &mut report.missing,
                Cause::Differs => &mut report.changed,
                Cause::Rotation => &mut report.rotation_due,
                Cause::Unmanaged => &mut report.unmanaged,
                Cause::InterruptedReplace | Cause::InterruptedCreate | Cause::Duplicate => {
                    &mut report.leftovers
                }
                // Asked for on the command line: not drift.
                Cause::Requested => continue,
            };
            list.push(item(change, *cause));
        }
    }
    for kept in &plan.unmanaged {
        report.unmanaged.push(DriftItem {
            project: kept.project.clone(),
            key: kept.key.name.clone(),
            id: Some(kept.key.id.clone()),
            detail: format!(
                "roles {}; kept (unmanaged = \"keep\")",
                format_roles(&kept.key.roles)
            ),
        });
    }
    let order = |a: &DriftItem, b: &DriftItem| {
        (&a.project.name, &a.project.id, &a.key, &a.id).cmp(&(
            &b.project.name,
            &b.project.id,
            &b.key,
            &b.id,
        ))
    };
    for list in [
        &mut report.changed,
        &mut report.missing,
        &mut report.unmanaged,
        &mut report.rotation_due,
        &mut report.leftovers,
    ] {
        list.sort_by(order);
    }
    report
}

fn item(change: &Change, cause: Cause) -> DriftItem {
    let key = change
        .after
        .as_ref()
        .map(|a| a.name.clone())
        .or_else(|| change.before.as_ref().map(|b| b.name.clone()))
        .unwrap_or_default();
    let detail = match (cause, &change.before, &change.after) {
        (Cause::Missing, _, Some(after)) => {
            format!(
                "declared with roles {}, not found live",
                format_roles(&after.roles)
            )
        }
        (Cause::Differs, Some(before), Some(after)) => {
            let mut parts = Vec::new();
            if before.name != after.name {
                parts.push(format!("name {:?} → {:?}", before.name, after.name));
            }
            if before.roles != after.roles {
                parts.push(format!(
                    "roles {} → {}",
                    format_roles(&before.roles),
                    format_roles(&after.roles)
                ));
            }
            format!("live differs from the manifest: {}", parts.join(", "))
        }
        (Cause::Unmanaged, Some(before), _) => format!(
            "roles {}; deleted on apply (unmanaged = \"delete\")",
            format_roles(&before.roles)
        ),
        _ => {
            let verb = match change.action {
                Action::Replace => "replaced on apply",
                Action::Delete => "deleted on apply",
                Action::Create => "created on apply",
                Action::Update => "updated on apply",
            };
            format!("{}; {verb}", change.reason)
        }
    };
    DriftItem {
        project: change.project.clone(),
        key,
        id: change.before.as_ref().map(|b| b.id.clone()),
        detail,
    }
}
