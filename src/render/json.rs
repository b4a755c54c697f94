//! The plan as a stable, versioned JSON document (`--format json`).
//!
//! The document has its own types, separate from [`Plan`]'s serde form, so that internal
//! changes cannot rename or drop a field users parse. Fields may be added; the ones of
//! `format_version` "1" (`format_version`, `changes[].action/project/before/after/reason`,
//! `unmanaged`, `summary`) are never renamed or removed.

use serde::Serialize;

use crate::model::{Project, RoleSet};
use crate::plan::{Action, Cause, FORMAT_VERSION, KeyBefore, Plan};

use super::role_names;

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
    reason: &'a str,
    causes: &'a [Cause],
}

#[derive(Serialize)]
struct BeforeDoc<'a> {
    id: &'a str,
    name: &'a str,
    /// Sorted in the order Pinecone's documentation lists the roles.
    roles: Vec<&'static str>,
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
    roles: Vec<&'static str>,
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
    message: &'a str,
}

#[derive(Serialize)]
pub(super) struct NoteDoc<'a> {
    project: ProjectDoc<'a>,
    key: &'a str,
    message: &'a str,
}

impl<'a> NoteDoc<'a> {
    pub(super) fn of(note: &'a crate::plan::PlanNote) -> Self {
        NoteDoc {
            project: ProjectDoc::of(&note.project),
            key: &note.key,
            message: &note.message,
        }
    }
}

fn roles(roles: &RoleSet) -> Vec<&'static str> {
    role_names(roles)
}

/// Renders the plan as its JSON document, pretty-printed, with a final newline.
pub fn json(plan: &Plan) -> String {
    let doc = PlanDoc {
        format_version: FORMAT_VERSION,
        changes: plan
            .changes
            .iter()
            .map(|c| ChangeDoc {
                action: c.action,
                project: ProjectDoc::of(&c.project),
                before: c.before.as_ref().map(BeforeDoc::of),
                after: c.after.as_ref().map(|a| AfterDoc {
                    name: &a.name,
                    roles: roles(&a.roles),
                }),
                reason: &c.reason,
                causes: &c.causes,
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
        guard: plan.guard.as_ref().map(|g| GuardDoc {
            message: &g.message,
        }),
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
