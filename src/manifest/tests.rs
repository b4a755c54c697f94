//! Unit tests of parsing and validation: literal manifests in, `Desired` or diagnostics out.

use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;
use crate::desired::{
    DesiredKey, DesiredProject, FileFormat, KeyGlob, ProjectSelector, RoleChange, SecretsConfig,
    UnmanagedPolicy,
};
use crate::model::{KeyId, LiveKey, Project, ProjectId, Role, RoleSet};

fn ok(source: &str) -> Desired {
    match parse(source, Path::new("keyplan.toml")) {
        Ok(manifest) => manifest.desired,
        Err(error) => panic!("expected a valid manifest, got:\n{error}"),
    }
}

fn errors(source: &str) -> Vec<Diagnostic> {
    match parse(source, Path::new("keyplan.toml")) {
        Ok(manifest) => panic!("expected errors, got {:?}", manifest.desired),
        Err(ManifestError::Invalid(diagnostics)) => diagnostics.items,
        Err(error) => panic!("expected diagnostics, got {error}"),
    }
}

fn messages(source: &str) -> Vec<String> {
    errors(source).into_iter().map(|d| d.message).collect()
}

#[test]
fn a_minimal_manifest_takes_every_default() {
    let desired = ok(
        "[[project]]\nname = \"p\"\n[[project.key]]\nname = \"k\"\nroles = [\"ProjectViewer\"]\n",
    );
    assert_eq!(
        desired,
        Desired {
            projects: vec![DesiredProject {
                selector: ProjectSelector::Name("p".into()),
                unmanaged: UnmanagedPolicy::Keep,
                ignore: Vec::new(),
                keys: vec![DesiredKey::new("k", RoleSet::from([Role::ProjectViewer]))],
            }],
            secrets: None,
            ..Desired::default()
        }
    );
}

#[test]
fn every_key_field_is_read() {
    let desired = ok(r#"
        [[project]]
        id = "3F2B9C4E-8D1A-4B6F-9E2C-7A5D1C0B8E94"
        unmanaged = "delete"
        ignore = ["tmp-*", "x?"]
        [[project.key]]
        name = "k"
        roles = ["DataPlaneViewer", "DataPlaneEditor", "DataPlaneViewer"]
        previous_names = ["old", "older", "old"]
        id = "B6E1F0A2-4C3D-4E5F-8A9B-0C1D2E3F4A5B"
        role_change = "replace"
        rotate_after = "12h"
        [[project.key]]
        name = "p"
        roles = ["ProjectEditor"]
        protected = true
    "#);
    let project = &desired.projects[0];
    // Ids are compared as text with what the API issues: lower case.
    assert_eq!(
        project.selector,
        ProjectSelector::Id(ProjectId("3f2b9c4e-8d1a-4b6f-9e2c-7a5d1c0b8e94".into()))
    );
    assert_eq!(project.unmanaged, UnmanagedPolicy::Delete);
    assert_eq!(
        project
            .ignore
            .iter()
            .map(KeyGlob::as_str)
            .collect::<Vec<_>>(),
        ["tmp-*", "x?"]
    );
    let key = &project.keys[0];
    assert_eq!(
        key.roles,
        RoleSet::from([Role::DataPlaneEditor, Role::DataPlaneViewer])
    );
    assert_eq!(key.previous_names, ["old", "older"]);
    assert_eq!(
        key.id,
        Some(KeyId("b6e1f0a2-4c3d-4e5f-8a9b-0c1d2e3f4a5b".into()))
    );
    assert_eq!(key.role_change, RoleChange::Replace);
    assert_eq!(
        key.rotate_after
            .as_ref()
            .map(|r| (r.limit, r.spelled.as_str())),
        Some((jiff::SignedDuration::from_hours(12), "12h"))
    );
    assert!(!key.protected);
    assert!(project.keys[1].protected);
}

#[test]
fn inline_tables_are_as_good_as_headers() {
    let desired =
        ok(r#"project = [{ name = "p", key = [{ name = "k", roles = ["ProjectEditor"] }] }]"#);
    assert_eq!(desired.projects[0].keys[0].name, "k");
}

#[test]
fn roles_are_a_set() {
    let a = ok(
        "[[project]]\nname = \"p\"\n[[project.key]]\nname = \"k\"\nroles = [\"DataPlaneViewer\", \"ProjectEditor\"]\n",
    );
    let b = ok(
        "[[project]]\nname = \"p\"\n[[project.key]]\nname = \"k\"\nroles = [\"ProjectEditor\", \"DataPlaneViewer\", \"ProjectEditor\"]\n",
    );
    assert_eq!(a, b);
}

#[test]
fn secrets_default_to_the_keyring() {
    let project = "\n[[project]]\nname = \"p\"\n";
    assert_eq!(ok(project).secrets, None);
    assert_eq!(
        ok(&format!("[secrets]{project}")).secrets,
        Some(SecretsConfig::default_keyring())
    );
    assert_eq!(
        ok(&format!(
            "[secrets]\nservice = \"ci\"\nentry = \"{{project_id}}:{{key}}\"{project}"
        ))
        .secrets,
        Some(SecretsConfig::Keyring {
            service: "ci".into(),
            entry: "{project_id}:{key}".into()
        })
    );
}

#[test]
fn a_secrets_file_is_relative_to_the_manifest() {
    let source = "[secrets]\nstore = \"file\"\npath = \"out/secrets.env\"\nformat = \"dotenv\"\n[[project]]\nname = \"p\"\n";
    let manifest = parse(source, Path::new("deploy/keyplan.toml")).unwrap();
    assert_eq!(
        manifest.desired.secrets,
        Some(SecretsConfig::file(
            PathBuf::from("deploy/out/secrets.env"),
            FileFormat::Dotenv,
        ))
    );
    let manifest = parse(source, Path::new("keyplan.toml")).unwrap();
    let Some(SecretsConfig::File { path, .. }) = manifest.desired.secrets else {
        panic!("expected a file store");
    };
    assert_eq!(path, PathBuf::from("out/secrets.env"));
    let absolute = source.replace("out/secrets.env", "/var/lib/keyplan/secrets.json");
    let manifest = parse(&absolute, Path::new("deploy/keyplan.toml")).unwrap();
    let Some(SecretsConfig::File { path, format, .. }) = manifest.desired.secrets else {
        panic!("expected a file store");
    };
    assert_eq!(
        (path, format),
        (
            PathBuf::from("/var/lib/keyplan/secrets.json"),
            FileFormat::Dotenv
        )
    );
}

#[test]
fn a_command_store_keeps_its_arguments() {
    let desired = ok(
        "[secrets]\nstore = \"command\"\ncommand = [\"gh\", \"secret\", \"set\", \"PINECONE_{key}\", \"--env\", \"{project}\"]\n[[project]]\nname = \"p\"\n",
    );
    assert_eq!(
        desired.secrets,
        Some(SecretsConfig::command(
            [
                "gh",
                "secret",
                "set",
                "PINECONE_{key}",
                "--env",
                "{project}"
            ]
            .map(String::from)
            .to_vec()
        ))
    );
    // Shell variables and braces around anything but a bare word pass through.
    let shell = ok(
        "[secrets]\nstore = \"command\"\ncommand = [\"sh\", \"-c\", \"read -r s; vault kv put kv/{project}/{key} v=\\\"${s}\\\" {a: 1} {\"]\n[[project]]\nname = \"p\"\n",
    );
    assert!(matches!(shell.secrets, Some(SecretsConfig::Command(_))));
    assert_eq!(
        messages(
            "[secrets]\nstore = \"command\"\ncommand = [\"x\", \"{keys}\", \"{Project}\"]\n[[project]]\nname = \"p\"\n"
        ),
        [
            "unknown placeholder {keys}",
            "unknown placeholder {Project}"
        ]
    );
    assert_eq!(
        messages("[secrets]\nstore = \"command\"\ncommand = []\n[[project]]\nname = \"p\"\n"),
        ["`command` is empty"]
    );
    assert_eq!(
        messages("[secrets]\nstore = \"command\"\n[[project]]\nname = \"p\"\n"),
        ["store \"command\" needs a `command`"]
    );
}

#[test]
fn key_names_count_characters_not_bytes() {
    let manifest = |name: &str| {
        format!(
            "[[project]]\nname = \"p\"\n[[project.key]]\nname = \"{name}\"\nroles = [\"ProjectViewer\"]\n"
        )
    };
    ok(&manifest(&"é".repeat(80)));
    assert_eq!(
        messages(&manifest(&"é".repeat(81))),
        ["key name is 81 characters long"]
    );
}

#[test]
fn duplicate_names_are_fine_only_when_each_has_an_id() {
    let base = "[[project]]\nname = \"p\"\n";
    let key =
        |id: &str| format!("[[project.key]]\nname = \"k\"\nroles = [\"ProjectViewer\"]\n{id}\n");
    let a = "id = \"b6e1f0a2-4c3d-4e5f-8a9b-0c1d2e3f4a5b\"";
    let b = "id = \"c6e1f0a2-4c3d-4e5f-8a9b-0c1d2e3f4a5b\"";
    ok(&format!("{base}{}{}", key(a), key(b)));
    let errors = errors(&format!("{base}{}{}", key(a), key("")));
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].message,
        "duplicate key name \"k\" in project \"p\""
    );
    assert_eq!(errors[0].line, 8);
    assert_eq!(errors[0].note.as_deref(), Some("first declared at line 4"));
}

#[test]
fn a_misspelt_field_is_not_also_reported_missing() {
    let errors = errors(
        "[[project]]\nnme = \"p\"\n[[project.key]]\nname = \"k\"\nrole = [\"ProjectViewer\"]\n",
    );
    let messages: Vec<_> = errors.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "unknown field `nme` in [[project]]",
            "unknown field `role` in [[project.key]]"
        ]
    );
    assert_eq!(errors[0].hint.as_deref(), Some("did you mean `name`?"));
    assert_eq!(errors[1].hint.as_deref(), Some("did you mean `roles`?"));
}

#[test]
fn every_error_is_reported_in_file_order() {
    let errors = errors(
        "[[project]]\nid = \"x\"\n[[project.key]]\nname = \"\"\nroles = [\"Nope\"]\nrotate_after = \"1x\"\n[[project]]\nname = \"q\"\nunmanaged = \"maybe\"\n",
    );
    let lines: Vec<usize> = errors.iter().map(|d| d.line).collect();
    assert_eq!(lines, [2, 4, 5, 6, 9]);
}

#[test]
fn syntax_errors_have_positions() {
    let unclosed = errors("[[project]]\nname = \"p\nroles = [\n");
    assert!(!unclosed.is_empty());
    assert!(
        unclosed
            .iter()
            .all(|d| d.message.starts_with("invalid TOML: "))
    );
    assert_eq!(unclosed[0].line, 2);
    let duplicate = errors("[[project]]\nname = \"p\"\nname = \"q\"\n");
    assert_eq!(duplicate[0].message, "invalid TOML: duplicate key `name`");
    assert_eq!((duplicate[0].line, duplicate[0].column), (3, 1));
}

#[test]
fn an_empty_file_explains_what_is_missing() {
    let errors = errors("");
    assert_eq!(
        errors[0].message,
        "the manifest declares no projects, so it would manage nothing"
    );
    assert_eq!((errors[0].line, errors[0].column), (1, 1));
    let rendered = Diagnostics { items: errors }.render(false);
    assert!(rendered.contains(" --> keyplan.toml:1:1\n"), "{rendered}");
}

#[test]
fn a_project_with_no_keys_is_valid() {
    let desired = ok("[[project]]\nname = \"p\"\nunmanaged = \"keep\"\n");
    assert!(desired.projects[0].keys.is_empty());
}

#[test]
fn key_ids_are_unique_across_projects() {
    let errors = errors(
        "[[project]]\nname = \"a\"\n[[project.key]]\nname = \"k\"\nroles = [\"ProjectViewer\"]\nid = \"b6e1f0a2-4c3d-4e5f-8a9b-0c1d2e3f4a5b\"\n[[project]]\nname = \"b\"\n[[project.key]]\nname = \"k\"\nroles = [\"ProjectViewer\"]\nid = \"b6e1f0a2-4c3d-4e5f-8a9b-0c1d2e3f4a5b\"\n",
    );
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, 12);
}

#[test]
fn load_reads_files_and_names_missing_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyplan.toml");
    std::fs::write(&path, "[[project]]\nname = \"p\"\n").unwrap();
    let manifest = load(&path).unwrap();
    assert_eq!(manifest.path, path);
    let missing = dir.path().join("nope.toml");
    let error = load(&missing).unwrap_err();
    assert!(
        error.to_string().contains(&missing.display().to_string()),
        "{error}"
    );
}

/// A realistic manifest, for mutation.
const VALID: &str = r#"[secrets]
store = "file"
path = "secrets.json"

[[project]]
name = "search-prod"
unmanaged = "delete"
ignore = ["pinecone-cli-*"]

  [[project.key]]
  name = "ingest-worker"
  roles = ["DataPlaneEditor", "DataPlaneViewer"]
  previous_names = ["ingest"]
  rotate_after = "90d"

  [[project.key]]
  name = "query-api"
  roles = ["DataPlaneViewer"]
  protected = true
  role_change = "replace"

[[project]]
id = "3f2b9c4e-8d1a-4b6f-9e2c-7a5d1c0b8e94"

  [[project.key]]
  name = "reporting"
  roles = ["ProjectViewer"]
  id = "b6e1f0a2-4c3d-4e5f-8a9b-0c1d2e3f4a5b"
"#;

/// Parses, and checks every diagnostic points inside the source and renders.
fn check_never_panics(source: &str) -> Result<(), TestCaseError> {
    let lines = source.split('\n').count();
    match parse(source, Path::new("fuzz.toml")) {
        Ok(_) => {}
        Err(ManifestError::Invalid(diagnostics)) => {
            prop_assert!(!diagnostics.is_empty());
            for d in &diagnostics.items {
                prop_assert!(
                    d.line >= 1 && d.line <= lines,
                    "line {} of {}",
                    d.line,
                    lines
                );
                prop_assert!(d.column >= 1 && d.width >= 1);
            }
            let rendered = diagnostics.render(true);
            prop_assert!(rendered.contains("fuzz.toml:"));
        }
        Err(error) => prop_assert!(false, "unexpected error {error}"),
    }
    Ok(())
}

#[test]
fn the_mutation_base_is_valid() {
    ok(VALID);
}

/// A mutation of `VALID`: delete, insert or replace a run of characters.
fn mutated() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just(String::new()),
        Just("\"".to_owned()),
        Just("[".to_owned()),
        Just("]]".to_owned()),
        Just("\n".to_owned()),
        Just("=".to_owned()),
        Just("\\u{".to_owned()),
        Just("é".to_owned()),
        Just("\t".to_owned()),
        Just("{a=1}".to_owned()),
        "[a-z_]{1,8}",
        any::<String>(),
    ];
    proptest::collection::vec((any::<prop::sample::Index>(), 0..12usize, pieces), 1..4).prop_map(
        |edits| {
            let mut text: Vec<char> = VALID.chars().collect();
            for (at, len, piece) in edits {
                let start = at.index(text.len() + 1);
                let end = (start + len).min(text.len());
                text.splice(start..end, piece.chars());
            }
            text.into_iter().collect()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(source in any::<String>()) {
        check_never_panics(&source)?;
    }

    #[test]
    fn toml_like_text_never_panics(source in "[\\[\\]a-z=\"'{}., \n#0-9-]{0,200}") {
        check_never_panics(&source)?;
    }

    #[test]
    fn mutated_manifests_never_panic(source in mutated()) {
        check_never_panics(&source)?;
    }

    #[test]
    fn imported_manifests_round_trip(
        keys in proptest::collection::vec(
            (
                prop_oneof![any::<String>(), "[ab]{1,2}"],
                proptest::collection::btree_set(0..6usize, 1..4),
                any::<u128>(),
            ),
            0..6,
        ),
        project_name in any::<String>(),
    ) {
        let project = Project {
            id: ProjectId("3f2b9c4e-8d1a-4b6f-9e2c-7a5d1c0b8e94".into()),
            name: project_name,
        };
        let live: Vec<LiveKey> = keys
            .iter()
            .map(|(name, roles, id)| LiveKey {
                id: KeyId(uuid::Uuid::from_u128(*id).to_string()),
                name: name.chars().take(80).collect(),
                project_id: project.id.clone(),
                roles: roles.iter().map(|i| Role::ALL[*i].clone()).collect(),
                created_at: None,
            })
            .collect();
        let text = render_manifest(&[(project, live.clone())]);
        let desired = match parse(&text, Path::new("imported.toml")) {
            Ok(manifest) => manifest.desired,
            Err(error) => return Err(TestCaseError::fail(format!("{error}\n{text}"))),
        };
        let mut declared: Vec<(String, RoleSet)> = desired.projects[0]
            .keys
            .iter()
            .map(|k| (k.name.clone(), k.roles.clone()))
            .collect();
        let mut expected: Vec<(String, RoleSet)> = live
            .iter()
            .filter(|k| !k.name.is_empty())
            .map(|k| (k.name.clone(), k.roles.clone()))
            .collect();
        declared.sort();
        expected.sort();
        prop_assert_eq!(declared, expected);
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let source = format!("x = {}", "[".repeat(100_000));
    assert!(!errors(&source).is_empty());
    let source = format!("x = {}", "{a = ".repeat(100_000));
    assert!(!errors(&source).is_empty());
}

#[test]
fn unknown_roles_need_the_top_level_flag() {
    let key = "[[project]]\nname = \"p\"\n[[project.key]]\nname = \"k\"\nroles = [\"IndexAdmin\", \"ProjectViewer\"]\n";
    let refused = errors(key);
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].message, "unknown role \"IndexAdmin\"");
    assert_eq!((refused[0].line, refused[0].column), (5, 10));
    let allowed = ok(&format!("allow_unknown_roles = true\n{key}"));
    assert_eq!(
        allowed.projects[0].keys[0].roles,
        RoleSet::from([Role::ProjectViewer, Role::from_name("IndexAdmin")])
    );
    // Explicitly off is the default; a string is a type error, not a yes.
    assert_eq!(
        errors(&format!("allow_unknown_roles = false\n{key}")).len(),
        1
    );
    let typed = messages(&format!("allow_unknown_roles = \"true\"\n{key}"));
    assert!(
        typed.iter().any(|m| m.contains("allow_unknown_roles")),
        "{typed:?}"
    );
}

#[test]
fn secrets_lists_route_keys_under_every_name_they_had() {
    let source = "[stores.gh]\nstore = \"command\"\ncommand = [\"gh\", \"{key:upper_snake}\"]\n\
                  [stores.vault]\nstore = \"file\"\npath = \"v.json\"\n\
                  [[project]]\nname = \"p\"\nsecrets = [\"vault\"]\n\
                  [[project.key]]\nname = \"k\"\nprevious_names = [\"old\"]\nroles = [\"ProjectViewer\"]\nsecrets = [\"gh\", \"vault\"]\n";
    let manifest = parse(source, Path::new("keyplan.toml")).unwrap();
    let routing = &manifest.routing;
    assert_eq!(routing.stores.keys().collect::<Vec<_>>(), ["gh", "vault"]);
    let routes: Vec<(Option<&str>, Vec<&str>)> = routing
        .routes
        .iter()
        .map(|r| {
            (
                r.key.as_deref(),
                r.stores.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        routes,
        [
            (None, vec!["vault"]),
            (Some("k"), vec!["gh", "vault"]),
            (Some("old"), vec!["gh", "vault"]),
        ]
    );
    // Every key of the one project is routed: the default store is not needed.
    assert!(!routing.default_used);
    let unrouted = source.replace("secrets = [\"vault\"]\n", "");
    let unrouted = unrouted.replace("secrets = [\"gh\", \"vault\"]\n", "");
    assert!(
        parse(&unrouted, Path::new("keyplan.toml"))
            .unwrap()
            .routing
            .default_used
    );
}
