//! A project at its key quota, over real HTTP against the emulator's `key_quota`: the key the
//! manifest drops makes room for the key it adds, in one apply.

#![expect(clippy::unwrap_used, reason = "tests")]

use crate::common::Env;
use keyplan::emulator::EmulatorConfig;
use keyplan::model::{Project, Role};

const MANIFEST: &str = r#"[secrets]
store = "file"
path = "secrets.json"

[[project]]
name = "prod"
unmanaged = "delete"

  [[project.key]]
  name = "reader"
  roles = ["DataPlaneViewer"]

  [[project.key]]
  name = "writer"
  roles = ["DataPlaneEditor"]

  [[project.key]]
  name = "ingest"
  roles = ["DataPlaneEditor"]
"#;

/// An emulator whose projects hold at most `quota` keys, with project prod holding the
/// declared reader and writer, and the manifest above.
fn at_quota(quota: usize) -> (Env, Project) {
    let env = Env::with_config(EmulatorConfig {
        key_quota: Some(quota),
        ..EmulatorConfig::default()
    });
    let prod = env.project("prod");
    env.key(&prod, "reader", &[Role::DataPlaneViewer]);
    env.key(&prod, "writer", &[Role::DataPlaneEditor]);
    env.manifest(MANIFEST);
    (env, prod)
}

#[test]
fn a_project_at_its_quota_converges_in_one_apply() {
    let (env, prod) = at_quota(3);
    env.key(&prod, "legacy", &[Role::DataPlaneEditor]);

    let applied = env.keyplan(["apply", "--auto-approve"]).run().code(0);
    assert!(
        applied.stdout.contains("1 created") && applied.stdout.contains("1 deleted"),
        "{}",
        applied.stdout
    );
    let names: Vec<String> = env.keys(&prod).into_iter().map(|k| k.name).collect();
    assert_eq!(names, ["ingest", "reader", "writer"]);
    let store = std::fs::read_to_string(env.path("secrets.json")).unwrap();
    let ingest = env
        .keys(&prod)
        .into_iter()
        .find(|k| k.name == "ingest")
        .unwrap();
    assert!(
        store.contains(ingest.id.as_str()),
        "the new key's secret is stored"
    );
    env.keyplan(["plan", "--detailed-exitcode"]).run().code(0);
    env.assert_no_leaks(&["secrets.json"]);
}

#[test]
fn a_create_refused_at_the_quota_says_what_the_plan_frees() {
    let (env, prod) = at_quota(2);

    let failed = env.keyplan(["apply", "--auto-approve"]).run().code(6);
    let both = format!("{}{}", failed.stdout, failed.stderr);
    assert!(both.contains("quota of 2 API keys"), "{both}");
    assert!(both.contains("this plan deletes no key there"), "{both}");
    assert_eq!(env.keys(&prod).len(), 2);
}
