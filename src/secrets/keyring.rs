//! The keyring store: each secret in an entry of the OS keyring (the freedesktop Secret Service
//! on Linux), through the keyring-core `Entry` API.
//!
//! An entry is named by service (default `keyplan`) and user (the entry template, default
//! `{project}/{key}`); its secret is the raw key secret, so `secret-tool lookup service keyplan
//! username prod/ci` reads it. Which key the secret belongs to is recorded in the item's
//! attributes (`keyplan_key_id`, `keyplan_project_id`, ...): a rename or removal acts only on an
//! entry recording that very key id, and a put never overwrites an entry recording a key of
//! another project (two projects may share a name).
//!
//! Secret Service items are created with their attributes in one call, but keyring-core writes
//! the secret first and the attributes after. When an entry already holds another key's secret,
//! its key id is cleared before the new secret is written, so a crash in between leaves an entry
//! that claims no key (read as "not held") rather than one that pairs a key id with another
//! key's secret.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use keyring_core::{CredentialStore, Entry, Error};

use super::{SecretRecord, SecretStore, StoreError, entry_name};
use crate::model::{KeyId, Project, Secret};

const ATTR_KEY_ID: &str = "keyplan_key_id";
const ATTR_KEY_NAME: &str = "keyplan_key_name";
const ATTR_PROJECT_ID: &str = "keyplan_project_id";
const ATTR_PROJECT_NAME: &str = "keyplan_project_name";
const ATTR_CREATED_AT: &str = "keyplan_created_at";

const NO_SERVICE_HINT: &str =
    "start a Secret Service (gnome-keyring) or use store = \"file\" in [secrets]";
const LOCKED_HINT: &str = "unlock the keyring (log in to the desktop session, or run \
                           `gnome-keyring-daemon --unlock` with its password), or use store = \"file\"";

/// The OS keyring, service and entry naming as configured. Connects on first use.
pub struct KeyringStore {
    service: String,
    template: String,
    backend: Mutex<Option<Arc<CredentialStore>>>,
}

impl std::fmt::Debug for KeyringStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyringStore")
            .field("service", &self.service)
            .field("entry", &self.template)
            .finish_non_exhaustive()
    }
}

/// What an entry's attributes say about whose secret it holds.
struct Claim {
    key_id: Option<String>,
    project_id: Option<String>,
    created_at: Option<String>,
}

impl Claim {
    fn from_attributes(attributes: &HashMap<String, String>) -> Self {
        let get = |name: &str| attributes.get(name).filter(|v| !v.is_empty()).cloned();
        Claim {
            key_id: get(ATTR_KEY_ID),
            project_id: get(ATTR_PROJECT_ID),
            created_at: get(ATTR_CREATED_AT),
        }
    }

    fn is(&self, project: &Project, key_id: &KeyId) -> bool {
        self.key_id.as_deref() == Some(key_id.as_str())
            && self.project_id.as_deref() == Some(project.id.as_str())
    }

    /// The key id, when the entry records a key of this project.
    fn key_of(&self, project: &Project) -> Option<KeyId> {
        if self.project_id.as_deref() == Some(project.id.as_str()) {
            self.key_id.clone().map(KeyId)
        } else {
            None
        }
    }
}

impl KeyringStore {
    /// A store using the platform keyring. Nothing is contacted until the first call.
    pub fn new(service: String, entry: String) -> Result<Self, StoreError> {
        if !cfg!(target_os = "linux") {
            return Err(StoreError::new(
                "the keyring store is not supported on this platform in this build",
            )
            .with_hint("use store = \"file\" or store = \"command\" in [secrets]"));
        }
        Self::checked(service, entry)
    }

    fn checked(service: String, entry: String) -> Result<Self, StoreError> {
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
            backend: Mutex::new(None),
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
        let backend = connect()?;
        *slot = Some(Arc::clone(&backend));
        Ok(backend)
    }

    fn entry(&self, name: &str) -> Result<Entry, StoreError> {
        let backend = self.backend()?;
        let label = format!("{}: {name}", self.service);
        let modifiers = HashMap::from([("label", label.as_str())]);
        Entry::new_in_store_with_modifiers(&backend, &self.service, name, &modifiers)
            .map_err(|e| self.error("open entry", name, e))
    }

    /// The entry's claim, or `None` when the entry does not exist.
    fn claim(&self, entry: &Entry, name: &str) -> Result<Option<Claim>, StoreError> {
        match entry.get_attributes() {
            Ok(attributes) => Ok(Some(Claim::from_attributes(&attributes))),
            Err(Error::NoEntry) => Ok(None),
            Err(e) => Err(self.error("read", name, e)),
        }
    }

    /// Writes `secret` and the attributes of `record` into `entry`, then reads both back.
    fn write(
        &self,
        entry: &Entry,
        name: &str,
        existing: Option<&Claim>,
        attributes: &HashMap<&str, &str>,
        secret: &str,
    ) -> Result<(), StoreError> {
        let key_id = attributes.get(ATTR_KEY_ID).copied().unwrap_or_default();
        if existing.is_some_and(|c| c.key_id.as_deref().is_some_and(|id| id != key_id)) {
            // Unclaim first: see the module comment.
            entry
                .update_attributes(&HashMap::from([(ATTR_KEY_ID, "")]))
                .map_err(|e| self.error("update", name, e))?;
        }
        entry
            .set_password(secret)
            .map_err(|e| self.error("write", name, e))?;
        entry
            .update_attributes(attributes)
            .map_err(|e| self.error("update", name, e))?;
        let stored = entry
            .get_password()
            .map_err(|e| self.error("read back", name, e))?;
        let claim = self.claim(entry, name)?;
        if stored != secret || claim.and_then(|c| c.key_id).as_deref() != Some(key_id) {
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
        map_error(&format!("failed to {action} {place}"), error)
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
        let created_at = record.created_at.to_string();
        let attributes = HashMap::from([
            (ATTR_KEY_ID, record.key_id.as_str()),
            (ATTR_KEY_NAME, record.key_name.as_str()),
            (ATTR_PROJECT_ID, record.project.id.as_str()),
            (ATTR_PROJECT_NAME, record.project.name.as_str()),
            (ATTR_CREATED_AT, created_at.as_str()),
        ]);
        self.write(
            &entry,
            &name,
            existing.as_ref(),
            &attributes,
            secret.expose(),
        )
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
        let new_attributes = |created_at: &str| -> Vec<(&'static str, String)> {
            vec![
                (ATTR_KEY_ID, key_id.to_string()),
                (ATTR_KEY_NAME, to.to_owned()),
                (ATTR_PROJECT_ID, project.id.to_string()),
                (ATTR_PROJECT_NAME, project.name.clone()),
                (ATTR_CREATED_AT, created_at.to_owned()),
            ]
        };
        if from_name == to_name {
            // The template does not use the changed name: only the record changes.
            if !holds(&from_claim) {
                return Ok(false);
            }
            let created_at = from_claim.and_then(|c| c.created_at).unwrap_or_default();
            let owned = new_attributes(&created_at);
            let attributes: HashMap<&str, &str> =
                owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
            from_entry
                .update_attributes(&attributes)
                .map_err(|e| self.error("update", &from_name, e))?;
            return Ok(true);
        }
        let to_entry = self.entry(&to_name)?;
        let to_claim = self.claim(&to_entry, &to_name)?;
        if !holds(&from_claim) {
            // Moved already (an earlier run stopped after writing the new entry and deleting
            // the old one), or never held.
            return Ok(holds(&to_claim));
        }
        if let Some(claim) = to_claim.as_ref().filter(|c| !c.is(project, key_id))
            && (claim.key_id.is_some() || claim.project_id.is_some())
        {
            let owner = claim.key_id.as_deref().unwrap_or("of another project");
            return Err(StoreError::new(format!(
                "cannot move the secret of key {key_id} to keyring entry {to_name:?} (service \
                 {:?}): that entry holds the secret of key {owner}",
                self.service
            ))
            .with_hint(format!(
                "move or delete that entry first (e.g. `secret-tool clear service {} username \
                 {to_name}`) if its key no longer exists",
                self.service
            )));
        }
        let secret = from_entry
            .get_password()
            .map_err(|e| self.error("read", &from_name, e))?;
        let created_at = from_claim.and_then(|c| c.created_at).unwrap_or_default();
        let owned = new_attributes(&created_at);
        let attributes: HashMap<&str, &str> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
        // Write the new entry and read it back before the old one goes.
        self.write(&to_entry, &to_name, to_claim.as_ref(), &attributes, &secret)?;
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
        match entry.get_password() {
            Ok(value) => Ok(Some(Secret::new(value))),
            Err(Error::NoEntry) => Ok(None),
            Err(e) => Err(self.error("read", &name, e)),
        }
    }
}

/// Builds the platform's keyring-core store.
#[cfg(target_os = "linux")]
fn connect() -> Result<Arc<CredentialStore>, StoreError> {
    let store = zbus_secret_service_keyring_store::Store::new()
        .map_err(|e| map_error("failed to connect to the Secret Service", e))?;
    Ok(store)
}

#[cfg(not(target_os = "linux"))]
fn connect() -> Result<Arc<CredentialStore>, StoreError> {
    Err(
        StoreError::new("the keyring store is not supported on this platform in this build")
            .with_hint("use store = \"file\" or store = \"command\" in [secrets]"),
    )
}

/// Turns a keyring-core error into a store error with a hint. Never formats the payload of
/// `BadEncoding`/`BadDataFormat`: those carry the stored bytes, i.e. a secret.
fn map_error(context: &str, error: Error) -> StoreError {
    match error {
        Error::NoStorageAccess(cause) => StoreError::new(format!(
            "{context}: the keyring is locked or refused access ({cause})"
        ))
        .with_hint(LOCKED_HINT),
        Error::PlatformFailure(cause) => {
            StoreError::new(format!("{context}: no working Secret Service ({cause})"))
                .with_hint(NO_SERVICE_HINT)
        }
        Error::NoEntry => StoreError::new(format!("{context}: no such entry")),
        Error::BadEncoding(_) => StoreError::new(format!("{context}: the value is not UTF-8"))
            .with_hint("this entry was not written by keyplan; move or delete it"),
        Error::BadDataFormat(_, _) => {
            StoreError::new(format!("{context}: the stored data is malformed"))
        }
        Error::Ambiguous(entries) => StoreError::new(format!(
            "{context}: {} keyring items match this service and entry",
            entries.len()
        ))
        .with_hint("delete the duplicates (e.g. with seahorse or `secret-tool clear`)"),
        Error::NotSupportedByStore(what) => StoreError::new(format!(
            "{context}: the keyring does not support what keyplan needs ({what})"
        ))
        .with_hint("keyplan records key ids in item attributes; use store = \"file\""),
        other => StoreError::new(format!("{context}: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(message: &str) -> keyring_core::error::PlatformError {
        message.to_owned().into()
    }

    #[test]
    fn errors_carry_actionable_hints() {
        let locked = map_error("failed to write", Error::NoStorageAccess(boxed("Prompt")));
        assert!(
            locked
                .hint
                .as_deref()
                .is_some_and(|h| h.contains("unlock the keyring"))
        );
        let absent = map_error("failed to connect", Error::PlatformFailure(boxed("no bus")));
        let hint = absent.hint.unwrap_or_default();
        assert!(
            hint.contains("gnome-keyring") && hint.contains("store = \"file\""),
            "{hint}"
        );
    }

    #[test]
    fn errors_never_show_stored_bytes() {
        let error = map_error(
            "failed to read",
            Error::BadEncoding(b"pcsk_\xffsecret".to_vec()),
        );
        assert!(!error.message.contains("secret"), "{}", error.message);
        let error = map_error(
            "failed to read",
            Error::BadDataFormat(b"pcsk_secret".to_vec(), boxed("bad")),
        );
        assert!(!error.message.contains("pcsk"), "{}", error.message);
    }

    #[test]
    fn templates_need_the_key_name() {
        let store = KeyringStore::checked("keyplan".into(), "{project}".into());
        assert!(store.is_err());
        let store = KeyringStore::checked(String::new(), "{key}".into());
        assert!(store.is_err());
    }
}
