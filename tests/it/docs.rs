//! Tables in docs/ that restate the code, checked against the code.

#![expect(clippy::unwrap_used, reason = "tests")]

use keyplan::exit::ExitCode;

/// The rows of the table under `## Exit codes` in docs/cli.md: (code, meaning).
fn documented_exit_codes() -> Vec<(u8, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/cli.md");
    let text = std::fs::read_to_string(path).unwrap();
    let section = text
        .split("\n## Exit codes\n")
        .nth(1)
        .expect("docs/cli.md has a `## Exit codes` section");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter_map(|line| line.trim().strip_prefix('|'))
        .filter_map(|row| {
            let mut cells = row.split('|').map(str::trim);
            // The header (`code`) and the `---` rule do not parse as codes.
            let code = cells.next()?.parse().ok()?;
            Some((code, cells.next()?.to_owned()))
        })
        .collect()
}

/// Lower-case words, without punctuation and Markdown (`--flags` stay whole).
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether every item of `needle` appears in `haystack`, in the same order.
fn in_order(needle: &[String], haystack: &[String]) -> bool {
    let mut rest = haystack.iter();
    needle.iter().all(|word| rest.any(|w| w == word))
}

/// The codes must be the same, in the same order. The doc may say more than
/// `ExitCode::meaning` (the table in docs/cli.md explains some codes further), but every word of
/// the code's meaning must be in the doc's, in the same order: a meaning changed on one side
/// only fails.
#[test]
fn the_exit_code_table_in_docs_cli_md_matches_src_exit_rs() {
    let documented = documented_exit_codes();
    let codes: Vec<u8> = documented.iter().map(|(code, _)| *code).collect();
    let expected: Vec<u8> = ExitCode::ALL.iter().map(|code| code.code()).collect();
    assert_eq!(
        codes, expected,
        "docs/cli.md's exit-code table (in order) differs from ExitCode::ALL in src/exit.rs"
    );
    for ((code, doc), exit) in documented.iter().zip(ExitCode::ALL) {
        assert!(
            in_order(&words(exit.meaning()), &words(doc)),
            "exit code {code}: docs/cli.md says {doc:?}, src/exit.rs says {:?}; every word of \
             the latter must appear in the former, in order",
            exit.meaning()
        );
    }
}

#[test]
fn words_in_order_allow_additions_and_refuse_changes() {
    let w = |text: &str| words(text);
    assert!(in_order(
        &w("usage error (bad command line)"),
        &w("usage error (bad command line); never 2")
    ));
    assert!(in_order(
        &w("answer was not 'yes'"),
        &w("answer was not `yes`, or")
    ));
    assert!(!in_order(
        &w("saved plan is stale"),
        &w("saved plan is fresh")
    ));
    assert!(!in_order(&w("plan stale"), &w("stale plan")));
}

/// The sandbox command a document shows: the words after `cargo run -- ` on the line that has
/// them (in a README code block or a TOML comment).
fn sandbox_command(document: &str) -> Vec<String> {
    let path = format!("{}/{document}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text
        .lines()
        .find_map(|line| line.split_once("cargo run -- ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("{document} shows no `cargo run -- ...` command"));
    line.split_whitespace().map(str::to_owned).collect()
}

/// The README's walkthrough, command for command, from a directory laid out like a clone: the
/// plan, the apply (with a lasting line per new secret), drift's two unmanaged keys, and the
/// `ignore` that acknowledges one of them. The examples' own comments show the same command.
#[test]
fn the_readme_walkthrough_holds_as_written() {
    let readme = sandbox_command("README.md");
    assert_eq!(readme, sandbox_command("examples/keyplan.toml"));
    assert_eq!(readme, sandbox_command("examples/sandbox-seed.toml"));
    assert_eq!(readme.last().map(String::as_str), Some("plan"));

    let env = crate::common::Env::new();
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    std::fs::create_dir(env.path("examples")).unwrap();
    for file in ["keyplan.toml", "sandbox-seed.toml"] {
        std::fs::copy(examples.join(file), env.path("examples").join(file)).unwrap();
    }
    let with = |command: &[&str]| -> Vec<String> {
        let mut args = readme[..readme.len() - 1].to_vec();
        args.extend(command.iter().map(|&word| word.to_owned()));
        args
    };
    let plan = env.keyplan(&readme).run().code(0);
    assert!(plan.stdout.contains("Plan: 1 to create"), "{}", plan.stdout);
    let apply = env
        .keyplan(with(&["apply", "--auto-approve"]))
        .run()
        .code(0);
    assert!(
        apply.stdout.contains("created analytics-staging/etl (key ")
            && apply
                .stdout
                .contains("      its secret went to file examples/secrets.json\n"),
        "{}",
        apply.stdout
    );
    let again = env.keyplan(&readme).run().code(0);
    assert!(again.stdout.contains("No changes."), "{}", again.stdout);
    let drift = env.keyplan(with(&["drift"])).run().code(2);
    assert!(drift.stdout.contains("2 unmanaged"), "{}", drift.stdout);

    // `ignore` acknowledges a known key, as the README says.
    let manifest = env.path("examples/keyplan.toml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace(
        "name = \"analytics-staging\"\n",
        "name = \"analytics-staging\"\nignore = [\"adhoc-export\"]\n",
    );
    std::fs::write(&manifest, text).unwrap();
    let drift = env.keyplan(with(&["drift"])).run().code(2);
    assert!(drift.stdout.contains("1 unmanaged"), "{}", drift.stdout);
    assert!(!drift.stdout.contains("adhoc-export"), "{}", drift.stdout);

    // Another seed once the state exists: refused, saying what to do.
    std::fs::write(env.path("other-seed.toml"), "[[projects]]\nname = \"x\"\n").unwrap();
    let mut other = readme.clone();
    let seed = other.iter().position(|w| w == "--sandbox-seed").unwrap() + 1;
    other[seed] = "other-seed.toml".to_owned();
    let refused = env.keyplan(&other).run().code(1);
    assert!(
        refused
            .stderr
            .contains("delete examples/.keyplan-sandbox.json to start over"),
        "{}",
        refused.stderr
    );
}

/// The README's test command names the script CI runs.
#[test]
fn the_readme_test_command_names_the_ci_script() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    assert!(
        readme.contains("\nbash .ci/run\n"),
        "README lost `bash .ci/run`"
    );
    let script = std::fs::read_to_string(format!("{root}/.ci/run")).unwrap();
    assert!(
        script.contains("bash .ci/test"),
        ".ci/run no longer runs .ci/test"
    );
}

/// Every workflow the repository ships (its own and the examples): actions pinned by commit
/// SHA with the version in a comment, checkouts that keep no credentials, a timeout on every
/// job, and keyplan never installed by name from crates.io (this project publishes no crate
/// there; whatever is would get the Pinecone credentials).
#[test]
fn workflows_pin_actions_and_never_install_keyplan_by_name() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for dir in [".github/workflows", "examples/github-actions"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let name = path.display();
            for line in text
                .lines()
                .filter(|l| l.trim_start().starts_with("- uses:"))
            {
                let reference = line.split("uses:").nth(1).unwrap().trim();
                let (_, pin) = reference.split_once('@').unwrap();
                let (sha, comment) = pin.split_once(" # v").unwrap_or((pin, ""));
                assert!(
                    sha.len() == 40
                        && sha.chars().all(|c| c.is_ascii_hexdigit())
                        && !comment.is_empty(),
                    "{name}: `{}` is not pinned to a commit SHA with a `# vX` comment",
                    line.trim()
                );
            }
            let count = |needle: &str| text.matches(needle).count();
            assert_eq!(
                count("actions/checkout@"),
                count("persist-credentials: false"),
                "{name}: every checkout sets persist-credentials: false"
            );
            assert_eq!(
                count("runs-on:"),
                count("timeout-minutes:"),
                "{name}: every job has timeout-minutes"
            );
            for install in ["cargo install keyplan", "cargo install --locked keyplan"] {
                assert!(!text.contains(install), "{name} runs `{install}`");
            }
            checked += 1;
        }
    }
    assert!(checked >= 5, "found only {checked} workflows");
}
