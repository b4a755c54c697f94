//! `[[policy]]` in a manifest: rules read, declared keys judged at their own line with the
//! rule's, bad rules refused at the offending character.

use std::path::Path;

use crate::manifest::{Diagnostic, ManifestError, parse};
use crate::model::{Role, RoleSet};

fn parsed(source: &str) -> Result<crate::desired::Desired, Vec<Diagnostic>> {
    match parse(source, Path::new("keyplan.toml")) {
        Ok(manifest) => Ok(manifest.desired),
        Err(ManifestError::Invalid(diagnostics)) => Err(diagnostics.items),
        Err(error) => panic!("expected diagnostics, got {error}"),
    }
}

fn errors(source: &str) -> Vec<(usize, usize, String, Option<String>)> {
    parsed(source)
        .expect_err("expected errors")
        .into_iter()
        .map(|d| (d.line, d.column, d.message, d.note))
        .collect()
}

const RULE: &str = r#"[[policy]]
projects = ["*-prod"]
forbid_roles = ["ProjectEditor"]
max_age = "90d"
name_pattern = '^[a-z][a-z0-9-]*$'
max_keys = 2
"#;

#[test]
fn a_rule_is_read_with_its_location() {
    let source = format!(
        "{RULE}[[project]]\nname = \"search-prod\"\n[[project.key]]\nname = \"query\"\n\
         roles = [\"DataPlaneViewer\"]\nrotate_after = \"30d\"\n"
    );
    let desired = parsed(&source).unwrap();
    let rule = &desired.policies[0];
    assert_eq!(rule.location, "keyplan.toml:1");
    assert_eq!(rule.projects[0].as_str(), "*-prod");
    assert_eq!(rule.forbid_roles, RoleSet::from([Role::ProjectEditor]));
    assert_eq!(rule.max_age.as_ref().unwrap().spelled, "90d");
    assert_eq!(
        rule.name_pattern.as_ref().unwrap().as_str(),
        "^[a-z][a-z0-9-]*$"
    );
    assert_eq!(rule.max_keys, Some(2));
}

#[test]
fn each_declared_violation_points_at_the_key_and_names_the_rule() {
    let source = format!(
        "{RULE}[[project]]\nname = \"search-prod\"\n[[project.key]]\nname = \"Admin\"\n\
         roles = [\"ProjectEditor\"]\nrotate_after = \"180d\"\n\
         [[project.key]]\nname = \"b\"\nroles = [\"DataPlaneViewer\"]\n\
         [[project.key]]\nname = \"c\"\nroles = [\"DataPlaneViewer\"]\nrotate_after = \"1d\"\n"
    );
    let note = Some("the policy rule is at keyplan.toml:1".to_owned());
    assert_eq!(
        errors(&source),
        vec![
            (7, 1, "project declares 3 keys, more than the policy's max_keys = 2".into(), note.clone()),
            (10, 8, "key \"Admin\" has role ProjectEditor, which a policy rule forbids".into(), note.clone()),
            (10, 8, "key \"Admin\" has rotate_after = \"180d\", longer than the policy's max_age = \"90d\"".into(), note.clone()),
            (10, 8, "key name \"Admin\" does not match the policy's name_pattern \"^[a-z][a-z0-9-]*$\"".into(), note.clone()),
            (14, 8, "key \"b\" has no `rotate_after`, but a policy rule sets max_age = \"90d\"".into(), note),
        ]
    );
}

#[test]
fn projects_outside_the_globs_and_projects_by_id_are_left_to_the_plan() {
    let source = format!(
        "{RULE}[[project]]\nname = \"search-dev\"\n[[project.key]]\nname = \"Admin\"\n\
         roles = [\"ProjectEditor\"]\n\
         [[project]]\nid = \"8f14e45f-ceea-4a67-9f5e-3b8c2d1a0b9c\"\n[[project.key]]\n\
         name = \"Admin\"\nroles = [\"ProjectEditor\"]\n"
    );
    assert!(parsed(&source).is_ok());
}

#[test]
fn a_bad_regex_is_refused_at_the_character_it_breaks_on() {
    let found = errors("[[policy]]\nname_pattern = '^[a-z'\n[[project]]\nname = \"p\"\n");
    assert_eq!(found.len(), 1);
    let (line, column, message, _) = &found[0];
    // Column 18: the `[` left open.
    assert_eq!((*line, *column), (2, 18));
    assert!(
        message.starts_with("invalid name_pattern \"^[a-z\": unclosed character class"),
        "{message}"
    );
}

#[test]
fn bad_globs_durations_counts_and_empty_rules_are_refused_where_they_are() {
    let source = "[[policy]]\nprojects = [\"[oops\"]\nmax_age = \"3 months\"\nmax_keys = 0\n\
                  [[policy]]\nprojects = [\"*\"]\n[[policy]]\nforbid_roles = [\"ProjectEditr\"]\n\
                  [[project]]\nname = \"p\"\n";
    let found: Vec<(usize, usize, String)> = errors(source)
        .into_iter()
        .map(|(l, c, m, _)| (l, c, m))
        .collect();
    assert_eq!(
        found,
        vec![
            (
                2,
                13,
                "invalid glob \"[oops\": unclosed character class; missing ']'".into()
            ),
            (3, 11, "invalid duration \"3 months\"".into()),
            (4, 12, "`max_keys` must be 1 or more".into()),
            (5, 1, "policy rule checks nothing".into()),
            (8, 17, "unknown role \"ProjectEditr\"".into()),
        ]
    );
}
