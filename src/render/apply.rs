//! An apply's words: one line per progress event, and the end-of-apply report (done, failed,
//! skipped, orphaned keys, warnings, then the summary line).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::model::KeyId;
use crate::plan::{Change, Plan};
use crate::report::{ApplyReport, Event, Outcome, OutcomeStatus};
use crate::secrets::SecretStore;

use super::Paint;
use super::words::{clean, count, project_label, quoted, verb};

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

/// `Apply complete: 2 created, 1 updated, 0 replaced, 1 deleted.`, counting done changes; when
/// a change failed (or left a key whose secret nobody holds), `Apply incomplete: ...; 1 failed.`
/// so that a log never says "complete" of an apply that was not.
pub fn apply_summary_line(report: &ApplyReport) -> String {
    let c = report.done_counts();
    let done = format!(
        "{} created, {} updated, {} replaced, {} deleted",
        c.create, c.update, c.replace, c.delete
    );
    let failed = report.outcomes.iter().filter(|o| o.is_failed()).count();
    let orphaned = report.orphaned().count();
    if failed == 0 && orphaned == 0 {
        return format!("Apply complete: {done}.");
    }
    let mut problems = Vec::new();
    if failed > 0 {
        problems.push(format!("{failed} failed"));
    }
    if orphaned > 0 {
        problems.push(count(orphaned, "orphaned key"));
    }
    format!("Apply incomplete: {done}; {}.", problems.join(", "))
}

/// How long an apply took, as the commands layer measured it: each change from its start to
/// its end (by plan index), and the whole apply. Kept apart from the report, which is what
/// happened, so that tests of the report need not mask clock readings.
#[derive(Debug, Clone, Default)]
pub struct ApplyTimes {
    pub changes: BTreeMap<usize, Duration>,
    pub total: Option<Duration>,
}

/// A duration as people read it: `0.4s`, `12.0s`, `3m05s`.
pub fn elapsed(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds < 60 {
        format!("{:.1}s", duration.as_secs_f64())
    } else {
        format!("{}m{:02}s", seconds / 60, seconds % 60)
    }
}

/// A report section: its title, its colour, and which outcomes it lists.
type Section = (&'static str, anstyle::Style, fn(&Outcome) -> bool);

/// The end-of-apply report for a terminal or a CI log, without timings.
pub fn apply_report(report: &ApplyReport, plan: &Plan, paint: Paint) -> String {
    apply_report_timed(report, plan, None, paint, &ApplyTimes::default())
}

/// The end-of-apply report, with how long each change and the whole apply took, and (given
/// the store) a lasting line under each new key saying where its secret went: the progress
/// line that said so is gone once the apply ends.
pub fn apply_report_timed(
    report: &ApplyReport,
    plan: &Plan,
    store: Option<&dyn SecretStore>,
    paint: Paint,
    times: &ApplyTimes,
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
        let _ = writeln!(out, "{}", paint.paint(colour.bold(), &format!("{title}:")));
        for outcome in chosen {
            let label = label_of(plan, outcome.index);
            let words = verb(outcome.action);
            let mark = paint.paint(colour, mark(&outcome.status));
            let took = times.changes.get(&outcome.index).map(|d| elapsed(*d));
            match &outcome.status {
                OutcomeStatus::Done => {
                    let new_key = outcome
                        .new_key
                        .as_ref()
                        .map(|id| format!(" (key {})", clean(id.as_str())))
                        .unwrap_or_default();
                    let took = took.map(|t| format!(" in {t}")).unwrap_or_default();
                    let _ = writeln!(out, "  {mark} {} {label}{new_key}{took}", words.past);
                    // A done create or replace has its new secret in the store.
                    if let (Some(store), Some(change), Some(_)) =
                        (store, plan.changes.get(outcome.index), &outcome.new_key)
                    {
                        let place = store.location(&change.project, change.key_name());
                        let _ = writeln!(out, "      its secret went to {}", clean(&place));
                    }
                }
                OutcomeStatus::Failed(why) | OutcomeStatus::Skipped(why) => {
                    let took = took.map(|t| format!(" (after {t})")).unwrap_or_default();
                    let _ = writeln!(out, "  {mark} {} {label}: {}{took}", words.base, clean(why));
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
    let took = times
        .total
        .map(|t| format!(" Took {}.", elapsed(t)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{}{took}",
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

fn mark(status: &OutcomeStatus) -> &'static str {
    match status {
        OutcomeStatus::Done => "✓",
        OutcomeStatus::Failed(_) => "✗",
        OutcomeStatus::Skipped(_) => "-",
    }
}

#[cfg(test)]
mod tests {
    use super::elapsed;
    use std::time::Duration;

    #[test]
    fn durations_read_as_seconds_with_a_tenth_then_minutes() {
        let cases = [
            (Duration::ZERO, "0.0s"),
            (Duration::from_millis(449), "0.4s"),
            (Duration::from_millis(12_050), "12.1s"),
            (Duration::from_millis(59_900), "59.9s"),
            (Duration::from_secs(60), "1m00s"),
            (Duration::from_secs(185), "3m05s"),
        ];
        for (duration, expected) in cases {
            assert_eq!(elapsed(duration), expected, "{duration:?}");
        }
    }
}
