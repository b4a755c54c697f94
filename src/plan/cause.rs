//! Why a change is in a plan, and what a reviewer should know besides: as data.
//!
//! The engine records facts (which name matched, which roles differ, when a key was created
//! and what its limit is); their words are render's (`render::words`), shared by every
//! format and by plan errors.

use serde::{Deserialize, Serialize};

use crate::model::{KeyId, Project, RoleSet};

/// A key's age past its `rotate_after`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationDue {
    /// `rotate_after` as the manifest spells it, e.g. `"2w"`.
    pub limit: String,
    pub created: jiff::Timestamp,
    /// Whole days since `created`.
    pub age_days: i64,
}

/// Why a key left by an interrupted create is deleted rather than finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CreateLeftover {
    /// The manifest no longer declares the key it was made for.
    Undeclared,
    /// Its secret never reached the store.
    NeverStored { of: String },
    /// Its secret was stored, but the declared key has a live key of its own.
    AlreadyLive { of: String },
    /// Its secret was stored, but it is already past `rotate_after`: a new key is made.
    Overdue { of: String, rotation: RotationDue },
}

/// Why a change is in the plan. A change can have several causes: a key due for rotation whose
/// roles also differ is replaced once, for both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum Cause {
    /// A declared key has no live key: create it.
    Missing,
    /// A key left under its pending name by an interrupted create is renamed to its name.
    FinishingCreate,
    /// A key left under its retiring name by an interrupted replace is replaced.
    FinishingReplace,
    /// The roles differ and the key says `role_change = "replace"`.
    RoleChangeReplaces { from: RoleSet, to: RoleSet },
    /// The live key is older than its `rotate_after`.
    RotationDue(RotationDue),
    /// `--replace` asked for it.
    Requested,
    /// Matched by one of its `previous_names`: a rename.
    Renamed { from: String },
    /// Matched by `id`, under another name.
    NameDiffers,
    /// The roles differ; changed in place.
    RolesDiffer,
    /// A second live key under a declared key's name whose secret keyplan does not hold,
    /// left by an interrupted or concurrent apply.
    Duplicate { of: String },
    /// A key an interrupted replace created whose secret never reached the store.
    LostReplacement { of: String },
    /// A key an interrupted create left under its pending name.
    CreateLeftover(CreateLeftover),
    /// A key an interrupted replace left under its retiring name; `of` is the declared key
    /// whose new key exists, `None` when the manifest no longer declares it.
    RetiringLeftover { of: Option<String> },
    /// A live key the manifest does not declare, in a project with `unmanaged = "delete"`.
    Unmanaged,
    /// On a replace: the old key is kept under its retiring name for the key's
    /// `rotation_overlap` after the new key is created, not deleted by this apply.
    KeepsOldKey { overlap: String },
    /// A retiring key kept for `rotation_overlap` whose overlap has passed since the new key of
    /// `of` was created: it goes now.
    OverlapEnded {
        of: String,
        overlap: String,
        since: jiff::Timestamp,
    },
    /// A retiring key kept for `rotation_overlap` that cannot be timed (the new key of `of`
    /// has no creation time): `--force` deletes it.
    UntimedOverlapForced { of: String, overlap: String },
}

impl Cause {
    /// Keys a create left or is finishing: keyplan made them and never handed them to anyone.
    pub fn is_interrupted_create(&self) -> bool {
        matches!(self, Cause::FinishingCreate | Cause::CreateLeftover(_))
    }

    /// Cleans up after an interrupted or concurrent apply rather than reacting to the manifest.
    pub fn is_leftover(&self) -> bool {
        matches!(
            self,
            Cause::FinishingCreate
                | Cause::FinishingReplace
                | Cause::Duplicate { .. }
                | Cause::LostReplacement { .. }
                | Cause::CreateLeftover(_)
                | Cause::RetiringLeftover { .. }
        )
    }

    /// The live key differs from the manifest (name or roles).
    pub fn is_difference(&self) -> bool {
        matches!(
            self,
            Cause::RoleChangeReplaces { .. }
                | Cause::Renamed { .. }
                | Cause::NameDiffers
                | Cause::RolesDiffer
        )
    }
}

/// Something a reviewer should know that is not a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanNote {
    pub project: Project,
    /// The declared key's name.
    pub key: String,
    #[serde(flatten)]
    pub kind: NoteKind,
}

/// What a [`PlanNote`] says.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "note", rename_all = "snake_case")]
pub enum NoteKind {
    /// The API gave no `created_at` for the live key, so its `rotate_after` cannot be checked.
    AgeUnknown { id: KeyId, limit: String },
    /// No current time was given to the plan, so `rotate_after` cannot be checked.
    AgeNotChecked { limit: String },
    /// The old key `id` stays under its retiring name until `until` (`rotation_overlap`).
    Retiring {
        id: KeyId,
        overlap: String,
        until: jiff::Timestamp,
    },
    /// The old key `id` is kept under its retiring name: the new key has no `created_at` (or
    /// the plan has no clock), so the overlap cannot be timed.
    RetiringUntimed { id: KeyId, overlap: String },
}
