//! What an apply did, change by change: the report apply returns, its summary line, and its
//! human rendering (done, failed with the API's message, skipped, orphaned keys).
//!
//! Nothing in a report ever holds a secret: outcomes are built from key ids, names and error
//! messages, and neither the API errors nor the store errors carry secrets.

use std::fmt::Write as _;

use crate::model::KeyId;
use crate::plan::{Action, Change, Plan, Summary};

/// How one change ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutcomeStatus {
    /// The change was made (for a create or replace: the new secret is in the store).
    Done,
    /// The change was tried and failed; the message says why (with the API's own message).
    Failed(String),
    /// The change was not made: a prerequisite failed, or another keyplan run made it.
    Skipped(String),
}

/// The outcome of one plan change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The change's index in `plan.changes`.
    pub index: usize,
    pub action: Action,
    pub status: OutcomeStatus,
    /// What a user should know even when it worked, e.g. "no stored secret to move (keyplan
    /// did not create this key)".
    pub notes: Vec<String>,
    /// Keys that exist in Pinecone with no stored secret, which keyplan could not delete.
    /// Nobody can use them; a user should delete them by hand.
    pub orphaned: Vec<KeyId>,
    /// The key this change created and kept (creates and replaces).
    pub new_key: Option<KeyId>,
}

impl Outcome {
    pub(crate) fn new(index: usize, action: Action) -> Self {
        Outcome {
            index,
            action,
            status: OutcomeStatus::Skipped("not started".to_owned()),
            notes: Vec::new(),
            orphaned: Vec::new(),
            new_key: None,
        }
    }

    pub fn is_done(&self) -> bool {
        self.status == OutcomeStatus::Done
    }

    pub fn is_failed(&self) -> bool {
        matches!(self.status, OutcomeStatus::Failed(_))
    }
}

/// Everything an apply did: one outcome per plan change, in plan order, and run-wide warnings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    pub outcomes: Vec<Outcome>,
    pub warnings: Vec<String>,
}

impl ApplyReport {
    /// Counts of changes that were done, by action.
    pub fn done_counts(&self) -> Summary {
        let mut summary = Summary::default();
        for outcome in self.outcomes.iter().filter(|o| o.is_done()) {
            match outcome.action {
                Action::Create => summary.create += 1,
                Action::Update => summary.update += 1,
                Action::Replace => summary.replace += 1,
                Action::Delete => summary.delete += 1,
            }
        }
        summary
    }

    /// `Apply complete: 2 created, 1 updated, 0 replaced, 1 deleted.`, counting done changes.
    pub fn summary_line(&self) -> String {
        let c = self.done_counts();
        format!(
            "Apply complete: {} created, {} updated, {} replaced, {} deleted.",
            c.create, c.update, c.replace, c.delete
        )
    }

    /// No change failed and no key was orphaned. Changes skipped because another keyplan run
    /// made them are not failures.
    pub fn is_success(&self) -> bool {
        self.outcomes
            .iter()
            .all(|o| !o.is_failed() && o.orphaned.is_empty())
    }

    /// Every orphaned key id (a key in Pinecone whose secret nobody holds).
    pub fn orphaned(&self) -> impl Iterator<Item = &KeyId> {
        self.outcomes.iter().flat_map(|o| o.orphaned.iter())
    }

    /// The end-of-apply report for a terminal or a CI log: done, failed, skipped, orphaned keys,
    /// warnings, then the summary line.
    pub fn render_human(&self, plan: &Plan, color: bool) -> String {
        let paint = Paint(color);
        let mut out = String::new();
        let sections: [Section; 3] = [
            ("Done", GREEN, Outcome::is_done),
            ("Failed", RED, Outcome::is_failed),
            ("Skipped", YELLOW, |o| {
                matches!(o.status, OutcomeStatus::Skipped(_))
            }),
        ];
        for (title, colour, wanted) in sections {
            let mut chosen = self.outcomes.iter().filter(|o| wanted(o)).peekable();
            if chosen.peek().is_none() {
                continue;
            }
            let _ = writeln!(out, "{}", paint.bold(colour, &format!("{title}:")));
            for outcome in chosen {
                let label = plan
                    .changes
                    .get(outcome.index)
                    .map_or_else(|| format!("change #{}", outcome.index), change_label);
                let verb = verb(outcome.action);
                let mark = paint.fg(colour, mark(&outcome.status));
                match &outcome.status {
                    OutcomeStatus::Done => {
                        let new_key = outcome
                            .new_key
                            .as_ref()
                            .map(|id| format!(" (key {id})"))
                            .unwrap_or_default();
                        let done = done_verb(outcome.action);
                        let _ = writeln!(out, "  {mark} {done} {label}{new_key}");
                    }
                    OutcomeStatus::Failed(why) | OutcomeStatus::Skipped(why) => {
                        let _ = writeln!(out, "  {mark} {verb} {label}: {why}");
                    }
                }
                for note in &outcome.notes {
                    let _ = writeln!(out, "      {note}");
                }
            }
        }
        let orphaned: Vec<(&Outcome, &KeyId)> = self
            .outcomes
            .iter()
            .flat_map(|o| o.orphaned.iter().map(move |id| (o, id)))
            .collect();
        if !orphaned.is_empty() {
            let _ = writeln!(
                out,
                "{}",
                paint.bold(
                    RED,
                    "ORPHANED KEYS: these exist in Pinecone but no secret store holds their secret; delete them by hand:"
                )
            );
            for (outcome, id) in orphaned {
                let project = plan
                    .changes
                    .get(outcome.index)
                    .map(|c| format!("project {} ({})", c.project.name, c.project.id))
                    .unwrap_or_default();
                let _ = writeln!(out, "  key id {id} in {project}");
            }
        }
        if !self.warnings.is_empty() {
            let _ = writeln!(out, "{}", paint.bold(YELLOW, "Warnings:"));
            for warning in &self.warnings {
                let _ = writeln!(out, "  {warning}");
            }
        }
        let _ = writeln!(
            out,
            "{}",
            paint.bold(
                if self.is_success() { GREEN } else { RED },
                &self.summary_line()
            )
        );
        out
    }
}

/// `project/key` for a change: the key's new name, or its current one for a delete.
pub fn change_label(change: &Change) -> String {
    let key = change
        .after
        .as_ref()
        .map(|a| a.name.as_str())
        .or_else(|| change.before.as_ref().map(|b| b.name.as_str()))
        .unwrap_or("?");
    format!("{}/{key}", change.project.name)
}

fn mark(status: &OutcomeStatus) -> &'static str {
    match status {
        OutcomeStatus::Done => "✓",
        OutcomeStatus::Failed(_) => "✗",
        OutcomeStatus::Skipped(_) => "-",
    }
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Replace => "replace",
        Action::Delete => "delete",
    }
}

fn done_verb(action: Action) -> &'static str {
    match action {
        Action::Create => "created",
        Action::Update => "updated",
        Action::Replace => "replaced",
        Action::Delete => "deleted",
    }
}

/// A report section: its title, its colour, and which outcomes it lists.
type Section = (&'static str, &'static str, fn(&Outcome) -> bool);

const GREEN: &str = "32";
const RED: &str = "31";
const YELLOW: &str = "33";

/// ANSI colour when asked for; plain text otherwise.
#[derive(Clone, Copy)]
struct Paint(bool);

impl Paint {
    fn fg(self, colour: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{colour}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn bold(self, colour: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[1;{colour}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}
