//! `[[policy]]` tables, and the declared keys judged against them.
//!
//! The rules are read before the projects, so each project's keys are judged as soon as they
//! are read, while their positions are at hand: a violation points at the key and names the
//! rule's line. A project declared by `id` has no name offline, so only the rules that name no
//! projects judge it here; `plan` judges it against the rest once its name is known.

use std::ops::Range;

use toml::de::DeValue;

use super::checker::{Checker, Value, quote};
use crate::desired::{DesiredKey, KeyGlob, NamePattern, PolicyRule};
use crate::model::RoleSet;
use crate::policy::{ViolationKind, covers, judge_count, judge_declared};

pub(crate) const POLICY_FIELDS: &[&str] = &[
    "projects",
    "forbid_roles",
    "max_age",
    "name_pattern",
    "max_keys",
];

impl Checker<'_> {
    /// Every `[[policy]]` table, in file order.
    pub(super) fn policies(&mut self, value: &Value<'_>) -> Vec<PolicyRule> {
        let tables = self.tables("policy", value);
        tables.into_iter().filter_map(|t| self.policy(t)).collect()
    }

    fn policy(&mut self, value: &Value<'_>) -> Option<PolicyRule> {
        let DeValue::Table(table) = value.get_ref() else {
            return None;
        };
        let header = value.span();
        let fields = self.fields(table, POLICY_FIELDS, "[[policy]]");
        let errors_before = self.error_count();
        let projects = match fields.get("projects") {
            Some(value) => self.project_globs(value),
            None => Vec::new(),
        };
        let forbid_roles = match fields.get("forbid_roles") {
            Some(value) => self.forbid_roles(value),
            None => RoleSet::new(),
        };
        let max_age = fields
            .get("max_age")
            .and_then(|v| self.duration("max_age", v));
        let name_pattern = fields
            .get("name_pattern")
            .and_then(|v| self.name_pattern(v));
        let max_keys = fields.get("max_keys").and_then(|v| self.max_keys(v));
        let checks = ["forbid_roles", "max_age", "name_pattern", "max_keys"];
        if checks.iter().all(|field| fields.missing(field)) {
            let diagnostic = self
                .at(header.clone(), "policy rule checks nothing")
                .with_hint(format!("give it one or more of: {}", checks.join(", ")));
            self.report(diagnostic);
        }
        if self.error_count() > errors_before {
            return None;
        }
        let line = self.line_of(header.start);
        Some(PolicyRule {
            location: format!("{}:{line}", self.path.display()),
            projects,
            forbid_roles,
            max_age,
            name_pattern,
            max_keys,
        })
    }

    fn project_globs(&mut self, value: &Value<'_>) -> Vec<KeyGlob> {
        let mut globs = Vec::new();
        for pattern in self.string_array("projects", value).unwrap_or_default() {
            globs.extend(self.glob(&pattern));
        }
        globs
    }

    fn forbid_roles(&mut self, value: &Value<'_>) -> RoleSet {
        let mut roles = RoleSet::new();
        for name in self.string_array("forbid_roles", value).unwrap_or_default() {
            roles.extend(self.role(&name));
        }
        roles
    }

    /// A regular expression, its error pointed at the character where the parser gave up
    /// (when the TOML string holds the pattern verbatim, so offsets line up).
    fn name_pattern(&mut self, value: &Value<'_>) -> Option<NamePattern> {
        let text = self.string("name_pattern", value)?;
        let pattern = text.get_ref();
        let error = match regex_syntax::ast::parse::Parser::new().parse(pattern) {
            Err(error) => (error.kind().to_string(), Some(error.span().start.offset)),
            Ok(_) => match NamePattern::new(pattern) {
                Ok(compiled) => return Some(compiled),
                Err(error) => (first_line(&error.to_string()), None),
            },
        };
        let span = match error.1 {
            Some(offset) => self.char_span(&text, offset, 1),
            None => text.span(),
        };
        let diagnostic = self
            .at(
                span,
                format!("invalid name_pattern {}: {}", quote(pattern), error.0),
            )
            .with_hint(
                "name_pattern is a regular expression (Rust regex syntax), like \
                 \"^[a-z][a-z0-9-]*$\"; write it in single quotes to keep backslashes as typed",
            );
        self.report(diagnostic);
        None
    }

    fn max_keys(&mut self, value: &Value<'_>) -> Option<usize> {
        let DeValue::Integer(n) = value.get_ref() else {
            self.type_error("max_keys", "a whole number", value, None);
            return None;
        };
        let parsed = i64::from_str_radix(&n.as_str().replace('_', ""), n.radix()).ok();
        let count = parsed
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n > 0);
        if count.is_none() {
            let diagnostic = self
                .at(value.span(), "`max_keys` must be 1 or more")
                .with_hint("a project with no keys allowed needs no keyplan manifest");
            self.report(diagnostic);
        }
        count
    }

    /// Judges a project's declared keys (with the spans of their names) against every rule
    /// covering it; `name` is the project's name when declared by name.
    pub(super) fn judge_project(
        &mut self,
        name: Option<&str>,
        header: &Range<usize>,
        keys: &[(&DesiredKey, Range<usize>)],
    ) {
        for rule in self.policies.clone() {
            if !covers(&rule, name) {
                continue;
            }
            for (key, span) in keys {
                for kind in judge_declared(&rule, key) {
                    let (message, hint) = declared_words(&key.name, &kind);
                    let diagnostic = self
                        .at(span.clone(), message)
                        .with_note(format!("the policy rule is at {}", rule.location))
                        .with_hint(hint);
                    self.report(diagnostic);
                }
            }
            if let Some(kind) = judge_count(&rule, keys.len()) {
                let (message, hint) = declared_words("", &kind);
                let diagnostic = self
                    .at(header.clone(), message)
                    .with_note(format!("the policy rule is at {}", rule.location))
                    .with_hint(hint);
                self.report(diagnostic);
            }
        }
    }
}

/// A violation by a declared key, as a diagnostic's message and hint.
fn declared_words(key: &str, kind: &ViolationKind) -> (String, String) {
    let key = quote(key);
    match kind {
        ViolationKind::ForbiddenRole { role } => (
            format!("key {key} has role {role}, which a policy rule forbids"),
            format!("remove {role} from the key's roles"),
        ),
        ViolationKind::NoRotation { max_age } => (
            format!(
                "key {key} has no `rotate_after`, but a policy rule sets max_age = {max_age:?}"
            ),
            format!("add rotate_after = \"{max_age}\" (or less) to the key"),
        ),
        ViolationKind::RotatesTooLate {
            rotate_after,
            max_age,
        } => (
            format!(
                "key {key} has rotate_after = {rotate_after:?}, longer than the policy's max_age = {max_age:?}"
            ),
            format!("set rotate_after to \"{max_age}\" or less"),
        ),
        ViolationKind::NameMismatch { pattern } => (
            format!("key name {key} does not match the policy's name_pattern {pattern:?}"),
            "rename the key (declare its old name in previous_names to rename it in place)"
                .to_owned(),
        ),
        ViolationKind::TooManyKeys { count, max } => (
            format!("project declares {count} keys, more than the policy's max_keys = {max}"),
            format!("declare at most {max} keys in this project"),
        ),
        // A declared key has no age: only live keys are judged on it.
        ViolationKind::TooOld { age_days, max_age } => (
            format!("key {key} is {age_days} days old, older than max_age = {max_age:?}"),
            "rotate the key".to_owned(),
        ),
    }
}

fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .rfind(|l| l.starts_with("error:"))
        .map_or_else(
            || text.lines().next().unwrap_or_default().to_owned(),
            |l| l.trim_start_matches("error:").trim().to_owned(),
        )
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests;
