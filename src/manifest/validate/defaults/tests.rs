//! `[defaults]` precedence as literals: the default, a project's own field, a key's own field.

use std::path::Path;

use crate::desired::{Desired, RoleChange, UnmanagedPolicy};
use crate::manifest::{ManifestError, parse};

fn ok(source: &str) -> Desired {
    match parse(source, Path::new("keyplan.toml")) {
        Ok(manifest) => manifest.desired,
        Err(error) => panic!("expected a valid manifest, got:\n{error}"),
    }
}

const DEFAULTS: &str = r#"[defaults]
unmanaged = "delete"
ignore = ["laptop-*"]
role_change = "replace"
rotate_after = "90d"

"#;

#[test]
fn projects_and_keys_without_their_own_fields_take_the_defaults() {
    let desired = ok(&format!(
        "{DEFAULTS}[[project]]\nname = \"p\"\n[[project.key]]\nname = \"k\"\n\
         roles = [\"DataPlaneViewer\"]\n"
    ));
    let project = &desired.projects[0];
    assert_eq!(project.unmanaged, UnmanagedPolicy::Delete);
    assert_eq!(
        project
            .ignore
            .iter()
            .map(crate::desired::KeyGlob::as_str)
            .collect::<Vec<_>>(),
        ["laptop-*"]
    );
    let key = &project.keys[0];
    assert_eq!(key.role_change, RoleChange::Replace);
    assert_eq!(
        key.rotate_after.as_ref().map(|r| r.spelled.as_str()),
        Some("90d")
    );
}

#[test]
fn a_projects_and_a_keys_own_fields_override_the_defaults_whole() {
    let desired = ok(&format!(
        "{DEFAULTS}[[project]]\nname = \"p\"\nunmanaged = \"keep\"\nignore = [\"ci-*\"]\n\
         [[project.key]]\nname = \"k\"\nroles = [\"DataPlaneViewer\"]\nrole_change = \"update\"\n\
         rotate_after = \"2w\"\n"
    ));
    let project = &desired.projects[0];
    assert_eq!(project.unmanaged, UnmanagedPolicy::Keep);
    // Replaced, not merged.
    assert_eq!(
        project
            .ignore
            .iter()
            .map(crate::desired::KeyGlob::as_str)
            .collect::<Vec<_>>(),
        ["ci-*"]
    );
    let key = &project.keys[0];
    assert_eq!(key.role_change, RoleChange::Update);
    assert_eq!(
        key.rotate_after.as_ref().map(|r| r.spelled.as_str()),
        Some("2w")
    );
}

#[test]
fn a_protected_key_takes_no_default_rotation() {
    let desired = ok(&format!(
        "{DEFAULTS}[[project]]\nname = \"p\"\n[[project.key]]\nname = \"k\"\n\
         roles = [\"DataPlaneViewer\"]\nprotected = true\n"
    ));
    assert_eq!(desired.projects[0].keys[0].rotate_after, None);
}

#[test]
fn a_declared_key_the_default_ignore_matches_is_an_error_pointing_at_the_glob() {
    let source = format!(
        "{DEFAULTS}[[project]]\nname = \"p\"\n[[project.key]]\nname = \"laptop-ci\"\n\
         roles = [\"DataPlaneViewer\"]\n"
    );
    let Err(ManifestError::Invalid(diagnostics)) = parse(&source, Path::new("keyplan.toml")) else {
        panic!("expected diagnostics");
    };
    let first = &diagnostics.items[0];
    assert_eq!(
        first.message,
        "key \"laptop-ci\" is declared but also ignored by \"laptop-*\""
    );
    assert_eq!(first.note.as_deref(), Some("the glob is at line 3"));
}

#[test]
fn bad_defaults_are_reported_where_they_are() {
    let source = "[defaults]\nunmanaged = \"remove\"\nrotate_after = \"90\"\nroles = []\n\
                  [[project]]\nname = \"p\"\n";
    let Err(ManifestError::Invalid(diagnostics)) = parse(source, Path::new("keyplan.toml")) else {
        panic!("expected diagnostics");
    };
    let found: Vec<(usize, &str)> = diagnostics
        .items
        .iter()
        .map(|d| (d.line, d.message.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (2, "unknown value \"remove\" for `unmanaged`"),
            (3, "duration \"90\" has no unit"),
            (4, "unknown field `roles` in [defaults]"),
        ]
    );
}

#[test]
fn rotation_overlap_is_the_keys_else_the_projects_else_the_default() {
    let desired = ok("[defaults]\nrotation_overlap = \"7d\"\n\
         [[project]]\nname = \"p\"\nrotation_overlap = \"2d\"\n\
         [[project.key]]\nname = \"own\"\nroles = [\"DataPlaneViewer\"]\nrotation_overlap = \"1h\"\n\
         [[project.key]]\nname = \"project\"\nroles = [\"DataPlaneViewer\"]\n\
         [[project]]\nname = \"q\"\n\
         [[project.key]]\nname = \"default\"\nroles = [\"DataPlaneViewer\"]\n");
    let overlaps: Vec<(&str, Option<&str>)> = desired
        .projects
        .iter()
        .flat_map(|p| &p.keys)
        .map(|k| {
            (
                k.name.as_str(),
                k.rotation_overlap.as_ref().map(|o| o.spelled.as_str()),
            )
        })
        .collect();
    assert_eq!(
        overlaps,
        [
            ("own", Some("1h")),
            ("project", Some("2d")),
            ("default", Some("7d"))
        ]
    );
}

#[test]
fn default_secrets_route_every_project_that_names_no_destination_itself() {
    let source = "[stores.vault]\nstore = \"file\"\npath = \"v.json\"\n\
                  [stores.gh]\nstore = \"file\"\npath = \"gh.json\"\n\
                  [defaults]\nsecrets = [\"vault\"]\n\
                  [[project]]\nnames = [\"a\", \"b\"]\n\
                  [[project.key]]\nname = \"k\"\nroles = [\"ProjectViewer\"]\n\
                  [[project]]\nname = \"c\"\nsecrets = [\"gh\"]\n\
                  [[project.key]]\nname = \"k\"\nroles = [\"ProjectViewer\"]\n";
    let manifest = match parse(source, Path::new("keyplan.toml")) {
        Ok(manifest) => manifest,
        Err(error) => panic!("expected a valid manifest, got:\n{error}"),
    };
    let routes: Vec<(String, Vec<&str>)> = manifest
        .routing
        .routes
        .iter()
        .map(|r| {
            (
                r.project.to_string(),
                r.stores.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        routes,
        [
            ("project \"a\"".to_owned(), vec!["vault"]),
            ("project \"b\"".to_owned(), vec!["vault"]),
            ("project \"c\"".to_owned(), vec!["gh"]),
        ]
    );
    // Every key is routed, so the [secrets] store is never opened.
    assert!(!manifest.routing.default_used);
}

#[test]
fn a_default_secrets_list_naming_no_store_is_an_error_where_it_is_written() {
    let source = "[stores.vault]\nstore = \"file\"\npath = \"v.json\"\n\
                  [defaults]\nsecrets = [\"vualt\"]\n[[project]]\nname = \"p\"\n";
    let Err(ManifestError::Invalid(diagnostics)) = parse(source, Path::new("keyplan.toml")) else {
        panic!("expected diagnostics");
    };
    let first = &diagnostics.items[0];
    assert_eq!(first.message, "unknown store \"vualt\"");
    assert_eq!(
        first.hint.as_deref(),
        Some("declare it as a [stores.vualt] table; declared: vault")
    );
}
