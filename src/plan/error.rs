//! Why no plan could be made, as data: each variant names the project, key and candidates
//! involved. Their words and hints are render's (`render::words`), like every word keyplan
//! prints.

use crate::model::{KeyId, KeyRef, Project, ProjectId};

use super::{Action, Cause};

/// How a declared key found its live key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchedBy {
    /// The declared key's `id`.
    Id,
    /// The declared key's name.
    Name,
    /// One of the declared key's `previous_names`.
    PreviousName,
}

/// Which declared key claims a live key, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The declared key's name.
    pub key: String,
    pub how: ClaimHow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimHow {
    /// Bound to it.
    Bound(MatchedBy),
    /// Finishing the create that left it.
    FinishingCreate,
    /// Deleting it as a duplicate.
    Duplicate,
}

/// Why a `--replace PROJECT/KEY` cannot be honoured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplaceProblem {
    /// The manifest declares no project of that name or id.
    NoProject,
    /// The project declares no key of that name.
    NoKey,
    /// Several projects of that name declare the key.
    SeveralProjects(Vec<ProjectId>),
    /// The key is still being created: the plan finishes its interrupted create.
    StillBeingCreated { project: Project },
    /// The key does not exist live: the plan creates it.
    NotLive { project: Project },
}

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// A `[[project]]` names an id that no project of the organisation has.
    ProjectIdNotFound { id: ProjectId },
    /// A `[[project]]` names a project that does not exist; `similar` lists near names.
    ProjectNameNotFound { name: String, similar: Vec<Project> },
    /// Several projects of the organisation have the name a `[[project]]` gives.
    ProjectNameAmbiguous {
        name: String,
        candidates: Vec<ProjectId>,
    },
    /// Two `[[project]]` tables resolve to the same project (one by name, one by id).
    ProjectDeclaredTwice { project: Project },
    /// The live state holds no listing for a project the manifest names.
    ProjectNotListed { project: Project },
    /// A key name appears twice in a project, as a name or a previous name.
    DeclaredTwice { project: Project, name: String },
    /// A declared name or previous name ends with keyplan's retiring or pending suffix.
    ReservedName { project: Project, name: String },
    /// A declared `id` that no live key of the project has.
    KeyIdNotFound {
        project: Project,
        key: String,
        id: KeyId,
        /// Ids of live keys under the declared name, to help correct the id.
        same_name: Vec<KeyId>,
    },
    /// Two or more live keys could be the declared key.
    KeyAmbiguous {
        project: Project,
        key: String,
        by: MatchedBy,
        candidates: Vec<KeyId>,
    },
    /// One live key is claimed by two declared keys.
    KeyClaimedTwice {
        project: Project,
        id: KeyId,
        claims: Vec<Claim>,
    },
    /// A key left by an interrupted replace whose (cut) name fits several declared keys.
    RetiringAmbiguous {
        project: Project,
        id: KeyId,
        name: String,
        keys: Vec<String>,
    },
    /// The plan would replace a key the manifest binds by `id`; the new key gets a new id.
    ReplacePinned {
        project: Project,
        key: String,
        id: KeyId,
        causes: Vec<Cause>,
    },
    /// The plan would delete or replace a protected key.
    Protected {
        project: Project,
        key: String,
        id: KeyId,
        action: Action,
        causes: Vec<Cause>,
    },
    /// A `--replace PROJECT/KEY` that names no existing declared key.
    ReplaceUnknown {
        target: KeyRef,
        problem: ReplaceProblem,
    },
    /// Declared keys (or the keys a plan would create) break `[[policy]]` rules: the plan may
    /// neither create nor keep them.
    Policy {
        violations: Vec<crate::policy::Violation>,
    },
    /// Several of the above, reported at once.
    Multiple(Vec<PlanError>),
}

impl PlanError {
    /// The errors this one stands for: itself, or each of a [`PlanError::Multiple`].
    pub fn errors(&self) -> Vec<&PlanError> {
        match self {
            PlanError::Multiple(errors) => errors.iter().flat_map(PlanError::errors).collect(),
            other => vec![other],
        }
    }
}

// `Display` (the message and its hint) is in `render::words`.
impl std::error::Error for PlanError {}

/// One error stays itself; several become [`PlanError::Multiple`].
pub(super) fn collect_errors(mut errors: Vec<PlanError>) -> Result<(), PlanError> {
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => Err(PlanError::Multiple(errors)),
    }
}
