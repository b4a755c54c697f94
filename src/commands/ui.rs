//! The terminal: stdout for results, stderr for progress and errors, colour, and the one prompt.
//!
//! Only this type writes to the process's streams, and only [`Ui::confirm`] reads stdin. The
//! colour decision is made here, once, for both streams.

#![expect(
    clippy::unused_self,
    reason = "output goes through a Ui value, so that callers never reach for the streams themselves"
)]

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::{Arc, Mutex};

use super::progress::Line;
use anstream::{AutoStream, ColorChoice};

use crate::render::Paint;

/// Where output goes and how it looks.
#[derive(Debug, Clone)]
pub struct Ui {
    color_stdout: bool,
    color_stderr: bool,
    live: bool,
    /// The line indicatif redraws at the bottom of the terminal (a bar or a spinner), while one
    /// is shown: every other write to stderr goes above it.
    line: Arc<Mutex<Option<Arc<Line>>>>,
}

/// The answer at the approval prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    Approved,
    Declined,
    /// stdin is not a terminal: keyplan never waits for an answer that cannot come.
    NoTerminal,
}

impl Ui {
    /// Decides colour for stdout and stderr ([`colour`]), and whether progress is redrawn.
    pub fn new(no_color: bool) -> Self {
        let var = |name: &str| std::env::var_os(name);
        let color_stdout = colour(no_color, var, std::io::stdout().is_terminal());
        let color_stderr = colour(no_color, var, std::io::stderr().is_terminal());
        let dumb = var("TERM").is_some_and(|term| term == "dumb");
        Ui {
            color_stdout,
            color_stderr,
            // Redrawing a line takes escape codes: only where colour (escape codes) is wanted.
            live: color_stderr && !dumb && std::io::stderr().is_terminal(),
            line: Arc::default(),
        }
    }

    /// The `Ui` for arguments clap could not parse: `--no-color` as the raw arguments have it.
    pub fn for_raw_args(args: &[OsString]) -> Self {
        let no_color = args
            .iter()
            .skip(1)
            .take_while(|arg| *arg != "--")
            .any(|arg| arg == "--no-color");
        Self::new(no_color)
    }

    pub fn color_stdout(&self) -> bool {
        self.color_stdout
    }

    pub fn color_stderr(&self) -> bool {
        self.color_stderr
    }

    /// Whether progress is a line redrawn in place (a terminal that takes escape codes), or
    /// plain lines that last (a pipe, a CI log, `NO_COLOR`, `TERM=dumb`).
    pub fn live(&self) -> bool {
        self.live
    }

    /// Makes `line` the redrawn line, above which other stderr output goes; a line shown
    /// before is cleared (two lines redrawn at once would overwrite each other).
    pub fn show_line(&self, line: &Arc<Line>) {
        let before = crate::lock::lock(&self.line).replace(Arc::clone(line));
        if let Some(before) = before {
            before.bar.finish_and_clear();
        }
    }

    /// Clears `line`, and forgets it if it is still the one shown.
    pub fn clear_line(&self, line: &Arc<Line>) {
        line.bar.finish_and_clear();
        let mut shown = crate::lock::lock(&self.line);
        if shown.as_ref().is_some_and(|shown| Arc::ptr_eq(shown, line)) {
            *shown = None;
        }
    }

    /// The redrawn line, if one is shown.
    pub fn shown_line(&self) -> Option<Arc<Line>> {
        crate::lock::lock(&self.line).clone()
    }

    /// Writes a result to stdout as is.
    pub fn out(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        // A closed pipe (`keyplan plan | head`) is not an error worth a panic.
        let _ = stdout.write_all(text.as_bytes());
        if !text.ends_with('\n') && !text.is_empty() {
            let _ = stdout.write_all(b"\n");
        }
        let _ = stdout.flush();
    }

    /// A line of progress or information on stderr.
    pub fn info(&self, line: &str) {
        self.stderr(&format!("{line}\n"));
    }

    /// Styled text for stdout (clap's help), its styles dropped when stdout gets no colour.
    pub fn out_styled(&self, text: &str) {
        let mut stdout = AutoStream::new(std::io::stdout().lock(), choice(self.color_stdout));
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
    }

    /// Styled text for stderr (clap's usage errors), as is but for its styles, which are
    /// dropped when stderr gets no colour.
    pub fn styled_err(&self, text: &str) {
        self.stderr(text);
    }

    /// Writes to stderr, above the redrawn line if one is shown, ignoring a reader that went
    /// away (`2>&1 | head`): output that cannot be shown must never stop an apply half-way,
    /// where it would leave keys half-made. Escape codes go only where colour is on: this is
    /// the last guard against one slipping through.
    fn stderr(&self, text: &str) {
        let write = || {
            let mut stderr = AutoStream::new(std::io::stderr().lock(), choice(self.color_stderr));
            let _ = stderr.write_all(text.as_bytes());
            let _ = stderr.flush();
        };
        match self.shown_line() {
            Some(line) => line.bar.suspend(write),
            None => write(),
        }
    }

    /// A warning on stderr.
    pub fn warn(&self, line: &str) {
        let paint = Paint::new(self.color_stderr);
        self.stderr(&format!(
            "{} {line}\n",
            paint.paint(Paint::BOLD_YELLOW, "warning:")
        ));
    }

    /// An error with its causes and hints, on stderr.
    pub fn error(&self, message: &str, causes: &[String], hints: &[String]) {
        let paint = Paint::new(self.color_stderr);
        let mut text = format!("{} {message}\n", paint.paint(Paint::BOLD_RED, "error:"));
        for cause in causes {
            let _ = writeln!(text, "  caused by: {cause}");
        }
        for hint in hints {
            let _ = writeln!(text, "  {} {hint}", paint.paint(Paint::CYAN, "hint:"));
        }
        self.stderr(&text);
    }

    /// Asks for approval. Only the exact answer `yes` approves.
    pub fn confirm(&self, question: &str) -> Approval {
        if !std::io::stdin().is_terminal() {
            return Approval::NoTerminal;
        }
        self.stderr(&format!("{question}\n\n  Enter a value: "));
        let mut answer = String::new();
        match std::io::stdin().lock().read_line(&mut answer) {
            Ok(_) if answer.trim() == "yes" => Approval::Approved,
            _ => Approval::Declined,
        }
    }
}

/// The one colour decision, for a stream that `is_terminal` or not, with the environment read
/// through `var`. In this order: `--no-color`, then a non-empty `NO_COLOR`, turn colour off;
/// else `CLICOLOR_FORCE` (non-empty, not `0`) turns it on, even into a pipe or a CI log; else
/// `CLICOLOR=0`, `TERM=dumb` or a stream that is not a terminal turn it off.
fn colour(no_color: bool, var: impl Fn(&str) -> Option<OsString>, is_terminal: bool) -> bool {
    let set = |name: &str| var(name).filter(|value| !value.is_empty());
    if no_color || set("NO_COLOR").is_some() {
        return false;
    }
    if set("CLICOLOR_FORCE").is_some_and(|value| value != "0") {
        return true;
    }
    let off = set("CLICOLOR").is_some_and(|value| value == "0")
        || var("TERM").is_some_and(|term| term == "dumb");
    is_terminal && !off
}

/// What an [`AutoStream`] does with escape codes: passes them on, or strips them.
fn choice(color: bool) -> ColorChoice {
    if color {
        ColorChoice::Always
    } else {
        ColorChoice::Never
    }
}

/// `keyplan emulator` announces its address on stdout (scripts read it) and the rest on stderr.
impl crate::emulator::EmulatorOutput for Ui {
    fn address(&mut self, line: &str) {
        self.out(line);
    }

    fn note(&mut self, line: &str) {
        self.info(line);
    }
}

#[cfg(test)]
mod tests {
    use super::colour;
    use std::ffi::OsString;

    /// The decision for a terminal and for a pipe, with these variables set.
    fn decide(no_color: bool, vars: &[(&str, &str)]) -> (bool, bool) {
        let var = |name: &str| {
            vars.iter()
                .find(|(set, _)| *set == name)
                .map(|(_, value)| OsString::from(value))
        };
        (colour(no_color, var, true), colour(no_color, var, false))
    }

    #[test]
    fn colour_follows_the_flag_then_no_color_then_clicolor_force_then_the_terminal() {
        assert_eq!(decide(false, &[]), (true, false));
        assert_eq!(decide(false, &[("TERM", "xterm")]), (true, false));
        assert_eq!(decide(true, &[("CLICOLOR_FORCE", "1")]), (false, false));
        assert_eq!(
            decide(false, &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")]),
            (false, false)
        );
        // An empty NO_COLOR is no request.
        assert_eq!(decide(false, &[("NO_COLOR", "")]), (true, false));
        assert_eq!(decide(false, &[("CLICOLOR_FORCE", "1")]), (true, true));
        assert_eq!(
            decide(
                false,
                &[("CLICOLOR_FORCE", "1"), ("TERM", "dumb"), ("CLICOLOR", "0")]
            ),
            (true, true)
        );
        assert_eq!(decide(false, &[("CLICOLOR_FORCE", "0")]), (true, false));
        assert_eq!(decide(false, &[("CLICOLOR_FORCE", "")]), (true, false));
        assert_eq!(decide(false, &[("TERM", "dumb")]), (false, false));
        assert_eq!(decide(false, &[("CLICOLOR", "0")]), (false, false));
        assert_eq!(decide(false, &[("CLICOLOR", "1")]), (true, false));
    }
}
