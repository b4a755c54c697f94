//! The `[secrets]` table: which store keeps new keys' secrets, and that store's settings
//! (entry templates and their placeholders, the file's path, the command to run).

use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::DeValue;

use super::checker::{Checker, Value};
use crate::desired::{FileFormat, SecretsConfig};
use crate::manifest::suggest::did_you_mean;

pub(crate) const SECRETS_FIELDS: &[&str] =
    &["store", "service", "entry", "path", "format", "command"];
pub(crate) const STORES: &[&str] = &["keyring", "file", "command"];
const PLACEHOLDERS: &[&str] = &["project", "project_id", "key"];

/// The fields each store accepts besides `store` itself.
fn store_fields(store: &str) -> &'static [&'static str] {
    match store {
        "keyring" => &["service", "entry"],
        "file" => &["path", "format"],
        "command" => &["command"],
        _ => &[],
    }
}

/// Which store a `[secrets]` field belongs to.
fn field_store(field: &str) -> &'static str {
    match field {
        "service" | "entry" => "keyring",
        "path" | "format" => "file",
        _ => "command",
    }
}

impl Checker<'_> {
    pub(super) fn secrets(&mut self, value: &Value<'_>) -> Option<SecretsConfig> {
        let DeValue::Table(table) = value.get_ref() else {
            self.type_error(
                "secrets",
                "a table",
                value,
                Some("write it as a [secrets] table".into()),
            );
            return None;
        };
        let header = value.span();
        let fields = self.fields(table, SECRETS_FIELDS, "[secrets]");
        let store = match fields.get("store") {
            Some(value) => self.choice("store", value, STORES)?,
            None => "keyring",
        };
        // Fields of another store are mistakes, not options: say which store they belong to.
        let mut fits = true;
        for (field, span, _) in &fields.entries {
            if *field == "store" || store_fields(store).contains(field) {
                continue;
            }
            let owner = field_store(field);
            let diagnostic = self
                .at(
                    span.clone(),
                    format!("`{field}` does not apply to store \"{store}\""),
                )
                .with_hint(format!(
                    "`{field}` is for store = \"{owner}\"; remove it, or set store = \"{owner}\""
                ));
            self.report(diagnostic);
            fits = false;
        }
        let config = match store {
            "keyring" => {
                let service = match fields.get("service") {
                    Some(value) => self.non_empty("service", value),
                    None => Some(SecretsConfig::DEFAULT_KEYRING_SERVICE.to_owned()),
                };
                let entry = match fields.get("entry") {
                    Some(value) => self.template("entry", value, true),
                    None => Some(SecretsConfig::DEFAULT_KEYRING_ENTRY.to_owned()),
                };
                SecretsConfig::Keyring {
                    service: service?,
                    entry: entry?,
                }
            }
            "file" => {
                let format = match fields.get("format") {
                    Some(value) => match self.choice("format", value, &["json", "dotenv"]) {
                        Some("dotenv") => Some(FileFormat::Dotenv),
                        Some(_) => Some(FileFormat::Json),
                        None => None,
                    },
                    None => Some(FileFormat::Json),
                };
                if fields.missing("path") {
                    let diagnostic = self.at(header, "store \"file\" needs a `path`").with_hint(
                        "add path = \"secrets.json\" (relative to the manifest's directory)",
                    );
                    self.report(diagnostic);
                }
                // `${env:VAR}` in the path is filled in before it is resolved.
                let path = fields
                    .get("path")
                    .and_then(|value| self.string("path", value))
                    .and_then(|text| self.expand_env("store path", text))
                    .and_then(|text| self.filled("path", text));
                SecretsConfig::File {
                    path: self.resolve(&path?),
                    format: format?,
                }
            }
            _ => {
                let Some(value) = fields.get("command") else {
                    if !fields.missing("command") {
                        return None;
                    }
                    let diagnostic = self
                        .at(header, "store \"command\" needs a `command`")
                        .with_hint(
                            "add command = [\"program\", \"arg\", ...]; the secret arrives on its \
                             stdin, and {project}, {project_id} and {key} are filled in",
                        );
                    self.report(diagnostic);
                    return None;
                };
                let command = self.command(value)?;
                SecretsConfig::Command { command }
            }
        };
        fits.then_some(config)
    }

    fn non_empty(&mut self, field: &str, value: &Value<'_>) -> Option<String> {
        let text = self.string(field, value)?;
        self.filled(field, text)
    }

    /// `text`, unless it is empty (an error).
    fn filled(&mut self, field: &str, text: toml::Spanned<String>) -> Option<String> {
        if text.get_ref().is_empty() {
            let diagnostic = self.at(text.span(), format!("`{field}` is empty"));
            self.report(diagnostic);
            return None;
        }
        Some(text.into_inner())
    }

    /// A string with `{placeholder}`s; `needs_key` when every key must get its own value.
    fn template(&mut self, field: &str, value: &Value<'_>, needs_key: bool) -> Option<String> {
        let text = self.non_empty(field, value)?;
        if !self.placeholders(&text, value.span()) {
            return None;
        }
        if needs_key && !text.contains("{key}") {
            let diagnostic = self
                .at(value.span(), format!("`{field}` does not contain {{key}}"))
                .with_hint(format!(
                    "every key needs its own entry, or each new secret overwrites the last; \
                     the default is \"{}\"",
                    SecretsConfig::DEFAULT_KEYRING_ENTRY
                ));
            self.report(diagnostic);
            return None;
        }
        Some(text)
    }

    /// Checks that every `{word}` in `text` is a known placeholder. A misspelt one would
    /// otherwise reach the keyring or the command literally. Braces around anything but a
    /// bare word, and shell-style `${VAR}`, are left alone: commands may well need them.
    fn placeholders(&mut self, text: &str, span: Range<usize>) -> bool {
        let mut ok = true;
        let mut offset = 0;
        while let Some(open) = text[offset..].find('{').map(|i| offset + i) {
            let after = &text[open + 1..];
            let Some(close) = after.find('}') else {
                break;
            };
            offset = open + 1 + close + 1;
            let name = &after[..close];
            let is_word = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            let shell = text[..open].ends_with('$');
            if !is_word || shell || PLACEHOLDERS.contains(&name) {
                continue;
            }
            let hint = match did_you_mean(name, PLACEHOLDERS.iter().copied()) {
                Some(suggestion) => format!("did you mean {{{suggestion}}}?"),
                None => "placeholders are {project}, {project_id} and {key}".to_owned(),
            };
            let diagnostic = self
                .at(span.clone(), format!("unknown placeholder {{{name}}}"))
                .with_hint(hint);
            self.report(diagnostic);
            ok = false;
        }
        ok
    }

    fn command(&mut self, value: &Value<'_>) -> Option<Vec<String>> {
        let parts = self.string_array("command", value)?;
        let Some(program) = parts.first() else {
            let diagnostic = self
                .at(value.span(), "`command` is empty")
                .with_hint("name the program to run first, then its arguments");
            self.report(diagnostic);
            return None;
        };
        if program.get_ref().is_empty() {
            let diagnostic = self.at(program.span(), "the program name in `command` is empty");
            self.report(diagnostic);
            return None;
        }
        let mut ok = true;
        for part in &parts {
            ok &= self.placeholders(part.get_ref(), part.span());
        }
        ok.then(|| parts.into_iter().map(Spanned::into_inner).collect())
    }

    /// A path from the manifest, relative to the manifest's directory.
    fn resolve(&self, path: &str) -> PathBuf {
        let path = Path::new(path);
        if path.is_absolute() {
            return path.to_path_buf();
        }
        match self.path.parent() {
            Some(dir) => dir.join(path),
            None => path.to_path_buf(),
        }
    }
}
