//! One declaration, several environments: `names = [...]` with `${env:VAR}`, end to end.

#![expect(clippy::unwrap_used, reason = "tests")]

use crate::common::Env;

const MANIFEST: &str = r#"[secrets]
store = "file"
path = "${env:SECRETS_DIR}/secrets.json"

[[project]]
names = ["search-dev", "search-${env:STAGE}"]
  [[project.key]]
  name = "query"
  roles = ["DataPlaneViewer"]
"#;

#[test]
fn names_with_env_references_declare_the_keys_in_each_project() {
    let env = Env::new();
    let dev = env.project("search-dev");
    let prod = env.project("search-prod");
    std::fs::create_dir(env.path("store")).unwrap();
    env.manifest(MANIFEST);

    let missing = env
        .keyplan(["validate"])
        .env("SECRETS_DIR", "store")
        .run()
        .code(1);
    assert!(
        missing.stderr.contains(
            "environment variable STAGE is not set (project name \"search-${env:STAGE}\")"
        ),
        "{}",
        missing.stderr
    );
    assert!(
        missing.stderr.contains("keyplan.toml:6:32"),
        "{}",
        missing.stderr
    );

    env.keyplan(["apply", "--auto-approve"])
        .env("STAGE", "prod")
        .env("SECRETS_DIR", "store")
        .run()
        .code(0);
    for project in [&dev, &prod] {
        assert_eq!(
            env.key_summary(project),
            [("query".to_owned(), vec!["DataPlaneViewer"])]
        );
    }
    let stored = std::fs::read_to_string(env.path("store/secrets.json")).unwrap();
    assert!(stored.contains("search-dev") && stored.contains("search-prod"));
    env.assert_no_leaks(&["secrets.json"]);
}
