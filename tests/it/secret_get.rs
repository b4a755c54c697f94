//! `keyplan secret get` reads a file store without the Admin API: the file's records carry the
//! project ids and names it needs. The API is asked only when the store cannot answer alone.

use crate::common::Env;

const MANIFEST: &str = r#"[secrets]
store = "file"
path = "secrets.json"

[[project]]
name = "prod"

  [[project.key]]
  name = "ci"
  roles = ["DataPlaneViewer"]
"#;

/// The secret of key `ci` in `prod`, created by a real apply against the emulator.
fn applied(env: &Env) -> String {
    env.project("prod");
    env.manifest(MANIFEST);
    env.keyplan(["apply", "--auto-approve"]).run().code(0);
    env.emulator.issued_secrets()[0].clone()
}

/// A run with no Admin API credentials and no reachable API host.
fn offline<'a>(env: &'a Env, args: &[&str]) -> crate::common::Run<'a> {
    env.keyplan(args)
        .env_remove("PINECONE_CLIENT_ID")
        .env_remove("PINECONE_CLIENT_SECRET")
        .env_remove("PINECONE_CONTROLLER_HOST")
        .env_remove("PINECONE_OAUTH_URL")
}

#[test]
fn a_file_store_is_read_without_credentials_by_project_name_or_id() {
    let env = Env::new();
    let secret = applied(&env);
    let by_name = offline(&env, &["secret", "get", "prod/ci"])
        .stdout_is_a_secret()
        .run()
        .code(0);
    assert_eq!(by_name.stdout.trim(), secret);

    let prod = env.emulator.projects()[0].clone();
    let by_id = offline(&env, &["secret", "get", &format!("{}/ci", prod.id)])
        .stdout_is_a_secret()
        .run()
        .code(0);
    assert_eq!(by_id.stdout.trim(), secret);

    // A key the file holds nothing for: a plain answer, still without the API.
    let missing = offline(&env, &["secret", "get", "prod/nope"]).run().code(1);
    assert!(
        missing.stderr.contains("holds no secret for prod/nope"),
        "{}",
        missing.stderr
    );
}

#[test]
fn a_missing_secrets_file_is_an_answer_not_a_credentials_error() {
    let env = Env::new();
    env.manifest(MANIFEST);
    let run = offline(&env, &["secret", "get", "prod/ci"]).run().code(1);
    assert!(run.stderr.contains("holds no secret"), "{}", run.stderr);
    assert!(!run.stderr.contains("PINECONE_CLIENT_ID"), "{}", run.stderr);
}

#[test]
fn a_project_the_file_does_not_know_is_resolved_through_the_api() {
    let env = Env::new();
    let secret = applied(&env);
    // The file knows the project as "prod"; asked for by a name it never recorded (the
    // manifest's other project), only the API can say which project is meant.
    env.project("staging");
    env.manifest(&format!("{MANIFEST}\n[[project]]\nname = \"staging\"\n"));
    let offline_run = offline(&env, &["secret", "get", "staging/ci"])
        .run()
        .code(1);
    assert!(
        offline_run.stderr.contains("PINECONE_CLIENT_ID"),
        "the API was not asked: {}",
        offline_run.stderr
    );
    let online = env.keyplan(["secret", "get", "staging/ci"]).run().code(1);
    assert!(
        online.stderr.contains("holds no secret for staging/ci"),
        "{}",
        online.stderr
    );
    // And the known project still answers through the API path's twin, the store.
    let got = env
        .keyplan(["secret", "get", "prod/ci"])
        .stdout_is_a_secret()
        .run()
        .code(0);
    assert_eq!(got.stdout.trim(), secret);
}
