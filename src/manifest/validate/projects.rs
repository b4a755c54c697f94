//! One `[[project]]` table: what selects the project (`name` or `id`), its policy for keys
//! the manifest does not declare (`unmanaged`, `ignore`), and its keys, checked together.

use std::ops::Range;

use toml::Spanned;
use toml::de::DeValue;

use super::checker::{Checker, Fields, Value, quote};
use super::keys::SeenKey;
use crate::desired::{DesiredProject, KeyGlob, ProjectSelector, UnmanagedPolicy};
use crate::model::ProjectId;

pub(crate) const PROJECT_FIELDS: &[&str] = &["name", "id", "unmanaged", "ignore", "key"];

impl Checker<'_> {
    /// One `[[project]]`, and the span of what selects it (for duplicate-project errors).
    pub(super) fn project(&mut self, value: &Value<'_>) -> Option<(DesiredProject, Range<usize>)> {
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
                self.name_chars("project name", name)
            }
        });
        let id = fields
            .get("id")
            .and_then(|v| self.uuid("id", "project id", v));
        let selector = self.selector(&fields, &header, name, id);

        let unmanaged = match fields.get("unmanaged") {
            Some(value) => self.unmanaged(value).unwrap_or_default(),
            None => self.defaults.unmanaged.unwrap_or_default(),
        };

        let (ignore, ignore_spans) = match fields.get("ignore") {
            Some(value) => self.ignore(value),
            None => self.defaults.ignore.clone().unwrap_or_default(),
        };

        let mut keys = Vec::new();
        let mut seen = Vec::new();
        let mut key_spans = Vec::new();
        if let Some(value) = fields.get("key") {
            for table in self.tables("project.key", value) {
                // A key with errors still takes part in the checks across keys.
                let (key, seen_key) = self.key(table);
                if let (Some(_), Some(name)) = (&key, &seen_key.name) {
                    key_spans.push(name.span());
                }
                keys.extend(key);
                seen.push(seen_key);
            }
        }
        let judged: Vec<_> = keys.iter().zip(key_spans).collect();
        let project_name = match &selector {
            Some((ProjectSelector::Name(name), _)) => Some(name.as_str()),
            _ => None,
        };
        self.judge_project(project_name, &header, &judged);
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

    pub(super) fn unmanaged(&mut self, value: &Value<'_>) -> Option<UnmanagedPolicy> {
        match self.choice("unmanaged", value, &["keep", "delete"])? {
            "delete" => Some(UnmanagedPolicy::Delete),
            _ => Some(UnmanagedPolicy::Keep),
        }
    }

    /// The `ignore` globs, compiled, with their spans.
    pub(super) fn ignore(&mut self, value: &Value<'_>) -> (Vec<KeyGlob>, Vec<Range<usize>>) {
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
}
