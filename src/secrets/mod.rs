//! Secret stores: where a new key's one-time secret goes before anything else happens.
//!
//! Every store is probed before any change, and written durably before apply moves on. Stores
//! record which key id a secret belongs to, so a rename carries the secret and duplicates left
//! by an interrupted run can be settled by "whose secret do we hold".

use crate::desired::SecretsConfig;
use crate::model::{KeyId, Project, Secret};

mod command;
mod file;
mod keyring;

pub use command::CommandStore;
pub use file::FileStore;
pub use file::dotenv_name;
pub use keyring::{KeyringLayout, KeyringStore, platform_store};

/// Who a secret belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRecord {
    pub project: Project,
    pub key_id: KeyId,
    pub key_name: String,
    pub created_at: jiff::Timestamp,
}

/// A failure of a secret store. Never carries a secret.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    pub message: String,
    /// What the user can do about it.
    pub hint: Option<String>,
}

impl StoreError {
    pub fn new(message: impl Into<String>) -> Self {
        StoreError {
            message: message.into(),
            hint: None,
        }
    }

    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// A place that keeps secrets.
///
/// Synchronous on purpose: keyring and file calls are short and blocking; apply calls them from
/// a blocking-friendly context.
pub trait SecretStore: Send + Sync {
    /// A human description, e.g. `keyring (service "keyplan")` or `file ./secrets.json`.
    fn describe(&self) -> String;

    /// Where the secret of `key_name` in `project` is (or would be) kept, for the line apply
    /// prints under each new key. The store's description unless the store can be more exact.
    fn location(&self, project: &Project, key_name: &str) -> String {
        let _ = (project, key_name);
        self.describe()
    }

    /// Checks the store works (write, read back, delete a throwaway entry) before any change.
    fn probe(&self) -> Result<(), StoreError>;

    /// Stores a new secret durably. Returns only once it is safe.
    fn put(&self, record: &SecretRecord, secret: &Secret) -> Result<(), StoreError>;

    /// Moves the secret of key `key_id` from `from` to `to` (a rename).
    /// `Ok(false)`: the store holds no secret for that key (say so; don't invent one).
    fn rename(
        &self,
        project: &Project,
        key_id: &KeyId,
        from: &str,
        to: &str,
    ) -> Result<bool, StoreError>;

    /// Removes the secret of key `key_id` stored under `key_name`, if the store holds that
    /// key's secret there (never another key's). `Ok(false)`: nothing to remove.
    fn remove(&self, project: &Project, key_id: &KeyId, key_name: &str)
    -> Result<bool, StoreError>;

    /// The key id whose secret is stored under (project, key name); `None` when there is none
    /// or the store cannot be read back (a command store).
    fn held_key_id(&self, project: &Project, key_name: &str) -> Result<Option<KeyId>, StoreError>;

    /// Reads a secret back (`keyplan secret get`). `None` when not stored or not readable.
    fn get(&self, project: &Project, key_name: &str) -> Result<Option<Secret>, StoreError>;

    /// Whether the store can answer `held_key_id`/`get` and carry out `rename`/`remove`.
    /// `false` for a write-only store (a command): there, `Ok(false)`/`None` means "cannot
    /// know", not "holds nothing", and apply tells the user to rename or remove the secret on
    /// their side.
    fn can_read_back(&self) -> bool {
        true
    }

    /// The projects the store holds secrets of, by id and name as they were when stored, when
    /// the store can list them by itself (a file: its records carry both). `None` when it
    /// cannot (a keyring entry or a command is found only through a name keyplan builds from
    /// the project, so the Admin API has to say which project is meant).
    fn known_projects(&self) -> Result<Option<Vec<Project>>, StoreError> {
        Ok(None)
    }
}

/// Opens the store a `[secrets]` table describes.
///
/// Opening touches nothing: the keyring connects on first use and the file is read on first
/// use, so a store that does not work is reported by [`SecretStore::probe`] with a hint.
pub fn open(config: &SecretsConfig) -> Result<Box<dyn SecretStore>, StoreError> {
    Ok(match config {
        SecretsConfig::Keyring { service, entry } => {
            Box::new(KeyringStore::new(service.clone(), entry.clone())?)
        }
        SecretsConfig::File { path, format } => Box::new(FileStore::new(path.clone(), *format)),
        SecretsConfig::Command { command } => Box::new(CommandStore::new(command.clone())?),
    })
}

/// Fills `{project}` (the project's name), `{project_id}` and `{key}` (the key's name) into a
/// template, in one pass, so a name that itself contains `{key}` is never expanded again.
/// Other text, including unknown `{...}`, is kept as written.
pub fn entry_name(template: &str, project: &Project, key_name: &str) -> String {
    let mut out = String::with_capacity(template.len() + key_name.len() + project.name.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let tail = &rest[open..];
        let (value, len) = if tail.starts_with("{project_id}") {
            (project.id.as_str(), "{project_id}".len())
        } else if tail.starts_with("{project}") {
            (project.name.as_str(), "{project}".len())
        } else if tail.starts_with("{key}") {
            (key_name, "{key}".len())
        } else {
            ("{", 1)
        };
        out.push_str(value);
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
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
    fn entry_names_fill_every_placeholder_once() {
        assert_eq!(
            entry_name("{project}/{key}", &project("prod"), "ci"),
            "prod/ci"
        );
        assert_eq!(
            entry_name("{project_id}:{key}:{project}", &project("prod"), "ci"),
            "p-1:ci:prod"
        );
        // A name holding a placeholder is not expanded again; unknown braces stay.
        assert_eq!(
            entry_name("{project}/{key}/{other}", &project("{key}"), "a{"),
            "{key}/a{/{other}"
        );
    }
}
