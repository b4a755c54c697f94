//! `keyplan report` against the emulator: every live key of the declared projects, with ages
//! from the seed's `created_at`, in the three formats.

#![expect(clippy::unwrap_used, reason = "tests")]

use keyplan::emulator::{EmulatorConfig, Seed, SeedKey, SeedProject};
use keyplan::model::Role;

use crate::common::Env;

fn key(name: &str, role: Role, days_old: i64) -> SeedKey {
    SeedKey {
        name: name.into(),
        roles: vec![role],
        id: None,
        created_at: Some(jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * days_old)),
    }
}

const MANIFEST: &str = r#"[[policy]]
forbid_roles = ["ProjectEditor"]

[secrets]
store = "file"
path = "secrets.json"

[[project]]
name = "search-prod"
ignore = ["laptop-*"]
  [[project.key]]
  name = "query"
  roles = ["DataPlaneViewer"]
  rotate_after = "30d"
  [[project.key]]
  name = "ingest"
  roles = ["DataPlaneEditor"]
  rotate_after = "90d"
"#;

#[test]
fn report_lists_every_live_key_with_age_due_date_and_policy_status() {
    let env = Env::with_config(EmulatorConfig {
        seed: Some(Seed {
            projects: vec![
                SeedProject {
                    name: "search-prod".into(),
                    id: None,
                    keys: vec![
                        key("query", Role::DataPlaneViewer, 45),
                        key("ingest", Role::DataPlaneEditor, 10),
                        key("laptop-ann", Role::ProjectEditor, 3),
                    ],
                },
                // Not declared: not in the report.
                SeedProject {
                    name: "other".into(),
                    id: None,
                    keys: vec![key("x", Role::ProjectEditor, 1)],
                },
            ],
        }),
        ..EmulatorConfig::default()
    });
    env.manifest(MANIFEST);

    let human = env.keyplan(["report"]).run().code(0);
    assert!(
        human
            .stdout
            .contains("3 keys in 1 project; 1 with policy violations, 1 due for rotation."),
        "{}",
        human.stdout
    );
    let query = human
        .stdout
        .lines()
        .find(|l| l.contains("\"query\""))
        .unwrap();
    assert!(
        query.contains("45d") && query.contains("(overdue)") && query.contains("ok"),
        "{query}"
    );

    let json = env.keyplan(["report", "--format", "json"]).run().code(0);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let rows: Vec<(&str, i64, &str, bool, &str)> = doc["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["name"].as_str().unwrap(),
                k["age_days"].as_i64().unwrap(),
                k["managed"].as_str().unwrap(),
                k["rotation_overdue"].as_bool().unwrap(),
                k["policy"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("ingest", 10, "declared", false, "ok"),
            ("laptop-ann", 3, "ignored", false, "violations"),
            ("query", 45, "declared", true, "ok"),
        ]
    );
    assert_eq!(doc["keys"][1]["violations"][0]["check"], "forbidden_role");
    assert!(doc["keys"][0]["rotation_due"].is_string());

    let markdown = env
        .keyplan(["report", "--format", "markdown"])
        .run()
        .code(0);
    assert!(
        markdown.stdout.starts_with("## keyplan report"),
        "{}",
        markdown.stdout
    );
    assert!(
        markdown.stdout.contains("| `\"laptop-ann\"` |"),
        "{}",
        markdown.stdout
    );
    env.assert_no_leaks(&[]);
}

#[test]
fn a_declared_project_without_keys_is_in_the_report_as_one_with_no_keys() {
    let env = Env::with_config(EmulatorConfig {
        seed: Some(Seed {
            projects: vec![
                SeedProject {
                    name: "search-prod".into(),
                    id: None,
                    keys: vec![key("query", Role::DataPlaneViewer, 1)],
                },
                SeedProject {
                    name: "empty-prod".into(),
                    id: None,
                    keys: vec![],
                },
            ],
        }),
        ..EmulatorConfig::default()
    });
    env.manifest(&format!("{MANIFEST}\n[[project]]\nname = \"empty-prod\"\n"));

    let human = env.keyplan(["report"]).run().code(0);
    assert!(
        human.stdout.contains("1 key in 2 projects;"),
        "{}",
        human.stdout
    );
    assert!(
        human
            .stdout
            .lines()
            .any(|l| l.starts_with("Project \"empty-prod\" (") && l.ends_with("): no keys")),
        "{}",
        human.stdout
    );
    let json = env.keyplan(["report", "--format", "json"]).run().code(0);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let names: Vec<&str> = doc["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["empty-prod", "search-prod"]);
}
