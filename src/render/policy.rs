//! Policy violations in words: what is wrong and how to fix it, the same sentence in every
//! format (human, JSON `detail`/`fix`, Markdown), for `drift`, `report` and a refused plan.

use crate::policy::{Violation, ViolationKind};

use std::fmt::Write as _;

use super::words::quoted;

/// What is wrong, without the key or the rule: "has role `ProjectEditor`, which the policy
/// forbids".
pub fn violation_detail(kind: &ViolationKind) -> String {
    match kind {
        ViolationKind::ForbiddenRole { role } => {
            format!(
                "has role {}, which the policy forbids",
                super::words::role_shown(role)
            )
        }
        ViolationKind::NoRotation { max_age } => {
            format!("has no rotate_after, but the policy's max_age is {max_age}")
        }
        ViolationKind::RotatesTooLate {
            rotate_after,
            max_age,
        } => format!("rotates after {rotate_after}, later than the policy's max_age of {max_age}"),
        ViolationKind::TooOld { age_days, max_age } => {
            format!("is {age_days} days old, older than the policy's max_age of {max_age}")
        }
        ViolationKind::NameMismatch { pattern } => {
            format!(
                "name does not match the policy's name_pattern {}",
                quoted(pattern)
            )
        }
        ViolationKind::TooManyKeys { count, max } => {
            format!("holds {count} keys, more than the policy's max_keys of {max}")
        }
    }
}

/// How to fix it.
pub fn violation_fix(kind: &ViolationKind) -> String {
    match kind {
        ViolationKind::ForbiddenRole { role } => format!(
            "take {} from the key: declare it without the role, or replace it with a key that lacks it",
            super::words::role_shown(role)
        ),
        ViolationKind::NoRotation { max_age } | ViolationKind::RotatesTooLate { max_age, .. } => {
            format!("set rotate_after = \"{max_age}\" or less on the key")
        }
        ViolationKind::TooOld { .. } => {
            "rotate the key: declare rotate_after no longer than max_age, or run \
             `keyplan apply --replace PROJECT/KEY`"
                .to_owned()
        }
        ViolationKind::NameMismatch { .. } => {
            "rename the key (declare the new name with the old one in previous_names)".to_owned()
        }
        ViolationKind::TooManyKeys { max, .. } => {
            format!("delete keys until the project holds {max} or fewer")
        }
    }
}

/// One violation on one line: "project "p" (id), key "k" (id K): has role ...; fix: ... (policy
/// rule at keyplan.toml:3)".
pub fn violation_line(violation: &Violation) -> String {
    let subject = match (&violation.key, &violation.id) {
        (Some(key), Some(id)) => format!(", key {} (id {id})", quoted(key)),
        (Some(key), None) => format!(", key {}", quoted(key)),
        (None, _) => String::new(),
    };
    format!(
        "project {} ({}){subject}: {}; fix: {} (policy rule at {})",
        quoted(&violation.project.name),
        violation.project.id,
        violation_detail(&violation.kind),
        violation_fix(&violation.kind),
        violation.rule
    )
}

/// A plan refused for its violations: a heading and one line each.
pub(super) fn refusal(violations: &[Violation]) -> String {
    let mut msg = format!(
        "the manifest breaks the organisation's policy ({}):",
        super::words::count(violations.len(), "violation")
    );
    for violation in violations {
        let _ = write!(msg, "\n  - {}", violation_line(violation));
    }
    msg
}

/// A violation in a JSON document: the check's data, and its sentence and fix.
#[derive(serde::Serialize)]
pub(super) struct ViolationDoc<'a> {
    rule: &'a str,
    project: super::json::ProjectDoc<'a>,
    key: Option<&'a str>,
    id: Option<&'a str>,
    #[serde(flatten)]
    kind: &'a ViolationKind,
    detail: String,
    fix: String,
}

impl<'a> ViolationDoc<'a> {
    pub(super) fn of(violation: &'a Violation) -> Self {
        ViolationDoc {
            rule: &violation.rule,
            project: super::json::ProjectDoc::of(&violation.project),
            key: violation.key.as_deref(),
            id: violation.id.as_ref().map(crate::model::KeyId::as_str),
            kind: &violation.kind,
            detail: violation_detail(&violation.kind),
            fix: violation_fix(&violation.kind),
        }
    }
}

/// The "Policy violations:" section of a human report; empty when there are none.
pub(super) fn violations_human<'a>(
    violations: impl IntoIterator<Item = &'a Violation>,
    paint: super::Paint,
) -> String {
    let mut violations = violations.into_iter().peekable();
    if violations.peek().is_none() {
        return String::new();
    }
    let mut out = format!(
        "{}\n",
        paint.paint(super::Paint::BOLD, "Policy violations:")
    );
    for violation in violations {
        let _ = writeln!(
            out,
            "  {} {}",
            paint.paint(super::Paint::RED, "✗"),
            violation_line(violation)
        );
    }
    out.push('\n');
    out
}

/// A violation as a Markdown list item.
pub(super) fn violation_markdown(violation: &Violation) -> String {
    use super::markdown::{code, escape_text};
    let key = violation
        .key
        .as_ref()
        .map(|k| format!("{} in ", code(&quoted(k))))
        .unwrap_or_default();
    format!(
        "- {key}project {}: {}. Fix: {} (rule at {})\n",
        code(&quoted(&violation.project.name)),
        escape_text(&violation_detail(&violation.kind)),
        escape_text(&violation_fix(&violation.kind)),
        code(&violation.rule)
    )
}
