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
