//! `rotation_overlap` as a timeline on a fixed clock: the replace keeps the old key, plans
//! within the overlap leave it (with a note saying until when), the first plan after it
//! deletes it, and a new key with no `created_at` keeps it with the reason.
#![expect(clippy::unwrap_used, reason = "tests")]

use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::desired::{ProjectSelector, RotateAfter, UnmanagedPolicy};
use crate::model::Role::DataPlaneViewer;
use crate::model::{KeyId, KeyRef, ProjectId, RoleSet};
use crate::plan::{LiveState, NoteKind, drift, retiring_name};

fn days(n: i64, spelled: &str) -> RotateAfter {
    RotateAfter {
        limit: SignedDuration::from_hours(24 * n),
        spelled: spelled.into(),
    }
}

fn manifest() -> Desired {
    let mut key = DesiredKey::new("query", RoleSet::from([DataPlaneViewer]));
    key.rotate_after = Some(days(30, "30d"));
    key.rotation_overlap = Some(days(7, "7d"));
    Desired {
        projects: vec![DesiredProject {
            selector: ProjectSelector::Name("prod".into()),
            unmanaged: UnmanagedPolicy::Keep,
            ignore: Vec::new(),
            keys: vec![key],
        }],
        ..Desired::default()
    }
}

fn key(id: &str, name: &str, created: Option<&str>) -> LiveKey {
    LiveKey {
        id: KeyId(id.into()),
        name: name.into(),
        project_id: ProjectId("p1".into()),
        roles: RoleSet::from([DataPlaneViewer]),
        created_at: created.map(|c| c.parse().unwrap()),
    }
}

fn prod() -> Project {
    Project {
        id: ProjectId("p1".into()),
        name: "prod".into(),
    }
}

fn live(keys: Vec<LiveKey>) -> LiveState {
    LiveState {
        projects: vec![prod()],
        keys: [(ProjectId("p1".into()), keys)].into(),
    }
}

fn at(now: &str) -> PlanOptions {
    PlanOptions {
        now: Some(now.parse().unwrap()),
        ..PlanOptions::default()
    }
}

/// After the replace: the new key (created 2026-03-01) and the old one, retiring.
fn after_replace(new_created: Option<&str>) -> LiveState {
    live(vec![
        key("new", "query", new_created),
        key("old", &retiring_name("query"), Some("2026-01-01T00:00:00Z")),
    ])
}

#[test]
fn a_due_rotation_replaces_and_says_the_old_key_is_kept() {
    let old = live(vec![key("old", "query", Some("2026-01-01T00:00:00Z"))]);
    let plan = compute_plan(&manifest(), &old, &at("2026-03-01T00:00:00Z")).unwrap();
    assert_eq!(plan.changes.len(), 1);
    assert_eq!(plan.changes[0].action(), Action::Replace);
    assert_eq!(
        plan.changes[0].causes.last(),
        Some(&Cause::KeepsOldKey {
            overlap: "7d".into()
        })
    );
}

#[test]
fn within_the_overlap_the_retiring_key_stays_with_a_note_and_no_drift() {
    let plan = compute_plan(
        &manifest(),
        &after_replace(Some("2026-03-01T00:00:00Z")),
        &at("2026-03-03T00:00:00Z"),
    )
    .unwrap();
    assert!(plan.is_empty(), "{:?}", plan.changes);
    let until: Timestamp = "2026-03-08T00:00:00Z".parse().unwrap();
    assert_eq!(
        plan.notes.iter().map(|n| &n.kind).collect::<Vec<_>>(),
        [&NoteKind::Retiring {
            id: KeyId("old".into()),
            overlap: "7d".into(),
            until
        }]
    );
    assert!(drift(&plan).is_clean());
}

#[test]
fn the_first_plan_after_the_overlap_deletes_the_retiring_key_and_drift_calls_it_overdue() {
    let plan = compute_plan(
        &manifest(),
        &after_replace(Some("2026-03-01T00:00:00Z")),
        &at("2026-03-09T00:00:00Z"),
    )
    .unwrap();
    assert_eq!(plan.changes.len(), 1);
    let change = &plan.changes[0];
    assert_eq!(change.action(), Action::Delete);
    assert_eq!(change.before().unwrap().id, KeyId("old".into()));
    assert_eq!(
        change.causes,
        [Cause::OverlapEnded {
            of: "query".into(),
            overlap: "7d".into(),
            since: "2026-03-08T00:00:00Z".parse().unwrap()
        }]
    );
    assert_eq!(drift(&plan).rotation_due.len(), 1);
}

#[test]
fn without_the_new_keys_creation_time_the_old_key_is_kept_and_the_plan_says_why() {
    let plan = compute_plan(
        &manifest(),
        &after_replace(None),
        &at("2027-01-01T00:00:00Z"),
    )
    .unwrap();
    assert!(plan.is_empty());
    assert!(plan.notes.iter().any(|n| n.kind
        == NoteKind::RetiringUntimed {
            id: KeyId("old".into()),
            overlap: "7d".into()
        }));
    // `--replace` rotates again: the kept key goes, the current one becomes the retiring one.
    let mut options = at("2027-01-01T00:00:00Z");
    options.replace.insert(KeyRef {
        project: "prod".into(),
        key: "query".into(),
    });
    let plan = compute_plan(&manifest(), &after_replace(None), &options).unwrap();
    let actions: Vec<(Action, &str)> = plan
        .changes
        .iter()
        .map(|c| (c.action(), c.before().unwrap().id.as_str()))
        .collect();
    assert_eq!(actions, [(Action::Replace, "new"), (Action::Delete, "old")]);
}

#[test]
fn force_deletes_a_kept_key_whose_overlap_cannot_be_timed_and_only_that_key() {
    let mut options = at("2027-01-01T00:00:00Z");
    options.force = true;
    let plan = compute_plan(&manifest(), &after_replace(None), &options).unwrap();
    let [change] = plan.changes.as_slice() else {
        panic!("expected one change, got {:?}", plan.changes);
    };
    assert_eq!(change.action(), Action::Delete);
    assert_eq!(change.before().unwrap().id, KeyId("old".into()));
    assert_eq!(
        change.causes,
        [Cause::UntimedOverlapForced {
            of: "query".into(),
            overlap: "7d".into()
        }]
    );
    // A timed overlap still runs its course: --force does not cut it short.
    let within = after_replace(Some("2026-03-01T00:00:00Z"));
    let mut options = at("2026-03-03T00:00:00Z");
    options.force = true;
    assert!(
        compute_plan(&manifest(), &within, &options)
            .unwrap()
            .is_empty()
    );
}
