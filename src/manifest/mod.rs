//! The manifest: TOML into a validated `Desired`, with `file:line:column` in every error.
//!
//! [`parse`] reads the text with `toml`'s span-keeping parser (which recovers from syntax errors
//! and reports all of them), then [`validate`] walks the tree and checks every field, collecting
//! every problem instead of stopping at the first. [`json_schema`] describes the same shape for
//! editors, and [`render_manifest`] writes a manifest back from live keys (`keyplan import`).
//! The reference for users is docs/manifest.md.

mod diagnostic;
mod duration;
mod import;
mod schema;
mod schema_stores;
pub(crate) mod suggest;
mod validate;

use sha2::Digest as _;
use std::path::{Path, PathBuf};

pub use diagnostic::{Diagnostic, Diagnostics};
pub use import::render_manifest;
pub use schema::json_schema;

use crate::desired::{Desired, Routing};

/// The manifest file keyplan reads when no `-f/--file` is given.
pub const DEFAULT_PATH: &str = "keyplan.toml";

/// A validated manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub desired: Desired,
    /// The `[stores.NAME]` tables and the `secrets` lists choosing them.
    pub routing: Routing,
    /// The manifest's path as the user gave it, for messages.
    pub path: PathBuf,
    /// SHA-256 of the text that was validated (hex).
    pub sha256: String,
    /// What is worth a look but leaves the manifest valid (a name mixing scripts), in file
    /// order; commands print them on stderr.
    pub warnings: Vec<Diagnostic>,
}

/// A character that changes how text shows instead of showing: a control character (a line
/// break, ESC) or a bidirectional embedding, override or isolate. A declared name holding one
/// is an error; `import` writes each as an escape.
pub(crate) fn hides_text(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Why a manifest could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read manifest {}: {error}{}", path.display(), io_hint(error))]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The file was read but is not a valid manifest: every problem found, in file order.
    #[error("{0}")]
    Invalid(Diagnostics),
}

fn io_hint(error: &std::io::Error) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::NotFound => {
            "\n  = help: pass the manifest with -f PATH, or write one from the live keys with \
             `keyplan import > keyplan.toml`"
        }
        std::io::ErrorKind::PermissionDenied => "\n  = help: check the file's permissions",
        _ => "",
    }
}

/// Reads and validates the manifest at `path`.
pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
    let bytes = std::fs::read(path).map_err(|error| ManifestError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    match String::from_utf8(bytes) {
        Ok(source) => parse(&source, path),
        Err(error) => {
            // Point at the first bad byte, in the text that is valid up to it.
            let valid_up_to = error.utf8_error().valid_up_to();
            let lossy = String::from_utf8_lossy(error.as_bytes());
            let prefix = String::from_utf8_lossy(&error.as_bytes()[..valid_up_to]);
            let at = prefix.len();
            let diagnostic =
                Diagnostic::new(&lossy, path, at..at + 1, "the manifest is not valid UTF-8")
                    .with_hint("TOML files are UTF-8 text; re-save the file as UTF-8");
            Err(ManifestError::Invalid(Diagnostics {
                items: vec![diagnostic],
            }))
        }
    }
}

/// Validates manifest text; `path` is only used in messages and to resolve relative paths
/// (the `[secrets]` file).
pub fn parse(source: &str, path: &Path) -> Result<Manifest, ManifestError> {
    let (root, errors) = toml::de::DeTable::parse_recoverable(source);
    let mut diagnostics = Diagnostics::default();
    if errors.is_empty() {
        match validate::check(source, path, root.get_ref()) {
            Ok(((desired, routing), mut warnings)) => {
                warnings.sort_by_key(|item| (item.span.start, item.span.end));
                return Ok(Manifest {
                    desired,
                    routing,
                    path: path.to_path_buf(),
                    sha256: format!("{:x}", sha2::Sha256::digest(source.as_bytes())),
                    warnings,
                });
            }
            Err(items) => diagnostics.items = items,
        }
    } else {
        // A tree rebuilt around syntax errors would raise confusing follow-on errors (missing
        // fields that are merely unreadable), so its meaning is checked once it parses.
        diagnostics.items = errors
            .iter()
            .map(|error| {
                let span = error.span().unwrap_or(0..0);
                let found = source.get(span.clone()).unwrap_or_default();
                let (message, hint) = syntax_message(error.message(), found);
                let diagnostic = Diagnostic::new(source, path, span, message);
                match hint {
                    Some(hint) => diagnostic.with_hint(hint),
                    None => diagnostic,
                }
            })
            .collect();
    }
    diagnostics.sort();
    Err(ManifestError::Invalid(diagnostics))
}

/// The parser's message as one line, prefixed so it reads as a syntax error, and a hint for
/// the mistakes people make most. `found` is the source text the error points at.
fn syntax_message(message: &str, found: &str) -> (String, Option<&'static str>) {
    let line = message.lines().next().unwrap_or("invalid TOML").trim();
    if line == "duplicate key" && !found.is_empty() && !found.contains('\n') {
        return (
            format!("invalid TOML: duplicate key `{found}`"),
            Some(
                "a key can be set once per table; to declare several projects or keys, \
                 start each with [[project]] or [[project.key]]",
            ),
        );
    }
    let hint = if line.starts_with("string values must be quoted") {
        Some("put text in double quotes, like name = \"search-prod\"")
    } else if line.starts_with("invalid basic string, expected `\"`") {
        Some("close the string with a \" on the same line")
    } else {
        None
    };
    (format!("invalid TOML: {line}"), hint)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests;
