//! The command line describing itself: shell completions, the man page, `--help` and
//! `--version`.

#![expect(clippy::unwrap_used, reason = "tests")]

use crate::common::Env;

/// The subcommands every completion script and the man page must offer.
const SUBCOMMANDS: [&str; 12] = [
    "validate",
    "plan",
    "apply",
    "show",
    "drift",
    "report",
    "import",
    "schema",
    "secret",
    "emulator",
    "completions",
    "man",
];

#[test]
fn completions_are_produced_for_every_shell_and_offer_every_subcommand() {
    let env = Env::new();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let script = env.keyplan(["completions", shell]).run().code(0).stdout;
        assert!(script.len() > 500, "{shell}: {script}");
        for subcommand in SUBCOMMANDS {
            assert!(
                script.contains(subcommand),
                "the {shell} script does not offer `{subcommand}`"
            );
        }
        // Options too, not just subcommands.
        assert!(script.contains("auto-approve"), "{shell}");
    }
    env.keyplan(["completions", "tcsh"]).run().code(64);
}

#[test]
fn the_bash_completion_script_is_valid_bash() {
    let env = Env::new();
    let script = env.keyplan(["completions", "bash"]).run().code(0).stdout;
    let path = env.path("keyplan.bash");
    std::fs::write(&path, &script).unwrap();
    let checked = std::process::Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&checked.stderr)
    );
    // Sourcing it registers the completion function for `keyplan`.
    let sourced = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p keyplan", path.display()))
        .output()
        .unwrap();
    let registered = String::from_utf8_lossy(&sourced.stdout);
    assert!(registered.contains("keyplan"), "{registered}");
}

#[test]
fn the_man_page_is_roff_naming_every_subcommand() {
    let env = Env::new();
    let page = env.keyplan(["man"]).run().code(0).stdout;
    assert!(page.starts_with(".TH keyplan 1 "), "{page}");
    assert!(page.contains(".SH NAME"), "{page}");
    assert!(page.contains(".SH SYNOPSIS"), "{page}");
    for subcommand in SUBCOMMANDS {
        assert!(
            page.contains(subcommand),
            "the man page omits `{subcommand}`"
        );
    }
    // groff reads it without a single warning (-ww: all of them) and formats it.
    let path = env.path("keyplan.1");
    std::fs::write(&path, &page).unwrap();
    let formatted = std::process::Command::new("groff")
        .args(["-man", "-Tutf8", "-ww"])
        .arg(&path)
        .output()
        .unwrap();
    let warnings = String::from_utf8_lossy(&formatted.stderr);
    assert!(
        formatted.status.success() && warnings.is_empty(),
        "{warnings}"
    );
    let text = String::from_utf8_lossy(&formatted.stdout);
    assert!(
        text.contains("keyplan") && text.contains("emulator"),
        "{text}"
    );
}

/// The short help text of `args` (`-h`: one line per option), which must succeed.
fn help(env: &Env, args: &[&str]) -> String {
    let mut args = args.to_vec();
    args.push("-h");
    env.keyplan(args).run().code(0).stdout
}

/// The lines under `heading:` in a short help text, up to the blank line that ends them.
fn section<'h>(help: &'h str, heading: &str) -> &'h str {
    let start = help
        .find(&format!("\n{heading}:\n"))
        .unwrap_or_else(|| panic!("no {heading:?} heading in:\n{help}"));
    let rest = &help[start + heading.len() + 3..];
    &rest[..rest.find("\n\n").unwrap_or(rest.len())]
}

#[test]
fn global_and_connection_options_have_headings_of_their_own() {
    let env = Env::new();
    for args in [&[][..], &["plan"], &["apply"]] {
        let text = help(&env, args);
        let global = section(&text, "Global options");
        assert!(
            global.contains("--file") && global.contains("--no-color"),
            "{global}"
        );
        let connection = section(&text, "Connection options");
        for flag in ["--api-host", "--concurrency", "--sandbox", "--sandbox-seed"] {
            assert!(
                connection.contains(flag),
                "{args:?}: {flag} not in\n{connection}"
            );
        }
        let options = section(&text, "Options");
        assert!(
            !options.contains("--sandbox") && !options.contains("--file"),
            "{options}"
        );
    }
}

#[test]
fn offline_commands_neither_offer_nor_accept_connection_options() {
    let env = Env::new();
    std::fs::write(env.path("keyplan.toml"), "[[project]]\nname = \"p\"\n").unwrap();
    for command in ["validate", "show", "schema", "completions", "man"] {
        let text = help(&env, &[command]);
        assert!(text.contains("--file"), "{command}: {text}");
        for flag in [
            "--api-host",
            "--oauth-url",
            "--concurrency",
            "--api-version",
            "--sandbox",
        ] {
            assert!(
                !text.contains(flag),
                "`{command} --help` offers {flag}:\n{text}"
            );
        }
    }
    // Given anyway, before or after the command's name: a usage error naming the option.
    for args in [
        &["validate", "--sandbox"][..],
        &["--sandbox", "validate"],
        &["validate", "--concurrency", "4"],
        &["--api-host", "http://127.0.0.1:1", "schema"],
    ] {
        let refused = env.keyplan(args).run().code(64);
        assert!(
            refused.stderr.contains("does not apply to `keyplan"),
            "{args:?}: {}",
            refused.stderr
        );
    }
    // The environment still sets what it sets: PINECONE_API_VERSION is no command-line option.
    env.keyplan(["validate"]).run().code(0);
    // And the commands that talk to the API take them.
    env.keyplan(["--sandbox", "plan"]).run().code(0);
}

#[test]
fn plan_apply_drift_and_import_show_examples() {
    let env = Env::new();
    for command in ["plan", "apply", "drift", "import"] {
        let text = help(&env, &[command]);
        let examples = section(&text, "Examples");
        let lines: Vec<&str> = examples.lines().collect();
        assert!(lines.len() >= 2, "{command}: {examples}");
        assert!(
            lines
                .iter()
                .all(|l| l.trim_start().starts_with(&format!("keyplan {command}"))),
            "{command}: every example runs `keyplan {command}`:\n{examples}"
        );
    }
}

#[test]
fn secret_get_says_its_secrets_file_is_read_and_apply_says_it_is_written() {
    let env = Env::new();
    let get = help(&env, &["secret", "get"]);
    assert!(get.contains("Read the secret from this file"), "{get}");
    assert!(!get.contains("Store new secrets"), "{get}");
    let apply = help(&env, &["apply"]);
    assert!(apply.contains("Store new secrets in this file"), "{apply}");
}

#[test]
fn a_sandbox_seed_without_the_sandbox_is_a_usage_error() {
    let env = Env::new();
    std::fs::write(env.path("keyplan.toml"), "[[project]]\nname = \"p\"\n").unwrap();
    for args in [
        &["--sandbox-seed", "seed.toml", "plan"][..],
        &["plan", "--sandbox-seed", "seed.toml"],
    ] {
        let refused = env.keyplan(args).run().code(64);
        assert!(
            refused
                .stderr
                .contains("--sandbox-seed fills the sandbox, so it needs --sandbox"),
            "{}",
            refused.stderr
        );
        assert!(refused.stdout.is_empty(), "{}", refused.stdout);
    }
    // With --sandbox, before or after the command's name, it is accepted.
    std::fs::write(
        env.path("seed.toml"),
        "[[projects]]\nname = \"p\"\n\n  [[projects.keys]]\n  name = \"old\"\n  roles = [\"ProjectViewer\"]\n",
    )
    .unwrap();
    for args in [
        &["--sandbox", "plan", "--sandbox-seed", "seed.toml"][..],
        &["--sandbox-seed", "seed.toml", "plan", "--sandbox"],
        &["plan", "--sandbox", "--sandbox-seed", "seed.toml"],
    ] {
        env.keyplan(args).run().code(0);
        let state = env.path(".keyplan-sandbox.json");
        let seeded = std::fs::read_to_string(&state).unwrap();
        assert!(
            seeded.contains("\"old\""),
            "{args:?}: the seed was not used: {seeded}"
        );
        std::fs::remove_file(state).unwrap();
    }
}

#[test]
fn the_version_names_the_commit_it_was_built_from() {
    let env = Env::new();
    let version = env.keyplan(["--version"]).run().code(0).stdout;
    let expected_start = format!("keyplan {} (commit ", env!("CARGO_PKG_VERSION"));
    assert!(version.starts_with(&expected_start), "{version}");
    let commit = version[expected_start.len()..]
        .trim_end()
        .trim_end_matches(')');
    // Built from this checkout, it is this checkout's HEAD (build.rs reruns when HEAD moves).
    let head = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned());
    match head {
        Some(head) => assert!(
            commit.len() >= 7 && head.starts_with(commit),
            "--version says {commit:?}, HEAD is {head}"
        ),
        None => assert_eq!(commit, "unknown"),
    }
}
