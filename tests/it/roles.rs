//! Roles keyplan does not know (one Pinecone adds after this release), over real HTTP against
//! the emulator: a live key holding one never fails plan, drift, import or apply, whether the
//! manifest ignores the key or manages it; a declared one is a validation error unless
//! `allow_unknown_roles = true`, and then it is sent as declared.

#![expect(clippy::unwrap_used, reason = "tests")]

use crate::common::Env;
use keyplan::emulator::EmulatorConfig;
use keyplan::model::{Project, Role, RoleSet};

const NEW_ROLE: &str = "IndexAdmin";

const HEAD: &str = r#"[secrets]
store = "file"
path = "secrets.json"
"#;

fn manifest(top: &str, keys: &str) -> String {
    format!("{top}{HEAD}\n[[project]]\nname = \"prod\"\n{keys}")
}

fn key(name: &str, roles: &str) -> String {
    format!("\n  [[project.key]]\n  name = \"{name}\"\n  roles = {roles}\n")
}

fn role_names(env: &Env, project: &Project, name: &str) -> Vec<String> {
    let key = env
        .keys(project)
        .into_iter()
        .find(|k| k.name == name)
        .unwrap();
    key.roles.iter().map(|r| r.as_str().to_owned()).collect()
}

#[test]
fn an_ignored_key_with_an_unknown_role_fails_nothing() {
    let env = Env::new();
    let prod = env.project("prod");
    env.key(&prod, "future", &[Role::from_name(NEW_ROLE)]);
    env.manifest(&manifest(
        "",
        &format!(
            "unmanaged = \"keep\"\n{}",
            key("reader", r#"["DataPlaneViewer"]"#)
        ),
    ));

    let plan = env.keyplan(["plan", "--detailed-exitcode"]).run().code(2);
    assert!(
        plan.stdout.contains("future") && plan.stdout.contains(NEW_ROLE),
        "the unmanaged key is shown with its role:\n{}",
        plan.stdout
    );
    let json = env.keyplan(["plan", "--format", "json"]).run().code(0);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["unmanaged"][0]["key"]["roles"][0], NEW_ROLE, "{doc}");

    let drift = env.keyplan(["drift"]).run().code(2);
    assert!(drift.stdout.contains(NEW_ROLE), "{}", drift.stdout);

    env.keyplan(["apply", "--auto-approve"]).run().code(0);
    assert_eq!(role_names(&env, &prod, "future"), [NEW_ROLE]);
    assert_eq!(role_names(&env, &prod, "reader"), ["DataPlaneViewer"]);
    env.keyplan(["plan", "--detailed-exitcode"]).run().code(0);
    env.assert_no_leaks(&["secrets.json"]);
}

#[test]
fn a_managed_key_losing_an_unknown_role_is_updated_and_a_saved_plan_keeps_it() {
    let env = Env::new();
    let prod = env.project("prod");
    env.key(
        &prod,
        "ci",
        &[Role::DataPlaneViewer, Role::from_name(NEW_ROLE)],
    );
    env.manifest(&manifest("", &key("ci", r#"["DataPlaneViewer"]"#)));

    let plan = env.keyplan(["plan"]).run().code(0);
    assert!(
        plan.stdout.contains(&format!("- {NEW_ROLE}")),
        "the role diff shows the unknown role going:\n{}",
        plan.stdout
    );
    // The saved plan carries the unknown role (before) and applies as saved: re-derived from
    // the manifest and the live keys, it is the same plan.
    env.keyplan(["plan", "--out", "keyplan.plan"]).run().code(0);
    let saved = std::fs::read_to_string(env.path("keyplan.plan")).unwrap();
    assert!(saved.contains(NEW_ROLE), "{saved}");
    let shown = env
        .keyplan(["show", "keyplan.plan", "--format", "json"])
        .run()
        .code(0);
    let doc: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(
        doc["changes"][0]["before"]["roles"],
        serde_json::json!(["DataPlaneViewer", NEW_ROLE])
    );
    let applied = env.keyplan(["apply", "keyplan.plan"]).run().code(0);
    assert!(applied.stdout.contains("1 updated"), "{}", applied.stdout);
    assert_eq!(role_names(&env, &prod, "ci"), ["DataPlaneViewer"]);
    env.keyplan(["plan", "--detailed-exitcode"]).run().code(0);
}

#[test]
fn import_declares_unknown_roles_and_allows_them() {
    let env = Env::with_config(EmulatorConfig {
        extra_roles: vec![NEW_ROLE.to_owned()],
        ..EmulatorConfig::default()
    });
    let prod = env.project("prod");
    env.key(
        &prod,
        "future",
        &[Role::ProjectViewer, Role::from_name(NEW_ROLE)],
    );
    let import = env.keyplan(["import"]).run().code(0);
    assert!(
        import.stdout.contains("allow_unknown_roles = true")
            && import
                .stdout
                .contains(&format!("roles = [\"ProjectViewer\", \"{NEW_ROLE}\"]")),
        "{}",
        import.stdout
    );
    env.manifest(&import.stdout);
    env.keyplan(["validate"]).run().code(0);
    let plan = env.keyplan(["plan", "--detailed-exitcode"]).run().code(0);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);
}

#[test]
fn a_declared_unknown_role_is_an_error_unless_allowed() {
    let env = Env::with_config(EmulatorConfig {
        extra_roles: vec![NEW_ROLE.to_owned()],
        ..EmulatorConfig::default()
    });
    let prod = env.project("prod");
    let keys = key("indexer", &format!("[\"DataPlaneEditor\", \"{NEW_ROLE}\"]"));
    env.manifest(&manifest("", &keys));

    for command in [
        vec!["validate"],
        vec!["plan"],
        vec!["apply", "--auto-approve"],
    ] {
        let refused = env.keyplan(&command).run().code(1);
        let err = &refused.stderr;
        assert!(
            err.contains(&format!("unknown role \"{NEW_ROLE}\""))
                && err.contains("keyplan.toml:10:")
                && err.contains(
                    "ProjectEditor, ProjectViewer, ControlPlaneEditor, ControlPlaneViewer, \
                     DataPlaneEditor, DataPlaneViewer"
                )
                && err.contains("allow_unknown_roles = true"),
            "{command:?}: {err}"
        );
    }
    assert!(env.keys(&prod).is_empty());

    // Allowed: sent as declared, and the next plan is clean.
    env.manifest(&manifest("allow_unknown_roles = true\n", &keys));
    env.keyplan(["apply", "--auto-approve"]).run().code(0);
    let expected: RoleSet = [Role::DataPlaneEditor, Role::from_name(NEW_ROLE)].into();
    assert_eq!(env.keys(&prod)[0].roles, expected);
    env.keyplan(["plan", "--detailed-exitcode"]).run().code(0);

    // Even allowed, a role must read like one; a near miss of a known role warns.
    env.manifest(&manifest(
        "allow_unknown_roles = true\n",
        &key("odd", r#"["Data Plane"]"#),
    ));
    let odd = env.keyplan(["validate"]).run().code(1);
    assert!(odd.stderr.contains("is not a role name"), "{}", odd.stderr);
    env.manifest(&manifest(
        "allow_unknown_roles = true\n",
        &key("typo", r#"["DataPlaneEditr"]"#),
    ));
    let typo = env.keyplan(["validate"]).run().code(0);
    assert!(
        typo.stderr.contains("did you mean \"DataPlaneEditor\""),
        "{}",
        typo.stderr
    );
}

#[test]
fn an_unknown_role_from_the_api_is_escaped_in_text_output() {
    let env = Env::new();
    let prod = env.project("prod");
    let forged = "Odd\nApply complete: 0 created, 0 updated, 0 replaced, 0 deleted.\u{1b}[2K";
    env.key(&prod, "future", &[Role::from_name(forged)]);
    env.key(&prod, "table", &[Role::from_name("x|y<b>")]);
    env.manifest(&manifest(
        "",
        &format!("unmanaged = \"keep\"\n{}", key("r", r#"["ProjectViewer"]"#)),
    ));
    for format in ["human", "markdown"] {
        let plan = env.keyplan(["plan", "--format", format]).run().code(0);
        assert!(
            !plan.stdout.contains('\u{1b}')
                && !plan.stdout.contains("\nApply complete")
                && plan.stdout.contains(r"Odd\"),
            "{format}: {}",
            plan.stdout
        );
    }
    let markdown = env.keyplan(["plan", "--format", "markdown"]).run().code(0);
    assert!(
        !markdown.stdout.contains("x|y<b>"),
        "a role cannot break the table or open a tag:\n{}",
        markdown.stdout
    );
    let drift = env.keyplan(["drift"]).run().code(2);
    assert!(
        !drift.stdout.contains('\u{1b}') && !drift.stdout.contains("\nApply complete"),
        "{}",
        drift.stdout
    );
}

#[test]
fn a_sandbox_seeded_with_an_unknown_role_plans_and_applies() {
    let env = Env::new();
    std::fs::write(
        env.path("seed.toml"),
        format!(
            "[[projects]]\nname = \"prod\"\n[[projects.keys]]\nname = \"future\"\nroles = [\"{NEW_ROLE}\"]\n"
        ),
    )
    .unwrap();
    env.manifest(&manifest(
        "",
        &format!(
            "unmanaged = \"keep\"\n{}",
            key("reader", r#"["DataPlaneViewer"]"#)
        ),
    ));
    let sandbox = ["--sandbox", "--sandbox-seed", "seed.toml"];
    let plan = env.keyplan(sandbox.iter().chain(&["plan"])).run().code(0);
    assert!(plan.stdout.contains(NEW_ROLE), "{}", plan.stdout);
    env.keyplan(sandbox.iter().chain(&["apply", "--auto-approve"]))
        .run()
        .code(0);
    // The sandbox's state file keeps the role by name across runs.
    let state = std::fs::read_to_string(env.path(".keyplan-sandbox.json")).unwrap();
    assert!(state.contains(NEW_ROLE), "{state}");
    env.keyplan(sandbox.iter().chain(&["plan", "--detailed-exitcode"]))
        .run()
        .code(0);
}
