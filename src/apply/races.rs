//! Settling races with other keyplan runs that created the same key at the same time: both
//! keep the earliest-created key, and the later run deletes its own once the store holds the
//! winner's secret.

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::future::join_all;

use crate::live::AdminApi;
use crate::model::{CreatedKey, KeyId, LiveKey, Project, Secret};
use crate::plan::pending_name;
use crate::render::words::{project_label, quoted};

use super::{
    Creation, Making, Outcome, RACE_WAITS_MS, Race, Run, Work, insisting, is_named, join_ids,
    race_order,
};

impl<A: AdminApi> Run<'_, A> {
    /// The key id the store already holds under `name`, when it is another run's live key
    /// of that name (or its pending name), created after the plan, that wins over `ours`:
    /// because it is earlier, or because ours is already gone (deleted by that run's clean-up
    /// after a lost create). Writing our secret then would overwrite the secret of the key
    /// that stays.
    pub(super) async fn stored_racer_wins(
        &self,
        project: &Project,
        ours: &LiveKey,
        name: &str,
    ) -> Option<KeyId> {
        let held = self.held(project, name).await.ok().flatten()?;
        if held == ours.id || self.is_known(&project.id, &held) {
            return None;
        }
        // A stale entry (its key deleted since) or a key under another name does not count.
        let theirs = self.api.describe_key(&held).await.ok()?;
        if !is_named(&theirs, name) || theirs.project_id != project.id {
            return None;
        }
        if race_order(&theirs) < race_order(ours) {
            return Some(held);
        }
        match self.api.describe_key(&ours.id).await {
            Err(error) if error.is_not_found() => Some(held),
            _ => None,
        }
    }

    /// Where a change stands once its create's races are settled: `Ok` with the new key
    /// recorded (and a note when this run won a race) if the change goes on, else its finished
    /// outcome, failed or skipped.
    pub(super) fn settled(
        &self,
        making: Making,
        mut work: Work,
        creation: Creation,
        race: Race,
    ) -> Result<Work, Outcome> {
        let verb = making.verb();
        match (creation, race) {
            (Creation::Failed(error) | Creation::Unfinished(error), _) => {
                Err(self.fail(work, error))
            }
            (Creation::Lost { winner }, _) | (Creation::Stored(_), Race::Lost { winner }) => {
                let name = self.new_name(work.outcome.index);
                let reason = format!(
                    "another keyplan run {verb} {} at the same time; kept {winner}{}",
                    quoted(&name),
                    making.after_losing()
                );
                Err(self.skip(work, reason))
            }
            (Creation::Stored(_), Race::Failed(error)) => {
                Err(self.fail(work, format!("{error}{}", making.after_failing())))
            }
            (Creation::Stored(created), race) => {
                if let Race::Won { others } = race {
                    work.note(format!(
                        "another keyplan run {verb} {} at the same time; kept {} (removed {})",
                        quoted(&created.key.name),
                        created.key.id,
                        join_ids(&others)
                    ));
                }
                work.outcome.new_key = Some(created.key.id.clone());
                Ok(work)
            }
        }
    }

    /// After a project's creates: lists it once and, for each key this run created, settles a
    /// race with other runs that created a key of the same name since the plan. Every run
    /// decides the same way: the earliest key (by `created_at`, then id) stays.
    pub(super) async fn settle_races(
        &self,
        made: Vec<(Work, Creation)>,
    ) -> Vec<(Work, Creation, Race)> {
        let stored: Vec<&CreatedKey> = made
            .iter()
            .filter_map(|(_, c)| match c {
                Creation::Stored(created) => Some(created),
                _ => None,
            })
            .collect();
        let Some(first) = stored.first() else {
            return made.into_iter().map(|(w, c)| (w, c, Race::None)).collect();
        };
        let project_id = first.key.project_id.clone();
        let listing = {
            let _permit = self.permits.acquire().await.ok();
            self.api.list_keys(&project_id).await
        };
        let keys = match listing {
            Ok(keys) => keys,
            Err(error) => {
                self.warn(format!(
                    "could not list project {project_id} after creating keys, so a concurrent keyplan \
                     run creating the same keys would go unnoticed: {error}; run `keyplan plan` to check"
                ));
                return made.into_iter().map(|(w, c)| (w, c, Race::None)).collect();
            }
        };
        // Side by side: a loser may wait seconds for a winner's secret, and each key's wait is
        // its own (the permits still bound what is in flight).
        let keys = &keys;
        join_all(made.into_iter().map(|(mut work, creation)| async move {
            let race = match &creation {
                Creation::Stored(created) => {
                    let _permit = self.permits.acquire().await.ok();
                    self.settle_race(&mut work, created, keys).await
                }
                _ => Race::None,
            };
            (work, creation, race)
        }))
        .await
    }

    /// Settles one key this run created against keys of the same name that other runs created
    /// since the plan. The earliest key (by `created_at`, then id) stays; a later key's run
    /// deletes its own, but only once the store holds the winner's secret (so a key from a
    /// lost create, which its own run is about to delete, never makes another run give up).
    /// An earlier key whose secret no store holds after every wait is taken over: deleted, as
    /// the next plan would, and ours stays (`take_over`).
    pub(super) async fn settle_race(
        &self,
        work: &mut Work,
        ours: &CreatedKey,
        keys: &[LiveKey],
    ) -> Race {
        let project = &self.plan.changes[work.outcome.index].project;
        let mut listing = keys.to_vec();
        let mut others: BTreeSet<KeyId> = BTreeSet::new();
        // Keys this run took over (deleted): a listing that still shows one is not news.
        let mut taken: BTreeSet<KeyId> = BTreeSet::new();
        let mut took_over = false;
        let mut attempt = 0;
        loop {
            // Another run's key counts from its create on, while it still has its pending name.
            let racers: Vec<LiveKey> = listing
                .iter()
                .filter(|k| {
                    is_named(k, &ours.key.name)
                        && !self.is_known(&project.id, &k.id)
                        && !taken.contains(&k.id)
                })
                .cloned()
                .collect();
            others.extend(racers.iter().map(|k| k.id.clone()));
            let mut mine = match listing.iter().find(|k| k.id == ours.key.id) {
                Some(mine) => mine.clone(),
                None => match self.api.describe_key(&ours.key.id).await {
                    // Missing from the listing but there: trust the key itself.
                    Ok(key) => key,
                    Err(error) if error.is_not_found() => {
                        return self.lost_own_key(project, ours, &racers).await;
                    }
                    Err(_) => ours.key.clone(),
                },
            };
            // The store and the messages know the key by its declared name, whatever a
            // listing taken around the rename says.
            mine.name.clone_from(&ours.key.name);
            let winner = racers
                .iter()
                .chain(std::iter::once(&mine))
                .min_by(|a, b| race_order(a).cmp(&race_order(b)))
                .map_or_else(|| mine.id.clone(), |k| k.id.clone());
            let last = attempt == RACE_WAITS_MS.len();
            if winner == mine.id {
                // Write ours again if a loser's write replaced it: that is what lets the losers
                // see that this key won.
                let contested = !others.is_empty();
                if let Err(error) = self
                    .ensure_stored(work, project, &mine, &ours.secret, contested)
                    .await
                {
                    return Race::Failed(error);
                }
                if racers.is_empty() {
                    return if others.is_empty() {
                        Race::None
                    } else {
                        Race::Won {
                            others: others.into_iter().collect(),
                        }
                    };
                }
                if last {
                    return self
                        .outlast(work, project, &mine, &ours.secret, &racers, others)
                        .await;
                }
            } else {
                let held = self.held(project, &mine.name).await;
                if matches!(&held, Ok(Some(held)) if *held == winner) {
                    return self.lose(work, project, &mine, winner).await;
                }
                if last {
                    if took_over {
                        return Race::Failed(format!(
                            "another key named {} ({winner}) is still in {} beside this run's \
                             new key {} after the earlier ones whose secret no store held \
                             were deleted, and no store holds its secret either; kept this \
                             run's key (its secret is stored): run `keyplan plan` to see what \
                             is left",
                            quoted(&mine.name),
                            project_label(project),
                            mine.id
                        ));
                    }
                    let earlier = pending_earlier(&racers, &mine);
                    if !self.store.can_read_back() || earlier.is_empty() {
                        return self.keep_both(project, &mine, &racers, &winner);
                    }
                    took_over = true;
                    match self.take_over(work, project, &mine, &earlier).await {
                        Ok(deleted) => taken.extend(deleted),
                        Err(error) => return Race::Failed(error),
                    }
                    // Look again at once (no more waiting): ours is now the earliest, unless
                    // a key's secret was stored meanwhile, which then wins.
                    if let Ok(now) = self.api.list_keys(&project.id).await {
                        listing = now;
                    }
                    continue;
                }
            }
            tokio::time::sleep(Duration::from_millis(RACE_WAITS_MS[attempt])).await;
            attempt += 1;
            if let Ok(now) = self.api.list_keys(&project.id).await {
                listing = now;
            }
        }
    }

    /// Nothing to take over: the earlier key has its declared name (its run stored the secret
    /// before renaming it and may be settling this race itself, deleting ours: taking its key
    /// too could leave neither), or the store cannot read back (a command), so its silence
    /// proves nothing. Keep both and warn; the next plan keeps the key whose secret is stored.
    /// With a store that cannot read back, a winner still pending after every wait is a run
    /// that died before storing, which this run cannot settle alone: the change fails, so no
    /// run exits 0 with that pair left.
    fn keep_both(
        &self,
        project: &Project,
        mine: &LiveKey,
        racers: &[LiveKey],
        winner: &KeyId,
    ) -> Race {
        let pending = racers
            .iter()
            .any(|k| &k.id == winner && k.name == pending_name(&mine.name));
        if pending && !self.store.can_read_back() {
            return Race::Failed(format!(
                "another key named {} ({winner}) appeared in {} while this run created {} and \
                 is still pending: the run that created it was interrupted before storing its \
                 secret, and {} cannot say whose secret it holds; kept both: run `keyplan plan` \
                 (it deletes the pending key) and apply again",
                quoted(&mine.name),
                project_label(project),
                mine.id,
                self.store.describe()
            ));
        }
        self.warn(format!(
            "another key named {} ({winner}) appeared in {} while this run created {}, and \
             the secret store does not show its secret; kept both: if the run that created it \
             is still at work, it deletes this run's key; `keyplan plan` shows what is left",
            quoted(&mine.name),
            project_label(project),
            mine.id
        ));
        Race::None
    }

    /// Ours is later than `earlier` keys still under the pending name whose secret no store
    /// holds, after every wait: the runs that created them died (killed with the create still
    /// in flight at the server, which committed it after this run's plan) or stalled before
    /// their store write. Such a key is one the next plan deletes (a pending key whose secret
    /// is not stored), so this run deletes it now and ends with the state reached, instead of
    /// leaving a pair for a third run. A key whose secret
    /// the store holds by the time of its delete is left alone (it then wins the race). Returns
    /// the keys deleted; a delete that keeps failing is an error: the change is not done.
    pub(super) async fn take_over(
        &self,
        work: &mut Work,
        project: &Project,
        mine: &LiveKey,
        earlier: &[&LiveKey],
    ) -> Result<Vec<KeyId>, String> {
        let mut deleted = Vec::new();
        for key in earlier {
            // Right before the delete: still pending (its run has not reached its rename, the
            // step before it settles races itself) and its secret still not stored.
            match self.api.describe_key(&key.id).await {
                Ok(now) if now.name == key.name => {}
                _ => continue,
            }
            if let Ok(Some(held)) = self.held(project, &mine.name).await
                && held == key.id
            {
                continue;
            }
            let deleting = insisting(|| self.api.delete_key(&key.id)).await;
            if let Err(error) = deleting {
                return Err(format!(
                    "another key named {} ({}) appeared in {} while this run created {}, no \
                     store holds its secret (the run that created it was interrupted or \
                     stalled), and deleting it failed: {error}; kept this run's key (its secret \
                     is stored): the next plan deletes the other",
                    quoted(&mine.name),
                    key.id,
                    project_label(project),
                    mine.id
                ));
            }
            // Its run, if alive, may still write its useless secret over ours: the final
            // store check waits a moment and writes ours again if so.
            work.deleted_foreign = true;
            let message = format!(
                "deleted key {} named {}, created at the same time by a keyplan run that was \
                 interrupted or stalled: no secret store held its secret",
                key.id,
                quoted(&key.name)
            );
            self.progress(work.outcome.index, message.clone());
            work.note(message);
            deleted.push(key.id.clone());
        }
        Ok(deleted)
    }

    /// This run's new key vanished: another run deleted it (cleaning up after its lost create,
    /// which it then tries again). Its secret must not linger, and it takes no part in the
    /// race; wait a little for the other run's key to show up with its secret stored.
    pub(super) async fn lost_own_key(
        &self,
        project: &Project,
        ours: &CreatedKey,
        racers: &[LiveKey],
    ) -> Race {
        self.remove_quietly(project, &ours.key.id, &ours.key.name)
            .await;
        let mut racers = racers.to_vec();
        for pause in std::iter::once(0).chain(RACE_WAITS_MS) {
            if pause > 0 {
                tokio::time::sleep(Duration::from_millis(pause)).await;
                if let Ok(now) = self.api.list_keys(&project.id).await {
                    racers = now
                        .into_iter()
                        .filter(|k| {
                            is_named(k, &ours.key.name) && !self.is_known(&project.id, &k.id)
                        })
                        .collect();
                }
            }
            let held = self.held(project, &ours.key.name).await;
            if let Ok(Some(held)) = held
                && racers.iter().any(|k| k.id == held)
            {
                return Race::Lost { winner: held };
            }
        }
        // No store holds the secret of any key that took ours's place: nothing shows another
        // run made it, and nobody can use it. A key this run cannot find is not done.
        match racers
            .iter()
            .min_by(|a, b| race_order(a).cmp(&race_order(b)))
        {
            Some(other) => Race::Failed(format!(
                "the new key {} cannot be found right after it was created, and no secret store \
                 holds the secret of key {} of the same name that is there instead; its \
                 secret was removed from the store again; run `keyplan plan` (it deletes a key \
                 left without its secret) and apply again",
                ours.key.id, other.id
            )),
            None => Race::Failed(format!(
                "the new key {} cannot be found right after it was created (deleted by someone \
                 else, or the server answered with an id it does not know); its secret was \
                 removed from the store again; re-run apply",
                ours.key.id
            )),
        }
    }

    /// Ours is later than a key whose secret the store holds: delete ours, and its store entry
    /// if the store still names it.
    pub(super) async fn lose(
        &self,
        work: &mut Work,
        project: &Project,
        mine: &LiveKey,
        winner: KeyId,
    ) -> Race {
        match self.api.delete_key(&mine.id).await {
            Ok(_) => {
                self.remove_quietly(project, &mine.id, &mine.name).await;
                Race::Lost { winner }
            }
            Err(error) => {
                self.orphan(
                    work,
                    project,
                    &mine.id,
                    "another run's key of the same name was kept and deleting this duplicate failed",
                );
                Race::Failed(format!(
                    "another keyplan run created {} at the same time and kept {winner}, but \
                     deleting this run's duplicate {} failed: {error}",
                    quoted(&mine.name),
                    mine.id
                ))
            }
        }
    }

    /// Ours won but other runs' keys remain after every wait (a run that crashed or stalled):
    /// both runs agree those go, so delete them, then make sure ours is what is stored.
    pub(super) async fn outlast(
        &self,
        work: &mut Work,
        project: &Project,
        mine: &LiveKey,
        secret: &Secret,
        racers: &[LiveKey],
        mut others: BTreeSet<KeyId>,
    ) -> Race {
        for racer in racers {
            if let Err(error) = self.api.delete_key(&racer.id).await {
                self.warn(format!(
                    "another keyplan run left a duplicate key {} named {} in {}, and deleting \
                     it failed: {error}; the next plan shows it",
                    racer.id,
                    quoted(&mine.name),
                    project_label(project)
                ));
                others.remove(&racer.id);
            }
        }
        match self.ensure_stored(work, project, mine, secret, true).await {
            Ok(()) => Race::Won {
                others: others.into_iter().collect(),
            },
            Err(error) => Race::Failed(error),
        }
    }
}

/// The racers earlier than `mine` still under the pending name: their run never stored a
/// secret. A key under the declared name had its secret stored by a run that got that far and
/// may be settling this race itself (deleting ours), so it is never taken over.
fn pending_earlier<'k>(racers: &'k [LiveKey], mine: &LiveKey) -> Vec<&'k LiveKey> {
    racers
        .iter()
        .filter(|k| race_order(k) < race_order(mine) && k.name == pending_name(&mine.name))
        .collect()
}
