//! Issue 5's proof, small sample: the real `keyplan` binary against the emulator injecting
//! faults, killed at random moments, rate limited, raced against itself, and fed malformed
//! answers. Every check reads the emulator's state and the secret store, not keyplan's report.
//! The harness is `keyplan::testkit::reliability`; `examples/reliability.rs` runs the same scenarios in the hundreds (docs/reliability.md).

#![expect(clippy::unwrap_used, reason = "tests")]
#![expect(
    clippy::print_stderr,
    reason = "the tests print their figures (see them with --nocapture)"
)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use keyplan::emulator::{Fault, Faults, RateLimit, Route};
use keyplan::model::Role;
use keyplan::testkit::reliability::{self, Program, Sandbox, Tally};

fn program() -> Program {
    Program {
        path: env!("CARGO_BIN_EXE_keyplan").into(),
        env: Vec::new(),
        // Every run's output is scanned for secrets as soon as it ends.
        panic_on_leak: true,
    }
}

fn assert_clean(what: &str, tally: &Tally) {
    assert!(
        tally.problems.is_empty(),
        "{what}: {} problem(s)\n{}",
        tally.problems.len(),
        tally.problems.join("\n=====\n")
    );
    assert_eq!(tally.converged, tally.scenarios, "{what}: {tally:#?}");
    assert_eq!(tally.duplicate_keys, 0, "{what}");
    assert_eq!(tally.missing_keys, 0, "{what}");
    assert_eq!(tally.secretless_keys, 0, "{what}");
    assert_eq!(tally.wrong_secrets, 0, "{what}");
    assert_eq!(tally.leaks, 0, "{what}");
    assert_eq!(tally.panics, 0, "{what}");
    assert_eq!(tally.invalid_store_files, 0, "{what}");
}

#[test]
fn randomised_fault_runs_converge_without_duplicates_lost_secrets_or_leaks() {
    let scenarios = std::env::var("KEYPLAN_FAULT_SCENARIOS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let tally = reliability::run_many(1, scenarios, 4, |seed| {
        reliability::fault_scenario(&program(), seed)
    });
    eprintln!("{tally:#?}");
    assert_clean("fault runs", &tally);
    // The faults really happened.
    assert!(
        tally.throttled > 0 && tally.server_errors > 0 && tally.dropped > 0,
        "{tally:#?}"
    );
}

#[test]
fn sigkill_at_random_moments_leaves_a_valid_store_and_the_next_apply_converges() {
    let points = std::env::var("KEYPLAN_CRASH_POINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let window = reliability::calibrate_crash_window(&program(), 1000);
    let tally = reliability::run_many(1000, points, 4, |seed| {
        reliability::crash_point(&program(), seed, window, seed % 2 == 1)
    });
    eprintln!("kill window {window:?}\n{tally:#?}");
    assert!(
        tally.problems.is_empty(),
        "{}",
        tally.problems.join("\n=====\n")
    );
    assert_eq!(tally.recovered, tally.scenarios);
    assert_eq!(tally.invalid_store_files, 0);
    assert_eq!(
        tally.temp_files_after_recovery, 0,
        "a temp file holding secrets outlived the next write"
    );
    assert_eq!(tally.wrong_secrets, 0);
    assert_eq!(tally.duplicate_keys, 0);
    assert_eq!(tally.missing_keys, 0);
    assert_eq!(tally.leaks, 0);
    assert_eq!(tally.panics, 0);
    assert!(
        tally.kills_mid_apply > 0,
        "no kill landed during an apply: {tally:#?}"
    );
}

/// A sandbox with one project `prod` holding keys a, b, c, d (someone else's), and a manifest
/// declaring only a and b with `unmanaged = "delete"`: a correct listing plans deleting c and d.
fn four_keys(faults: Faults) -> (Sandbox, keyplan::model::Project, Vec<String>) {
    let sandbox = Sandbox::new(&program(), faults);
    let prod = sandbox.emulator.add_project("prod");
    for name in ["a", "b", "c", "d"] {
        sandbox
            .emulator
            .add_key(&prod.id, name, &[Role::DataPlaneViewer]);
    }
    sandbox.write_manifest(
        "[secrets]\nstore = \"file\"\npath = \"secrets.json\"\n\n[[project]]\nname = \"prod\"\n\
         unmanaged = \"delete\"\n\n  [[project.key]]\n  name = \"a\"\n  roles = [\"DataPlaneViewer\"]\n\n  \
         [[project.key]]\n  name = \"b\"\n  roles = [\"DataPlaneViewer\"]\n",
    );
    let ids = key_ids(&sandbox, &prod);
    (sandbox, prod, ids)
}

fn key_ids(sandbox: &Sandbox, project: &keyplan::model::Project) -> Vec<String> {
    let mut ids: Vec<String> = sandbox
        .emulator
        .keys(&project.id)
        .into_iter()
        .map(|k| k.id.to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn malformed_listings_stop_plan_and_apply_with_an_error_and_change_nothing() {
    let faults = [
        Fault::TruncatedJson,
        Fault::WrongTypes,
        Fault::MissingFields,
        Fault::Html(502),
        Fault::EmptyOk,
        Fault::HugeBody,
    ];
    let mut messages = Vec::new();
    for route in [Route::ListProjects, Route::ListKeys] {
        for fault in faults {
            for command in ["plan", "apply"] {
                let (sandbox, prod, before) = four_keys(Faults::default());
                // Enough copies that every retry meets the fault too.
                sandbox
                    .emulator
                    .push_faults(route, std::iter::repeat_n(fault, 8));
                let args = if command == "plan" {
                    Sandbox::plan_args()
                } else {
                    sandbox.apply_args(&[])
                };
                let run = sandbox.run(&args);
                let what = format!("{command} with {fault:?} on {route:?}");
                assert_eq!(
                    run.code, 1,
                    "{what}: exit {}\n{}\n{}",
                    run.code, run.stdout, run.stderr
                );
                assert_eq!(
                    key_ids(&sandbox, &prod),
                    before,
                    "{what} changed the live keys\n{}",
                    run.stdout
                );
                assert!(run.stderr.starts_with("error: "), "{what}: {}", run.stderr);
                assert!(
                    !run.stdout.contains("to delete") && !run.stdout.contains("to create"),
                    "{what} printed a plan:\n{}",
                    run.stdout
                );
                assert_eq!(sandbox.panics(), 0, "{what}");
                assert_eq!(sandbox.leaks(), 0, "{what}");
                messages.push(format!("{what}: {}", run.stderr.trim()));
            }
        }
    }
    eprintln!("{}", messages.join("\n"));
}

#[test]
fn a_listing_that_trickles_past_the_timeout_is_retried_never_read_half() {
    let (sandbox, prod, before) = four_keys(Faults::default());
    sandbox
        .emulator
        .push_faults(Route::ListKeys, [Fault::Trickle]);
    let run = sandbox.run(&Sandbox::plan_args());
    // The one trickling answer times out (30 s); the retry reads the real listing.
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("Plan: 0 to create, 0 to update, 0 to replace, 2 to delete."),
        "{}",
        run.stdout
    );
    assert!(run.elapsed >= Duration::from_secs(25), "{:?}", run.elapsed);
    assert_eq!(key_ids(&sandbox, &prod), before);
    assert_eq!(sandbox.panics(), 0);
}

#[test]
fn a_rate_limited_large_apply_slows_down_instead_of_failing() {
    let sandbox = Sandbox::new(
        &program(),
        Faults {
            rate_limit: Some(RateLimit {
                per_second: 20.0,
                burst: 5,
            }),
            ..Faults::default()
        },
    );
    let bulk = sandbox.emulator.add_project("bulk");
    let keys = (0..60)
        .map(|i| reliability::KeySpec {
            name: format!("worker-{i:02}"),
            roles: [Role::ALL[i % 6].clone()].into(),
            previous_names: vec![],
            replace_on_role_change: false,
        })
        .collect();
    sandbox.write_manifest(&reliability::manifest(&[reliability::ProjectSpec {
        name: "bulk".into(),
        unmanaged_delete: true,
        keys,
    }]));
    let run = sandbox.run(&sandbox.apply_args(&[]));
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("Apply complete: 60 created, 0 updated, 0 replaced, 0 deleted."),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("Failed:"), "{}", run.stdout);
    let counters = sandbox.emulator.counters();
    assert!(
        counters.status(429) > 0,
        "the bucket never ran dry: the test proves nothing"
    );
    assert_eq!(sandbox.emulator.keys(&bulk.id).len(), 60);
    let audit = sandbox.secret_audit(&[bulk], &BTreeSet::default());
    assert_eq!((audit.secretless, audit.wrong), (0, 0), "{audit:?}");
    assert_eq!(sandbox.run(&Sandbox::plan_args()).code, 0);
    assert_eq!(sandbox.leaks(), 0);
    eprintln!(
        "60 creates under 20 req/s, burst 5: {:?}, {} answers 429",
        run.elapsed,
        counters.status(429)
    );
}

#[test]
fn two_applies_started_together_leave_no_duplicates_and_converge() {
    let mut codes = Vec::new();
    for seed in 500..506 {
        let scenario = reliability::Scenario::generate(seed);
        let prepared = reliability::prepare(&program(), &scenario).unwrap();
        let sandbox = &prepared.sandbox;
        sandbox.emulator.set_faults(Faults {
            latency: Duration::from_millis((seed % 3) * 5),
            ..Faults::default()
        });
        let args = sandbox.apply_args(&prepared.pending_rotations());
        let started = Instant::now();
        let first = sandbox.spawn(&args);
        let second = sandbox.spawn(&args);
        let runs = [sandbox.wait(first, started), sandbox.wait(second, started)];
        for run in &runs {
            codes.push(run.code);
            assert!(
                run.code == 0
                    || (run.code == 6
                        && (run.stdout.contains("plan again")
                            || run.stdout.contains("another keyplan run"))),
                "seed {seed}: a run neither converged nor reported a stale state clearly: exit {}\n{}\n{}",
                run.code,
                run.stdout,
                run.stderr
            );
        }
        let plan = sandbox.run(&Sandbox::plan_args());
        let (equal, duplicates) = prepared.check();
        let audit = prepared.audit();
        assert_eq!(duplicates, 0, "seed {seed}\n{}", prepared.describe_live());
        assert_eq!(
            plan.code,
            0,
            "seed {seed}: {}\n{}",
            plan.stdout,
            prepared.describe_live()
        );
        assert!(equal, "seed {seed}\n{}", prepared.describe_live());
        assert_eq!(
            (audit.missing, audit.secretless, audit.wrong),
            (0, 0, 0),
            "seed {seed}: {audit:?}"
        );
        assert_eq!(sandbox.leaks(), 0);
        assert_eq!(sandbox.panics(), 0);
    }
    eprintln!("exit codes of the racing runs: {codes:?}");
}

#[test]
fn malformed_create_answers_leave_no_secretless_key_and_quote_no_secret() {
    let faults = [
        Fault::TruncatedJson,
        Fault::WrongTypes,
        Fault::MissingFields,
        Fault::EmptyOk,
        Fault::HugeBody,
        Fault::Html(502),
        Fault::LoseResponse,
    ];
    for fault in faults {
        let sandbox = Sandbox::new(&program(), Faults::default());
        let prod = sandbox.emulator.add_project("prod");
        sandbox.write_manifest(&reliability::manifest(&[reliability::ProjectSpec {
            name: "prod".into(),
            unmanaged_delete: true,
            keys: vec![reliability::KeySpec {
                name: "fresh".into(),
                roles: [Role::DataPlaneEditor].into(),
                previous_names: vec![],
                replace_on_role_change: false,
            }],
        }]));
        sandbox.emulator.push_faults(Route::CreateKey, [fault]);
        let mut runs = Vec::new();
        for _ in 0..3 {
            let run = sandbox.run(&sandbox.apply_args(&[]));
            let code = run.code;
            runs.push(run);
            if code == 0 {
                break;
            }
        }
        let transcript: Vec<String> = runs
            .iter()
            .map(|r| format!("exit {}\n{}\n{}", r.code, r.stdout, r.stderr))
            .collect();
        let transcript = transcript.join("\n---\n");
        assert_eq!(runs.last().unwrap().code, 0, "{fault:?}\n{transcript}");
        assert_eq!(sandbox.run(&Sandbox::plan_args()).code, 0, "{fault:?}");
        let live = sandbox.emulator.keys(&prod.id);
        assert_eq!(live.len(), 1, "{fault:?}: {live:?}\n{transcript}");
        let audit = sandbox.secret_audit(std::slice::from_ref(&prod), &BTreeSet::default());
        assert_eq!(
            (audit.secretless, audit.wrong),
            (0, 0),
            "{fault:?}: {audit:?}\n{transcript}"
        );
        assert_eq!(
            sandbox.leaks(),
            0,
            "{fault:?}: a secret (or a piece of one) was printed\n{transcript}"
        );
        assert_eq!(sandbox.panics(), 0, "{fault:?}");
        eprintln!(
            "{fault:?}: {} apply run(s)\n{}",
            runs.len(),
            runs[0].stderr.trim()
        );
    }
}

#[test]
fn a_rename_the_api_refuses_keeps_the_secret_with_the_key_and_the_next_apply_moves_both() {
    let sandbox = Sandbox::new(&program(), Faults::default());
    let prod = sandbox.emulator.add_project("prod");
    let spec = |name: &str, previous: &[&str]| reliability::ProjectSpec {
        name: "prod".into(),
        unmanaged_delete: false,
        keys: vec![reliability::KeySpec {
            name: name.into(),
            roles: [Role::DataPlaneViewer].into(),
            previous_names: previous.iter().map(|s| (*s).to_owned()).collect(),
            replace_on_role_change: false,
        }],
    };
    sandbox.write_manifest(&reliability::manifest(&[spec("ingest", &[])]));
    assert_eq!(sandbox.run(&sandbox.apply_args(&[])).code, 0);
    let key = sandbox.emulator.keys(&prod.id).remove(0);

    sandbox.write_manifest(&reliability::manifest(&[spec("ingest-v2", &["ingest"])]));
    // Every attempt of the rename fails: the secret must go back under the key's name.
    sandbox
        .emulator
        .push_faults(Route::UpdateKey, std::iter::repeat_n(Fault::Status(503), 8));
    let refused = sandbox.run(&sandbox.apply_args(&[]));
    assert_eq!(refused.code, 6, "{}\n{}", refused.stdout, refused.stderr);
    assert_eq!(sandbox.emulator.keys(&prod.id)[0].name, "ingest");
    let stored = sandbox.stored().unwrap();
    assert_eq!(
        stored.get(key.id.as_str()).map(|(name, _)| name.as_str()),
        Some("ingest")
    );

    sandbox.emulator.set_faults(Faults::default());
    let _ = sandbox.run(&sandbox.apply_args(&[])); // takes what is left of the 503s
    let done = sandbox.run(&sandbox.apply_args(&[]));
    assert_eq!(done.code, 0, "{}\n{}", done.stdout, done.stderr);
    assert_eq!(sandbox.emulator.keys(&prod.id)[0].name, "ingest-v2");
    let audit = sandbox.secret_audit(std::slice::from_ref(&prod), &BTreeSet::default());
    assert_eq!((audit.secretless, audit.wrong), (0, 0), "{audit:?}");
    assert_eq!(sandbox.leaks(), 0);
}

/// The checker itself: after an apply that converged, a declared key that is not live is a
/// failure of the audit (it has no secret to check, so it must not just be skipped).
#[test]
fn the_audit_fails_on_a_declared_key_that_is_not_live() {
    let mut prepared =
        reliability::prepare(&program(), &reliability::Scenario::generate(7)).unwrap();
    let applied = prepared
        .sandbox
        .run(&prepared.sandbox.apply_args(&prepared.pending_rotations()));
    assert_eq!(applied.code, 0, "{}\n{}", applied.stdout, applied.stderr);
    let audit = prepared.audit();
    assert_eq!(
        (audit.missing, audit.secretless, audit.wrong),
        (0, 0, 0),
        "{audit:?}"
    );

    prepared.declared[0].push("never-created".to_owned());
    let audit = prepared.audit();
    assert_eq!(audit.missing, 1, "{audit:?}");
    assert_eq!(
        audit.missing_names,
        [format!("{}/never-created", prepared.projects[0].name)]
    );
}
