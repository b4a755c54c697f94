//! `names` / `ids` and `${env:VAR}` as literals.

use std::path::Path;

use crate::desired::{Desired, ProjectSelector};
use crate::manifest::{ManifestError, parse};
use crate::model::ProjectId;

fn parsed(source: &str) -> Result<Desired, Vec<(usize, usize, String)>> {
    match parse(source, Path::new("keyplan.toml")) {
        Ok(manifest) => Ok(manifest.desired),
        Err(ManifestError::Invalid(diagnostics)) => Err(diagnostics
            .items
            .into_iter()
            .map(|d| (d.line, d.column, d.message))
            .collect()),
        Err(error) => panic!("{error}"),
    }
}

const KEY: &str = "[[project.key]]\nname = \"query\"\nroles = [\"DataPlaneViewer\"]\n";

#[test]
fn names_declare_the_same_keys_in_each_project() {
    let desired = parsed(&format!(
        "[[project]]\nnames = [\"search-dev\", \"search-prod\"]\nunmanaged = \"delete\"\n{KEY}"
    ))
    .unwrap();
    let selectors: Vec<_> = desired
        .projects
        .iter()
        .map(|p| p.selector.clone())
        .collect();
    assert_eq!(
        selectors,
        [
            ProjectSelector::Name("search-dev".into()),
            ProjectSelector::Name("search-prod".into())
        ]
    );
    assert_eq!(desired.projects[0].keys, desired.projects[1].keys);
    assert_eq!(desired.projects[1].keys[0].name, "query");
}

#[test]
fn ids_are_uuids_compared_in_lower_case() {
    let desired = parsed(&format!(
        "[[project]]\nids = [\"8F14E45F-CEEA-4A67-9F5E-3B8C2D1A0B9C\", \
         \"0b9e2f3c-6a3e-4a8e-9d57-3f6f1f2f9c01\"]\n{KEY}"
    ))
    .unwrap();
    assert_eq!(
        desired.projects[0].selector,
        ProjectSelector::Id(ProjectId("8f14e45f-ceea-4a67-9f5e-3b8c2d1a0b9c".into()))
    );
    assert_eq!(desired.projects.len(), 2);
}

#[test]
fn a_project_listed_twice_and_a_key_id_in_several_projects_are_errors() {
    let errors = parsed(
        "[[project]]\nnames = [\"a\", \"b\", \"a\"]\n[[project.key]]\nname = \"k\"\n\
         roles = [\"DataPlaneViewer\"]\nid = \"8f14e45f-ceea-4a67-9f5e-3b8c2d1a0b9c\"\n",
    )
    .unwrap_err();
    assert_eq!(
        errors,
        [
            (2, 20, "project \"a\" is declared twice".to_owned()),
            (
                4,
                8,
                "key \"k\" is bound to id \"8f14e45f-ceea-4a67-9f5e-3b8c2d1a0b9c\" but declared \
                 in 3 projects"
                    .to_owned()
            ),
        ]
    );
}

#[test]
fn exactly_one_selector_field() {
    let errors = parsed(&format!(
        "[[project]]\nname = \"a\"\nnames = [\"b\"]\n{KEY}"
    ))
    .unwrap_err();
    assert_eq!(
        errors,
        [(3, 1, "project has both `name` and `names`".to_owned())]
    );
    let errors = parsed(&format!("[[project]]\nnames = []\n{KEY}")).unwrap_err();
    assert_eq!(errors, [(2, 9, "`names` is empty".to_owned())]);
}

#[test]
fn env_references_are_filled_in_and_a_missing_variable_is_named_at_its_column() {
    // Cargo sets CARGO_PKG_NAME for the tests it runs.
    let package = std::env::var("CARGO_PKG_NAME").expect("cargo sets CARGO_PKG_NAME");
    let desired = parsed(&format!(
        "[[project]]\nnames = [\"search-${{env:CARGO_PKG_NAME}}\", \"x\"]\n{KEY}"
    ))
    .unwrap();
    assert_eq!(
        desired.projects[0].selector,
        ProjectSelector::Name(format!("search-{package}"))
    );

    let errors = parsed(&format!(
        "[[project]]\nname = \"search-${{env:KEYPLAN_SURELY_UNSET_1F3A}}\"\n{KEY}"
    ))
    .unwrap_err();
    assert_eq!(
        errors,
        [(
            2,
            16,
            "environment variable KEYPLAN_SURELY_UNSET_1F3A is not set (project name \
             \"search-${env:KEYPLAN_SURELY_UNSET_1F3A}\")"
                .to_owned()
        )]
    );
    let errors = parsed(&format!("[[project]]\nname = \"a-${{env:}}\"\n{KEY}")).unwrap_err();
    assert_eq!(
        errors[0].2,
        "malformed environment reference in project name \"a-${env:}\""
    );
}

#[test]
fn a_store_path_takes_env_references_too() {
    let errors = parsed(&format!(
        "[secrets]\nstore = \"file\"\npath = \"${{env:KEYPLAN_SURELY_UNSET_1F3A}}/s.json\"\n\
         [[project]]\nname = \"a\"\n{KEY}"
    ))
    .unwrap_err();
    assert_eq!(errors[0].0, 3);
    assert!(
        errors[0]
            .2
            .starts_with("environment variable KEYPLAN_SURELY_UNSET_1F3A is not set")
    );
}
