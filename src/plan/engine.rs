//! Matching declared keys to live keys, and the diff into changes.
//!
//! [`compute_plan`] is a pure function of the manifest, the live state and the options: no
//! I/O, no clock (`now` comes in [`PlanOptions`]). It resolves the manifest's projects, binds
//! each declared key to at most one live key (by `id`, else by name, else by a previous name),
//! turns the differences into changes, sorts them, counts them and runs the safety guard.
//! Wherever the live state allows more than one reading, it refuses with a [`PlanError`] that
//! names the candidates and says how to pick one: keyplan never guesses. The only tie-breaks
//! are ones every run makes the same way: the secret store's record of which key it holds
//! ([`PlanOptions::held`]), the retiring name a replace gives the key it is replacing, and the
//! pending name a create gives a new key until its secret is stored.
//! docs/plan-output.md states the rules for users.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};

use crate::desired::{
    Desired, DesiredKey, DesiredProject, ProjectSelector, RoleChange, UnmanagedPolicy,
};
use crate::model::{KeyId, LiveKey, Project, ProjectId, RoleSet};

use super::{
    Action, Cause, Change, FORMAT_VERSION, GuardRefusal, KeyAfter, KeyBefore, LiveState,
    PENDING_SUFFIX, Plan, PlanNote, PlanOptions, RETIRING_SUFFIX, Summary, UnmanagedKey,
    is_in_flight_name, pending_name, pending_stem, retiring_name, retiring_stem,
};

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

impl fmt::Display for MatchedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatchedBy::Id => "id",
            MatchedBy::Name => "name",
            MatchedBy::PreviousName => "previous name",
        })
    }
}

/// Why no plan could be made. Each variant says what is wrong, for which project and key, and
/// (through [`PlanError::hint`], also printed by `Display`) what the user can do about it.
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
        /// The claims, e.g. `"api" (by id)`.
        claims: Vec<String>,
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
        reason: String,
    },
    /// The plan would delete or replace a protected key.
    Protected {
        project: Project,
        key: String,
        id: KeyId,
        action: Action,
        reason: String,
    },
    /// A `--replace PROJECT/KEY` that names no existing declared key.
    ReplaceUnknown { target: String, problem: String },
    /// Several of the above, reported at once.
    Multiple(Vec<PlanError>),
}

fn project_label(project: &Project) -> String {
    format!("project {:?} ({})", project.name, project.id)
}

fn join_ids<T: fmt::Display>(ids: &[T]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl PlanError {
    /// What went wrong, for which project and key (without the hint).
    #[expect(clippy::too_many_lines, reason = "one arm per variant")]
    pub fn message(&self) -> String {
        match self {
            PlanError::ProjectIdNotFound { id } => {
                format!("no project of the organisation has id {id}")
            }
            PlanError::ProjectNameNotFound { name, similar } => {
                let mut msg = format!("no project is named {name:?}");
                if !similar.is_empty() {
                    let list: Vec<String> = similar
                        .iter()
                        .map(|p| format!("{:?} ({})", p.name, p.id))
                        .collect();
                    let _ = write!(msg, "; similar names: {}", list.join(", "));
                }
                msg
            }
            PlanError::ProjectNameAmbiguous { name, candidates } => format!(
                "{} projects are named {name:?}: {}",
                candidates.len(),
                join_ids(candidates)
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
                "key name {name:?} appears more than once in {} (as a name or a previous name)",
                project_label(project)
            ),
            PlanError::ReservedName { project, name } => {
                let (suffix, what) = if pending_stem(name).is_some() {
                    (PENDING_SUFFIX, "creating")
                } else {
                    (RETIRING_SUFFIX, "replacing")
                };
                format!(
                    "key name {name:?} in {} ends with {suffix:?}, which keyplan reserves for \
                     keys it is {what}",
                    project_label(project)
                )
            }
            PlanError::KeyIdNotFound {
                project,
                key,
                id,
                same_name,
            } => {
                let mut msg = format!(
                    "key {key:?} in {} declares id = \"{id}\", but no live key of that project \
                     has that id",
                    project_label(project)
                );
                if !same_name.is_empty() {
                    let _ = write!(msg, "; live keys named {key:?}: {}", join_ids(same_name));
                }
                msg
            }
            PlanError::KeyAmbiguous {
                project,
                key,
                by,
                candidates,
            } => format!(
                "{} live keys in {} match key {key:?} by {by}: {}; keyplan does not guess",
                candidates.len(),
                project_label(project),
                join_ids(candidates)
            ),
            PlanError::KeyClaimedTwice {
                project,
                id,
                claims,
            } => format!(
                "live key {id} in {} is claimed by more than one declared key: {}",
                project_label(project),
                claims.join(", ")
            ),
            PlanError::RetiringAmbiguous {
                project,
                id,
                name,
                keys,
            } => format!(
                "live key {name:?} ({id}) in {} was left by an interrupted replace, but its \
                 shortened name fits several declared keys: {}",
                project_label(project),
                keys.iter()
                    .map(|k| format!("{k:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            PlanError::ReplacePinned {
                project,
                key,
                id,
                reason,
            } => format!(
                "key {key:?} in {} is bound by id = \"{id}\", but the plan replaces it ({reason}), \
                 and its replacement gets a new id",
                project_label(project)
            ),
            PlanError::Protected {
                project,
                key,
                id,
                action,
                reason,
            } => format!(
                "key {key:?} ({id}) in {} is protected, but the plan would {} it: {reason}",
                project_label(project),
                match action {
                    Action::Delete => "delete",
                    _ => "replace",
                }
            ),
            PlanError::ReplaceUnknown { target, problem } => {
                format!("--replace {target}: {problem}")
            }
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
                candidates.first().map_or("...", |id| id.as_str())
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
            PlanError::Multiple(_) => return None,
        };
        Some(hint)
    }

    /// The errors this one stands for: itself, or each of a [`PlanError::Multiple`].
    pub fn errors(&self) -> Vec<&PlanError> {
        match self {
            PlanError::Multiple(errors) => errors.iter().flat_map(PlanError::errors).collect(),
            other => vec![other],
        }
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let PlanError::Multiple(_) = self {
            let errors = self.errors();
            write!(f, "{} problems prevent a plan:", errors.len())?;
            for error in errors {
                let text = error.to_string().replace('\n', "\n  ");
                write!(f, "\n- {text}")?;
            }
            return Ok(());
        }
        f.write_str(&self.message())?;
        if let Some(hint) = self.hint() {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PlanError {}

/// One error stays itself; several become [`PlanError::Multiple`].
fn collect_errors(mut errors: Vec<PlanError>) -> Result<(), PlanError> {
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => Err(PlanError::Multiple(errors)),
    }
}

/// Resolves each `[[project]]` of the manifest to a project of the organisation: one per
/// [`DesiredProject`], in the same order. By id (it must exist in `org`) or by exact name
/// (exactly one project may have it). Reports every problem at once.
pub fn resolve_projects(desired: &Desired, org: &[Project]) -> Result<Vec<Project>, PlanError> {
    let mut errors = Vec::new();
    let mut resolved = Vec::new();
    for declared in &desired.projects {
        match &declared.selector {
            ProjectSelector::Id(id) => match org.iter().find(|p| &p.id == id) {
                Some(project) => resolved.push(project.clone()),
                None => errors.push(PlanError::ProjectIdNotFound { id: id.clone() }),
            },
            ProjectSelector::Name(name) => {
                let mut matches: Vec<&Project> = org.iter().filter(|p| &p.name == name).collect();
                matches.sort();
                match matches.as_slice() {
                    [project] => resolved.push((*project).clone()),
                    [] => errors.push(PlanError::ProjectNameNotFound {
                        name: name.clone(),
                        similar: similar_projects(name, org),
                    }),
                    several => errors.push(PlanError::ProjectNameAmbiguous {
                        name: name.clone(),
                        candidates: several.iter().map(|p| p.id.clone()).collect(),
                    }),
                }
            }
        }
    }
    let mut seen = BTreeSet::new();
    let mut reported = BTreeSet::new();
    for project in &resolved {
        if !seen.insert(&project.id) && reported.insert(&project.id) {
            errors.push(PlanError::ProjectDeclaredTwice {
                project: project.clone(),
            });
        }
    }
    collect_errors(errors).map(|()| resolved)
}

/// Up to five projects whose names are close to `name`: equal ignoring case, containing one
/// another, or a few edits apart.
fn similar_projects(name: &str, org: &[Project]) -> Vec<Project> {
    let wanted = name.to_lowercase();
    let mut scored: Vec<(usize, &Project)> = org
        .iter()
        .filter_map(|p| {
            let have = p.name.to_lowercase();
            let distance = strsim::levenshtein(&wanted, &have);
            let close = distance <= (wanted.chars().count() / 3).max(2)
                || (!wanted.is_empty() && (have.contains(&wanted) || wanted.contains(&have)));
            close.then_some((distance, p))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(5).map(|(_, p)| p.clone()).collect()
}

/// A role set as the plan's reasons write it: `[DataPlaneEditor, DataPlaneViewer]`.
pub fn format_roles(roles: &RoleSet) -> String {
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    format!("[{}]", names.join(", "))
}

/// A duration as people write it in a manifest: `90d`, `12h`, `1d 12h`, `30m`.
pub fn format_duration(duration: jiff::SignedDuration) -> String {
    let total = duration.as_secs();
    let sign = if total < 0 { "-" } else { "" };
    let mut rest = total.unsigned_abs();
    let mut parts = Vec::new();
    for (unit, secs) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if rest >= secs {
            parts.push(format!("{}{unit}", rest / secs));
            rest %= secs;
        }
    }
    if parts.is_empty() {
        parts.push("0s".to_owned());
    }
    format!("{sign}{}", parts.join(" "))
}

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
        };
        let first_change = out.changes.len();
        let looked_at = context.plan(keys, &mut out, &mut errors);
        guard_counts.push((project, out.delete_count_from(first_change), looked_at));
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
        (&a.project.name, &a.project.id, &a.key, &a.message).cmp(&(
            &b.project.name,
            &b.project.id,
            &b.key,
            &b.message,
        ))
    });
    let mut summary = Summary::default();
    for change in &changes {
        *match change.action {
            Action::Create => &mut summary.create,
            Action::Update => &mut summary.update,
            Action::Replace => &mut summary.replace,
            Action::Delete => &mut summary.delete,
        } += 1;
    }
    let guarded_deletes = guard_counts.iter().map(|(_, deletes, _)| deletes).sum();
    let guard = guard(&guard_counts, guarded_deletes, options);
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
    let name = change
        .after
        .as_ref()
        .map(|a| a.name.as_str())
        .or(change.before.as_ref().map(|b| b.name.as_str()))
        .unwrap_or_default();
    let id = change.before.as_ref().map_or("", |b| b.id.as_str());
    (
        change.action,
        &change.project.name,
        change.project.id.as_str(),
        name,
        id,
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
    for (project_ref, key) in &options.replace {
        let target = format!("{project_ref}/{key}");
        let projects: Vec<usize> = resolved
            .iter()
            .enumerate()
            .filter(|(_, p)| p.id.as_str() == project_ref || &p.name == project_ref)
            .map(|(i, _)| i)
            .collect();
        if projects.is_empty() {
            errors.push(PlanError::ReplaceUnknown {
                target,
                problem: format!(
                    "the manifest declares no project named or with id {project_ref:?}"
                ),
            });
            continue;
        }
        let declaring: Vec<usize> = projects
            .into_iter()
            .filter(|&i| desired.projects[i].keys.iter().any(|k| &k.name == key))
            .collect();
        match declaring.as_slice() {
            [] => errors.push(PlanError::ReplaceUnknown {
                target,
                problem: format!("the manifest declares no key {key:?} in project {project_ref:?}"),
            }),
            [index] => {
                requested.entry(*index).or_default().insert(key.clone());
            }
            several => errors.push(PlanError::ReplaceUnknown {
                target,
                problem: format!(
                    "several projects named {project_ref:?} declare key {key:?}: {}",
                    join_ids(&several.iter().map(|&i| &resolved[i].id).collect::<Vec<_>>())
                ),
            }),
        }
    }
    requested
}

/// The safety guard: too many deletions in one project, or in all.
fn guard(
    counts: &[(&Project, usize, usize)],
    total_deletes: usize,
    options: &PlanOptions,
) -> Option<GuardRefusal> {
    let mut reasons = Vec::new();
    for (project, deletes, live) in counts {
        if *live >= options.guard_min_keys
            && exceeds_share(*deletes, *live, options.max_delete_share)
        {
            reasons.push(format!(
                "the plan deletes {deletes} of the {live} live keys of {}: more than {}% of a \
                 project with at least {} keys",
                project_label(project),
                format_percent(options.max_delete_share),
                options.guard_min_keys
            ));
        }
    }
    if total_deletes > options.max_deletes {
        reasons.push(format!(
            "the plan deletes {total_deletes} keys in all: more than the limit of {}",
            options.max_deletes
        ));
    }
    if reasons.is_empty() {
        return None;
    }
    reasons
        .push("check the deletions, then rerun with --force to apply this plan anyway".to_owned());
    Some(GuardRefusal {
        message: format!("refused by the safety guard: {}", reasons.join("; ")),
    })
}

#[expect(
    clippy::cast_precision_loss,
    reason = "key counts are far below 2^52, where f64 stays exact"
)]
fn exceeds_share(deletes: usize, live: usize, share: f64) -> bool {
    deletes as f64 > share * live as f64
}

fn format_percent(share: f64) -> String {
    let text = format!("{:.2}", share * 100.0);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
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
            .filter(|c| c.action == Action::Delete && !c.causes.contains(&Cause::InterruptedCreate))
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
}

/// A declared key's live key, and how it was found.
type Binding<'a> = Option<(&'a LiveKey, MatchedBy)>;

/// Which declared key claims a live key, and how; put into words only when two claim one.
#[derive(Clone, Copy)]
enum Claim<'a> {
    Bound(&'a str, MatchedBy),
    FinishingCreate(&'a str),
    Duplicate(&'a str),
}

impl Claim<'_> {
    /// E.g. `"api" (by id)`.
    fn describe(&self) -> String {
        match self {
            Claim::Bound(name, by) => format!("{name:?} (by {by})"),
            Claim::FinishingCreate(name) => format!("{name:?} (finishing its create)"),
            Claim::Duplicate(name) => format!("{name:?} (as a duplicate to delete)"),
        }
    }
}

/// What a declared key has live: its binding, else the retiring key whose replace is being
/// finished, else the pending key whose create is being finished.
#[derive(Clone, Copy)]
struct Found<'a> {
    binding: Binding<'a>,
    retiring: Option<&'a LiveKey>,
    created: Option<&'a LiveKey>,
}

/// A live key under a declared key's name that an interrupted or concurrent apply left, and
/// that keyplan deletes because it does not hold its secret.
struct Extra<'a> {
    key: &'a LiveKey,
    of: &'a DesiredKey,
    /// Created by an interrupted replace whose secret never reached the store (else: a
    /// duplicate settled by the store's record).
    orphan: bool,
}

impl<'a> ProjectContext<'a> {
    /// Plans one project into `out`, or adds to `errors`. Returns how many live keys the
    /// guard counts (all but the ignored ones).
    fn plan(
        &self,
        live_keys: &'a [LiveKey],
        out: &mut ProjectOutcome,
        errors: &mut Vec<PlanError>,
    ) -> usize {
        let errors_before = errors.len();
        // Sorted by id so every tie (several retiring keys, duplicates) falls the same way in
        // every run, whatever order the API listed them in.
        let mut keys: Vec<&'a LiveKey> = live_keys.iter().collect();
        keys.sort_by(|a, b| (&a.id, &a.name).cmp(&(&b.id, &b.name)));

        self.check_names(errors);
        if errors.len() > errors_before {
            return 0;
        }

        // Retiring keys and the declared keys they belong to, worked out before binding: the
        // store's record of a retiring key tells a half-made replacement from a real key.
        let pinned: BTreeSet<&KeyId> = self
            .declared
            .keys
            .iter()
            .filter_map(|d| d.id.as_ref())
            .collect();
        let retiring = self.retiring_owners(&keys, &pinned, errors);
        // Keys left by an interrupted create, and for each declared key the one whose secret
        // the store holds under its name (the create got as far as storing it).
        let pending: Vec<&'a LiveKey> = keys
            .iter()
            .filter(|k| pending_stem(&k.name).is_some() && !pinned.contains(&k.id))
            .copied()
            .collect();
        let held_pending: Vec<Option<&'a LiveKey>> = self
            .declared
            .keys
            .iter()
            .map(|declared| self.held_pending(declared, &pending))
            .collect();

        let mut claims: BTreeMap<&KeyId, Vec<Claim<'a>>> = BTreeMap::new();
        let mut extras: Vec<Extra<'a>> = Vec::new();
        let mut bindings: Vec<Binding<'a>> = Vec::new();
        for (index, declared) in self.declared.keys.iter().enumerate() {
            let owned = owned_by(&retiring, index);
            let binding = self.bind(
                declared,
                &keys,
                &owned,
                held_pending[index].is_some(),
                &mut extras,
                errors,
            );
            if let Some((key, by)) = binding {
                claims
                    .entry(&key.id)
                    .or_default()
                    .push(Claim::Bound(&declared.name, by));
            }
            bindings.push(binding);
        }
        // A declared key with no live key of its own whose pending key's secret is stored:
        // the create is finished by renaming that key.
        let mut created: BTreeMap<usize, &'a LiveKey> = BTreeMap::new();
        for (index, declared) in self.declared.keys.iter().enumerate() {
            if let Some(key) = held_pending[index]
                && bindings[index].is_none()
            {
                created.insert(index, key);
                claims
                    .entry(&key.id)
                    .or_default()
                    .push(Claim::FinishingCreate(&declared.name));
            }
        }
        for extra in &extras {
            claims
                .entry(&extra.key.id)
                .or_default()
                .push(Claim::Duplicate(&extra.of.name));
        }
        for (id, who) in &claims {
            if who.len() > 1 {
                errors.push(PlanError::KeyClaimedTwice {
                    project: self.project.clone(),
                    id: (*id).clone(),
                    claims: who.iter().map(Claim::describe).collect(),
                });
            }
        }
        if errors.len() > errors_before {
            return 0;
        }

        self.delete_extras(&extras, out);
        self.pending_leftovers(&pending, &created, out);

        let has_key: Vec<bool> = (0..bindings.len())
            .map(|i| bindings[i].is_some() || created.contains_key(&i))
            .collect();
        let finishing = self.retiring(&retiring, &has_key, out);
        for (index, declared) in self.declared.keys.iter().enumerate() {
            let found = Found {
                binding: bindings[index],
                retiring: finishing.get(&index).copied(),
                created: created.get(&index).copied(),
            };
            self.diff(declared, found, out, errors);
        }

        self.undeclared(&keys, &claims, &pinned, out)
    }

    /// Lists or deletes the live keys no declared key claims (by the project's `unmanaged`
    /// policy), except ignored ones and leftovers. Returns how many live keys the guard counts.
    fn undeclared(
        &self,
        keys: &[&'a LiveKey],
        claims: &BTreeMap<&KeyId, Vec<Claim<'a>>>,
        pinned: &BTreeSet<&KeyId>,
        out: &mut ProjectOutcome,
    ) -> usize {
        let mut looked_at = 0;
        for key in keys {
            // Pending keys were handled above: never unmanaged, never ignored, and not live
            // keys for the guard (nobody has ever used one).
            if pending_stem(&key.name).is_some() && !pinned.contains(&key.id) {
                continue;
            }
            let retiring = retiring_stem(&key.name).is_some();
            let ignored = self.declared.ignore.iter().any(|g| g.is_match(&key.name));
            if claims.contains_key(&key.id) || retiring || !ignored {
                looked_at += 1;
            }
            // Retiring keys were handled above: they are never unmanaged, never ignored.
            if claims.contains_key(&key.id) || retiring || ignored {
                continue;
            }
            match self.declared.unmanaged {
                UnmanagedPolicy::Keep => out.unmanaged.push(UnmanagedKey {
                    project: self.project.clone(),
                    key: KeyBefore::from(*key),
                }),
                UnmanagedPolicy::Delete => out.changes.push(self.change(
                    Action::Delete,
                    Some(key),
                    None,
                    "not declared in the manifest and unmanaged = \"delete\"".to_owned(),
                    vec![Cause::Unmanaged],
                )),
            }
        }
        looked_at
    }

    /// Deletes what interrupted or concurrent applies left under declared names.
    fn delete_extras(&self, extras: &[Extra<'a>], out: &mut ProjectOutcome) {
        for extra in extras {
            let (reason, cause) = if extra.orphan {
                (
                    format!(
                        "created by an interrupted replace of {:?} whose secret was never \
                         stored; keyplan does not hold its secret",
                        extra.of.name
                    ),
                    Cause::InterruptedReplace,
                )
            } else {
                (
                    format!(
                        "duplicate of {:?} left by an interrupted or concurrent apply; keyplan \
                         does not hold its secret",
                        extra.of.name
                    ),
                    Cause::Duplicate,
                )
            };
            out.changes.push(self.change(
                Action::Delete,
                Some(extra.key),
                None,
                reason,
                vec![cause],
            ));
        }
    }

    /// Deletes the pending keys no create is finished from: their secret was never stored
    /// (the run was killed before), or the declared key already has a live key, or the
    /// manifest no longer declares the key.
    fn pending_leftovers(
        &self,
        pending: &[&'a LiveKey],
        created: &BTreeMap<usize, &'a LiveKey>,
        out: &mut ProjectOutcome,
    ) {
        for key in pending {
            if created.values().any(|k| k.id == key.id) {
                continue;
            }
            let owners: Vec<&DesiredKey> = self
                .declared
                .keys
                .iter()
                .filter(|d| pending_name(&d.name) == key.name)
                .collect();
            let held = owners.iter().find(|d| {
                self.options
                    .held
                    .get(&(self.project.id.clone(), d.name.clone()))
                    == Some(&key.id)
            });
            let reason = match (held, owners.first()) {
                (Some(owner), _) => match self.overdue(owner, key) {
                    Some(overdue) => format!(
                        "left by an interrupted create of {:?}, and {overdue}: a new key is \
                         created instead",
                        owner.name
                    ),
                    None => format!(
                        "left by an interrupted create of {:?}, which already has a live key",
                        owner.name
                    ),
                },
                (None, Some(owner)) => format!(
                    "left by an interrupted create of {:?}; keyplan never stored its secret",
                    owner.name
                ),
                (None, None) => {
                    "left by an interrupted create of a key the manifest no longer declares"
                        .to_owned()
                }
            };
            out.changes.push(self.change(
                Action::Delete,
                Some(key),
                None,
                reason,
                vec![Cause::InterruptedCreate],
            ));
        }
    }

    /// The pending key (left by an interrupted create) whose secret the store holds under
    /// the declared key's name, unless it is already older than the key's `rotate_after`
    /// (then a new key is made rather than one finished only to be replaced). Keys bound by
    /// `id` are never created, so have none.
    fn held_pending(&self, declared: &DesiredKey, pending: &[&'a LiveKey]) -> Option<&'a LiveKey> {
        if declared.id.is_some() {
            return None;
        }
        let held = self
            .options
            .held
            .get(&(self.project.id.clone(), declared.name.clone()))?;
        let name = pending_name(&declared.name);
        pending
            .iter()
            .find(|k| &k.id == held && k.name == name)
            .copied()
            .filter(|k| self.overdue(declared, k).is_none())
    }

    /// Names and previous names must be unique in a project and must not look retiring. The
    /// manifest's validation checks this too; the engine re-checks because matching relies
    /// on it.
    /// A name may repeat only where every key of that name is bound by `id` (as `import`
    /// writes duplicates that exist live): then no match goes by name.
    fn check_names(&self, errors: &mut Vec<PlanError>) {
        let all_bound_by_id = |name: &String| {
            self.declared
                .keys
                .iter()
                .filter(|k| &k.name == name)
                .all(|k| k.id.is_some())
                && !self
                    .declared
                    .keys
                    .iter()
                    .any(|k| k.previous_names.contains(name))
        };
        let mut seen = BTreeSet::new();
        for declared in &self.declared.keys {
            for name in std::iter::once(&declared.name).chain(&declared.previous_names) {
                if is_in_flight_name(name) {
                    errors.push(PlanError::ReservedName {
                        project: self.project.clone(),
                        name: name.clone(),
                    });
                }
                let repeated = !seen.insert(name);
                // Asked only of a repeat: `all_bound_by_id` scans the project's keys.
                if repeated && (name != &declared.name || !all_bound_by_id(name)) {
                    errors.push(PlanError::DeclaredTwice {
                        project: self.project.clone(),
                        name: name.clone(),
                    });
                }
            }
        }
    }

    /// Finds a declared key's live key: by id, else by name, else by a previous name.
    ///
    /// `owned` are the retiring keys that belong to the declared key; `pending_held` says
    /// that the store holds the secret of the declared key's pending key. Live keys left over
    /// by an interrupted or concurrent apply go to `extras`, to be deleted.
    fn bind(
        &self,
        declared: &'a DesiredKey,
        keys: &[&'a LiveKey],
        owned: &[&'a LiveKey],
        pending_held: bool,
        extras: &mut Vec<Extra<'a>>,
        errors: &mut Vec<PlanError>,
    ) -> Binding<'a> {
        if let Some(id) = &declared.id {
            let found = keys.iter().find(|k| &k.id == id).copied();
            if found.is_none() {
                errors.push(PlanError::KeyIdNotFound {
                    project: self.project.clone(),
                    key: declared.name.clone(),
                    id: id.clone(),
                    same_name: keys
                        .iter()
                        .filter(|k| k.name == declared.name)
                        .map(|k| k.id.clone())
                        .collect(),
                });
            }
            return found.map(|k| (k, MatchedBy::Id));
        }
        let by_name: Vec<&LiveKey> = keys
            .iter()
            .filter(|k| k.name == declared.name)
            .copied()
            .collect();
        let (candidates, by) = if by_name.is_empty() {
            let by_previous = keys
                .iter()
                .filter(|k| declared.previous_names.contains(&k.name))
                .copied()
                .collect();
            (by_previous, MatchedBy::PreviousName)
        } else {
            (by_name, MatchedBy::Name)
        };
        // The store's record of which key it holds the secret of settles what an interrupted
        // or concurrent apply left behind; every run reads the same record.
        let held = self.held_ids(declared);
        let holders: Vec<&LiveKey> = candidates
            .iter()
            .filter(|k| held.contains(&k.id))
            .copied()
            .collect();
        if by == MatchedBy::Name && holders.is_empty() && owned.iter().any(|k| held.contains(&k.id))
        {
            // The store still holds the retiring key's secret: the replace was interrupted
            // after creating the new key(s) but before storing a secret. Those keys' secrets
            // are lost; delete them and finish the replace from the retiring key.
            for key in &candidates {
                extras.push(Extra {
                    key,
                    of: declared,
                    orphan: true,
                });
            }
            return None;
        }
        if by == MatchedBy::Name && holders.is_empty() && pending_held {
            // The store holds the secret of the key a create left under its pending name: a
            // key under the declared name appeared since that create was planned (another
            // run's, whose secret the store no longer holds). The pending key is finished;
            // these are duplicates nobody holds the secret of.
            for key in &candidates {
                extras.push(Extra {
                    key,
                    of: declared,
                    orphan: false,
                });
            }
            return None;
        }
        match candidates.as_slice() {
            [] => None,
            [key] => Some((*key, by)),
            several => {
                if let [holder] = holders.as_slice() {
                    for other in several {
                        if other.id != holder.id {
                            extras.push(Extra {
                                key: other,
                                of: declared,
                                orphan: false,
                            });
                        }
                    }
                    Some((*holder, by))
                } else {
                    errors.push(PlanError::KeyAmbiguous {
                        project: self.project.clone(),
                        key: declared.name.clone(),
                        by,
                        candidates: several.iter().map(|k| k.id.clone()).collect(),
                    });
                    None
                }
            }
        }
    }

    /// The key ids the secret store holds secrets for under the declared key's name or one
    /// of its previous names.
    fn held_ids(&self, declared: &DesiredKey) -> BTreeSet<&'a KeyId> {
        std::iter::once(&declared.name)
            .chain(&declared.previous_names)
            .filter_map(|name| {
                self.options
                    .held
                    .get(&(self.project.id.clone(), name.clone()))
            })
            .collect()
    }

    /// Keys left by an interrupted replace (a replace renames the old key to its retiring
    /// name before creating the new one), each with the index of the declared key it belongs
    /// to, or `None` when no declared key has its name any more. Retiring keys a declared
    /// `id` binds are ordinary keys and left out. A retiring key whose (cut) name fits
    /// several declared keys is an error.
    fn retiring_owners(
        &self,
        keys: &[&'a LiveKey],
        pinned: &BTreeSet<&KeyId>,
        errors: &mut Vec<PlanError>,
    ) -> Vec<(&'a LiveKey, Option<usize>)> {
        let mut found = Vec::new();
        for key in keys {
            if retiring_stem(&key.name).is_none() || pinned.contains(&key.id) {
                continue;
            }
            // The retiring name comes from the declared name or, for a replace that also
            // renamed, from the previous name the key had.
            let owners: Vec<usize> = self
                .declared
                .keys
                .iter()
                .enumerate()
                .filter(|(_, d)| {
                    std::iter::once(&d.name)
                        .chain(&d.previous_names)
                        .any(|n| retiring_name(n) == key.name)
                })
                .map(|(i, _)| i)
                .collect();
            match owners.as_slice() {
                [] => found.push((*key, None)),
                [owner] => found.push((*key, Some(*owner))),
                several => errors.push(PlanError::RetiringAmbiguous {
                    project: self.project.clone(),
                    id: key.id.clone(),
                    name: key.name.clone(),
                    keys: several
                        .iter()
                        .map(|&i| self.declared.keys[i].name.clone())
                        .collect(),
                }),
            }
        }
        found
    }

    /// Plans the retiring keys. If the declared key has no live key of its own (`has_key`: a
    /// binding, or a pending key whose create is finished), its replace
    /// is finished: the retiring key whose secret the store holds, else the first by id,
    /// becomes its `before`. Every other retiring key is deleted. Returns the declared keys
    /// whose replace is being finished.
    fn retiring(
        &self,
        retiring: &[(&'a LiveKey, Option<usize>)],
        has_key: &[bool],
        out: &mut ProjectOutcome,
    ) -> BTreeMap<usize, &'a LiveKey> {
        let mut finishing: BTreeMap<usize, &'a LiveKey> = BTreeMap::new();
        for (index, declared) in self.declared.keys.iter().enumerate() {
            if has_key[index] {
                continue;
            }
            let owned = owned_by(retiring, index);
            let held = self.held_ids(declared);
            if let Some(first) = owned
                .iter()
                .find(|k| held.contains(&k.id))
                .or(owned.first())
            {
                finishing.insert(index, *first);
            }
        }
        for (key, owner) in retiring {
            let reason = match owner {
                None => "left by an interrupted replace of a key the manifest no longer declares"
                    .to_owned(),
                Some(index) if finishing.get(index).is_some_and(|k| k.id == key.id) => continue,
                Some(index) => format!(
                    "left by an interrupted replace of {:?}, whose new key exists",
                    self.declared.keys[*index].name
                ),
            };
            out.changes.push(self.change(
                Action::Delete,
                Some(key),
                None,
                reason,
                vec![Cause::InterruptedReplace],
            ));
        }
        finishing
    }

    /// The change (if any) for one declared key.
    #[expect(clippy::too_many_lines, reason = "one decision, read top to bottom")]
    fn diff(
        &self,
        declared: &DesiredKey,
        found: Found<'a>,
        out: &mut ProjectOutcome,
        errors: &mut Vec<PlanError>,
    ) {
        // Built only for a change: most keys match and need none.
        let after = || KeyAfter {
            name: declared.name.clone(),
            roles: declared.roles.clone(),
        };
        let requested = self.requested.contains(&declared.name);
        if let Some(pending) = found.created {
            if requested {
                errors.push(PlanError::ReplaceUnknown {
                    target: format!("{}/{}", self.project.name, declared.name),
                    problem: format!(
                        "key {:?} in {} is still being created (the plan finishes its \
                         interrupted create)",
                        declared.name,
                        project_label(self.project)
                    ),
                });
                return;
            }
            // A just-made key nobody has used: its roles are set in place whatever
            // role_change says, in the same PATCH as the rename.
            let mut reason = "finishing an interrupted create".to_owned();
            if pending.roles != declared.roles {
                reason.push_str("; roles differ from the manifest");
            }
            out.changes.push(self.change(
                Action::Update,
                Some(pending),
                Some(after()),
                reason,
                vec![Cause::InterruptedCreate],
            ));
            return;
        }
        let Some((key, by)) = found.binding else {
            if let Some(retiring) = found.retiring {
                let reason = "finishing an interrupted replace".to_owned();
                if declared.protected {
                    errors.push(self.protected(declared, retiring, Action::Replace, &reason));
                    return;
                }
                out.changes.push(self.change(
                    Action::Replace,
                    Some(retiring),
                    Some(after()),
                    reason,
                    vec![Cause::InterruptedReplace],
                ));
            } else if requested {
                errors.push(PlanError::ReplaceUnknown {
                    target: format!("{}/{}", self.project.name, declared.name),
                    problem: format!(
                        "key {:?} does not exist live in {} (the plan creates it)",
                        declared.name,
                        project_label(self.project)
                    ),
                });
            } else {
                out.changes.push(self.change(
                    Action::Create,
                    None,
                    Some(after()),
                    "declared in the manifest, not found live".to_owned(),
                    vec![Cause::Missing],
                ));
            }
            return;
        };

        let name_differs = key.name != declared.name;
        let roles_differ = key.roles != declared.roles;
        let mut differences = Vec::new();
        if name_differs {
            differences.push(if by == MatchedBy::PreviousName {
                format!("renamed: {:?} is one of its previous_names", key.name)
            } else {
                "name differs from the manifest".to_owned()
            });
        }
        let mut replace_reasons = Vec::new();
        let mut causes = Vec::new();
        if roles_differ {
            if declared.role_change == RoleChange::Replace {
                replace_reasons.push(format!(
                    "roles change from {} to {}; role_change = \"replace\"",
                    format_roles(&key.roles),
                    format_roles(&declared.roles)
                ));
            } else {
                differences.push("roles differ from the manifest".to_owned());
            }
        }
        if name_differs || roles_differ {
            causes.push(Cause::Differs);
        }
        if let Some(limit) = declared.rotate_after {
            self.rotation(declared, key, limit, &mut replace_reasons, &mut causes, out);
        }
        if requested {
            replace_reasons.push("replacement requested with --replace".to_owned());
            causes.push(Cause::Requested);
        }
        causes.sort();

        if !replace_reasons.is_empty() {
            replace_reasons.extend(differences);
            let reason = replace_reasons.join("; ");
            if by == MatchedBy::Id {
                errors.push(PlanError::ReplacePinned {
                    project: self.project.clone(),
                    key: declared.name.clone(),
                    id: key.id.clone(),
                    reason,
                });
            } else if declared.protected {
                errors.push(self.protected(declared, key, Action::Replace, &reason));
            } else {
                out.changes.push(self.change(
                    Action::Replace,
                    Some(key),
                    Some(after()),
                    reason,
                    causes,
                ));
            }
        } else if !differences.is_empty() {
            out.changes.push(self.change(
                Action::Update,
                Some(key),
                Some(after()),
                differences.join("; "),
                causes,
            ));
        }
    }

    /// Checks a key's age against its `rotate_after`.
    fn rotation(
        &self,
        declared: &DesiredKey,
        key: &LiveKey,
        limit: jiff::SignedDuration,
        replace_reasons: &mut Vec<String>,
        causes: &mut Vec<Cause>,
        out: &mut ProjectOutcome,
    ) {
        // Spelled out only for a note; the common case (both times known) needs no string.
        let spelled = || format_duration(limit);
        match (key.created_at, self.options.now) {
            (Some(_), Some(_)) => {
                if let Some(overdue) = self.overdue(declared, key) {
                    replace_reasons.push(overdue);
                    causes.push(Cause::Rotation);
                }
            }
            (None, _) => out.notes.push(PlanNote {
                project: self.project.clone(),
                key: declared.name.clone(),
                message: format!(
                    "age unknown: the API does not say when key {} was created, so \
                     rotate_after = \"{}\" cannot be checked",
                    key.id,
                    spelled()
                ),
            }),
            (Some(_), None) => out.notes.push(PlanNote {
                project: self.project.clone(),
                key: declared.name.clone(),
                message: format!(
                    "age not checked: no current time was given, so rotate_after = \
                     \"{}\" cannot be checked",
                    spelled()
                ),
            }),
        }
    }

    /// "older than 90d (created …, 179d ago)" when the key is older than the declared key's
    /// `rotate_after`; `None` when it is not, or when that cannot be told.
    fn overdue(&self, declared: &DesiredKey, key: &LiveKey) -> Option<String> {
        let limit = declared.rotate_after?;
        let (created, now) = (key.created_at?, self.options.now?);
        let age = now.duration_since(created);
        (age > limit).then(|| {
            format!(
                "older than {} (created {created}, {} ago)",
                format_duration(limit),
                format_duration(jiff::SignedDuration::from_secs(
                    age.as_secs() - age.as_secs() % 86_400
                ))
            )
        })
    }

    fn protected(
        &self,
        declared: &DesiredKey,
        key: &LiveKey,
        action: Action,
        reason: &str,
    ) -> PlanError {
        PlanError::Protected {
            project: self.project.clone(),
            key: declared.name.clone(),
            id: key.id.clone(),
            action,
            reason: reason.to_owned(),
        }
    }

    fn change(
        &self,
        action: Action,
        before: Option<&LiveKey>,
        after: Option<KeyAfter>,
        reason: String,
        causes: Vec<Cause>,
    ) -> Change {
        Change {
            action,
            project: self.project.clone(),
            before: before.map(KeyBefore::from),
            after,
            reason,
            causes,
        }
    }
}

/// The retiring keys whose interrupted replace belongs to declared key `index`.
fn owned_by<'a>(retiring: &[(&'a LiveKey, Option<usize>)], index: usize) -> Vec<&'a LiveKey> {
    retiring
        .iter()
        .filter(|(_, owner)| *owner == Some(index))
        .map(|(key, _)| *key)
        .collect()
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
