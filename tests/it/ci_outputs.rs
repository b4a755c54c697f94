//! What CI reads on stdout, from the real binary over real HTTP against the emulator: failure
//! documents for `--format json|markdown` (same exit codes as without them), `apply`'s JSON
//! lines and Markdown result, `validate --format json|github`, and the Markdown headings with
//! title and marker. Every run's output is scanned for secrets by the harness.

#![expect(clippy::unwrap_used, reason = "tests")]

use keyplan::emulator::{Fault, Route};
use keyplan::model::Role;
use serde_json::Value;

use crate::common::{CLIENT_SECRET, Env, PROD_READER_FILE_STORE};

/// `text` with every id of the emulator's projects and keys replaced by a stable placeholder,
/// for snapshots.
fn masked(env: &Env, project: &keyplan::model::Project, text: &str) -> String {
    let mut text = text.replace(project.id.as_str(), "<project-id>");
    for (n, key) in env.keys(project).iter().enumerate() {
        text = text.replace(key.id.as_str(), &format!("<key-id-{n}>"));
    }
    // Request ids differ from run to run.
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("request id ") {
        let (before, after) = rest.split_at(at + "request id ".len());
        out.push_str(before);
        out.push_str("<request-id>");
        rest = after.trim_start_matches(|c: char| c.is_ascii_alphanumeric() || c == '-');
    }
    out.push_str(rest);
    out
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{text}"))
}

#[test]
fn a_plan_without_credentials_writes_a_failure_document_in_json_and_markdown() {
    let env = Env::new();
    env.project("prod");
    env.manifest(PROD_READER_FILE_STORE);
    let failed = env
        .keyplan(["plan", "--format", "json"])
        .env_remove("PINECONE_CLIENT_ID")
        .env_remove("PINECONE_CLIENT_SECRET")
        .run()
        .code(1);
    let doc = json(&failed.stdout);
    assert_eq!(doc["type"], "error");
    assert_eq!(doc["command"], "plan");
    assert_eq!(doc["exit_code"], 1);
    assert_eq!(doc["kind"], "credentials");
    assert!(doc["hint"].as_str().unwrap().contains("PINECONE_CLIENT_ID"));
    // stderr still says it for people.
    assert!(failed.stderr.contains("error: find Pinecone credentials"));

    let failed = env
        .keyplan(["plan", "--format", "markdown", "--title", "prod"])
        .env_remove("PINECONE_CLIENT_ID")
        .env_remove("PINECONE_CLIENT_SECRET")
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", "acme/keys")
        .env("GITHUB_RUN_ID", "42")
        .run()
        .code(1);
    insta::assert_snapshot!("plan_failure_markdown", failed.stdout);
}

#[test]
fn refused_credentials_are_a_credentials_failure_that_never_quotes_the_secret() {
    let env = Env::new();
    env.project("prod");
    env.manifest(PROD_READER_FILE_STORE);
    let wrong = "wrong-secret-4f1c9a";
    let failed = env
        .keyplan(["drift", "--format", "json"])
        .env("PINECONE_CLIENT_SECRET", wrong)
        .run()
        .code(1);
    let doc = json(&failed.stdout);
    assert_eq!(doc["kind"], "credentials", "{doc}");
    assert_eq!(doc["command"], "drift");
    for stream in [&failed.stdout, &failed.stderr] {
        assert!(!stream.contains(wrong), "the secret leaked:\n{stream}");
        assert!(
            !stream.contains(CLIENT_SECRET),
            "the secret leaked:\n{stream}"
        );
    }
}

#[test]
fn an_api_failure_and_an_invalid_manifest_say_what_failed() {
    let env = Env::new();
    env.project("prod");
    env.manifest(PROD_READER_FILE_STORE);
    env.emulator
        .push_faults(Route::ListKeys, [Fault::Status(403); 8]);
    let failed = env.keyplan(["plan", "--format", "json"]).run().code(1);
    let doc = json(&failed.stdout);
    assert_eq!(doc["kind"], "api", "{doc}");
    assert!(doc["message"].as_str().unwrap().contains("403"), "{doc}");

    env.manifest("[[project]]\nname = \"prod\"\nbogus = 1\n");
    let failed = env.keyplan(["plan", "--format", "json"]).run().code(1);
    let doc = json(&failed.stdout);
    assert_eq!(doc["kind"], "manifest", "{doc}");
    assert_eq!(
        doc["causes"][0],
        "keyplan.toml:3:1: unknown field `bogus` in [[project]]"
    );
    // The diagnostics are still shown in full on stderr.
    assert!(
        failed.stderr.contains("keyplan.toml:3:1"),
        "{}",
        failed.stderr
    );

    // A project the organisation does not have: the manifest does not fit it.
    env.manifest("[[project]]\nname = \"staging\"\n");
    let failed = env.keyplan(["plan", "--format", "json"]).run().code(1);
    assert_eq!(json(&failed.stdout)["kind"], "plan");
}

#[test]
fn a_guard_refusal_is_the_plans_own_document_and_the_applys_failure_document() {
    let env = Env::new();
    let prod = env.project("prod");
    for name in ["a", "b", "c", "d"] {
        env.key(&prod, name, &[Role::ProjectViewer]);
    }
    env.manifest("[[project]]\nname = \"prod\"\nunmanaged = \"delete\"\n");
    // plan: one JSON document, the plan, whose `guard` says why; exit 3 as before.
    let refused = env.keyplan(["plan", "--format", "json"]).run().code(3);
    let doc = json(&refused.stdout);
    assert!(doc["guard"].is_object(), "{doc}");
    // apply: stdout is the apply's document, so the refusal is the failure document.
    let refused = env
        .keyplan(["apply", "--auto-approve", "--format", "json"])
        .run()
        .code(3);
    let doc = json(&refused.stdout);
    assert_eq!(doc["type"], "error");
    assert_eq!(doc["kind"], "guard_refused");
    assert_eq!(doc["exit_code"], 3);
    assert!(!doc["causes"].as_array().unwrap().is_empty(), "{doc}");
    assert_eq!(env.keys(&prod).len(), 4, "nothing was deleted");
}

#[test]
fn a_stale_saved_plan_writes_an_apply_failure_document_with_the_apply_marker() {
    let env = Env::new();
    let prod = env.project("prod");
    env.manifest(PROD_READER_FILE_STORE);
    env.keyplan(["plan", "--out", "keyplan.plan"]).run().code(0);
    // Someone makes the key by hand: the saved plan's create is stale.
    env.key(&prod, "reader", &[Role::DataPlaneViewer]);
    let stale = env
        .keyplan([
            "apply",
            "keyplan.plan",
            "--format",
            "markdown",
            "--title",
            "prod",
        ])
        .run()
        .code(5);
    insta::assert_snapshot!("apply_stale_markdown", masked(&env, &prod, &stale.stdout));
    let stale = env
        .keyplan(["apply", "keyplan.plan", "--format", "json"])
        .run()
        .code(5);
    let doc = json(&stale.stdout);
    assert_eq!(doc["kind"], "stale_plan");
    assert_eq!(doc["command"], "apply");
}

#[test]
fn apply_json_writes_one_line_per_event_then_the_exact_summary() {
    let env = Env::new();
    let prod = env.project("prod");
    let old = env.key(&prod, "old", &[Role::ProjectViewer]);
    let keep = env.key(&prod, "writer", &[Role::DataPlaneViewer]);
    env.manifest(
        r#"[secrets]
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
"#,
    );
    let applied = env
        .keyplan(["apply", "--auto-approve", "--format", "json", "--force"])
        .run()
        .code(0);
    let lines: Vec<Value> = applied.stdout.lines().map(json).collect();
    // Exactly this object, fields in this order.
    assert_eq!(
        applied.stdout.lines().last().unwrap(),
        r#"{"type":"summary","created":1,"updated":1,"replaced":0,"deleted":1,"failed":0}"#
    );
    let done: Vec<(&str, &str, &str)> = lines
        .iter()
        .filter(|line| line["type"] == "done")
        .map(|line| {
            (
                line["action"].as_str().unwrap(),
                line["key"]["name"].as_str().unwrap(),
                line["project"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(done.len(), 3, "{}", applied.stdout);
    for change in [
        ("create", "reader", "prod"),
        ("update", "writer", "prod"),
        ("delete", "old", "prod"),
    ] {
        assert!(done.contains(&change), "{change:?} in {done:?}");
    }
    let started = lines.iter().filter(|l| l["type"] == "started").count();
    assert_eq!(started, 3);
    // Ids: the deleted and updated keys' own, and the one the create made.
    let id_of = |name: &str| {
        lines
            .iter()
            .find(|l| l["type"] == "done" && l["key"]["name"] == name)
            .map(|l| l["key"]["id"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(id_of("old"), old.id.as_str());
    assert_eq!(id_of("writer"), keep.id.as_str());
    let reader = env
        .keys(&prod)
        .into_iter()
        .find(|k| k.name == "reader")
        .unwrap();
    assert_eq!(id_of("reader"), reader.id.as_str());
    // Progress stays on stderr.
    assert!(
        applied.stderr.contains("prod/reader: creating"),
        "{}",
        applied.stderr
    );
    env.assert_no_leaks(&["secrets.json"]);
}

#[test]
fn a_failed_change_is_a_failed_line_and_counted_in_the_summary_with_exit_6() {
    let env = Env::new();
    let prod = env.project("prod");
    env.key(&prod, "old", &[Role::ProjectViewer]);
    env.manifest(&PROD_READER_FILE_STORE.replace(
        "name = \"prod\"\n",
        "name = \"prod\"\nunmanaged = \"delete\"\n",
    ));
    env.emulator
        .push_faults(Route::DeleteKey, [Fault::Status(403)]);
    let partial = env
        .keyplan(["apply", "--auto-approve", "--format", "json", "--force"])
        .run()
        .code(6);
    let lines: Vec<Value> = partial.stdout.lines().map(json).collect();
    let failed: Vec<&Value> = lines.iter().filter(|l| l["type"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{}", partial.stdout);
    assert_eq!(failed[0]["key"]["name"], "old");
    assert!(failed[0]["message"].as_str().unwrap().contains("403"));
    assert_eq!(
        partial.stdout.lines().last().unwrap(),
        r#"{"type":"summary","created":1,"updated":0,"replaced":0,"deleted":0,"failed":1}"#
    );

    // Markdown: the result document, a caution, the failure in its row.
    env.emulator
        .push_faults(Route::DeleteKey, [Fault::Status(403)]);
    let partial = env
        .keyplan([
            "apply",
            "--auto-approve",
            "--format",
            "markdown",
            "--title",
            "prod",
            "--force",
        ])
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", "acme/keys")
        .env("GITHUB_RUN_ID", "7")
        .run()
        .code(6);
    insta::assert_snapshot!(
        "apply_partial_markdown",
        masked(&env, &prod, &partial.stdout)
    );
}

#[test]
fn apply_markdown_reports_the_result_under_the_title_and_marker() {
    let env = Env::new();
    let prod = env.project("prod");
    env.manifest(PROD_READER_FILE_STORE);
    let applied = env
        .keyplan([
            "apply",
            "--auto-approve",
            "--format",
            "markdown",
            "--title",
            "prod",
        ])
        .run()
        .code(0);
    insta::assert_snapshot!("apply_markdown", masked(&env, &prod, &applied.stdout));
    // Nothing left to do: still a document.
    let again = env
        .keyplan(["apply", "--auto-approve", "--format", "json"])
        .run()
        .code(0);
    assert_eq!(
        again.stdout,
        "{\"type\":\"summary\",\"created\":0,\"updated\":0,\"replaced\":0,\"deleted\":0,\"failed\":0}\n"
    );
    env.assert_no_leaks(&["secrets.json"]);
}

#[test]
fn drift_markdown_carries_the_title_and_its_own_marker() {
    let env = Env::new();
    env.project("prod");
    env.manifest(PROD_READER_FILE_STORE);
    let drift = env
        .keyplan(["drift", "--format", "markdown", "--title", "prod"])
        .run()
        .code(2);
    assert!(
        drift
            .stdout
            .starts_with("<!-- keyplan:drift title=prod -->\n## keyplan drift: prod\n"),
        "{}",
        drift.stdout
    );
}

const INVALID: &str = "[[project]]\nname = \"prod\"\nbogus = 1\n\n[[project]]\nname = \"prod\"\n";

#[test]
fn validate_json_lists_every_diagnostic_with_file_line_column_message_and_hint() {
    let env = Env::new();
    env.manifest(INVALID);
    let invalid = env.keyplan(["validate", "--format", "json"]).run().code(1);
    let doc = json(&invalid.stdout);
    assert_eq!(doc["valid"], false);
    let diagnostics = doc["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 2, "{doc}");
    let first = &diagnostics[0];
    assert_eq!(first["file"], "keyplan.toml");
    assert_eq!(first["line"], 3);
    assert_eq!(first["column"], 1);
    assert_eq!(first["message"], "unknown field `bogus` in [[project]]");
    assert!(first["hint"].as_str().unwrap().contains("expected one of"));
    assert_eq!(diagnostics[1]["line"], 6);

    env.manifest(PROD_READER_FILE_STORE);
    let valid = env.keyplan(["validate", "--format", "json"]).run().code(0);
    let doc = json(&valid.stdout);
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["keys"], 1);

    // No file: the failure document.
    let missing = env
        .keyplan(["validate", "--format", "json", "-f", "nope.toml"])
        .run()
        .code(1);
    assert_eq!(json(&missing.stdout)["kind"], "manifest");
}

#[test]
fn validate_github_writes_one_escaped_error_command_per_diagnostic() {
    let env = Env::new();
    // A file name with `,` and `:` and a message with `%`: escaped as GitHub reads them.
    std::fs::write(env.path("a,b:c.toml"), INVALID).unwrap();
    let invalid = env
        .keyplan(["validate", "--format", "github", "-f", "a,b:c.toml"])
        .run()
        .code(1);
    let lines: Vec<&str> = invalid.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", invalid.stdout);
    assert!(
        lines[0].starts_with(
            "::error file=a%2Cb%3Ac.toml,line=3,col=1,endColumn=6,title=keyplan validate::\
             unknown field `bogus` in [[project]]%0Ahelp: "
        ),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains(",line=6,"), "{}", lines[1]);
    assert!(!invalid.stdout.contains('\r'));
}

#[test]
fn not_approved_a_broken_store_and_an_unreadable_saved_plan_each_say_so() {
    let env = Env::new();
    let prod = env.project("prod");
    env.manifest(PROD_READER_FILE_STORE);
    // No terminal to ask on: refused at once, exit 4.
    let refused = env.keyplan(["apply", "--format", "json"]).run().code(4);
    assert_eq!(json(&refused.stdout)["kind"], "not_approved");
    // The store's directory does not exist: probed before any change, exit 1.
    let broken = env
        .keyplan([
            "apply",
            "--auto-approve",
            "--format",
            "json",
            "--secrets-file",
            "no/such/dir/secrets.json",
        ])
        .run()
        .code(1);
    let doc = json(&broken.stdout);
    assert_eq!(doc["kind"], "secret_store", "{doc}");
    assert!(env.keys(&prod).is_empty(), "no key was made");
    // show of a file that is not there: the failure document, for show.
    let missing = env
        .keyplan(["show", "nope.plan", "--format", "json"])
        .run()
        .code(1);
    assert_eq!(json(&missing.stdout)["command"], "show");
}

#[test]
fn a_plan_that_cannot_be_saved_writes_only_the_failure_document() {
    let env = Env::new();
    env.project("prod");
    env.manifest(PROD_READER_FILE_STORE);
    let failed = env
        .keyplan([
            "plan",
            "--format",
            "json",
            "--out",
            "no/such/dir/keyplan.plan",
        ])
        .run()
        .code(1);
    // One JSON document on stdout: the failure, not a plan followed by it.
    let doc = json(&failed.stdout);
    assert_eq!(doc["type"], "error", "{doc}");
    assert_eq!(doc["command"], "plan");
    // In human output the plan is still shown before the error.
    let human = env
        .keyplan(["plan", "--out", "no/such/dir/keyplan.plan"])
        .run()
        .code(1);
    assert!(
        human.stdout.contains("Plan: 1 to create"),
        "{}",
        human.stdout
    );
}
