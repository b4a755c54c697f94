//! Updates, replaces and deletes: a rename moves the stored secret first; a replace retires
//! the old key, creates and stores the new one, and only then deletes the old; a delete waits
//! for its project's earlier changes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use futures_util::future::join_all;

use crate::live::AdminApi;
use crate::model::{KeyUpdate, NewKey, Project};
use crate::plan::{Cause, KeyAfter, KeyBefore, pending_name, retiring_name, retiring_stem};
use crate::render::words::{project_label, quoted};

use super::{
    Action, Changing, Creation, Deleting, Making, Outcome, Run, Work, is_named, lock, old_names,
    race_order, store_error,
};

impl<'a, A: AdminApi> Run<'a, A> {
    pub(super) async fn updates(&self, updates: &[Changing<'a>]) -> Vec<Outcome> {
        join_all(
            updates
                .iter()
                .map(|&(index, before, after)| self.update_change(index, before, after)),
        )
        .await
    }

    async fn update_change(&self, index: usize, before: &KeyBefore, after: &KeyAfter) -> Outcome {
        let _permit = self.permits.acquire().await.ok();
        let mut work = self.start(index);
        let change = &self.plan.changes[index];
        let update = KeyUpdate {
            name: (before.name != after.name).then(|| after.name.clone()),
            roles: (before.roles != after.roles).then(|| after.roles.clone()),
        };
        if update.name.is_none() && update.roles.is_none() {
            work.note("nothing to change: the key already matches");
            return self.done(work);
        }
        // Finishing an interrupted create: the secret is already stored under the declared
        // name. The key gets that name only while the store still holds its secret.
        let finishing = before.name == pending_name(&after.name)
            && match self.held(&change.project, &after.name).await {
                Ok(Some(held)) => held == before.id,
                _ => false,
            };
        if !finishing && change.finishes_or_removes_interrupted_create() {
            return self.fail(
                work,
                format!(
                    "the secret store no longer holds the secret of key {} under {}, so the key \
                     keeps its pending name {}; run `keyplan plan` again (it deletes the key)",
                    before.id,
                    quoted(&after.name),
                    quoted(&before.name)
                ),
            );
        }
        // A rename moves the stored secret before the key: a run killed between the two
        // leaves the secret under the name the manifest wants and the key under its old name,
        // which the next plan renames again (its move then finds nothing to move). The other
        // order would leave the key renamed and its secret under the old name, a state no later
        // plan notices.
        let mut moved = false;
        if update.name.is_some() && !finishing {
            let moving = self
                .store_rename(&change.project, &before.id, &before.name, &after.name)
                .await;
            let blind = self
                .note_unfollowed_rename(&mut work, &change.project, &before.name, &after.name)
                .await;
            match moving {
                Ok(true) => {
                    moved = true;
                    self.progress(
                        index,
                        format!(
                            "moved its stored secret from {} to {}",
                            quoted(&before.name),
                            quoted(&after.name)
                        ),
                    );
                }
                Ok(false) if !blind => {
                    work.note("no stored secret to move (keyplan did not create this key)");
                }
                Ok(false) => {}
                Err(error) => {
                    return self.fail(
                        work,
                        format!(
                            "failed to move the stored secret of key {} from {} to {} in {}: {}; \
                             the key was not renamed and its secret is still stored under {}",
                            before.id,
                            quoted(&before.name),
                            quoted(&after.name),
                            self.store.describe(),
                            store_error(&error),
                            quoted(&before.name)
                        ),
                    );
                }
            }
        }
        if let Err(error) = self.api.update_key(&before.id, &update).await {
            let mut message = format!("failed to update key {}: {error}", before.id);
            if moved {
                let back = self
                    .store_rename(&change.project, &before.id, &after.name, &before.name)
                    .await;
                if !matches!(back, Ok(true)) {
                    message = format!(
                        "{message}; its stored secret stays under {} (the next apply renames \
                         the key to match)",
                        quoted(&after.name)
                    );
                }
            }
            return self.fail(work, message);
        }
        self.progress(index, format!("updated key {}", before.id));
        if finishing {
            work.note(format!(
                "finished its interrupted create: its secret was already stored under {}",
                quoted(&after.name)
            ));
        }
        self.done(work)
    }

    pub(super) async fn replaces(&self, replaces: &[Changing<'a>]) -> Vec<Outcome> {
        self.per_project(replaces, |r| r.0, |group| self.replace_project(group))
            .await
    }

    /// A project's replaces: retire and create (with its secret stored) for each, one listing
    /// to settle races, then delete each old key.
    async fn replace_project(&self, replaces: Vec<Changing<'a>>) -> Vec<Outcome> {
        let made = join_all(
            replaces
                .iter()
                .map(|&(index, before, after)| self.replace_start(index, before, after)),
        )
        .await;
        let old: BTreeMap<usize, &KeyBefore> = replaces
            .iter()
            .map(|&(index, before, _)| (index, before))
            .collect();
        let settled = self.settle_races(made).await;
        let finishing = settled.into_iter().map(|(work, creation, race)| {
            let old = &old;
            async move {
                match self.settled(Making::Replacement, work, creation, race) {
                    Ok(work) => {
                        let before = old[&work.outcome.index];
                        let _permit = self.permits.acquire().await.ok();
                        self.retire_old(work, before).await
                    }
                    Err(finished) => finished,
                }
            }
        });
        join_all(finishing).await
    }

    /// Steps 1 to 3 of a replace: rename the old key to its retiring name, create the new key,
    /// store its secret. On a failure the old key gets its name back and stays.
    async fn replace_start(
        &self,
        index: usize,
        before: &KeyBefore,
        after: &KeyAfter,
    ) -> (Work, Creation) {
        let _permit = self.permits.acquire().await.ok();
        let mut work = self.start(index);
        let change = &self.plan.changes[index];
        let retired = if retiring_stem(&before.name).is_some() {
            work.note(format!(
                "finishing an interrupted replace: the old key is already named {}",
                quoted(&before.name)
            ));
            false
        } else {
            let update = KeyUpdate {
                name: Some(retiring_name(&before.name)),
                roles: None,
            };
            if let Err(error) = self.api.update_key(&before.id, &update).await {
                if error.is_not_found() {
                    return (
                        work,
                        self.replaced_elsewhere(&change.project, before, &after.name)
                            .await,
                    );
                }
                let error = format!(
                    "failed to rename the old key {} to its retiring name before replacing it: {error}",
                    before.id
                );
                return (work, Creation::Failed(error));
            }
            self.progress(
                index,
                format!(
                    "renamed old key {} to {}",
                    before.id,
                    quoted(&retiring_name(&before.name))
                ),
            );
            true
        };
        let new = NewKey {
            name: after.name.clone(),
            roles: after.roles.clone(),
        };
        let creation = self
            .create_and_store(&mut work, &change.project, &new)
            .await;
        if let Creation::Unfinished(error) = creation {
            // The store's entry under the name now holds the new key's secret: the old key
            // must not get the name back. The next plan renames the new key and deletes the
            // old one.
            let error = format!(
                "{error}; the old key {} stays under the name {} until then",
                before.id,
                quoted(&retiring_name(
                    retiring_stem(&before.name).unwrap_or(&before.name)
                ))
            );
            return (work, Creation::Failed(error));
        }
        if let Creation::Failed(error) = creation {
            let mut error = format!("{error}; the old key {} was kept", before.id);
            if retired {
                let back = KeyUpdate {
                    name: Some(before.name.clone()),
                    roles: None,
                };
                match self.api.update_key(&before.id, &back).await {
                    Ok(_) => self.progress(
                        index,
                        format!(
                            "renamed old key {} back to {}",
                            before.id,
                            quoted(&before.name)
                        ),
                    ),
                    Err(back_error) => {
                        let _ = write!(
                            error,
                            " under the name {} (renaming it back failed: {back_error}); \
                             the next apply finishes the replace",
                            quoted(&retiring_name(&before.name))
                        );
                    }
                }
            }
            return (work, Creation::Failed(error));
        }
        (work, creation)
    }

    /// The old key of a replace vanished before this run touched it. If a key of the new name
    /// appeared since the plan, another keyplan run did this replace; otherwise the plan is
    /// stale and nothing is guessed.
    pub(super) async fn replaced_elsewhere(
        &self,
        project: &Project,
        before: &KeyBefore,
        name: &str,
    ) -> Creation {
        let stale = format!(
            "the old key {} no longer exists: the keys changed since the plan; run `keyplan plan` again",
            before.id
        );
        let Ok(keys) = self.api.list_keys(&project.id).await else {
            return Creation::Failed(stale);
        };
        keys.iter()
            .filter(|k| is_named(k, name) && !self.is_known(&project.id, &k.id))
            .min_by(|a, b| race_order(a).cmp(&race_order(b)))
            .map_or(Creation::Failed(stale), |k| Creation::Lost {
                winner: k.id.clone(),
            })
    }

    /// Steps 4 and 5 of a replace: delete the old key, remove its stored secret.
    async fn retire_old(&self, mut work: Work, before: &KeyBefore) -> Outcome {
        let index = work.outcome.index;
        let change = &self.plan.changes[index];
        // rotation_overlap: the old key stays under its retiring name; a later plan deletes
        // it once the overlap has passed since the new key's creation.
        if let Some(overlap) = change.causes.iter().find_map(|c| match c {
            Cause::KeepsOldKey { overlap } => Some(overlap),
            _ => None,
        }) {
            work.note(format!(
                "kept the old key {} under its retiring name for {overlap} (rotation_overlap); \
                 the first apply after that deletes it",
                before.id
            ));
            return self.done(work);
        }
        match self.api.delete_key(&before.id).await {
            Ok(true) => self.progress(index, format!("deleted old key {}", before.id)),
            Ok(false) => work.note(format!("the old key {} was already gone", before.id)),
            Err(error) => {
                return self.fail(
                    work,
                    format!(
                        "the new key is in place and its secret stored, but deleting the old key {} \
                         failed: {error}; the next apply deletes it",
                        before.id
                    ),
                );
            }
        }
        let successor = change.after().map(|after| after.name.as_str());
        self.remove_secret(
            &mut work,
            &change.project,
            &before.id,
            &old_names(change),
            successor,
        )
        .await;
        self.done(work)
    }

    pub(super) async fn deletes(&self, deletes: &[Deleting<'a>]) -> Vec<Outcome> {
        let early = lock(&self.deleted_early).clone();
        join_all(
            deletes
                .iter()
                .filter(|(index, _)| !early.contains(index))
                .map(|&(index, before)| self.delete_change(index, before)),
        )
        .await
    }

    async fn delete_change(&self, index: usize, before: &KeyBefore) -> Outcome {
        let change = &self.plan.changes[index];
        if lock(&self.failed_projects).contains(&change.project.id) {
            let work = Work {
                outcome: Outcome::new(index, Action::Delete),
                deleted_foreign: false,
                at_quota: false,
            };
            return self.skip(
                work,
                format!(
                    "an earlier change in {} failed; keys are deleted only once the keys that \
                     take their place exist (re-run apply)",
                    project_label(&change.project)
                ),
            );
        }
        let _permit = self.permits.acquire().await.ok();
        self.delete_now(self.start(index), before).await
    }

    /// Deletes the key and removes its stored secret; the caller decided it may go now.
    pub(super) async fn delete_now(&self, mut work: Work, before: &KeyBefore) -> Outcome {
        let index = work.outcome.index;
        let change = &self.plan.changes[index];
        match self.api.delete_key(&before.id).await {
            Ok(true) => self.progress(index, format!("deleted key {}", before.id)),
            Ok(false) => work.note(format!("key {} was already gone", before.id)),
            Err(error) => {
                return self.fail(work, format!("failed to delete key {}: {error}", before.id));
            }
        }
        self.remove_secret(
            &mut work,
            &change.project,
            &before.id,
            &old_names(change),
            None,
        )
        .await;
        self.done(work)
    }
}
