//! What an apply is doing and did, as data: the progress events it emits and the report it
//! returns, change by change. `render` words both; `apply` fills them in.
//!
//! Nothing here ever holds a secret: events and outcomes are built from key ids, names and
//! error messages, and neither the API errors nor the store errors carry secrets.

use crate::model::KeyId;
use crate::plan::{Action, Summary};

/// Progress while applying, for a bar on a terminal or plain lines in CI. Never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Work on change `index` of the plan began.
    Started {
        index: usize,
    },
    /// A step of change `index` finished, e.g. "created key <id>".
    Progress {
        index: usize,
        message: String,
    },
    Done {
        index: usize,
    },
    Failed {
        index: usize,
        error: String,
    },
    Skipped {
        index: usize,
        reason: String,
    },
    /// Something a user must see that belongs to no single change, or must not be missed
    /// (an orphaned key).
    Warning(String),
}

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
            summary.add(outcome.action);
        }
        summary
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
}
