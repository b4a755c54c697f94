//! The documents CI reads on stdout, beyond the plan itself: the failure document written in
//! place of a `--format json|markdown` document when the command fails, and the link to the
//! GitHub Actions run those documents carry.

use crate::render::{Failure, Heading, failure_json, failure_markdown};

use super::cli::{DocumentOutput, Format};
use super::error::{CommandError, CommandResult, exit_number};
use super::ui::Ui;

/// Writes the failure document for `error` to stdout, unless the command's own document
/// already says it (a refused plan, an apply's report). Same exit code as without it.
pub fn write_failure(
    ui: &Ui,
    document: &DocumentOutput,
    error: &CommandError,
    result: &CommandResult,
) {
    if error.documented {
        return;
    }
    let failure = Failure {
        command: document.command,
        exit_code: exit_number(result),
        kind: error.topic.as_str(),
        message: &error.message,
        causes: &error.causes,
        hints: &error.hints,
    };
    let run_url = github_run_url();
    let heading = Heading {
        title: document.title.as_deref(),
        run_url: run_url.as_deref(),
    };
    ui.out(&match document.format {
        Format::Json => failure_json(&failure),
        Format::Markdown => failure_markdown(&failure, heading),
        Format::Human => return,
    });
}

/// The page of the GitHub Actions run this is part of, from the variables GitHub sets
/// (`GITHUB_SERVER_URL`, `GITHUB_REPOSITORY`, `GITHUB_RUN_ID`); `None` outside one.
pub fn github_run_url() -> Option<String> {
    let var = |name| {
        std::env::var(name)
            .ok()
            .filter(|value: &String| !value.is_empty())
    };
    Some(format!(
        "{}/{}/actions/runs/{}",
        var("GITHUB_SERVER_URL")?.trim_end_matches('/'),
        var("GITHUB_REPOSITORY")?,
        var("GITHUB_RUN_ID")?
    ))
}
