//! Validation: a parsed TOML tree (every key and value with its span) into a [`Desired`], or
//! every error in it at once.
//!
//! The tree comes from `toml`'s span-preserving parser, so each check can point at the exact
//! key or value at fault. Checks never stop at the first error: a bad field is reported and
//! skipped, and the cross-field checks (duplicates, conflicts) run on whatever was valid.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::diagnostic::Diagnostic;
use super::duration::parse_duration;
use super::suggest::did_you_mean;
use crate::desired::{
    Desired, DesiredKey, DesiredProject, FileFormat, KeyGlob, ProjectSelector, RoleChange,
    SecretsConfig, UnmanagedPolicy,
};
use crate::model::{KeyId, MAX_KEY_NAME_CHARS, ProjectId, Role, RoleSet, is_uuid};

type Value<'i> = Spanned<DeValue<'i>>;

pub(crate) const ROOT_FIELDS: &[&str] = &["secrets", "project"];
pub(crate) const SECRETS_FIELDS: &[&str] =
    &["store", "service", "entry", "path", "format", "command"];
pub(crate) const PROJECT_FIELDS: &[&str] = &["name", "id", "unmanaged", "ignore", "key"];
pub(crate) const KEY_FIELDS: &[&str] = &[
    "name",
    "roles",
    "previous_names",
    "id",
    "protected",
    "role_change",
    "rotate_after",
];
pub(crate) const STORES: &[&str] = &["keyring", "file", "command"];
pub(crate) const PLACEHOLDERS: &[&str] = &["project", "project_id", "key"];

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

/// Checks the document and builds the desired state; `Err` holds every problem found.
pub(crate) fn check(
    source: &str,
    path: &Path,
    root: &DeTable<'_>,
) -> Result<Desired, Vec<Diagnostic>> {
    let mut checker = Checker {
        source,
        newlines: source
            .bytes()
            .enumerate()
            .filter_map(|(offset, byte)| (byte == b'\n').then_some(offset))
            .collect(),
        path,
        diagnostics: Vec::new(),
        key_ids: BTreeMap::new(),
    };
    let desired = checker.document(root);
    if checker.diagnostics.is_empty() {
        Ok(desired)
    } else {
        Err(checker.diagnostics)
    }
}

struct Checker<'a> {
    source: &'a str,
    /// Byte offsets of every newline, so a line number is a binary search, not a scan from
    /// the top (which made validating large manifests quadratic).
    newlines: Vec<usize>,
    path: &'a Path,
    diagnostics: Vec<Diagnostic>,
    /// Every key id seen so far, with the line it was declared on: ids are unique across the
    /// whole organisation, so across the whole manifest too.
    key_ids: BTreeMap<String, usize>,
}

/// A table's known fields, looked up by name (unknown ones were reported on the way in).
struct Fields<'t, 'i> {
    entries: Vec<(&'static str, Range<usize>, &'t Value<'i>)>,
    /// Known fields suggested for misspelt ones: their absence is already explained.
    suggested: Vec<&'static str>,
}

impl<'t, 'i> Fields<'t, 'i> {
    fn get(&self, name: &str) -> Option<&'t Value<'i>> {
        self.entries
            .iter()
            .find(|(field, _, _)| *field == name)
            .map(|(_, _, value)| *value)
    }

    /// Whether a missing `name` should be reported (not when a misspelling of it was).
    fn missing(&self, name: &str) -> bool {
        self.get(name).is_none() && !self.suggested.contains(&name)
    }

    fn key_span(&self, name: &str) -> Option<Range<usize>> {
        self.entries
            .iter()
            .find(|(field, _, _)| *field == name)
            .map(|(_, span, _)| span.clone())
    }
}

/// A declared key, kept with its positions for the checks across keys.
struct SeenKey {
    name: Option<Spanned<String>>,
    id: Option<String>,
    previous_names: Vec<Spanned<String>>,
}

impl Checker<'_> {
    fn at(&self, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        let line = self.line_of(span.start);
        Diagnostic::on_line(self.source, self.path, span, line, message)
    }

    fn report(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    fn line_of(&self, offset: usize) -> usize {
        let offset = offset.min(self.source.len());
        self.newlines.partition_point(|&newline| newline < offset) + 1
    }

    /// Splits a table into its known fields, reporting each unknown one.
    fn fields<'t, 'i>(
        &mut self,
        table: &'t DeTable<'i>,
        known: &'static [&'static str],
        context: &str,
    ) -> Fields<'t, 'i> {
        let mut entries = Vec::new();
        let mut suggested = Vec::new();
        for (key, value) in table {
            let name: &str = key.get_ref();
            if let Some(field) = known.iter().find(|field| **field == name) {
                entries.push((*field, key.span(), value));
                continue;
            }
            let kind = match value.get_ref() {
                DeValue::Table(_) => "table",
                DeValue::Array(items)
                    if items
                        .iter()
                        .all(|i| matches!(i.get_ref(), DeValue::Table(_)))
                        && !items.is_empty() =>
                {
                    "table"
                }
                _ => "field",
            };
            let mut diagnostic =
                self.at(key.span(), format!("unknown {kind} `{name}` in {context}"));
            diagnostic = match did_you_mean(name, known.iter().copied()) {
                Some(suggestion) => {
                    suggested.push(suggestion);
                    diagnostic.with_hint(format!("did you mean `{suggestion}`?"))
                }
                None => diagnostic.with_hint(format!("expected one of: {}", known.join(", "))),
            };
            self.report(diagnostic);
        }
        Fields { entries, suggested }
    }

    fn type_error(&mut self, field: &str, expected: &str, value: &Value<'_>, hint: Option<String>) {
        let found = article(value.get_ref());
        let mut diagnostic = self.at(
            value.span(),
            format!("`{field}` must be {expected}, found {found}"),
        );
        if let Some(hint) = hint {
            diagnostic = diagnostic.with_hint(hint);
        }
        self.report(diagnostic);
    }

    fn string(&mut self, field: &str, value: &Value<'_>) -> Option<Spanned<String>> {
        if let DeValue::String(s) = value.get_ref() {
            Some(Spanned::new(value.span(), s.to_string()))
        } else {
            let hint = match value.get_ref() {
                DeValue::Array(items) if items.len() == 1 => {
                    Some(format!("`{field}` takes one value: drop the brackets"))
                }
                DeValue::Integer(n) if field == "rotate_after" => Some(format!(
                    "give a unit: {field} = \"{}d\" for days",
                    n.as_str()
                )),
                DeValue::Integer(_) | DeValue::Float(_) | DeValue::Boolean(_) => {
                    Some(format!("put the value in quotes: {field} = \"...\""))
                }
                _ => None,
            };
            self.type_error(field, "a string", value, hint);
            None
        }
    }

    fn bool(&mut self, field: &str, value: &Value<'_>) -> Option<bool> {
        if let DeValue::Boolean(b) = value.get_ref() {
            Some(*b)
        } else {
            let hint = match value.get_ref() {
                DeValue::String(s) if matches!(&**s, "true" | "false") => {
                    Some(format!("drop the quotes: {field} = {s}"))
                }
                _ => None,
            };
            self.type_error(field, "true or false", value, hint);
            None
        }
    }

    fn string_array(&mut self, field: &str, value: &Value<'_>) -> Option<Vec<Spanned<String>>> {
        let DeValue::Array(items) = value.get_ref() else {
            let hint = match value.get_ref() {
                DeValue::String(s) => Some(format!("write a list: {field} = [{}]", quote(s))),
                _ => None,
            };
            self.type_error(field, "an array of strings", value, hint);
            return None;
        };
        let mut strings = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items {
            if let DeValue::String(s) = item.get_ref() {
                strings.push(Spanned::new(item.span(), s.to_string()));
            } else {
                let found = article(item.get_ref());
                let diagnostic = self.at(
                    item.span(),
                    format!("`{field}` must hold only strings, found {found}"),
                );
                self.report(diagnostic);
                ok = false;
            }
        }
        ok.then_some(strings)
    }

    /// One of a fixed set of string values.
    fn choice(
        &mut self,
        field: &str,
        value: &Value<'_>,
        choices: &[&'static str],
    ) -> Option<&'static str> {
        let text = self.string(field, value)?;
        if let Some(choice) = choices.iter().find(|c| **c == text.get_ref()) {
            return Some(*choice);
        }
        let expected = choices
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let hint = match did_you_mean(text.get_ref(), choices.iter().copied()) {
            Some(suggestion) => {
                format!("did you mean \"{suggestion}\"? (expected one of: {expected})")
            }
            None => format!("expected one of: {expected}"),
        };
        let diagnostic = self
            .at(
                text.span(),
                format!("unknown value {} for `{field}`", quote(text.get_ref())),
            )
            .with_hint(hint);
        self.report(diagnostic);
        None
    }

    /// An array of tables (`[[field]]`), or an inline array of inline tables.
    fn tables<'t, 'i>(&mut self, field: &str, value: &'t Value<'i>) -> Vec<&'t Value<'i>> {
        let DeValue::Array(items) = value.get_ref() else {
            let hint = if matches!(value.get_ref(), DeValue::Table(_)) {
                format!("write [[{field}]] with double brackets: there can be several")
            } else {
                format!("declare each entry under a [[{field}]] header")
            };
            let found = article(value.get_ref());
            let diagnostic = self
                .at(
                    value.span(),
                    format!("`{field}` must be an array of tables, found {found}"),
                )
                .with_hint(hint);
            self.report(diagnostic);
            return Vec::new();
        };
        let mut tables = Vec::new();
        for item in items {
            if matches!(item.get_ref(), DeValue::Table(_)) {
                tables.push(item);
            } else {
                let found = article(item.get_ref());
                let diagnostic = self.at(
                    item.span(),
                    format!("each entry of `{field}` must be a table, found {found}"),
                );
                self.report(diagnostic);
            }
        }
        tables
    }

    fn document(&mut self, root: &DeTable<'_>) -> Desired {
        let fields = self.fields(root, ROOT_FIELDS, "the manifest");
        let misspelt = fields.entries.len() < root.len();
        let secrets = fields.get("secrets").and_then(|value| self.secrets(value));
        let mut projects = Vec::new();
        match fields.get("project") {
            Some(value) => {
                let tables = self.tables("project", value);
                let mut seen: Vec<(ProjectSelector, usize)> = Vec::new();
                for table in tables {
                    let Some((project, selector_span)) = self.project(table) else {
                        continue;
                    };
                    if let Some((_, line)) = seen.iter().find(|(s, _)| *s == project.selector) {
                        let diagnostic = self
                            .at(
                                selector_span.clone(),
                                format!("{} is declared twice", project.selector),
                            )
                            .with_note(format!("first declared at line {line}"))
                            .with_hint("merge the two [[project]] tables into one");
                        self.report(diagnostic);
                    } else {
                        let line = self.line_of(selector_span.start);
                        seen.push((project.selector.clone(), line));
                    }
                    projects.push(project);
                }
            }
            None if !misspelt => {
                // Only when nothing else is wrong: a misspelt `[[projects]]` already explains it.
                let diagnostic = self
                    .at(
                        0..0,
                        "the manifest declares no projects, so it would manage nothing",
                    )
                    .with_hint(
                        "add a [[project]] table with name = \"...\" or id = \"...\"; \
                         `keyplan import` writes one from the live keys",
                    );
                self.report(diagnostic);
            }
            None => {}
        }
        Desired { projects, secrets }
    }

    fn secrets(&mut self, value: &Value<'_>) -> Option<SecretsConfig> {
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
                let path = fields
                    .get("path")
                    .and_then(|value| self.non_empty("path", value));
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

    /// One `[[project]]`, and the span of what selects it (for duplicate-project errors).
    fn project(&mut self, value: &Value<'_>) -> Option<(DesiredProject, Range<usize>)> {
        let DeValue::Table(table) = value.get_ref() else {
            return None;
        };
        let header = value.span();
        let fields = self.fields(table, PROJECT_FIELDS, "[[project]]");

        let name = fields.get("name").and_then(|v| self.string("name", v));
        let name = name.filter(|name| {
            if name.get_ref().is_empty() {
                let diagnostic = self.at(name.span(), "project name is empty");
                self.report(diagnostic);
                false
            } else {
                true
            }
        });
        let id = fields
            .get("id")
            .and_then(|v| self.uuid("id", "project id", v));
        let selector = self.selector(&fields, &header, name, id);

        let unmanaged = match fields.get("unmanaged") {
            Some(value) => match self.choice("unmanaged", value, &["keep", "delete"]) {
                Some("delete") => UnmanagedPolicy::Delete,
                _ => UnmanagedPolicy::Keep,
            },
            None => UnmanagedPolicy::Keep,
        };

        let (ignore, ignore_spans) = match fields.get("ignore") {
            Some(value) => self.ignore(value),
            None => (Vec::new(), Vec::new()),
        };

        let mut keys = Vec::new();
        let mut seen = Vec::new();
        if let Some(value) = fields.get("key") {
            for table in self.tables("project.key", value) {
                // A key with errors still takes part in the checks across keys.
                let (key, seen_key) = self.key(table);
                keys.extend(key);
                seen.push(seen_key);
            }
        }
        let project_label = selector
            .as_ref()
            .map_or_else(|| "this project".to_owned(), |(s, _)| s.to_string());
        self.across_keys(&seen, &project_label);
        self.ignored_keys(&seen, &ignore, &ignore_spans);

        let (selector, span) = selector?;
        Some((
            DesiredProject {
                selector,
                unmanaged,
                ignore,
                keys,
            },
            span,
        ))
    }

    /// A declared key (or a previous name) that an `ignore` glob also matches: keyplan cannot
    /// both manage a key and pretend it is not there.
    fn ignored_keys(&mut self, keys: &[SeenKey], globs: &[KeyGlob], spans: &[Range<usize>]) {
        for key in keys {
            let names = key
                .name
                .iter()
                .map(|n| (n, "key"))
                .chain(key.previous_names.iter().map(|n| (n, "previous name")));
            for (name, what) in names {
                let Some((glob, span)) = globs
                    .iter()
                    .zip(spans)
                    .find(|(glob, _)| glob.is_match(name.get_ref()))
                else {
                    continue;
                };
                let line = self.line_of(span.start);
                let diagnostic = self
                    .at(
                        name.span(),
                        format!(
                            "{what} {} is declared but also ignored by {}",
                            quote(name.get_ref()),
                            quote(glob.as_str())
                        ),
                    )
                    .with_note(format!("the glob is at line {line}"))
                    .with_hint(
                        "keyplan cannot both manage and ignore a key: narrow the glob or drop the key",
                    );
                self.report(diagnostic);
            }
        }
    }

    /// Exactly one of `name` and `id`: the selector and the span of its value.
    fn selector(
        &mut self,
        fields: &Fields<'_, '_>,
        header: &Range<usize>,
        name: Option<Spanned<String>>,
        id: Option<Spanned<String>>,
    ) -> Option<(ProjectSelector, Range<usize>)> {
        match (&fields.get("name"), &fields.get("id")) {
            (Some(_), Some(_)) => {
                let later = fields
                    .key_span("name")
                    .into_iter()
                    .chain(fields.key_span("id"))
                    .max_by_key(|span| span.start)
                    .unwrap_or(header.clone());
                let diagnostic = self
                    .at(later, "project has both `name` and `id`")
                    .with_hint(
                        "keep exactly one: `id` names one project for certain, `name` must match \
                         exactly one project in the organisation",
                    );
                self.report(diagnostic);
                None
            }
            (None, None) if fields.missing("name") && fields.missing("id") => {
                let diagnostic = self
                    .at(header.clone(), "project has neither `name` nor `id`")
                    .with_hint("add name = \"<project name>\" or id = \"<project id>\"");
                self.report(diagnostic);
                None
            }
            _ => match (name, id) {
                (Some(name), _) => {
                    Some((ProjectSelector::Name(name.get_ref().clone()), name.span()))
                }
                (_, Some(id)) => Some((
                    ProjectSelector::Id(ProjectId(id.get_ref().clone())),
                    id.span(),
                )),
                _ => None,
            },
        }
    }

    /// The `ignore` globs, compiled, with their spans.
    fn ignore(&mut self, value: &Value<'_>) -> (Vec<KeyGlob>, Vec<Range<usize>>) {
        let mut globs = Vec::new();
        let mut spans = Vec::new();
        for pattern in self.string_array("ignore", value).unwrap_or_default() {
            match KeyGlob::new(pattern.get_ref()) {
                Ok(glob) => {
                    globs.push(glob);
                    spans.push(pattern.span());
                }
                Err(error) => {
                    let diagnostic = self
                        .at(
                            pattern.span(),
                            format!(
                                "invalid glob {}: {}",
                                quote(pattern.get_ref()),
                                error.kind()
                            ),
                        )
                        .with_hint("globs use * (any text), ? (one character), [abc] and {a,b}");
                    self.report(diagnostic);
                }
            }
        }
        (globs, spans)
    }

    fn uuid(&mut self, field: &str, what: &str, value: &Value<'_>) -> Option<Spanned<String>> {
        let text = self.string(field, value)?;
        if is_uuid(text.get_ref()) {
            // The API issues lower-case ids and they are compared as text.
            let lower = text.get_ref().to_ascii_lowercase();
            Some(Spanned::new(text.span(), lower))
        } else {
            let diagnostic = self
                .at(
                    text.span(),
                    format!("malformed {what} {}", quote(text.get_ref())),
                )
                .with_hint(format!(
                    "a {what} is a UUID like \"8f14e45f-ceea-4a67-9f5e-3b8c2d1a0b9c\"; \
                     `keyplan import` prints the live ones"
                ));
            self.report(diagnostic);
            None
        }
    }

    fn key_name(&mut self, what: &str, name: &Spanned<String>) -> bool {
        let chars = name.get_ref().chars().count();
        if (1..=MAX_KEY_NAME_CHARS).contains(&chars) {
            return true;
        }
        let message = if chars == 0 {
            format!("{what} is empty")
        } else {
            format!("{what} is {chars} characters long")
        };
        let diagnostic = self.at(name.span(), message).with_hint(format!(
            "key names are 1 to {MAX_KEY_NAME_CHARS} characters"
        ));
        self.report(diagnostic);
        false
    }

    /// One `[[project.key]]`: the key if it is valid, and what the checks across keys need.
    fn key(&mut self, value: &Value<'_>) -> (Option<DesiredKey>, SeenKey) {
        let DeValue::Table(table) = value.get_ref() else {
            let seen = SeenKey {
                name: None,
                id: None,
                previous_names: Vec::new(),
            };
            return (None, seen);
        };
        let header = value.span();
        let fields = self.fields(table, KEY_FIELDS, "[[project.key]]");

        let name = match fields.get("name") {
            Some(value) => self
                .string("name", value)
                .filter(|name| self.key_name("key name", name)),
            None if !fields.missing("name") => None,
            None => {
                let diagnostic = self
                    .at(header.clone(), "key has no `name`")
                    .with_hint("add name = \"...\" (1 to 80 characters)");
                self.report(diagnostic);
                None
            }
        };
        let label = name.as_ref().map_or_else(
            || "key".to_owned(),
            |name| format!("key {}", quote(name.get_ref())),
        );

        let roles = match fields.get("roles") {
            Some(value) => self.roles(value),
            None if !fields.missing("roles") => None,
            None => {
                let diagnostic = self
                    .at(header.clone(), format!("{label} has no `roles`"))
                    .with_hint(format!(
                        "add roles = [...] with one or more of: {}",
                        role_list()
                    ));
                self.report(diagnostic);
                None
            }
        };

        let previous_names = match fields.get("previous_names") {
            Some(value) => self.previous_names(value, name.as_ref(), &label),
            None => Vec::new(),
        };

        let id = fields.get("id").and_then(|v| self.key_id(v));

        let protected = fields
            .get("protected")
            .and_then(|v| self.bool("protected", v))
            .unwrap_or(false);
        let role_change = match fields.get("role_change") {
            Some(value) => match self.choice("role_change", value, &["update", "replace"]) {
                Some("replace") => RoleChange::Replace,
                _ => RoleChange::Update,
            },
            None => RoleChange::Update,
        };
        let rotate_after = fields
            .get("rotate_after")
            .and_then(|value| self.rotate_after(value));
        if protected
            && rotate_after.is_some()
            && let Some(span) = fields.key_span("rotate_after")
        {
            let diagnostic = self
                .at(span, format!("{label} is protected but has `rotate_after`"))
                .with_hint(
                    "rotation replaces the key, which protection forbids: drop one of the two",
                );
            self.report(diagnostic);
        }

        let seen = SeenKey {
            name: name.clone(),
            id: id.as_ref().map(|id| id.get_ref().clone()),
            previous_names: previous_names.clone(),
        };
        let key = match (name, roles) {
            (Some(name), Some(roles)) => Some(DesiredKey {
                name: name.into_inner(),
                roles,
                previous_names: previous_names
                    .into_iter()
                    .map(Spanned::into_inner)
                    .collect(),
                id: id.map(|id| KeyId(id.into_inner())),
                protected,
                role_change,
                rotate_after,
            }),
            _ => None,
        };
        (key, seen)
    }

    /// A key's id: a UUID, declared once in the whole manifest.
    fn key_id(&mut self, value: &Value<'_>) -> Option<Spanned<String>> {
        let id = self.uuid("id", "key id", value)?;
        let line = self.line_of(id.span().start);
        if let Some(first) = self.key_ids.get(id.get_ref()).copied() {
            let diagnostic = self
                .at(
                    id.span(),
                    format!("duplicate key id {}", quote(id.get_ref())),
                )
                .with_note(format!("first declared at line {first}"))
                .with_hint("a live key can be bound by one declaration only");
            self.report(diagnostic);
        } else {
            self.key_ids.insert(id.get_ref().clone(), line);
        }
        Some(id)
    }

    /// A key's previous names: valid, not its own name, each once.
    fn previous_names(
        &mut self,
        value: &Value<'_>,
        name: Option<&Spanned<String>>,
        label: &str,
    ) -> Vec<Spanned<String>> {
        let mut previous_names: Vec<Spanned<String>> = Vec::new();
        for previous in self
            .string_array("previous_names", value)
            .unwrap_or_default()
        {
            if !self.key_name("previous name", &previous) {
                continue;
            }
            if name.is_some_and(|name| name.get_ref() == previous.get_ref()) {
                let diagnostic = self
                    .at(
                        previous.span(),
                        format!("{label} lists its own name as a previous name"),
                    )
                    .with_hint("remove it: previous_names are the names the key had before");
                self.report(diagnostic);
                continue;
            }
            // Repetition carries no meaning; keep the first.
            if !previous_names
                .iter()
                .any(|p| p.get_ref() == previous.get_ref())
            {
                previous_names.push(previous);
            }
        }
        previous_names
    }

    fn rotate_after(&mut self, value: &Value<'_>) -> Option<jiff::SignedDuration> {
        let text = self.string("rotate_after", value)?;
        match parse_duration(text.get_ref()) {
            Ok(duration) => Some(duration),
            Err((message, hint)) => {
                let diagnostic = self.at(text.span(), message).with_hint(hint);
                self.report(diagnostic);
                None
            }
        }
    }

    fn roles(&mut self, value: &Value<'_>) -> Option<RoleSet> {
        let names = self.string_array("roles", value)?;
        if names.is_empty() {
            let diagnostic = self
                .at(value.span(), "`roles` is empty")
                .with_hint(format!("a key needs at least one of: {}", role_list()));
            self.report(diagnostic);
            return None;
        }
        let mut roles = RoleSet::new();
        let mut ok = true;
        for name in names {
            if let Ok(role) = name.get_ref().parse::<Role>() {
                roles.insert(role);
                continue;
            }
            let hint = match did_you_mean(name.get_ref(), Role::ALL.iter().map(|r| r.as_str())) {
                Some(role) => format!("did you mean \"{role}\"?"),
                None => format!("roles are: {}", role_list()),
            };
            let diagnostic = self
                .at(
                    name.span(),
                    format!("unknown role {}", quote(name.get_ref())),
                )
                .with_hint(hint);
            self.report(diagnostic);
            ok = false;
        }
        ok.then_some(roles)
    }

    /// The checks across a project's keys: each name binds one live key, unambiguously.
    fn across_keys(&mut self, keys: &[SeenKey], project: &str) {
        // Names: unique, unless every key sharing the name is bound by id (as `import` writes
        // for duplicates it finds live).
        let mut by_name: BTreeMap<&str, Vec<&SeenKey>> = BTreeMap::new();
        for key in keys {
            if let Some(name) = &key.name {
                by_name.entry(name.get_ref()).or_default().push(key);
            }
        }
        for (name, group) in &by_name {
            if group.len() < 2 || group.iter().all(|key| key.id.is_some()) {
                continue;
            }
            let Some(first) = group[0].name.as_ref().map(|n| self.line_of(n.span().start)) else {
                continue;
            };
            for key in &group[1..] {
                let Some(span) = key.name.as_ref().map(Spanned::span) else {
                    continue;
                };
                let diagnostic = self
                    .at(span, format!("duplicate key name {} in {project}", quote(name)))
                    .with_note(format!("first declared at line {first}"))
                    .with_hint(
                        "rename one, or give each an `id = \"...\"` to bind them to distinct live keys",
                    );
                self.report(diagnostic);
            }
        }
        // Previous names: not a current name, and claimed by one key only.
        let mut claimed: BTreeMap<&str, (&str, usize)> = BTreeMap::new();
        for key in keys {
            let owner = key.name.as_ref().map_or("", |n| n.get_ref().as_str());
            for previous in &key.previous_names {
                if let Some(other) = by_name.get(previous.get_ref().as_str()) {
                    let line = other[0]
                        .name
                        .as_ref()
                        .map_or(0, |n| self.line_of(n.span().start));
                    let diagnostic = self
                        .at(
                            previous.span(),
                            format!(
                                "previous name {} is also the name of a declared key",
                                quote(previous.get_ref())
                            ),
                        )
                        .with_note(format!(
                            "key {} is declared at line {line}",
                            quote(previous.get_ref())
                        ))
                        .with_hint(
                            "a live key under that name would match both: drop it from \
                             previous_names once the rename is applied, or rename the other key",
                        );
                    self.report(diagnostic);
                    continue;
                }
                let line = self.line_of(previous.span().start);
                match claimed.get(previous.get_ref().as_str()) {
                    Some((first_owner, first_line)) => {
                        let diagnostic = self
                            .at(
                                previous.span(),
                                format!(
                                    "previous name {} is claimed by two keys",
                                    quote(previous.get_ref())
                                ),
                            )
                            .with_note(format!(
                                "key {} lists it at line {first_line}",
                                quote(first_owner)
                            ))
                            .with_hint(
                                "a live key under that name can be renamed to one of them only",
                            );
                        self.report(diagnostic);
                    }
                    None => {
                        claimed.insert(previous.get_ref(), (owner, line));
                    }
                }
            }
        }
    }
}

/// "a string", "an array", ...: the TOML type of a value, for type errors.
fn article(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

fn role_list() -> String {
    Role::ALL.map(Role::as_str).join(", ")
}

/// A user's string for a message: in quotes, control characters escaped.
fn quote(s: &str) -> String {
    format!("{s:?}")
}
