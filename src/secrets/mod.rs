//! Secret stores: where a new key's one-time secret goes before anything else happens.
//!
//! Every store is probed before any change, and written durably before apply moves on. Stores
//! record which key id a secret belongs to, so a rename carries the secret and duplicates left
//! by an interrupted run can be settled by "whose secret do we hold".

use crate::model::{KeyId, Project, Secret};

/// Who a secret belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRecord {
    pub project: Project,
    pub key_id: KeyId,
    pub key_name: String,
    pub created_at: jiff::Timestamp,
}

/// A failure of a secret store. Never carries a secret.
#[derive(Debug, thiserror::Error)]
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
}
