//! Diagnostics: what is wrong with a manifest, where, and how to fix it, rendered like a
//! compiler's errors (message, `--> file:line:column`, the source line with carets, help).
//!
//! A diagnostic carries its own copy of the offending source line, so rendering needs nothing
//! but the diagnostics themselves and never indexes into the source (no panic on any input).

use std::fmt::Write as _;
use std::ops::Range;
use std::path::PathBuf;

/// One error (or warning) in a manifest. Serialisable, for a machine-readable `validate`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// The manifest's display name.
    pub path: PathBuf,
    /// 1-based line of the error's start.
    pub line: usize,
    /// 1-based column of the error's start, in characters.
    pub column: usize,
    /// How many characters the carets underline (at least 1; cut at the end of the line).
    pub width: usize,
    /// What is wrong: a lowercase fragment.
    pub message: String,
    /// What the user can do about it, if anything specific.
    pub hint: Option<String>,
    /// Context, such as where the first of two duplicates was declared.
    pub note: Option<String>,
    /// The text of line `line` (without its line break).
    pub source_line: String,
    /// Byte offsets into the source, for ordering.
    pub span: Range<usize>,
    /// A warning: worth a look, but the manifest is valid.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub warning: bool,
}

impl Diagnostic {
    /// A diagnostic at byte range `span` of `source`. Offsets past the end or inside a
    /// character are clamped, never trusted.
    pub fn new(
        source: &str,
        path: impl Into<PathBuf>,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> Self {
        let line = source[..floor_char_boundary(source, span.start)]
            .matches('\n')
            .count()
            + 1;
        Self::on_line(source, path, span, line, message)
    }

    /// [`Diagnostic::new`] where the caller already knows the (1-based) line of `span.start`:
    /// counting newlines from the top for each of many diagnostics is quadratic.
    pub fn on_line(
        source: &str,
        path: impl Into<PathBuf>,
        span: Range<usize>,
        line: usize,
        message: impl Into<String>,
    ) -> Self {
        let start = floor_char_boundary(source, span.start);
        let end = floor_char_boundary(source, span.end.max(start));
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..]
            .find('\n')
            .map_or(source.len(), |i| start + i);
        let line_text = source[line_start..line_end].trim_end_matches('\r');
        let column = source[line_start..start].chars().count() + 1;
        // Underline up to the span's end or the end of the line, whichever comes first.
        let underline_end = end.min(line_start + line_text.len()).max(start);
        let width = source[start..underline_end].chars().count().max(1);
        Diagnostic {
            path: path.into(),
            line,
            column,
            width,
            message: message.into(),
            hint: None,
            note: None,
            source_line: line_text.to_owned(),
            span: start..end,
            warning: false,
        }
    }

    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    #[must_use]
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// Makes this a warning: shown, but the manifest stays valid.
    #[must_use]
    pub fn as_warning(mut self) -> Self {
        self.warning = true;
        self
    }

    /// Renders this diagnostic the way rustc does.
    pub fn render(&self, color: bool) -> String {
        let style = Style::new(color);
        let gutter = self.line.to_string().len();
        let pad = " ".repeat(gutter);
        let mut out = String::new();
        let (label, paint) = if self.warning {
            ("warning", style.warning)
        } else {
            ("error", style.error)
        };
        let _ = writeln!(
            out,
            "{paint}{label}{}{}: {}{}",
            style.reset, style.bold, self.message, style.reset
        );
        let _ = writeln!(
            out,
            "{pad}{}-->{} {}:{}:{}",
            style.gutter,
            style.reset,
            self.path.display(),
            self.line,
            self.column
        );
        let _ = writeln!(out, "{pad} {}|{}", style.gutter, style.reset);
        // Tabs would misalign the carets; show each as four spaces.
        let (shown, caret_offset, caret_width) =
            expand_tabs(&self.source_line, self.column, self.width);
        let _ = writeln!(
            out,
            "{}{} |{} {}",
            style.gutter,
            self.line,
            style.reset,
            shown.trim_end()
        );
        let _ = writeln!(
            out,
            "{pad} {}|{} {}{}{}{}",
            style.gutter,
            style.reset,
            " ".repeat(caret_offset),
            paint,
            "^".repeat(caret_width),
            style.reset
        );
        if let Some(note) = &self.note {
            let _ = writeln!(
                out,
                "{pad} {}={} {}note{}: {note}",
                style.gutter, style.reset, style.bold, style.reset
            );
        }
        if let Some(hint) = &self.hint {
            let _ = writeln!(
                out,
                "{pad} {}={} {}help{}: {hint}",
                style.gutter, style.reset, style.help, style.reset
            );
        }
        out
    }
}

/// Every error in a manifest, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Renders every diagnostic, a blank line between them, then a one-line summary.
    pub fn render(&self, color: bool) -> String {
        let style = Style::new(color);
        let mut out = String::new();
        for item in &self.items {
            out.push_str(&item.render(color));
            out.push('\n');
        }
        let count = self.items.iter().filter(|item| !item.warning).count();
        let noun = if count == 1 { "error" } else { "errors" };
        let path = self
            .items
            .first()
            .map(|item| item.path.display().to_string())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{}error{}{}: {path} is not a valid manifest ({count} {noun}){}",
            style.error, style.reset, style.bold, style.reset
        );
        out
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Sorts into file order; for one position, keeps the order they were found in.
    pub(crate) fn sort(&mut self) {
        self.items
            .sort_by_key(|item| (item.span.start, item.span.end));
    }
}

impl std::fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.render(false).trim_end())
    }
}

/// ANSI styles, or empty strings when colour is off.
struct Style {
    error: &'static str,
    warning: &'static str,
    bold: &'static str,
    gutter: &'static str,
    help: &'static str,
    reset: &'static str,
}

impl Style {
    fn new(color: bool) -> Self {
        if color {
            Style {
                error: "\x1b[1;31m",
                warning: "\x1b[1;33m",
                bold: "\x1b[1m",
                gutter: "\x1b[1;34m",
                help: "\x1b[1;36m",
                reset: "\x1b[0m",
            }
        } else {
            Style {
                error: "",
                warning: "",
                bold: "",
                gutter: "",
                help: "",
                reset: "",
            }
        }
    }
}

/// The line with tabs as four spaces, and where the carets start and how wide they are.
fn expand_tabs(line: &str, column: usize, width: usize) -> (String, usize, usize) {
    let mut shown = String::with_capacity(line.len());
    let mut offset = 0;
    let mut caret_width = 0;
    for (index, ch) in line.chars().enumerate() {
        let cells = if ch == '\t' { 4 } else { cells(ch) };
        if index + 1 < column {
            offset += cells;
        } else if index + 1 < column + width {
            caret_width += cells;
        }
        if ch == '\t' {
            shown.push_str("    ");
        } else if ch.is_control() {
            // A stray control character would garble the terminal.
            shown.push('\u{fffd}');
        } else {
            shown.push(ch);
        }
    }
    let chars = line.chars().count();
    if column > chars {
        // The error sits at the end of the line (or past it): point just after the text.
        offset += column - 1 - chars.min(column - 1);
    }
    (shown, offset, caret_width.max(1))
}

/// Terminal cells a character takes: 2 for East Asian wide characters and most emoji, 0 for
/// combining marks, else 1. An approximation of Unicode's East Asian Width, enough to keep
/// carets under the right text.
fn cells(ch: char) -> usize {
    match u32::from(ch) {
        0x0300..=0x036F | 0x200B..=0x200F | 0xFE00..=0xFE0F => 0,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1F64F
        | 0x1F900..=0x1F9FF
        | 0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

fn floor_char_boundary(s: &str, index: usize) -> usize {
    let mut index = index.min(s.len());
    while !s.is_char_boundary(index) {
        index -= 1;
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_rustc() {
        let source =
            "[[project]]\nname = \"p\"\n  [[project.key]]\n  roles = [\"DataPlaneEditr\"]\n";
        let start = source.find("\"DataPlaneEditr\"").unwrap_or_default();
        let diagnostic = Diagnostic::new(
            source,
            "keyplan.toml",
            start..start + 16,
            "unknown role \"DataPlaneEditr\"",
        )
        .with_hint("did you mean \"DataPlaneEditor\"?");
        assert_eq!(
            (diagnostic.line, diagnostic.column, diagnostic.width),
            (4, 12, 16)
        );
        assert_eq!(
            diagnostic.render(false),
            "error: unknown role \"DataPlaneEditr\"\n --> keyplan.toml:4:12\n  |\n4 |   roles = [\"DataPlaneEditr\"]\n  |            ^^^^^^^^^^^^^^^^\n  = help: did you mean \"DataPlaneEditor\"?\n"
        );
    }

    #[test]
    fn positions_count_characters_and_survive_bad_offsets() {
        let source = "name = \"é\" x\n";
        let start = source.find('x').unwrap_or_default();
        let diagnostic = Diagnostic::new(source, "m.toml", start..start + 1, "m");
        assert_eq!((diagnostic.line, diagnostic.column), (1, 12));
        // Inside a multi-byte character, and past the end: clamped, no panic.
        let inside = Diagnostic::new(source, "m.toml", 9..10, "m");
        assert_eq!(inside.column, 9);
        let past = Diagnostic::new(source, "m.toml", 500..900, "m");
        assert_eq!((past.line, past.column, past.width), (2, 1, 1));
        assert!(past.render(true).contains("\x1b[1;31merror"));
    }

    #[test]
    fn wide_characters_keep_carets_aligned() {
        let source = "name = \"検索\" x";
        let start = source.find('x').unwrap_or_default();
        let diagnostic = Diagnostic::new(source, "m.toml", start..start + 1, "m");
        assert_eq!(diagnostic.column, 13);
        // Twelve characters before the x, two of them two cells wide.
        let rendered = diagnostic.render(false);
        let expected = format!("  | {}^\n", " ".repeat(14));
        assert!(rendered.contains(&expected), "{rendered}");
    }

    #[test]
    fn tabs_keep_carets_aligned() {
        let source = "\tid = 5";
        let diagnostic = Diagnostic::new(source, "m.toml", 6..7, "m");
        let rendered = diagnostic.render(false);
        assert!(
            rendered.contains("1 |     id = 5\n  |          ^\n"),
            "{rendered}"
        );
    }
}
