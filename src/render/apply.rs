//! An apply's words: one line per progress event, and the end-of-apply report (done, failed,
//! skipped, orphaned keys, warnings, then the summary line).

use std::fmt::Write as _;

use crate::model::KeyId;
use crate::plan::{Change, Plan};
use crate::report::{ApplyReport, Event, Outcome, OutcomeStatus};
use crate::secrets::SecretStore;

use super::Paint;
use super::words::{clean, project_label, quoted, verb};

/// `project/key` for a change: the key's new name, or its current one for a delete; both
/// escaped, so that no name from the API can forge a line.
pub fn change_label(change: &Change) -> String {
    let label = format!("{}/{}", change.project.name, change.key_name());
    let escaped = quoted(&label);
    // Quotes only where escaping changed something: plain names stay readable.
    if escaped[1..escaped.len() - 1] == label {
        label
    } else {
        escaped
    }
}

fn label_of(plan: &Plan, index: usize) -> String {
    plan.changes
        .get(index)
        .map_or_else(|| format!("change #{index}"), change_label)
}

/// One plain line for an apply event, naming the change by `project/key`. The apply's messages
/// quote the names they hold; they are [cleaned](clean) here as well, for what else they carry
/// from the API (ids, error details).
pub fn event_line(event: &Event, plan: &Plan) -> String {
    match event {
        Event::Started { index } => {
            let verb = plan
                .changes
                .get(*index)
                .map_or("starting", |change| verb(change.action()).progressive);
            format!("{}: {verb}", label_of(plan, *index))
        }
        Event::Progress { index, message } => {
            format!("{}: {}", label_of(plan, *index), clean(message))
        }
        Event::Done { index } => format!("{}: done", label_of(plan, *index)),
        Event::Failed { index, error } => {
            format!("{}: failed: {}", label_of(plan, *index), clean(error))
        }
        Event::Skipped { index, reason } => {
            format!("{}: skipped: {}", label_of(plan, *index), clean(reason))
        }
        Event::Warning(message) => format!("warning: {}", clean(message)),
    }
}

/// `Apply complete: 2 created, 1 updated, 0 replaced, 1 deleted.`, counting done changes.
pub fn apply_summary_line(report: &ApplyReport) -> String {
    let c = report.done_counts();
    format!(
        "Apply complete: {} created, {} updated, {} replaced, {} deleted.",
        c.create, c.update, c.replace, c.delete
    )
}

/// A report section: its title, its colour, and which outcomes it lists.
type Section = (&'static str, &'static str, fn(&Outcome) -> bool);

/// The end-of-apply report for a terminal or a CI log.
pub fn apply_report(report: &ApplyReport, plan: &Plan, paint: Paint) -> String {
    apply_report_with_store(report, plan, None, paint)
}

/// [`apply_report`], with a lasting line under each new key saying where its secret went (the
/// progress line that said so is gone once the apply ends).
pub fn apply_report_with_store(
    report: &ApplyReport,
    plan: &Plan,
    store: Option<&dyn SecretStore>,
    paint: Paint,
) -> String {
    let mut out = String::new();
    let sections: [Section; 3] = [
        ("Done", Paint::GREEN, Outcome::is_done),
        ("Failed", Paint::RED, Outcome::is_failed),
        ("Skipped", Paint::YELLOW, |o| {
            matches!(o.status, OutcomeStatus::Skipped(_))
        }),
    ];
    for (title, colour, wanted) in sections {
        let mut chosen = report.outcomes.iter().filter(|o| wanted(o)).peekable();
        if chosen.peek().is_none() {
            continue;
        }
        let _ = writeln!(out, "{}", paint.paint(&bold(colour), &format!("{title}:")));
        for outcome in chosen {
            let label = label_of(plan, outcome.index);
            let words = verb(outcome.action);
            let mark = paint.paint(colour, mark(&outcome.status));
            match &outcome.status {
                OutcomeStatus::Done => {
                    let new_key = outcome
                        .new_key
                        .as_ref()
                        .map(|id| format!(" (key {})", clean(id.as_str())))
                        .unwrap_or_default();
                    let _ = writeln!(out, "  {mark} {} {label}{new_key}", words.past);
                    // A done create or replace has its new secret in the store.
                    if let (Some(store), Some(change), Some(_)) =
                        (store, plan.changes.get(outcome.index), &outcome.new_key)
                    {
                        let place = store.location(&change.project, change.key_name());
                        let _ = writeln!(out, "      its secret went to {}", clean(&place));
                    }
                }
                OutcomeStatus::Failed(why) | OutcomeStatus::Skipped(why) => {
                    let _ = writeln!(out, "  {mark} {} {label}: {}", words.base, clean(why));
                }
            }
            for note in &outcome.notes {
                let _ = writeln!(out, "      {}", clean(note));
            }
        }
    }
    let orphaned: Vec<(&Outcome, &KeyId)> = report
        .outcomes
        .iter()
        .flat_map(|o| o.orphaned.iter().map(move |id| (o, id)))
        .collect();
    if !orphaned.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            paint.paint(
                Paint::BOLD_RED,
                "ORPHANED KEYS: these exist in Pinecone but no secret store holds their secret; delete them by hand:"
            )
        );
        for (outcome, id) in orphaned {
            let project = plan
                .changes
                .get(outcome.index)
                .map(|c| project_label(&c.project))
                .unwrap_or_default();
            let _ = writeln!(out, "  key id {} in {project}", clean(id.as_str()));
        }
    }
    if !report.warnings.is_empty() {
        let _ = writeln!(out, "{}", paint.paint(Paint::BOLD_YELLOW, "Warnings:"));
        for warning in &report.warnings {
            let _ = writeln!(out, "  {}", clean(warning));
        }
    }
    let _ = writeln!(
        out,
        "{}",
        paint.paint(
            if report.is_success() {
                Paint::BOLD_GREEN
            } else {
                Paint::BOLD_RED
            },
            &apply_summary_line(report)
        )
    );
    out
}

fn bold(colour: &str) -> String {
    format!("1;{colour}")
}

fn mark(status: &OutcomeStatus) -> &'static str {
    match status {
        OutcomeStatus::Done => "✓",
        OutcomeStatus::Failed(_) => "✗",
        OutcomeStatus::Skipped(_) => "-",
    }
}
