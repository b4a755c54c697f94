//! `[[policy]]` end to end against the emulator: `validate` points at the key and the rule,
//! `plan`/`apply` refuse a declared violation, and `drift` judges every live key (ignored
//! ones too, ages from the seed's `created_at`) in every format.

#![expect(clippy::unwrap_used, reason = "tests")]

use keyplan::emulator::{EmulatorConfig, Seed, SeedKey, SeedProject};
use keyplan::model::Role;

use crate::common::Env;

const PROD_ID: &str = "0b9e2f3c-6a3e-4a8e-9d57-3f6f1f2f9c01";

const RULE: &str = r#"[[policy]]
projects = ["*-prod"]
forbid_roles = ["ProjectEditor"]
max_age = "90d"
name_pattern = '^[a-z][a-z0-9-]*$'
"#;

fn seed_key(name: &str, role: Role, created_at: &str) -> SeedKey {
    SeedKey {
        name: name.into(),
        roles: vec![role],
        id: None,
        created_at: Some(created_at.parse().unwrap()),
    }
}

/// "search-prod" holding an old declared key and a young ignored one with a forbidden role.
fn seeded() -> Env {
    let old = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 200);
    let young = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24);
    Env::with_config(EmulatorConfig {
        seed: Some(Seed {
            projects: vec![SeedProject {
                name: "search-prod".into(),
                id: Some(PROD_ID.into()),
                keys: vec![
                    seed_key("query", Role::DataPlaneViewer, &old.to_string()),
                    seed_key("laptop-ann", Role::ProjectEditor, &young.to_string()),
                ],
            }],
        }),
        ..EmulatorConfig::default()
    })
}

const DECLARED: &str = r#"[secrets]
store = "file"
path = "secrets.json"

[[project]]
name = "search-prod"
ignore = ["laptop-*"]
  [[project.key]]
  name = "query"
  roles = ["DataPlaneViewer"]
  rotate_after = "30d"
"#;

#[test]
fn validate_names_the_keys_line_and_the_rules() {
    let env = Env::new();
    env.manifest(&format!(
        "{RULE}\n[[project]]\nname = \"search-prod\"\n  [[project.key]]\n  name = \"admin\"\n  \
         roles = [\"ProjectEditor\"]\n  rotate_after = \"30d\"\n"
    ));
    let run = env.keyplan(["validate"]).run().code(1);
    assert!(
        run.stderr
            .contains("key \"admin\" has role ProjectEditor, which a policy rule forbids"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("keyplan.toml:10:"), "{}", run.stderr);
    assert!(
        run.stderr.contains("the policy rule is at keyplan.toml:1"),
        "{}",
        run.stderr
    );
}

#[test]
fn plan_and_apply_refuse_a_declared_violation_in_a_project_named_by_id() {
    let env = seeded();
    // By id: validate cannot know the name the rule's glob matches; the plan can.
    env.manifest(&format!(
        "{RULE}\n[secrets]\nstore = \"file\"\npath = \"secrets.json\"\n\n[[project]]\n\
         id = \"{PROD_ID}\"\nignore = [\"laptop-*\", \"query\"]\n  [[project.key]]\n  \
         name = \"admin\"\n  roles = [\"ProjectEditor\"]\n  rotate_after = \"30d\"\n"
    ));
    env.keyplan(["validate"]).run().code(0);
    let plan = env.keyplan(["plan"]).run().code(1);
    assert!(
        plan.stderr.contains(
            "project \"search-prod\" (0b9e2f3c-6a3e-4a8e-9d57-3f6f1f2f9c01), key \"admin\": \
             has role ProjectEditor, which the policy forbids"
        ),
        "{}",
        plan.stderr
    );
    assert!(
        plan.stderr.contains("policy rule at keyplan.toml:1"),
        "{}",
        plan.stderr
    );
    env.keyplan(["apply", "--auto-approve"]).run().code(1);
    let prod = keyplan::model::Project {
        id: keyplan::model::ProjectId(PROD_ID.into()),
        name: "search-prod".into(),
    };
    assert!(env.keys(&prod).iter().all(|k| k.name != "admin"));
}

#[test]
fn plan_refuses_to_create_past_max_keys() {
    let env = seeded();
    env.manifest(&format!(
        "[[policy]]\nmax_keys = 2\n\n{DECLARED}  [[project.key]]\n  name = \"ingest\"\n  \
         roles = [\"DataPlaneEditor\"]\n"
    ));
    let plan = env.keyplan(["plan"]).run().code(1);
    assert!(
        plan.stderr
            .contains("holds 3 keys, more than the policy's max_keys of 2"),
        "{}",
        plan.stderr
    );
}

#[test]
fn drift_reports_every_live_violation_in_every_format_and_exits_2() {
    let env = seeded();
    env.manifest(&format!("{RULE}\n{DECLARED}"));
    let human = env.keyplan(["drift"]).run().code(2);
    assert!(
        human.stdout.contains("Policy violations:"),
        "{}",
        human.stdout
    );
    // The ignored key is judged too.
    assert!(
        human.stdout.contains("key \"laptop-ann\" (id ")
            && human
                .stdout
                .contains("has role ProjectEditor, which the policy forbids; fix:"),
        "{}",
        human.stdout
    );
    assert!(
        human
            .stdout
            .contains("is 200 days old, older than the policy's max_age of 90d"),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains("Policy: 2 violations."),
        "{}",
        human.stdout
    );

    let json = env.keyplan(["drift", "--format", "json"]).run().code(2);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["summary"]["violations"], 2);
    let checks: Vec<(&str, &str)> = doc["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["key"].as_str().unwrap(), v["check"].as_str().unwrap()))
        .collect();
    assert_eq!(
        checks,
        [("laptop-ann", "forbidden_role"), ("query", "too_old")]
    );
    assert_eq!(doc["violations"][0]["rule"], "keyplan.toml:1");
    assert!(
        doc["violations"][0]["fix"]
            .as_str()
            .unwrap()
            .contains("declare it without the role")
    );

    let markdown = env.keyplan(["drift", "--format", "markdown"]).run().code(2);
    assert!(
        markdown.stdout.contains("### Policy violations"),
        "{}",
        markdown.stdout
    );
    assert!(
        markdown.stdout.contains("| Policy violations | 2 |"),
        "{}",
        markdown.stdout
    );
    env.assert_no_leaks(&[]);
}
