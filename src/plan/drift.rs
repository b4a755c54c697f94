//! The drift report: the scheduled audit's view of a plan.
//!
//! `keyplan drift` asks "does the live state still match the manifest?", not "what would
//! apply do?". It reports what a plan would hide or treat as routine: keys changed outside
//! keyplan, declared keys that are missing, live keys the manifest does not declare (even
//! where `unmanaged = "keep"` keeps them), keys due for rotation, and leftovers of interrupted
//! or concurrent applies. It is derived from a [`Plan`] alone, so both always agree.

use crate::model::{KeyId, Project, RoleSet};

use super::{Action, Cause, Change, KeyAfter, KeyBefore, Plan, PlanNote};

/// One finding of the drift report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftItem {
    pub project: Project,
    /// The key's name: the declared name where there is one, else the live name.
    pub key: String,
    /// The live key's id; `None` for a missing key.
    pub id: Option<KeyId>,
    pub kind: DriftKind,
}

/// What a drift finding is, as data (render words it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriftKind {
    /// Declared with these roles, not found live.
    Missing { roles: RoleSet },
    /// The live key's name or roles differ from the manifest.
    Changed { before: KeyBefore, after: KeyAfter },
    /// Not declared; `kept` by `unmanaged = "keep"`, else deleted on apply.
    Unmanaged { roles: RoleSet, kept: bool },
    /// Due for rotation, or left by an interrupted apply: what apply would do, and why.
    Pending { action: Action, causes: Vec<Cause> },
}

/// What differs between the manifest and the live keys. Each list is sorted like the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftReport {
    /// Projects looked at, sorted by id.
    pub projects: Vec<Project>,
    /// Declared keys whose live name or roles differ from the manifest.
    pub changed: Vec<DriftItem>,
    /// Declared keys with no live key.
    pub missing: Vec<DriftItem>,
    /// Live keys the manifest does not declare (and does not ignore).
    pub unmanaged: Vec<DriftItem>,
    /// Keys older than their `rotate_after`, and retiring keys past their `rotation_overlap`.
    pub rotation_due: Vec<DriftItem>,
    /// Keys left by an interrupted replace or create, and duplicates left by an interrupted
    /// or concurrent apply.
    pub leftovers: Vec<DriftItem>,
    /// Not drift, but worth knowing (e.g. a key whose age cannot be checked).
    pub notes: Vec<PlanNote>,
    /// Live keys breaking the `[[policy]]` rules ([`super::audit`]), set by the caller, which
    /// has the live state.
    pub violations: Vec<crate::policy::Violation>,
}

impl DriftReport {
    /// No drift and no policy violation: every list but the notes is empty.
    pub fn is_clean(&self) -> bool {
        self.changed.is_empty()
            && self.missing.is_empty()
            && self.unmanaged.is_empty()
            && self.rotation_due.is_empty()
            && self.leftovers.is_empty()
            && self.violations.is_empty()
    }
}

/// The drift report of a plan.
pub fn drift(plan: &Plan) -> DriftReport {
    let mut report = DriftReport {
        projects: plan.projects.clone(),
        changed: Vec::new(),
        missing: Vec::new(),
        unmanaged: Vec::new(),
        rotation_due: Vec::new(),
        leftovers: Vec::new(),
        notes: plan.notes.clone(),
        violations: Vec::new(),
    };
    for change in &plan.changes {
        // A leftover is only a leftover: finishing a create whose roles differ is not a key
        // changed outside keyplan.
        if change.causes.iter().any(Cause::is_leftover) {
            report.leftovers.push(pending(change));
            continue;
        }
        if change.causes.contains(&Cause::Missing)
            && let Some(after) = change.after()
        {
            report.missing.push(item(
                change,
                DriftKind::Missing {
                    roles: after.roles.clone(),
                },
            ));
        }
        if change.causes.iter().any(Cause::is_difference)
            && let (Some(before), Some(after)) = (change.before(), change.after())
        {
            report.changed.push(item(
                change,
                DriftKind::Changed {
                    before: before.clone(),
                    after: after.clone(),
                },
            ));
        }
        // A retiring key past its rotation_overlap is an unfinished rotation.
        if change
            .causes
            .iter()
            .any(|c| matches!(c, Cause::RotationDue(_) | Cause::OverlapEnded { .. }))
        {
            report.rotation_due.push(pending(change));
        }
        if change.causes.contains(&Cause::Unmanaged)
            && let Some(before) = change.before()
        {
            report.unmanaged.push(item(
                change,
                DriftKind::Unmanaged {
                    roles: before.roles.clone(),
                    kept: false,
                },
            ));
        }
    }
    for kept in &plan.unmanaged {
        report.unmanaged.push(DriftItem {
            project: kept.project.clone(),
            key: kept.key.name.clone(),
            id: Some(kept.key.id.clone()),
            kind: DriftKind::Unmanaged {
                roles: kept.key.roles.clone(),
                kept: true,
            },
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

fn pending(change: &Change) -> DriftItem {
    item(
        change,
        DriftKind::Pending {
            action: change.action(),
            causes: change.causes.clone(),
        },
    )
}

fn item(change: &Change, kind: DriftKind) -> DriftItem {
    DriftItem {
        project: change.project.clone(),
        key: change.key_name().to_owned(),
        id: change.before().map(|b| b.id.clone()),
        kind,
    }
}
