//! Matching declared keys to live keys, and the diff into changes.
//!
//! [`compute_plan`] is a pure function of the manifest, the live state and the options: no
//! I/O, no clock (`now` comes in [`PlanOptions`]). It resolves the manifest's projects
//! ([`resolve`]), binds each declared key to at most one live key ([`bind`]: by `id`, else by
//! name, else by a previous name), finishes or removes what interrupted applies left
//! ([`recovery`]), turns the differences into changes ([`diff`]), sorts them, counts them and
//! runs the safety guard. Wherever the live state allows more than one reading, it refuses
//! with a [`PlanError`] that names the candidates: keyplan never guesses. The only tie-breaks
//! are ones every run makes the same way: the secret store's record of which key it holds
//! ([`PlanOptions::held`]), the retiring name a replace gives the key it is replacing, and the
//! pending name a create gives a new key until its secret is stored.
//! docs/plan-output.md states the rules for users.

use std::collections::{BTreeMap, BTreeSet};

use crate::desired::{Desired, DesiredKey, DesiredProject};
use crate::model::{KeyId, KeyRef, LiveKey, Project};

use super::error::collect_errors;
use super::guard::{self, ProjectDeletes};
use super::{
    Action, Cause, Change, ChangeKind, FORMAT_VERSION, KeyAfter, KeyBefore, LiveState, Plan,
    PlanError, PlanNote, PlanOptions, ReplaceProblem, Summary, UnmanagedKey,
};

mod bind;
mod diff;
mod policy;
mod project;
mod recovery;
mod resolve;

pub use resolve::resolve_projects;

#[cfg(test)]
mod overlap_tests;
#[cfg(test)]
mod policy_tests;
#[cfg(test)]
mod tests;

/// Computes the plan: resolves the projects, matches keys, diffs, sorts, counts and guards.
///
/// Every problem found is reported at once ([`PlanError::Multiple`]). A plan the safety guard
/// refuses is still returned, with [`Plan::guard`] set.
pub fn compute_plan(
    desired: &Desired,
    live: &LiveState,
    options: &PlanOptions,
) -> Result<Plan, PlanError> {
    let resolved = resolve_projects(desired, &live.projects)?;
    let mut errors = Vec::new();
    let requested = requested_replacements(desired, &resolved, options, &mut errors);
    let mut out = ProjectOutcome::default();
    let mut guard_counts = Vec::new();
    for (index, (declared, project)) in desired.projects.iter().zip(&resolved).enumerate() {
        let Some(keys) = live.keys.get(&project.id) else {
            errors.push(PlanError::ProjectNotListed {
                project: project.clone(),
            });
            continue;
        };
        let context = ProjectContext {
            project,
            declared,
            options,
            requested: requested.get(&index).cloned().unwrap_or_default(),
            held: options
                .held
                .range((project.id.clone(), String::new())..)
                .take_while(|((id, _), _)| id == &project.id)
                .map(|((_, name), key)| (name.as_str(), key))
                .collect(),
        };
        let first_change = out.changes.len();
        let live = context.plan(keys, &mut out, &mut errors);
        if !options.audit_only {
            policy::judge(
                desired,
                declared,
                project,
                keys.len(),
                &out.changes[first_change..],
                &mut errors,
            );
        }
        guard_counts.push(ProjectDeletes {
            project: project.clone(),
            deletes: out.delete_count_from(first_change),
            live,
        });
    }
    collect_errors(errors)?;

    let ProjectOutcome {
        mut changes,
        mut unmanaged,
        mut notes,
    } = out;
    changes.sort_by(|a, b| change_order(a).cmp(&change_order(b)));
    unmanaged.sort_by(|a, b| {
        (&a.project.name, &a.project.id, &a.key.name, &a.key.id).cmp(&(
            &b.project.name,
            &b.project.id,
            &b.key.name,
            &b.key.id,
        ))
    });
    notes.sort_by(|a, b| {
        (&a.project.name, &a.project.id, &a.key, &a.kind).cmp(&(
            &b.project.name,
            &b.project.id,
            &b.key,
            &b.kind,
        ))
    });
    let mut summary = Summary::default();
    for change in &changes {
        summary.add(change.action());
    }
    let guard = guard::check(guard_counts, options.limits);
    let mut projects = resolved;
    projects.sort();
    projects.dedup();
    Ok(Plan {
        format_version: FORMAT_VERSION.to_owned(),
        changes,
        unmanaged,
        summary,
        projects,
        guard,
        notes,
    })
}

/// The order of a plan: creates, updates, replaces, deletes; then by project name, project id,
/// key name (the declared name where there is one) and key id.
fn change_order(change: &Change) -> (Action, &str, &str, &str, &str) {
    (
        change.action(),
        &change.project.name,
        change.project.id.as_str(),
        change.key_name(),
        change.before().map_or("", |b| b.id.as_str()),
    )
}

/// Maps `--replace` targets to (index of the declared project → key names), reporting targets
/// that name no declared key.
fn requested_replacements(
    desired: &Desired,
    resolved: &[Project],
    options: &PlanOptions,
    errors: &mut Vec<PlanError>,
) -> BTreeMap<usize, BTreeSet<String>> {
    let mut requested: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    for target in &options.replace {
        let unknown = |problem| PlanError::ReplaceUnknown {
            target: target.clone(),
            problem,
        };
        let projects: Vec<usize> = resolved
            .iter()
            .enumerate()
            .filter(|(_, p)| p.id.as_str() == target.project || p.name == target.project)
            .map(|(i, _)| i)
            .collect();
        if projects.is_empty() {
            errors.push(unknown(ReplaceProblem::NoProject));
            continue;
        }
        let declaring: Vec<usize> = projects
            .into_iter()
            .filter(|&i| {
                desired.projects[i]
                    .keys
                    .iter()
                    .any(|k| k.name == target.key)
            })
            .collect();
        match declaring.as_slice() {
            [] => errors.push(unknown(ReplaceProblem::NoKey)),
            [index] => {
                requested
                    .entry(*index)
                    .or_default()
                    .insert(target.key.clone());
            }
            several => errors.push(unknown(ReplaceProblem::SeveralProjects(
                several.iter().map(|&i| resolved[i].id.clone()).collect(),
            ))),
        }
    }
    requested
}

/// What planning the projects produced so far.
#[derive(Debug, Default)]
struct ProjectOutcome {
    changes: Vec<Change>,
    unmanaged: Vec<UnmanagedKey>,
    notes: Vec<PlanNote>,
}

impl ProjectOutcome {
    /// The deletes the safety guard counts: all but those of pending keys, which keyplan made
    /// and never handed to anyone, so deleting them cannot take a working key from anybody.
    /// Counted from change `first` on: one project's.
    fn delete_count_from(&self, first: usize) -> usize {
        self.changes[first..]
            .iter()
            .filter(|c| c.action() == Action::Delete && !c.finishes_or_removes_interrupted_create())
            .count()
    }
}

/// One project being planned.
struct ProjectContext<'a> {
    project: &'a Project,
    declared: &'a DesiredProject,
    options: &'a PlanOptions,
    /// Declared key names `--replace` asks to replace.
    requested: BTreeSet<String>,
    /// This project's part of `options.held`, by key name: looked up for every declared key,
    /// which against the whole map cost two string copies each.
    held: rustc_hash::FxHashMap<&'a str, &'a KeyId>,
}

impl ProjectContext<'_> {
    /// The `--replace` target naming `declared` in this project.
    fn replace_target(&self, declared: &DesiredKey) -> KeyRef {
        KeyRef {
            project: self.project.name.clone(),
            key: declared.name.clone(),
        }
    }

    fn change(&self, kind: ChangeKind, causes: Vec<Cause>) -> Change {
        Change {
            project: self.project.clone(),
            kind,
            causes,
        }
    }

    fn delete(&self, key: &LiveKey, cause: Cause) -> Change {
        self.change(
            ChangeKind::Delete {
                before: KeyBefore::from(key),
            },
            vec![cause],
        )
    }

    fn note(&self, declared: &DesiredKey, kind: super::NoteKind) -> PlanNote {
        PlanNote {
            project: self.project.clone(),
            key: declared.name.clone(),
            kind,
        }
    }
}

/// The state a declared key should have.
fn after(declared: &DesiredKey) -> KeyAfter {
    KeyAfter {
        name: declared.name.clone(),
        roles: declared.roles.clone(),
    }
}
