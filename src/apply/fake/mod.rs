//! In-memory fakes of the Admin API and of a secret store, for the failure paths of apply.
//!
//! Both write to one shared [`Journal`], so a test can assert the order of API calls, store
//! writes and events across all of them. Faults are injected per key name; a fault for a name
//! also hits a key under that name's pending name (apply creates every key under it).

use std::sync::Mutex;

mod api;
mod store;

pub use api::{FakeApi, FakeOrg};
pub use store::FakeStore;

/// One ordered log of everything that happened, shared by the fakes and the event handler.
#[derive(Debug, Default)]
pub struct Journal(Mutex<Vec<String>>);

impl Journal {
    pub fn push(&self, line: impl Into<String>) {
        self.0.lock().unwrap().push(line.into());
    }

    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// The position of the first line starting with `prefix`.
    pub fn position(&self, prefix: &str) -> Option<usize> {
        self.lines().iter().position(|l| l.starts_with(prefix))
    }

    pub fn count(&self, prefix: &str) -> usize {
        self.lines()
            .iter()
            .filter(|l| l.starts_with(prefix))
            .count()
    }
}

/// A fault to inject, matched by key name (creates, updates) or key name at the time of the
/// call (deletes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The create is refused with this message (HTTP 403; `QUOTA_EXCEEDED` if the message
    /// says "quota", else `FORBIDDEN`).
    RefuseCreate { name: String, message: String },
    /// Every project may hold at most `limit` keys: a create beyond is refused (HTTP 403,
    /// `QUOTA_EXCEEDED`), as long as the fault stays.
    Quota { limit: usize },
    /// The create commits, but its answer carries an id no key has: the server cannot find
    /// the key it says it made.
    AnswerUnknownId { name: String },
    /// The create commits, but its answer is lost (`OutcomeUnknown`), `times` times.
    LoseCreateAnswer { name: String, times: usize },
    /// Deleting a key of this name fails (HTTP 500).
    FailDelete { name: String },
    /// Updating a key of this name fails (HTTP 500).
    FailUpdate { name: String },
    /// Renaming a key from the pending name of `name` fails (HTTP 500), `times` times: the
    /// last step of a create.
    FailRename { name: String, times: usize },
    /// Right after a create of this name commits, "another run" creates a key of the same
    /// name, `times` times.
    TwinCreate { name: String, times: usize },
    /// Right before a create of this name commits, the create a killed run sent earlier
    /// commits: a key under the same (pending) name, earlier than this run's, whose secret
    /// nobody will ever store.
    InFlightCreate { name: String },
    /// Listing any project fails (HTTP 503), `times` times.
    FailList { times: usize },
    /// The create commits, then the call never returns: dropping the apply then is a run
    /// killed right after the create (before its secret is stored).
    HangAfterCreate { name: String },
    /// Renaming a key from the pending name of `name` never returns (and never takes effect):
    /// a run killed after the secret was stored, before the rename.
    HangBeforeRename { name: String },
}
