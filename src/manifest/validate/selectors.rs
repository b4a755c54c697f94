//! What a `[[project]]` selects: exactly one of `name`, `id`, `names` and `ids`. With `names`
//! or `ids` the table declares the same keys in each project listed (one declaration, several
//! environments). Every name and id may hold `${env:VAR}` references (`env.rs`).

use std::ops::Range;

use toml::Spanned;

use super::checker::{Checker, Fields, quote};
use super::keys::SeenKey;
use crate::desired::ProjectSelector;
use crate::model::{ProjectId, is_uuid};

const SELECTORS: [&str; 4] = ["name", "id", "names", "ids"];

impl Checker<'_> {
    /// Each project the table selects, with the span of what selects it; empty after an error.
    pub(super) fn selectors(
        &mut self,
        fields: &Fields<'_, '_>,
        header: &Range<usize>,
    ) -> Vec<(ProjectSelector, Range<usize>)> {
        let given: Vec<&str> = SELECTORS
            .into_iter()
            .filter(|f| fields.get(f).is_some())
            .collect();
        match given.as_slice() {
            [] => {
                if SELECTORS.iter().all(|f| fields.missing(f)) {
                    let diagnostic = self
                        .at(header.clone(), "project has neither `name` nor `id`")
                        .with_hint(
                            "add name = \"<project name>\" or id = \"<project id>\" (or names = \
                             [...] / ids = [...] to declare the same keys in several projects)",
                        );
                    self.report(diagnostic);
                }
                Vec::new()
            }
            [one] => self.selected(fields, one),
            [first, second, ..] => {
                // Each is still checked, so that its own errors show as well.
                for field in &given {
                    self.selected(fields, field);
                }
                let later = fields
                    .key_span(first)
                    .into_iter()
                    .chain(fields.key_span(second))
                    .max_by_key(|span| span.start)
                    .unwrap_or(header.clone());
                let diagnostic = self
                    .at(later, format!("project has both `{first}` and `{second}`"))
                    .with_hint(
                        "keep exactly one of name, id, names and ids: `id` names one project \
                         for certain, `name` must match exactly one project in the organisation",
                    );
                self.report(diagnostic);
                Vec::new()
            }
        }
    }

    fn selected(
        &mut self,
        fields: &Fields<'_, '_>,
        field: &str,
    ) -> Vec<(ProjectSelector, Range<usize>)> {
        let Some(value) = fields.get(field) else {
            return Vec::new();
        };
        let texts = match field {
            "name" | "id" => self.string(field, value).into_iter().collect(),
            _ => match self.string_array(field, value) {
                Some(list) if list.is_empty() => {
                    let diagnostic = self
                        .at(value.span(), format!("`{field}` is empty"))
                        .with_hint("list one or more projects");
                    self.report(diagnostic);
                    Vec::new()
                }
                Some(list) => list,
                None => Vec::new(),
            },
        };
        let by_id = matches!(field, "id" | "ids");
        let mut selectors = Vec::new();
        for text in texts {
            let what = if by_id { "project id" } else { "project name" };
            let Some(text) = self.expand_env(what, text) else {
                continue;
            };
            let selector = if by_id {
                self.project_id(&text).map(ProjectSelector::Id)
            } else {
                self.project_name(&text).map(ProjectSelector::Name)
            };
            selectors.extend(selector.map(|s| (s, text.span())));
        }
        selectors
    }

    fn project_name(&mut self, name: &Spanned<String>) -> Option<String> {
        if name.get_ref().is_empty() {
            let diagnostic = self.at(name.span(), "project name is empty");
            self.report(diagnostic);
            return None;
        }
        self.name_chars("project name", name)
            .then(|| name.get_ref().clone())
    }

    fn project_id(&mut self, id: &Spanned<String>) -> Option<ProjectId> {
        if is_uuid(id.get_ref()) {
            // The API issues lower-case ids and they are compared as text.
            return Some(ProjectId(id.get_ref().to_ascii_lowercase()));
        }
        let diagnostic = self
            .at(
                id.span(),
                format!("malformed project id {}", quote(id.get_ref())),
            )
            .with_hint(
                "a project id is a UUID like \"8f14e45f-ceea-4a67-9f5e-3b8c2d1a0b9c\"; \
                 `keyplan import` prints the live ones",
            );
        self.report(diagnostic);
        None
    }

    /// A key bound by `id` in a table that declares several projects: one live key cannot
    /// belong to each of them.
    pub(super) fn ids_in_several_projects(&mut self, keys: &[SeenKey], projects: usize) {
        if projects < 2 {
            return;
        }
        for key in keys {
            if let (Some(id), Some(name)) = (&key.id, &key.name) {
                let diagnostic = self
                    .at(
                        name.span(),
                        format!(
                            "key {} is bound to id {} but declared in {projects} projects",
                            quote(name.get_ref()),
                            quote(id)
                        ),
                    )
                    .with_hint(
                        "a key id belongs to one project: declare this key in a [[project]] \
                         of its own",
                    );
                self.report(diagnostic);
            }
        }
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests;
