//! Named destinations: the `[stores.NAME]` tables, and `secrets = ["NAME", ...]` on a project
//! or a key, every name checked against the tables declared.

use std::collections::BTreeMap;

use toml::Spanned;
use toml::de::DeValue;

use super::checker::{Checker, Value};
use crate::desired::{ProjectSelector, SecretRoute, SecretsConfig};
use crate::manifest::suggest::did_you_mean;

/// A key's `secrets`, waiting for its project's selector.
#[derive(Debug, Default)]
pub(super) struct KeyRoutes {
    pub(super) routes: Vec<(Vec<String>, Vec<String>)>,
    /// Whether a key of the project has no `secrets` of its own.
    pub(super) unrouted: bool,
}

impl Checker<'_> {
    /// The `[stores.NAME]` tables. Their names are kept for checking `secrets` lists, even
    /// when a table itself has errors (so no follow-on "unknown store" is reported).
    pub(super) fn stores(&mut self, value: &Value<'_>) -> BTreeMap<String, SecretsConfig> {
        let mut stores = BTreeMap::new();
        let DeValue::Table(table) = value.get_ref() else {
            self.type_error(
                "stores",
                "a table of tables",
                value,
                Some("write each store as a [stores.NAME] table".into()),
            );
            return stores;
        };
        for (name, store) in table {
            let name_text = name.get_ref().to_string();
            let valid = !name_text.is_empty()
                && name_text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid {
                let diagnostic = self
                    .at(
                        name.span(),
                        format!("store name {name_text:?} is not a plain name"),
                    )
                    .with_hint("use letters, digits, _ and -, e.g. [stores.github]");
                self.report(diagnostic);
                continue;
            }
            self.store_names.push(name_text.clone());
            let table_name = format!("[stores.{name_text}]");
            if let Some(config) =
                self.store_table(&format!("stores.{name_text}"), &table_name, store)
            {
                stores.insert(name_text, config);
            }
        }
        stores
    }

    /// A `secrets = ["NAME", ...]` list: at least one name, each a declared store, none twice.
    pub(super) fn secrets_list(&mut self, value: &Value<'_>) -> Option<Vec<String>> {
        let names = self.string_array("secrets", value)?;
        if names.is_empty() {
            let diagnostic = self.at(value.span(), "`secrets` lists no store").with_hint(
                "name at least one [stores.NAME] table, or remove `secrets` to use [secrets]",
            );
            self.report(diagnostic);
            return None;
        }
        let mut ok = true;
        let mut seen: Vec<&str> = Vec::new();
        for name in &names {
            let text = name.get_ref().as_str();
            if !self.store_names.iter().any(|known| known == text) {
                let hint = match did_you_mean(text, self.store_names.iter().map(String::as_str)) {
                    Some(suggestion) => format!("did you mean {suggestion:?}?"),
                    None if self.store_names.is_empty() => {
                        format!("declare it as a [stores.{text}] table")
                    }
                    None => format!(
                        "declare it as a [stores.{text}] table; declared: {}",
                        self.store_names.join(", ")
                    ),
                };
                let diagnostic = self
                    .at(name.span(), format!("unknown store {text:?}"))
                    .with_hint(hint);
                self.report(diagnostic);
                ok = false;
            } else if seen.contains(&text) {
                let diagnostic = self.at(name.span(), format!("store {text:?} is listed twice"));
                self.report(diagnostic);
                ok = false;
            }
            seen.push(text);
        }
        ok.then(|| names.into_iter().map(Spanned::into_inner).collect())
    }

    /// Records a key's `secrets` (if any) under its name and previous names until its
    /// project is known.
    pub(super) fn key_secrets(
        &mut self,
        value: Option<&Value<'_>>,
        name: Option<&Spanned<String>>,
        previous_names: &[Spanned<String>],
    ) {
        let Some(value) = value else {
            self.key_routes.unrouted = true;
            return;
        };
        let Some(name) = name else { return };
        if let Some(stores) = self.secrets_list(value) {
            let names = std::iter::once(name)
                .chain(previous_names)
                .map(|n| n.get_ref().clone())
                .collect();
            self.key_routes.routes.push((names, stores));
        }
    }

    /// The routes of one project: its own `secrets` and its keys'.
    /// `unrouted`: whether a key of it has no `secrets`, or it deletes keys it does not
    /// declare: without a project `secrets`, those use the default store.
    pub(super) fn project_routes(
        &mut self,
        selectors: &[&ProjectSelector],
        project_stores: Option<&[String]>,
        unrouted: bool,
    ) {
        let keys = std::mem::take(&mut self.key_routes.routes);
        let unrouted = unrouted || std::mem::take(&mut self.key_routes.unrouted);
        if project_stores.is_none() && unrouted {
            self.default_used = true;
        }
        // A table with `names` / `ids` routes the same way in each project it declares.
        for selector in selectors {
            if let Some(stores) = project_stores {
                self.routes.push(SecretRoute {
                    project: (*selector).clone(),
                    key: None,
                    stores: stores.to_vec(),
                });
            }
            for (names, stores) in &keys {
                for name in names {
                    self.routes.push(SecretRoute {
                        project: (*selector).clone(),
                        key: Some(name.clone()),
                        stores: stores.clone(),
                    });
                }
            }
        }
    }
}
