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
//!   both processes); an earlier key still pending, its secret still not stored after the waits
//!   (its run was killed with the create in flight), is deleted instead, as the next plan would;
//! - a replace renames the old key to [`crate::plan::retiring_name`] first, so a run killed
//!   half-way leaves a state the next plan finishes without guessing;
//! - a change whose prerequisite failed is skipped, never run.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use tokio::sync::Semaphore;

use crate::live::AdminApi;
use crate::lock::lock;
use crate::model::{CreatedKey, KeyId, LiveKey, Project, ProjectId};
use crate::plan::{
    Action, ApprovedPlan, Change, ChangeKind, KeyAfter, KeyBefore, Plan, pending_name,
    pending_stem, retiring_stem,
};
use crate::render::words::project_label;
use crate::secrets::{SecretStore, StoreError};

mod changes;
mod create;
mod quota;
mod races;
mod store;

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "test fakes")]
mod fake;
#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests;

pub use crate::report::{ApplyReport, Event, Outcome, OutcomeStatus};

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

/// The pauses between re-listings while a race between two runs settles: the winner waits for
/// the losers to delete their keys (then deletes what is left), a loser waits for the winner's
/// secret to be stored. (Unit tests run on tokio's paused clock, so these cost them nothing.)
const RACE_WAITS_MS: [u64; 6] = [50, 100, 200, 400, 800, 1600];

/// After a lost create's clean-up deleted keys, how long to wait before checking that the store
/// holds the new secret: a concurrent run whose key was deleted may be writing its own over it.
const CLEANUP_GRACE_MS: u64 = 300;

/// How many times in all one run sends a create whose answer keeps getting lost. Each resend
/// comes after a listing that cleaned up what the lost one left, so it is never blind; the bound
/// keeps a network that loses every answer from looping.
pub const CREATE_TRIES: usize = 4;

/// The pauses between the rounds in which a lost create's clean-up lists the project and
/// deletes the key whose secret was lost (each round with the client's own retries). Giving up
/// leaves a key nobody holds the secret of, which no later plan can tell from a declared key, so
/// the clean-up insists longer than an ordinary request.
const CLEANUP_WAITS_MS: [u64; 2] = [1000, 3000];

/// Runs `call`, and again after each of the [`CLEANUP_WAITS_MS`] pauses until it succeeds.
async fn insisting<T, E, F>(mut call: impl FnMut() -> F) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
{
    let mut result = call().await;
    for wait in CLEANUP_WAITS_MS {
        if result.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(wait)).await;
        result = call().await;
    }
    result
}

/// Applies a plan the guard passed: creates, then updates, then replaces, then deletes.
///
/// Returns one outcome per plan change, in plan order. Never panics on API or store failures;
/// they become failed outcomes, and the changes that depend on them are skipped.
pub async fn apply<A: AdminApi>(
    api: &A,
    store: &Arc<dyn SecretStore>,
    plan: &ApprovedPlan,
    options: &ApplyOptions,
    on_event: &(dyn Fn(Event) + Send + Sync),
) -> ApplyReport {
    let plan = plan.plan();
    let run = Run::new(api, store, plan, options, on_event);
    let phases = Phases::of(plan);

    let mut outcomes: Vec<Option<Outcome>> = (0..plan.changes.len()).map(|_| None).collect();
    let mut record = |done: Vec<Outcome>| {
        for outcome in done {
            if let Some(slot) = outcomes.get_mut(outcome.index) {
                *slot = Some(outcome);
            }
        }
    };

    record(run.creates(&phases.creates).await);
    record(run.updates(&phases.updates).await);
    record(run.replaces(&phases.replaces).await);
    record(run.deletes(&phases.deletes).await);

    let outcomes = outcomes
        .into_iter()
        .enumerate()
        .map(|(index, outcome)| {
            outcome.unwrap_or_else(|| {
                let action = plan
                    .changes
                    .get(index)
                    .map_or(Action::Create, Change::action);
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

/// A create: the change's index and the key to make.
type Creating<'p> = (usize, &'p KeyAfter);
/// An update or a replace: the change's index, the key as it is and as it should be.
type Changing<'p> = (usize, &'p KeyBefore, &'p KeyAfter);
/// A delete: the change's index and the key to delete.
type Deleting<'p> = (usize, &'p KeyBefore);

/// The plan's changes by phase, each with exactly the states its action has: the kind is
/// matched once, here, so no phase meets a change of the wrong shape.
struct Phases<'p> {
    creates: Vec<Creating<'p>>,
    updates: Vec<Changing<'p>>,
    replaces: Vec<Changing<'p>>,
    deletes: Vec<Deleting<'p>>,
}

impl<'p> Phases<'p> {
    fn of(plan: &'p Plan) -> Self {
        let mut phases = Phases {
            creates: Vec::new(),
            updates: Vec::new(),
            replaces: Vec::new(),
            deletes: Vec::new(),
        };
        for (index, change) in plan.changes.iter().enumerate() {
            match &change.kind {
                ChangeKind::Create { after } => phases.creates.push((index, after)),
                ChangeKind::Update { before, after } => {
                    phases.updates.push((index, before, after));
                }
                ChangeKind::Replace { before, after } => {
                    phases.replaces.push((index, before, after));
                }
                ChangeKind::Delete { before } => phases.deletes.push((index, before)),
            }
        }
        phases
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
    /// Deletes already run during the creates, to make room in a project at its key quota.
    deleted_early: Mutex<BTreeSet<usize>>,
    warnings: Mutex<Vec<String>>,
}

/// The state of one change while it runs.
struct Work {
    outcome: Outcome,
    /// A lost create's clean-up deleted keys: a concurrent run whose key was among them may
    /// still be writing its secret, so the final store check waits a moment first.
    deleted_foreign: bool,
    /// The last create this change sent was refused because the project is at its key quota.
    at_quota: bool,
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
            if let Some(before) = change.before() {
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
            deleted_early: Mutex::new(BTreeSet::new()),
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
        self.emit(Event::Started { index });
        Work {
            outcome: Outcome::new(index, change.action()),
            deleted_foreign: false,
            at_quota: false,
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
            "ORPHANED KEY {id} in {}: {why}; no secret store holds its secret, so nobody can \
             use it: delete it in the Pinecone console or with `pc api-key delete`",
            project_label(project)
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

    // ----- helpers -----

    /// Runs a phase's changes grouped by project, the projects side by side; `phase` gets one
    /// project's changes together (a project's creates settle races with one listing).
    async fn per_project<T, F, Fut>(
        &self,
        items: &[T],
        index: fn(&T) -> usize,
        phase: F,
    ) -> Vec<Outcome>
    where
        T: Copy,
        F: Fn(Vec<T>) -> Fut,
        Fut: Future<Output = Vec<Outcome>>,
    {
        let mut groups: BTreeMap<&ProjectId, Vec<T>> = BTreeMap::new();
        for item in items {
            let project = &self.plan.changes[index(item)].project.id;
            groups.entry(project).or_default().push(*item);
        }
        join_all(groups.into_values().map(phase))
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    fn new_name(&self, index: usize) -> String {
        self.plan.changes[index].key_name().to_owned()
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
    if let Some(before) = change.before() {
        names.push(before.name.clone());
        if let Some(stem) = retiring_stem(&before.name).or_else(|| pending_stem(&before.name)) {
            names.push(stem.to_owned());
        }
    }
    if let Some(after) = change.after() {
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
