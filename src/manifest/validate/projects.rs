//! One `[[project]]` table: what selects the project (`name`, `id`, `names` or `ids`, in
//! `selectors.rs`), its policy for keys
//! the manifest does not declare (`unmanaged`, `ignore`), and its keys, checked together.

use std::ops::Range;

use toml::de::DeValue;

use super::checker::{Checker, Value, quote};
use super::keys::SeenKey;
use crate::desired::{DesiredProject, KeyGlob, ProjectSelector, UnmanagedPolicy};

pub(crate) const PROJECT_FIELDS: &[&str] = &[
    "name",
    "id",
    "names",
    "ids",
    "unmanaged",
    "ignore",
    "rotation_overlap",
    "secrets",
    "key",
];

impl Checker<'_> {
    /// The projects one `[[project]]` declares (one, or one per entry of `names` / `ids`),
    /// each with the span of what selects it (for duplicate-project errors).
    pub(super) fn project(&mut self, value: &Value<'_>) -> Vec<(DesiredProject, Range<usize>)> {
        let DeValue::Table(table) = value.get_ref() else {
            return Vec::new();
        };
        let header = value.span();
        let fields = self.fields(table, PROJECT_FIELDS, "[[project]]");

        let selectors = self.selectors(&fields, &header);

        let unmanaged = match fields.get("unmanaged") {
            Some(value) => self.unmanaged(value).unwrap_or_default(),
            None => self.defaults.unmanaged.unwrap_or_default(),
        };

        let (ignore, ignore_spans) = match fields.get("ignore") {
            Some(value) => self.ignore(value),
            None => self.defaults.ignore.clone().unwrap_or_default(),
        };

        // The project's rotation_overlap, for its keys that set none (over `[defaults]`).
        self.project_overlap = fields
            .get("rotation_overlap")
            .and_then(|v| self.duration("rotation_overlap", v));
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
        let project_stores = match fields.get("secrets") {
            Some(value) => self.secrets_list(value),
            None => self.defaults.secrets.clone(),
        };
        let routed: Vec<&ProjectSelector> = selectors.iter().map(|(s, _)| s).collect();
        self.project_routes(
            &routed,
            project_stores.as_deref(),
            unmanaged == UnmanagedPolicy::Delete,
        );
        self.project_overlap = None;
        let judged: Vec<_> = keys.iter().zip(key_spans).collect();
        for (selector, _) in &selectors {
            let name = match selector {
                ProjectSelector::Name(name) => Some(name.as_str()),
                ProjectSelector::Id(_) => None,
            };
            self.judge_project(name, &header, &judged);
        }
        let project_label = match selectors.as_slice() {
            [(selector, _)] => selector.to_string(),
            _ => "this project".to_owned(),
        };
        self.across_keys(&seen, &project_label);
        self.ignored_keys(&seen, &ignore, &ignore_spans);
        self.ids_in_several_projects(&seen, selectors.len());

        selectors
            .into_iter()
            .map(|(selector, span)| {
                let project = DesiredProject {
                    selector,
                    unmanaged,
                    ignore: ignore.clone(),
                    keys: keys.clone(),
                };
                (project, span)
            })
            .collect()
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
            if let Some(glob) = self.glob(&pattern) {
                globs.push(glob);
                spans.push(pattern.span());
            }
        }
        (globs, spans)
    }

    /// One glob (of key names in `ignore`, of project names in `[[policy]]`), or its error.
    pub(super) fn glob(&mut self, pattern: &toml::Spanned<String>) -> Option<KeyGlob> {
        match KeyGlob::new(pattern.get_ref()) {
            Ok(glob) => Some(glob),
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
                None
            }
        }
    }
}
