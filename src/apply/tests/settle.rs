//! A create a killed run left in flight at the server, committed after this run's plan and
//! before its own create: an earlier key of the same name whose secret no store will ever
//! hold. The run that meets it settles it itself, so one more apply converges.

use super::*;

fn warnings_of(report: &ApplyReport) -> String {
    report.warnings.join("\n")
}

#[tokio::test(start_paused = true)]
async fn an_earlier_key_a_killed_run_left_in_flight_is_deleted_and_ours_kept() {
    let h = Harness::new();
    let p = project(1);
    h.org.inject(Fault::InFlightCreate {
        name: "ingest".into(),
    });
    let plan = plan_of(vec![create(&p, "ingest"), create(&p, "reader")]);
    let started = tokio::time::Instant::now();
    let (report, _) = h.apply(&plan, &ApplyOptions::default()).await;

    assert!(report.is_success(), "{report:#?}");
    assert!(
        !warnings_of(&report).contains("kept both"),
        "{}",
        warnings_of(&report)
    );
    let live = h.org.keys_named_or_pending("ingest");
    assert_eq!(live.len(), 1, "{:#?}", h.journal.lines());
    assert_eq!(report.outcomes[0].new_key.as_ref(), Some(&live[0].id));
    assert!(
        report.outcomes[0]
            .notes
            .iter()
            .any(|n| n.contains("interrupted or stalled") && n.contains("deleted key")),
        "{:#?}",
        report.outcomes[0].notes
    );
    // It waited for the other run's secret first (a live run may still store it).
    assert!(started.elapsed() >= Duration::from_millis(RACE_WAITS_MS.iter().sum()));
    assert_converged_safely(&h.org, &h.store, &[p], &["ingest", "reader"]);
}

#[tokio::test(start_paused = true)]
async fn an_earlier_key_that_cannot_be_deleted_fails_the_change_and_keeps_ours() {
    let h = Harness::new();
    let p = project(1);
    h.org.inject(Fault::InFlightCreate {
        name: "ingest".into(),
    });
    h.org.inject(Fault::FailDelete {
        name: "ingest".into(),
    });
    let plan = plan_of(vec![create(&p, "ingest")]);
    let (report, _) = h.apply(&plan, &serial()).await;

    assert!(!report.is_success(), "{report:#?}");
    let message = failed_message(&report.outcomes[0]);
    assert!(
        message.contains("no store holds its secret") && message.contains("deleting it failed"),
        "{message}"
    );
    // Ours stays, named and with its secret stored; the other is what the next plan deletes.
    let ours = h.org.keys_named("ingest");
    assert_eq!(ours.len(), 1, "{:#?}", h.journal.lines());
    assert_eq!(h.store.held(&p, "ingest").unwrap().0, ours[0].id);
    assert_eq!(
        h.org.keys_named(&crate::plan::pending_name("ingest")).len(),
        1
    );
}

/// The other run is alive, only slow: it stores its (earlier) key's secret during the waits.
/// That key wins and this run deletes its own, as before.
#[tokio::test(start_paused = true)]
async fn an_earlier_key_whose_secret_is_stored_during_the_waits_wins() {
    let h = Harness::new();
    let p = project(1);
    h.org.inject(Fault::InFlightCreate {
        name: "ingest".into(),
    });
    let plan = plan_of(vec![create(&p, "ingest")]);
    let slow_run = async {
        tokio::time::sleep(Duration::from_millis(600)).await;
        let theirs = h.org.keys_named_or_pending("ingest")[0].clone();
        let secret = h.org.issued_secret(&theirs.id).unwrap();
        h.store.insert(&p, "ingest", &theirs.id, &secret);
        theirs
    };
    let options = serial();
    let ((report, _), theirs) = tokio::join!(h.apply(&plan, &options), slow_run);

    assert!(report.is_success(), "{report:#?}");
    assert!(matches!(
        report.outcomes[0].status,
        OutcomeStatus::Skipped(_)
    ));
    let live = h.org.keys_named_or_pending("ingest");
    assert_eq!(live.len(), 1, "{:#?}", h.journal.lines());
    assert_eq!(live[0].id, theirs.id);
    assert_eq!(h.store.held(&p, "ingest").unwrap().0, theirs.id);
}

#[tokio::test(start_paused = true)]
async fn a_replace_that_meets_a_killed_runs_in_flight_create_finishes_in_the_same_run() {
    let h = Harness::new();
    let p = project(1);
    let old = h.org.seed(&p, "search", viewer());
    h.store.insert(&p, "search", &old.id, "old-secret");
    h.org.inject(Fault::InFlightCreate {
        name: "search".into(),
    });
    let plan = plan_of(vec![replace(&p, &old, "search")]);
    let (report, _) = h.apply(&plan, &serial()).await;

    assert!(report.is_success(), "{report:#?}");
    let live = h.org.keys();
    assert_eq!(live.len(), 1, "{:#?}", h.journal.lines());
    assert_eq!(live[0].name, "search");
    assert_eq!(report.outcomes[0].new_key.as_ref(), Some(&live[0].id));
    assert_converged_safely(&h.org, &h.store, &[p], &["search"]);
}

/// A store that cannot read back (a command) never shows the other run's secret: taking its key
/// over could leave no key at all if that run is alive. A pending one after every wait is a
/// dead run's, which this run cannot settle alone: the change fails instead of exiting 0.
#[tokio::test(start_paused = true)]
async fn with_a_store_that_cannot_read_back_a_dead_runs_pending_key_fails_the_change() {
    let h = Harness::new();
    let p = project(1);
    let mut store = h.store.clone();
    store.blind = true;
    h.org.inject(Fault::InFlightCreate {
        name: "ingest".into(),
    });
    let plan = plan_of(vec![create(&p, "ingest")]);
    let (report, _) = run(&h.api, &store, &h.journal, &plan, &serial()).await;

    assert!(!report.is_success(), "{report:#?}");
    let message = failed_message(&report.outcomes[0]);
    assert!(
        message.contains("still pending") && message.contains("kept both"),
        "{message}"
    );
    // Nothing was deleted: both keys are there for the next plan to settle.
    assert_eq!(h.org.keys_named_or_pending("ingest").len(), 2);
    assert_eq!(h.journal.count("delete"), 0, "{:#?}", h.journal.lines());
}

/// An earlier key under the declared name was stored and renamed by its run, which may be
/// settling this race itself (deleting ours) even if this store does not show its secret (a
/// later write replaced it). Taking it over too could leave neither: it is kept, with a warning.
#[tokio::test(start_paused = true)]
async fn an_earlier_key_under_the_declared_name_is_never_taken_over() {
    let h = Harness::new();
    let p = project(1);
    h.org.inject(Fault::InFlightCreate {
        name: "ingest".into(),
    });
    let plan = plan_of(vec![create(&p, "ingest")]);
    let other_run = async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let theirs = h.org.keys_named_or_pending("ingest")[0].clone();
        let rename = crate::model::KeyUpdate {
            name: Some("ingest".into()),
            roles: None,
        };
        h.api.update_key(&theirs.id, &rename).await.unwrap();
        theirs
    };
    let options = serial();
    let ((report, _), theirs) = tokio::join!(h.apply(&plan, &options), other_run);

    assert!(
        report.warnings.iter().any(|w| w.contains("kept both")),
        "{report:#?}"
    );
    assert!(
        h.org.keys().iter().any(|k| k.id == theirs.id),
        "{:#?}",
        h.journal.lines()
    );
    assert_eq!(h.org.keys_named("ingest").len(), 2);
}
