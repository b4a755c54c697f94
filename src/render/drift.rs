//! The drift report in the three formats: human, JSON and Markdown.

use std::fmt::Write as _;

use serde::Serialize;

use crate::plan::{DriftItem, DriftKind, DriftReport, FORMAT_VERSION, PlanNote};

use super::json::{NoteDoc, ProjectDoc, to_pretty};
use super::markdown::{Heading, MARKDOWN_LIMIT, code, escape_text, head};
use super::policy::ViolationDoc;
use super::words::{BracketedRoles, Causes, verb};
use super::{Paint, RenderOptions, quoted};

/// What a drift finding is, in words.
fn detail(item: &DriftItem) -> String {
    match &item.kind {
        DriftKind::Missing { roles } => format!(
            "declared with roles {}, not found live",
            BracketedRoles(roles)
        ),
        DriftKind::Changed { before, after } => {
            let mut parts = Vec::new();
            if before.name != after.name {
                parts.push(format!(
                    "name {} → {}",
                    quoted(&before.name),
                    quoted(&after.name)
                ));
            }
            if before.roles != after.roles {
                parts.push(format!(
                    "roles {} → {}",
                    BracketedRoles(&before.roles),
                    BracketedRoles(&after.roles)
                ));
            }
            format!("live differs from the manifest: {}", parts.join(", "))
        }
        DriftKind::Unmanaged { roles, kept: true } => format!(
            "roles {}; kept (unmanaged = \"keep\")",
            BracketedRoles(roles)
        ),
        DriftKind::Unmanaged { roles, kept: false } => format!(
            "roles {}; deleted on apply (unmanaged = \"delete\")",
            BracketedRoles(roles)
        ),
        DriftKind::Pending { action, causes } => {
            format!("{}; {} on apply", Causes(causes), verb(*action).past)
        }
    }
}

/// The report's sections, in the order every format shows them.
fn sections(report: &DriftReport) -> [(&'static str, &'static str, &[DriftItem]); 5] {
    [
        (
            "changed",
            "Changed outside keyplan (name or roles differ from the manifest)",
            &report.changed,
        ),
        (
            "missing",
            "Missing (declared in the manifest, not found live)",
            &report.missing,
        ),
        (
            "unmanaged",
            "Unmanaged (live, not declared in the manifest)",
            &report.unmanaged,
        ),
        (
            "rotation_due",
            "Due for rotation (older than rotate_after)",
            &report.rotation_due,
        ),
        (
            "leftovers",
            "Left by interrupted or concurrent applies",
            &report.leftovers,
        ),
    ]
}

/// The last line: `Drift: 1 changed, 0 missing, 2 unmanaged, 0 due for rotation, 0
/// leftovers.` or `No drift. Keys match the manifest.`
pub fn drift_summary_line(report: &DriftReport) -> String {
    if report.is_clean() {
        "No drift. Keys match the manifest.".to_owned()
    } else {
        format!(
            "Drift: {} changed, {} missing, {} unmanaged, {} due for rotation, {} {}.",
            report.changed.len(),
            report.missing.len(),
            report.unmanaged.len(),
            report.rotation_due.len(),
            report.leftovers.len(),
            if report.leftovers.len() == 1 {
                "leftover"
            } else {
                "leftovers"
            }
        ) + &policy_count(report)
    }
}

/// `; 2 policy violations` before the final stop, when there are any.
fn policy_count(report: &DriftReport) -> String {
    match report.violations.len() {
        0 => String::new(),
        n => format!(" Policy: {}.", super::words::count(n, "violation")),
    }
}

fn item_line(item: &DriftItem) -> String {
    let id = item
        .id
        .as_ref()
        .map(|id| format!(" (id {id})"))
        .unwrap_or_default();
    format!(
        "project {} ({}), key {}{id}: {}",
        quoted(&item.project.name),
        item.project.id,
        quoted(&item.key),
        detail(item)
    )
}

/// Renders a drift report for a terminal or a log.
pub fn drift_human(report: &DriftReport, opts: &RenderOptions) -> String {
    let paint = Paint::new(opts.color);
    let mut out = String::new();
    for (_, title, items) in sections(report) {
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{}", paint.paint(Paint::BOLD, &format!("{title}:")));
        for item in items {
            let _ = writeln!(
                out,
                "  {} {}",
                paint.paint(Paint::YELLOW, "!"),
                item_line(item)
            );
        }
        out.push('\n');
    }
    out.push_str(&super::policy::violations_human(&report.violations, paint));
    if !report.notes.is_empty() {
        let _ = writeln!(out, "{}", paint.paint(Paint::BOLD, "Notes:"));
        for note in &report.notes {
            let _ = writeln!(
                out,
                "  {} project {} ({}), key {}: {}",
                paint.paint(Paint::DIM, "-"),
                quoted(&note.project.name),
                note.project.id,
                quoted(&note.key),
                note.kind
            );
        }
        out.push('\n');
    }
    out.push_str(&paint.paint(Paint::BOLD, &drift_summary_line(report)));
    out.push('\n');
    out
}

#[derive(Serialize)]
struct DriftDoc<'a> {
    format_version: &'static str,
    clean: bool,
    summary: DriftSummaryDoc,
    changed: Vec<ItemDoc<'a>>,
    missing: Vec<ItemDoc<'a>>,
    unmanaged: Vec<ItemDoc<'a>>,
    rotation_due: Vec<ItemDoc<'a>>,
    leftovers: Vec<ItemDoc<'a>>,
    violations: Vec<ViolationDoc<'a>>,
    notes: Vec<NoteDoc<'a>>,
    projects: Vec<ProjectDoc<'a>>,
}

#[derive(Serialize)]
struct DriftSummaryDoc {
    changed: usize,
    missing: usize,
    unmanaged: usize,
    rotation_due: usize,
    leftovers: usize,
    violations: usize,
}

#[derive(Serialize)]
struct ItemDoc<'a> {
    project: ProjectDoc<'a>,
    key: &'a str,
    id: Option<&'a str>,
    detail: String,
}

fn items(list: &[DriftItem]) -> Vec<ItemDoc<'_>> {
    list.iter()
        .map(|i| ItemDoc {
            project: ProjectDoc::of(&i.project),
            key: &i.key,
            id: i.id.as_ref().map(crate::model::KeyId::as_str),
            detail: detail(i),
        })
        .collect()
}

/// Renders a drift report as a versioned JSON document (same stability rules as the plan's).
pub fn drift_json(report: &DriftReport) -> String {
    to_pretty(&DriftDoc {
        format_version: FORMAT_VERSION,
        clean: report.is_clean(),
        summary: DriftSummaryDoc {
            changed: report.changed.len(),
            missing: report.missing.len(),
            unmanaged: report.unmanaged.len(),
            rotation_due: report.rotation_due.len(),
            leftovers: report.leftovers.len(),
            violations: report.violations.len(),
        },
        changed: items(&report.changed),
        missing: items(&report.missing),
        unmanaged: items(&report.unmanaged),
        rotation_due: items(&report.rotation_due),
        leftovers: items(&report.leftovers),
        violations: report.violations.iter().map(ViolationDoc::of).collect(),
        notes: report.notes.iter().map(NoteDoc::of).collect(),
        projects: report.projects.iter().map(ProjectDoc::of).collect(),
    })
}

/// Renders a drift report as Markdown for `$GITHUB_STEP_SUMMARY` or an issue, under
/// [`MARKDOWN_LIMIT`] bytes.
pub fn drift_markdown(report: &DriftReport, heading: Heading) -> String {
    let limit = MARKDOWN_LIMIT - 1_000;
    let mut out = head("drift", "", heading, "Audited in");
    if report.is_clean() {
        out.push_str("> [!NOTE]\n> No drift. Keys match the manifest.\n\n");
    } else {
        let _ = write!(
            out,
            "> [!WARNING]\n> {}\n\n| Finding | Keys |\n|---|--:|\n",
            drift_summary_line(report)
        );
        for (_, title, list) in sections(report) {
            let _ = writeln!(out, "| {} | {} |", escape_text(title), list.len());
        }
        if !report.violations.is_empty() {
            let _ = writeln!(out, "| Policy violations | {} |", report.violations.len());
        }
        out.push('\n');
    }
    // The findings, then the notes, each a section of lines; once one line does not fit, the
    // rest are only counted, so what is shown is a prefix of the report.
    let findings = sections(report).map(|(_, title, list)| {
        let lines: Vec<String> = list.iter().map(finding_line).collect();
        (title, lines)
    });
    let violations = (
        "Policy violations",
        report
            .violations
            .iter()
            .map(super::policy::violation_markdown)
            .collect(),
    );
    let notes = ("Notes", report.notes.iter().map(note_line).collect());
    let mut left_out = 0;
    for (title, lines) in findings.into_iter().chain([violations, notes]) {
        if lines.is_empty() {
            continue;
        }
        let _ = write!(out, "### {}\n\n", escape_text(title));
        for line in lines {
            if left_out > 0 || out.len() + line.len() > limit {
                left_out += 1;
                continue;
            }
            out.push_str(&line);
        }
        out.push('\n');
    }
    if left_out > 0 {
        let _ = writeln!(
            out,
            "> [!NOTE]\n> **Truncated** to stay under GitHub's size limit: {left_out} more \
             findings not shown. The counts above are complete. Run `keyplan drift` or \
             `keyplan drift --format json` for the whole report."
        );
    }
    out
}

/// A finding as a Markdown list item.
fn finding_line(item: &DriftItem) -> String {
    let id = item
        .id
        .as_ref()
        .map(|id| format!(" ({})", code(id.as_str())))
        .unwrap_or_default();
    format!(
        "- {}{id} in project {}: {}\n",
        code(&quoted(&item.key)),
        code(&quoted(&item.project.name)),
        escape_text(&detail(item))
    )
}

/// A note as a Markdown list item.
fn note_line(note: &PlanNote) -> String {
    format!(
        "- {} in project {}: {}\n",
        code(&quoted(&note.key)),
        code(&quoted(&note.project.name)),
        escape_text(&note.kind.to_string())
    )
}
