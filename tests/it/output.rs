//! Output that cannot be written: a reader that went away never stops an apply half-way.
#![expect(clippy::unwrap_used, reason = "tests")]

use std::fmt::Write as _;

use keyplan::model::Role;

use crate::common::Env;

#[test]
fn an_apply_whose_output_reader_went_away_finishes_its_changes() {
    let env = Env::new();
    let prod = env.project("prod");
    env.key(&prod, "old", &[Role::ProjectViewer]);
    let mut manifest = String::from(
        "[secrets]\nstore = \"file\"\npath = \"secrets.json\"\n\n[[project]]\nname = \"prod\"\n\
         unmanaged = \"delete\"\n",
    );
    for name in ["a", "b", "c"] {
        let _ = write!(
            manifest,
            "\n  [[project.key]]\n  name = \"{name}\"\n  roles = [\"DataPlaneViewer\"]\n"
        );
    }
    env.manifest(&manifest);

    let code = env
        .keyplan(["apply", "--auto-approve"])
        .run_with_output_closed();
    assert_eq!(code, Some(0), "the apply stopped on a closed pipe");
    let names: Vec<String> = env.key_summary(&prod).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["a", "b", "c"]);
    let stored = std::fs::read_to_string(env.path("secrets.json")).unwrap();
    for name in ["a", "b", "c"] {
        assert!(
            stored.contains(&format!("\"{name}\"")),
            "{name} has no stored secret"
        );
    }
    env.keyplan(["plan", "--detailed-exitcode"]).run().code(0);
}
