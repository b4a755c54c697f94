//! The secret store's part of an apply: making sure a new secret is stored, removing a deleted
//! key's secret, and running every store call on tokio's blocking pool.

use std::time::Duration;

use crate::live::AdminApi;
use crate::model::{KeyId, LiveKey, Project, Secret};
use crate::plan::{pending_stem, retiring_stem};
use crate::render::words::quoted;
use crate::secrets::{Lifecycle, SecretRecord, SecretStore, StoreError};

use super::{Arc, CLEANUP_GRACE_MS, Run, Work, store_error};

impl<A: AdminApi> Run<'_, A> {
    /// Makes sure the store holds `mine`'s secret (another run's late write may have replaced
    /// it). If it cannot be written, the key is deleted: no key stays whose secret nobody has.
    ///
    /// `contested`: another run is known to be at work on this key. An empty answer from the
    /// store then means that run removed what it wrote over ours; otherwise it may only mean
    /// the store cannot read back (a command), and writing again would run it twice.
    pub(super) async fn ensure_stored(
        &self,
        work: &mut Work,
        project: &Project,
        mine: &LiveKey,
        secret: &Secret,
        contested: bool,
    ) -> Result<(), String> {
        if work.deleted_foreign {
            tokio::time::sleep(Duration::from_millis(CLEANUP_GRACE_MS)).await;
        }
        let contested = contested || work.deleted_foreign;
        match self.held(project, &mine.name).await {
            Ok(Some(held)) if held == mine.id => return Ok(()),
            Ok(None) if !contested && !self.store.can_read_back() => {
                return Ok(());
            }
            _ => {}
        }
        let record = SecretRecord {
            project: project.clone(),
            key_id: mine.id.clone(),
            key_name: mine.name.clone(),
            created_at: mine.created_at.unwrap_or_else(jiff::Timestamp::now),
        };
        let Err(store_err) = self.store_put(record, secret).await else {
            self.progress(
                work.outcome.index,
                format!("wrote the secret of key {} to the store again", mine.id),
            );
            return Ok(());
        };
        let error = format!(
            "the stored secret of key {} was replaced and writing it again failed: {}",
            mine.id,
            store_error(&store_err)
        );
        match self.api.delete_key(&mine.id).await {
            Ok(_) => Err(format!("{error}; deleted the key (re-run apply)")),
            Err(delete_error) => {
                self.orphan(
                    work,
                    project,
                    &mine.id,
                    "its secret could not be stored and deleting it failed",
                );
                Err(format!(
                    "{error}; deleting the key failed too: {delete_error}"
                ))
            }
        }
    }

    // ----- secrets of deleted keys -----

    pub(super) async fn remove_secret(
        &self,
        work: &mut Work,
        project: &Project,
        id: &KeyId,
        names: &[String],
        successor: Option<&str>,
    ) {
        if self.options.keep_deleted_secrets {
            work.note("kept its stored secret (--keep-deleted-secrets)");
            return;
        }
        let Some(first) = names.first() else { return };
        // The name the secret was stored under: a pending or retiring key's declared name.
        let stored_under = retiring_stem(first)
            .or_else(|| pending_stem(first))
            .unwrap_or(first)
            .to_owned();
        let removing = {
            let (project, id, names) = (project.clone(), id.clone(), names.to_vec());
            let (stored, successor) = (stored_under.clone(), successor.map(str::to_owned));
            self.on_store_answer(move |store| {
                let removed =
                    store.remove_left(&project, &id, &names, &stored, successor.as_deref());
                let blind = store.cannot_follow(&project, &stored, Lifecycle::Delete);
                (removed, blind)
            })
            .await
        };
        let (removed, blind) = match removing {
            Ok(answer) => answer,
            Err(error) => (Err(error), Vec::new()),
        };
        // A replace's successor took the name over: there is nothing left there to delete.
        let blind: Vec<String> = if successor == Some(stored_under.as_str()) {
            Vec::new()
        } else {
            blind
        };
        for destination in &blind {
            work.note(format!(
                "{destination} cannot follow deletes: delete the secret of {} there by hand, \
                 or give that store a delete_command",
                quoted(&stored_under)
            ));
        }
        match removed {
            Ok(true) => self.progress(
                work.outcome.index,
                format!(
                    "removed its stored secret from {}",
                    self.store.location(project, &stored_under)
                ),
            ),
            Ok(false) if !blind.is_empty() => {}
            Ok(false) if pending_stem(first).is_some() => {
                work.note(
                    "no stored secret to remove (its create was interrupted before storing it)",
                );
            }
            Ok(false) if successor == Some(stored_under.as_str()) => {
                work.note("no stored secret to remove (the new key's secret took its place)");
            }
            Ok(false) => work.note(
                "no stored secret to remove (keyplan did not create this key, or it was replaced)",
            ),
            Err(error) => work.note(format!(
                "failed to remove its stored secret under {} from {}: {}; remove it by hand",
                quoted(&stored_under),
                self.store.location(project, &stored_under),
                store_error(&error)
            )),
        }
    }

    /// The destinations of `key_name`'s secret that cannot follow `step` (see
    /// [`SecretStore::cannot_follow`]).
    pub(super) async fn follows_not(
        &self,
        project: &Project,
        key_name: &str,
        step: Lifecycle,
    ) -> Vec<String> {
        let (project, name) = (project.clone(), key_name.to_owned());
        self.on_store_answer(move |store| store.cannot_follow(&project, &name, step))
            .await
            .unwrap_or_default()
    }

    /// Notes each destination that cannot follow the rename of `from` to `to`, with what to
    /// do there by hand. Whether there was one.
    pub(super) async fn note_unfollowed_rename(
        &self,
        work: &mut Work,
        project: &Project,
        from: &str,
        to: &str,
    ) -> bool {
        let blind = self.follows_not(project, to, Lifecycle::Rename).await;
        for destination in &blind {
            work.note(format!(
                "{destination} cannot follow renames: its secret is still under {} there; store \
                 it under {} there by hand (and delete the old one), or give that store a \
                 rename_command",
                quoted(from),
                quoted(to)
            ));
        }
        !blind.is_empty()
    }

    pub(super) async fn remove_quietly(&self, project: &Project, id: &KeyId, name: &str) {
        if let Err(error) = self.store_remove(project, id, name).await {
            self.warn(format!(
                "failed to remove the secret of deleted duplicate key {id} from {}: {}",
                self.store.describe(),
                store_error(&error)
            ));
        }
    }

    // ----- the secret store, off the async workers -----

    /// Runs a store call on tokio's blocking pool. Store calls block (a file's fsync, a
    /// keyring's D-Bus round trip); run there, the apply's other changes go on meanwhile, and
    /// the file store's group commit gets the concurrent writes to batch. Arguments are owned
    /// copies: the call may outlive nothing of the caller's.
    pub(super) async fn on_store<T, F>(&self, call: F) -> Result<T, StoreError>
    where
        F: FnOnce(&dyn SecretStore) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.on_store_answer(call).await?
    }

    /// [`Self::on_store`] for a call whose answer is not a `Result` of its own.
    pub(super) async fn on_store_answer<T, F>(&self, call: F) -> Result<T, StoreError>
    where
        F: FnOnce(&dyn SecretStore) -> T + Send + 'static,
        T: Send + 'static,
    {
        let store = Arc::clone(&self.store);
        match tokio::task::spawn_blocking(move || call(store.as_ref())).await {
            Ok(result) => Ok(result),
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(_) => Err(StoreError::new(
                "the secret store call was cancelled: keyplan is shutting down",
            )),
        }
    }

    pub(super) async fn store_put(
        &self,
        record: SecretRecord,
        secret: &Secret,
    ) -> Result<(), StoreError> {
        let secret = secret.clone();
        self.on_store(move |store| store.put(&record, &secret))
            .await
    }

    pub(super) async fn store_rename(
        &self,
        project: &Project,
        id: &KeyId,
        from: &str,
        to: &str,
    ) -> Result<bool, StoreError> {
        let (project, id) = (project.clone(), id.clone());
        let (from, to) = (from.to_owned(), to.to_owned());
        self.on_store(move |store| store.rename(&project, &id, &from, &to))
            .await
    }

    pub(super) async fn store_remove(
        &self,
        project: &Project,
        id: &KeyId,
        name: &str,
    ) -> Result<bool, StoreError> {
        let (project, id, name) = (project.clone(), id.clone(), name.to_owned());
        self.on_store(move |store| store.remove(&project, &id, &name))
            .await
    }
}
