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
mod routed;
pub mod template;

pub use command::CommandStore;
pub use file::FileStore;
pub use file::{dotenv_name, dotenv_name_with};
pub use keyring::{KeyringLayout, KeyringStore, platform_store};
pub use routed::{Destinations, open_destinations};

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

/// A step of a key's life after its creation that a store may have to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Rename,
    Delete,
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

    /// Removes what a deleted or replaced key `key_id` left: its secret may be under any of
    /// `names` (its live name, the name it was stored under, its successor's name);
    /// `stored_under` is the name its secret was stored under, `successor` the name a replacing
    /// key's secret now holds (a replace). A store that records key ids removes only that
    /// key's records under each name; a write-only store removes by name, so it leaves a name
    /// its successor took over alone.
    fn remove_left(
        &self,
        project: &Project,
        key_id: &KeyId,
        names: &[String],
        stored_under: &str,
        successor: Option<&str>,
    ) -> Result<bool, StoreError> {
        let _ = (stored_under, successor);
        let mut removed = false;
        for name in names {
            removed |= self.remove(project, key_id, name)?;
        }
        Ok(removed)
    }

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

    /// The destinations of `key_name`'s secret that cannot follow `step` (a command store
    /// without a `rename_command` or `delete_command`), by description: apply tells the user
    /// to do that step there by hand. Empty when every destination follows.
    fn cannot_follow(&self, project: &Project, key_name: &str, step: Lifecycle) -> Vec<String> {
        let _ = (project, key_name, step);
        Vec::new()
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
        SecretsConfig::File {
            path,
            format,
            prefix,
        } => Box::new(FileStore::new(path.clone(), *format).with_prefix(prefix.clone())),
        SecretsConfig::Command(config) => Box::new(CommandStore::from_config(config)?),
    })
}

/// Fills the placeholders of an entry template (`{project}`, `{project_id}`, `{key}`, with
/// their transforms) in one pass; see [`template::expand`].
pub fn entry_name(template: &str, project: &Project, key_name: &str) -> String {
    template::expand(template, &template::Values::new(project, key_name))
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
