//! `keyplan report` in the three formats: every live key of the declared projects with its
//! age, roles, rotation due date, how the manifest treats it and its policy status.

use std::fmt::Write as _;

use serde::Serialize;

use crate::plan::{FORMAT_VERSION, Inventory, InventoryKey, Managed};

use super::json::{ProjectDoc, to_pretty};
use super::markdown::{MARKDOWN_LIMIT, code, escape_text};
use super::policy::{ViolationDoc, violation_detail};
use super::words::{quoted, roles_inline};
use super::{Paint, RenderOptions};

fn managed_word(managed: Managed) -> &'static str {
    match managed {
        Managed::Declared => "declared",
        Managed::InFlight => "in flight",
        Managed::Ignored => "ignored",
        Managed::Unmanaged => "unmanaged",
    }
}

fn age(key: &InventoryKey) -> String {
    key.age_days
        .map_or_else(|| "unknown".to_owned(), |days| format!("{days}d"))
}

/// The due date, and whether it has passed.
fn due(key: &InventoryKey, report: &Inventory) -> String {
    match key.rotation_due {
        Some(at) if at <= report.now => format!("{} (overdue)", date(at)),
        Some(at) => date(at),
        None if key.rotate_after.is_some() => "unknown (no created_at)".to_owned(),
        None => "-".to_owned(),
    }
}

fn date(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%d").to_string()
}

fn status(key: &InventoryKey) -> String {
    match key.violations.len() {
        0 => "ok".to_owned(),
        n => format!("{} ({})", super::words::count(n, "violation"), details(key)),
    }
}

fn details(key: &InventoryKey) -> String {
    key.violations
        .iter()
        .map(|v| violation_detail(&v.kind))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The last line: `12 keys in 3 projects; 2 with policy violations, 1 due for rotation.`
pub fn report_summary_line(report: &Inventory) -> String {
    let violating = report
        .keys
        .iter()
        .filter(|k| !k.violations.is_empty())
        .count();
    let overdue = report
        .keys
        .iter()
        .filter(|k| k.rotation_due.is_some_and(|at| at <= report.now))
        .count();
    format!(
        "{} in {}; {} with policy violations, {} due for rotation{}.",
        super::words::count(report.keys.len(), "key"),
        super::words::count(report.projects.len(), "project"),
        violating,
        overdue,
        match report.project_violations.len() {
            0 => String::new(),
            n => format!("; {}", super::words::count(n, "project-wide violation")),
        }
    )
}

/// The report for a terminal or a log: one aligned table per project.
pub fn report_human(report: &Inventory, opts: &RenderOptions) -> String {
    let paint = Paint::new(opts.color);
    let mut out = format!(
        "Keys as of {}:\n\n",
        report.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    );
    let header = [
        "KEY",
        "ID",
        "ROLES",
        "AGE",
        "ROTATION DUE",
        "MANAGED",
        "POLICY",
    ];
    // Keys are sorted as the projects are: each project's keys are the next run of them.
    let mut start = 0;
    for project in &report.projects {
        let end = start
            + report.keys[start..]
                .iter()
                .take_while(|k| k.project == *project)
                .count();
        if start == end {
            let title = format!(
                "Project {} ({}): no keys",
                quoted(&project.name),
                project.id
            );
            let _ = writeln!(out, "{}\n", paint.paint(Paint::BOLD, &title));
            continue;
        }
        let rows: Vec<[String; 7]> = report.keys[start..end]
            .iter()
            .map(|k| {
                [
                    quoted(&k.name),
                    k.id.to_string(),
                    roles_inline(&k.roles),
                    age(k),
                    due(k, report),
                    managed_word(k.managed).to_owned(),
                    status(k),
                ]
            })
            .collect();
        let mut widths = header.map(|h| h.chars().count());
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let _ = writeln!(
            out,
            "{}",
            paint.paint(
                Paint::BOLD,
                &format!("Project {} ({}):", quoted(&project.name), project.id)
            )
        );
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            format!("  {}", padded.join("  ").trim_end())
        };
        let _ = writeln!(out, "{}", line(&header.map(str::to_owned)));
        for row in rows {
            let text = line(&row);
            let painted = if row[6] == "ok" {
                text
            } else {
                paint.paint(Paint::RED, &text)
            };
            let _ = writeln!(out, "{painted}");
        }
        out.push('\n');
        start = end;
    }
    out.push_str(&super::policy::violations_human(report.violations(), paint));
    out.push_str(&paint.paint(Paint::BOLD, &report_summary_line(report)));
    out.push('\n');
    out
}

#[derive(Serialize)]
struct ReportDoc<'a> {
    format_version: &'static str,
    generated_at: String,
    projects: Vec<ProjectDoc<'a>>,
    keys: Vec<KeyDoc<'a>>,
    project_violations: Vec<ViolationDoc<'a>>,
}

#[derive(Serialize)]
struct KeyDoc<'a> {
    project: ProjectDoc<'a>,
    name: &'a str,
    id: &'a str,
    roles: Vec<&'a str>,
    created_at: Option<String>,
    age_days: Option<i64>,
    managed: Managed,
    rotate_after: Option<&'a str>,
    rotation_due: Option<String>,
    rotation_overdue: bool,
    policy: &'static str,
    violations: Vec<ViolationDoc<'a>>,
}

/// The report as a versioned JSON document.
pub fn report_json(report: &Inventory) -> String {
    to_pretty(&ReportDoc {
        format_version: FORMAT_VERSION,
        generated_at: report.now.to_string(),
        projects: report.projects.iter().map(ProjectDoc::of).collect(),
        keys: report
            .keys
            .iter()
            .map(|k| KeyDoc {
                project: ProjectDoc::of(&k.project),
                name: &k.name,
                id: k.id.as_str(),
                roles: k.roles.iter().map(crate::model::Role::as_str).collect(),
                created_at: k.created_at.map(|t| t.to_string()),
                age_days: k.age_days,
                managed: k.managed,
                rotate_after: k.rotate_after.as_deref(),
                rotation_due: k.rotation_due.map(|t| t.to_string()),
                rotation_overdue: k.rotation_due.is_some_and(|at| at <= report.now),
                policy: if k.violations.is_empty() {
                    "ok"
                } else {
                    "violations"
                },
                violations: k.violations.iter().map(ViolationDoc::of).collect(),
            })
            .collect(),
        project_violations: report
            .project_violations
            .iter()
            .map(ViolationDoc::of)
            .collect(),
    })
}

/// The report as Markdown: one table of every key, then the violations.
pub fn report_markdown(report: &Inventory) -> String {
    let mut out = format!(
        "## keyplan report\n\n{}\n\nAs of {}.\n\n",
        escape_text(&report_summary_line(report)),
        report.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    );
    out.push_str(
        "| Project | Key | Roles | Age | Rotation due | Managed | Policy |\n\
         |---|---|---|--:|---|---|---|\n",
    );
    // Rows past GitHub's size limit are only counted: what is shown is a prefix of the report.
    let limit = MARKDOWN_LIMIT - 2_000;
    let mut left_out = 0;
    for k in &report.keys {
        if left_out > 0 || out.len() > limit {
            left_out += 1;
            continue;
        }
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            code(&quoted(&k.project.name)),
            code(&quoted(&k.name)),
            escape_text(&roles_inline(&k.roles)),
            age(k),
            escape_text(&due(k, report)),
            managed_word(k.managed),
            escape_text(&status(k)).replace('|', "\\|")
        );
    }
    let violations: Vec<_> = report.violations().collect();
    if !violations.is_empty() {
        out.push_str("\n### Policy violations\n\n");
        for violation in violations {
            let line = super::policy::violation_markdown(violation);
            if left_out > 0 || out.len() + line.len() > limit {
                left_out += 1;
                continue;
            }
            out.push_str(&line);
        }
    }
    if left_out > 0 {
        let _ = write!(
            out,
            "\n> [!NOTE]\n> **Truncated** to stay under GitHub's size limit: {left_out} more rows \
             not shown. The summary above is complete. Run `keyplan report --format json` for \
             the whole report.\n"
        );
    }
    out
}
