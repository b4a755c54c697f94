//! The policy rules in a plan: a plan may not create or keep a declared key that breaks a
//! rule, nor create keys in a project past a rule's `max_keys`.
//!
//! The manifest already judged the projects it names (`validate`); here every project is
//! judged under its resolved name, so a project declared by `id` meets the rules that name it
//! by glob too. Live keys breaking a rule are `drift`'s and `report`'s (see
//! [`crate::plan::audit`]), not a reason to refuse a plan that may be fixing them.

use crate::desired::{Desired, DesiredProject};
use crate::model::Project;
use crate::policy::{Violation, covers, judge_count, judge_declared};

use super::super::{Action, Change, PlanError};

/// The violations of one project's plan: its declared keys against each covering rule, and
/// `max_keys` against the keys it will hold when `changes` (this project's) create any.
pub(super) fn judge(
    desired: &Desired,
    declared: &DesiredProject,
    project: &Project,
    live_count: usize,
    changes: &[Change],
    errors: &mut Vec<PlanError>,
) {
    let mut violations = Vec::new();
    let creates = changes
        .iter()
        .filter(|c| c.action() == Action::Create)
        .count();
    let deletes = changes
        .iter()
        .filter(|c| c.action() == Action::Delete)
        .count();
    let after = (live_count + creates).saturating_sub(deletes);
    for rule in desired
        .policies
        .iter()
        .filter(|r| covers(r, Some(&project.name)))
    {
        for key in &declared.keys {
            for kind in judge_declared(rule, key) {
                violations.push(Violation {
                    rule: rule.location.clone(),
                    project: project.clone(),
                    key: Some(key.name.clone()),
                    id: None,
                    kind,
                });
            }
        }
        if creates > 0
            && let Some(kind) = judge_count(rule, after)
        {
            violations.push(Violation {
                rule: rule.location.clone(),
                project: project.clone(),
                key: None,
                id: None,
                kind,
            });
        }
    }
    if !violations.is_empty() {
        errors.push(PlanError::Policy { violations });
    }
}
