//! Named destinations (`[stores.NAME]`, `secrets = [...]`), name transforms and the lifecycle
//! commands, through real applies against the emulator and real child processes.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::path::Path;

use keyplan::model::Role;

use crate::common::Env;

/// A command in the scratch directory that logs `NAME args...` as one line of `log.txt` and
/// keeps what it read on stdin in `NAME.got` (one line per call), then exits with `status`.
fn recorder(env: &Env, name: &str, status: i32) -> String {
    let path = env.path(&format!("{name}.sh"));
    let dir = env.dir.path().display();
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"{name} $*\" >> '{dir}/log.txt'\n\
             got=$(cat)\nprintf '%s\\n' \"$got\" >> '{dir}/{name}.got'\n\
             [ {status} -eq 0 ] || echo '{name} refused it' >&2\nexit {status}\n"
        ),
    )
    .unwrap();
    make_executable(&path);
    path.display().to_string()
}

pub(crate) fn make_executable(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn log(env: &Env) -> Vec<String> {
    std::fs::read_to_string(env.path("log.txt"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn read(env: &Env, name: &str) -> String {
    std::fs::read_to_string(env.path(name)).unwrap_or_default()
}

/// The key names a JSON file store holds.
fn held_names(env: &Env, file: &str) -> Vec<String> {
    let text = read(env, file);
    if text.is_empty() {
        return Vec::new();
    }
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key_name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_routed_key_goes_to_every_destination_transformed_and_not_to_the_default() {
    let env = Env::new();
    let prod = env.project("prod-eu");
    let gh = recorder(&env, "gh", 0);
    env.manifest(&format!(
        r#"[secrets]
store = "file"
path = "default.json"

[stores.gh]
store = "command"
command = ["{gh}", "set", "{{key:upper_snake}}", "{{project:kebab}}", "{{key_id}}", "{{key:lower_snake}}"]

[stores.vault]
store = "file"
path = "vault.json"

[[project]]
name = "prod-eu"
  [[project.key]]
  name = "ci-reader"
  roles = ["DataPlaneViewer"]
  secrets = ["gh", "vault"]

  [[project.key]]
  name = "plain"
  roles = ["DataPlaneViewer"]
"#
    ));
    let applied = env.keyplan(["apply", "--auto-approve"]).run().code(0);
    let keys = env.keys(&prod);
    let routed = keys.iter().find(|k| k.name == "ci-reader").unwrap();
    assert_eq!(
        log(&env),
        [format!("gh set CI_READER prod-eu {} ci_reader", routed.id)]
    );
    assert_eq!(held_names(&env, "vault.json"), ["ci-reader"]);
    assert_eq!(held_names(&env, "default.json"), ["plain"]);
    // The command got the routed key's secret, on stdin.
    let secrets = env.emulator.issued_secrets();
    let got = read(&env, "gh.got");
    assert!(
        secrets.iter().any(|s| got.trim() == s),
        "gh got another value"
    );
    assert!(
        applied.stderr.contains("store \"gh\"") && applied.stderr.contains("store \"vault\""),
        "{}",
        applied.stderr
    );

    // `secret get` asks the key's own destinations.
    let got = env
        .keyplan(["secret", "get", "prod-eu/ci-reader"])
        .stdout_is_a_secret()
        .run()
        .code(0);
    assert!(secrets.iter().any(|s| got.stdout.trim() == s));
    env.assert_no_leaks(&["default.json", "vault.json", "gh.got"]);
}

#[test]
fn when_the_second_destination_fails_the_first_gives_the_secret_back_and_the_key_goes() {
    let env = Env::new();
    let prod = env.project("prod");
    let refusing = recorder(&env, "refusing", 1);
    env.manifest(&format!(
        r#"[secrets]
store = "file"
path = "default.json"

[stores.first]
store = "file"
path = "first.json"

[stores.second]
store = "command"
command = ["{refusing}", "{{key}}"]

[[project]]
name = "prod"
secrets = ["first", "second"]
  [[project.key]]
  name = "ci"
  roles = ["DataPlaneViewer"]
"#
    ));
    let failed = env.keyplan(["apply", "--auto-approve"]).run();
    assert_ne!(failed.code, 0);
    assert!(
        failed.stdout.contains("refusing refused it")
            || failed.stderr.contains("refusing refused it"),
        "{}\n{}",
        failed.stdout,
        failed.stderr
    );
    assert_eq!(log(&env), ["refusing ci"]);
    assert!(held_names(&env, "first.json").is_empty());
    assert!(held_names(&env, "default.json").is_empty());
    assert!(env.keys(&prod).is_empty(), "the new key was not deleted");
    env.assert_no_leaks(&["refusing.got"]);
}

/// A store whose three commands log their arguments, for the lifecycle.
fn lifecycle_manifest(env: &Env, key: &str, extra: &str) -> String {
    let set = recorder(env, "set", 0);
    let mv = recorder(env, "mv", 0);
    let rm = recorder(env, "rm", 0);
    let by_id = recorder(env, "put_by_id", 0);
    let rm_by_id = recorder(env, "rm_by_id", 0);
    format!(
        r#"[stores.named]
store = "command"
command = ["{set}", "{{key:upper_snake}}"]
rename_command = ["{mv}", "{{old_key:upper_snake}}", "{{key:upper_snake}}", "{{key_id}}"]
delete_command = ["{rm}", "{{key:upper_snake}}"]

[stores.versioned]
store = "command"
command = ["{by_id}", "{{key}}", "{{key_id}}"]
delete_command = ["{rm_by_id}", "{{key}}", "{{key_id}}"]

[[project]]
name = "prod"
unmanaged = "delete"
secrets = ["named", "versioned"]
{key}{extra}"#
    )
}

#[test]
fn lifecycle_commands_follow_renames_replaces_and_deletes() {
    let env = Env::new();
    let prod = env.project("prod");
    let key = "  [[project.key]]\n  name = \"ci\"\n  roles = [\"DataPlaneViewer\"]\n";
    env.manifest(&lifecycle_manifest(&env, key, ""));
    env.keyplan(["apply", "--auto-approve"]).run().code(0);
    let first = env.keys(&prod)[0].id.clone();
    assert_eq!(log(&env), ["set CI", &format!("put_by_id ci {first}")]);

    // A rename: the named store moves it; the versioned one cannot and says so.
    let renamed = "  [[project.key]]\n  name = \"ci-v2\"\n  previous_names = [\"ci\"]\n  \
                   roles = [\"DataPlaneViewer\"]\n  role_change = \"replace\"\n";
    env.manifest(&lifecycle_manifest(&env, renamed, ""));
    let rename = env.keyplan(["apply", "--auto-approve"]).run().code(0);
    assert_eq!(log(&env)[2..], [format!("mv CI CI_V2 {first}")]);
    let report = format!("{}{}", rename.stdout, rename.stderr);
    assert!(
        report.contains("store \"versioned\"") && report.contains("cannot follow renames"),
        "{report}"
    );
    assert!(!report.contains("did not create this key"), "{report}");

    // A replace (a role change): the new secret takes over the name in the named store, so
    // only the store that addresses secrets by key id deletes the old one.
    let replaced = renamed.replace("DataPlaneViewer", "DataPlaneEditor");
    env.manifest(&lifecycle_manifest(&env, &replaced, ""));
    env.keyplan(["apply", "--auto-approve"]).run().code(0);
    let second = env.keys(&prod)[0].id.clone();
    assert_ne!(first, second);
    assert_eq!(
        log(&env)[3..],
        [
            "set CI_V2".to_owned(),
            format!("put_by_id ci-v2 {second}"),
            format!("rm_by_id ci-v2 {first}"),
        ]
    );

    // A delete (the key leaves the manifest; its project deletes unmanaged keys).
    env.manifest(&lifecycle_manifest(&env, "", ""));
    env.keyplan(["apply", "--auto-approve"]).run().code(0);
    assert!(env.keys(&prod).is_empty());
    assert_eq!(
        log(&env)[6..],
        ["rm CI_V2".to_owned(), format!("rm_by_id ci-v2 {second}")]
    );
    let _ = Role::DataPlaneViewer;
}

#[test]
fn a_destination_without_lifecycle_commands_says_what_to_do_by_hand() {
    let env = Env::new();
    let prod = env.project("prod");
    let set = recorder(&env, "set", 0);
    let manifest = |key: &str| {
        format!(
            "[secrets]\nstore = \"command\"\ncommand = [\"{set}\", \"{{key}}\"]\n\n\
             [[project]]\nname = \"prod\"\nunmanaged = \"delete\"\n{key}"
        )
    };
    env.manifest(&manifest(
        "  [[project.key]]\n  name = \"ci\"\n  roles = [\"DataPlaneViewer\"]\n",
    ));
    env.keyplan(["apply", "--auto-approve"]).run().code(0);
    env.manifest(&manifest(
        "  [[project.key]]\n  name = \"ci2\"\n  previous_names = [\"ci\"]\n  roles = [\"DataPlaneViewer\"]\n",
    ));
    // The plan says it before anything happens.
    let planned = env.keyplan(["plan"]).run().code(0);
    assert!(
        planned.stderr.contains("cannot follow renames") && planned.stderr.contains("\"ci2\""),
        "{}",
        planned.stderr
    );
    let renamed = env.keyplan(["apply", "--auto-approve"]).run().code(0);
    let said = format!("{}{}", renamed.stdout, renamed.stderr);
    assert!(said.contains("cannot follow renames"), "{said}");
    assert!(said.contains("rename_command"), "{said}");
    assert!(!said.contains("did not create this key"), "{said}");
    env.manifest(&manifest(""));
    let planned = env.keyplan(["plan"]).run().code(0);
    assert!(
        planned.stderr.contains("cannot follow deletes"),
        "{}",
        planned.stderr
    );
    let deleted = env.keyplan(["apply", "--auto-approve"]).run().code(0);
    let said = format!("{}{}", deleted.stdout, deleted.stderr);
    assert!(said.contains("cannot follow deletes"), "{said}");
    assert!(said.contains("delete_command"), "{said}");
    assert!(!said.contains("did not create this key"), "{said}");
    assert!(env.keys(&prod).is_empty());
}

#[test]
fn a_dotenv_prefix_names_the_variables() {
    let env = Env::new();
    env.project("prod");
    env.manifest(
        "[secrets]\nstore = \"file\"\npath = \"secrets.env\"\nformat = \"dotenv\"\nprefix = \"PC_\"\n\n\
         [[project]]\nname = \"prod\"\n  [[project.key]]\n  name = \"ci-reader\"\n  roles = [\"DataPlaneViewer\"]\n",
    );
    env.keyplan(["apply", "--auto-approve"]).run().code(0);
    let text = read(&env, "secrets.env");
    let secret = &env.emulator.issued_secrets()[0];
    assert!(text.contains(&format!("\nPC_PROD_CI_READER={secret}\n")));
    assert!(!text.contains("KEYPLAN_PROD"));
    // Read back through the same prefix.
    let got = env
        .keyplan(["secret", "get", "prod/ci-reader"])
        .stdout_is_a_secret()
        .run()
        .code(0);
    assert_eq!(got.stdout.trim(), secret);
}

#[test]
fn bad_destinations_and_placeholders_are_reported_where_they_are() {
    let env = Env::new();
    for (manifest, at, says) in [
        (
            "[stores.gh]\nstore = \"command\"\ncommand = [\"gh\", \"{key:shout}\"]\n\n[[project]]\nname = \"p\"\n",
            "keyplan.toml:3:",
            "unknown transform `shout`",
        ),
        (
            "[stores.gh]\nstore = \"command\"\ncommand = [\"gh\", \"{keyid}\"]\n\n[[project]]\nname = \"p\"\n",
            "keyplan.toml:3:",
            "unknown placeholder {keyid}",
        ),
        (
            "[secrets]\nstore = \"keyring\"\nentry = \"{project}/{key}/{old_key}\"\n\n[[project]]\nname = \"p\"\n",
            "keyplan.toml:3:",
            "unknown placeholder {old_key}",
        ),
        (
            "[stores.github]\nstore = \"command\"\ncommand = [\"gh\"]\n\n[[project]]\nname = \"p\"\nsecrets = [\"githib\"]\n",
            "keyplan.toml:7:",
            "unknown store \"githib\"",
        ),
        (
            "[[project]]\nname = \"p\"\n  [[project.key]]\n  name = \"k\"\n  roles = [\"DataPlaneViewer\"]\n  secrets = [\"vault\"]\n",
            "keyplan.toml:6:",
            "unknown store \"vault\"",
        ),
        (
            "[secrets]\nstore = \"file\"\npath = \"s.json\"\nprefix = \"PC_\"\n\n[[project]]\nname = \"p\"\n",
            "keyplan.toml:4:",
            "`prefix` applies to format = \"dotenv\" only",
        ),
    ] {
        env.manifest(manifest);
        let run = env.keyplan(["validate"]).run();
        assert_ne!(run.code, 0, "{manifest}");
        assert!(
            run.stderr.contains(at) && run.stderr.contains(says),
            "{manifest}\n{}",
            run.stderr
        );
    }
}

#[test]
fn a_failing_rename_commands_stderr_is_withheld_and_the_key_keeps_its_name() {
    let env = Env::new();
    let prod = env.project("prod");
    let set = recorder(&env, "set", 0);
    let manifest = |key: &str| {
        format!(
            "[secrets]\nstore = \"command\"\ncommand = [\"{set}\", \"{{key}}\"]\n\
             rename_command = [\"sh\", \"-c\", \"printf 'value-%s' it-piped >&2; exit 1\"]\n\n\
             [[project]]\nname = \"prod\"\n{key}"
        )
    };
    env.manifest(&manifest(
        "  [[project.key]]\n  name = \"ci\"\n  roles = [\"DataPlaneViewer\"]\n",
    ));
    env.keyplan(["apply", "--auto-approve"]).run().code(0);
    env.manifest(&manifest(
        "  [[project.key]]\n  name = \"ci2\"\n  previous_names = [\"ci\"]\n  roles = [\"DataPlaneViewer\"]\n",
    ));
    let failed = env.keyplan(["apply", "--auto-approve"]).run();
    assert_ne!(failed.code, 0);
    let said = format!("{}{}", failed.stdout, failed.stderr);
    assert!(!said.contains("value-it-piped"), "{said}");
    assert!(said.contains("stderr is not shown"), "{said}");
    assert_eq!(env.keys(&prod)[0].name, "ci");
}
