//! Names are data, never layout: a name from the API cannot forge a line of keyplan's output
//! or drive a terminal; a declared name cannot hide what it is; a saved plan is applied only
//! while it is still the plan the manifest and the live keys give.

use crate::common::Env;
use keyplan::emulator::{Fault, Route};
use keyplan::model::Role;

const SECRETS: &str = "secrets.json";

const FORGED: &str = "Apply complete: 0 created, 0 updated, 0 replaced, 0 deleted.";

/// Fails if `text` has a line that a name forged: one starting with the summary's words other
/// than the summaries the apply printed (`real` of them), or an ESC byte.
#[track_caller]
fn assert_unforged(what: &str, text: &str, real: usize) {
    assert!(!text.contains('\u{1b}'), "an ESC byte in {what}:\n{text:?}");
    let summaries = text
        .lines()
        .filter(|line| line.trim_start().starts_with("Apply complete"))
        .count();
    assert_eq!(summaries, real, "a forged line in {what}:\n{text}");
    assert!(!text.contains(&format!("\n{FORGED}")), "{what}:\n{text}");
}

#[test]
fn names_from_the_api_cannot_forge_lines_or_drive_a_terminal() {
    let env = Env::new();
    let evil = format!("old\n{FORGED}\u{1b}[2K");
    let project = env.project(&format!("prod\n{FORGED}\u{1b}[2K"));
    env.key(&project, "ci", &[Role::ProjectViewer]);
    env.key(&project, &evil, &[Role::ProjectViewer]);
    env.manifest(&format!(
        "[secrets]\nstore = \"file\"\npath = \"{SECRETS}\"\n\n[[project]]\nid = \"{}\"\n\
         unmanaged = \"delete\"\n\n  [[project.key]]\n  name = \"ci\"\n  roles = [\"ProjectViewer\"]\n  \
         [[project.key]]\n  name = \"new\"\n  roles = [\"ProjectViewer\"]\n",
        project.id
    ));

    let plan = env.keyplan(["plan", "--out", "keyplan.plan"]).run();
    assert_unforged("the plan's stdout", &plan.stdout, 0);
    assert_unforged("the plan's stderr", &plan.stderr, 0);

    // Stale: another evil key appears; the refusal names it, escaped.
    env.key(&project, &format!("{evil}2"), &[Role::ProjectViewer]);
    let stale = env.keyplan(["apply", "keyplan.plan"]).run().code(5);
    assert_unforged("the stale plan's stderr", &stale.stderr, 0);

    // A failed create skips the project's deletes, saying which project: escaped.
    env.emulator
        .push_faults(Route::CreateKey, [Fault::Status(403)]);
    let partly = env.keyplan(["apply", "--auto-approve", "--force"]).run();
    assert_ne!(partly.code, 0, "{}", partly.stdout);
    assert!(partly.stdout.contains("Skipped"), "{}", partly.stdout);
    assert_unforged("the partial apply's stdout", &partly.stdout, 1);
    assert_unforged("the partial apply's stderr", &partly.stderr, 0);

    let applied = env
        .keyplan(["apply", "--auto-approve", "--force"])
        .run()
        .code(0);
    assert_unforged("the apply's stdout", &applied.stdout, 1);
    assert_unforged("the apply's stderr", &applied.stderr, 0);
    assert!(
        applied.stdout.contains("2 deleted"),
        "the evil keys were deleted:\n{}",
        applied.stdout
    );
    assert!(
        env.keys(&project)
            .iter()
            .all(|k| !k.name.starts_with("old"))
    );
    env.assert_no_leaks(&[SECRETS]);
}
