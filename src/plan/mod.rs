//! The plan: a pure function of (desired state, live state, options) to a sorted list of
//! changes, and the safety checks that belong to it.
//!
//! A plan is data, never closures: it can be rendered, saved, hashed, compared and tested with
//! literals. Nothing here performs I/O.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::{KeyId, LiveKey, Project, ProjectId, RoleSet};

pub mod drift;
pub mod engine;

pub use drift::{DriftItem, DriftReport, drift};
pub use engine::{PlanError, compute_plan, resolve_projects};

/// The version of the serialised plan document (`--format json` and saved plans).
pub const FORMAT_VERSION: &str = "1";

/// What a change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    /// A rename and/or a role change, in one PATCH.
    Update,
    /// Create a new key, store its secret, then delete the old key.
    Replace,
    Delete,
}

/// A key as the plan shows it before a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyBefore {
    pub id: KeyId,
    pub name: String,
    pub roles: RoleSet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<jiff::Timestamp>,
}

impl From<&LiveKey> for KeyBefore {
    fn from(key: &LiveKey) -> Self {
        KeyBefore {
            id: key.id.clone(),
            name: key.name.clone(),
            roles: key.roles.clone(),
            created_at: key.created_at,
        }
    }
}

/// A key as the plan wants it after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyAfter {
    pub name: String,
    pub roles: RoleSet,
}

/// Why a change is in the plan, as data (the `reason` says it in words). A change can have
/// several causes: a key due for rotation whose roles also differ is replaced once, for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// A declared key has no live key: create it.
    Missing,
    /// The live key's name or roles differ from the manifest (changed outside keyplan, or the
    /// manifest changed).
    Differs,
    /// The live key is older than its `rotate_after`.
    Rotation,
    /// `--replace` asked for it.
    Requested,
    /// A key keyplan was retiring when a replace was interrupted.
    InterruptedReplace,
    /// A key still under its pending name: a create was interrupted before its rename.
    InterruptedCreate,
    /// A second live key under a declared key's name whose secret keyplan does not hold.
    Duplicate,
    /// A live key the manifest does not declare, in a project with `unmanaged = "delete"`.
    Unmanaged,
}

/// One change to one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub action: Action,
    pub project: Project,
    /// The live key it changes; `None` for a create.
    pub before: Option<KeyBefore>,
    /// The key it leaves; `None` for a delete.
    pub after: Option<KeyAfter>,
    /// Why: always set on deletes and replaces, and wherever it helps a reviewer.
    pub reason: String,
    /// Why, as data: sorted, never empty in a plan from [`compute_plan`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<Cause>,
}

/// Something a reviewer should know that is not a change, e.g. a key whose age cannot be
/// checked against its `rotate_after`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanNote {
    pub project: Project,
    /// The declared key's name.
    pub key: String,
    pub message: String,
}

/// A live key the manifest does not declare, kept because the project says `unmanaged = "keep"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmanagedKey {
    pub project: Project,
    pub key: KeyBefore,
}

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
}

/// A refusal by the safety guard: too many deletions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardRefusal {
    pub message: String,
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
#[derive(Debug, Clone, PartialEq)]
pub struct PlanOptions {
    /// Refuse a plan deleting more than this share of a project's live keys...
    pub max_delete_share: f64,
    /// ...when the project has at least this many live keys.
    pub guard_min_keys: usize,
    /// Refuse a plan deleting more than this many keys in all.
    pub max_deletes: usize,
    /// Keys to replace on demand (`--replace PROJECT/KEY`): (project name or id, key name).
    pub replace: BTreeSet<(String, String)>,
    /// "Now", for rotation ages. Passed in so the plan stays a pure function.
    pub now: Option<jiff::Timestamp>,
    /// For each (project id, key name), the key id whose secret the store holds, if the store
    /// can tell. Settles duplicates left by interrupted or concurrent applies.
    pub held: BTreeMap<(ProjectId, String), KeyId>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            max_delete_share: 0.25,
            guard_min_keys: 4,
            max_deletes: 50,
            replace: BTreeSet::new(),
            now: None,
            held: BTreeMap::new(),
        }
    }
}

/// The suffix keyplan puts on a key it is retiring during a replace.
///
/// A replace renames the old key first, then creates the new one, stores its secret, and
/// deletes the old key. A run killed half-way leaves a key with this suffix, which the next
/// plan recognises and finishes (see docs/design.md, "interrupted replace").
pub const RETIRING_SUFFIX: &str = " (keyplan: retiring)";

/// The name a key gets while it is being replaced: its name with [`RETIRING_SUFFIX`], the
/// name cut short where both would not fit in 80 characters.
pub fn retiring_name(name: &str) -> String {
    suffixed(name, RETIRING_SUFFIX)
}

/// For a retiring key's name, the (possibly cut) name it had before; `None` for other names.
pub fn retiring_stem(name: &str) -> Option<&str> {
    name.strip_suffix(RETIRING_SUFFIX)
}

/// The suffix keyplan puts on a key it is creating, until its secret is stored.
///
/// A create makes the key under its pending name, stores its secret under the declared name
/// (with the key's id), and only then renames the key to the declared name. A run killed
/// half-way leaves a key with this suffix, never a key under the declared name whose secret
/// nobody holds: the next plan renames it if the store holds its secret, else deletes it (see
/// docs/design.md, "interrupted create").
pub const PENDING_SUFFIX: &str = " (keyplan: pending)";

/// The name a key has while it is being created: its name with [`PENDING_SUFFIX`], the name
/// cut short where both would not fit in 80 characters.
pub fn pending_name(name: &str) -> String {
    suffixed(name, PENDING_SUFFIX)
}

/// `name` with `suffix`, the name cut short so that both fit in a key name's 80 characters.
fn suffixed(name: &str, suffix: &str) -> String {
    let room = crate::model::MAX_KEY_NAME_CHARS - suffix.chars().count();
    let stem: String = name.chars().take(room).collect();
    format!("{stem}{suffix}")
}

/// For a pending key's name, the (possibly cut) name it is being created under; `None` for
/// other names.
pub fn pending_stem(name: &str) -> Option<&str> {
    name.strip_suffix(PENDING_SUFFIX)
}

/// Whether `name` is one keyplan gives a key only while a create (pending) or a replace
/// (retiring) is under way: reserved, never a declared name.
pub fn is_in_flight_name(name: &str) -> bool {
    pending_stem(name).is_some() || retiring_stem(name).is_some()
}
