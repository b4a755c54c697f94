//! Names are data, never layout: a name from the API cannot forge a line of keyplan's output
//! or drive a terminal; a declared name cannot hide what it is; a saved plan is applied only
//! while it is still the plan the manifest and the live keys give.

#![expect(clippy::unwrap_used, reason = "tests")]

use sha2::{Digest, Sha256};

use crate::common::Env;
use keyplan::commands::saved_plan::SavedPlan;
use keyplan::emulator::{Fault, Route};
use keyplan::model::{LiveKey, Project, Role};
use keyplan::plan::{Cause, Change, ChangeKind, KeyBefore};

const SECRETS: &str = "secrets.json";

const FORGED: &str = "Apply complete: 0 created, 0 updated, 0 replaced, 0 deleted.";

/// Fails if `text` has a line that a name forged: one starting with the summary's words other
/// than the summaries the apply printed (`real` of them), or an ESC byte.
#[track_caller]
fn assert_unforged(what: &str, text: &str, real: usize) {
    assert!(!text.contains('\u{1b}'), "an ESC byte in {what}:\n{text:?}");
    let summaries = text
        .lines()
        .filter(|line| {
            let line = line.trim_start();
            line.starts_with("Apply complete") || line.starts_with("Apply incomplete")
        })
        .count();
    assert_eq!(summaries, real, "a forged line in {what}:\n{text}");
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

/// Rewrites a saved plan the way an attacker with write access would: edit it, then recompute
/// its checksum exactly as keyplan does (SHA-256 of the JSON with an empty checksum).
fn tamper(env: &Env, from: &str, to: &str, edit: impl FnOnce(&mut SavedPlan)) {
    let text = std::fs::read_to_string(env.path(from)).unwrap();
    let mut saved: SavedPlan = serde_json::from_str(&text).unwrap();
    edit(&mut saved);
    saved.checksum = String::new();
    saved.checksum = format!("{:x}", Sha256::digest(serde_json::to_vec(&saved).unwrap()));
    std::fs::write(env.path(to), serde_json::to_string_pretty(&saved).unwrap()).unwrap();
}

fn delete_of(project: &Project, key: &LiveKey) -> Change {
    Change {
        project: project.clone(),
        kind: ChangeKind::Delete {
            before: KeyBefore::from(key),
        },
        causes: vec![Cause::Unmanaged],
    }
}

#[test]
fn a_saved_plan_is_applied_only_while_the_manifest_and_the_live_keys_give_it() {
    let env = Env::new();
    let prod = env.project("prod");
    let ci = env.key(&prod, "ci", &[Role::ProjectViewer]);
    let breakglass = env.key(&prod, "breakglass", &[Role::ProjectEditor]);
    let elsewhere = env.project("elsewhere");
    let theirs = env.key(&elsewhere, "theirs", &[Role::ProjectEditor]);
    let manifest = format!(
        "[secrets]\nstore = \"file\"\npath = \"{SECRETS}\"\n\n[[project]]\nname = \"prod\"\n\
         ignore = [\"breakglass\"]\n\n  [[project.key]]\n  name = \"ci\"\n  roles = [\"ProjectViewer\"]\n\n  \
         [[project.key]]\n  name = \"new\"\n  roles = [\"DataPlaneViewer\"]\n"
    );
    env.manifest(&manifest);
    env.keyplan(["plan", "--out", "keyplan.plan"]).run().code(0);
    let before = (env.keys(&prod), env.keys(&elsewhere));

    // A create with more power than the manifest gives.
    tamper(&env, "keyplan.plan", "escalated.plan", |saved| {
        let ChangeKind::Create { after } = &mut saved.plan.changes[0].kind else {
            panic!("{:?}", saved.plan.changes);
        };
        after.roles = [Role::ProjectEditor].into();
    });
    // A delete of an ignored key, and one in a project the manifest never mentions.
    tamper(&env, "keyplan.plan", "protected.plan", |saved| {
        saved.plan.changes.push(delete_of(&prod, &breakglass));
    });
    tamper(&env, "keyplan.plan", "foreign.plan", |saved| {
        saved.plan.changes.push(delete_of(&elsewhere, &theirs));
    });
    for file in ["escalated.plan", "protected.plan", "foreign.plan"] {
        let refused = env.keyplan(["apply", file]).run().code(5);
        assert!(
            refused.stderr.contains("stale plan") && refused.stderr.contains("not in the plan now"),
            "{file}:\n{}",
            refused.stderr
        );
        assert_eq!((env.keys(&prod), env.keys(&elsewhere)), before, "{file}");
    }
    assert_eq!(env.keys(&prod).len(), 2);
    assert_eq!(env.keys(&prod)[1].id, ci.id);

    // A comment and some blank lines later, it is still the manifest's plan.
    env.manifest(&format!("# reviewed in #123\n\n{manifest}\n\n# end\n"));
    let applied = env.keyplan(["apply", "keyplan.plan"]).run().code(0);
    assert!(
        applied.stdout.contains("Apply complete: 1 created"),
        "{}",
        applied.stdout
    );
    let new = env
        .keys(&prod)
        .into_iter()
        .find(|k| k.name == "new")
        .unwrap();
    assert_eq!(new.roles, [Role::DataPlaneViewer].into());
    assert_eq!(env.keys(&elsewhere), before.1);
    env.assert_no_leaks(&[SECRETS]);
}

#[test]
fn a_declared_name_shows_what_it_is() {
    let env = Env::new();
    let prod = env.project("prod");
    // A Cyrillic "е" in a Latin name: valid, with a warning that points at it.
    env.manifest(&format!(
        "[secrets]\nstore = \"file\"\npath = \"{SECRETS}\"\n\n[[project]]\nname = \"prod\"\n\n  \
         [[project.key]]\n  name = \"s\u{435}arch\"\n  roles = [\"ProjectViewer\"]\n"
    ));
    for command in ["validate", "plan"] {
        let run = env.keyplan([command]).run().code(0);
        assert!(
            run.stderr
                .contains("warning: key name \"s\u{435}arch\" mixes Latin and Cyrillic")
                && run.stderr.contains("keyplan.toml:9:10"),
            "{command}:\n{}",
            run.stderr
        );
    }
    // A control character: an error, with where it is.
    env.manifest(
        "[[project]]\nname = \"prod\"\n\n  [[project.key]]\n  name = \"ci\\u001b[2K\"\n  \
         roles = [\"ProjectViewer\"]\n",
    );
    let invalid = env.keyplan(["validate"]).run().code(1);
    assert!(
        invalid
            .stderr
            .contains("error: key name \"ci\\u{1b}[2K\" contains a control character (U+001B)")
            && invalid.stderr.contains("keyplan.toml:5:10"),
        "{}",
        invalid.stderr
    );

    // `import` writes bidirectional controls and control characters as escapes.
    env.key(&prod, "admin\u{202e}txt.exe", &[Role::ProjectViewer]);
    env.key(&prod, "tab\there", &[Role::ProjectViewer]);
    let import = env.keyplan(["import"]).run().code(0);
    assert!(
        !import.stdout.contains('\u{202e}') && !import.stdout.contains('\t'),
        "{}",
        import.stdout
    );
    assert!(
        import.stdout.contains("\"admin\\u202Etxt.exe\"")
            && import.stdout.contains("\"tab\\there\""),
        "{}",
        import.stdout
    );
}
