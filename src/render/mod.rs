//! Every word keyplan prints about plans, drift and applies, in every format: human
//! (Terraform's grammar), JSON (a stable, versioned document) and Markdown (pull-request
//! comments and `$GITHUB_STEP_SUMMARY`). The words themselves (verbs, causes, notes, guard
//! reasons, plan errors, roles) are in [`words`]; colour goes through the one [`Paint`].
//!
//! Renderers are pure functions of a [`Plan`] or [`DriftReport`] and [`RenderOptions`]: they
//! never read the environment, the terminal or the clock. Whether to colour is the caller's
//! decision (`commands` checks the terminal, `NO_COLOR` and `--no-color`). Nothing rendered
//! can hold a secret, because plans and reports hold none.

use std::fmt::Write as _;

use crate::model::RoleSet;
use crate::plan::{Action, Change, ChangeKind, Summary};

mod apply;
mod apply_doc;
mod drift;
mod failure;
mod human;
mod json;
mod markdown;
mod overlap;
mod paint;
mod plan_errors;
mod policy;
mod report;
pub mod schemas;
mod validation;
pub mod words;

pub use apply::{
    ApplyTimes, apply_report, apply_report_timed, apply_summary_line, change_label, elapsed,
    event_line,
};
pub use apply_doc::{apply_json_lines, apply_markdown};
pub use paint::Paint;
pub use policy::{violation_detail, violation_fix, violation_line};
pub use report::{report_human, report_json, report_markdown, report_summary_line};
pub use validation::{Validation, github_error, validation_github, validation_json};
use words::{Causes, quoted, roles_inline, verb};

pub use drift::{drift_human, drift_json, drift_markdown, drift_summary_line};
pub use failure::{Failure, failure_json, failure_markdown};
pub use human::human;
pub use json::json;
pub use markdown::{Heading, MARKDOWN_LIMIT, markdown, markdown_headed, marker, plan_marker};

#[cfg(test)]
mod tests;

/// How to render for people.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenderOptions {
    /// Use ANSI colour. Set only for a terminal that wants it.
    pub color: bool,
    /// `--force` overrides the safety guard: a refusal is shown as a warning, not an error.
    pub guard_overridden: bool,
}

/// The plan's last line: `Plan: 2 to create, 1 to update, 0 to replace, 1 to delete.`, or
/// `No changes. Keys match the manifest.`
pub fn summary_line(summary: &Summary) -> String {
    if summary.total() == 0 {
        "No changes. Keys match the manifest.".to_owned()
    } else {
        format!(
            "Plan: {} to create, {} to update, {} to replace, {} to delete.",
            summary.create, summary.update, summary.replace, summary.delete
        )
    }
}

/// The marker in front of a line of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sign {
    None,
    Create,
    Update,
    Replace,
    Delete,
    /// A role the change adds.
    Add,
    /// A role the change removes.
    Remove,
}

impl Sign {
    fn marker(self) -> &'static str {
        match self {
            Sign::None => "",
            Sign::Create | Sign::Add => "+",
            Sign::Update => "~",
            Sign::Replace => "+/-",
            Sign::Delete | Sign::Remove => "-",
        }
    }

    fn of(action: Action) -> Sign {
        match action {
            Action::Create => Sign::Create,
            Action::Update => Sign::Update,
            Action::Replace => Sign::Replace,
            Action::Delete => Sign::Delete,
        }
    }
}

/// One line of a rendered change: a marker, the column its text starts at, and the text.
/// Human output puts the marker just before the text; the Markdown `diff` block puts it in
/// column 0, where GitHub colours it.
#[derive(Debug, Clone)]
struct Line {
    sign: Sign,
    /// A `# ...` comment line (bold on a terminal).
    comment: bool,
    col: usize,
    text: String,
}

impl Line {
    fn new(sign: Sign, col: usize, text: impl Into<String>) -> Self {
        Line {
            sign,
            comment: false,
            col,
            text: text.into(),
        }
    }

    fn human(&self, paint: Paint) -> String {
        let text = if self.comment {
            paint.paint(Paint::BOLD, &self.text)
        } else {
            self.text.clone()
        };
        if self.sign == Sign::None {
            return format!("{}{text}", " ".repeat(self.col));
        }
        let marker = self.sign.marker();
        let pad = self.col.saturating_sub(marker.len() + 1);
        format!("{}{} {text}", " ".repeat(pad), paint.sign(self.sign))
    }

    /// The line in a `diff` code block: GitHub colours `+` green, `-` red and `!` (a change
    /// in place, or a replacement) orange, so updates and replaces never pass for additions.
    fn diff(&self) -> String {
        let marker = match self.sign {
            Sign::Update | Sign::Replace => "!",
            sign => sign.marker(),
        };
        let pad = self.col.saturating_sub(marker.len());
        format!("{marker}{}{}", " ".repeat(pad), self.text)
    }
}

/// The lines of one change, Terraform style.
fn change_lines(change: &Change) -> Vec<Line> {
    let mut lines = Vec::new();
    let before = change.before();
    let id = before
        .map(|b| format!(" (id {})", b.id))
        .unwrap_or_default();
    let shown = quoted(before.map_or(change.key_name(), |b| b.name.as_str()));
    lines.push(Line {
        sign: Sign::None,
        comment: true,
        col: 2,
        text: format!("# key {shown}{id} {}", verb(change.action()).fate),
    });
    let mut head = format!("key {shown}");
    if let (Some(b), Some(a)) = (before, change.after())
        && b.name != a.name
    {
        let _ = write!(head, " -> {}", quoted(&a.name));
    }
    lines.push(Line::new(Sign::of(change.action()), 4, head));
    match &change.kind {
        ChangeKind::Update { before, after } | ChangeKind::Replace { before, after }
            if before.roles != after.roles =>
        {
            lines.push(Line::new(Sign::None, 6, "roles:"));
            lines.extend(role_diff(&before.roles, &after.roles));
        }
        ChangeKind::Create { after }
        | ChangeKind::Update { after, .. }
        | ChangeKind::Replace { after, .. } => lines.push(Line::new(
            Sign::None,
            6,
            format!("roles: {}", roles_inline(&after.roles)),
        )),
        ChangeKind::Delete { before } => lines.push(Line::new(
            Sign::None,
            6,
            format!("roles: {}", roles_inline(&before.roles)),
        )),
    }
    // A create's only cause is that the key is missing, which its `+` already says.
    if change.action() != Action::Create {
        lines.push(Line::new(
            Sign::None,
            6,
            format!("reason: {}", reason(change)),
        ));
    }
    lines
}

/// A change's causes as one line: each cause's sentence, joined by `; `.
pub fn reason(change: &Change) -> String {
    Causes(&change.causes).to_string()
}

/// Roles before → after as one line per role: unchanged roles plain, removed `-`, added `+`.
fn role_diff(before: &RoleSet, after: &RoleSet) -> Vec<Line> {
    let old = words::roles_shown(before);
    let new = words::roles_shown(after);
    let ops = similar::capture_diff_slices(similar::Algorithm::Myers, &old, &new);
    ops.iter()
        .flat_map(|op| op.iter_changes(&old, &new))
        .map(|change| {
            let sign = match change.tag() {
                similar::ChangeTag::Equal => Sign::None,
                similar::ChangeTag::Delete => Sign::Remove,
                similar::ChangeTag::Insert => Sign::Add,
            };
            Line::new(sign, 10, change.value())
        })
        .collect()
}
