//! The manifest from the outside: the example parses, every broken example fails with the
//! errors snapshotted here, the schema covers the vocabulary, and `import` output round-trips.
#![expect(clippy::unwrap_used, reason = "tests")]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use keyplan::desired::{FileFormat, ProjectSelector, RoleChange, SecretsConfig, UnmanagedPolicy};
use keyplan::manifest::{self, ManifestError};
use keyplan::model::{KeyId, LiveKey, Project, ProjectId, Role, RoleSet};

fn invalid_examples() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir("examples/invalid")
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .map(|path| Path::new("examples/invalid").join(path.file_name().unwrap()))
        .collect();
    paths.sort();
    paths
}

#[test]
fn every_invalid_example_fails_with_its_snapshotted_errors() {
    let paths = invalid_examples();
    assert!(
        paths.len() >= 15,
        "expected one file per error family, found {}",
        paths.len()
    );
    for path in paths {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let Err(error) = manifest::load(&path) else {
            panic!("{} should not validate", path.display());
        };
        let ManifestError::Invalid(diagnostics) = &error else {
            panic!("{}: expected diagnostics, got {error}", path.display());
        };
        // Every error has a position and is in file order.
        assert!(
            diagnostics
                .items
                .iter()
                .all(|d| d.line >= 1 && d.column >= 1)
        );
        let positions: Vec<_> = diagnostics
            .items
            .iter()
            .map(|d| (d.line, d.column))
            .collect();
        let mut sorted = positions.clone();
        sorted.sort_unstable();
        assert_eq!(positions, sorted, "{name}: errors out of file order");
        // Display shows the same as a colourless render.
        assert_eq!(error.to_string(), diagnostics.render(false).trim_end());
        insta::assert_snapshot!(name, diagnostics.render(false));
    }
}

#[test]
fn the_many_errors_example_reports_them_all_at_once() {
    let Err(ManifestError::Invalid(diagnostics)) =
        manifest::load(Path::new("examples/invalid/many-errors.toml"))
    else {
        panic!("many-errors.toml should not validate");
    };
    assert!(diagnostics.len() >= 10, "{}", diagnostics.render(false));
}

#[test]
fn colour_is_only_there_when_asked_for() {
    let Err(ManifestError::Invalid(diagnostics)) =
        manifest::load(Path::new("examples/invalid/roles.toml"))
    else {
        panic!("roles.toml should not validate");
    };
    assert!(!diagnostics.render(false).contains('\x1b'));
    assert!(diagnostics.render(true).contains("\x1b[1;31merror"));
}

#[test]
fn the_example_manifest_parses() {
    let manifest = manifest::load(Path::new("examples/keyplan.toml")).unwrap();
    let desired = &manifest.desired;
    assert_eq!(
        desired.secrets,
        Some(SecretsConfig::file(
            PathBuf::from("examples/secrets.json"),
            FileFormat::Json
        ))
    );
    let selectors: Vec<_> = desired
        .projects
        .iter()
        .map(|p| p.selector.clone())
        .collect();
    assert_eq!(
        selectors,
        [
            ProjectSelector::Name("search-prod".into()),
            ProjectSelector::Name("analytics-staging".into()),
            ProjectSelector::Id(ProjectId("3f2b9c4e-8d1a-4b6f-9e2c-7a5d1c0b8e94".into())),
        ]
    );
    let prod = &desired.projects[0];
    assert_eq!(prod.unmanaged, UnmanagedPolicy::Delete);
    assert!(
        prod.ignore
            .iter()
            .any(|glob| glob.is_match("pinecone-cli-laptop"))
    );
    assert!(
        !prod
            .ignore
            .iter()
            .any(|glob| glob.is_match("ingest-worker"))
    );
    let ingest = &prod.keys[0];
    assert_eq!(ingest.name, "ingest-worker");
    assert_eq!(
        ingest.roles,
        RoleSet::from([Role::DataPlaneEditor, Role::DataPlaneViewer])
    );
    assert_eq!(ingest.previous_names, ["ingest"]);
    assert_eq!(
        ingest.rotate_after.as_ref().map(|r| r.limit),
        Some(jiff::SignedDuration::from_hours(90 * 24))
    );
    assert!(prod.keys[1].protected);
    assert_eq!(prod.keys[2].role_change, RoleChange::Replace);
    assert_eq!(desired.projects[1].unmanaged, UnmanagedPolicy::Keep);
    assert_eq!(desired.projects[2].keys[0].name, "reporting");
    assert_eq!(desired.projects[2].ignore[0].as_str(), "tmp-*");
}

#[test]
fn a_missing_manifest_names_its_path() {
    let error = manifest::load(Path::new("examples/does-not-exist.toml")).unwrap_err();
    assert!(matches!(error, ManifestError::Io { .. }));
    let message = error.to_string();
    assert!(
        message.starts_with("cannot read manifest examples/does-not-exist.toml: "),
        "{message}"
    );
    assert!(message.contains("keyplan import"), "{message}");
}

#[test]
fn a_manifest_that_is_not_utf8_is_pointed_at() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyplan.toml");
    std::fs::write(&path, b"[[project]]\nname = \"caf\xe9\"\n").unwrap();
    let Err(ManifestError::Invalid(diagnostics)) = manifest::load(&path) else {
        panic!("latin-1 text should not validate");
    };
    let first = &diagnostics.items[0];
    assert_eq!((first.line, first.column), (2, 12));
    assert!(first.message.contains("UTF-8"));
}

#[test]
fn the_schema_is_json_and_knows_every_role_and_choice() {
    let schema = manifest::json_schema();
    let text = serde_json::to_string_pretty(&schema).unwrap();
    let reparsed: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(reparsed, schema);
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    let roles: BTreeSet<&str> = schema["definitions"]["role"]["anyOf"][0]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(roles, Role::ALL.iter().map(Role::as_str).collect());
    assert_eq!(
        schema["definitions"]["secrets"]["properties"]["store"]["enum"],
        serde_json::json!(["keyring", "file", "command"])
    );
    assert_eq!(
        schema["definitions"]["project"]["properties"]["unmanaged"]["enum"],
        serde_json::json!(["keep", "delete"])
    );
    assert_eq!(
        schema["definitions"]["key"]["properties"]["role_change"]["enum"],
        serde_json::json!(["update", "replace"])
    );
    for pointer in [
        "",
        "/definitions/secrets",
        "/definitions/project",
        "/definitions/key",
    ] {
        let object = schema.pointer(pointer).unwrap();
        assert_eq!(object["additionalProperties"], false, "{pointer}");
        for (field, property) in object["properties"].as_object().unwrap() {
            let described = property.get("description").is_some() || property.get("$ref").is_some();
            assert!(described, "{pointer}/{field} has no description");
        }
    }
}

fn live(project: &str, id: &str, name: &str, roles: &[Role]) -> LiveKey {
    LiveKey {
        id: KeyId(id.into()),
        name: name.into(),
        project_id: ProjectId(project.into()),
        roles: roles.iter().cloned().collect(),
        created_at: None,
    }
}

#[test]
fn an_imported_manifest_parses_back_to_the_live_keys() {
    let prod = Project {
        id: ProjectId("3f2b9c4e-8d1a-4b6f-9e2c-7a5d1c0b8e94".into()),
        name: "search \"prod\"\n\\ team".into(),
    };
    let staging = Project {
        id: ProjectId("0f9e8d7c-6b5a-4938-8271-605f4e3d2c1b".into()),
        name: "analytics-staging".into(),
    };
    let prod_keys = vec![
        live(
            prod.id.as_str(),
            "b6e1f0a2-4c3d-4e5f-8a9b-0c1d2e3f4a5b",
            "reporting",
            &[Role::DataPlaneViewer],
        ),
        live(
            prod.id.as_str(),
            "c6e1f0a2-4c3d-4e5f-8a9b-0c1d2e3f4a5b",
            "reporting",
            &[Role::DataPlaneViewer, Role::DataPlaneEditor],
        ),
        live(
            prod.id.as_str(),
            "d6e1f0a2-4c3d-4e5f-8a9b-0c1d2e3f4a5b",
            "ingest \"worker\" # not a comment",
            &[Role::DataPlaneEditor, Role::ProjectViewer],
        ),
        live(
            prod.id.as_str(),
            "e6e1f0a2-4c3d-4e5f-8a9b-0c1d2e3f4a5b",
            "no roles",
            &[],
        ),
    ];
    let staging_keys = vec![live(
        staging.id.as_str(),
        "f6e1f0a2-4c3d-4e5f-8a9b-0c1d2e3f4a5b",
        "ünïcødé-ключ",
        &[Role::ProjectEditor],
    )];
    let text = manifest::render_manifest(&[
        (prod.clone(), prod_keys.clone()),
        (staging.clone(), staging_keys.clone()),
    ]);
    let parsed = manifest::parse(&text, Path::new("imported.toml"))
        .unwrap_or_else(|error| panic!("{error}\n{text}"));
    let desired = parsed.desired;
    assert_eq!(desired.secrets, None);
    // Projects are sorted by name, selected by id.
    assert_eq!(
        desired
            .projects
            .iter()
            .map(|p| p.selector.clone())
            .collect::<Vec<_>>(),
        [
            ProjectSelector::Id(staging.id.clone()),
            ProjectSelector::Id(prod.id.clone())
        ]
    );
    assert!(
        text.contains("# project \"search \\\"prod\\\"\\n\\\\ team\"\n"),
        "{text}"
    );
    let prod_desired = &desired.projects[1];
    assert_eq!(prod_desired.unmanaged, UnmanagedPolicy::Keep);
    // Every declarable live key is declared with its exact name and roles; duplicates by id.
    let declared: BTreeSet<(String, RoleSet, Option<KeyId>)> = prod_desired
        .keys
        .iter()
        .map(|k| (k.name.clone(), k.roles.clone(), k.id.clone()))
        .collect();
    let expected: BTreeSet<(String, RoleSet, Option<KeyId>)> = prod_keys
        .iter()
        .filter(|k| !k.roles.is_empty())
        .map(|k| {
            (
                k.name.clone(),
                k.roles.clone(),
                (k.name == "reporting").then(|| k.id.clone()),
            )
        })
        .collect();
    assert_eq!(declared, expected);
    // The key with no roles is left unmanaged, with a comment saying so.
    assert!(
        text.contains(
            "# key \"no roles\" (id \"e6e1f0a2-4c3d-4e5f-8a9b-0c1d2e3f4a5b\") has no roles"
        ),
        "{text}"
    );
    assert_eq!(desired.projects[0].keys[0].name, "ünïcødé-ключ");
    // Rendering is deterministic whatever order the projects come in.
    let again = manifest::render_manifest(&[(staging, staging_keys), (prod, prod_keys)]);
    assert_eq!(again, text);
}

#[test]
fn an_imported_manifest_reads_well() {
    let project = Project {
        id: ProjectId("3f2b9c4e-8d1a-4b6f-9e2c-7a5d1c0b8e94".into()),
        name: "search-prod".into(),
    };
    let id = project.id.as_str();
    let keys = vec![
        live(
            id,
            "b6e1f0a2-4c3d-4e5f-8a9b-0c1d2e3f4a5b",
            "reporting",
            &[Role::DataPlaneViewer],
        ),
        live(
            id,
            "0f9e8d7c-6b5a-4938-8271-605f4e3d2c1b",
            "reporting",
            &[Role::DataPlaneViewer],
        ),
        live(
            id,
            "d6e1f0a2-4c3d-4e5f-8a9b-0c1d2e3f4a5b",
            "ingest-worker",
            &[Role::DataPlaneViewer, Role::DataPlaneEditor],
        ),
        live(id, "e6e1f0a2-4c3d-4e5f-8a9b-0c1d2e3f4a5b", "legacy", &[]),
    ];
    insta::assert_snapshot!("import", manifest::render_manifest(&[(project, keys)]));
}

/// A manifest over 1 MiB is parsed before any request (commands/start.rs): its error is the
/// command's as well, and no request reaches the API.
#[test]
fn a_large_invalid_manifest_is_the_error_and_nothing_is_sent() {
    let env = crate::common::Env::new();
    let padding = "# padding to make the manifest large\n".repeat(30_000);
    env.manifest(&format!(
        "{padding}[[project]]\nname = \"prod\"\ncolour = \"blue\"\n"
    ));
    env.emulator.reset_counters();
    let invalid = env.keyplan(["plan"]).run().code(1);
    assert!(
        invalid.stderr.contains("unknown field `colour`"),
        "{}",
        invalid.stderr
    );
    assert_eq!(env.emulator.counters().total, 0, "no request was sent");
}

/// The token exchange and the project listing run while the manifest is parsed
/// (commands/start.rs), but an invalid manifest's error is still the command's, whatever the
/// requests did; with a valid manifest the refusal is the error, as it always was.
#[test]
fn an_invalid_manifest_is_the_error_even_when_the_credentials_are_refused_meanwhile() {
    let env = crate::common::Env::new();
    env.manifest("[[project]]\nname = \"prod\"\ncolour = \"blue\"\n");
    for command in [
        &["plan", "--format", "json"][..],
        &["drift", "--format", "json"],
        &["apply", "--auto-approve", "--format", "json"],
    ] {
        let invalid = env
            .keyplan(command)
            .env("PINECONE_CLIENT_SECRET", "not-the-secret")
            .run()
            .code(1);
        assert!(
            invalid.stderr.contains("unknown field `colour`"),
            "{command:?}: {}",
            invalid.stderr
        );
        let document: serde_json::Value = serde_json::from_str(&invalid.stdout).unwrap();
        assert_eq!(
            document["kind"], "manifest",
            "{command:?}: {}",
            invalid.stdout
        );
    }

    env.manifest(crate::common::PROD_READER_FILE_STORE);
    let refused = env
        .keyplan(["plan", "--format", "json"])
        .env("PINECONE_CLIENT_SECRET", "not-the-secret")
        .run()
        .code(1);
    let document: serde_json::Value = serde_json::from_str(&refused.stdout).unwrap();
    assert_eq!(document["kind"], "credentials", "{}", refused.stdout);
}
