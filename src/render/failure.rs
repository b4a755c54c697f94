//! The failure document: what a `--format json` or `--format markdown` run writes to stdout
//! when it fails, so that CI gets a document saying what failed and why instead of nothing.
//!
//! Its words are the error's own (message, causes, hints), as stderr shows them; those never
//! hold a secret (no error keyplan builds carries one).

use std::fmt::Write as _;

use serde::Serialize;

use super::markdown::{Heading, escape_text, head};

/// Causes listed in the Markdown document before the rest are counted: it stays far under
/// GitHub's comment limit (JSON lists them all).
const CAUSES_SHOWN: usize = 50;

/// A failed command, as the documents tell it.
#[derive(Debug, Clone, Copy)]
pub struct Failure<'a> {
    /// The subcommand: `plan`, `apply`, `drift`, `show`, `validate`.
    pub command: &'a str,
    /// The process's exit code, as `commands::error` chose it.
    pub exit_code: u8,
    /// What failed: `credentials`, `manifest`, `api`, `guard_refused`, `stale_plan`, ...
    pub kind: &'a str,
    /// What went wrong, one line.
    pub message: &'a str,
    /// Why: the cause chain, or one line per problem.
    pub causes: &'a [String],
    /// What to do about it.
    pub hints: &'a [String],
}

#[derive(Serialize)]
struct FailureDoc<'a> {
    #[serde(rename = "type")]
    kind_of_document: &'static str,
    command: &'a str,
    exit_code: u8,
    kind: &'a str,
    message: &'a str,
    causes: &'a [String],
    /// The first hint, or `null`: what most readers want.
    hint: Option<&'a str>,
    hints: &'a [String],
}

/// The failure as one line of JSON (a JSON document, and a JSON line after an apply's events):
/// `{"type":"error","command":..,"exit_code":N,"kind":..,"message":..,"causes":[..],"hint":..,"hints":[..]}`.
pub fn failure_json(failure: &Failure) -> String {
    let doc = FailureDoc {
        kind_of_document: "error",
        command: failure.command,
        exit_code: failure.exit_code,
        kind: failure.kind,
        message: failure.message,
        causes: failure.causes,
        hint: failure.hints.first().map(String::as_str),
        hints: failure.hints,
    };
    let mut line = serde_json::to_string(&doc)
        .expect("the failure document holds only strings and numbers, so serialising cannot fail");
    line.push('\n');
    line
}

/// The failure as a pull-request comment: the command's marker (so it replaces that command's
/// comment for the same title), a heading that says it failed, and the error in a callout.
pub fn failure_markdown(failure: &Failure, heading: Heading) -> String {
    let mut out = head(failure.command, " (failed)", heading, "Failed in");
    let _ = writeln!(
        out,
        "> [!CAUTION]\n> **`keyplan {}` failed** (exit code {}, {}): {}",
        failure.command,
        failure.exit_code,
        failure.kind,
        escape_text(failure.message)
    );
    // A manifest with hundreds of errors must still fit in one comment.
    for cause in failure.causes.iter().take(CAUSES_SHOWN) {
        let _ = writeln!(out, "> - {}", escape_text(cause));
    }
    if failure.causes.len() > CAUSES_SHOWN {
        let _ = writeln!(
            out,
            "> - … and {} more (run the command for all of them)",
            failure.causes.len() - CAUSES_SHOWN
        );
    }
    for hint in failure.hints {
        let _ = writeln!(out, ">\n> **Hint:** {}", escape_text(hint));
    }
    out
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn sample() -> (Vec<String>, Vec<String>) {
        (
            vec!["token endpoint said 401 <b>".to_owned()],
            vec!["set PINECONE_CLIENT_ID".to_owned()],
        )
    }

    #[test]
    fn the_json_document_is_one_line_with_the_exit_code_kind_and_first_hint() {
        let (causes, hints) = sample();
        let failure = Failure {
            command: "plan",
            exit_code: 1,
            kind: "credentials",
            message: "no credentials",
            causes: &causes,
            hints: &hints,
        };
        let text = failure_json(&failure);
        assert_eq!(text.lines().count(), 1);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["type"], "error");
        assert_eq!(value["exit_code"], 1);
        assert_eq!(value["kind"], "credentials");
        assert_eq!(value["hint"], "set PINECONE_CLIENT_ID");
        assert_eq!(value["causes"][0], "token endpoint said 401 <b>");
    }

    #[test]
    fn the_markdown_document_carries_the_commands_marker_and_escapes_the_error() {
        let (causes, hints) = sample();
        let failure = Failure {
            command: "apply",
            exit_code: 5,
            kind: "stale_plan",
            message: "stale plan",
            causes: &causes,
            hints: &hints,
        };
        let heading = Heading {
            title: Some("prod"),
            run_url: Some("https://github.com/o/r/actions/runs/1"),
        };
        let text = failure_markdown(&failure, heading);
        assert!(
            text.starts_with("<!-- keyplan:apply title=prod -->\n## keyplan apply: prod (failed)")
        );
        assert!(text.contains("[this CI run](https://github.com/o/r/actions/runs/1)"));
        assert!(!text.contains("<b>"), "{text}");
    }

    #[test]
    fn hundreds_of_causes_are_cut_to_fifty_and_counted() {
        let causes: Vec<String> = (0..300)
            .map(|n| format!("keyplan.toml:{n}:1: bad"))
            .collect();
        let failure = Failure {
            command: "plan",
            exit_code: 1,
            kind: "manifest",
            message: "invalid",
            causes: &causes,
            hints: &[],
        };
        let text = failure_markdown(&failure, Heading::default());
        assert_eq!(text.matches(": bad").count(), 50);
        assert!(text.contains("… and 250 more"), "{text}");
    }
}
