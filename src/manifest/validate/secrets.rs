//! The `[secrets]` table: which store keeps new keys' secrets, and that store's settings
//! (entry templates and their placeholders, the file's path, the command to run).

use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::DeValue;

use std::collections::BTreeMap;

use super::checker::{Checker, Value};
use crate::desired::{CommandConfig, FileFormat, SecretsConfig};
use crate::manifest::suggest::did_you_mean;
use crate::secrets::template::{PLACEHOLDERS, TRANSFORMABLE, TRANSFORMS, placeholders};

/// `{a}, {b} and {c}`.
fn listed(names: &[&str]) -> String {
    let names: Vec<String> = names.iter().map(|n| format!("{{{n}}}")).collect();
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

pub(crate) const SECRETS_FIELDS: &[&str] = &[
    "store",
    "service",
    "entry",
    "path",
    "format",
    "prefix",
    "command",
    "rename_command",
    "delete_command",
    "env",
];
pub(crate) const STORES: &[&str] = &["keyring", "file", "command"];
/// The placeholders an entry name may hold: it is looked up by name, so no `{key_id}`.
const ENTRY_PLACEHOLDERS: &[&str] = &["project", "project_id", "key"];
const COMMAND_PLACEHOLDERS: &[&str] = &["project", "project_id", "key", "key_id"];
const RENAME_PLACEHOLDERS: &[&str] = &["project", "project_id", "key", "key_id", "old_key"];

/// The fields each store accepts besides `store` itself.
fn store_fields(store: &str) -> &'static [&'static str] {
    match store {
        "keyring" => &["service", "entry"],
        "file" => &["path", "format", "prefix"],
        "command" => &["command", "rename_command", "delete_command", "env"],
        _ => &[],
    }
}

/// Which store a `[secrets]` field belongs to.
fn field_store(field: &str) -> &'static str {
    match field {
        "service" | "entry" => "keyring",
        "path" | "format" | "prefix" => "file",
        _ => "command",
    }
}

impl Checker<'_> {
    pub(super) fn secrets(&mut self, value: &Value<'_>) -> Option<SecretsConfig> {
        self.store_table("secrets", "[secrets]", value)
    }

    /// A store's table: `[secrets]` (`field` "secrets") or `[stores.NAME]`.
    pub(super) fn store_table(
        &mut self,
        field: &str,
        table_name: &str,
        value: &Value<'_>,
    ) -> Option<SecretsConfig> {
        let DeValue::Table(table) = value.get_ref() else {
            self.type_error(
                field,
                "a table",
                value,
                Some(format!("write it as a {table_name} table")),
            );
            return None;
        };
        let header = value.span();
        let fields = self.fields(table, SECRETS_FIELDS, table_name);
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
                    Some(value) => self.template("entry", value, true, ENTRY_PLACEHOLDERS),
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
                let prefix = self.dotenv_prefix(&fields, format);
                SecretsConfig::File {
                    path: self.resolve(&path?),
                    format: format?,
                    prefix: prefix?,
                }
            }
            _ => self.command_store(&fields, header)?,
        };
        fits.then_some(config)
    }

    /// A command store's fields: its commands and their environment.
    fn command_store(
        &mut self,
        fields: &super::checker::Fields<'_, '_>,
        header: Range<usize>,
    ) -> Option<SecretsConfig> {
        let Some(value) = fields.get("command") else {
            if !fields.missing("command") {
                return None;
            }
            let diagnostic = self
                .at(header, "store \"command\" needs a `command`")
                .with_hint(
                    "add command = [\"program\", \"arg\", ...]; the secret arrives on its \
                     stdin, and {project}, {project_id}, {key} and {key_id} are filled \
                     in",
                );
            self.report(diagnostic);
            return None;
        };
        let command = self.command("command", value, COMMAND_PLACEHOLDERS);
        let rename_command = fields
            .get("rename_command")
            .map(|v| self.command("rename_command", v, RENAME_PLACEHOLDERS));
        let delete_command = fields
            .get("delete_command")
            .map(|v| self.command("delete_command", v, COMMAND_PLACEHOLDERS));
        let env = fields.get("env").map(|v| self.command_env(v));
        Some(SecretsConfig::Command(CommandConfig {
            command: command?,
            rename_command: rename_command.map_or(Some(None), |c| c.map(Some))?,
            delete_command: delete_command.map_or(Some(None), |c| c.map(Some))?,
            env: env.unwrap_or(Some(BTreeMap::new()))?,
        }))
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
    fn template(
        &mut self,
        field: &str,
        value: &Value<'_>,
        needs_key: bool,
        known: &[&str],
    ) -> Option<String> {
        let text = self.non_empty(field, value)?;
        if !self.placeholders(&text, value.span(), known) {
            return None;
        }
        if needs_key && !placeholders(&text).iter().any(|p| p.name == "key") {
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

    /// Checks that every `{word}` or `{word:transform}` in `text` is a placeholder `known`
    /// here, with a known transform. A misspelt one would otherwise reach the keyring or the
    /// command literally. Braces around anything else, and shell-style `${VAR}`, are left
    /// alone: commands may well need them.
    fn placeholders(&mut self, text: &str, span: Range<usize>, known: &[&str]) -> bool {
        let mut ok = true;
        for found in placeholders(text) {
            let name = found.name;
            let problem = if !known.contains(&name) {
                let hint = if PLACEHOLDERS.contains(&name) {
                    format!(
                        "{{{name}}} has no value here; here they are {}",
                        listed(known)
                    )
                } else if let Some(suggestion) = did_you_mean(name, known.iter().copied()) {
                    format!("did you mean {{{suggestion}}}?")
                } else {
                    format!("placeholders here are {}", listed(known))
                };
                Some((format!("unknown placeholder {{{name}}}"), hint))
            } else if let Some(transform) = found.transform {
                if !TRANSFORMABLE.contains(&name) {
                    Some((
                        format!("{{{name}}} cannot be transformed"),
                        "transforms apply to {project}, {key} and {old_key}".to_owned(),
                    ))
                } else if TRANSFORMS.contains(&transform) {
                    None
                } else {
                    let hint = match did_you_mean(transform, TRANSFORMS.iter().copied()) {
                        Some(suggestion) => format!("did you mean {{{name}:{suggestion}}}?"),
                        None => "transforms are upper_snake, lower_snake and kebab".to_owned(),
                    };
                    Some((
                        format!("unknown transform `{transform}` in {{{name}:{transform}}}"),
                        hint,
                    ))
                }
            } else {
                None
            };
            if let Some((message, hint)) = problem {
                let diagnostic = self.at(span.clone(), message).with_hint(hint);
                self.report(diagnostic);
                ok = false;
            }
        }
        ok
    }

    fn command(&mut self, field: &str, value: &Value<'_>, known: &[&str]) -> Option<Vec<String>> {
        let parts = self.string_array(field, value)?;
        let Some(program) = parts.first() else {
            let diagnostic = self
                .at(value.span(), format!("`{field}` is empty"))
                .with_hint("name the program to run first, then its arguments");
            self.report(diagnostic);
            return None;
        };
        if program.get_ref().is_empty() {
            let diagnostic = self.at(
                program.span(),
                format!("the program name in `{field}` is empty"),
            );
            self.report(diagnostic);
            return None;
        }
        let mut ok = true;
        for part in &parts {
            ok &= self.placeholders(part.get_ref(), part.span(), known);
        }
        ok.then(|| parts.into_iter().map(Spanned::into_inner).collect())
    }

    /// A dotenv file's variable prefix: a valid start of a variable name, `KEYPLAN_` by
    /// default; only for format = "dotenv".
    fn dotenv_prefix(
        &mut self,
        fields: &super::checker::Fields<'_, '_>,
        format: Option<FileFormat>,
    ) -> Option<String> {
        let Some(value) = fields.get("prefix") else {
            return Some(SecretsConfig::DEFAULT_DOTENV_PREFIX.to_owned());
        };
        let prefix = self.string("prefix", value)?;
        let text = prefix.get_ref();
        if format == Some(FileFormat::Json) {
            let diagnostic = self
                .at(
                    prefix.span(),
                    "`prefix` applies to format = \"dotenv\" only",
                )
                .with_hint("remove it, or set format = \"dotenv\"");
            self.report(diagnostic);
            return None;
        }
        let valid = text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            let diagnostic = self
                .at(
                    prefix.span(),
                    format!("`prefix` {text:?} cannot start a variable name"),
                )
                .with_hint(
                    "use letters, digits and _, not starting with a digit, e.g. \"PINECONE_\"",
                );
            self.report(diagnostic);
            return None;
        }
        Some(text.clone())
    }

    /// A command store's `env = { NAME = "value" }`: names as a shell takes them, string
    /// values with the command's placeholders.
    fn command_env(&mut self, value: &Value<'_>) -> Option<BTreeMap<String, String>> {
        let DeValue::Table(table) = value.get_ref() else {
            self.type_error(
                "env",
                "a table",
                value,
                Some("write it as env = { NAME = \"value\" }".into()),
            );
            return None;
        };
        let mut env = BTreeMap::new();
        let mut ok = true;
        for (name, entry) in table {
            let name_text = name.get_ref();
            let valid = name_text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name_text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                let diagnostic = self
                    .at(
                        name.span(),
                        format!("{name_text:?} is not an environment variable name"),
                    )
                    .with_hint("use letters, digits and _, not starting with a digit");
                self.report(diagnostic);
                ok = false;
                continue;
            }
            let Some(text) = self.string(name_text, entry) else {
                ok = false;
                continue;
            };
            ok &= self.placeholders(text.get_ref(), text.span(), COMMAND_PLACEHOLDERS);
            env.insert(name_text.to_string(), text.into_inner());
        }
        ok.then_some(env)
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
