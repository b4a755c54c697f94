//! Issue 5's proof, small sample: the real `keyplan` binary against the emulator injecting
//! faults, killed at random moments, rate limited, raced against itself, and fed malformed
//! answers. Every check reads the emulator's state and the secret store, not keyplan's report.
//! `examples/reliability.rs` runs the same scenarios in the hundreds (docs/reliability.md).

#![expect(clippy::unwrap_used, reason = "tests")]

#[path = "common/reliability.rs"]
mod reliability;

use std::time::Duration;

use reliability::{Program, Tally};

fn program() -> Program {
    Program {
        path: env!("CARGO_BIN_EXE_keyplan").into(),
        env: Vec::new(),
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
    assert_eq!(tally.secretless_keys, 0, "{what}");
    assert_eq!(tally.wrong_secrets, 0, "{what}");
    assert_eq!(tally.leaks, 0, "{what}");
    assert_eq!(tally.panics, 0, "{what}");
    assert_eq!(tally.invalid_store_files, 0, "{what}");
}

#[test]
fn randomised_fault_runs_converge_without_duplicates_lost_secrets_or_leaks() {
    let scenarios = std::env::var("KEYPLAN_FAULT_SCENARIOS").ok().and_then(|v| v.parse().ok()).unwrap_or(12);
    let tally = reliability::run_many(1, scenarios, 4, |seed| reliability::fault_scenario(&program(), seed));
    eprintln!("{tally:#?}");
    assert_clean("fault runs", &tally);
    // The faults really happened.
    assert!(tally.throttled > 0 && tally.server_errors > 0 && tally.dropped > 0, "{tally:#?}");
}

#[test]
fn sigkill_at_random_moments_leaves_a_valid_store_and_the_next_apply_converges() {
    let points = std::env::var("KEYPLAN_CRASH_POINTS").ok().and_then(|v| v.parse().ok()).unwrap_or(8);
    let window = reliability::calibrate_crash_window(&program(), 1000);
    let tally = reliability::run_many(1000, points, 4, |seed| reliability::crash_point(&program(), seed, window));
    eprintln!("kill window {window:?}\n{tally:#?}");
    assert!(tally.problems.is_empty(), "{}", tally.problems.join("\n=====\n"));
    assert_eq!(tally.recovered, tally.scenarios);
    assert_eq!(tally.invalid_store_files, 0);
    assert_eq!(tally.duplicate_keys, 0);
    assert_eq!(tally.leaks, 0);
    assert_eq!(tally.panics, 0);
    assert!(tally.kills_mid_apply > 0, "no kill landed during an apply: {tally:#?}");
}
