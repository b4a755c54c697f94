//! The plan as a stable, versioned JSON document (`--format json`).
//!
//! The document has its own types, separate from [`Plan`]'s serde form, so that internal
//! changes cannot rename or drop a field users parse. Fields may be added; `format_version`,
//! `changes[].action/project/before/after/reason`, `unmanaged` and `summary` are never renamed
//! or removed. Version 2 made `causes[]`, `notes[]` and `guard` structured: each cause and
//! note is an object tagged by `cause`/`note` with its data and its `message`, and the guard
//! carries its limits, the projects over them and the counts.

use serde::Serialize;

use crate::model::{Project, RoleSet};
use crate::plan::{Action, Cause, FORMAT_VERSION, GuardRefusal, KeyBefore, Plan, PlanNote};

use super::words::{GUARD_ADVICE, guard_reasons, role_names};

#[derive(Serialize)]
struct PlanDoc<'a> {
    format_version: &'static str,
    changes: Vec<ChangeDoc<'a>>,
    unmanaged: Vec<UnmanagedDoc<'a>>,
    summary: SummaryDoc,
    /// `null`, or the safety guard's refusal.
    guard: Option<GuardDoc<'a>>,
    notes: Vec<NoteDoc<'a>>,
    projects: Vec<ProjectDoc<'a>>,
}

#[derive(Serialize)]
pub(super) struct ProjectDoc<'a> {
    id: &'a str,
    name: &'a str,
}

impl<'a> ProjectDoc<'a> {
    pub(super) fn of(project: &'a Project) -> Self {
        ProjectDoc {
            id: project.id.as_str(),
            name: &project.name,
        }
    }
}

#[derive(Serialize)]
struct ChangeDoc<'a> {
    action: Action,
    project: ProjectDoc<'a>,
    before: Option<BeforeDoc<'a>>,
    after: Option<AfterDoc<'a>>,
    reason: String,
    causes: Vec<CauseDoc<'a>>,
}

/// A cause: its tag and data as the plan holds them, and its sentence.
#[derive(Serialize)]
struct CauseDoc<'a> {
    #[serde(flatten)]
    cause: &'a Cause,
    message: String,
}

#[derive(Serialize)]
struct BeforeDoc<'a> {
    id: &'a str,
    name: &'a str,
    /// Sorted in the order Pinecone's documentation lists the roles; roles keyplan does not
    /// know (newer than this release) last, verbatim.
    roles: Vec<&'a str>,
    /// RFC 3339, or `null` when the API did not say.
    created_at: Option<String>,
}

impl<'a> BeforeDoc<'a> {
    fn of(key: &'a KeyBefore) -> Self {
        BeforeDoc {
            id: key.id.as_str(),
            name: &key.name,
            roles: role_names(&key.roles),
            created_at: key.created_at.map(|t| t.to_string()),
        }
    }
}

#[derive(Serialize)]
struct AfterDoc<'a> {
    name: &'a str,
    roles: Vec<&'a str>,
}

#[derive(Serialize)]
struct UnmanagedDoc<'a> {
    project: ProjectDoc<'a>,
    key: BeforeDoc<'a>,
}

#[derive(Serialize)]
struct SummaryDoc {
    create: usize,
    update: usize,
    replace: usize,
    delete: usize,
}

#[derive(Serialize)]
struct GuardDoc<'a> {
    /// False when `--force` overrides the refusal.
    refused: bool,
    max_delete_share: f64,
    guard_min_keys: usize,
    max_deletes: usize,
    /// Projects whose deletions exceed `max_delete_share`.
    projects: Vec<GuardProjectDoc<'a>>,
    total_deletes: usize,
    over_total: bool,
    /// One sentence per exceeded limit.
    reasons: Vec<String>,
    advice: &'static str,
}

impl<'a> GuardDoc<'a> {
    fn of(refusal: &'a GuardRefusal, overridden: bool) -> Self {
        GuardDoc {
            refused: !overridden,
            max_delete_share: refusal.limits.max_delete_share.get(),
            guard_min_keys: refusal.limits.guard_min_keys,
            max_deletes: refusal.limits.max_deletes,
            projects: refusal
                .projects
                .iter()
                .map(|p| GuardProjectDoc {
                    project: ProjectDoc::of(&p.project),
                    deletes: p.deletes,
                    live: p.live,
                })
                .collect(),
            total_deletes: refusal.total_deletes,
            over_total: refusal.over_total,
            reasons: guard_reasons(refusal),
            advice: GUARD_ADVICE,
        }
    }
}

#[derive(Serialize)]
struct GuardProjectDoc<'a> {
    project: ProjectDoc<'a>,
    deletes: usize,
    live: usize,
}

#[derive(Serialize)]
pub(super) struct NoteDoc<'a> {
    project: ProjectDoc<'a>,
    key: &'a str,
    #[serde(flatten)]
    kind: &'a crate::plan::NoteKind,
    message: String,
}

impl<'a> NoteDoc<'a> {
    pub(super) fn of(note: &'a PlanNote) -> Self {
        NoteDoc {
            project: ProjectDoc::of(&note.project),
            key: &note.key,
            kind: &note.kind,
            message: note.kind.to_string(),
        }
    }
}

fn roles(roles: &RoleSet) -> Vec<&str> {
    role_names(roles)
}

/// Renders the plan as its JSON document, pretty-printed, with a final newline.
pub fn json(plan: &Plan, opts: &super::RenderOptions) -> String {
    let doc = PlanDoc {
        format_version: FORMAT_VERSION,
        changes: plan
            .changes
            .iter()
            .map(|c| ChangeDoc {
                action: c.action(),
                project: ProjectDoc::of(&c.project),
                before: c.before().map(BeforeDoc::of),
                after: c.after().map(|a| AfterDoc {
                    name: &a.name,
                    roles: roles(&a.roles),
                }),
                reason: super::reason(c),
                causes: c
                    .causes
                    .iter()
                    .map(|cause| CauseDoc {
                        cause,
                        message: cause.to_string(),
                    })
                    .collect(),
            })
            .collect(),
        unmanaged: plan
            .unmanaged
            .iter()
            .map(|u| UnmanagedDoc {
                project: ProjectDoc::of(&u.project),
                key: BeforeDoc::of(&u.key),
            })
            .collect(),
        summary: SummaryDoc {
            create: plan.summary.create,
            update: plan.summary.update,
            replace: plan.summary.replace,
            delete: plan.summary.delete,
        },
        guard: plan
            .guard
            .as_ref()
            .map(|g| GuardDoc::of(g, opts.guard_overridden)),
        notes: plan.notes.iter().map(NoteDoc::of).collect(),
        projects: plan.projects.iter().map(ProjectDoc::of).collect(),
    };
    to_pretty(&doc)
}

/// Pretty JSON with a final newline. The documents hold only strings, numbers, arrays and
/// string-keyed objects, which `serde_json` always serialises.
pub(super) fn to_pretty(doc: &impl Serialize) -> String {
    let mut text = serde_json::to_string_pretty(doc)
        .expect("render documents have string keys only, so serialising cannot fail");
    text.push('\n');
    text
}
