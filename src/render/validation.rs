//! `validate`'s machine outputs: a JSON document of every diagnostic, and GitHub workflow
//! commands (`::error file=F,line=L,col=C::message`) that put each one on the pull request's
//! lines.
//!
//! A diagnostic's source line is left out of both: the offending line of a manifest is the
//! user's own text, and nothing downstream needs it.

use std::fmt::Write as _;

use serde::Serialize;

use crate::manifest::Diagnostic;

/// What was validated: the manifest's path, and its diagnostics (errors and warnings).
#[derive(Debug, Clone, Copy)]
pub struct Validation<'a> {
    pub file: &'a str,
    pub diagnostics: &'a [Diagnostic],
    /// Projects and keys declared, for a valid manifest.
    pub counts: Option<(usize, usize)>,
}

#[derive(Serialize)]
struct ValidationDoc<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    file: &'a str,
    valid: bool,
    projects: Option<usize>,
    keys: Option<usize>,
    diagnostics: Vec<DiagnosticDoc<'a>>,
}

#[derive(Serialize)]
struct DiagnosticDoc<'a> {
    severity: &'static str,
    file: String,
    line: usize,
    column: usize,
    end_column: usize,
    message: &'a str,
    hint: Option<&'a str>,
    note: Option<&'a str>,
}

/// `{"type":"validation","file":..,"valid":..,"projects":..,"keys":..,"diagnostics":[..]}`,
/// pretty-printed.
pub fn validation_json(validation: &Validation) -> String {
    let doc = ValidationDoc {
        kind: "validation",
        file: validation.file,
        valid: validation.counts.is_some(),
        projects: validation.counts.map(|(projects, _)| projects),
        keys: validation.counts.map(|(_, keys)| keys),
        diagnostics: validation
            .diagnostics
            .iter()
            .map(|d| DiagnosticDoc {
                severity: severity(d),
                file: d.path.display().to_string(),
                line: d.line,
                column: d.column,
                end_column: d.column + d.width,
                message: &d.message,
                hint: d.hint.as_deref(),
                note: d.note.as_deref(),
            })
            .collect(),
    };
    super::json::to_pretty(&doc)
}

/// One workflow command per diagnostic: `::error file=F,line=L,col=C,endColumn=E::message`
/// (`::warning` for a warning), the hint and note on the lines after the message.
pub fn validation_github(validation: &Validation) -> String {
    let mut out = String::new();
    for d in validation.diagnostics {
        let mut message = d.message.clone();
        if let Some(hint) = &d.hint {
            let _ = write!(message, "\nhelp: {hint}");
        }
        if let Some(note) = &d.note {
            let _ = write!(message, "\nnote: {note}");
        }
        let _ = writeln!(
            out,
            "::{} file={},line={},col={},endColumn={},title={}::{}",
            severity(d),
            github_property(&d.path.display().to_string()),
            d.line,
            d.column,
            d.column + d.width,
            github_property("keyplan validate"),
            github_data(&message)
        );
    }
    out
}

/// An error that is no diagnostic (an unreadable file) as one workflow command on the file.
pub fn github_error(file: &str, message: &str) -> String {
    format!(
        "::error file={},title={}::{}\n",
        github_property(file),
        github_property("keyplan validate"),
        github_data(message)
    )
}

fn severity(d: &Diagnostic) -> &'static str {
    if d.warning { "warning" } else { "error" }
}

/// A workflow command's message: `%`, CR and LF percent-encoded (GitHub's escaping rules), so
/// no text can end the command or start another.
pub fn github_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: as [`github_data`], and `:` and `,` too, which would
/// end the value.
pub fn github_property(text: &str) -> String {
    github_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_command_text_is_escaped_as_github_reads_it() {
        assert_eq!(github_data("50% off\r\n::x"), "50%25 off%0D%0A::x");
        assert_eq!(github_property("a,b:c%\nd"), "a%2Cb%3Ac%25%0Ad");
    }
}
