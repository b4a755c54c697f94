//! The words of plan errors: each [`PlanError`]'s message and hint, and several as one list.

use std::fmt::{self, Write as _};

use super::words::{Causes, join, join_quoted, project_label, quoted, verb};
use crate::model::KeyId;
use crate::plan::{
    ClaimHow, PENDING_SUFFIX, PlanError, RETIRING_SUFFIX, ReplaceProblem, pending_stem,
};

impl PlanError {
    /// What went wrong, for which project and key (without the hint).
    #[expect(clippy::too_many_lines, reason = "one arm per variant")]
    pub fn message(&self) -> String {
        match self {
            PlanError::ProjectIdNotFound { id } => {
                format!("no project of the organisation has id {id}")
            }
            PlanError::ProjectNameNotFound { name, similar } => {
                let mut msg = format!("no project is named {}", quoted(name));
                if !similar.is_empty() {
                    let list: Vec<String> = similar
                        .iter()
                        .map(|p| format!("{} ({})", quoted(&p.name), p.id))
                        .collect();
                    let _ = write!(msg, "; similar names: {}", list.join(", "));
                }
                msg
            }
            PlanError::ProjectNameAmbiguous { name, candidates } => format!(
                "{} projects are named {}: {}",
                candidates.len(),
                quoted(name),
                join(candidates)
            ),
            PlanError::ProjectDeclaredTwice { project } => format!(
                "{} is declared by more than one [[project]] table",
                project_label(project)
            ),
            PlanError::ProjectNotListed { project } => format!(
                "the keys of {} were not listed, so no plan can be made for it",
                project_label(project)
            ),
            PlanError::DeclaredTwice { project, name } => format!(
                "key name {} appears more than once in {} (as a name or a previous name)",
                quoted(name),
                project_label(project)
            ),
            PlanError::ReservedName { project, name } => {
                let (suffix, what) = if pending_stem(name).is_some() {
                    (PENDING_SUFFIX, "creating")
                } else {
                    (RETIRING_SUFFIX, "replacing")
                };
                format!(
                    "key name {} in {} ends with {}, which keyplan reserves for keys it is \
                     {what}",
                    quoted(name),
                    project_label(project),
                    quoted(suffix)
                )
            }
            PlanError::KeyIdNotFound {
                project,
                key,
                id,
                same_name,
            } => {
                let mut msg = format!(
                    "key {} in {} declares id = \"{id}\", but no live key of that project has \
                     that id",
                    quoted(key),
                    project_label(project)
                );
                if !same_name.is_empty() {
                    let _ = write!(
                        msg,
                        "; live keys named {}: {}",
                        quoted(key),
                        join(same_name)
                    );
                }
                msg
            }
            PlanError::KeyAmbiguous {
                project,
                key,
                by,
                candidates,
            } => format!(
                "{} live keys in {} match key {} by {by}: {}; keyplan does not guess",
                candidates.len(),
                project_label(project),
                quoted(key),
                join(candidates)
            ),
            PlanError::KeyClaimedTwice {
                project,
                id,
                claims,
            } => {
                let claims: Vec<String> = claims
                    .iter()
                    .map(|claim| {
                        let how = match claim.how {
                            ClaimHow::Bound(by) => format!("by {by}"),
                            ClaimHow::FinishingCreate => "finishing its create".to_owned(),
                            ClaimHow::Duplicate => "as a duplicate to delete".to_owned(),
                        };
                        format!("{} ({how})", quoted(&claim.key))
                    })
                    .collect();
                format!(
                    "live key {id} in {} is claimed by more than one declared key: {}",
                    project_label(project),
                    claims.join(", ")
                )
            }
            PlanError::RetiringAmbiguous {
                project,
                id,
                name,
                keys,
            } => format!(
                "live key {} ({id}) in {} was left by an interrupted replace, but its shortened \
                 name fits several declared keys: {}",
                quoted(name),
                project_label(project),
                join_quoted(keys)
            ),
            PlanError::ReplacePinned {
                project,
                key,
                id,
                causes,
            } => format!(
                "key {} in {} is bound by id = \"{id}\", but the plan replaces it ({}), and its \
                 replacement gets a new id",
                quoted(key),
                project_label(project),
                Causes(causes)
            ),
            PlanError::Protected {
                project,
                key,
                id,
                action,
                causes,
            } => format!(
                "key {} ({id}) in {} is protected, but the plan would {} it: {}",
                quoted(key),
                project_label(project),
                verb(*action).base,
                Causes(causes)
            ),
            PlanError::ReplaceUnknown { target, problem } => {
                format!("--replace {target}: {}", replace_problem(target, problem))
            }
            PlanError::Policy { violations } => super::policy::refusal(violations),
            PlanError::Multiple(errors) => format!("{} problems prevent a plan", errors.len()),
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            PlanError::ProjectIdNotFound { .. } => {
                "check the id (`keyplan import` lists the projects), or give the project's \
                 name = \"...\" instead"
                    .to_owned()
            }
            PlanError::ProjectNameNotFound { .. } => {
                "project names are exact and case-sensitive; or give the project's id = \"...\""
                    .to_owned()
            }
            PlanError::ProjectNameAmbiguous { candidates, .. } => format!(
                "give id = \"{}\" instead of name in the [[project]] table to pick one",
                candidates.first().map_or("...", |id| id.as_str())
            ),
            PlanError::ProjectDeclaredTwice { .. } => {
                "merge the [[project]] tables into one".to_owned()
            }
            PlanError::ProjectNotListed { .. } => {
                "this is a bug in keyplan: every project the manifest names must be listed \
                 before planning"
                    .to_owned()
            }
            PlanError::DeclaredTwice { .. } => {
                "a name may appear once per project; `keyplan validate` shows where".to_owned()
            }
            PlanError::ReservedName { .. } => "choose another name".to_owned(),
            PlanError::KeyIdNotFound { .. } => {
                "correct the id, or remove it to bind the key by name".to_owned()
            }
            PlanError::KeyAmbiguous { candidates, .. } => format!(
                "add id = \"{}\" to the key to pick one; the others then count as unmanaged keys",
                candidates.first().map_or("...", KeyId::as_str)
            ),
            PlanError::KeyClaimedTwice { .. } => {
                "remove the id or previous name that points at it from all but one of them"
                    .to_owned()
            }
            PlanError::RetiringAmbiguous { .. } => {
                "delete it in the Pinecone console once nothing uses it, then rerun".to_owned()
            }
            PlanError::ReplacePinned { .. } => {
                "remove `id` from the key in the manifest first (it is only needed while \
                 several live keys share the name)"
                    .to_owned()
            }
            PlanError::Protected { .. } => {
                "remove `protected = true` from the key if this is intended, or undo the \
                 change that causes it"
                    .to_owned()
            }
            PlanError::ReplaceUnknown { .. } => {
                "name a declared key that exists live, as PROJECT/KEY with PROJECT the \
                 project's name or id"
                    .to_owned()
            }
            PlanError::Policy { .. } => {
                "each line says how to fix it; the rules are the manifest's [[policy]] tables \
                 (docs/policy.md)"
                    .to_owned()
            }
            PlanError::Multiple(_) => return None,
        };
        Some(hint)
    }
}

fn replace_problem(target: &crate::model::KeyRef, problem: &ReplaceProblem) -> String {
    let (project_ref, key) = (quoted(&target.project), quoted(&target.key));
    match problem {
        ReplaceProblem::NoProject => {
            format!("the manifest declares no project named or with id {project_ref}")
        }
        ReplaceProblem::NoKey => {
            format!("the manifest declares no key {key} in project {project_ref}")
        }
        ReplaceProblem::SeveralProjects(ids) => format!(
            "several projects named {project_ref} declare key {key}: {}",
            join(ids)
        ),
        ReplaceProblem::StillBeingCreated { project } => format!(
            "key {key} in {} is still being created (the plan finishes its interrupted create)",
            project_label(project)
        ),
        ReplaceProblem::NotLive { project } => format!(
            "key {key} does not exist live in {} (the plan creates it)",
            project_label(project)
        ),
    }
}

/// The message alone; several errors as a list, each with its hint (a single error's hint is
/// for the caller to show: [`PlanError::hint`]).
impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let PlanError::Multiple(_) = self else {
            return f.write_str(&self.message());
        };
        let errors = self.errors();
        write!(f, "{} problems prevent a plan:", errors.len())?;
        for error in errors {
            write!(f, "\n- {}", error.message())?;
            if let Some(hint) = error.hint() {
                write!(f, "\n  hint: {hint}")?;
            }
        }
        Ok(())
    }
}
