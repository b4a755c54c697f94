//! The words for `rotation_overlap`: the replace that keeps its old key, the retiring key
//! deleted once the overlap has passed, and the notes while it is kept.

use std::fmt;

use crate::plan::{Cause, NoteKind};

/// The sentence of an overlap cause (other causes write nothing).
pub(super) fn cause(cause: &Cause, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match cause {
        Cause::KeepsOldKey { overlap } => write!(
            f,
            "the old key stays under its retiring name for {overlap} (rotation_overlap)"
        ),
        Cause::OverlapEnded { of, overlap, since } => write!(
            f,
            "retiring key of {of:?}: its overlap of {overlap} ended at {since}"
        ),
        Cause::UntimedOverlapForced { of, overlap } => write!(
            f,
            "retiring key of {of:?}: --force deletes it, though its overlap of {overlap} \
             cannot be timed"
        ),
        _ => Ok(()),
    }
}

/// The sentence of an overlap note (other notes write nothing).
pub(super) fn note(note: &NoteKind, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match note {
        NoteKind::Retiring { id, overlap, until } => write!(
            f,
            "retiring: the old key {id} stays until {until} (rotation_overlap = \"{overlap}\"); \
             the first apply after that deletes it"
        ),
        NoteKind::RetiringUntimed { id, overlap } => write!(
            f,
            "retiring: the old key {id} is kept, since the new key's creation time is unknown \
             and rotation_overlap = \"{overlap}\" cannot be timed; `--replace` of the key, \
             or `--force`, deletes it"
        ),
        _ => Ok(()),
    }
}
