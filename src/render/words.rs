//! Every word keyplan says about a plan: verbs per action, the sentence of each cause and
//! note, the guard's reasons, plan errors with their hints, and the ways roles are written.
//!
//! The plan layer holds data only; its `Display` impls live here so that all wording is in
//! one room, shared by every format.

use std::borrow::Cow;
use std::fmt;

use crate::model::{Project, Role, RoleSet};
use crate::plan::{Action, Cause, CreateLeftover, GuardRefusal, MatchedBy, NoteKind, RotationDue};

/// The words for one action, in every form output needs.
#[derive(Debug, Clone, Copy)]
pub struct Verb {
    /// `create`
    pub base: &'static str,
    /// `creating`
    pub progressive: &'static str,
    /// `created`
    pub past: &'static str,
    /// `will be created` (the plan's comment line)
    pub fate: &'static str,
}

/// The one verb table.
pub fn verb(action: Action) -> Verb {
    match action {
        Action::Create => Verb {
            base: "create",
            progressive: "creating",
            past: "created",
            fate: "will be created",
        },
        Action::Update => Verb {
            base: "update",
            progressive: "updating",
            past: "updated",
            fate: "will be updated in place",
        },
        Action::Replace => Verb {
            base: "replace",
            progressive: "replacing",
            past: "replaced",
            fate: "must be replaced",
        },
        Action::Delete => Verb {
            base: "delete",
            progressive: "deleting",
            past: "deleted",
            fate: "will be deleted",
        },
    }
}

/// Role names in Pinecone's documented order, verbatim (unknown ones last): for data (JSON).
pub fn role_names(roles: &RoleSet) -> Vec<&str> {
    roles.iter().map(Role::as_str).collect()
}

/// A role as text output shows it. The six known ones as themselves; a role keyplan does not
/// know came from the API (or a manifest that allowed it), so it is shown as itself only when
/// it reads like a role name (letters, digits, `_`, `-`, at most 64), and [`quoted`]
/// otherwise, so that no role can break a line, forge one, or flood the output.
pub fn role_shown(role: &Role) -> Cow<'_, str> {
    let name = role.as_str();
    let plain = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if role.is_known() || plain {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(quoted(name))
    }
}

/// Roles as text output shows them, in Pinecone's documented order (unknown ones last).
pub fn roles_shown(roles: &RoleSet) -> Vec<Cow<'_, str>> {
    roles.iter().map(role_shown).collect()
}

/// `DataPlaneEditor, DataPlaneViewer`, or `(none)`.
pub fn roles_inline(roles: &RoleSet) -> String {
    if roles.is_empty() {
        "(none)".to_owned()
    } else {
        roles_shown(roles).join(", ")
    }
}

/// A role set as causes and drift details write it: `[DataPlaneEditor, DataPlaneViewer]`.
#[derive(Debug)]
pub struct BracketedRoles<'a>(pub &'a RoleSet);

impl fmt::Display for BracketedRoles<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", roles_shown(self.0).join(", "))
    }
}

/// A key's or project's name as output shows it: quoted, with control characters escaped, so
/// that no name can break a line or forge another.
pub fn quoted(name: &str) -> String {
    // A name from the API can be megabytes long; repeated whole in every message that names it,
    // it would flood the output. Its start is enough to recognise it, and the count says it was
    // cut (the full name stays in JSON output, saved plans and imports, which are data).
    const SHOWN_CHARS: usize = 200;
    match name.char_indices().nth(SHOWN_CHARS) {
        Some((cut, _)) => format!("{:?}…({} more bytes)", &name[..cut], name.len() - cut),
        None => format!("{name:?}"),
    }
}

/// `project "prod" (id)`: a project as every message names it, its name quoted and its id
/// cleaned (both come from the API).
pub fn project_label(project: &Project) -> String {
    format!(
        "project {} ({})",
        quoted(&project.name),
        clean(project.id.as_str())
    )
}

/// Whether a character must never reach a terminal or a log as itself: a control character
/// (a line break, ESC), a bidirectional override or isolate, or a line or paragraph separator.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// Free text that may carry words from the API (an error's detail, an id, a message naming
/// a key): every [unsafe](is_unsafe_char) character escaped (`\n`, `\u{1b}`), the rest as is.
/// Applied to every line an apply prints, on top of [`quoted`] names.
pub fn clean(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(is_unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe_char(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

pub(super) fn join<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn join_quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| quoted(n))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for RotationDue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "older than {} (created {}, {}d ago)",
            self.limit, self.created, self.age_days
        )
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Missing => f.write_str("declared in the manifest, not found live"),
            Cause::FinishingCreate => f.write_str("finishing an interrupted create"),
            Cause::FinishingReplace => f.write_str("finishing an interrupted replace"),
            Cause::RoleChangeReplaces { from, to } => write!(
                f,
                "roles change from {} to {}; role_change = \"replace\"",
                BracketedRoles(from),
                BracketedRoles(to)
            ),
            Cause::RotationDue(due) => due.fmt(f),
            Cause::Requested => f.write_str("replacement requested with --replace"),
            Cause::Renamed { from } => write!(f, "renamed: {from:?} is one of its previous_names"),
            Cause::NameDiffers => f.write_str("name differs from the manifest"),
            Cause::RolesDiffer => f.write_str("roles differ from the manifest"),
            Cause::Duplicate { of } => write!(
                f,
                "duplicate of {of:?} left by an interrupted or concurrent apply; keyplan does \
                 not hold its secret"
            ),
            Cause::LostReplacement { of } => write!(
                f,
                "created by an interrupted replace of {of:?} whose secret was never stored; \
                 keyplan does not hold its secret"
            ),
            Cause::CreateLeftover(leftover) => match leftover {
                CreateLeftover::Undeclared => f.write_str(
                    "left by an interrupted create of a key the manifest no longer declares",
                ),
                CreateLeftover::NeverStored { of } => write!(
                    f,
                    "left by an interrupted create of {of:?}; keyplan never stored its secret"
                ),
                CreateLeftover::AlreadyLive { of } => write!(
                    f,
                    "left by an interrupted create of {of:?}, which already has a live key"
                ),
                CreateLeftover::Overdue { of, rotation } => write!(
                    f,
                    "left by an interrupted create of {of:?}, and {rotation}: a new key is \
                     created instead"
                ),
            },
            Cause::RetiringLeftover { of: None } => f.write_str(
                "left by an interrupted replace of a key the manifest no longer declares",
            ),
            Cause::RetiringLeftover { of: Some(of) } => write!(
                f,
                "left by an interrupted replace of {of:?}, whose new key exists"
            ),
            Cause::Unmanaged => {
                f.write_str("not declared in the manifest and unmanaged = \"delete\"")
            }
            Cause::KeepsOldKey { .. }
            | Cause::OverlapEnded { .. }
            | Cause::UntimedOverlapForced { .. } => super::overlap::cause(self, f),
        }
    }
}

/// The causes of a change as one line: each cause's sentence, joined by `; `.
#[derive(Debug)]
pub struct Causes<'a>(pub &'a [Cause]);

impl fmt::Display for Causes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, cause) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            cause.fmt(f)?;
        }
        Ok(())
    }
}

impl fmt::Display for NoteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoteKind::AgeUnknown { id, limit } => write!(
                f,
                "age unknown: the API does not say when key {id} was created, so \
                 rotate_after = \"{limit}\" cannot be checked"
            ),
            NoteKind::AgeNotChecked { limit } => write!(
                f,
                "age not checked: no current time was given, so rotate_after = \"{limit}\" \
                 cannot be checked"
            ),
            NoteKind::Retiring { .. } | NoteKind::RetiringUntimed { .. } => {
                super::overlap::note(self, f)
            }
        }
    }
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

// ----- the safety guard -----

/// What to do about a refusal, said once.
pub const GUARD_ADVICE: &str = "check the deletions, then rerun with --force to apply this plan anyway, or raise \
     --max-delete-share / --max-deletes";

/// The title of a refusal that `--force` overrides.
pub const GUARD_OVERRIDDEN: &str = "Warning: the safety guard's limits are overridden by --force";

/// One line per limit the plan exceeds.
pub fn guard_reasons(refusal: &GuardRefusal) -> Vec<String> {
    let limits = &refusal.limits;
    let mut reasons: Vec<String> = refusal
        .projects
        .iter()
        .map(|p| {
            format!(
                "the plan deletes {} of the {} live keys of {}: more than {}% of a project \
                 with at least {} keys",
                p.deletes,
                p.live,
                project_label(&p.project),
                percent(limits.max_delete_share.get()),
                limits.guard_min_keys
            )
        })
        .collect();
    if refusal.over_total {
        reasons.push(format!(
            "the plan deletes {} in all: more than the limit of {}",
            count(refusal.total_deletes, "key"),
            limits.max_deletes
        ));
    }
    reasons
}

/// `1 key`, `3 keys`.
pub(super) fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// `25`, `12.5`: a share as a percentage without trailing zeros.
fn percent(share: f64) -> String {
    let text = format!("{:.2}", share * 100.0);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The warning for a planned rename or delete that a secret destination cannot carry out
/// itself (a command store without `rename_command` or `delete_command`): what to do by hand.
pub fn cannot_follow(renaming: bool, key: &str, to: &str, destination: &str) -> String {
    if renaming {
        format!(
            "{destination} cannot follow renames: after apply, the secret of {} is still under \
             that name there; store it under {} there by hand (and delete the old one), or give \
             that store a rename_command",
            quoted(key),
            quoted(to)
        )
    } else {
        format!(
            "{destination} cannot follow deletes: after apply, delete the secret of {} there by \
             hand, or give that store a delete_command",
            quoted(key)
        )
    }
}
