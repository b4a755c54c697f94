//! Snapshots of every format for a rich plan, an empty plan and drift reports, plus the
//! properties snapshots cannot show: colour only when asked, valid JSON with the stable
//! fields, Markdown under GitHub's limit, names that cannot inject markup.
#![expect(clippy::unwrap_used, reason = "tests")]

use super::*;
use crate::desired::{
    Desired, DesiredKey, DesiredProject, KeyGlob, ProjectSelector, RoleChange, RotateAfter,
    UnmanagedPolicy,
};
use crate::model::Role::{
    ControlPlaneViewer, DataPlaneEditor, DataPlaneViewer, ProjectEditor, ProjectViewer,
};
use crate::model::{KeyId, LiveKey, Project, ProjectId, Role, RoleSet};
use crate::plan::{LiveState, Plan, PlanOptions, compute_plan, drift};

const PROD: &str = "3f1c2a9e-5b7d-4e8a-9c21-0d6b4f8e7a10";
const ANALYTICS: &str = "8b2d6e41-0a93-4c57-b1f8-7e3a9d2c5f64";

fn roles(list: &[Role]) -> RoleSet {
    list.iter().cloned().collect()
}

fn key(name: &str, list: &[Role]) -> DesiredKey {
    DesiredKey::new(name, roles(list))
}

fn live(project: &str, n: u32, name: &str, list: &[Role], created: Option<&str>) -> LiveKey {
    LiveKey {
        id: KeyId(format!("{n:08x}-1111-4aaa-8bbb-{n:012x}")),
        name: name.to_owned(),
        project_id: ProjectId(project.to_owned()),
        roles: roles(list),
        created_at: created.map(|c| c.parse().unwrap()),
    }
}

fn project(id: &str, name: &str) -> Project {
    Project {
        id: ProjectId(id.to_owned()),
        name: name.to_owned(),
    }
}

fn options() -> PlanOptions {
    PlanOptions {
        now: Some("2026-11-27T09:00:00Z".parse().unwrap()),
        ..PlanOptions::default()
    }
}

/// Every action, unmanaged keys, a note, an interrupted replace in both states, a duplicate
/// settled by the store's record, rotation, and a guard refusal.
#[expect(clippy::too_many_lines, reason = "one literal scenario")]
fn rich() -> Plan {
    let mut ingest = key("ingest-worker", &[DataPlaneEditor, DataPlaneViewer]);
    ingest.previous_names = vec!["ingest".into()];
    let mut dashboard = key("dashboard", &[DataPlaneViewer]);
    dashboard.rotate_after = Some(RotateAfter {
        limit: jiff::SignedDuration::from_hours(24 * 90),
        spelled: "90d".into(),
    });
    let mut admin = key("admin", &[ProjectEditor]);
    admin.protected = true;
    let mut batch = key("batch", &[DataPlaneEditor]);
    batch.role_change = RoleChange::Replace;
    let prod = DesiredProject {
        selector: ProjectSelector::Name("search-prod".into()),
        unmanaged: UnmanagedPolicy::Delete,
        ignore: vec![KeyGlob::new("pinecone-cli-*").unwrap()],
        keys: vec![
            ingest,
            key("query-api", &[DataPlaneViewer]),
            dashboard,
            admin,
            batch,
            key("indexer", &[DataPlaneEditor]),
        ],
    };
    let mut reporting = key("reporting", &[DataPlaneViewer]);
    reporting.rotate_after = Some(RotateAfter {
        limit: jiff::SignedDuration::from_hours(24 * 30),
        spelled: "30d".into(),
    });
    let analytics = DesiredProject {
        selector: ProjectSelector::Id(ProjectId(ANALYTICS.into())),
        unmanaged: UnmanagedPolicy::Keep,
        ignore: Vec::new(),
        keys: vec![
            reporting,
            key("notebook", &[DataPlaneViewer, DataPlaneEditor]),
            key("exporter", &[ControlPlaneViewer]),
        ],
    };
    let desired = Desired {
        projects: vec![prod, analytics],
        secrets: None,
        ..Desired::default()
    };
    let created = Some("2026-03-01T00:00:00Z");
    let p = PROD;
    let a = ANALYTICS;
    let live_state = LiveState {
        projects: vec![
            project(PROD, "search-prod"),
            project(ANALYTICS, "analytics"),
            project("0e7c9b12-3d45-4f6a-8b9c-1a2b3c4d5e6f", "sandbox"),
        ],
        keys: [
            (
                ProjectId(PROD.into()),
                vec![
                    live(p, 1, "ingest", &[DataPlaneViewer, ProjectViewer], created),
                    live(
                        p,
                        2,
                        "dashboard",
                        &[DataPlaneViewer],
                        Some("2026-06-01T00:00:00Z"),
                    ),
                    live(p, 3, "admin", &[ProjectEditor], created),
                    live(p, 4, "batch", &[DataPlaneViewer], created),
                    live(
                        p,
                        5,
                        "indexer (keyplan: retiring)",
                        &[DataPlaneViewer],
                        created,
                    ),
                    live(p, 6, "legacy-etl", &[ProjectEditor], created),
                    live(p, 7, "pinecone-cli-4711", &[ProjectEditor], created),
                ],
            ),
            (
                ProjectId(ANALYTICS.into()),
                vec![
                    live(a, 11, "reporting", &[DataPlaneViewer], None),
                    live(
                        a,
                        12,
                        "notebook",
                        &[DataPlaneEditor, DataPlaneViewer],
                        created,
                    ),
                    live(
                        a,
                        13,
                        "notebook",
                        &[DataPlaneEditor, DataPlaneViewer],
                        created,
                    ),
                    live(a, 14, "ad-hoc", &[ProjectViewer], created),
                    live(a, 15, "exporter", &[ControlPlaneViewer], created),
                    live(
                        a,
                        16,
                        "exporter (keyplan: retiring)",
                        &[ControlPlaneViewer],
                        created,
                    ),
                ],
            ),
        ]
        .into_iter()
        .collect(),
    };
    let mut options = options();
    options.held.insert(
        (ProjectId(ANALYTICS.into()), "notebook".into()),
        live(a, 12, "", &[], None).id,
    );
    compute_plan(&desired, &live_state, &options).unwrap()
}

fn empty() -> Plan {
    let desired = Desired {
        projects: vec![DesiredProject {
            selector: ProjectSelector::Name("search-prod".into()),
            unmanaged: UnmanagedPolicy::Keep,
            ignore: Vec::new(),
            keys: vec![key("query-api", &[DataPlaneViewer])],
        }],
        secrets: None,
        ..Desired::default()
    };
    let live_state = LiveState {
        projects: vec![project(PROD, "search-prod")],
        keys: [(
            ProjectId(PROD.into()),
            vec![live(PROD, 1, "query-api", &[DataPlaneViewer], None)],
        )]
        .into_iter()
        .collect(),
    };
    compute_plan(&desired, &live_state, &options()).unwrap()
}

const PLAIN: RenderOptions = RenderOptions {
    color: false,
    guard_overridden: false,
};

#[test]
fn the_rich_plan_has_every_kind_of_content() {
    let plan = rich();
    assert_eq!(
        (
            plan.summary.create,
            plan.summary.update,
            plan.summary.replace,
            plan.summary.delete
        ),
        (1, 1, 3, 3)
    );
    assert!(plan.guard.is_some());
    assert_eq!(plan.unmanaged.len(), 1);
    assert_eq!(plan.notes.len(), 1);
}

#[test]
fn human_rich() {
    insta::assert_snapshot!("human_rich", human(&rich(), &PLAIN));
}

#[test]
fn human_empty() {
    insta::assert_snapshot!("human_empty", human(&empty(), &PLAIN));
}

#[test]
fn json_rich() {
    insta::assert_snapshot!("json_rich", json(&rich(), &PLAIN));
}

#[test]
fn json_empty() {
    insta::assert_snapshot!("json_empty", json(&empty(), &PLAIN));
}

#[test]
fn markdown_rich() {
    insta::assert_snapshot!("markdown_rich", markdown(&rich(), &PLAIN));
}

#[test]
fn markdown_empty() {
    insta::assert_snapshot!("markdown_empty", markdown(&empty(), &PLAIN));
}

#[test]
fn drift_formats_rich() {
    let report = drift(&rich());
    insta::assert_snapshot!("drift_human_rich", drift_human(&report, &PLAIN));
    insta::assert_snapshot!("drift_json_rich", drift_json(&report));
    insta::assert_snapshot!(
        "drift_markdown_rich",
        drift_markdown(&report, Heading::default())
    );
}

#[test]
fn drift_formats_clean() {
    let report = drift(&empty());
    assert!(report.is_clean());
    insta::assert_snapshot!("drift_human_clean", drift_human(&report, &PLAIN));
    insta::assert_snapshot!("drift_json_clean", drift_json(&report));
    insta::assert_snapshot!(
        "drift_markdown_clean",
        drift_markdown(&report, Heading::default())
    );
}

#[test]
fn the_summary_line_is_last_and_exact() {
    let text = human(&rich(), &PLAIN);
    assert!(
        text.ends_with("\nPlan: 1 to create, 1 to update, 3 to replace, 3 to delete.\n"),
        "{text}"
    );
    assert_eq!(
        human(&empty(), &PLAIN),
        "No changes. Keys match the manifest.\n"
    );
}

#[test]
fn colour_only_when_asked() {
    let plan = rich();
    for text in [
        human(&plan, &PLAIN),
        drift_human(&drift(&plan), &PLAIN),
        json(&plan, &PLAIN),
        markdown(&plan, &PLAIN),
    ] {
        assert!(!text.contains('\x1b'), "escape code without colour");
    }
    let coloured = human(
        &plan,
        &RenderOptions {
            color: true,
            ..PLAIN
        },
    );
    assert!(coloured.contains("  \x1b[32m+\x1b[0m key \"query-api\""));
    assert!(coloured.contains("\x1b[32m+\x1b[0m/\x1b[31m-\x1b[0m key \"batch\""));
    assert!(coloured.contains("\x1b[33m~\x1b[0m key \"ingest\""));
    assert!(coloured.contains("\x1b[31m-\x1b[0m ProjectViewer"));
    assert!(coloured.contains("Error: refused by the safety guard"));
    assert!(
        drift_human(
            &drift(&plan),
            &RenderOptions {
                color: true,
                ..PLAIN
            }
        )
        .contains('\x1b')
    );
}

#[test]
fn json_keeps_the_stable_fields() {
    let doc: serde_json::Value = serde_json::from_str(&json(&rich(), &PLAIN)).unwrap();
    assert_eq!(doc["format_version"], "2");
    // The guard's numbers, not only its sentence.
    let guard = &doc["guard"];
    assert_eq!(guard["refused"], true);
    assert_eq!(guard["projects"][0]["deletes"], 2);
    assert_eq!(guard["projects"][0]["live"], 6);
    assert_eq!(guard["max_delete_share"], 0.25);
    assert!(guard["reasons"][0].as_str().unwrap().contains("2 of the 6"));
    for field in ["changes", "unmanaged", "summary"] {
        assert!(doc.get(field).is_some(), "{field}");
    }
    let changes = doc["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 8);
    for change in changes {
        for field in ["action", "project", "before", "after", "reason"] {
            assert!(change.get(field).is_some(), "{field} in {change}");
        }
        assert!(change["project"]["id"].is_string() && change["project"]["name"].is_string());
    }
    let create = &changes[0];
    assert_eq!(create["action"], "create");
    assert!(create["before"].is_null());
    assert_eq!(
        create["after"],
        serde_json::json!({"name": "query-api", "roles": ["DataPlaneViewer"]})
    );
    let update = &changes[1];
    assert_eq!(
        update["before"]["roles"],
        serde_json::json!(["ProjectViewer", "DataPlaneViewer"])
    );
    assert_eq!(
        update["after"]["roles"],
        serde_json::json!(["DataPlaneEditor", "DataPlaneViewer"])
    );
    assert!(changes.last().unwrap()["after"].is_null());
    assert_eq!(
        doc["summary"],
        serde_json::json!({"create": 1, "update": 1, "replace": 3, "delete": 3})
    );
}

#[test]
fn rendering_is_deterministic() {
    assert_eq!(json(&rich(), &PLAIN), json(&rich(), &PLAIN));
    assert_eq!(markdown(&rich(), &PLAIN), markdown(&rich(), &PLAIN));
    assert_eq!(human(&rich(), &PLAIN), human(&rich(), &PLAIN));
}

/// A plan of thousands of deletions in many projects, with long names.
fn huge() -> Plan {
    let mut projects = Vec::new();
    let mut keys = std::collections::BTreeMap::new();
    let mut declared = Vec::new();
    for p in 0..40_u32 {
        let id = format!("{p:08x}-0000-4000-8000-000000000000");
        projects.push(project(&id, &format!("project-{p:02}")));
        let list: Vec<LiveKey> = (0..100)
            .map(|k| {
                live(
                    &id,
                    p * 1000 + k,
                    &format!("service-account-with-a-rather-long-name-{k:03}"),
                    &[DataPlaneEditor, DataPlaneViewer],
                    None,
                )
            })
            .collect();
        keys.insert(ProjectId(id.clone()), list);
        declared.push(DesiredProject {
            selector: ProjectSelector::Id(ProjectId(id)),
            unmanaged: UnmanagedPolicy::Delete,
            ignore: Vec::new(),
            keys: vec![key("new", &[DataPlaneViewer])],
        });
    }
    let desired = Desired {
        projects: declared,
        secrets: None,
        ..Desired::default()
    };
    compute_plan(&desired, &LiveState { projects, keys }, &options()).unwrap()
}

#[test]
fn markdown_of_a_huge_plan_stays_under_the_limit_and_says_so() {
    let plan = huge();
    assert_eq!(plan.summary.delete, 4000);
    let text = markdown(&plan, &PLAIN);
    assert!(
        text.len() <= MARKDOWN_LIMIT,
        "{} bytes over {MARKDOWN_LIMIT}",
        text.len()
    );
    assert!(text.len() > MARKDOWN_LIMIT / 2, "the budget is used");
    assert!(text.contains("> **Truncated** to stay under GitHub's size limit"));
    assert!(text.contains("**Plan: 40 to create, 0 to update, 0 to replace, 4000 to delete.**"));
    assert!(text.contains("Refused by the safety guard"));
    assert!(
        text.contains(
            "> - … and 31 more reasons\n> - check the deletions, then rerun with --force"
        )
    );
    assert!(text.contains("> - … and 3950 more, listed in the details below"));
    // Every block that was opened is closed.
    assert_eq!(
        text.matches("<details>").count(),
        text.matches("</details>").count()
    );
    assert_eq!(text.matches("```").count() % 2, 0);
    // The warning comes before the first details block.
    assert!(text.find("[!WARNING]").unwrap() < text.find("<details>").unwrap());

    let drift_text = drift_markdown(&drift(&plan), Heading::default());
    assert!(drift_text.len() <= MARKDOWN_LIMIT);
    assert!(drift_text.contains("**Truncated**"));
}

#[test]
fn names_cannot_break_lines_or_inject_markup() {
    let desired = Desired {
        projects: vec![DesiredProject {
            selector: ProjectSelector::Id(ProjectId(PROD.into())),
            unmanaged: UnmanagedPolicy::Delete,
            ignore: Vec::new(),
            keys: Vec::new(),
        }],
        secrets: None,
        ..Desired::default()
    };
    let evil = "x\n+ key \"forged\"`</code></summary><script>[a](http://e)|";
    let live_state = LiveState {
        projects: vec![project(PROD, evil)],
        keys: [(
            ProjectId(PROD.into()),
            vec![live(PROD, 1, evil, &[DataPlaneViewer], None)],
        )]
        .into_iter()
        .collect(),
    };
    let plan = compute_plan(&desired, &live_state, &options()).unwrap();
    let text = human(&plan, &PLAIN);
    assert!(!text.contains("\n+ key \"forged\""), "{text}");
    let md = markdown(&plan, &PLAIN);
    // In the HTML of a summary, the name is escaped; elsewhere it sits in code.
    assert!(
        md.contains("&lt;/code&gt;&lt;/summary&gt;&lt;script&gt;"),
        "{md}"
    );
    for line in md.lines().filter(|l| l.starts_with("<details>")) {
        assert!(!line.contains("<script>"), "{line}");
    }
    assert!(!md.contains("\n+ key \"forged\""), "{md}");
}

#[test]
fn a_forced_plan_shows_the_refusal_as_a_warning_without_advice() {
    let forced = RenderOptions {
        guard_overridden: true,
        ..PLAIN
    };
    let text = human(&rich(), &forced);
    assert!(!text.contains("Error: refused"), "{text}");
    assert!(text.contains("overridden by --force"), "{text}");
    assert!(!text.contains("rerun with --force"), "{text}");
    let md = markdown(&rich(), &forced);
    assert!(!md.contains("[!CAUTION]") && md.contains("overridden by --force"));
    let doc: serde_json::Value = serde_json::from_str(&json(&rich(), &forced)).unwrap();
    assert_eq!(doc["guard"]["refused"], false);
}

#[test]
fn the_guard_advice_is_said_once() {
    let text = human(&rich(), &PLAIN);
    assert_eq!(text.matches("--force").count(), 1, "{text}");
}

#[test]
fn apply_messages_cannot_break_a_line_or_drive_a_terminal() {
    let plan = rich();
    let event = crate::report::Event::Failed {
        index: 0,
        error: "boom\nApply complete: 0 created\u{1b}[2K \u{202e}dlrow".into(),
    };
    let line = event_line(&event, &plan);
    assert!(
        !line.contains('\n') && !line.contains('\u{1b}') && !line.contains('\u{202e}'),
        "{line:?}"
    );
    assert!(
        line.contains("\\nApply complete") && line.contains("\\u{202e}"),
        "{line}"
    );
    // Names are quoted the same way, bidi controls included.
    assert_eq!(words::quoted("a\u{2066}b"), "\"a\\u{2066}b\"");
    assert_eq!(words::clean("plain \"text\""), "plain \"text\"");
}

#[test]
fn unknown_roles_show_as_names_or_quoted_when_they_could_mislead() {
    let set = roles(&[
        DataPlaneViewer,
        Role::from_name("IndexAdmin"),
        Role::from_name("a, b\n\u{1b}[2K"),
    ]);
    assert_eq!(
        words::roles_inline(&set),
        r#"DataPlaneViewer, IndexAdmin, "a, b\n\u{1b}[2K""#
    );
    // Data keeps the names verbatim.
    assert_eq!(
        words::role_names(&set),
        ["DataPlaneViewer", "IndexAdmin", "a, b\n\u{1b}[2K"]
    );
    let long = Role::from_name(&"R".repeat(10_000));
    let shown = words::BracketedRoles(&roles(&[long])).to_string();
    assert!(shown.len() < 300 && shown.contains("more bytes"), "{shown}");
}
