//! An apply's machine documents: JSON lines (`apply --format json`: one object per event, then
//! one summary object) and the Markdown result document for the pull request.
//!
//! Built from the events as they came and the report, once the apply ends: a done create's
//! event then carries the id of the key it made. Nothing here holds a secret: events and the
//! report hold names, ids and error messages only.

use std::fmt::Write as _;

use serde::Serialize;

use crate::model::KeyId;
use crate::plan::{Action, Change, Plan};
use crate::report::{ApplyReport, Event, Outcome, OutcomeStatus};

use super::apply::{apply_summary_line, change_label};
use super::json::ProjectDoc;
use super::markdown::{Heading, MARKDOWN_LIMIT, code, escape_text, head};
use super::words::{clean, verb};

#[derive(Serialize)]
struct KeyDoc<'a> {
    name: &'a str,
    /// The live key's id: the one changed or deleted, or the one a create made (`null` until
    /// it is made).
    id: Option<&'a str>,
}

#[derive(Serialize)]
struct EventDoc<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    index: usize,
    action: Action,
    project: ProjectDoc<'a>,
    key: KeyDoc<'a>,
    /// Why it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
}

#[derive(Serialize)]
struct WarningDoc<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a str,
}

#[derive(Serialize)]
struct OrphanDoc<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    project: ProjectDoc<'a>,
    key: KeyDoc<'a>,
}

/// The last line: exactly these fields, in this order.
#[derive(Serialize)]
struct SummaryDoc {
    #[serde(rename = "type")]
    kind: &'static str,
    created: usize,
    updated: usize,
    replaced: usize,
    deleted: usize,
    failed: usize,
}

/// The apply as JSON lines: `started`, `done`, `failed`, `skipped` and `warning` events in the
/// order they happened, an `orphaned` line per key left without a stored secret, then the
/// `summary`.
pub fn apply_json_lines(events: &[Event], report: &ApplyReport, plan: &Plan) -> String {
    let mut out = String::new();
    let mut line = |doc: &dyn erased::Line| {
        out.push_str(&doc.to_line());
        out.push('\n');
    };
    for event in events {
        let (kind, index, message) = match event {
            Event::Started { index } => ("started", *index, None),
            Event::Done { index } => ("done", *index, None),
            Event::Failed { index, error } => ("failed", *index, Some(error.as_str())),
            Event::Skipped { index, reason } => ("skipped", *index, Some(reason.as_str())),
            Event::Warning(message) => {
                line(&WarningDoc {
                    kind: "warning",
                    message,
                });
                continue;
            }
            Event::Progress { .. } => continue,
        };
        let Some(change) = plan.changes.get(index) else {
            continue;
        };
        let made = (kind == "done")
            .then(|| outcome(report, index).and_then(|o| o.new_key.as_ref()))
            .flatten();
        line(&EventDoc {
            kind,
            index,
            action: change.action(),
            project: ProjectDoc::of(&change.project),
            key: key_of(change, made),
            message,
        });
    }
    for (change, id) in orphaned(report, plan) {
        line(&OrphanDoc {
            kind: "orphaned",
            project: ProjectDoc::of(&change.project),
            key: KeyDoc {
                name: change.key_name(),
                id: Some(id.as_str()),
            },
        });
    }
    let done = report.done_counts();
    line(&SummaryDoc {
        kind: "summary",
        created: done.create,
        updated: done.update,
        replaced: done.replace,
        deleted: done.delete,
        failed: report.outcomes.iter().filter(|o| o.is_failed()).count(),
    });
    out
}

/// The apply as a pull-request comment: marker, heading, the summary line in a callout (a
/// caution when anything failed), one table row per change, orphaned keys and warnings.
pub fn apply_markdown(report: &ApplyReport, plan: &Plan, heading: Heading) -> String {
    let limit = MARKDOWN_LIMIT - 1_000;
    let mut out = head("apply", "", heading, "Applied in");
    let callout = if report.is_success() {
        "[!NOTE]"
    } else {
        "[!CAUTION]"
    };
    let summary = if plan.changes.is_empty() {
        "No changes. Keys match the manifest.".to_owned()
    } else {
        apply_summary_line(report)
    };
    let _ = write!(out, "> {callout}\n> **{}**\n\n", escape_text(&summary));
    if !report.outcomes.is_empty() {
        out.push_str("| Change | Key | Result |\n|---|---|---|\n");
        let mut left_out = 0;
        for outcome in &report.outcomes {
            let Some(change) = plan.changes.get(outcome.index) else {
                continue;
            };
            let row = row(change, outcome);
            if left_out > 0 || out.len() + row.len() > limit {
                left_out += 1;
                continue;
            }
            out.push_str(&row);
        }
        if left_out > 0 {
            let _ = writeln!(out, "| … {left_out} more | | |");
        }
        out.push('\n');
    }
    let orphans: Vec<_> = orphaned(report, plan).collect();
    if !orphans.is_empty() {
        out.push_str(
            "**Orphaned keys**: these exist in Pinecone but no secret store holds their secret; \
             delete them by hand:\n\n",
        );
        for (change, id) in orphans {
            let _ = writeln!(
                out,
                "- key id {} in project {}",
                code(id.as_str()),
                code(&change.project.name)
            );
        }
        out.push('\n');
    }
    if !report.warnings.is_empty() {
        out.push_str("**Warnings**\n\n");
        for warning in &report.warnings {
            let _ = writeln!(out, "- {}", escape_text(&clean(warning)));
        }
        out.push('\n');
    }
    out
}

/// One table row: the change's verb, its `project/key` (and the key's id), how it ended.
fn row(change: &Change, outcome: &Outcome) -> String {
    let id = outcome
        .new_key
        .as_ref()
        .or(change.before().map(|b| &b.id))
        .map(|id| format!(" ({})", code(id.as_str())))
        .unwrap_or_default();
    let result = match &outcome.status {
        OutcomeStatus::Done => "✓ done".to_owned(),
        OutcomeStatus::Failed(why) => format!("✗ failed: {}", escape_text(&clean(why))),
        OutcomeStatus::Skipped(why) => format!("skipped: {}", escape_text(&clean(why))),
    };
    format!(
        "| {} | {}{id} | {result} |\n",
        verb(change.action()).base,
        code(&change_label(change)).replace('|', "\\|"),
    )
}

fn outcome(report: &ApplyReport, index: usize) -> Option<&Outcome> {
    report.outcomes.iter().find(|o| o.index == index)
}

/// The key of a change: its name, and the id of the key it made, or else of the key it had.
fn key_of<'a>(change: &'a Change, made: Option<&'a KeyId>) -> KeyDoc<'a> {
    KeyDoc {
        name: change.key_name(),
        id: made.or(change.before().map(|b| &b.id)).map(KeyId::as_str),
    }
}

/// Each orphaned key with the change that left it.
fn orphaned<'a>(
    report: &'a ApplyReport,
    plan: &'a Plan,
) -> impl Iterator<Item = (&'a Change, &'a KeyId)> {
    report.outcomes.iter().flat_map(move |o| {
        plan.changes
            .get(o.index)
            .into_iter()
            .flat_map(move |change| o.orphaned.iter().map(move |id| (change, id)))
    })
}

/// Serialising the line types through one closure.
mod erased {
    pub trait Line {
        fn to_line(&self) -> String;
    }

    impl<T: serde::Serialize> Line for T {
        fn to_line(&self) -> String {
            serde_json::to_string(self)
                .expect("apply documents hold only strings, numbers and objects")
        }
    }
}
