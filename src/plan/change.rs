//! One change to one key, typed per action so that impossible combinations (a create with a
//! live key, a delete with a wanted state) cannot be written down.

use serde::{Deserialize, Serialize};

use crate::model::{KeyId, LiveKey, Project, RoleSet};

use super::Cause;

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

/// The action with exactly the states it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ChangeKind {
    Create { after: KeyAfter },
    Update { before: KeyBefore, after: KeyAfter },
    Replace { before: KeyBefore, after: KeyAfter },
    Delete { before: KeyBefore },
}

/// One change to one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub project: Project,
    #[serde(flatten)]
    pub kind: ChangeKind,
    /// Why, as data, most telling first; never empty in a plan from
    /// [`compute_plan`](super::compute_plan).
    pub causes: Vec<Cause>,
}

impl Change {
    pub fn action(&self) -> Action {
        match self.kind {
            ChangeKind::Create { .. } => Action::Create,
            ChangeKind::Update { .. } => Action::Update,
            ChangeKind::Replace { .. } => Action::Replace,
            ChangeKind::Delete { .. } => Action::Delete,
        }
    }

    /// The live key it changes; `None` for a create.
    pub fn before(&self) -> Option<&KeyBefore> {
        match &self.kind {
            ChangeKind::Create { .. } => None,
            ChangeKind::Update { before, .. }
            | ChangeKind::Replace { before, .. }
            | ChangeKind::Delete { before } => Some(before),
        }
    }

    /// The key it leaves; `None` for a delete.
    pub fn after(&self) -> Option<&KeyAfter> {
        match &self.kind {
            ChangeKind::Delete { .. } => None,
            ChangeKind::Create { after }
            | ChangeKind::Update { after, .. }
            | ChangeKind::Replace { after, .. } => Some(after),
        }
    }

    /// The key's name as the change is known by: the name it leaves, or for a delete the name
    /// it has.
    pub fn key_name(&self) -> &str {
        match &self.kind {
            ChangeKind::Create { after }
            | ChangeKind::Update { after, .. }
            | ChangeKind::Replace { after, .. } => &after.name,
            ChangeKind::Delete { before } => &before.name,
        }
    }

    /// Whether any cause says this change cleans up after an interrupted create.
    pub fn finishes_or_removes_interrupted_create(&self) -> bool {
        self.causes.iter().any(Cause::is_interrupted_create)
    }
}

/// A live key the manifest does not declare, kept because the project says `unmanaged = "keep"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmanagedKey {
    pub project: Project,
    pub key: KeyBefore,
}
