//! One `[[project.key]]` table (name, roles, previous names, id, protection, rotation), and
//! the checks across a project's keys that keep each live key bound to one declaration.

use std::collections::BTreeMap;

use toml::Spanned;
use toml::de::DeValue;

use super::checker::{Checker, Value, quote};
use crate::desired::{DesiredKey, RoleChange, RotateAfter};
use crate::manifest::duration::parse_duration;
use crate::manifest::suggest::did_you_mean;
use crate::model::{KeyId, MAX_KEY_NAME_CHARS, Role, RoleSet};

pub(crate) const KEY_FIELDS: &[&str] = &[
    "name",
    "roles",
    "previous_names",
    "id",
    "protected",
    "role_change",
    "rotate_after",
    "rotation_overlap",
    "secrets",
];

/// A declared key, kept with its positions for the checks across keys.
pub(super) struct SeenKey {
    pub(super) name: Option<Spanned<String>>,
    pub(super) id: Option<String>,
    pub(super) previous_names: Vec<Spanned<String>>,
}

impl Checker<'_> {
    fn key_name(&mut self, what: &str, name: &Spanned<String>) -> bool {
        let chars = name.get_ref().chars().count();
        if (1..=MAX_KEY_NAME_CHARS).contains(&chars) {
            return self.name_chars(what, name);
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
    pub(super) fn key(&mut self, value: &Value<'_>) -> (Option<DesiredKey>, SeenKey) {
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
            Some(value) => self.role_change(value).unwrap_or_default(),
            None => self.defaults.role_change.unwrap_or_default(),
        };
        let rotate_after = match fields.get("rotate_after") {
            Some(value) => self.rotate_after(value),
            None if protected => None,
            None => self.defaults.rotate_after.clone(),
        };
        let rotation_overlap = match fields.get("rotation_overlap") {
            Some(value) => self.duration("rotation_overlap", value),
            None => self
                .project_overlap
                .clone()
                .or_else(|| self.defaults.rotation_overlap.clone()),
        };
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

        self.key_secrets(fields.get("secrets"), name.as_ref(), &previous_names);

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
                rotation_overlap,
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

    pub(super) fn role_change(&mut self, value: &Value<'_>) -> Option<RoleChange> {
        match self.choice("role_change", value, &["update", "replace"])? {
            "replace" => Some(RoleChange::Replace),
            _ => Some(RoleChange::Update),
        }
    }

    pub(super) fn rotate_after(&mut self, value: &Value<'_>) -> Option<RotateAfter> {
        self.duration("rotate_after", value)
    }

    /// A duration field (`rotate_after`, `rotation_overlap`), keeping its spelling.
    pub(super) fn duration(&mut self, field: &str, value: &Value<'_>) -> Option<RotateAfter> {
        let text = self.string(field, value)?;
        match parse_duration(text.get_ref()) {
            Ok(limit) => Some(RotateAfter {
                limit,
                spelled: text.get_ref().trim().to_owned(),
            }),
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
            match self.role(&name) {
                Some(role) => {
                    roles.insert(role);
                }
                None => ok = false,
            }
        }
        ok.then_some(roles)
    }

    /// One declared role: one of the six, or, with `allow_unknown_roles = true`, any name that
    /// reads like a role (sent to the API as declared; a near miss of a known role warns).
    pub(super) fn role(&mut self, name: &Spanned<String>) -> Option<Role> {
        let text = name.get_ref();
        if let Ok(role) = text.parse::<Role>() {
            return Some(role);
        }
        let near = did_you_mean(text, Role::ALL.iter().map(Role::as_str));
        if self.allow_unknown_roles && declarable_role(text) {
            if let Some(known) = near {
                let diagnostic = self
                    .at(
                        name.span(),
                        format!(
                            "role {} is not one keyplan knows; it is sent as declared",
                            quote(text)
                        ),
                    )
                    .with_hint(format!("did you mean \"{known}\"?"));
                self.warn(diagnostic);
            }
            return Some(Role::from_name(text));
        }
        let diagnostic = if self.allow_unknown_roles {
            self.at(
                name.span(),
                format!("role {} is not a role name", quote(text)),
            )
            .with_hint(format!(
                "a role is 1 to {MAX_ROLE_NAME} ASCII letters, digits, `_` or `-`; \
                 the known roles are: {}",
                role_list()
            ))
        } else {
            let hint = match near {
                Some(role) => format!("did you mean \"{role}\"?"),
                None => format!(
                    "the roles are: {}; for a role Pinecone added after this keyplan \
                     release, set allow_unknown_roles = true at the top of the manifest",
                    role_list()
                ),
            };
            self.at(name.span(), format!("unknown role {}", quote(text)))
                .with_hint(hint)
        };
        self.report(diagnostic);
        None
    }

    /// The checks across a project's keys: each name binds one live key, unambiguously.
    pub(super) fn across_keys(&mut self, keys: &[SeenKey], project: &str) {
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

/// The longest role name a manifest may declare outside the six.
const MAX_ROLE_NAME: usize = 64;

/// Whether `name` may be declared as a role keyplan does not know (with
/// `allow_unknown_roles = true`): 1 to 64 ASCII letters, digits, `_` or `-`, as role names are.
/// `import` uses it too, so what it writes validates.
pub(crate) fn declarable_role(name: &str) -> bool {
    (1..=MAX_ROLE_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn role_list() -> String {
    Role::ALL
        .iter()
        .map(Role::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}
