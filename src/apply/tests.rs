//! Apply against in-memory fakes: ordering, the concurrency bound, every failure path that
//! could lose or leak a secret, and two runs racing on one organisation.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use super::fake::{FakeApi, FakeOrg, FakeStore, Fault, Journal};
use super::*;
use crate::model::{Role, RoleSet};
use std::time::Duration;

use crate::plan::{Cause, KeyAfter, KeyBefore, Override, Summary, UnmanagedKey};
use crate::render::Paint;

fn project(n: u32) -> Project {
    Project {
        id: ProjectId(format!("10000000-0000-4000-8000-{n:012}")),
        name: format!("proj-{n}"),
    }
}

fn roles(list: &[Role]) -> RoleSet {
    list.iter().cloned().collect()
}

fn viewer() -> RoleSet {
    roles(&[Role::DataPlaneViewer])
}

/// A change of `action`, its before and after states as given.
fn change(
    action: Action,
    p: &Project,
    before: Option<&LiveKey>,
    after: Option<(&str, RoleSet)>,
    cause: Cause,
) -> Change {
    let before = before.map(KeyBefore::from);
    let after = after.map(|(name, roles)| KeyAfter {
        name: name.into(),
        roles,
    });
    let kind = match (action, before, after) {
        (Action::Create, None, Some(after)) => ChangeKind::Create { after },
        (Action::Update, Some(before), Some(after)) => ChangeKind::Update { before, after },
        (Action::Replace, Some(before), Some(after)) => ChangeKind::Replace { before, after },
        (Action::Delete, Some(before), None) => ChangeKind::Delete { before },
        other => panic!("no such change: {other:?}"),
    };
    Change {
        project: p.clone(),
        kind,
        causes: vec![cause],
    }
}

fn create(p: &Project, name: &str) -> Change {
    change(
        Action::Create,
        p,
        None,
        Some((name, viewer())),
        Cause::Missing,
    )
}

fn update(p: &Project, key: &LiveKey, name: &str, new_roles: RoleSet) -> Change {
    change(
        Action::Update,
        p,
        Some(key),
        Some((name, new_roles)),
        Cause::RolesDiffer,
    )
}

fn replace(p: &Project, key: &LiveKey, name: &str) -> Change {
    let roles = roles(&[Role::ProjectEditor]);
    change(
        Action::Replace,
        p,
        Some(key),
        Some((name, roles.clone())),
        Cause::RoleChangeReplaces {
            from: key.roles.clone(),
            to: roles,
        },
    )
}

fn delete(p: &Project, key: &LiveKey) -> Change {
    change(Action::Delete, p, Some(key), None, Cause::Unmanaged)
}

fn plan_of(changes: Vec<Change>) -> Plan {
    let mut summary = Summary::default();
    for change in &changes {
        summary.add(change.action());
    }
    let mut projects: Vec<Project> = changes.iter().map(|c| c.project.clone()).collect();
    projects.sort();
    projects.dedup();
    let mut plan: Plan = serde_json::from_value(serde_json::json!({
        "format_version": crate::plan::FORMAT_VERSION,
        "changes": [],
        "unmanaged": [],
        "summary": summary,
        "projects": projects,
    }))
    .unwrap();
    plan.changes = changes;
    plan
}

/// One fake organisation, a client and a store sharing one journal.
struct Harness {
    journal: Arc<Journal>,
    org: Arc<FakeOrg>,
    api: FakeApi,
    store: FakeStore,
}

impl Harness {
    fn new() -> Self {
        let journal = Arc::new(Journal::default());
        let org = FakeOrg::new(Arc::clone(&journal));
        let api = FakeApi::new(&org);
        let store = FakeStore::new(&journal);
        Harness {
            journal,
            org,
            api,
            store,
        }
    }

    async fn apply(&self, plan: &Plan, options: &ApplyOptions) -> (ApplyReport, Vec<Event>) {
        run(&self.api, &self.store, &self.journal, plan, options).await
    }
}

async fn run(
    api: &FakeApi,
    store: &FakeStore,
    journal: &Arc<Journal>,
    plan: &Plan,
    options: &ApplyOptions,
) -> (ApplyReport, Vec<Event>) {
    let events = Mutex::new(Vec::new());
    let on_event = |event: Event| {
        let line = match &event {
            Event::Started { index, .. } => format!("event started {index}"),
            Event::Done { index } => format!("event done {index}"),
            Event::Failed { index, .. } => format!("event failed {index}"),
            Event::Skipped { index, .. } => format!("event skipped {index}"),
            Event::Progress { .. } | Event::Warning(_) => String::new(),
        };
        if !line.is_empty() {
            journal.push(format!("{}{line}", api.tag));
        }
        events.lock().unwrap().push(event);
    };
    let store: Arc<dyn SecretStore> = Arc::new(store.clone());
    let plan = plan.clone().approve(Override::Force).unwrap();
    let report = apply(api, &store, &plan, options, &on_event).await;
    (report, events.into_inner().unwrap())
}

fn serial() -> ApplyOptions {
    ApplyOptions {
        concurrency: 1,
        keep_deleted_secrets: false,
    }
}

fn pos(journal: &Journal, prefix: &str) -> usize {
    journal
        .position(prefix)
        .unwrap_or_else(|| panic!("no {prefix:?} in {:#?}", journal.lines()))
}

fn failed_message(outcome: &Outcome) -> &str {
    match &outcome.status {
        OutcomeStatus::Failed(message) => message,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// The invariant of every test: each live key apply created has its own secret in the store,
/// and no two live keys share a name within a project.
fn assert_converged_safely(
    org: &FakeOrg,
    store: &FakeStore,
    projects: &[Project],
    created_names: &[&str],
) {
    check_converged(org, store, projects, created_names, "");
}

fn check_converged(
    org: &FakeOrg,
    store: &FakeStore,
    projects: &[Project],
    created_names: &[&str],
    case: &str,
) {
    for p in projects {
        let keys: Vec<LiveKey> = org
            .keys()
            .into_iter()
            .filter(|k| k.project_id == p.id)
            .collect();
        for name in created_names {
            let pending: Vec<&LiveKey> = keys
                .iter()
                .filter(|k| k.name == crate::plan::pending_name(name))
                .collect();
            assert!(
                pending.is_empty(),
                "a key still under the pending name of {name}: {pending:?} {case}"
            );
            let named: Vec<&LiveKey> = keys.iter().filter(|k| &k.name == name).collect();
            assert!(
                named.len() <= 1,
                "duplicate keys named {name}: {named:?} {case}"
            );
            if let Some(key) = named.first() {
                let (held, secret) = store
                    .held(p, name)
                    .unwrap_or_else(|| panic!("no stored secret for live key {name} {case}"));
                assert_eq!(
                    held, key.id,
                    "the store holds another key's secret for {name} {case}"
                );
                assert_eq!(
                    Some(secret),
                    org.issued_secret(&key.id),
                    "wrong secret stored for {name} {case}"
                );
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_create_stores_its_secret_before_it_is_done() {
    let h = Harness::new();
    let p = project(1);
    let plan = plan_of(vec![create(&p, "ingest")]);
    let (report, events) = h.apply(&plan, &serial()).await;

    assert!(report.is_success(), "{report:?}");
    let key = &h.org.keys_named("ingest")[0];
    assert_eq!(report.outcomes[0].new_key.as_ref(), Some(&key.id));
    assert!(pos(&h.journal, "create ingest") < pos(&h.journal, "put ingest"));
    assert!(pos(&h.journal, "put ingest") < pos(&h.journal, "event done 0"));
    assert_converged_safely(&h.org, &h.store, &[p], &["ingest"]);
    assert!(matches!(
        events.first(),
        Some(Event::Started { index: 0, .. })
    ));
    assert!(matches!(events.last(), Some(Event::Done { index: 0 })));
}

#[tokio::test(start_paused = true)]
async fn phases_run_in_order_creates_updates_replaces_deletes() {
    let h = Harness::new();
    let p = project(1);
    let to_update = h.org.seed(&p, "worker", viewer());
    let to_replace = h.org.seed(&p, "rotating", viewer());
    let to_delete = h.org.seed(&p, "old", viewer());
    // Deliberately out of order: apply orders by action, not by position.
    let plan = plan_of(vec![
        delete(&p, &to_delete),
        replace(&p, &to_replace, "rotating"),
        update(&p, &to_update, "worker", roles(&[Role::DataPlaneEditor])),
        create(&p, "fresh"),
    ]);
    let (report, _) = h.apply(&plan, &ApplyOptions::default()).await;

    assert!(report.is_success(), "{report:#?}");
    let create_at = pos(&h.journal, "create fresh");
    let update_at = pos(
        &h.journal,
        &format!("update {} name=- roles=true", to_update.id),
    );
    let replace_at = pos(
        &h.journal,
        &format!("update {} name=rotating (keyplan: retiring)", to_replace.id),
    );
    let delete_at = pos(&h.journal, &format!("delete {}", to_delete.id));
    assert!(
        create_at < update_at && update_at < replace_at && replace_at < delete_at,
        "{:#?}",
        h.journal.lines()
    );
    assert_eq!(
        crate::render::apply_summary_line(&report),
        "Apply complete: 1 created, 1 updated, 1 replaced, 1 deleted."
    );
    assert_converged_safely(&h.org, &h.store, &[p], &["fresh", "rotating"]);
}

#[tokio::test(start_paused = true)]
async fn concurrency_is_bounded_and_used() {
    let h = Harness::new();
    let mut api = h.api.clone();
    api.yields = 5;
    let changes: Vec<Change> = (0..12)
        .map(|i| create(&project(i % 4), &format!("key-{i}")))
        .collect();
    let plan = plan_of(changes);
    let options = ApplyOptions {
        concurrency: 3,
        keep_deleted_secrets: false,
    };
    let (report, _) = run(&api, &h.store, &h.journal, &plan, &options).await;

    assert!(report.is_success(), "{report:#?}");
    assert_eq!(h.org.keys().len(), 12);
    assert!(
        h.org.max_in_flight() <= 3,
        "{} requests in flight",
        h.org.max_in_flight()
    );
    assert!(h.org.max_in_flight() >= 2, "changes ran one at a time");
}

#[tokio::test(start_paused = true)]
async fn a_refused_secret_deletes_the_new_key() {
    let h = Harness::new();
    let p = project(1);
    h.store.refuse_puts.store(1, Ordering::SeqCst);
    let plan = plan_of(vec![create(&p, "ingest")]);
    let (report, _) = h.apply(&plan, &serial()).await;

    assert!(!report.is_success());
    let message = failed_message(&report.outcomes[0]);
    assert!(message.contains("refused the secret"), "{message}");
    assert!(
        message.contains("the keyring is locked (hint: unlock it and re-run)"),
        "{message}"
    );
    assert!(message.contains("deleted that key again"), "{message}");
    assert!(
        h.org.keys().is_empty(),
        "a key without its secret was left: {:?}",
        h.org.keys()
    );
    assert!(report.outcomes[0].orphaned.is_empty());
    assert_eq!(h.store.len(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_refused_secret_whose_key_cannot_be_deleted_is_reported_as_orphaned() {
    let h = Harness::new();
    let p = project(1);
    h.store.refuse_puts.store(1, Ordering::SeqCst);
    h.org.inject(Fault::FailDelete {
        name: "ingest".into(),
    });
    let plan = plan_of(vec![create(&p, "ingest")]);
    let (report, events) = h.apply(&plan, &serial()).await;

    // Never renamed: a key without its secret keeps its pending name.
    let orphan = h.org.keys_named("ingest (keyplan: pending)")[0].id.clone();
    assert_eq!(report.outcomes[0].orphaned, vec![orphan.clone()]);
    let message = failed_message(&report.outcomes[0]);
    assert!(
        message.contains(&format!("key {orphan} is ORPHANED")),
        "{message}"
    );
    assert!(
        message.contains("internal error while deleting"),
        "{message}"
    );
    assert!(events.iter().any(|e| matches!(e, Event::Warning(w) if w.contains("ORPHANED KEY") && w.contains(orphan.as_str()))));
    let human = crate::render::apply_report(&report, &plan, Paint::new(false));
    assert!(human.contains("ORPHANED KEYS"), "{human}");
    assert!(human.contains(orphan.as_str()), "{human}");
    assert!(!report.is_success());
}

#[tokio::test(start_paused = true)]
async fn a_lost_create_answer_is_reconciled_by_listing_not_by_resending() {
    let h = Harness::new();
    let p = project(1);
    // A key the plan saw (unmanaged, kept) must survive the cleanup even with the same name
    // pattern around; only the key that appeared since is the lost create's.
    let bystander = h.org.seed(&p, "ingest-old", viewer());
    h.org.inject(Fault::LoseCreateAnswer {
        name: "ingest".into(),
        times: 1,
    });
    let mut plan = plan_of(vec![create(&p, "ingest")]);
    plan.unmanaged.push(UnmanagedKey {
        project: p.clone(),
        key: KeyBefore::from(&bystander),
    });
    let (report, _) = h.apply(&plan, &serial()).await;

    assert!(report.is_success(), "{report:#?}");
    let lines = h.journal.lines();
    let creates: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("create ingest (keyplan: pending) ->"))
        .collect();
    assert_eq!(creates.len(), 2, "{lines:#?}");
    let lost_id = creates[0].rsplit(' ').next().unwrap();
    let listed = pos(&h.journal, "list ");
    let deleted = pos(&h.journal, &format!("delete {lost_id}"));
    assert!(pos(&h.journal, "create ingest (keyplan: pending) answer lost") < listed);
    assert!(
        listed < deleted
            && deleted
                < h.journal
                    .lines()
                    .iter()
                    .rposition(|l| l.starts_with("create ingest (keyplan: pending) ->"))
                    .unwrap()
    );
    assert_eq!(
        h.org.keys_named("ingest").len(),
        1,
        "duplicate after a lost answer"
    );
    assert_eq!(
        h.org.keys_named("ingest-old").len(),
        1,
        "a key live at plan time was deleted"
    );
    assert!(report.outcomes[0].notes.iter().any(|n| n.contains(lost_id)));
    assert_converged_safely(&h.org, &h.store, &[p], &["ingest"]);
}

#[tokio::test(start_paused = true)]
async fn a_create_lost_every_time_is_not_tried_again_and_leaves_no_secretless_key() {
    let h = Harness::new();
    let p = project(1);
    h.org.inject(Fault::LoseCreateAnswer {
        name: "ingest".into(),
        times: super::CREATE_TRIES,
    });
    let plan = plan_of(vec![create(&p, "ingest")]);
    let (report, _) = h.apply(&plan, &serial()).await;

    let message = failed_message(&report.outcomes[0]);
    assert!(
        message.contains(&format!("lost {} times", super::CREATE_TRIES)),
        "{message}"
    );
    assert_eq!(
        h.journal.count("create ingest (keyplan: pending) ->"),
        super::CREATE_TRIES
    );
    assert!(
        h.org.keys_named("ingest").is_empty(),
        "a key without its secret remains"
    );
    assert!(report.outcomes[0].orphaned.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_lost_create_keeps_a_key_whose_secret_the_store_holds() {
    // Another run created the key and stored its secret already: it is not ours to delete.
    let h = Harness::new();
    let p = project(1);
    let plan = plan_of(vec![create(&p, "ingest")]);
    let other = h.org.seed(&p, "ingest", viewer());
    h.store
        .insert(&p, "ingest", &other.id, "the-other-runs-secret");
    h.org.inject(Fault::LoseCreateAnswer {
        name: "ingest".into(),
        times: 1,
    });
    let (report, _) = h.apply(&plan, &serial()).await;

    assert!(
        h.org.keys().iter().any(|k| k.id == other.id),
        "deleted a key whose secret is held"
    );
    assert_eq!(
        h.org.keys_named("ingest").len(),
        1,
        "{:#?}",
        h.journal.lines()
    );
    assert!(
        matches!(&report.outcomes[0].status, OutcomeStatus::Skipped(r) if r.contains(&format!("kept {}", other.id))),
        "{report:#?}"
    );
    assert_eq!(h.store.held(&p, "ingest").map(|(id, _)| id), Some(other.id));
}

#[tokio::test(start_paused = true)]
async fn a_replace_retires_then_creates_stores_and_deletes() {
    let h = Harness::new();
    let p = project(1);
    let old = h.org.seed(&p, "search", viewer());
    h.store.insert(&p, "search", &old.id, "old-secret");
    let plan = plan_of(vec![replace(&p, &old, "search")]);
    let (report, _) = h.apply(&plan, &serial()).await;

    assert!(report.is_success(), "{report:#?}");
    let retire = pos(
        &h.journal,
        &format!("update {} name=search (keyplan: retiring)", old.id),
    );
    let created = pos(&h.journal, "create search (keyplan: pending) ->");
    let stored = pos(&h.journal, "put search");
    let deleted = pos(&h.journal, &format!("delete {}", old.id));
    let done = pos(&h.journal, "event done 0");
    assert!(
        retire < created && created < stored && stored < deleted && deleted < done,
        "{:#?}",
        h.journal.lines()
    );
    let live = h.org.keys();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].roles, roles(&[Role::ProjectEditor]));
    assert_eq!(report.outcomes[0].new_key.as_ref(), Some(&live[0].id));
    assert_converged_safely(&h.org, &h.store, &[p], &["search"]);
}

#[tokio::test(start_paused = true)]
async fn a_failed_create_in_a_replace_never_deletes_the_old_key() {
    let h = Harness::new();
    let p = project(1);
    let old = h.org.seed(&p, "search", viewer());
    h.org.inject(Fault::RefuseCreate {
        name: "search".into(),
        message: "the project's key quota is full".into(),
    });
    let plan = plan_of(vec![replace(&p, &old, "search")]);
    let (report, _) = h.apply(&plan, &serial()).await;

    let message = failed_message(&report.outcomes[0]);
    assert!(
        message.contains("the project's key quota is full"),
        "{message}"
    );
    assert!(
        message.contains(&format!("the old key {} was kept", old.id)),
        "{message}"
    );
    assert_eq!(h.journal.count("delete "), 0, "{:#?}", h.journal.lines());
    let live = h.org.keys();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].id, old.id);
    assert_eq!(
        live[0].name, "search",
        "the old key did not get its name back"
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_secret_in_a_replace_keeps_the_old_key() {
    let h = Harness::new();
    let p = project(1);
    let old = h.org.seed(&p, "search", viewer());
    h.store.refuse_puts.store(1, Ordering::SeqCst);
    let plan = plan_of(vec![replace(&p, &old, "search")]);
    let (report, _) = h.apply(&plan, &serial()).await;

    assert!(report.outcomes[0].is_failed());
    let live = h.org.keys();
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live[0].id, old.id);
}

#[tokio::test(start_paused = true)]
async fn an_interrupted_replace_is_finished_without_renaming_again() {
    let h = Harness::new();
    let p = project(1);
    let old = h
        .org
        .seed(&p, &crate::plan::retiring_name("search"), viewer());
    h.store.insert(&p, "search", &old.id, "old-secret");
    let plan = plan_of(vec![replace(&p, &old, "search")]);
    let (report, _) = h.apply(&plan, &serial()).await;

    assert!(report.is_success(), "{report:#?}");
    assert_eq!(
        h.journal.count(&format!("update {}", old.id)),
        0,
        "{:#?}",
        h.journal.lines()
    );
    assert_eq!(h.org.keys().len(), 1);
    assert_converged_safely(&h.org, &h.store, &[p], &["search"]);
}

#[tokio::test(start_paused = true)]
async fn a_rename_moves_the_stored_secret() {
    let h = Harness::new();
    let p = project(1);
    let ours = h.org.seed(&p, "ingest", viewer());
    let foreign = h.org.seed(&p, "console-key", viewer());
    h.store.insert(&p, "ingest", &ours.id, "ingest-secret");
    let plan = plan_of(vec![
        update(&p, &ours, "ingest-worker", viewer()),
        update(&p, &foreign, "console", viewer()),
    ]);
    let (report, _) = h.apply(&plan, &serial()).await;

    assert!(report.is_success(), "{report:#?}");
    assert_eq!(
        h.store.held(&p, "ingest-worker"),
        Some((ours.id.clone(), "ingest-secret".into()))
    );
    assert_eq!(h.store.held(&p, "ingest"), None);
    assert!(
        report.outcomes[1]
            .notes
            .contains(&"no stored secret to move (keyplan did not create this key)".to_owned())
    );
    assert_eq!(
        h.journal.count(&format!(
            "update {} name=ingest-worker roles=false",
            ours.id
        )),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn a_delete_removes_the_stored_secret_unless_kept() {
    for keep in [false, true] {
        let h = Harness::new();
        let p = project(1);
        let key = h.org.seed(&p, "old", viewer());
        let gone = h.org.seed(&p, "gone", viewer());
        h.store.insert(&p, "old", &key.id, "old-secret");
        let plan = plan_of(vec![delete(&p, &key), delete(&p, &gone)]);
        // Someone deleted this one between plan and apply.
        h.org.forget(&gone.id);
        let options = ApplyOptions {
            concurrency: 2,
            keep_deleted_secrets: keep,
        };
        let (report, _) = h.apply(&plan, &options).await;

        assert!(report.is_success(), "{report:#?}");
        assert!(h.org.keys().is_empty());
        assert_eq!(h.store.held(&p, "old").is_some(), keep, "keep = {keep}");
        assert!(
            report.outcomes[1]
                .notes
                .iter()
                .any(|n| n.contains("already gone")),
            "{report:#?}"
        );
        assert_eq!(
            crate::render::apply_summary_line(&report),
            "Apply complete: 0 created, 0 updated, 0 replaced, 2 deleted."
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_failure_mid_plan_skips_its_dependents_and_runs_the_rest() {
    let h = Harness::new();
    let (p1, p2) = (project(1), project(2));
    let p1_old = h.org.seed(&p1, "legacy", viewer());
    let p2_key = h.org.seed(&p2, "reader", viewer());
    let p2_old = h.org.seed(&p2, "stale", viewer());
    h.org.inject(Fault::RefuseCreate {
        name: "new-writer".into(),
        message: "API key creation is turned off for this organisation".into(),
    });
    let plan = plan_of(vec![
        create(&p1, "new-writer"),
        create(&p2, "new-reader"),
        update(&p2, &p2_key, "reader", roles(&[Role::DataPlaneEditor])),
        delete(&p1, &p1_old),
        delete(&p2, &p2_old),
    ]);
    let (report, events) = h.apply(&plan, &ApplyOptions::default()).await;

    assert!(!report.is_success());
    let message = failed_message(&report.outcomes[0]);
    assert!(
        message
            .contains("API key creation is turned off for this organisation (HTTP 403, FORBIDDEN)"),
        "{message}"
    );
    assert!(
        report.outcomes[1].is_done()
            && report.outcomes[2].is_done()
            && report.outcomes[4].is_done()
    );
    assert!(
        matches!(&report.outcomes[3].status, OutcomeStatus::Skipped(r) if r.contains("an earlier change in project \"proj-1\""))
    );
    assert_eq!(
        h.journal.count(&format!("delete {}", p1_old.id)),
        0,
        "a dependent delete ran"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::Started { index: 3, .. }))
    );
    assert_eq!(
        crate::render::apply_summary_line(&report),
        "Apply incomplete: 1 created, 1 updated, 0 replaced, 1 deleted; 1 failed."
    );
    let human = crate::render::apply_report(&report, &plan, Paint::new(false));
    assert!(
        human.contains(
            "Failed:\n  ✗ create proj-1/new-writer: failed to create key \"new-writer\": "
        ),
        "{human}"
    );
    assert!(
        human.contains("Skipped:\n  - delete proj-1/legacy: an earlier change"),
        "{human}"
    );
    assert!(
        human.ends_with(
            "Apply incomplete: 1 created, 1 updated, 0 replaced, 1 deleted; 1 failed.\n"
        ),
        "{human}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_rename_of_the_stored_secret_is_a_failure_not_silence() {
    let h = Harness::new();
    let p = project(1);
    let key = h.org.seed(&p, "a", viewer());
    h.org.inject(Fault::FailUpdate { name: "a".into() });
    let plan = plan_of(vec![update(&p, &key, "b", viewer())]);
    let (report, _) = h.apply(&plan, &serial()).await;
    let message = failed_message(&report.outcomes[0]);
    assert!(
        message.contains("internal error while updating (HTTP 500, INTERNAL)"),
        "{message}"
    );
}

/// Two applies of the same plan at once, over one organisation and one keyring, under many
/// interleavings: exactly one key survives, and its own secret is the one stored.
#[tokio::test(start_paused = true)]
async fn two_racing_applies_keep_exactly_one_key_with_its_secret() {
    let mut cases = Vec::new();
    for lost_answer in [false, true] {
        for yields_a in 0..3 {
            for yields_b in 0..3 {
                for delay_b in [0, 1, 2, 3, 5, 8, 13, 21, 40] {
                    cases.push((lost_answer, yields_a, yields_b, delay_b));
                }
            }
        }
    }
    let mut loser_saw_stored_winner = 0;
    for (lost_answer, yields_a, yields_b, delay_b) in cases {
        let journal = Arc::new(Journal::default());
        let org = FakeOrg::new(Arc::clone(&journal));
        let p = project(1);
        let old = org.seed(&p, "rotating", viewer());
        let mut api_a = FakeApi::new(&org);
        api_a.yields = yields_a;
        api_a.tag = "A ";
        let mut api_b = FakeApi::new(&org);
        api_b.yields = yields_b;
        api_b.create_delay = delay_b;
        api_b.tag = "B ";
        let store_a = FakeStore::new(&journal);
        let store_a = store_a.sharing("A ");
        let store_b = store_a.sharing("B ");
        let plan = plan_of(vec![create(&p, "ingest"), replace(&p, &old, "rotating")]);
        if lost_answer {
            // One of the two runs (whichever creates first) loses its create's answer.
            org.inject(Fault::LoseCreateAnswer {
                name: "ingest".into(),
                times: 1,
            });
        }
        let options = ApplyOptions::default();
        let ((report_a, _), (report_b, _)) = tokio::join!(
            run(&api_a, &store_a, &journal, &plan, &options),
            run(&api_b, &store_b, &journal, &plan, &options),
        );
        let case = format!(
            "case ({lost_answer}, {yields_a}, {yields_b}, {delay_b}): {:#?}",
            journal.lines()
        );
        assert!(
            report_a.is_success() && report_b.is_success(),
            "{report_a:#?} {report_b:#?} {case}"
        );
        assert_eq!(org.keys_named("ingest").len(), 1, "{case}");
        assert_eq!(org.keys_named("rotating").len(), 1, "{case}");
        assert_eq!(
            org.keys().len(),
            2,
            "the old key or a duplicate survived: {case}"
        );
        check_converged(
            &org,
            &store_a,
            std::slice::from_ref(&p),
            &["ingest", "rotating"],
            &case,
        );
        let done = [&report_a, &report_b]
            .iter()
            .map(|r| usize::from(r.outcomes[0].is_done()))
            .sum::<usize>();
        assert!(done >= 1, "neither run reports the create done: {case}");
        let lines = journal.lines();
        loser_saw_stored_winner += usize::from(lines.iter().any(|l| l.contains(" describe ")));
    }
    // The grid reaches the paths that matter, not only the easy one.
    assert!(loser_saw_stored_winner > 0);
}

/// The same race on a multi-threaded runtime, where the store calls of both runs overlap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_racing_applies_on_threads_keep_exactly_one_key() {
    for round in 0..40 {
        let journal = Arc::new(Journal::default());
        let org = FakeOrg::new(Arc::clone(&journal));
        let p = project(1);
        if round % 2 == 1 {
            org.inject(Fault::LoseCreateAnswer {
                name: "ingest".into(),
                times: 1,
            });
        }
        let store_a = FakeStore::new(&journal).sharing("A ");
        let store_b = store_a.sharing("B ");
        let check = store_a.clone();
        let mut api_a = FakeApi::new(&org);
        api_a.tag = "A ";
        let mut api_b = FakeApi::new(&org);
        api_b.tag = "B ";
        api_b.create_delay = round % 5;
        let plan = Arc::new(plan_of(vec![create(&p, "ingest")]));
        let (j_a, j_b) = (Arc::clone(&journal), Arc::clone(&journal));
        let (plan_a, plan_b) = (Arc::clone(&plan), Arc::clone(&plan));
        let a = tokio::spawn(async move {
            run(&api_a, &store_a, &j_a, &plan_a, &ApplyOptions::default())
                .await
                .0
        });
        let b = tokio::spawn(async move {
            run(&api_b, &store_b, &j_b, &plan_b, &ApplyOptions::default())
                .await
                .0
        });
        let (report_a, report_b) = (a.await.unwrap(), b.await.unwrap());
        let case = format!("round {round}: {:#?}", journal.lines());
        assert!(report_a.is_success() && report_b.is_success(), "{case}");
        assert_eq!(org.keys_named("ingest").len(), 1, "{case}");
        check_converged(&org, &check, std::slice::from_ref(&p), &["ingest"], &case);
        let live = &org.keys_named("ingest")[0];
        assert!(
            [&report_a, &report_b]
                .iter()
                .any(|r| r.outcomes[0].new_key.as_ref() == Some(&live.id)),
            "no run claims the surviving key: {case}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn nothing_apply_emits_or_reports_carries_a_secret() {
    let h = Harness::new();
    let (p1, p2) = (project(1), project(2));
    let old = h.org.seed(&p1, "rotating", viewer());
    let doomed = h.org.seed(&p2, "doomed", viewer());
    h.org.inject(Fault::LoseCreateAnswer {
        name: "lost".into(),
        times: 1,
    });
    h.org.inject(Fault::FailDelete {
        name: "orphan".into(),
    });
    let plan = plan_of(vec![
        create(&p1, "ingest"),
        create(&p1, "lost"),
        create(&p2, "orphan"),
        replace(&p1, &old, "rotating"),
        delete(&p2, &doomed),
    ]);
    // The third put (for "orphan", in project 2's group) is refused.
    let (report, events) = h.apply(&plan, &serial()).await;
    h.store.refuse_puts.store(1, Ordering::SeqCst);
    let (second, more_events) = h
        .apply(&plan_of(vec![create(&p2, "orphan")]), &serial())
        .await;
    assert!(!second.outcomes[0].orphaned.is_empty(), "{second:#?}");

    let secrets = h.org.all_issued_secrets();
    assert!(secrets.len() >= 5, "{secrets:?}");
    let mut printed = Vec::new();
    for event in events.iter().chain(&more_events) {
        printed.push(format!("{event:?}"));
        printed.push(crate::render::event_line(event, &plan));
    }
    for r in [&report, &second] {
        printed.push(format!("{r:?} {r:#?}"));
        printed.push(crate::render::apply_report(r, &plan, Paint::new(true)));
        printed.push(crate::render::apply_report(r, &plan, Paint::new(false)));
        printed.push(crate::render::apply_summary_line(r));
        printed.extend(r.warnings.iter().cloned());
    }
    for text in &printed {
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "a secret leaked into: {text}"
            );
        }
        assert!(
            !text.contains("SECRETVALUE"),
            "a secret leaked into: {text}"
        );
    }
    assert!(printed.iter().any(|t| t.contains("ORPHANED")));
}

#[test]
fn the_summary_line_counts_done_changes_only() {
    let outcome = |index, action, status| Outcome {
        index,
        action,
        status,
        notes: Vec::new(),
        orphaned: Vec::new(),
        new_key: None,
    };
    let report = ApplyReport {
        outcomes: vec![
            outcome(0, Action::Create, OutcomeStatus::Done),
            outcome(1, Action::Create, OutcomeStatus::Done),
            outcome(2, Action::Create, OutcomeStatus::Failed("quota".into())),
            outcome(3, Action::Update, OutcomeStatus::Done),
            outcome(
                4,
                Action::Replace,
                OutcomeStatus::Skipped("prerequisite failed".into()),
            ),
            outcome(5, Action::Delete, OutcomeStatus::Done),
        ],
        warnings: Vec::new(),
    };
    assert_eq!(
        crate::render::apply_summary_line(&report),
        "Apply incomplete: 2 created, 1 updated, 0 replaced, 1 deleted; 1 failed."
    );
    assert!(!report.is_success());
    assert!(ApplyReport::default().is_success());
}

#[tokio::test(start_paused = true)]
async fn a_lost_answer_with_a_failed_listing_is_not_retried_blindly() {
    let h = Harness::new();
    let p = project(1);
    h.org.inject(Fault::LoseCreateAnswer {
        name: "ingest".into(),
        times: 1,
    });
    // Every round of the clean-up's listing fails.
    h.org.inject(Fault::FailList { times: 3 });
    let plan = plan_of(vec![create(&p, "ingest")]);
    let (report, _) = h.apply(&plan, &serial()).await;

    let message = failed_message(&report.outcomes[0]);
    assert!(
        message.contains("service unavailable (HTTP 503, UNAVAILABLE)"),
        "{message}"
    );
    assert!(message.contains("run `keyplan plan`"), "{message}");
    assert_eq!(
        h.journal.count("create ingest (keyplan: pending) ->"),
        1,
        "resent a create blindly"
    );
}

#[tokio::test(start_paused = true)]
async fn a_lost_answer_is_cleaned_up_although_the_first_listing_fails() {
    let h = Harness::new();
    let p = project(1);
    h.org.inject(Fault::LoseCreateAnswer {
        name: "ingest".into(),
        times: 1,
    });
    h.org.inject(Fault::FailList { times: 2 });
    let plan = plan_of(vec![create(&p, "ingest")]);
    let (report, _) = h.apply(&plan, &serial()).await;

    assert!(report.is_success(), "{report:#?}");
    assert_eq!(h.journal.count("create ingest (keyplan: pending) ->"), 2);
    assert_converged_safely(&h.org, &h.store, &[p], &["ingest"]);
}

#[tokio::test(start_paused = true)]
async fn a_failed_listing_after_the_creates_is_a_warning_not_a_failure() {
    let h = Harness::new();
    let p = project(1);
    h.org.inject(Fault::FailList { times: 1 });
    let plan = plan_of(vec![create(&p, "ingest")]);
    let (report, _) = h.apply(&plan, &serial()).await;

    assert!(report.is_success(), "{report:#?}");
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("could not list project")),
        "{report:#?}"
    );
    assert_converged_safely(&h.org, &h.store, &[p], &["ingest"]);
}

/// The narrow case two processes on threads can reach: another run creates a later key of the
/// same name, writes its secret over ours right after our write, then stalls (or dies) before
/// deleting its key. The winner removes the duplicate itself and writes its secret again.
#[tokio::test(start_paused = true)]
async fn the_winner_of_a_race_repairs_the_store_and_removes_a_stalled_duplicate() {
    let h = Harness::new();
    let p = project(1);
    h.org.inject(Fault::TwinCreate {
        name: "ingest".into(),
        times: 1,
    });
    let store = h.store.clobbering_with_twins_of(&h.org, "ingest");
    let plan = plan_of(vec![create(&p, "ingest")]);
    let (report, _) = run(&h.api, &store, &h.journal, &plan, &serial()).await;

    assert!(report.is_success(), "{report:#?}");
    let live = h.org.keys_named("ingest");
    assert_eq!(live.len(), 1, "{:#?}", h.journal.lines());
    assert_eq!(report.outcomes[0].new_key.as_ref(), Some(&live[0].id));
    assert!(
        report.outcomes[0]
            .notes
            .iter()
            .any(|n| n.contains("another keyplan run created \"ingest\" at the same time"))
    );
    assert_eq!(h.journal.count("put ingest"), 3, "{:#?}", h.journal.lines());
    assert_converged_safely(&h.org, &store, &[p], &["ingest"]);
}

#[tokio::test(start_paused = true)]
async fn a_store_that_cannot_read_back_gets_each_secret_once() {
    let h = Harness::new();
    let p = project(1);
    let mut store = h.store.clone();
    store.blind = true;
    let plan = plan_of(vec![create(&p, "ingest"), create(&p, "reader")]);
    let (report, _) = run(&h.api, &store, &h.journal, &plan, &serial()).await;

    assert!(report.is_success(), "{report:#?}");
    assert_eq!(h.journal.count("put ingest"), 1, "{:#?}", h.journal.lines());
    assert_eq!(h.journal.count("put reader"), 1, "{:#?}", h.journal.lines());
    assert_converged_safely(&h.org, &h.store, &[p], &["ingest", "reader"]);
}

#[tokio::test(start_paused = true)]
async fn the_human_report_lists_done_failed_skipped_and_the_summary() {
    let h = Harness::new();
    let (p1, p2) = (project(1), project(2));
    let p1_old = h.org.seed(&p1, "legacy", viewer());
    let p2_key = h.org.seed(&p2, "reader", viewer());
    h.org.inject(Fault::RefuseCreate {
        name: "new-writer".into(),
        message: "API key creation is turned off for this organisation".into(),
    });
    let plan = plan_of(vec![
        create(&p1, "new-writer"),
        create(&p2, "new-reader"),
        update(&p2, &p2_key, "reader-v2", viewer()),
        delete(&p1, &p1_old),
    ]);
    let (report, events) = h.apply(&plan, &serial()).await;
    insta::assert_snapshot!(crate::render::apply_report(
        &report,
        &plan,
        Paint::new(false)
    ));
    let lines: Vec<String> = events
        .iter()
        .map(|e| crate::render::event_line(e, &plan))
        .collect();
    insta::assert_snapshot!(lines.join("\n"));
}

/// A lost create whose clean-up deleted another run's fresh key: that run may still write its
/// (now useless) secret over ours and then remove it. The store's empty answer must then be
/// read as "ours is gone", not as "this store cannot read back".
#[tokio::test(start_paused = true)]
async fn a_lost_create_rewrites_its_secret_if_the_other_run_erased_it() {
    let h = Harness::new();
    let p = project(1);
    h.org.inject(Fault::LoseCreateAnswer {
        name: "ingest".into(),
        times: 1,
    });
    h.org.inject(Fault::TwinCreate {
        name: "ingest".into(),
        times: 1,
    });
    h.store.erase_first_put.store(true, Ordering::SeqCst);
    let plan = plan_of(vec![create(&p, "ingest")]);
    let (report, _) = h.apply(&plan, &serial()).await;

    assert!(report.is_success(), "{report:#?}");
    assert_eq!(h.journal.count("put ingest"), 2, "{:#?}", h.journal.lines());
    assert_eq!(
        h.org.keys_named("ingest").len(),
        1,
        "{:#?}",
        h.journal.lines()
    );
    assert_converged_safely(&h.org, &h.store, &[p], &["ingest"]);
}

// ---- runs killed half-way (the pending name) ----

/// Runs `plan` until it hangs on an injected `Hang*` fault, then drops it: the process killed
/// at that point, with nothing after it run.
async fn killed(h: &Harness, plan: &Plan) {
    let options = serial();
    let run = h.apply(plan, &options);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), run)
            .await
            .is_err(),
        "the apply finished instead of hanging: {:#?}",
        h.journal.lines()
    );
}

/// The next run's plan, as `keyplan plan` makes it: the manifest (these keys in project `p`),
/// the live keys, and the store's record of the keys it holds under the declared names.
fn replan(h: &Harness, p: &Project, keys: Vec<crate::desired::DesiredKey>) -> Plan {
    use crate::desired::{Desired, DesiredProject, ProjectSelector, UnmanagedPolicy};
    let desired = Desired {
        projects: vec![DesiredProject {
            selector: ProjectSelector::Id(p.id.clone()),
            unmanaged: UnmanagedPolicy::Keep,
            ignore: Vec::new(),
            keys,
        }],
        secrets: None,
        ..Desired::default()
    };
    let live = crate::plan::LiveState {
        projects: vec![p.clone()],
        keys: BTreeMap::from([(
            p.id.clone(),
            h.org
                .keys()
                .into_iter()
                .filter(|k| k.project_id == p.id)
                .collect(),
        )]),
    };
    let mut options = crate::plan::PlanOptions::default();
    for key in &desired.projects[0].keys {
        if let Some((id, _)) = h.store.held(p, &key.name) {
            options.held.insert((p.id.clone(), key.name.clone()), id);
        }
    }
    crate::plan::compute_plan(&desired, &live, &options).unwrap()
}

fn declared(name: &str, list: RoleSet) -> crate::desired::DesiredKey {
    crate::desired::DesiredKey::new(name, list)
}

/// `(action, before name, after name, reason)` of each change.
fn steps(plan: &Plan) -> Vec<(Action, Option<String>, Option<String>, String)> {
    plan.changes
        .iter()
        .map(|c| {
            (
                c.action(),
                c.before().map(|b| b.name.clone()),
                c.after().map(|a| a.name.clone()),
                crate::render::reason(c),
            )
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_create_is_made_pending_stored_then_renamed() {
    let h = Harness::new();
    let p = project(1);
    let plan = plan_of(vec![create(&p, "ingest")]);
    let (report, _) = h.apply(&plan, &serial()).await;

    assert!(report.is_success(), "{report:#?}");
    let key = &h.org.keys_named("ingest")[0];
    let created = pos(&h.journal, "create ingest (keyplan: pending) ->");
    let stored = pos(&h.journal, &format!("put ingest {}", key.id));
    let renamed = pos(
        &h.journal,
        &format!("update {} name=ingest roles=false", key.id),
    );
    let done = pos(&h.journal, "event done 0");
    assert!(
        created < stored && stored < renamed && renamed < done,
        "{:#?}",
        h.journal.lines()
    );
    assert_eq!(h.journal.count("update "), 1, "one extra PATCH per create");
    assert_converged_safely(&h.org, &h.store, &[p], &["ingest"]);
}

#[tokio::test(start_paused = true)]
async fn a_run_killed_after_the_create_leaves_a_pending_key_the_next_run_replaces() {
    let h = Harness::new();
    let p = project(1);
    h.org.inject(Fault::HangAfterCreate {
        name: "ingest".into(),
    });
    killed(&h, &plan_of(vec![create(&p, "ingest")])).await;

    // What the crash left: a key nobody holds the secret of, but not under the declared name.
    let left = h.org.keys_named("ingest (keyplan: pending)");
    assert_eq!(left.len(), 1, "{:?}", h.org.keys());
    assert!(h.org.keys_named("ingest").is_empty());
    assert_eq!(h.store.len(), 0);

    let next = replan(&h, &p, vec![declared("ingest", viewer())]);
    assert_eq!(
        steps(&next),
        vec![
            (
                Action::Create,
                None,
                Some("ingest".into()),
                "declared in the manifest, not found live".into()
            ),
            (
                Action::Delete,
                Some("ingest (keyplan: pending)".into()),
                None,
                "left by an interrupted create of \"ingest\"; keyplan never stored its secret"
                    .into()
            ),
        ]
    );
    let (report, _) = h.apply(&next, &serial()).await;
    assert!(report.is_success(), "{report:#?}");
    assert!(h.org.keys().iter().all(|k| k.id != left[0].id));
    assert_eq!(h.org.keys().len(), 1);
    assert_converged_safely(&h.org, &h.store, std::slice::from_ref(&p), &["ingest"]);
    assert!(replan(&h, &p, vec![declared("ingest", viewer())]).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_run_killed_after_the_store_write_leaves_a_pending_key_the_next_run_renames() {
    let h = Harness::new();
    let p = project(1);
    h.org.inject(Fault::HangBeforeRename {
        name: "ingest".into(),
    });
    killed(&h, &plan_of(vec![create(&p, "ingest")])).await;

    let left = h.org.keys_named("ingest (keyplan: pending)");
    assert_eq!(left.len(), 1, "{:?}", h.org.keys());
    let secret = h.org.issued_secret(&left[0].id).unwrap();
    assert_eq!(
        h.store.held(&p, "ingest"),
        Some((left[0].id.clone(), secret.clone()))
    );

    let next = replan(&h, &p, vec![declared("ingest", viewer())]);
    assert_eq!(
        steps(&next),
        vec![(
            Action::Update,
            Some("ingest (keyplan: pending)".into()),
            Some("ingest".into()),
            "finishing an interrupted create".into()
        )]
    );
    let (report, _) = h.apply(&next, &serial()).await;
    assert!(report.is_success(), "{report:#?}");
    assert!(
        report.outcomes[0]
            .notes
            .iter()
            .any(|n| n.contains("finished its interrupted create")),
        "{report:#?}"
    );
    // The same key, its secret kept: nothing was created again.
    assert_eq!(h.journal.count("create "), 1);
    assert_eq!(h.org.keys_named("ingest")[0].id, left[0].id);
    assert_eq!(
        h.store.held(&p, "ingest"),
        Some((left[0].id.clone(), secret))
    );
    assert_converged_safely(&h.org, &h.store, std::slice::from_ref(&p), &["ingest"]);
    assert!(replan(&h, &p, vec![declared("ingest", viewer())]).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_replace_killed_at_either_side_of_the_store_write_is_finished_by_the_next_run() {
    for after_store in [false, true] {
        let h = Harness::new();
        let p = project(1);
        let old = h.org.seed(&p, "search", viewer());
        h.store.insert(&p, "search", &old.id, "old-secret");
        h.org.inject(if after_store {
            Fault::HangBeforeRename {
                name: "search".into(),
            }
        } else {
            Fault::HangAfterCreate {
                name: "search".into(),
            }
        });
        killed(&h, &plan_of(vec![replace(&p, &old, "search")])).await;
        assert_eq!(h.org.keys_named("search (keyplan: retiring)").len(), 1);
        assert_eq!(h.org.keys_named("search (keyplan: pending)").len(), 1);

        let editor = roles(&[Role::ProjectEditor]);
        let next = replan(&h, &p, vec![declared("search", editor.clone())]);
        let expected = if after_store {
            vec![
                (
                    Action::Update,
                    Some("search (keyplan: pending)".to_owned()),
                    Some("search".to_owned()),
                    "finishing an interrupted create".to_owned(),
                ),
                (
                    Action::Delete,
                    Some("search (keyplan: retiring)".to_owned()),
                    None,
                    "left by an interrupted replace of \"search\", whose new key exists".to_owned(),
                ),
            ]
        } else {
            vec![
                (
                    Action::Replace,
                    Some("search (keyplan: retiring)".to_owned()),
                    Some("search".to_owned()),
                    "finishing an interrupted replace".to_owned(),
                ),
                (
                    Action::Delete,
                    Some("search (keyplan: pending)".to_owned()),
                    None,
                    "left by an interrupted create of \"search\"; keyplan never stored its secret"
                        .to_owned(),
                ),
            ]
        };
        assert_eq!(steps(&next), expected, "after_store = {after_store}");
        let (report, _) = h.apply(&next, &serial()).await;
        assert!(report.is_success(), "{report:#?}");
        assert!(h.org.keys().iter().all(|k| k.id != old.id), "old key kept");
        assert_eq!(h.org.keys().len(), 1, "{:?}", h.org.keys());
        assert_converged_safely(&h.org, &h.store, std::slice::from_ref(&p), &["search"]);
        assert!(replan(&h, &p, vec![declared("search", editor)]).is_empty());
    }
}

#[tokio::test(start_paused = true)]
async fn a_pending_key_of_an_undeclared_name_is_deleted_with_its_stored_secret() {
    let h = Harness::new();
    let p = project(1);
    let left = h.org.seed(&p, "gone (keyplan: pending)", viewer());
    h.store.insert(&p, "gone", &left.id, "gone-secret");
    let next = replan(&h, &p, Vec::new());
    assert_eq!(
        steps(&next),
        vec![(
            Action::Delete,
            Some("gone (keyplan: pending)".into()),
            None,
            "left by an interrupted create of a key the manifest no longer declares".into()
        )]
    );
    let (report, _) = h.apply(&next, &serial()).await;
    assert!(report.is_success(), "{report:#?}");
    assert!(h.org.keys().is_empty());
    assert_eq!(h.store.held(&p, "gone"), None, "its secret was left behind");
}

#[tokio::test(start_paused = true)]
async fn a_failed_rename_after_the_store_write_fails_and_the_next_run_finishes_it() {
    let h = Harness::new();
    let p = project(1);
    h.org.inject(Fault::FailRename {
        name: "ingest".into(),
        times: 1,
    });
    let (report, _) = h
        .apply(&plan_of(vec![create(&p, "ingest")]), &serial())
        .await;

    let message = failed_message(&report.outcomes[0]);
    assert!(message.contains("the secret is safe"), "{message}");
    assert!(
        message.contains("internal error while updating (HTTP 500, INTERNAL)"),
        "{message}"
    );
    let left = h.org.keys_named("ingest (keyplan: pending)");
    assert_eq!(left.len(), 1);
    assert_eq!(
        h.store.held(&p, "ingest").map(|(id, _)| id),
        Some(left[0].id.clone())
    );

    let next = replan(&h, &p, vec![declared("ingest", viewer())]);
    assert_eq!(next.summary.update, 1, "{next:#?}");
    let (report, _) = h.apply(&next, &serial()).await;
    assert!(report.is_success(), "{report:#?}");
    assert_eq!(h.org.keys_named("ingest")[0].id, left[0].id);
    assert_converged_safely(&h.org, &h.store, &[p], &["ingest"]);
}

#[tokio::test(start_paused = true)]
async fn a_failed_rename_in_a_replace_keeps_the_old_key_retiring() {
    // The store's entry under the name now holds the new key's secret: giving the old key its
    // name back would leave a key under the name whose secret the store does not hold.
    let h = Harness::new();
    let p = project(1);
    let old = h.org.seed(&p, "search", viewer());
    h.store.insert(&p, "search", &old.id, "old-secret");
    h.org.inject(Fault::FailRename {
        name: "search".into(),
        times: 1,
    });
    let (report, _) = h
        .apply(&plan_of(vec![replace(&p, &old, "search")]), &serial())
        .await;

    let message = failed_message(&report.outcomes[0]);
    assert!(message.contains("the secret is safe"), "{message}");
    assert!(
        message.contains("stays under the name \"search (keyplan: retiring)\""),
        "{message}"
    );
    assert_eq!(h.journal.count(&format!("delete {}", old.id)), 0);
    assert_eq!(h.org.keys_named("search (keyplan: retiring)").len(), 1);

    let editor = roles(&[Role::ProjectEditor]);
    let next = replan(&h, &p, vec![declared("search", editor)]);
    assert_eq!(
        next.changes.iter().map(Change::action).collect::<Vec<_>>(),
        vec![Action::Update, Action::Delete],
        "{next:#?}"
    );
    let (report, _) = h.apply(&next, &serial()).await;
    assert!(report.is_success(), "{report:#?}");
    assert_eq!(h.org.keys().len(), 1);
    assert_converged_safely(&h.org, &h.store, &[p], &["search"]);
}

#[tokio::test(start_paused = true)]
async fn a_pending_key_whose_secret_left_the_store_since_the_plan_keeps_its_name() {
    let h = Harness::new();
    let p = project(1);
    let left = h.org.seed(&p, "ingest (keyplan: pending)", viewer());
    h.store.insert(&p, "ingest", &left.id, "its-secret");
    let next = replan(&h, &p, vec![declared("ingest", viewer())]);
    assert_eq!(next.summary.update, 1);
    // Another run replaced the store's entry meanwhile.
    h.store
        .insert(&p, "ingest", &KeyId("someone-else".into()), "other");
    let (report, _) = h.apply(&next, &serial()).await;

    let message = failed_message(&report.outcomes[0]);
    assert!(message.contains("no longer holds the secret"), "{message}");
    assert_eq!(
        h.journal.count("update "),
        0,
        "renamed a key whose secret is not held"
    );
    assert_eq!(h.org.keys_named("ingest (keyplan: pending)").len(), 1);
}

/// At the key quota a create is refused until a key goes, and deletes wait for creates: the
/// unwanted key the plan drops is deleted first to make room, and the create tried again.
#[tokio::test(start_paused = true)]
async fn a_create_refused_at_the_quota_makes_room_by_deleting_an_unwanted_key() {
    let h = Harness::new();
    let p = project(1);
    let kept = h.org.seed(&p, "reader", viewer());
    let unwanted = h.org.seed(&p, "legacy", viewer());
    h.org.inject(Fault::Quota { limit: 2 });
    let plan = plan_of(vec![create(&p, "ingest"), delete(&p, &unwanted)]);
    let (report, _) = h.apply(&plan, &serial()).await;

    assert!(report.is_success(), "{:?}", report.outcomes);
    assert!(pos(&h.journal, &format!("delete {}", unwanted.id)) < pos(&h.journal, "put ingest"));
    assert_eq!(h.journal.count(&format!("delete {}", unwanted.id)), 1);
    assert!(
        report.outcomes[1]
            .notes
            .iter()
            .any(|n| n.contains("to make room")),
        "{:?}",
        report.outcomes[1]
    );
    assert_converged_safely(&h.org, &h.store, std::slice::from_ref(&p), &["ingest"]);
    let names: Vec<String> = h.org.keys().into_iter().map(|k| k.name).collect();
    assert_eq!(names, [kept.name, "ingest".to_owned()]);
}

/// A create refused at the quota, with nothing in the plan to delete, says so.
#[tokio::test(start_paused = true)]
async fn a_create_refused_at_the_quota_names_the_quota_and_what_the_plan_frees() {
    let h = Harness::new();
    let p = project(1);
    let kept = h.org.seed(&p, "reader", viewer());
    h.org.inject(Fault::Quota { limit: 1 });
    let plan = plan_of(vec![create(&p, "ingest")]);
    let (report, _) = h.apply(&plan, &serial()).await;

    let message = failed_message(&report.outcomes[0]);
    assert!(
        message.contains("is at its key quota, and this plan deletes no key there"),
        "{message}"
    );
    assert_eq!(h.org.keys(), vec![kept]);
}

/// A create answered with an id the server then cannot find is a failure, never "skipped":
/// the key that is there has no stored secret, and nobody can use it.
#[tokio::test(start_paused = true)]
async fn a_create_answered_with_an_unknown_id_fails() {
    let h = Harness::new();
    let p = project(1);
    h.org.inject(Fault::AnswerUnknownId {
        name: "ingest".into(),
    });
    let plan = plan_of(vec![create(&p, "ingest")]);
    let (report, _) = h.apply(&plan, &serial()).await;

    assert!(!report.is_success());
    let message = failed_message(&report.outcomes[0]);
    assert!(message.contains("cannot be found"), "{message}");
    assert!(message.contains("run `keyplan plan`"), "{message}");
    assert_eq!(h.store.len(), 0, "a secret of a key nobody can find stayed");
}

mod settle;
