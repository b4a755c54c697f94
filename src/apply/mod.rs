//! Executes a [`Plan`] through the [`AdminApi`] trait, storing each new secret before moving on,
//! and reports progress as [`Event`]s and the result as an [`ApplyReport`].
//!
//! Phases run in order: creates, updates, replaces, deletes. Within a phase the changes run
//! concurrently, bounded by [`ApplyOptions::concurrency`]. The rules that keep secrets safe
//! (docs/design.md, "The apply algorithm", gives the reasons):
//! - a new key is created under [`crate::plan::pending_name`], its secret stored under the
//!   declared name, and only then is the key renamed to the declared name: a run killed
//!   half-way leaves a pending key the next plan finishes or deletes, never a key under the
//!   declared name whose secret nobody holds;
//! - a new key's secret is in the store before its change is reported done; if the store
//!   refuses it, the key is deleted again (no key exists whose secret nobody has);
//! - a create whose answer was lost is never resent blindly: the project is listed, a key of that
//!   name that appeared since the plan and whose secret the store does not hold is deleted, and
//!   the create is tried again, at most `CREATE_TRIES` times in all;
//! - two runs that created the same key at once both keep the earliest-created one, and the
//!   later run deletes its own once the store holds the winner's secret (the same decision in
//!   both processes);
//! - a replace renames the old key to [`crate::plan::retiring_name`] first, so a run killed
//!   half-way leaves a state the next plan finishes without guessing;
//! - a change whose prerequisite failed is skipped, never run.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::live::{AdminApi, ApiError};
use crate::model::{CreatedKey, KeyId, KeyUpdate, LiveKey, NewKey, Project, ProjectId, Secret};
use crate::plan::{
    Action, Cause, Change, KeyBefore, Plan, pending_name, pending_stem, retiring_name,
    retiring_stem,
};
use crate::secrets::{SecretRecord, SecretStore, StoreError};

mod report;

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "test fakes")]
mod fake;
#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests;

pub use report::{ApplyReport, Outcome, OutcomeStatus, change_label};

/// How an apply runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOptions {
    /// At most this many changes in flight at once (0 counts as 1).
    pub concurrency: usize,
    /// Keep a deleted key's stored secret instead of removing it from the store.
    pub keep_deleted_secrets: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            concurrency: 4,
            keep_deleted_secrets: false,
        }
    }
}

/// Progress while applying, for a bar on a terminal or plain lines in CI. Never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Work on change `index` of the plan began.
    Started {
        index: usize,
        change: Box<Change>,
    },
    /// A step of change `index` finished, e.g. "created key <id>".
    Progress {
        index: usize,
        message: String,
    },
    Done {
        index: usize,
    },
    Failed {
        index: usize,
        error: String,
    },
    Skipped {
        index: usize,
        reason: String,
    },
    /// Something a user must see that belongs to no single change, or must not be missed
    /// (an orphaned key).
    Warning(String),
}

impl Event {
    /// One plain line for this event, naming the change by `project/key`.
    pub fn line(&self, plan: &Plan) -> String {
        let label = |index: &usize| {
            plan.changes
                .get(*index)
                .map_or_else(|| format!("change #{index}"), change_label)
        };
        match self {
            Event::Started { index, change } => {
                let verb = match change.action {
                    Action::Create => "creating",
                    Action::Update => "updating",
                    Action::Replace => "replacing",
                    Action::Delete => "deleting",
                };
                format!("{}: {verb}", label(index))
            }
            Event::Progress { index, message } => format!("{}: {message}", label(index)),
            Event::Done { index } => format!("{}: done", label(index)),
            Event::Failed { index, error } => format!("{}: failed: {error}", label(index)),
            Event::Skipped { index, reason } => format!("{}: skipped: {reason}", label(index)),
            Event::Warning(message) => format!("warning: {message}"),
        }
    }
}

/// The pauses between re-listings while a race between two runs settles: the winner waits for
/// the losers to delete their keys (then deletes what is left), a loser waits for the winner's
/// secret to be stored. Shorter in unit tests, which race on in-memory fakes.
const RACE_WAITS_MS: [u64; 6] = if cfg!(test) {
    [5, 10, 20, 40, 80, 160]
} else {
    [50, 100, 200, 400, 800, 1600]
};

/// After a lost create's clean-up deleted keys, how long to wait before checking that the store
/// holds the new secret: a concurrent run whose key was deleted may be writing its own over it.
const CLEANUP_GRACE_MS: u64 = if cfg!(test) { 30 } else { 300 };

/// How many times in all one run sends a create whose answer keeps getting lost. Each resend
/// comes after a listing that cleaned up what the lost one left, so it is never blind; the bound
/// keeps a network that loses every answer from looping.
pub const CREATE_TRIES: usize = 4;

/// The pauses between the rounds in which a lost create's clean-up lists the project and
/// deletes the key whose secret was lost (each round with the client's own retries). Giving up
/// leaves a key nobody holds the secret of, which no later plan can tell from a declared key, so
/// the clean-up insists longer than an ordinary request. Shorter in unit tests.
const CLEANUP_WAITS_MS: [u64; 2] = if cfg!(test) { [5, 10] } else { [1000, 3000] };

/// Applies `plan`: creates, then updates, then replaces, then deletes.
///
/// Returns one outcome per plan change, in plan order. Never panics on API or store failures;
/// they become failed outcomes, and the changes that depend on them are skipped.
pub async fn apply<A: AdminApi>(
    api: &A,
    store: &Arc<dyn SecretStore>,
    plan: &Plan,
    options: &ApplyOptions,
    on_event: &(dyn Fn(Event) + Send + Sync),
) -> ApplyReport {
    let run = Run::new(api, store, plan, options, on_event);
    let of = |action: Action| -> Vec<usize> {
        plan.changes
            .iter()
            .enumerate()
            .filter(|(_, c)| c.action == action)
            .map(|(i, _)| i)
            .collect()
    };

    let mut outcomes: Vec<Option<Outcome>> = (0..plan.changes.len()).map(|_| None).collect();
    let mut record = |done: Vec<Outcome>| {
        for outcome in done {
            if let Some(slot) = outcomes.get_mut(outcome.index) {
                *slot = Some(outcome);
            }
        }
    };

    record(run.creates(&of(Action::Create)).await);
    record(run.updates(&of(Action::Update)).await);
    record(run.replaces(&of(Action::Replace)).await);
    record(run.deletes(&of(Action::Delete)).await);

    let outcomes = outcomes
        .into_iter()
        .enumerate()
        .map(|(index, outcome)| {
            outcome.unwrap_or_else(|| {
                let action = plan.changes.get(index).map_or(Action::Create, |c| c.action);
                let mut missing = Outcome::new(index, action);
                missing.status = OutcomeStatus::Failed("internal error: change was not run".into());
                missing
            })
        })
        .collect();
    ApplyReport {
        outcomes,
        warnings: run.take_warnings(),
    }
}

/// One apply in progress: the borrowed parts and the little shared state the phases need.
struct Run<'a, A> {
    api: &'a A,
    store: Arc<dyn SecretStore>,
    plan: &'a Plan,
    options: &'a ApplyOptions,
    on_event: &'a (dyn Fn(Event) + Send + Sync),
    permits: Semaphore,
    /// Per project, every key id that was live when the plan was made, as far as the plan
    /// tells: the keys its changes touch and its unmanaged keys. A key of a planned name that
    /// is not among them appeared since (a lost create, a concurrent run).
    known: BTreeMap<ProjectId, BTreeSet<KeyId>>,
    /// Every key id this run created, kept or not.
    created: Mutex<BTreeSet<KeyId>>,
    /// Projects where a change failed: their deletes are skipped.
    failed_projects: Mutex<BTreeSet<ProjectId>>,
    warnings: Mutex<Vec<String>>,
}

/// The state of one change while it runs.
struct Work {
    outcome: Outcome,
    /// A lost create's clean-up deleted keys: a concurrent run whose key was among them may
    /// still be writing its secret, so the final store check waits a moment first.
    deleted_foreign: bool,
}

impl Work {
    fn note(&mut self, note: impl Into<String>) {
        self.outcome.notes.push(note.into());
    }
}

/// How getting a new key made and its secret stored ended.
enum Creation {
    /// The key exists and its secret is in the store. The secret stays in memory until races
    /// with other runs are settled, in case the store must be written again.
    Stored(CreatedKey),
    /// Another keyplan run created the same key first; this run's key was deleted.
    Lost { winner: KeyId },
    /// Nothing usable was made; orphans, if any, are already recorded in the outcome.
    Failed(String),
    /// The key exists and its secret is stored under the declared name, but renaming it from
    /// its pending name failed: the next plan finishes it. The message says so.
    Unfinished(String),
}

/// How a race with another run, seen in the listing after the creates, was settled.
enum Race {
    /// No other run created this key.
    None,
    /// Ours is the earliest and was kept; the others' keys are gone.
    Won { others: Vec<KeyId> },
    /// Another run's key is earlier; ours was deleted.
    Lost { winner: KeyId },
    /// Something failed while settling; the message says what.
    Failed(String),
}

/// What a create is making, for the words of its race outcomes: a key of its own, or the
/// replacement of an old key (which stays until the new one is safe).
#[derive(Debug, Clone, Copy)]
enum Making {
    Key,
    Replacement,
}

impl Making {
    /// What another run did that raced with this one.
    fn verb(self) -> &'static str {
        match self {
            Making::Key => "created",
            Making::Replacement => "replaced",
        }
    }

    /// Said after a lost race: who deletes the old key.
    fn after_losing(self) -> &'static str {
        match self {
            Making::Key => "",
            Making::Replacement => ", and that run deletes the old key",
        }
    }

    /// Said after a failure to settle: the old key is still there.
    fn after_failing(self) -> &'static str {
        match self {
            Making::Key => "",
            Making::Replacement => "; the old key was not deleted",
        }
    }
}

impl<'a, A: AdminApi> Run<'a, A> {
    fn new(
        api: &'a A,
        store: &Arc<dyn SecretStore>,
        plan: &'a Plan,
        options: &'a ApplyOptions,
        on_event: &'a (dyn Fn(Event) + Send + Sync),
    ) -> Self {
        let mut known: BTreeMap<ProjectId, BTreeSet<KeyId>> = BTreeMap::new();
        for change in &plan.changes {
            if let Some(before) = &change.before {
                known
                    .entry(change.project.id.clone())
                    .or_default()
                    .insert(before.id.clone());
            }
        }
        for unmanaged in &plan.unmanaged {
            known
                .entry(unmanaged.project.id.clone())
                .or_default()
                .insert(unmanaged.key.id.clone());
        }
        Run {
            api,
            store: Arc::clone(store),
            plan,
            options,
            on_event,
            permits: Semaphore::new(options.concurrency.max(1)),
            known,
            created: Mutex::new(BTreeSet::new()),
            failed_projects: Mutex::new(BTreeSet::new()),
            warnings: Mutex::new(Vec::new()),
        }
    }

    // ----- events and bookkeeping -----

    fn emit(&self, event: Event) {
        (self.on_event)(event);
    }

    fn progress(&self, index: usize, message: impl Into<String>) {
        self.emit(Event::Progress {
            index,
            message: message.into(),
        });
    }

    fn warn(&self, message: String) {
        self.emit(Event::Warning(message.clone()));
        lock(&self.warnings).push(message);
    }

    fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.warnings))
    }

    fn start(&self, index: usize) -> Work {
        let change = &self.plan.changes[index];
        self.emit(Event::Started {
            index,
            change: Box::new(change.clone()),
        });
        Work {
            outcome: Outcome::new(index, change.action),
            deleted_foreign: false,
        }
    }

    fn done(&self, mut work: Work) -> Outcome {
        work.outcome.status = OutcomeStatus::Done;
        self.emit(Event::Done {
            index: work.outcome.index,
        });
        work.outcome
    }

    fn fail(&self, mut work: Work, error: String) -> Outcome {
        if let Some(change) = self.plan.changes.get(work.outcome.index) {
            lock(&self.failed_projects).insert(change.project.id.clone());
        }
        self.emit(Event::Failed {
            index: work.outcome.index,
            error: error.clone(),
        });
        work.outcome.status = OutcomeStatus::Failed(error);
        work.outcome
    }

    fn skip(&self, mut work: Work, reason: String) -> Outcome {
        self.emit(Event::Skipped {
            index: work.outcome.index,
            reason: reason.clone(),
        });
        work.outcome.status = OutcomeStatus::Skipped(reason);
        work.outcome
    }

    /// Records a key that exists with no stored secret and could not be deleted, loudly.
    fn orphan(&self, work: &mut Work, project: &Project, id: &KeyId, why: &str) {
        work.outcome.orphaned.push(id.clone());
        self.warn(format!(
            "ORPHANED KEY {id} in project {} ({}): {why}; no secret store holds its secret, so \
             nobody can use it: delete it in the Pinecone console or with `pc api-key delete`",
            project.name, project.id
        ));
    }

    /// The key id the store holds under this name. A store that cannot read back (a command)
    /// always answers "none", which must not be taken for "our secret was removed".
    async fn held(&self, project: &Project, name: &str) -> Result<Option<KeyId>, StoreError> {
        let (project, name) = (project.clone(), name.to_owned());
        self.on_store(move |store| store.held_key_id(&project, &name))
            .await
    }

    fn is_known(&self, project: &ProjectId, id: &KeyId) -> bool {
        self.known.get(project).is_some_and(|ids| ids.contains(id))
            || lock(&self.created).contains(id)
    }

    // ----- phases -----

    async fn creates(&self, indices: &[usize]) -> Vec<Outcome> {
        self.per_project(indices, |idx| self.create_project(idx))
            .await
    }

    /// A project's creates, then one listing to settle races with other runs.
    async fn create_project(&self, indices: Vec<usize>) -> Vec<Outcome> {
        let made = join_all(indices.iter().map(|&index| self.create_change(index))).await;
        let settled = self.settle_races(made).await;
        settled
            .into_iter()
            .map(
                |(work, creation, race)| match self.settled(Making::Key, work, creation, race) {
                    Ok(work) => self.done(work),
                    Err(finished) => finished,
                },
            )
            .collect()
    }

    async fn create_change(&self, index: usize) -> (Work, Creation) {
        let _permit = self.permits.acquire().await.ok();
        let mut work = self.start(index);
        let change = &self.plan.changes[index];
        let Some(after) = &change.after else {
            return (
                work,
                Creation::Failed("malformed plan: a create without a key to create".into()),
            );
        };
        let new = NewKey {
            name: after.name.clone(),
            roles: after.roles.clone(),
        };
        let creation = self
            .create_and_store(&mut work, &change.project, &new)
            .await;
        (work, creation)
    }

    async fn updates(&self, indices: &[usize]) -> Vec<Outcome> {
        join_all(indices.iter().map(|&index| self.update_change(index))).await
    }

    async fn update_change(&self, index: usize) -> Outcome {
        let _permit = self.permits.acquire().await.ok();
        let mut work = self.start(index);
        let change = &self.plan.changes[index];
        let (Some(before), Some(after)) = (&change.before, &change.after) else {
            return self.fail(
                work,
                "malformed plan: an update needs the key before and after".into(),
            );
        };
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
        if !finishing && change.causes.contains(&Cause::InterruptedCreate) {
            return self.fail(
                work,
                format!(
                    "the secret store no longer holds the secret of key {} under {}, so the key \
                     keeps its pending name {:?}; run `keyplan plan` again (it deletes the key)",
                    before.id, after.name, before.name
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
            match moving {
                Ok(true) => {
                    moved = true;
                    self.progress(
                        index,
                        format!(
                            "moved its stored secret from {} to {}",
                            before.name, after.name
                        ),
                    );
                }
                Ok(false) => {
                    work.note("no stored secret to move (keyplan did not create this key)");
                }
                Err(error) => {
                    return self.fail(
                        work,
                        format!(
                            "failed to move the stored secret of key {} from {} to {} in {}: {}; \
                             the key was not renamed and its secret is still stored under {}",
                            before.id,
                            before.name,
                            after.name,
                            self.store.describe(),
                            store_error(&error),
                            before.name
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
                        after.name
                    );
                }
            }
            return self.fail(work, message);
        }
        self.progress(index, format!("updated key {}", before.id));
        if finishing {
            work.note(format!(
                "finished its interrupted create: its secret was already stored under {}",
                after.name
            ));
        }
        self.done(work)
    }

    async fn replaces(&self, indices: &[usize]) -> Vec<Outcome> {
        self.per_project(indices, |idx| self.replace_project(idx))
            .await
    }

    /// A project's replaces: retire and create (with its secret stored) for each, one listing
    /// to settle races, then delete each old key.
    async fn replace_project(&self, indices: Vec<usize>) -> Vec<Outcome> {
        let made = join_all(indices.iter().map(|&index| self.replace_start(index))).await;
        let settled = self.settle_races(made).await;
        let finishing = settled
            .into_iter()
            .map(|(work, creation, race)| async move {
                match self.settled(Making::Replacement, work, creation, race) {
                    Ok(work) => {
                        let change = &self.plan.changes[work.outcome.index];
                        let _permit = self.permits.acquire().await.ok();
                        self.retire_old(work, change).await
                    }
                    Err(finished) => finished,
                }
            });
        join_all(finishing).await
    }

    /// Steps 1 to 3 of a replace: rename the old key to its retiring name, create the new key,
    /// store its secret. On a failure the old key gets its name back and stays.
    async fn replace_start(&self, index: usize) -> (Work, Creation) {
        let _permit = self.permits.acquire().await.ok();
        let mut work = self.start(index);
        let change = &self.plan.changes[index];
        let (Some(before), Some(after)) = (&change.before, &change.after) else {
            return (
                work,
                Creation::Failed("malformed plan: a replace needs the key before and after".into()),
            );
        };
        let retired = if retiring_stem(&before.name).is_some() {
            work.note(format!(
                "finishing an interrupted replace: the old key is already named {:?}",
                before.name
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
                    "renamed old key {} to {:?}",
                    before.id,
                    retiring_name(&before.name)
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
                "{error}; the old key {} stays under the name {:?} until then",
                before.id,
                retiring_name(retiring_stem(&before.name).unwrap_or(&before.name))
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
                        format!("renamed old key {} back to {:?}", before.id, before.name),
                    ),
                    Err(back_error) => {
                        let _ = write!(
                            error,
                            " under the name {:?} (renaming it back failed: {back_error}); \
                             the next apply finishes the replace",
                            retiring_name(&before.name)
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
    async fn replaced_elsewhere(
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
    async fn retire_old(&self, mut work: Work, change: &Change) -> Outcome {
        let Some(before) = &change.before else {
            return self.fail(work, "malformed plan: a replace without the old key".into());
        };
        let index = work.outcome.index;
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
        self.remove_secret(&mut work, &change.project, &before.id, &old_names(change))
            .await;
        self.done(work)
    }

    async fn deletes(&self, indices: &[usize]) -> Vec<Outcome> {
        join_all(indices.iter().map(|&index| self.delete_change(index))).await
    }

    async fn delete_change(&self, index: usize) -> Outcome {
        let change = &self.plan.changes[index];
        if lock(&self.failed_projects).contains(&change.project.id) {
            let work = Work {
                outcome: Outcome::new(index, Action::Delete),
                deleted_foreign: false,
            };
            return self.skip(
                work,
                format!(
                    "an earlier change in project {} failed; keys are deleted only once the keys \
                     that take their place exist (re-run apply)",
                    change.project.name
                ),
            );
        }
        let _permit = self.permits.acquire().await.ok();
        let mut work = self.start(index);
        let Some(before) = &change.before else {
            return self.fail(
                work,
                "malformed plan: a delete without the key to delete".into(),
            );
        };
        match self.api.delete_key(&before.id).await {
            Ok(true) => self.progress(index, format!("deleted key {}", before.id)),
            Ok(false) => work.note(format!("key {} was already gone", before.id)),
            Err(error) => {
                return self.fail(work, format!("failed to delete key {}: {error}", before.id));
            }
        }
        self.remove_secret(&mut work, &change.project, &before.id, &old_names(change))
            .await;
        self.done(work)
    }

    // ----- creating keys -----

    /// Creates a key under its pending name, stores its secret under the declared name, then
    /// gives the key its declared name. Reconciles a lost answer by listing (never by
    /// resending blindly) and checks for a concurrent run's key before writing the store.
    async fn create_and_store(&self, work: &mut Work, project: &Project, new: &NewKey) -> Creation {
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
                return Creation::Failed(format!("failed to create key {}: {error}", new.name));
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
                        new.name
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
                        new.name,
                        tries + 1
                    ));
                }
            }
        }
        Creation::Failed(format!("failed to create key {}: no try left", new.name))
    }

    /// After a create with an unknown outcome: deletes each key of that name or its pending
    /// name that appeared since the plan, that this run did not create and whose secret the
    /// store does not hold. Such a key is the lost create's (still pending: it never got its
    /// name) or a key nobody can use: its secret is gone.
    async fn clean_up_lost_create(
        &self,
        work: &mut Work,
        project: &Project,
        name: &str,
    ) -> Result<(), String> {
        let mut listing = self.api.list_keys(&project.id).await;
        for wait in CLEANUP_WAITS_MS {
            if listing.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(wait)).await;
            listing = self.api.list_keys(&project.id).await;
        }
        let keys = listing.map_err(|error| {
            format!(
                "failed to create key {name}: the answer was lost, and listing project {} to \
                 check failed: {error}; run `keyplan plan` to see whether a key {name} exists \
                 without a stored secret",
                project.name
            )
        })?;
        let held = self.held(project, name).await.map_err(|error| {
            format!(
                "failed to create key {name}: the answer was lost, and the secret store could \
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
            let mut deleting = self.api.delete_key(&key.id).await;
            for wait in CLEANUP_WAITS_MS {
                if deleting.is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(wait)).await;
                deleting = self.api.delete_key(&key.id).await;
            }
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
                        "failed to create key {name}: the answer was lost, and deleting the key \
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
    async fn store_new(
        &self,
        work: &mut Work,
        project: &Project,
        created: CreatedKey,
        name: &str,
    ) -> Creation {
        let index = work.outcome.index;
        let key = &created.key;
        lock(&self.created).insert(key.id.clone());
        self.progress(index, format!("created key {} as {:?}", key.id, key.name));

        if let Some(winner) = self.stored_racer_wins(project, key, name).await {
            return match self.api.delete_key(&key.id).await {
                Ok(_) => Creation::Lost { winner },
                Err(error) => {
                    self.orphan(work, project, &key.id, "another run's key of the same name was kept and deleting this duplicate failed");
                    Creation::Failed(format!(
                        "another keyplan run created {name} at the same time and its key {winner} \
                         was kept, but deleting this run's duplicate {} failed: {error}",
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
                    format!("stored its secret in {}", self.store.describe()),
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
    async fn name_new(
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
                self.progress(work.outcome.index, format!("renamed key {id} to {name:?}"));
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
                "created key {id} and stored its secret in {} under {name}, but renaming the key \
                 from {:?} to {name:?} failed: {error}; the secret is safe, and the next \
                 `keyplan apply` finishes the rename",
                self.store.describe(),
                created.key.name
            )),
        }
    }

    /// The key id the store already holds under `name`, when it is another run's live key
    /// of that name (or its pending name), created after the plan, that wins over `ours`:
    /// because it is earlier, or because ours is already gone (deleted by that run's clean-up
    /// after a lost create). Writing our secret then would overwrite the secret of the key
    /// that stays.
    async fn stored_racer_wins(
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
    fn settled(
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
                    "another keyplan run {verb} {name} at the same time; kept {winner}{}",
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
                        created.key.name,
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
    async fn settle_races(&self, made: Vec<(Work, Creation)>) -> Vec<(Work, Creation, Race)> {
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
        let mut settled = Vec::with_capacity(made.len());
        for (mut work, creation) in made {
            let race = match &creation {
                Creation::Stored(created) => {
                    let _permit = self.permits.acquire().await.ok();
                    self.settle_race(&mut work, created, &keys).await
                }
                _ => Race::None,
            };
            settled.push((work, creation, race));
        }
        settled
    }

    /// Settles one key this run created against keys of the same name that other runs created
    /// since the plan. The earliest key (by `created_at`, then id) stays; a later key's run
    /// deletes its own, but only once the store holds the winner's secret (so a key from a
    /// lost create, which its own run is about to delete, never makes another run give up).
    async fn settle_race(&self, work: &mut Work, ours: &CreatedKey, keys: &[LiveKey]) -> Race {
        let project = &self.plan.changes[work.outcome.index].project;
        let mut listing = keys.to_vec();
        let mut others: BTreeSet<KeyId> = BTreeSet::new();
        let mut attempt = 0;
        loop {
            // Another run's key counts from its create on, while it still has its pending name.
            let racers: Vec<LiveKey> = listing
                .iter()
                .filter(|k| is_named(k, &ours.key.name) && !self.is_known(&project.id, &k.id))
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
                    self.warn(format!(
                        "another key named {} ({winner}) appeared in project {} while this run \
                         created {}, and no store holds its secret; kept both: the next plan keeps \
                         the one whose secret is stored",
                        mine.name, project.name, mine.id
                    ));
                    return Race::None;
                }
            }
            tokio::time::sleep(Duration::from_millis(RACE_WAITS_MS[attempt])).await;
            attempt += 1;
            if let Ok(now) = self.api.list_keys(&project.id).await {
                listing = now;
            }
        }
    }

    /// This run's new key vanished: another run deleted it (cleaning up after its lost create,
    /// which it then tries again). Its secret must not linger, and it takes no part in the
    /// race; wait a little for the other run's key to show up with its secret stored.
    async fn lost_own_key(&self, project: &Project, ours: &CreatedKey, racers: &[LiveKey]) -> Race {
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
        match racers
            .iter()
            .min_by(|a, b| race_order(a).cmp(&race_order(b)))
        {
            Some(winner) => Race::Lost {
                winner: winner.id.clone(),
            },
            None => Race::Failed(format!(
                "the new key {} was deleted by someone else right after it was created; re-run apply",
                ours.key.id
            )),
        }
    }

    /// Ours is later than a key whose secret the store holds: delete ours, and its store entry
    /// if the store still names it.
    async fn lose(
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
                    mine.name, mine.id
                ))
            }
        }
    }

    /// Ours won but other runs' keys remain after every wait (a run that crashed or stalled):
    /// both runs agree those go, so delete them, then make sure ours is what is stored.
    async fn outlast(
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
                    "another keyplan run left a duplicate key {} named {} in project {}, and \
                     deleting it failed: {error}; the next plan shows it",
                    racer.id, mine.name, project.name
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

    /// Makes sure the store holds `mine`'s secret (another run's late write may have replaced
    /// it). If it cannot be written, the key is deleted: no key stays whose secret nobody has.
    ///
    /// `contested`: another run is known to be at work on this key. An empty answer from the
    /// store then means that run removed what it wrote over ours; otherwise it may only mean
    /// the store cannot read back (a command), and writing again would run it twice.
    async fn ensure_stored(
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

    async fn remove_secret(
        &self,
        work: &mut Work,
        project: &Project,
        id: &KeyId,
        names: &[String],
    ) {
        if self.options.keep_deleted_secrets {
            work.note("kept its stored secret (--keep-deleted-secrets)");
            return;
        }
        let mut removed = false;
        for name in names {
            match self.store_remove(project, id, name).await {
                Ok(true) => removed = true,
                Ok(false) => {}
                Err(error) => {
                    work.note(format!(
                        "failed to remove its stored secret under {name} from {}: {}; remove it by hand",
                        self.store.describe(),
                        store_error(&error)
                    ));
                    return;
                }
            }
        }
        if removed {
            self.progress(
                work.outcome.index,
                format!("removed its stored secret from {}", self.store.describe()),
            );
        } else if names.first().is_some_and(|n| pending_stem(n).is_some()) {
            work.note("no stored secret to remove (its create was interrupted before storing it)");
        } else {
            work.note(
                "no stored secret to remove (keyplan did not create this key, or it was replaced)",
            );
        }
    }

    async fn remove_quietly(&self, project: &Project, id: &KeyId, name: &str) {
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
    async fn on_store<T, F>(&self, call: F) -> Result<T, StoreError>
    where
        F: FnOnce(&dyn SecretStore) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let store = Arc::clone(&self.store);
        match tokio::task::spawn_blocking(move || call(store.as_ref())).await {
            Ok(result) => result,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(_) => Err(StoreError::new(
                "the secret store call was cancelled: keyplan is shutting down",
            )),
        }
    }

    async fn store_put(&self, record: SecretRecord, secret: &Secret) -> Result<(), StoreError> {
        let secret = secret.clone();
        self.on_store(move |store| store.put(&record, &secret))
            .await
    }

    async fn store_rename(
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

    async fn store_remove(
        &self,
        project: &Project,
        id: &KeyId,
        name: &str,
    ) -> Result<bool, StoreError> {
        let (project, id, name) = (project.clone(), id.clone(), name.to_owned());
        self.on_store(move |store| store.remove(&project, &id, &name))
            .await
    }

    // ----- helpers -----

    /// Runs a phase's changes grouped by project, the projects side by side; `phase` gets one
    /// project's changes together (a project's creates settle races with one listing).
    async fn per_project<F, Fut>(&self, indices: &[usize], phase: F) -> Vec<Outcome>
    where
        F: Fn(Vec<usize>) -> Fut,
        Fut: Future<Output = Vec<Outcome>>,
    {
        join_all(self.by_project(indices).into_values().map(phase))
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    fn by_project(&self, indices: &[usize]) -> BTreeMap<ProjectId, Vec<usize>> {
        let mut groups: BTreeMap<ProjectId, Vec<usize>> = BTreeMap::new();
        for &index in indices {
            groups
                .entry(self.plan.changes[index].project.id.clone())
                .or_default()
                .push(index);
        }
        groups
    }

    fn new_name(&self, index: usize) -> String {
        self.plan.changes[index]
            .after
            .as_ref()
            .map_or_else(String::new, |a| a.name.clone())
    }
}

/// The order that settles a race: earliest `created_at`, then smallest id. Both racing runs
/// see the same values in their listings, so both reach the same decision.
fn race_order(key: &LiveKey) -> (Option<jiff::Timestamp>, &KeyId) {
    (key.created_at, &key.id)
}

/// The names a deleted key's secret may be stored under: its live name, for a retiring key
/// the name it had before (and the name the plan gives its replacement), for a pending key
/// the name it was being created under.
fn old_names(change: &Change) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(before) = &change.before {
        names.push(before.name.clone());
        if let Some(stem) = retiring_stem(&before.name).or_else(|| pending_stem(&before.name)) {
            names.push(stem.to_owned());
        }
    }
    if let Some(after) = &change.after {
        names.push(after.name.clone());
    }
    let mut seen = BTreeSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}

/// Whether `key` has the declared `name`, or the pending name a create gives it until its
/// secret is stored.
fn is_named(key: &LiveKey, name: &str) -> bool {
    key.name == name || key.name == pending_name(name)
}

fn store_error(error: &StoreError) -> String {
    match &error.hint {
        Some(hint) => format!("{error} (hint: {hint})"),
        None => error.to_string(),
    }
}

fn join_ids(ids: &[KeyId]) -> String {
    if ids.is_empty() {
        return "nothing".to_owned();
    }
    ids.iter().map(KeyId::as_str).collect::<Vec<_>>().join(", ")
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it (the data here is
/// append-only bookkeeping that stays valid).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Polls every future to completion on the current task and returns their outputs in order.
/// The futures borrow the apply's state, so they cannot be spawned as `'static` tasks.
async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all_ready = true;
        for (future, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => all_ready = false,
                }
            }
        }
        if all_ready {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
