//! The change, if any, for one declared key: create, update in place, or replace; with every
//! cause, and the notes a reviewer should see.

use crate::desired::{DesiredKey, RoleChange};
use crate::model::LiveKey;
use crate::plan::{
    Action, Cause, ChangeKind, KeyBefore, MatchedBy, NoteKind, PlanError, ReplaceProblem,
    RotationDue,
};

use super::bind::Binding;
use super::{ProjectContext, ProjectOutcome, after};

/// What a declared key has live: its binding, else the retiring key whose replace is being
/// finished, else the pending key whose create is being finished.
#[derive(Clone, Copy)]
pub(super) struct Found<'a> {
    pub binding: Binding<'a>,
    pub retiring: Option<&'a LiveKey>,
    pub created: Option<&'a LiveKey>,
}

impl<'a> ProjectContext<'a> {
    /// The change (if any) for one declared key.
    #[expect(clippy::too_many_lines, reason = "one decision, read top to bottom")]
    pub(super) fn diff(
        &self,
        declared: &DesiredKey,
        found: Found<'a>,
        out: &mut ProjectOutcome,
        errors: &mut Vec<PlanError>,
    ) {
        let requested = self.requested.contains(&declared.name);
        let unknown = |problem| PlanError::ReplaceUnknown {
            target: self.replace_target(declared),
            problem,
        };
        if let Some(pending) = found.created {
            if requested {
                errors.push(unknown(ReplaceProblem::StillBeingCreated {
                    project: self.project.clone(),
                }));
                return;
            }
            // A just-made key nobody has used: its roles are set in place whatever
            // role_change says, in the same PATCH as the rename.
            let mut causes = vec![Cause::FinishingCreate];
            if pending.roles != declared.roles {
                causes.push(Cause::RolesDiffer);
            }
            out.changes.push(self.change(
                ChangeKind::Update {
                    before: KeyBefore::from(pending),
                    after: after(declared),
                },
                causes,
            ));
            return;
        }
        let Some((key, by)) = found.binding else {
            if let Some(retiring) = found.retiring {
                let mut causes = vec![Cause::FinishingReplace];
                causes.extend(keeps_old_key(declared));
                if declared.protected {
                    errors.push(self.protected(declared, retiring, Action::Replace, causes));
                    return;
                }
                out.changes.push(self.change(
                    ChangeKind::Replace {
                        before: KeyBefore::from(retiring),
                        after: after(declared),
                    },
                    causes,
                ));
            } else if requested {
                errors.push(unknown(ReplaceProblem::NotLive {
                    project: self.project.clone(),
                }));
            } else {
                out.changes.push(self.change(
                    ChangeKind::Create {
                        after: after(declared),
                    },
                    vec![Cause::Missing],
                ));
            }
            return;
        };

        let roles_differ = key.roles != declared.roles;
        // Causes that need a new key, most telling first, then the differences an update
        // alone would fix.
        let mut replace_causes = Vec::new();
        if roles_differ && declared.role_change == RoleChange::Replace {
            replace_causes.push(Cause::RoleChangeReplaces {
                from: key.roles.clone(),
                to: declared.roles.clone(),
            });
        }
        if let Some(due) = self.rotation(declared, key, out) {
            replace_causes.push(Cause::RotationDue(due));
        }
        if requested {
            replace_causes.push(Cause::Requested);
        }
        let mut differences = Vec::new();
        if key.name != declared.name {
            differences.push(if by == MatchedBy::PreviousName {
                Cause::Renamed {
                    from: key.name.clone(),
                }
            } else {
                Cause::NameDiffers
            });
        }
        if roles_differ && declared.role_change != RoleChange::Replace {
            differences.push(Cause::RolesDiffer);
        }

        if replace_causes.is_empty() {
            if !differences.is_empty() {
                out.changes.push(self.change(
                    ChangeKind::Update {
                        before: KeyBefore::from(key),
                        after: after(declared),
                    },
                    differences,
                ));
            }
            return;
        }
        let mut causes = replace_causes;
        causes.extend(differences);
        causes.extend(keeps_old_key(declared));
        if by == MatchedBy::Id {
            errors.push(PlanError::ReplacePinned {
                project: self.project.clone(),
                key: declared.name.clone(),
                id: key.id.clone(),
                causes,
            });
        } else if declared.protected {
            errors.push(self.protected(declared, key, Action::Replace, causes));
        } else {
            out.changes.push(self.change(
                ChangeKind::Replace {
                    before: KeyBefore::from(key),
                    after: after(declared),
                },
                causes,
            ));
        }
    }

    /// Checks a key's age against its `rotate_after`: the overdue rotation, if any; a note when
    /// the age cannot be told.
    fn rotation(
        &self,
        declared: &DesiredKey,
        key: &LiveKey,
        out: &mut ProjectOutcome,
    ) -> Option<RotationDue> {
        let limit = declared.rotate_after.as_ref()?;
        let note = match (key.created_at, self.options.now) {
            (Some(_), Some(_)) => return self.overdue(declared, key),
            (None, _) => NoteKind::AgeUnknown {
                id: key.id.clone(),
                limit: limit.spelled.clone(),
            },
            (Some(_), None) => NoteKind::AgeNotChecked {
                limit: limit.spelled.clone(),
            },
        };
        out.notes.push(self.note(declared, note));
        None
    }

    /// The rotation due when the key is older than the declared key's `rotate_after`; `None`
    /// when it is not, or when that cannot be told.
    pub(super) fn overdue(&self, declared: &DesiredKey, key: &LiveKey) -> Option<RotationDue> {
        let limit = declared.rotate_after.as_ref()?;
        let (created, now) = (key.created_at?, self.options.now?);
        let age = now.duration_since(created);
        (age > limit.limit).then(|| RotationDue {
            limit: limit.spelled.clone(),
            created,
            age_days: age.as_secs() / 86_400,
        })
    }

    /// What becomes of a retiring key kept for `rotation_overlap` beside `current`, the
    /// declared key's live key: kept (with a note saying until when, or why it cannot be
    /// timed), or deleted once the overlap has passed since `current` was created. `None`
    /// when the key has no overlap or `--replace` asks for it (the old key goes, as the new
    /// rotation's own old key takes its place).
    pub(super) fn overlap(
        &self,
        declared: &DesiredKey,
        current: &LiveKey,
        retiring: &LiveKey,
        out: &mut ProjectOutcome,
    ) -> Option<Overlap> {
        let overlap = declared.rotation_overlap.as_ref()?;
        if self.requested.contains(&declared.name) {
            return None;
        }
        let spelled = overlap.spelled.clone();
        let until = current
            .created_at
            .and_then(|created| created.checked_add(overlap.limit).ok());
        let note = match (until, self.options.now) {
            (Some(until), Some(now)) if now >= until => {
                return Some(Overlap::Ended(Cause::OverlapEnded {
                    of: declared.name.clone(),
                    overlap: spelled,
                    since: until,
                }));
            }
            (Some(until), Some(_)) => NoteKind::Retiring {
                id: retiring.id.clone(),
                overlap: spelled,
                until,
            },
            _ if self.options.force => {
                return Some(Overlap::Ended(Cause::UntimedOverlapForced {
                    of: declared.name.clone(),
                    overlap: spelled,
                }));
            }
            _ => NoteKind::RetiringUntimed {
                id: retiring.id.clone(),
                overlap: spelled,
            },
        };
        out.notes.push(self.note(declared, note));
        Some(Overlap::Kept)
    }

    fn protected(
        &self,
        declared: &DesiredKey,
        key: &LiveKey,
        action: Action,
        causes: Vec<Cause>,
    ) -> PlanError {
        PlanError::Protected {
            project: self.project.clone(),
            key: declared.name.clone(),
            id: key.id.clone(),
            action,
            causes,
        }
    }
}

/// The cause a replace of `declared` carries when its old key is kept for `rotation_overlap`.
fn keeps_old_key(declared: &DesiredKey) -> Option<Cause> {
    declared
        .rotation_overlap
        .as_ref()
        .map(|overlap| Cause::KeepsOldKey {
            overlap: overlap.spelled.clone(),
        })
}

/// A retiring key under `rotation_overlap`: kept for now, or deleted for this cause.
pub(super) enum Overlap {
    Kept,
    Ended(Cause),
}
