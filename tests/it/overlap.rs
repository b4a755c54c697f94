//! `rotation_overlap` end to end against the emulator: a due rotation creates the new key and
//! stores its secret, keeps the old key under its retiring name, and later plans and drift
//! leave it alone within the overlap. (Its deletion after the overlap is timed on a fixed
//! clock in the plan engine's tests: the emulator dates new keys now.)

#![expect(clippy::unwrap_used, reason = "tests")]

use keyplan::emulator::{EmulatorConfig, Seed, SeedKey, SeedProject};
use keyplan::model::Role;

use crate::common::Env;

const MANIFEST: &str = r#"[defaults]
rotation_overlap = "7d"

[secrets]
store = "file"
path = "secrets.json"

[[project]]
name = "search-prod"
  [[project.key]]
  name = "query"
  roles = ["DataPlaneViewer"]
  rotate_after = "30d"
"#;

#[test]
fn a_rotation_keeps_the_old_key_retiring_through_the_overlap() {
    let created = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 45);
    let env = Env::with_config(EmulatorConfig {
        seed: Some(Seed {
            projects: vec![SeedProject {
                name: "search-prod".into(),
                id: None,
                keys: vec![SeedKey {
                    name: "query".into(),
                    roles: vec![Role::DataPlaneViewer],
                    id: None,
                    created_at: Some(created),
                }],
            }],
        }),
        ..EmulatorConfig::default()
    });
    env.manifest(MANIFEST);
    let prod = keyplan::model::Project {
        id: env.emulator.projects()[0].id.clone(),
        name: "search-prod".into(),
    };
    let old_id = env.keys(&prod)[0].id.clone();

    let plan = env.keyplan(["plan"]).run().code(0);
    assert!(
        plan.stdout
            .contains("the old key stays under its retiring name for 7d (rotation_overlap)"),
        "{}",
        plan.stdout
    );
    let apply = env.keyplan(["apply", "--auto-approve"]).run().code(0);
    assert!(
        apply.stdout.contains("kept the old key"),
        "{}",
        apply.stdout
    );

    let keys = env.keys(&prod);
    let names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["query", "query (keyplan: retiring)"]);
    assert_eq!(keys[1].id, old_id);
    let stored = std::fs::read_to_string(env.path("secrets.json")).unwrap();
    assert!(
        stored.contains(keys[0].id.as_str()),
        "the new key's secret is stored"
    );

    // Within the overlap: nothing to do, and the plan says until when.
    let again = env.keyplan(["plan"]).run().code(0);
    assert!(again.stdout.contains("No changes."), "{}", again.stdout);
    assert!(
        again.stdout.contains("retiring: the old key"),
        "{}",
        again.stdout
    );
    let drift = env.keyplan(["drift"]).run().code(0);
    assert!(
        drift.stdout.contains("retiring: the old key"),
        "{}",
        drift.stdout
    );
    assert_eq!(env.keys(&prod).len(), 2);
    env.assert_no_leaks(&["secrets.json"]);
}
