//! Creating keys: make each under its pending name, store its secret, then give it its
//! declared name; reconcile a lost answer by listing, never by resending blindly.

use futures_util::future::join_all;

use crate::live::{AdminApi, ApiError};
use crate::model::{CreatedKey, KeyUpdate, LiveKey, NewKey, Project};
use crate::plan::{KeyAfter, pending_name};
use crate::render::words::{project_label, quoted};
use crate::secrets::SecretRecord;

use super::{
    CREATE_TRIES, Creating, Creation, Making, Outcome, Race, Run, Work, insisting, is_named, lock,
    quota::is_quota, store_error,
};

impl<'a, A: AdminApi> Run<'a, A> {
    pub(super) async fn creates(&self, creates: &[Creating<'a>]) -> Vec<Outcome> {
        self.per_project(creates, |c| c.0, |group| self.create_project(group))
            .await
    }

    /// A project's creates, then one listing to settle races with other runs.
    /// At its key quota, the project's unwanted keys are deleted to make room and the refused
    /// creates tried once more (`quota.rs`).
    async fn create_project(&self, creates: Vec<Creating<'a>>) -> Vec<Outcome> {
        let mut made = join_all(
            creates
                .iter()
                .map(|&(index, after)| self.create_change(index, after)),
        )
        .await;
        let mut outcomes = self.retry_at_quota(&mut made).await;
        let settled = self.settle_races(made).await;
        outcomes.extend(settled.into_iter().map(|(work, creation, race)| {
            match self.settled(Making::Key, work, creation, race) {
                Ok(work) => self.done(work),
                Err(finished) => finished,
            }
        }));
        outcomes
    }

    async fn create_change(&self, index: usize, after: &KeyAfter) -> (Work, Creation) {
        let _permit = self.permits.acquire().await.ok();
        let mut work = self.start(index);
        let creation = self.create_again(&mut work, after).await;
        (work, creation)
    }

    /// Makes the change's key (its first try, or again once room was made under the quota).
    /// The caller holds a permit.
    pub(super) async fn create_again(&self, work: &mut Work, after: &KeyAfter) -> Creation {
        let change = &self.plan.changes[work.outcome.index];
        let new = NewKey {
            name: after.name.clone(),
            roles: after.roles.clone(),
        };
        self.create_and_store(work, &change.project, &new).await
    }

    /// Creates a key under its pending name, stores its secret under the declared name, then
    /// gives the key its declared name. Reconciles a lost answer by listing (never by
    /// resending blindly) and checks for a concurrent run's key before writing the store.
    pub(super) async fn create_and_store(
        &self,
        work: &mut Work,
        project: &Project,
        new: &NewKey,
    ) -> Creation {
        let index = work.outcome.index;
        let pending = NewKey {
            name: pending_name(&new.name),
            roles: new.roles.clone(),
        };
        match self.api.create_key(&project.id, &pending).await {
            Ok(created) => return self.store_new(work, project, created, &new.name).await,
            Err(ApiError::OutcomeUnknown { detail }) => {
                self.progress(
                    index,
                    format!(
                        "the create's answer was lost ({detail}); listing the project to find out"
                    ),
                );
            }
            Err(error) => {
                work.at_quota = is_quota(&error);
                return Creation::Failed(format!(
                    "failed to create key {}: {error}",
                    quoted(&new.name)
                ));
            }
        }
        // Every further try follows a listing that found no key of this name without a stored
        // secret (or deleted it), so none is a blind resend.
        for tries in 1..CREATE_TRIES {
            if let Err(error) = self.clean_up_lost_create(work, project, &new.name).await {
                return Creation::Failed(error);
            }
            self.progress(index, "trying the create once more");
            match self.api.create_key(&project.id, &pending).await {
                Ok(created) => return self.store_new(work, project, created, &new.name).await,
                Err(ApiError::OutcomeUnknown { detail }) if tries + 1 == CREATE_TRIES => {
                    let cleanup = self
                        .clean_up_lost_create(work, project, &new.name)
                        .await
                        .err()
                        .map(|e| format!("; {e}"))
                        .unwrap_or_default();
                    return Creation::Failed(format!(
                        "failed to create key {}: the answer was lost {CREATE_TRIES} times \
                         ({detail}); not trying again{cleanup}",
                        quoted(&new.name)
                    ));
                }
                Err(ApiError::OutcomeUnknown { detail }) => {
                    self.progress(
                        index,
                        format!(
                            "the create's answer was lost again ({detail}); listing the project \
                             to find out"
                        ),
                    );
                }
                Err(error) => {
                    return Creation::Failed(format!(
                        "failed to create key {} on try {}: {error}",
                        quoted(&new.name),
                        tries + 1
                    ));
                }
            }
        }
        Creation::Failed(format!(
            "failed to create key {}: no try left",
            quoted(&new.name)
        ))
    }

    /// After a create with an unknown outcome: deletes each key of that name or its pending
    /// name that appeared since the plan, that this run did not create and whose secret the
    /// store does not hold. Such a key is the lost create's (still pending: it never got its
    /// name) or a key nobody can use: its secret is gone.
    pub(super) async fn clean_up_lost_create(
        &self,
        work: &mut Work,
        project: &Project,
        name: &str,
    ) -> Result<(), String> {
        let listing = insisting(|| self.api.list_keys(&project.id)).await;
        let shown = quoted(name);
        let keys = listing.map_err(|error| {
            format!(
                "failed to create key {shown}: the answer was lost, and listing {} to check \
                 failed: {error}; run `keyplan plan` to see whether a key {shown} exists \
                 without a stored secret",
                project_label(project)
            )
        })?;
        let held = self.held(project, name).await.map_err(|error| {
            format!(
                "failed to create key {shown}: the answer was lost, and the secret store could \
                     not say which key it holds: {}",
                store_error(&error)
            )
        })?;
        let lost: Vec<&LiveKey> = keys
            .iter()
            .filter(|k| {
                is_named(k, name)
                    && !self.is_known(&project.id, &k.id)
                    && held.as_ref() != Some(&k.id)
            })
            .collect();
        for key in lost {
            // Another run may have stored this key's secret since the listing: look again right
            // before deleting, to keep that window as short as one call.
            if let Ok(Some(now_held)) = self.held(project, name).await
                && now_held == key.id
            {
                continue;
            }
            let deleting = insisting(|| self.api.delete_key(&key.id)).await;
            match deleting {
                Ok(_) => {
                    work.deleted_foreign = true;
                    let message = format!(
                        "deleted key {} of the lost create: its secret was lost with the answer",
                        key.id
                    );
                    self.progress(work.outcome.index, message.clone());
                    work.note(message);
                }
                Err(error) => {
                    self.orphan(
                        work,
                        project,
                        &key.id,
                        "its create's answer (and secret) was lost and deleting it failed",
                    );
                    return Err(format!(
                        "failed to create key {shown}: the answer was lost, and deleting the key \
                         {} it left without a secret failed: {error}",
                        key.id
                    ));
                }
            }
        }
        Ok(())
    }

    /// Stores a just-created (still pending) key's secret under the declared `name`, then
    /// renames the key to `name`. If an earlier-created key of the same name from another run
    /// already holds the store's entry, this run lost a race: its key is deleted instead of
    /// overwriting the winner's secret. If the store refuses, the key is deleted.
    pub(super) async fn store_new(
        &self,
        work: &mut Work,
        project: &Project,
        created: CreatedKey,
        name: &str,
    ) -> Creation {
        let index = work.outcome.index;
        let key = &created.key;
        lock(&self.created).insert(key.id.clone());
        self.progress(
            index,
            format!("created key {} as {}", key.id, quoted(&key.name)),
        );

        if let Some(winner) = self.stored_racer_wins(project, key, name).await {
            return match self.api.delete_key(&key.id).await {
                Ok(_) => Creation::Lost { winner },
                Err(error) => {
                    self.orphan(work, project, &key.id, "another run's key of the same name was kept and deleting this duplicate failed");
                    Creation::Failed(format!(
                        "another keyplan run created {} at the same time and its key {winner} \
                         was kept, but deleting this run's duplicate {} failed: {error}",
                        quoted(name),
                        key.id
                    ))
                }
            };
        }

        let record = SecretRecord {
            project: project.clone(),
            key_id: key.id.clone(),
            key_name: name.to_owned(),
            created_at: key.created_at.unwrap_or_else(jiff::Timestamp::now),
        };
        match self.store_put(record, &created.secret).await {
            Ok(()) => {
                self.progress(
                    index,
                    format!(
                        "stored its secret in {}",
                        self.store.location(project, name)
                    ),
                );
                self.name_new(work, project, created, name).await
            }
            Err(store_err) => {
                let refused = format!(
                    "the secret store ({}) refused the secret of the new key {}: {}",
                    self.store.describe(),
                    key.id,
                    store_error(&store_err)
                );
                match self.api.delete_key(&key.id).await {
                    Ok(_) => Creation::Failed(format!(
                        "{refused}; deleted that key again, so no key exists whose secret nobody has"
                    )),
                    Err(error) => {
                        self.orphan(
                            work,
                            project,
                            &key.id,
                            "the secret store refused its secret and deleting it failed",
                        );
                        Creation::Failed(format!(
                            "{refused}; deleting that key failed too ({error}): key {} is ORPHANED, \
                             delete it by hand",
                            key.id
                        ))
                    }
                }
            }
        }
    }

    /// The last step of a create: the key, its secret stored, takes its declared name.
    ///
    /// If the key is gone (404), another run deleted it while cleaning up after its own lost
    /// create: this run's secret is useless and the other run's key is the one to keep. Any
    /// other failure leaves the key pending with its secret stored, which the next plan
    /// finishes.
    pub(super) async fn name_new(
        &self,
        work: &mut Work,
        project: &Project,
        mut created: CreatedKey,
        name: &str,
    ) -> Creation {
        let id = created.key.id.clone();
        let update = KeyUpdate {
            name: Some(name.to_owned()),
            roles: None,
        };
        match self.api.update_key(&id, &update).await {
            Ok(_) => {
                self.progress(
                    work.outcome.index,
                    format!("renamed key {id} to {}", quoted(name)),
                );
                created.key.name = name.to_owned();
                Creation::Stored(created)
            }
            Err(error) if error.is_not_found() => {
                created.key.name = name.to_owned();
                match self.lost_own_key(project, &created, &[]).await {
                    Race::Lost { winner } => Creation::Lost { winner },
                    Race::Failed(error) => Creation::Failed(error),
                    Race::None | Race::Won { .. } => Creation::Failed(format!(
                        "the new key {id} was deleted by someone else right after it was created; \
                         re-run apply"
                    )),
                }
            }
            Err(error) => Creation::Unfinished(format!(
                "created key {id} and stored its secret in {} under {}, but renaming the key \
                 from {} to {} failed: {error}; the secret is safe, and the next \
                 `keyplan apply` finishes the rename",
                self.store.describe(),
                quoted(name),
                quoted(&created.key.name),
                quoted(name)
            )),
        }
    }
}
