//! Literal tests of the `[[policy]]` rules in a plan: what refuses it, what does not, and the
//! audit of the live keys that `drift` and `report` show.
#![expect(clippy::unwrap_used, reason = "tests")]

use jiff::SignedDuration;

use super::*;
use crate::desired::{
    KeyGlob, NamePattern, PolicyRule, ProjectSelector, RotateAfter, UnmanagedPolicy,
};
use crate::model::Role::{DataPlaneViewer, ProjectEditor};
use crate::model::{KeyId, ProjectId, Role, RoleSet};
use crate::plan::{LiveState, Managed, audit};
use crate::policy::{Violation, ViolationKind};

fn rule(projects: &[&str]) -> PolicyRule {
    PolicyRule {
        location: "keyplan.toml:1".into(),
        projects: projects.iter().map(|g| KeyGlob::new(g).unwrap()).collect(),
        forbid_roles: RoleSet::new(),
        max_age: None,
        name_pattern: None,
        max_keys: None,
    }
}

fn prod() -> Project {
    Project {
        id: ProjectId("p1".into()),
        name: "search-prod".into(),
    }
}

fn live(id: &str, name: &str, role: Role, created: Option<&str>) -> LiveKey {
    LiveKey {
        id: KeyId(id.into()),
        name: name.into(),
        project_id: ProjectId("p1".into()),
        roles: RoleSet::from([role]),
        created_at: created.map(|c| c.parse().unwrap()),
    }
}

/// The project "search-prod", declared by `id` (so only the plan knows its name), holding
/// `keys`, with one rule.
fn manifest(keys: Vec<DesiredKey>, ignore: &[&str], policy: PolicyRule) -> Desired {
    Desired {
        projects: vec![DesiredProject {
            selector: ProjectSelector::Id(ProjectId("p1".into())),
            unmanaged: UnmanagedPolicy::Keep,
            ignore: ignore.iter().map(|g| KeyGlob::new(g).unwrap()).collect(),
            keys,
        }],
        policies: vec![policy],
        ..Desired::default()
    }
}

fn state(keys: Vec<LiveKey>) -> LiveState {
    LiveState {
        projects: vec![prod()],
        keys: [(ProjectId("p1".into()), keys)].into(),
    }
}

fn viewer(name: &str) -> DesiredKey {
    DesiredKey::new(name, RoleSet::from([DataPlaneViewer]))
}

#[test]
fn a_declared_forbidden_role_refuses_the_plan_once_the_projects_name_is_known() {
    let policy = PolicyRule {
        forbid_roles: RoleSet::from([ProjectEditor]),
        ..rule(&["*-prod"])
    };
    let desired = manifest(
        vec![DesiredKey::new("admin", RoleSet::from([ProjectEditor]))],
        &[],
        policy,
    );
    let error = compute_plan(&desired, &state(vec![]), &PlanOptions::default()).unwrap_err();
    assert_eq!(
        error,
        PlanError::Policy {
            violations: vec![Violation {
                rule: "keyplan.toml:1".into(),
                project: prod(),
                key: Some("admin".into()),
                id: None,
                kind: ViolationKind::ForbiddenRole {
                    role: ProjectEditor
                },
            }]
        }
    );
}

#[test]
fn a_rule_for_other_projects_leaves_the_plan_alone() {
    let policy = PolicyRule {
        forbid_roles: RoleSet::from([ProjectEditor]),
        ..rule(&["*-staging"])
    };
    let desired = manifest(
        vec![DesiredKey::new("admin", RoleSet::from([ProjectEditor]))],
        &[],
        policy,
    );
    let plan = compute_plan(&desired, &state(vec![]), &PlanOptions::default()).unwrap();
    assert_eq!(plan.summary.create, 1);
}

#[test]
fn max_keys_refuses_a_plan_that_creates_past_it_and_nothing_else() {
    let policy = PolicyRule {
        max_keys: Some(2),
        ..rule(&[])
    };
    let kept = vec![
        live("k1", "query", DataPlaneViewer, None),
        live("k2", "laptop", ProjectEditor, None),
    ];
    // Two live keys (one declared, one unmanaged and kept) and one more to create: three.
    let desired = manifest(vec![viewer("query"), viewer("ingest")], &[], policy.clone());
    let error = compute_plan(&desired, &state(kept.clone()), &PlanOptions::default()).unwrap_err();
    let PlanError::Policy { violations } = error else {
        panic!("not a policy refusal: {error:?}");
    };
    assert_eq!(
        violations.iter().map(|v| &v.kind).collect::<Vec<_>>(),
        [&ViolationKind::TooManyKeys { count: 3, max: 2 }]
    );
    // Creating nothing: the plan goes ahead (drift reports the count if it is over).
    let desired = manifest(vec![viewer("query")], &[], policy.clone());
    assert!(compute_plan(&desired, &state(kept.clone()), &PlanOptions::default()).is_ok());
    // A create that a delete makes room for keeps the count at two.
    let mut desired = manifest(vec![viewer("query"), viewer("ingest")], &[], policy);
    desired.projects[0].unmanaged = UnmanagedPolicy::Delete;
    let plan = compute_plan(&desired, &state(kept), &PlanOptions::default()).unwrap();
    assert_eq!((plan.summary.create, plan.summary.delete), (1, 1));
}

#[test]
fn a_declared_rotation_longer_than_max_age_refuses_the_plan_but_not_the_drift_audit() {
    let policy = PolicyRule {
        max_age: Some(RotateAfter {
            limit: SignedDuration::from_hours(24 * 90),
            spelled: "90d".into(),
        }),
        ..rule(&[])
    };
    let desired = manifest(vec![viewer("query")], &[], policy);
    let live = state(vec![live("k1", "query", DataPlaneViewer, None)]);
    assert!(matches!(
        compute_plan(&desired, &live, &PlanOptions::default()),
        Err(PlanError::Policy { .. })
    ));
    let audit_only = PlanOptions {
        audit_only: true,
        ..PlanOptions::default()
    };
    assert!(compute_plan(&desired, &live, &audit_only).is_ok());
}

#[test]
fn the_audit_judges_every_live_key_ignored_ones_included_by_its_declared_name() {
    let policy = PolicyRule {
        forbid_roles: RoleSet::from([ProjectEditor]),
        max_age: Some(RotateAfter {
            limit: SignedDuration::from_hours(24 * 90),
            spelled: "90d".into(),
        }),
        name_pattern: Some(NamePattern::new("^[a-z-]+$").unwrap()),
        ..rule(&["search-*"])
    };
    let mut query = viewer("query");
    query.rotate_after = policy.max_age.clone();
    let desired = manifest(vec![query], &["laptop*"], policy);
    let live = state(vec![
        live("k1", "query", DataPlaneViewer, Some("2026-01-01T00:00:00Z")),
        live(
            "k2",
            "laptop-ann",
            ProjectEditor,
            Some("2026-05-30T00:00:00Z"),
        ),
        // Retiring: judged as "query", so its suffix breaks no name_pattern.
        live("k3", "query (keyplan: retiring)", DataPlaneViewer, None),
        live("k4", "Tmp_1", DataPlaneViewer, None),
    ]);
    let now = "2026-06-01T00:00:00Z".parse().unwrap();
    let violations = audit(&desired, &[prod()], &live, now);
    let found: Vec<(Option<&str>, &ViolationKind)> = violations
        .iter()
        .map(|v| (v.key.as_deref(), &v.kind))
        .collect();
    assert_eq!(
        found,
        [
            (
                Some("Tmp_1"),
                &ViolationKind::NameMismatch {
                    pattern: "^[a-z-]+$".into()
                }
            ),
            (
                Some("laptop-ann"),
                &ViolationKind::ForbiddenRole {
                    role: ProjectEditor
                }
            ),
            (
                Some("query"),
                &ViolationKind::TooOld {
                    age_days: 151,
                    max_age: "90d".into()
                }
            ),
        ]
    );
}

#[test]
fn the_inventory_lists_every_live_key_with_its_age_due_date_treatment_and_violations() {
    let policy = PolicyRule {
        forbid_roles: RoleSet::from([ProjectEditor]),
        max_keys: Some(3),
        ..rule(&[])
    };
    let mut query = viewer("query");
    query.rotate_after = Some(RotateAfter {
        limit: SignedDuration::from_hours(24 * 30),
        spelled: "30d".into(),
    });
    let desired = manifest(vec![query], &["laptop*"], policy);
    let live = state(vec![
        live("k1", "query", DataPlaneViewer, Some("2026-05-01T00:00:00Z")),
        live(
            "k2",
            "laptop-ann",
            ProjectEditor,
            Some("2026-05-30T00:00:00Z"),
        ),
        live("k3", "query (keyplan: retiring)", DataPlaneViewer, None),
        live("k4", "adhoc", DataPlaneViewer, None),
    ]);
    let now: jiff::Timestamp = "2026-06-01T00:00:00Z".parse().unwrap();
    let report = crate::plan::inventory(&desired, &[prod()], &live, now);
    let rows: Vec<_> = report
        .keys
        .iter()
        .map(|k| {
            (
                k.name.as_str(),
                k.age_days,
                k.managed,
                k.rotation_due.map(|t| t.to_string()),
                k.violations.len(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("adhoc", None, Managed::Unmanaged, None, 0),
            ("laptop-ann", Some(2), Managed::Ignored, None, 1),
            (
                "query",
                Some(31),
                Managed::Declared,
                Some("2026-05-31T00:00:00Z".to_owned()),
                0
            ),
            (
                "query (keyplan: retiring)",
                None,
                Managed::InFlight,
                None,
                0
            ),
        ]
    );
    assert_eq!(
        report
            .project_violations
            .iter()
            .map(|v| &v.kind)
            .collect::<Vec<_>>(),
        [&ViolationKind::TooManyKeys { count: 4, max: 3 }]
    );
}
