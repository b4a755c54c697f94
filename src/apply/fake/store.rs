//! The fake secret store: a map several stores may share, with store faults.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::model::{KeyId, Project, ProjectId, Secret};
use crate::secrets::{SecretRecord, SecretStore, StoreError};

use super::Journal;
use super::api::FakeOrg;

#[derive(Debug, Clone)]
struct Entry {
    key_id: KeyId,
    secret: Secret,
}

/// A secret store over a map that several stores may share (as two keyplan processes share
/// one keyring). Entries are keyed by (project id, key name), like keyring entries.
#[derive(Debug, Clone)]
pub struct FakeStore {
    entries: Arc<Mutex<BTreeMap<(ProjectId, String), Entry>>>,
    journal: Arc<Journal>,
    /// Refuse this many puts from now on.
    pub refuse_puts: Arc<AtomicUsize>,
    pub tag: &'static str,
    /// After a put of this name, the newest other key of that name in this organisation
    /// writes its secret over it (a racing run's late write).
    clobber: Option<(Arc<FakeOrg>, String)>,
    clobbered: Arc<std::sync::atomic::AtomicBool>,
    /// Like a command store: writes, but cannot say which key it holds.
    pub blind: bool,
    /// Right after the first put, the entry vanishes (another run wrote over it, then removed
    /// what it wrote).
    pub erase_first_put: Arc<std::sync::atomic::AtomicBool>,
}

impl FakeStore {
    pub fn new(journal: &Arc<Journal>) -> Self {
        FakeStore {
            entries: Arc::default(),
            journal: Arc::clone(journal),
            refuse_puts: Arc::default(),
            tag: "",
            clobber: None,
            clobbered: Arc::default(),
            blind: false,
            erase_first_put: Arc::default(),
        }
    }

    /// This store, with another run's write landing on the first put of `name`.
    pub fn clobbering_with_twins_of(&self, org: &Arc<FakeOrg>, name: &str) -> Self {
        FakeStore {
            clobber: Some((Arc::clone(org), name.to_owned())),
            ..self.clone()
        }
    }

    /// Another store over the same entries (another process on the same keyring).
    pub fn sharing(&self, tag: &'static str) -> Self {
        FakeStore {
            tag,
            ..self.clone()
        }
    }

    pub fn insert(&self, project: &Project, name: &str, key_id: &KeyId, secret: &str) {
        self.entries.lock().unwrap().insert(
            (project.id.clone(), name.to_owned()),
            Entry {
                key_id: key_id.clone(),
                secret: Secret::new(secret),
            },
        );
    }

    pub fn held(&self, project: &Project, name: &str) -> Option<(KeyId, String)> {
        self.entries
            .lock()
            .unwrap()
            .get(&(project.id.clone(), name.to_owned()))
            .map(|e| (e.key_id.clone(), e.secret.expose().to_owned()))
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }

    fn log(&self, line: &str) {
        self.journal.push(format!("{}{line}", self.tag));
    }
}

impl SecretStore for FakeStore {
    fn describe(&self) -> String {
        "fake store".to_owned()
    }

    fn probe(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn put(&self, record: &SecretRecord, secret: &Secret) -> Result<(), StoreError> {
        let refused = self
            .refuse_puts
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if refused {
            self.log(&format!(
                "put {} {} refused",
                record.key_name, record.key_id
            ));
            return Err(StoreError::new("the keyring is locked").with_hint("unlock it and re-run"));
        }
        self.entries.lock().unwrap().insert(
            (record.project.id.clone(), record.key_name.clone()),
            Entry {
                key_id: record.key_id.clone(),
                secret: secret.clone(),
            },
        );
        self.log(&format!("put {} {}", record.key_name, record.key_id));
        if self.erase_first_put.swap(false, Ordering::SeqCst) {
            self.entries
                .lock()
                .unwrap()
                .remove(&(record.project.id.clone(), record.key_name.clone()));
            self.log(&format!("erase {} (the other run)", record.key_name));
        }
        if let Some((org, name)) = &self.clobber
            && record.key_name == *name
            && !self.clobbered.swap(true, Ordering::SeqCst)
        {
            let twin = org
                .keys_named_or_pending(name)
                .into_iter()
                .filter(|k| k.id != record.key_id)
                .max_by_key(|k| k.created_at);
            if let Some(twin) = twin {
                let secret = org.issued_secret(&twin.id).unwrap();
                self.insert(&record.project, name, &twin.id, &secret);
                self.log(&format!("put {name} {} (the other run)", twin.id));
            }
        }
        Ok(())
    }

    fn rename(
        &self,
        project: &Project,
        key_id: &KeyId,
        from: &str,
        to: &str,
    ) -> Result<bool, StoreError> {
        let mut entries = self.entries.lock().unwrap();
        let from_key = (project.id.clone(), from.to_owned());
        let moved = match entries.get(&from_key) {
            Some(entry) if &entry.key_id == key_id => {
                let entry = entries.remove(&from_key).unwrap();
                entries.insert((project.id.clone(), to.to_owned()), entry);
                true
            }
            _ => false,
        };
        drop(entries);
        self.log(&format!("rename {key_id} {from} -> {to} moved={moved}"));
        Ok(moved)
    }

    fn remove(
        &self,
        project: &Project,
        key_id: &KeyId,
        key_name: &str,
    ) -> Result<bool, StoreError> {
        let mut entries = self.entries.lock().unwrap();
        let slot = (project.id.clone(), key_name.to_owned());
        let removed = match entries.get(&slot) {
            Some(entry) if &entry.key_id == key_id => {
                entries.remove(&slot);
                true
            }
            _ => false,
        };
        drop(entries);
        self.log(&format!("remove {key_name} {key_id} removed={removed}"));
        Ok(removed)
    }

    fn can_read_back(&self) -> bool {
        !self.blind
    }

    fn held_key_id(&self, project: &Project, key_name: &str) -> Result<Option<KeyId>, StoreError> {
        if self.blind {
            return Ok(None);
        }
        Ok(self.held(project, key_name).map(|(id, _)| id))
    }

    fn get(&self, project: &Project, key_name: &str) -> Result<Option<Secret>, StoreError> {
        Ok(self.held(project, key_name).map(|(_, s)| Secret::new(s)))
    }
}
