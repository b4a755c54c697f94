//! The command line describing itself: shell completions, the man page, `--help` and
//! `--version`.

#![expect(clippy::unwrap_used, reason = "tests")]

use crate::common::Env;

/// The subcommands every completion script and the man page must offer.
const SUBCOMMANDS: [&str; 11] = [
    "validate",
    "plan",
    "apply",
    "show",
    "drift",
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
