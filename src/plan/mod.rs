//! The plan: a pure function of (desired state, live state, options) to a sorted list of
//! changes, and the safety checks that belong to it.
//!
//! A plan is data, never closures: it can be rendered, saved, hashed, compared and tested with
//! literals. Nothing here performs I/O or writes a word for people: causes, notes, guard
//! refusals and errors are values, and `render` words them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::{KeyId, KeyRef, LiveKey, Project, ProjectId};

mod audit;
mod cause;
mod change;
pub mod drift;
mod engine;
mod error;
mod guard;
mod inventory;
mod names;

pub use audit::{audit, judged_name};
pub use cause::{Cause, CreateLeftover, NoteKind, PlanNote, RotationDue};
pub use change::{Action, Change, ChangeKind, KeyAfter, KeyBefore, UnmanagedKey};
pub use drift::{DriftItem, DriftKind, DriftReport, drift};
pub use engine::{compute_plan, resolve_projects};
pub use error::{Claim, ClaimHow, MatchedBy, PlanError, ReplaceProblem};
pub use guard::{
    ApprovedPlan, GuardLimits, GuardRefusal, GuardRefused, Override, ProjectDeletes, Share,
    ShareError,
};
pub use inventory::{Inventory, InventoryKey, Managed, inventory};
pub use names::{
    PENDING_SUFFIX, RETIRING_SUFFIX, is_in_flight_name, pending_name, pending_stem, retiring_name,
    retiring_stem,
};

/// The version of the serialised plan (saved plans). Version 2 typed each change by action
/// and made causes, notes and guard refusals data.
pub const FORMAT_VERSION: &str = "2";

/// Counts of changes by action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
}

impl Summary {
    pub fn total(&self) -> usize {
        self.create + self.update + self.replace + self.delete
    }

    /// Counts one more change of `action`.
    pub fn add(&mut self, action: Action) {
        *match action {
            Action::Create => &mut self.create,
            Action::Update => &mut self.update,
            Action::Replace => &mut self.replace,
            Action::Delete => &mut self.delete,
        } += 1;
    }
}

/// The plan: every change, sorted (creates, updates, replaces, deletes; then by project and key),
/// plus what it saw and chose not to touch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: String,
    pub changes: Vec<Change>,
    pub unmanaged: Vec<UnmanagedKey>,
    pub summary: Summary,
    /// Projects the plan looked at, sorted by id.
    pub projects: Vec<Project>,
    /// Set when the safety guard refuses this plan (the plan is still shown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<GuardRefusal>,
    /// Notes for the reviewer, sorted by project and key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<PlanNote>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// The live state a plan is computed from: every looked-at project with all its keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveState {
    /// Every project of the organisation (for resolving names), sorted by id.
    pub projects: Vec<Project>,
    /// The keys of each project the manifest names. A project missing here was not listed.
    pub keys: BTreeMap<ProjectId, Vec<LiveKey>>,
}

/// Options that change a plan but are not part of the manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// When the safety guard refuses the plan.
    pub limits: GuardLimits,
    /// Keys to replace on demand (`--replace PROJECT/KEY`).
    pub replace: BTreeSet<KeyRef>,
    /// "Now", for rotation ages. Passed in so the plan stays a pure function.
    pub now: Option<jiff::Timestamp>,
    /// For each (project id, key name), the key id whose secret the store holds, if the store
    /// can tell. Settles duplicates left by interrupted or concurrent applies.
    pub held: BTreeMap<(ProjectId, String), KeyId>,
    /// The plan is only looked at, never applied (`drift`): `[[policy]]` violations do not
    /// refuse it, since the caller audits the live keys against the rules itself.
    pub audit_only: bool,
    /// `--force`: also deletes a retiring key kept for a `rotation_overlap` that cannot be
    /// timed (without it, such a key stays until `--replace`).
    pub force: bool,
}
