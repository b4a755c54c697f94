//! Each rule as literals: a key that breaks it, a key that keeps it.

use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::desired::{KeyGlob, NamePattern, RotateAfter};
use crate::model::{ProjectId, RoleSet};

fn rule() -> PolicyRule {
    PolicyRule {
        location: "keyplan.toml:3".into(),
        projects: Vec::new(),
        forbid_roles: RoleSet::new(),
        max_age: None,
        name_pattern: None,
        max_keys: None,
    }
}

fn days(n: i64, spelled: &str) -> RotateAfter {
    RotateAfter {
        limit: SignedDuration::from_hours(24 * n),
        spelled: spelled.into(),
    }
}

fn now() -> Timestamp {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

fn live(name: &str, roles: &[Role], created: Option<&str>) -> LiveKey {
    LiveKey {
        id: KeyId(format!("id-{name}")),
        name: name.into(),
        project_id: ProjectId("p1".into()),
        roles: roles.iter().cloned().collect(),
        created_at: created.map(|c| c.parse().unwrap()),
    }
}

fn prod() -> Project {
    Project {
        id: ProjectId("p1".into()),
        name: "search-prod".into(),
    }
}

#[test]
fn forbid_roles_names_each_forbidden_role_of_a_declared_key() {
    let rule = PolicyRule {
        forbid_roles: RoleSet::from([Role::ProjectEditor]),
        ..rule()
    };
    let bad = DesiredKey::new(
        "ci",
        RoleSet::from([Role::ProjectEditor, Role::DataPlaneViewer]),
    );
    assert_eq!(
        judge_declared(&rule, &bad),
        vec![ViolationKind::ForbiddenRole {
            role: Role::ProjectEditor
        }]
    );
    let good = DesiredKey::new("ci", RoleSet::from([Role::DataPlaneViewer]));
    assert_eq!(judge_declared(&rule, &good), vec![]);
}

#[test]
fn max_age_needs_a_declared_rotate_after_no_longer_than_it() {
    let rule = PolicyRule {
        max_age: Some(days(90, "90d")),
        ..rule()
    };
    let mut key = DesiredKey::new("ci", RoleSet::from([Role::DataPlaneViewer]));
    assert_eq!(
        judge_declared(&rule, &key),
        vec![ViolationKind::NoRotation {
            max_age: "90d".into()
        }]
    );
    key.rotate_after = Some(days(91, "13w"));
    assert_eq!(
        judge_declared(&rule, &key),
        vec![ViolationKind::RotatesTooLate {
            rotate_after: "13w".into(),
            max_age: "90d".into()
        }]
    );
    key.rotate_after = Some(days(90, "90d"));
    assert_eq!(judge_declared(&rule, &key), vec![]);
}

#[test]
fn max_age_judges_live_keys_by_created_at_and_skips_keys_without_it() {
    let rule = PolicyRule {
        max_age: Some(days(90, "90d")),
        ..rule()
    };
    let old = live("ci", &[Role::DataPlaneViewer], Some("2026-01-01T00:00:00Z"));
    assert_eq!(
        judge_live(&rule, &old, "ci", now()),
        vec![ViolationKind::TooOld {
            age_days: 151,
            max_age: "90d".into()
        }]
    );
    let young = live("ci", &[Role::DataPlaneViewer], Some("2026-05-01T00:00:00Z"));
    assert_eq!(judge_live(&rule, &young, "ci", now()), vec![]);
    let undated = live("ci", &[Role::DataPlaneViewer], None);
    assert_eq!(judge_live(&rule, &undated, "ci", now()), vec![]);
}

#[test]
fn name_pattern_judges_the_name_a_key_is_known_by() {
    let rule = PolicyRule {
        name_pattern: Some(NamePattern::new("^[a-z][a-z0-9-]*$").unwrap()),
        ..rule()
    };
    let key = DesiredKey::new("CI_Key", RoleSet::from([Role::DataPlaneViewer]));
    assert_eq!(
        judge_declared(&rule, &key),
        vec![ViolationKind::NameMismatch {
            pattern: "^[a-z][a-z0-9-]*$".into()
        }]
    );
    // A retiring key is judged by its declared name, not its suffixed live name.
    let retiring = live("ci (keyplan: retiring)", &[Role::DataPlaneViewer], None);
    assert_eq!(judge_live(&rule, &retiring, "ci", now()), vec![]);
}

#[test]
fn max_keys_counts_every_live_key_of_a_covered_project() {
    let rule = PolicyRule {
        max_keys: Some(1),
        projects: vec![KeyGlob::new("*-prod").unwrap()],
        ..rule()
    };
    let keys = [
        live("a", &[Role::DataPlaneViewer], None),
        live("b", &[Role::DataPlaneViewer], None),
    ];
    let found = audit(
        std::slice::from_ref(&rule),
        &prod(),
        &keys,
        |k| k.name.clone(),
        now(),
    );
    assert_eq!(
        found,
        vec![Violation {
            rule: "keyplan.toml:3".into(),
            project: prod(),
            key: None,
            id: None,
            kind: ViolationKind::TooManyKeys { count: 2, max: 1 },
        }]
    );
    let staging = Project {
        name: "search-staging".into(),
        ..prod()
    };
    assert_eq!(
        audit(&[rule], &staging, &keys, |k| k.name.clone(), now()),
        vec![]
    );
}

#[test]
fn a_project_known_only_by_id_is_covered_by_rules_naming_no_projects() {
    let everywhere = rule();
    let prod_only = PolicyRule {
        projects: vec![KeyGlob::new("*-prod").unwrap()],
        ..rule()
    };
    assert!(covers(&everywhere, None));
    assert!(!covers(&prod_only, None));
    assert!(covers(&prod_only, Some("search-prod")));
}
