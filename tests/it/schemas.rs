//! The JSON Schemas `keyplan schema DOCUMENT` prints, each with its `$id`, validate what the
//! real binary writes against the emulator: a plan with every kind of change, an unmanaged key
//! and a guard refusal, a drift report with findings, and the JSON secrets file.

#![expect(clippy::unwrap_used, reason = "tests")]

use keyplan::model::Role;
use serde_json::Value;

use crate::common::{Env, PROD_READER_FILE_STORE};

fn schema(env: &Env, document: &str) -> jsonschema::Validator {
    let printed = env.keyplan(["schema", document]).run().code(0);
    let schema: Value = serde_json::from_str(&printed.stdout).unwrap();
    let id = schema["$id"].as_str().unwrap();
    assert!(
        id.starts_with(&format!("urn:keyplan:schema:{document}:v")),
        "{id}"
    );
    jsonschema::draft7::new(&schema).unwrap_or_else(|e| panic!("{document}: {e}"))
}

#[track_caller]
fn assert_valid(validator: &jsonschema::Validator, what: &str, text: &str) {
    let doc: Value = serde_json::from_str(text).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not fit its schema:\n{}\n{text}",
        errors.join("\n")
    );
}

#[test]
fn plan_drift_and_secrets_file_documents_fit_their_schemas() {
    let env = Env::new();
    let prod = env.project("prod");
    env.manifest(PROD_READER_FILE_STORE);
    env.keyplan(["apply", "--auto-approve"]).run().code(0);
    let secrets = std::fs::read_to_string(env.path("secrets.json")).unwrap();
    assert_valid(&schema(&env, "secrets-file"), "secrets.json", &secrets);

    // Every kind of change: a create, an update (roles), a delete, and keys left alone.
    for name in ["gone-1", "gone-2", "gone-3"] {
        env.key(&prod, name, &[Role::ProjectViewer]);
    }
    env.manifest(
        r#"[secrets]
store = "file"
path = "secrets.json"

[[project]]
name = "prod"
unmanaged = "delete"
  [[project.key]]
  name = "reader"
  roles = ["DataPlaneEditor"]
  [[project.key]]
  name = "writer"
  roles = ["DataPlaneEditor"]
"#,
    );
    let plan_schema = schema(&env, "plan");
    // Three of four keys deleted: the guard refuses, and the document says why.
    let refused = env.keyplan(["plan", "--format", "json"]).run().code(3);
    let doc: Value = serde_json::from_str(&refused.stdout).unwrap();
    assert!(doc["guard"].is_object() && doc["changes"].as_array().unwrap().len() >= 4);
    assert_valid(&plan_schema, "a refused plan", &refused.stdout);
    let forced = env
        .keyplan(["plan", "--format", "json", "--force"])
        .run()
        .code(0);
    assert_valid(&plan_schema, "a forced plan", &forced.stdout);
    env.manifest(PROD_READER_FILE_STORE);
    let unmanaged = env.keyplan(["plan", "--format", "json"]).run().code(0);
    assert!(
        !serde_json::from_str::<Value>(&unmanaged.stdout).unwrap()["unmanaged"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_valid(
        &plan_schema,
        "a plan with unmanaged keys",
        &unmanaged.stdout,
    );

    let drift = env.keyplan(["drift", "--format", "json"]).run().code(2);
    assert_valid(&schema(&env, "drift"), "a drift report", &drift.stdout);
}

#[test]
fn a_document_that_breaks_the_contract_is_refused() {
    let env = Env::new();
    let plan = schema(&env, "plan");
    let broken = r#"{"format_version":"2","changes":[{"action":"explode"}],"unmanaged":[],
        "summary":{"create":0,"update":0,"replace":0,"delete":0},"guard":null,"notes":[],"projects":[]}"#;
    let doc: Value = serde_json::from_str(broken).unwrap();
    assert!(!plan.is_valid(&doc));
    let manifest = env.keyplan(["schema"]).run().code(0);
    let manifest: Value = serde_json::from_str(&manifest.stdout).unwrap();
    assert_eq!(manifest["$id"], "urn:keyplan:schema:manifest:v1");
}

#[test]
fn import_writes_a_schema_line_that_editors_read() {
    let env = Env::new();
    let prod = env.project("prod");
    env.key(&prod, "reader", &[Role::DataPlaneViewer]);
    let imported = env.keyplan(["import"]).run().code(0);
    assert_eq!(
        imported.stdout.lines().next(),
        Some("#:schema ./keyplan.schema.json")
    );
    // Still a manifest keyplan reads, with no changes to plan.
    env.manifest(&imported.stdout);
    env.keyplan(["plan", "--detailed-exitcode"]).run().code(0);
}
