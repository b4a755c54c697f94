//! Rendering plans and drift reports as text: human (Terraform's grammar), JSON (a stable,
//! versioned document) and Markdown (pull-request comments and `$GITHUB_STEP_SUMMARY`).
//!
//! Renderers are pure functions of a [`Plan`] or [`DriftReport`] and [`RenderOptions`]: they
//! never read the environment, the terminal or the clock. Whether to colour is the caller's
//! decision (`commands` checks the terminal, `NO_COLOR` and `--no-color`). Nothing rendered
//! can hold a secret, because plans and reports hold none.

use std::fmt::Write as _;

use crate::model::RoleSet;
use crate::plan::{Action, Change, Summary};

mod drift;
mod human;
mod json;
mod markdown;

pub use drift::{drift_human, drift_json, drift_markdown, drift_summary_line};
pub use human::human;
pub use json::json;
pub use markdown::{MARKDOWN_LIMIT, markdown};

#[cfg(test)]
mod tests;

/// How to render for people.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenderOptions {
    /// Use ANSI colour. Set only for a terminal that wants it.
    pub color: bool,
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

/// ANSI styling that does nothing when colour is off.
#[derive(Debug, Clone, Copy)]
struct Paint {
    color: bool,
}

impl Paint {
    const BOLD: &'static str = "1";
    const RED: &'static str = "31";
    const GREEN: &'static str = "32";
    const YELLOW: &'static str = "33";
    const BOLD_RED: &'static str = "1;31";
    const DIM: &'static str = "2";

    fn paint(self, code: &str, text: &str) -> String {
        if self.color && !text.is_empty() {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn sign(self, sign: Sign) -> String {
        match sign {
            Sign::Replace => {
                if self.color {
                    format!(
                        "{}/{}",
                        self.paint(Self::GREEN, "+"),
                        self.paint(Self::RED, "-")
                    )
                } else {
                    "+/-".to_owned()
                }
            }
            Sign::Create | Sign::Add => self.paint(Self::GREEN, sign.marker()),
            Sign::Update => self.paint(Self::YELLOW, sign.marker()),
            Sign::Delete | Sign::Remove => self.paint(Self::RED, sign.marker()),
            Sign::None => String::new(),
        }
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

    fn diff(&self) -> String {
        let marker = self.sign.marker();
        let pad = self.col.saturating_sub(marker.len());
        format!("{marker}{}{}", " ".repeat(pad), self.text)
    }
}

/// A key's name as output shows it: quoted, with control characters escaped, so that no name
/// can break a line or forge another.
fn quoted(name: &str) -> String {
    format!("{name:?}")
}

fn role_names(roles: &RoleSet) -> Vec<&'static str> {
    roles.iter().map(|r| r.as_str()).collect()
}

fn roles_inline(roles: &RoleSet) -> String {
    let names = role_names(roles);
    if names.is_empty() {
        "(none)".to_owned()
    } else {
        names.join(", ")
    }
}

/// The lines of one change, Terraform style.
fn change_lines(change: &Change) -> Vec<Line> {
    let mut lines = Vec::new();
    let before = change.before.as_ref();
    let after = change.after.as_ref();
    let id = before
        .map(|b| format!(" (id {})", b.id))
        .unwrap_or_default();
    let shown = before.map_or_else(
        || after.map(|a| quoted(&a.name)).unwrap_or_default(),
        |b| quoted(&b.name),
    );
    let fate = match change.action {
        Action::Create => "will be created",
        Action::Update => "will be updated in place",
        Action::Replace => "must be replaced",
        Action::Delete => "will be deleted",
    };
    lines.push(Line {
        sign: Sign::None,
        comment: true,
        col: 2,
        text: format!("# key {shown}{id} {fate}"),
    });
    let mut head = format!("key {shown}");
    if let (Some(b), Some(a)) = (before, after)
        && b.name != a.name
    {
        let _ = write!(head, " -> {}", quoted(&a.name));
    }
    lines.push(Line::new(Sign::of(change.action), 4, head));
    match (before, after) {
        (Some(b), Some(a)) if b.roles != a.roles => {
            lines.push(Line::new(Sign::None, 6, "roles:"));
            lines.extend(role_diff(&b.roles, &a.roles));
        }
        (_, Some(a)) => lines.push(Line::new(
            Sign::None,
            6,
            format!("roles: {}", roles_inline(&a.roles)),
        )),
        (Some(b), None) => lines.push(Line::new(
            Sign::None,
            6,
            format!("roles: {}", roles_inline(&b.roles)),
        )),
        (None, None) => {}
    }
    let reason_wanted = matches!(change.action, Action::Replace | Action::Delete)
        || !change.reason.is_empty() && change.action == Action::Update;
    if reason_wanted {
        lines.push(Line::new(
            Sign::None,
            6,
            format!("reason: {}", change.reason),
        ));
    }
    lines
}

/// Roles before → after as one line per role: unchanged roles plain, removed `-`, added `+`.
fn role_diff(before: &RoleSet, after: &RoleSet) -> Vec<Line> {
    let old = role_names(before);
    let new = role_names(after);
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
