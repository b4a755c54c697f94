//! The keyring store: each secret in an entry of the OS's own credential store (the
//! freedesktop Secret Service on Linux, the login keychain on macOS, Credential Manager on
//! Windows), through the keyring-core `Entry` API.
//!
//! An entry is named by service (default `keyplan`) and user (the entry template, default
//! `{project}/{key}`). Which key the secret belongs to is recorded with it (see [`layout`]): a
//! rename or removal acts only on an entry recording that very key id, and a put never
//! overwrites an entry recording a key of another project (two projects may share a name).

use std::sync::{Arc, Mutex};

use keyring_core::{CredentialStore, Entry, Error};

use super::{SecretRecord, SecretStore, StoreError, entry_name};
use crate::model::{KeyId, Project, Secret};

mod layout;
mod platform;

use layout::Claim;
pub use layout::KeyringLayout;
pub use platform::platform_store;

/// The OS keyring, service and entry naming as configured. Connects on first use.
pub struct KeyringStore {
    service: String,
    template: String,
    layout: KeyringLayout,
    backend: Mutex<Option<Arc<CredentialStore>>>,
}

impl std::fmt::Debug for KeyringStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyringStore")
            .field("service", &self.service)
            .field("entry", &self.template)
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl KeyringStore {
    /// A store using the platform keyring. Nothing is contacted until the first call.
    pub fn new(service: String, entry: String) -> Result<Self, StoreError> {
        platform::supported()?;
        Self::checked(service, entry, KeyringLayout::native(), None)
    }

    /// A store on a given keyring-core store, its claims kept as `layout` says (tests run the
    /// envelope layout on keyring-core's in-memory mock store).
    pub fn in_store(
        service: String,
        entry: String,
        backend: Arc<CredentialStore>,
        layout: KeyringLayout,
    ) -> Result<Self, StoreError> {
        Self::checked(service, entry, layout, Some(backend))
    }

    fn checked(
        service: String,
        entry: String,
        layout: KeyringLayout,
        backend: Option<Arc<CredentialStore>>,
    ) -> Result<Self, StoreError> {
        if service.is_empty() {
            return Err(StoreError::new("the keyring service name is empty")
                .with_hint("set [secrets] service, e.g. \"keyplan\""));
        }
        if !entry.contains("{key}") {
            return Err(StoreError::new(format!(
                "the keyring entry template {entry:?} does not contain {{key}}"
            ))
            .with_hint("every key needs an entry of its own, e.g. \"{project}/{key}\""));
        }
        Ok(KeyringStore {
            service,
            template: entry,
            layout,
            backend: Mutex::new(backend),
        })
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    /// The entry (keyring "user") that holds the secret of `key_name` in `project`.
    pub fn entry_name(&self, project: &Project, key_name: &str) -> String {
        entry_name(&self.template, project, key_name)
    }

    fn backend(&self) -> Result<Arc<CredentialStore>, StoreError> {
        let mut slot = self
            .backend
            .lock()
            .map_err(|_| StoreError::new("the keyring store is unusable after a panic"))?;
        if let Some(backend) = slot.as_ref() {
            return Ok(Arc::clone(backend));
        }
        let backend = platform::connect()?;
        *slot = Some(Arc::clone(&backend));
        Ok(backend)
    }

    fn entry(&self, name: &str) -> Result<Entry, StoreError> {
        let backend = self.backend()?;
        let label = format!("{}: {name}", self.service);
        let modifiers = self.layout.modifiers(&label);
        Entry::new_in_store_with_modifiers(&backend, &self.service, name, &modifiers)
            .map_err(|e| self.error("open entry", name, e))
    }

    /// The entry's claim, or `None` when the entry does not exist.
    fn claim(&self, entry: &Entry, name: &str) -> Result<Option<Claim>, StoreError> {
        self.layout
            .claim(entry)
            .map_err(|e| self.error("read", name, e))
    }

    /// Writes `secret` claimed by `claim` into `entry`, then reads both back.
    fn write(
        &self,
        entry: &Entry,
        name: &str,
        existing: Option<&Claim>,
        claim: &Claim,
        secret: &str,
    ) -> Result<(), StoreError> {
        self.layout
            .write(entry, existing, claim, secret)
            .map_err(|e| self.error("write", name, e))?;
        let stored = self
            .layout
            .secret(entry)
            .map_err(|e| self.error("read back", name, e))?;
        let recorded = self.claim(entry, name)?.and_then(|c| c.key_id);
        if stored.as_deref() != Some(secret) || recorded != claim.key_id {
            return Err(StoreError::new(format!(
                "keyring entry {name:?} (service {:?}) did not hold what was written to it",
                self.service
            ))
            .with_hint("another program may be writing the same entry; retry"));
        }
        Ok(())
    }

    fn error(&self, action: &str, name: &str, error: Error) -> StoreError {
        let place = format!("keyring entry {name:?} (service {:?})", self.service);
        platform::map_error(&format!("failed to {action} {place}"), error)
    }
}

impl SecretStore for KeyringStore {
    fn describe(&self) -> String {
        format!(
            "keyring (service {:?}, entry {:?})",
            self.service, self.template
        )
    }

    fn location(&self, project: &Project, key_name: &str) -> String {
        format!(
            "keyring (service {:?}, entry {:?})",
            self.service,
            self.entry_name(project, key_name)
        )
    }

    fn probe(&self) -> Result<(), StoreError> {
        let name = format!("keyplan-probe/{}", uuid::Uuid::new_v4());
        let value = uuid::Uuid::new_v4().to_string();
        let entry = self.entry(&name)?;
        entry
            .set_password(&value)
            .map_err(|e| self.error("write a test secret to", &name, e))?;
        let read = entry.get_password();
        let deleted = entry.delete_credential();
        let read = read.map_err(|e| self.error("read a test secret from", &name, e))?;
        deleted.map_err(|e| self.error("delete", &name, e))?;
        if read != value {
            return Err(StoreError::new(format!(
                "the keyring (service {:?}) returned a different value than was written",
                self.service
            )));
        }
        Ok(())
    }

    fn put(&self, record: &SecretRecord, secret: &Secret) -> Result<(), StoreError> {
        let name = self.entry_name(&record.project, &record.key_name);
        let entry = self.entry(&name)?;
        let existing = self.claim(&entry, &name)?;
        if let Some(other) = existing
            .as_ref()
            .and_then(|c| c.project_id.as_deref())
            .filter(|id| *id != record.project.id.as_str())
        {
            return Err(StoreError::new(format!(
                "keyring entry {name:?} (service {:?}) already holds the secret of a key in \
                 project id {other}",
                self.service
            ))
            .with_hint(
                "project names repeat across an organisation: put {project_id} in [secrets] \
                 entry, e.g. \"{project_id}/{key}\"",
            ));
        }
        let claim = Claim::of(
            &record.project,
            &record.key_id,
            &record.key_name,
            Some(record.created_at.to_string()),
        );
        self.write(&entry, &name, existing.as_ref(), &claim, secret.expose())
    }

    fn rename(
        &self,
        project: &Project,
        key_id: &KeyId,
        from: &str,
        to: &str,
    ) -> Result<bool, StoreError> {
        let from_name = self.entry_name(project, from);
        let to_name = self.entry_name(project, to);
        let from_entry = self.entry(&from_name)?;
        let from_claim = self.claim(&from_entry, &from_name)?;
        let holds = |claim: &Option<Claim>| claim.as_ref().is_some_and(|c| c.is(project, key_id));
        let renamed = |old: &Claim| Claim::of(project, key_id, to, old.created_at.clone());
        if from_name == to_name {
            // The template does not use the changed name: only the record changes.
            let Some(old) = from_claim.filter(|c| c.is(project, key_id)) else {
                return Ok(false);
            };
            self.layout
                .reclaim(&from_entry, &old, &renamed(&old))
                .map_err(|e| self.error("update", &from_name, e))?;
            return Ok(true);
        }
        let to_entry = self.entry(&to_name)?;
        let to_claim = self.claim(&to_entry, &to_name)?;
        let Some(old) = from_claim.filter(|c| c.is(project, key_id)) else {
            // Moved already (an earlier run stopped after writing the new entry and deleting
            // the old one), or never held.
            return Ok(holds(&to_claim));
        };
        if let Some(claim) = to_claim
            .as_ref()
            .filter(|c| !c.is(project, key_id) && c.claims_something())
        {
            let owner = claim.key_id.as_deref().unwrap_or("of another project");
            return Err(StoreError::new(format!(
                "cannot move the secret of key {key_id} to keyring entry {to_name:?} (service \
                 {:?}): that entry holds the secret of key {owner}",
                self.service
            ))
            .with_hint(format!(
                "move or delete that entry first ({}) if its key no longer exists",
                platform::delete_hint(&self.service, &to_name)
            )));
        }
        let secret = self
            .layout
            .secret(&from_entry)
            .map_err(|e| self.error("read", &from_name, e))?
            .ok_or_else(|| {
                StoreError::new(format!(
                    "keyring entry {from_name:?} (service {:?}) vanished while its secret was \
                     being moved",
                    self.service
                ))
                .with_hint("another program may be changing the same entry; retry")
            })?;
        // Write the new entry and read it back before the old one goes.
        self.write(
            &to_entry,
            &to_name,
            to_claim.as_ref(),
            &renamed(&old),
            &secret,
        )?;
        from_entry
            .delete_credential()
            .map_err(|e| self.error("delete", &from_name, e))?;
        Ok(true)
    }

    fn remove(
        &self,
        project: &Project,
        key_id: &KeyId,
        key_name: &str,
    ) -> Result<bool, StoreError> {
        let name = self.entry_name(project, key_name);
        let entry = self.entry(&name)?;
        let claim = self.claim(&entry, &name)?;
        if !claim.is_some_and(|c| c.is(project, key_id)) {
            return Ok(false);
        }
        entry
            .delete_credential()
            .map_err(|e| self.error("delete", &name, e))?;
        Ok(true)
    }

    fn held_key_id(&self, project: &Project, key_name: &str) -> Result<Option<KeyId>, StoreError> {
        let name = self.entry_name(project, key_name);
        let entry = self.entry(&name)?;
        Ok(self.claim(&entry, &name)?.and_then(|c| c.key_of(project)))
    }

    fn get(&self, project: &Project, key_name: &str) -> Result<Option<Secret>, StoreError> {
        let name = self.entry_name(project, key_name);
        let entry = self.entry(&name)?;
        if self
            .claim(&entry, &name)?
            .and_then(|c| c.key_of(project))
            .is_none()
        {
            return Ok(None);
        }
        Ok(self
            .layout
            .secret(&entry)
            .map_err(|e| self.error("read", &name, e))?
            .map(Secret::new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_need_the_key_name() {
        let layout = KeyringLayout::native();
        let store = KeyringStore::checked("keyplan".into(), "{project}".into(), layout, None);
        assert!(store.is_err());
        let store = KeyringStore::checked(String::new(), "{key}".into(), layout, None);
        assert!(store.is_err());
    }
}
