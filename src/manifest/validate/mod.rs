//! Validation: a parsed TOML tree (every key and value with its span) into a [`Desired`], or
//! every error in it at once.
//!
//! The tree comes from `toml`'s span-preserving parser, so each check can point at the exact
//! key or value at fault. Checks never stop at the first error: a bad field is reported and
//! skipped, and the cross-field checks (duplicates, conflicts) run on whatever was valid.
//!
//! One file per section of the manifest: `secrets` (`[secrets]`), `projects` (`[[project]]`)
//! and `keys` (`[[project.key]]`), over `checker`, which holds the state they share and the
//! typed reads and reporting they all use. This file checks the top level.

mod checker;
mod defaults;
mod env;
mod keys;
mod policy;
mod projects;
mod routes;
mod secrets;
mod selectors;

use std::path::Path;

use toml::de::DeTable;

use super::diagnostic::Diagnostic;
use crate::desired::{Desired, ProjectSelector, Routing};
use checker::Checker;

pub(crate) use defaults::DEFAULTS_FIELDS;
pub(crate) use keys::{KEY_FIELDS, declarable_role};
pub(crate) use policy::POLICY_FIELDS;
pub(crate) use projects::PROJECT_FIELDS;
pub(crate) use secrets::{SECRETS_FIELDS, STORES};

pub(crate) const ROOT_FIELDS: &[&str] = &[
    "allow_unknown_roles",
    "secrets",
    "stores",
    "defaults",
    "policy",
    "project",
];

/// What a valid manifest means: the desired keys, and where their secrets go.
pub(crate) type Checked = (Desired, Routing);

/// Checks the document and builds the desired state with the warnings found; `Err` holds
/// every problem found.
pub(crate) fn check(
    source: &str,
    path: &Path,
    root: &DeTable<'_>,
) -> Result<(Checked, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut checker = Checker::new(source, path);
    let desired = checker.document(root);
    let routing = std::mem::take(&mut checker.routing);
    checker.finish((desired, routing))
}

impl Checker<'_> {
    fn document(&mut self, root: &DeTable<'_>) -> Desired {
        let fields = self.fields(root, ROOT_FIELDS, "the manifest");
        let misspelt = fields.entries.len() < root.len();
        // Read first: the keys' roles are checked against it.
        self.allow_unknown_roles = fields
            .get("allow_unknown_roles")
            .and_then(|value| self.bool("allow_unknown_roles", value))
            .unwrap_or(false);
        let secrets = fields.get("secrets").and_then(|value| self.secrets(value));
        // Before the projects: their `secrets` lists name these stores.
        let stores = fields
            .get("stores")
            .map(|value| self.stores(value))
            .unwrap_or_default();
        // Read before the projects, which fall back to them.
        if let Some(value) = fields.get("defaults") {
            self.defaults = self.defaults(value);
        }
        // Read before the projects: each project's keys are judged against them.
        if let Some(value) = fields.get("policy") {
            self.policies = self.policies(value);
        }
        let mut projects = Vec::new();
        match fields.get("project") {
            Some(value) => {
                let tables = self.tables("project", value);
                let mut seen: Vec<(ProjectSelector, usize)> = Vec::new();
                let declared: Vec<_> = tables.into_iter().flat_map(|t| self.project(t)).collect();
                for (project, selector_span) in declared {
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
        self.routing = Routing {
            stores,
            routes: std::mem::take(&mut self.routes),
            default_used: self.default_used,
        };
        Desired {
            projects,
            secrets,
            policies: std::mem::take(&mut self.policies),
        }
    }
}
