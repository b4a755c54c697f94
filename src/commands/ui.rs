//! The terminal: stdout for results, stderr for progress and errors, colour, and the one prompt.
//!
//! Only this type writes to the process's streams, and only [`Ui::confirm`] reads stdin.

#![expect(
    clippy::unused_self,
    reason = "output goes through a Ui value, so that callers never reach for the streams themselves"
)]

use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Write};

use crate::render::Paint;

/// Where output goes and how it looks.
#[derive(Debug, Clone)]
pub struct Ui {
    color_stdout: bool,
    color_stderr: bool,
    stderr_is_terminal: bool,
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
    /// Colour only on a terminal, never with `--no-color` or a non-empty `NO_COLOR`.
    pub fn new(no_color: bool) -> Self {
        let no_color = no_color || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let stderr_is_terminal = std::io::stderr().is_terminal();
        Ui {
            color_stdout: !no_color && std::io::stdout().is_terminal(),
            color_stderr: !no_color && stderr_is_terminal,
            stderr_is_terminal,
        }
    }

    pub fn color_stdout(&self) -> bool {
        self.color_stdout
    }

    pub fn color_stderr(&self) -> bool {
        self.color_stderr
    }

    /// Whether stderr is a terminal (live progress) or a log (plain lines, e.g. in CI).
    pub fn stderr_is_terminal(&self) -> bool {
        self.stderr_is_terminal
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

    /// Writes to stderr, ignoring a reader that went away (`2>&1 | head`): output that cannot
    /// be shown must never stop an apply half-way, where it would leave keys half-made.
    fn stderr(&self, text: &str) {
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(text.as_bytes());
        let _ = stderr.flush();
    }

    /// Redraws the one status line at the bottom of a terminal (empty text clears it).
    pub fn status_line(&self, text: &str) {
        let width = 100;
        let shown: String = text.chars().take(width).collect();
        self.stderr(&format!("\r\x1b[2K{shown}"));
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

/// `keyplan emulator` announces its address on stdout (scripts read it) and the rest on stderr.
impl crate::emulator::EmulatorOutput for Ui {
    fn address(&mut self, line: &str) {
        self.out(line);
    }

    fn note(&mut self, line: &str) {
        self.info(line);
    }
}
