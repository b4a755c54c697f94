//! The human plan, in Terraform's grammar: `+` create, `~` update, `+/-` replace, `-` delete,
//! grouped by project, with unmanaged keys, notes and any guard refusal after the changes and
//! the summary line last.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::model::{Project, ProjectId};
use crate::plan::{Change, GuardRefusal, Plan};

use super::words::{GUARD_ADVICE, GUARD_OVERRIDDEN, guard_reasons};
use super::{Paint, RenderOptions, change_lines, quoted, roles_inline, summary_line};

/// Renders a plan for a terminal or a log.
pub fn human(plan: &Plan, opts: &RenderOptions) -> String {
    let paint = Paint::new(opts.color);
    let mut out = String::new();
    if !plan.changes.is_empty() {
        out.push_str("keyplan will perform the following actions:\n");
        for (project, changes) in by_project(&plan.changes) {
            let _ = write!(out, "\n{}\n", project_heading(project, paint));
            for change in changes {
                out.push('\n');
                for line in change_lines(change) {
                    out.push_str(&line.human(paint));
                    out.push('\n');
                }
            }
        }
    }
    if !plan.unmanaged.is_empty() {
        let _ = writeln!(
            out,
            "{}Unmanaged keys: live, not in the manifest, kept because unmanaged = \"keep\"",
            if out.is_empty() { "" } else { "\n" }
        );
        let mut last: Option<&Project> = None;
        for kept in &plan.unmanaged {
            if last != Some(&kept.project) {
                let _ = write!(out, "\n{}\n", project_heading(&kept.project, paint));
                last = Some(&kept.project);
            }
            let _ = writeln!(
                out,
                "    key {} (id {}): roles {}",
                quoted(&kept.key.name),
                kept.key.id,
                roles_inline(&kept.key.roles)
            );
        }
    }
    if !plan.notes.is_empty() {
        let _ = writeln!(out, "{}Notes:", if out.is_empty() { "" } else { "\n" });
        for note in &plan.notes {
            let _ = writeln!(
                out,
                "  - project {} ({}), key {}: {}",
                quoted(&note.project.name),
                note.project.id,
                quoted(&note.key),
                note.kind
            );
        }
    }
    if let Some(guard) = &plan.guard {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&guard_box(guard, opts.guard_overridden, paint));
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(&paint.paint(Paint::BOLD, &summary_line(&plan.summary)));
    out.push('\n');
    out
}

pub(super) fn project_heading(project: &Project, paint: Paint) -> String {
    paint.paint(
        Paint::BOLD,
        &format!("Project {} (id {})", quoted(&project.name), project.id),
    )
}

/// The plan's changes grouped by project, in plan order within each project. Projects come
/// in the order the plan sorts them: by name, then id.
pub(super) fn by_project(changes: &[Change]) -> Vec<(&Project, Vec<&Change>)> {
    let mut groups: BTreeMap<(&str, &ProjectId), (&Project, Vec<&Change>)> = BTreeMap::new();
    for change in changes {
        groups
            .entry((&change.project.name, &change.project.id))
            .or_insert_with(|| (&change.project, Vec::new()))
            .1
            .push(change);
    }
    groups.into_values().collect()
}

/// The guard's refusal in Terraform's error box, one reason a line, then what to do; a
/// warning box instead when `--force` overrides it.
fn guard_box(guard: &GuardRefusal, overridden: bool, paint: Paint) -> String {
    let (colour, title, advice) = if overridden {
        (
            Paint::YELLOW,
            paint.paint(Paint::BOLD_YELLOW, GUARD_OVERRIDDEN),
            None,
        )
    } else {
        (
            Paint::RED,
            paint.paint(Paint::BOLD_RED, "Error: refused by the safety guard"),
            Some(GUARD_ADVICE),
        )
    };
    let bar = paint.paint(colour, "│");
    let mut out = String::new();
    let _ = writeln!(out, "{}", paint.paint(colour, "╷"));
    let _ = writeln!(out, "{bar} {title}");
    let _ = writeln!(out, "{bar}");
    for reason in guard_reasons(guard) {
        let _ = writeln!(out, "{bar} {reason}");
    }
    if let Some(advice) = advice {
        let _ = writeln!(out, "{bar} {advice}");
    }
    let _ = writeln!(out, "{}", paint.paint(colour, "╵"));
    out
}
