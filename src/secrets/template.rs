//! Placeholders in store settings: `{project}`, `{project_id}`, `{key}`, `{key_id}` and, in a
//! rename command, `{old_key}`, each optionally transformed (`{key:upper_snake}`).
//!
//! Destinations have naming rules of their own (a GitHub secret name allows only letters,
//! digits and `_`; a Kubernetes name only lower-case letters, digits and `-`), so a key's name
//! often has to be transformed before it can name anything there.

use crate::model::{KeyId, Project};

/// Every placeholder, for messages and validation.
pub const PLACEHOLDERS: &[&str] = &["project", "project_id", "key", "key_id", "old_key"];
/// Placeholders whose value is a name, and so may be transformed.
pub const TRANSFORMABLE: &[&str] = &["project", "key", "old_key"];
/// Every transform.
pub const TRANSFORMS: &[&str] = &["upper_snake", "lower_snake", "kebab"];

/// What the placeholders of one call stand for.
#[derive(Debug, Clone, Copy)]
pub struct Values<'a> {
    pub project: &'a Project,
    pub key: &'a str,
    pub key_id: Option<&'a KeyId>,
    pub old_key: Option<&'a str>,
}

impl<'a> Values<'a> {
    pub fn new(project: &'a Project, key: &'a str) -> Self {
        Values {
            project,
            key,
            key_id: None,
            old_key: None,
        }
    }
}

/// A `{name}` or `{name:transform}` found in a template, with its byte range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder<'t> {
    pub name: &'t str,
    pub transform: Option<&'t str>,
    pub range: std::ops::Range<usize>,
}

/// The placeholders of `text`: every `{word}` or `{word:word}` not preceded by `$` (shell
/// `${VAR}` is left to the shell). Other braces are text.
pub fn placeholders(text: &str) -> Vec<Placeholder<'_>> {
    let mut found = Vec::new();
    let mut offset = 0;
    while let Some(open) = text[offset..].find('{').map(|i| offset + i) {
        let after = &text[open + 1..];
        let Some(close) = after.find('}') else {
            break;
        };
        let inner = &after[..close];
        let (name, transform) = match inner.split_once(':') {
            Some((name, transform)) => (name, Some(transform)),
            None => (inner, None),
        };
        let is_word = |w: &str| {
            w.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if is_word(name) && transform.is_none_or(is_word) && !text[..open].ends_with('$') {
            found.push(Placeholder {
                name,
                transform,
                range: open..open + 1 + close + 1,
            });
            offset = open + 1 + close + 1;
        } else {
            offset = open + 1;
        }
    }
    found
}

/// Fills every known placeholder of `template` in one pass, so a name that itself contains
/// `{key}` is never expanded again. Unknown placeholders (validation refuses them) stay.
pub fn expand(template: &str, values: &Values<'_>) -> String {
    let mut out = String::with_capacity(template.len() + values.key.len());
    let mut copied = 0;
    for placeholder in placeholders(template) {
        let value = match placeholder.name {
            "project" => Some(values.project.name.as_str()),
            "project_id" => Some(values.project.id.as_str()),
            "key" => Some(values.key),
            "key_id" => values.key_id.map(KeyId::as_str),
            "old_key" => values.old_key,
            _ => None,
        };
        let Some(value) = value else { continue };
        let value = match placeholder.transform {
            None => value.to_owned(),
            Some(transform) => match apply_transform(transform, value) {
                Some(done) => done,
                None => continue,
            },
        };
        out.push_str(&template[copied..placeholder.range.start]);
        out.push_str(&value);
        copied = placeholder.range.end;
    }
    out.push_str(&template[copied..]);
    out
}

/// A name transformed: `upper_snake` (`ci-reader` → `CI_READER`), `lower_snake`
/// (`ci_reader`), `kebab` (`ci-reader`). Every character other than an ASCII letter or digit
/// becomes the separator. `None` for an unknown transform.
pub fn apply_transform(transform: &str, value: &str) -> Option<String> {
    let (separator, upper) = match transform {
        "upper_snake" => ('_', true),
        "lower_snake" => ('_', false),
        "kebab" => ('-', false),
        _ => return None,
    };
    Some(
        value
            .chars()
            .map(|c| match c {
                c if c.is_ascii_alphanumeric() && upper => c.to_ascii_uppercase(),
                c if c.is_ascii_alphanumeric() => c.to_ascii_lowercase(),
                _ => separator,
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ProjectId;

    fn project(name: &str) -> Project {
        Project {
            id: ProjectId("p-1".into()),
            name: name.into(),
        }
    }

    #[test]
    fn transforms_turn_names_into_each_destinations_spelling() {
        assert_eq!(
            apply_transform("upper_snake", "ci-reader").as_deref(),
            Some("CI_READER")
        );
        assert_eq!(
            apply_transform("lower_snake", "CI.Reader").as_deref(),
            Some("ci_reader")
        );
        assert_eq!(
            apply_transform("kebab", "CI_Reader v2").as_deref(),
            Some("ci-reader-v2")
        );
        assert_eq!(apply_transform("camel", "x"), None);
    }

    #[test]
    fn every_placeholder_is_filled_once() {
        let id = KeyId("k-1".into());
        let values = Values {
            project: &project("prod-eu"),
            key: "ci-reader",
            key_id: Some(&id),
            old_key: Some("ci"),
        };
        assert_eq!(
            expand("{project:upper_snake}_{key:upper_snake}", &values),
            "PROD_EU_CI_READER"
        );
        assert_eq!(
            expand("{project_id}/{key_id}/{old_key:kebab}/{key}", &values),
            "p-1/k-1/ci/ci-reader"
        );
        // Shell variables, non-words and names holding placeholders stay as written.
        let braces = project("{key}");
        let odd = Values::new(&braces, "a{");
        assert_eq!(
            expand("${HOME} {a b} {project}/{key}/{other}", &odd),
            "${HOME} {a b} {key}/a{/{other}"
        );
    }
}
