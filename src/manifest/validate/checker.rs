//! The validator's state and the checks every manifest section shares: where a span is (its
//! line), reporting a diagnostic there, splitting a table into its known fields, and the typed
//! reads (a string, a boolean, a choice, an array of tables, a UUID) with their type errors.
//!
//! The section modules (`secrets`, `projects`, `keys`) build on this one, and it on none of
//! them.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::manifest::diagnostic::Diagnostic;
use crate::manifest::hides_text;
use crate::manifest::suggest::did_you_mean;
use crate::model::is_uuid;

/// A TOML value with its span in the source.
pub(super) type Value<'i> = Spanned<DeValue<'i>>;

/// The validator's state while it walks one manifest: the text, for positions, and what it
/// has found so far.
pub(super) struct Checker<'a> {
    source: &'a str,
    /// Byte offsets of every newline, so a line number is a binary search, not a scan from
    /// the top (which made validating large manifests quadratic).
    newlines: Vec<usize>,
    /// The manifest's path, for messages and to resolve the paths it holds.
    pub(super) path: &'a Path,
    diagnostics: Vec<Diagnostic>,
    /// What is worth a look but no error ([`Checker::warn`]).
    warnings: Vec<Diagnostic>,
    /// Every key id seen so far, with the line it was declared on: ids are unique across the
    /// whole organisation, so across the whole manifest too.
    pub(super) key_ids: BTreeMap<String, usize>,
    /// The top level's `allow_unknown_roles = true`: roles outside the six are sent as declared.
    pub(super) allow_unknown_roles: bool,
    /// The `[stores.NAME]` names declared, for checking `secrets` lists.
    pub(super) store_names: Vec<String>,
    /// The `secrets` of the keys of the project being read.
    pub(super) key_routes: super::routes::KeyRoutes,
    /// Every `secrets` route read so far.
    pub(super) routes: Vec<crate::desired::SecretRoute>,
    /// Whether some key may use the default store (see `Routing::default_used`).
    pub(super) default_used: bool,
    /// The named stores and routes, once the document is read.
    pub(super) routing: crate::desired::Routing,
    /// The `[[policy]]` rules, read before the projects so their keys are judged as read.
    pub(super) policies: Vec<crate::desired::PolicyRule>,
    /// The `[defaults]` table, read before the projects and keys that fall back to it.
    pub(super) defaults: super::defaults::Defaults,
    /// The `rotation_overlap` of the `[[project]]` being read, for its keys that set none.
    pub(super) project_overlap: Option<crate::desired::RotateAfter>,
}

/// A table's known fields, looked up by name (unknown ones were reported on the way in).
pub(super) struct Fields<'t, 'i> {
    pub(super) entries: Vec<(&'static str, Range<usize>, &'t Value<'i>)>,
    /// Known fields suggested for misspelt ones: their absence is already explained.
    suggested: Vec<&'static str>,
}

impl<'t, 'i> Fields<'t, 'i> {
    pub(super) fn get(&self, name: &str) -> Option<&'t Value<'i>> {
        self.entries
            .iter()
            .find(|(field, _, _)| *field == name)
            .map(|(_, _, value)| *value)
    }

    /// Whether a missing `name` should be reported (not when a misspelling of it was).
    pub(super) fn missing(&self, name: &str) -> bool {
        self.get(name).is_none() && !self.suggested.contains(&name)
    }

    pub(super) fn key_span(&self, name: &str) -> Option<Range<usize>> {
        self.entries
            .iter()
            .find(|(field, _, _)| *field == name)
            .map(|(_, span, _)| span.clone())
    }
}

impl<'a> Checker<'a> {
    pub(super) fn new(source: &'a str, path: &'a Path) -> Self {
        Checker {
            source,
            newlines: source
                .bytes()
                .enumerate()
                .filter_map(|(offset, byte)| (byte == b'\n').then_some(offset))
                .collect(),
            path,
            diagnostics: Vec::new(),
            warnings: Vec::new(),
            key_ids: BTreeMap::new(),
            allow_unknown_roles: false,
            store_names: Vec::new(),
            key_routes: super::routes::KeyRoutes::default(),
            routes: Vec::new(),
            default_used: false,
            routing: crate::desired::Routing::default(),
            policies: Vec::new(),
            defaults: super::defaults::Defaults::default(),
            project_overlap: None,
        }
    }

    /// `value` and the warnings when no error was reported, else every diagnostic (the
    /// warnings among them).
    pub(super) fn finish<T>(mut self, value: T) -> Result<(T, Vec<Diagnostic>), Vec<Diagnostic>> {
        if self.diagnostics.is_empty() {
            Ok((value, self.warnings))
        } else {
            self.diagnostics.append(&mut self.warnings);
            Err(self.diagnostics)
        }
    }
}

impl Checker<'_> {
    pub(super) fn at(&self, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        let line = self.line_of(span.start);
        Diagnostic::on_line(self.source, self.path, span, line, message)
    }

    pub(super) fn report(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// How many errors were reported so far (to tell whether a section added any).
    pub(super) fn error_count(&self) -> usize {
        self.diagnostics.len()
    }

    /// The source text of `range`, if it is one.
    pub(super) fn source_text(&self, range: Range<usize>) -> Option<&str> {
        self.source.get(range)
    }

    /// A declared name's characters: a control character or a bidirectional control is an
    /// error (a name must show as what it is in a log or on a terminal); letters of several
    /// scripts (a Cyrillic "е" in a Latin name) are a warning. `false` after an error.
    pub(super) fn name_chars(&mut self, what: &str, name: &Spanned<String>) -> bool {
        let text = name.get_ref();
        if let Some(bad) = text.chars().find(|&c| hides_text(c)) {
            let kind = if bad.is_control() {
                "a control character"
            } else {
                "a bidirectional control"
            };
            let diagnostic = self
                .at(
                    name.span(),
                    format!(
                        "{what} {} contains {kind} (U+{:04X})",
                        quote(text),
                        u32::from(bad)
                    ),
                )
                .with_hint(
                    "names are printed in logs and on terminals: remove control characters and \
                     bidirectional overrides",
                );
            self.report(diagnostic);
            return false;
        }
        if let Some((usual, odd, script)) = mixed_scripts(text) {
            let diagnostic = self
                .at(
                    name.span(),
                    format!(
                        "{what} {} mixes {usual} and {script} letters: {} (U+{:04X}) is {script}",
                        quote(text),
                        quote(&odd.to_string()),
                        u32::from(odd)
                    ),
                )
                .with_hint(
                    "a letter of another script can look the same and still make another name; \
                     retype the name if this was not meant",
                );
            self.warn(diagnostic);
        }
        true
    }

    /// Reports something worth a look that leaves the manifest valid.
    pub(super) fn warn(&mut self, diagnostic: Diagnostic) {
        self.warnings.push(diagnostic.as_warning());
    }

    pub(super) fn line_of(&self, offset: usize) -> usize {
        let offset = offset.min(self.source.len());
        self.newlines.partition_point(|&newline| newline < offset) + 1
    }

    /// Splits a table into its known fields, reporting each unknown one.
    pub(super) fn fields<'t, 'i>(
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

    pub(super) fn type_error(
        &mut self,
        field: &str,
        expected: &str,
        value: &Value<'_>,
        hint: Option<String>,
    ) {
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

    pub(super) fn string(&mut self, field: &str, value: &Value<'_>) -> Option<Spanned<String>> {
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

    pub(super) fn bool(&mut self, field: &str, value: &Value<'_>) -> Option<bool> {
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

    pub(super) fn string_array(
        &mut self,
        field: &str,
        value: &Value<'_>,
    ) -> Option<Vec<Spanned<String>>> {
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
    pub(super) fn choice(
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
    pub(super) fn tables<'t, 'i>(
        &mut self,
        field: &str,
        value: &'t Value<'i>,
    ) -> Vec<&'t Value<'i>> {
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

    pub(super) fn uuid(
        &mut self,
        field: &str,
        what: &str,
        value: &Value<'_>,
    ) -> Option<Spanned<String>> {
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

/// A user's string for a message: in quotes, control characters escaped.
pub(super) fn quote(s: &str) -> String {
    format!("{s:?}")
}

/// The script of a letter, for the scripts whose letters look alike; `None` for the rest.
fn script(c: char) -> Option<&'static str> {
    if !c.is_alphabetic() {
        return None;
    }
    match c {
        'a'..='z' | 'A'..='Z' | '\u{00C0}'..='\u{024F}' | '\u{1E00}'..='\u{1EFF}' => Some("Latin"),
        '\u{0370}'..='\u{03FF}' | '\u{1F00}'..='\u{1FFF}' => Some("Greek"),
        '\u{0400}'..='\u{052F}' => Some("Cyrillic"),
        '\u{0530}'..='\u{058F}' => Some("Armenian"),
        _ => None,
    }
}

/// When `text` has letters of more than one look-alike script: the script most of its letters
/// are in, the first letter of another one, and that letter's script.
fn mixed_scripts(text: &str) -> Option<(&'static str, char, &'static str)> {
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for script in text.chars().filter_map(script) {
        *counts.entry(script).or_default() += 1;
    }
    if counts.len() < 2 {
        return None;
    }
    let usual = counts
        .iter()
        .max_by_key(|(_, count)| **count)
        .map(|(script, _)| *script)?;
    text.chars().find_map(|c| {
        script(c)
            .filter(|s| *s != usual)
            .map(|other| (usual, c, other))
    })
}
