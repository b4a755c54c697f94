//! The desired state: what the manifest declares, already validated.
//!
//! `manifest` builds it from TOML; `plan` compares it with the live keys. Holding only valid
//! values (known roles, names of 1 to 80 characters, compiled globs) keeps the plan engine free
//! of error handling for bad input.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::model::{KeyId, ProjectId, RoleSet};

/// The whole manifest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Desired {
    pub projects: Vec<DesiredProject>,
    /// The `[secrets]` table, if the manifest has one: the default destination.
    pub secrets: Option<SecretsConfig>,
    /// The `[[policy]]` rules, in file order: what every key of the projects they cover must
    /// satisfy (`crate::policy` checks them).
    pub policies: Vec<PolicyRule>,
}

/// One `[[policy]]` rule. Every check is optional; a rule has at least one.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRule {
    /// Where the rule is declared, `path:line`, so every violation can point at it.
    pub location: String,
    /// Globs on project names; empty: every declared project.
    pub projects: Vec<KeyGlob>,
    /// Roles no key may hold.
    pub forbid_roles: RoleSet,
    /// The oldest a live key may be; declared keys need a `rotate_after` no longer than this.
    pub max_age: Option<RotateAfter>,
    /// A regular expression every key name must match (anywhere, unless anchored).
    pub name_pattern: Option<NamePattern>,
    /// The most keys a project may hold.
    pub max_keys: Option<usize>,
}

/// A compiled regular expression over key names, keeping its source text.
#[derive(Debug, Clone)]
pub struct NamePattern {
    source: String,
    regex: regex::Regex,
}

impl NamePattern {
    pub fn new(pattern: &str) -> Result<Self, regex::Error> {
        Ok(NamePattern {
            source: pattern.to_owned(),
            regex: regex::Regex::new(pattern)?,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn is_match(&self, name: &str) -> bool {
        self.regex.is_match(name)
    }
}

impl PartialEq for NamePattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// The named destinations of a manifest and which keys go to them (the plan needs none of
/// this: only the stores do).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Routing {
    /// The `[stores.NAME]` tables.
    pub stores: BTreeMap<String, SecretsConfig>,
    /// Which keys' secrets go to named destinations instead of the default one.
    pub routes: Vec<SecretRoute>,
    /// Whether some key may still use the default store: a project without `secrets` that
    /// has a key without `secrets`, or deletes keys it does not declare.
    pub default_used: bool,
}

/// `secrets = ["NAME", ...]` on a project (`key: None`: every key of it without a route of its
/// own) or on a key (`key`: its name; a route is recorded under each previous name too, so a
/// rename finds the secret where it went).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRoute {
    pub project: ProjectSelector,
    pub key: Option<String>,
    pub stores: Vec<String>,
}

/// How a manifest names a project: by id, or by its exact (case-sensitive) name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectSelector {
    Name(String),
    Id(ProjectId),
}

impl std::fmt::Display for ProjectSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProjectSelector::Name(name) => write!(f, "project {name:?}"),
            ProjectSelector::Id(id) => write!(f, "project id {id}"),
        }
    }
}

/// What happens to live keys the manifest does not declare.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnmanagedPolicy {
    /// Report them, touch nothing (the default).
    #[default]
    Keep,
    /// Delete them.
    Delete,
}

/// How a role change is carried out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleChange {
    /// PATCH the key in place (the default).
    #[default]
    Update,
    /// Create a new key with the new roles, store its secret, delete the old key. Needed on the
    /// Starter plan, where a key's roles cannot change.
    Replace,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DesiredProject {
    pub selector: ProjectSelector,
    pub unmanaged: UnmanagedPolicy,
    /// Glob patterns of live key names keyplan neither touches nor reports.
    pub ignore: Vec<KeyGlob>,
    pub keys: Vec<DesiredKey>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredKey {
    pub name: String,
    pub roles: RoleSet,
    /// Live keys under one of these names are renamed in place.
    pub previous_names: Vec<String>,
    /// Bind to exactly this live key.
    pub id: Option<KeyId>,
    /// Refuse any plan that deletes or replaces this key.
    pub protected: bool,
    pub role_change: RoleChange,
    /// Replace the key once its `created_at` is older than this.
    pub rotate_after: Option<RotateAfter>,
    /// After a replace, keep the old key under its retiring name this long after the new key's
    /// `created_at`, so consumers can pick up the new secret.
    pub rotation_overlap: Option<RotateAfter>,
}

impl DesiredKey {
    /// A key with the given name and roles and every option at its default.
    pub fn new(name: impl Into<String>, roles: RoleSet) -> Self {
        DesiredKey {
            name: name.into(),
            roles,
            previous_names: Vec::new(),
            id: None,
            protected: false,
            role_change: RoleChange::Update,
            rotate_after: None,
            rotation_overlap: None,
        }
    }
}

/// A key's maximum age, with the manifest's spelling of it (`"2w"` stays `2w` in a plan).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotateAfter {
    pub limit: jiff::SignedDuration,
    pub spelled: String,
}

/// A compiled glob over key names (`*`, `?`, `[...]`, `{a,b}`), keeping its source text.
#[derive(Debug, Clone)]
pub struct KeyGlob {
    source: String,
    matcher: globset::GlobMatcher,
}

impl KeyGlob {
    pub fn new(pattern: &str) -> Result<Self, globset::Error> {
        let glob = globset::GlobBuilder::new(pattern)
            .literal_separator(false)
            .build()?;
        Ok(KeyGlob {
            source: pattern.to_owned(),
            matcher: glob.compile_matcher(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn is_match(&self, key_name: &str) -> bool {
        self.matcher.is_match(key_name)
    }
}

impl PartialEq for KeyGlob {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// Where new secrets go: the manifest's `[secrets]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "store", rename_all = "snake_case")]
pub enum SecretsConfig {
    /// The OS keyring. Entries are named by `entry`, with `{project}`, `{project_id}` and
    /// `{key}` filled in.
    Keyring { service: String, entry: String },
    /// A JSON (or dotenv) file, written atomically with mode 0600. `prefix` starts every
    /// dotenv variable (`KEYPLAN_` by default).
    File {
        path: PathBuf,
        format: FileFormat,
        #[serde(default = "default_dotenv_prefix")]
        prefix: String,
    },
    /// Commands run once per new secret (the secret on stdin only), renamed or deleted key.
    Command(CommandConfig),
}

fn default_dotenv_prefix() -> String {
    SecretsConfig::DEFAULT_DOTENV_PREFIX.to_owned()
}

/// A command store's table. Placeholders are filled in in every argument and `env` value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandConfig {
    /// Stores a new secret, given on its stdin.
    pub command: Vec<String>,
    /// Follows a rename (`{old_key}` is the old name); none: renames are not followed.
    #[serde(default)]
    pub rename_command: Option<Vec<String>>,
    /// Follows a delete (or the old key of a replace); none: deletes are not followed.
    #[serde(default)]
    pub delete_command: Option<Vec<String>>,
    /// Added to the commands' environment (which holds no Pinecone credential).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

impl SecretsConfig {
    pub const DEFAULT_KEYRING_SERVICE: &'static str = "keyplan";
    pub const DEFAULT_KEYRING_ENTRY: &'static str = "{project}/{key}";
    pub const DEFAULT_DOTENV_PREFIX: &'static str = "KEYPLAN_";

    /// A command store running `command` alone (no lifecycle commands, no extra environment).
    pub fn command(command: Vec<String>) -> Self {
        SecretsConfig::Command(CommandConfig {
            command,
            ..CommandConfig::default()
        })
    }

    /// A file store with the default dotenv prefix.
    pub fn file(path: PathBuf, format: FileFormat) -> Self {
        SecretsConfig::File {
            path,
            format,
            prefix: default_dotenv_prefix(),
        }
    }

    /// The default store: the OS keyring, service `keyplan`, entry `<project>/<key>`.
    pub fn default_keyring() -> Self {
        SecretsConfig::Keyring {
            service: Self::DEFAULT_KEYRING_SERVICE.to_owned(),
            entry: Self::DEFAULT_KEYRING_ENTRY.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    #[default]
    Json,
    Dotenv,
}
