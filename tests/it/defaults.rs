//! `[defaults]` end to end: a project and its keys that set nothing take the defaults
//! (`unmanaged`, `rotate_after` against a seeded key's age), one that sets its own does not.

#![expect(clippy::unwrap_used, reason = "tests")]

use keyplan::emulator::{EmulatorConfig, Seed, SeedKey, SeedProject};
use keyplan::model::Role;

use crate::common::Env;

fn key(name: &str, days_old: i64) -> SeedKey {
    SeedKey {
        name: name.into(),
        roles: vec![Role::DataPlaneViewer],
        id: None,
        created_at: Some(jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * days_old)),
    }
}

fn project(name: &str) -> SeedProject {
    SeedProject {
        name: name.into(),
        id: None,
        keys: vec![key("query", 200), key("legacy", 5)],
    }
}

#[test]
fn defaults_apply_where_a_project_or_key_sets_nothing() {
    let env = Env::with_config(EmulatorConfig {
        seed: Some(Seed {
            projects: vec![project("search-dev"), project("search-prod")],
        }),
        ..EmulatorConfig::default()
    });
    env.manifest(
        r#"[defaults]
unmanaged = "delete"
rotate_after = "90d"

[secrets]
store = "file"
path = "secrets.json"

[[project]]
name = "search-dev"
  [[project.key]]
  name = "query"
  roles = ["DataPlaneViewer"]

[[project]]
name = "search-prod"
unmanaged = "keep"
  [[project.key]]
  name = "query"
  roles = ["DataPlaneViewer"]
  rotate_after = "52w"
"#,
    );
    let plan = env.keyplan(["plan", "--format", "json"]).run().code(0);
    let doc: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let changes: Vec<(&str, &str, &str)> = doc["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let key = c["after"]["name"]
                .as_str()
                .or_else(|| c["before"]["name"].as_str())
                .unwrap();
            (
                c["action"].as_str().unwrap(),
                c["project"]["name"].as_str().unwrap(),
                key,
            )
        })
        .collect();
    // search-dev: the default rotation (200 days > 90d) and the default unmanaged = "delete";
    // search-prod: its own 52w and "keep".
    assert_eq!(
        changes,
        [
            ("replace", "search-dev", "query"),
            ("delete", "search-dev", "legacy")
        ]
    );
}
