//! Organisation policy: the `[[policy]]` rules judged against keys, as data.
//!
//! Pure and clock-free (`now` is passed in), below `manifest` and `plan`, which both use it:
//! `manifest` judges the declared keys of projects it can name offline (`validate`), `plan`
//! judges the declared keys once every project is resolved and refuses a plan that creates
//! past `max_keys`, and [`audit`] judges every live key of the declared projects for `drift`
//! and `report`, ignored keys included: `ignore` stops keyplan changing a key, not the
//! organisation's rules applying to it. Words for violations are `render`'s.

use serde::{Deserialize, Serialize};

use crate::desired::{DesiredKey, PolicyRule};
use crate::model::{KeyId, LiveKey, Project, Role};

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests;

/// What a rule found wrong with one key (or one project, for `max_keys`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "check", rename_all = "snake_case")]
pub enum ViolationKind {
    /// The key holds a role the rule forbids.
    ForbiddenRole { role: Role },
    /// A declared key without `rotate_after` where the rule sets `max_age`.
    NoRotation { max_age: String },
    /// A declared key whose `rotate_after` is longer than the rule's `max_age`.
    RotatesTooLate {
        rotate_after: String,
        max_age: String,
    },
    /// A live key older than the rule's `max_age`.
    TooOld { age_days: i64, max_age: String },
    /// The key's name does not match the rule's `name_pattern`.
    NameMismatch { pattern: String },
    /// The project holds (or would hold) more keys than the rule's `max_keys`.
    TooManyKeys { count: usize, max: usize },
}

/// One violation: which rule, which project and key, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The rule's `path:line`.
    pub rule: String,
    pub project: Project,
    /// The key's name; `None` for a project-wide violation (`max_keys`).
    pub key: Option<String>,
    /// The live key's id; `None` for a declared key judged before it exists.
    pub id: Option<KeyId>,
    pub kind: ViolationKind,
}

/// Whether `rule` covers the project named `name`. A project known only by id (offline) is
/// covered by the rules that name no projects only.
pub fn covers(rule: &PolicyRule, name: Option<&str>) -> bool {
    rule.projects.is_empty() || name.is_some_and(|n| rule.projects.iter().any(|g| g.is_match(n)))
}

/// What `rule` finds wrong with a declared key.
pub fn judge_declared(rule: &PolicyRule, key: &DesiredKey) -> Vec<ViolationKind> {
    let mut found = forbidden(rule, key.roles.iter());
    if let Some(max) = &rule.max_age {
        match &key.rotate_after {
            None => found.push(ViolationKind::NoRotation {
                max_age: max.spelled.clone(),
            }),
            Some(after) if after.limit > max.limit => {
                found.push(ViolationKind::RotatesTooLate {
                    rotate_after: after.spelled.clone(),
                    max_age: max.spelled.clone(),
                });
            }
            Some(_) => {}
        }
    }
    found.extend(mismatch(rule, &key.name));
    found
}

/// What `rule` finds wrong with a live key at `now`, known by `name` (its declared name for a
/// key keyplan is creating or retiring, whose live name carries keyplan's suffix). A key
/// without `created_at` cannot be judged on age.
pub fn judge_live(
    rule: &PolicyRule,
    key: &LiveKey,
    name: &str,
    now: jiff::Timestamp,
) -> Vec<ViolationKind> {
    let mut found = forbidden(rule, key.roles.iter());
    if let (Some(max), Some(created)) = (&rule.max_age, key.created_at) {
        let age = now.duration_since(created);
        if age > max.limit {
            found.push(ViolationKind::TooOld {
                age_days: age.as_secs() / 86_400,
                max_age: max.spelled.clone(),
            });
        }
    }
    found.extend(mismatch(rule, name));
    found
}

/// The `max_keys` violation of a project holding `count` keys, if any.
pub fn judge_count(rule: &PolicyRule, count: usize) -> Option<ViolationKind> {
    rule.max_keys
        .filter(|max| count > *max)
        .map(|max| ViolationKind::TooManyKeys { count, max })
}

fn forbidden<'r>(rule: &PolicyRule, roles: impl Iterator<Item = &'r Role>) -> Vec<ViolationKind> {
    roles
        .filter(|role| rule.forbid_roles.contains(*role))
        .map(|role| ViolationKind::ForbiddenRole { role: role.clone() })
        .collect()
}

fn mismatch(rule: &PolicyRule, name: &str) -> Option<ViolationKind> {
    rule.name_pattern
        .as_ref()
        .filter(|pattern| !pattern.is_match(name))
        .map(|pattern| ViolationKind::NameMismatch {
            pattern: pattern.as_str().to_owned(),
        })
}

/// Every violation of the live keys of one project: each key against each rule covering the
/// project, then each rule's `max_keys` against the number of keys. `name_of` gives the name
/// a key is judged by (see [`judge_live`]); keys are taken in the order given.
pub fn audit(
    rules: &[PolicyRule],
    project: &Project,
    keys: &[LiveKey],
    name_of: impl Fn(&LiveKey) -> String,
    now: jiff::Timestamp,
) -> Vec<Violation> {
    let mut found = Vec::new();
    for rule in rules.iter().filter(|r| covers(r, Some(&project.name))) {
        for key in keys {
            let name = name_of(key);
            for kind in judge_live(rule, key, &name, now) {
                found.push(Violation {
                    rule: rule.location.clone(),
                    project: project.clone(),
                    key: Some(key.name.clone()),
                    id: Some(key.id.clone()),
                    kind,
                });
            }
        }
        if let Some(kind) = judge_count(rule, keys.len()) {
            found.push(Violation {
                rule: rule.location.clone(),
                project: project.clone(),
                key: None,
                id: None,
                kind,
            });
        }
    }
    found
}
