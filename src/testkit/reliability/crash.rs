//! One crash point ([`crash_point`]): an apply killed with SIGKILL, at a random moment or just
//! after the emulator committed a create, then the store checked and one recovery apply that
//! must converge; and [`calibrate_crash_window`], the range the random kill delays come from.

use std::time::{Duration, Instant};

use crate::emulator::{Faults, Route};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::tally::start;
use super::{Finished, Prepared, Program, Sandbox, Scenario, Tally, prepare};

/// One crash point: latency slows the apply, it is killed with SIGKILL after a random delay
/// (up to `max_delay`), then the store is checked and one fault-free apply must converge.
/// With `targeted`, the kill comes 0 to 8 ms after the emulator committed the first create.
pub fn crash_point(program: &Program, seed: u64, max_delay: Duration, targeted: bool) -> Tally {
    let (mut tally, prepared) = start(program, seed);
    let Some(prepared) = prepared else {
        return tally;
    };
    let sandbox = &prepared.sandbox;
    let mut rng = StdRng::seed_from_u64(seed ^ 0x00c0_ffee);
    sandbox.emulator.set_faults(Faults {
        latency: Duration::from_millis(40),
        ..Faults::default()
    });
    let (killed, delay, finished_first) =
        kill_during_apply(sandbox, &prepared, &mut rng, max_delay, targeted);
    if targeted {
        tally.targeted_kills = 1;
    }
    tally.apply_runs += 1;
    if finished_first {
        tally.finished_before_kill = 1;
    } else {
        tally.kills_mid_apply = 1;
    }

    let after_kill = sandbox.secret_audit(&prepared.projects, &prepared.foreign_ids);
    tally.invalid_store_files = usize::from(after_kill.invalid_file);
    tally.secretless_after_kill = after_kill.secretless;
    tally.store_temp_files = sandbox.store_temp_files();

    sandbox.emulator.set_faults(Faults::default());
    let recovery = sandbox.run(&sandbox.apply_args(&prepared.pending_rotations()));
    tally.apply_runs += 1;
    tally.temp_files_after_recovery = sandbox.store_temp_files();
    let plan = sandbox.run(&Sandbox::plan_args());
    let (equal, duplicates) = prepared.check();
    let audit = prepared.audit();
    tally.duplicate_keys = duplicates;
    tally.missing_keys = audit.missing;
    tally.secretless_keys = audit.secretless;
    tally.stranded_points[usize::from(targeted)] = usize::from(audit.secretless > 0);
    tally.stranded_keys[usize::from(targeted)] = audit.secretless;
    tally.crash_secretless_names = audit
        .secretless_names
        .iter()
        .map(|n| format!("seed {seed}: {n} (killed after {delay:?})"))
        .collect();
    tally.wrong_secrets = audit.wrong;
    tally.invalid_store_files += usize::from(audit.invalid_file);
    tally.leaks = sandbox.leaks();
    tally.panics = sandbox.panics();
    let converged = recovery.code == 0 && plan.code == 0 && equal && audit.missing == 0;
    if converged {
        tally.converged = 1;
        tally.recovered = 1;
    }
    // Set to see, for every crash point that stranded a key, both runs in full.
    if std::env::var_os("KEYPLAN_DEBUG_SECRETLESS").is_some() && audit.secretless > 0 {
        tally.problems.push(format!(
            "secretless after recovery, seed {seed}: {:?}\n{}--- killed\n{}\n{}\n--- recovery\n{}\n{}",
            audit.secretless_names,
            prepared.describe_live(),
            killed.stdout,
            killed.stderr,
            recovery.stdout,
            recovery.stderr
        ));
    }
    if !converged
        || duplicates > 0
        || audit.wrong > 0
        || tally.invalid_store_files > 0
        || tally.leaks > 0
        || tally.panics > 0
    {
        tally.problems.push(format!(
            "crash point seed {seed} (kill after {delay:?}): recovery apply exit {}, plan exit {}, \
             equal {equal}, duplicates {duplicates}, missing {:?}, wrong secrets {:?}, invalid \
             store files {}, leaks {}, panics {}\n{}--- killed apply\n{}\n{}\n--- recovery\n{}\n{}\n\
             --- plan\n{}\n{}",
            recovery.code,
            plan.code,
            audit.missing_names,
            audit.wrong_names,
            tally.invalid_store_files,
            tally.leaks,
            tally.panics,
            prepared.describe_live(),
            killed.stdout,
            killed.stderr,
            recovery.stdout,
            recovery.stderr,
            plan.stdout,
            plan.stderr
        ));
    }
    tally
}

/// Starts `apply --auto-approve` and kills it with SIGKILL: after a random delay up to
/// `max_delay`, or (`targeted`) 0 to 8 ms after the emulator committed the run's first create.
/// Returns its output, when it was killed, and whether it had finished before.
fn kill_during_apply(
    sandbox: &Sandbox,
    prepared: &Prepared,
    rng: &mut StdRng,
    max_delay: Duration,
    targeted: bool,
) -> (Finished, Duration, bool) {
    sandbox.emulator.reset_counters();
    let started = Instant::now();
    let mut child = sandbox.spawn(&sandbox.apply_args(&prepared.pending_rotations()));
    let delay = if targeted {
        // Aimed at the window the store cannot close: wait until the emulator has committed a
        // create and is sending its answer, then kill within the few milliseconds the answer
        // takes to arrive and the secret to be written.
        let deadline = Instant::now() + Duration::from_secs(10);
        while sandbox
            .emulator
            .counters()
            .route_status(Route::CreateKey, 200)
            == 0
            && Instant::now() < deadline
            && child.try_wait().unwrap().is_none()
        {
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_micros(rng.random_range(0..=8000)));
        started.elapsed()
    } else {
        let delay = Duration::from_millis(
            rng.random_range(0..=u64::try_from(max_delay.as_millis()).unwrap()),
        );
        std::thread::sleep(delay);
        delay
    };
    let finished_first = child.try_wait().unwrap().is_some();
    let _ = child.kill(); // SIGKILL
    let killed = sandbox.wait(child, started);
    (killed, delay, finished_first)
}

/// How long one fault-free apply of a scenario takes at the crash points' latency: the range
/// the kill delays are drawn from.
pub fn calibrate_crash_window(program: &Program, seed: u64) -> Duration {
    let scenario = Scenario::generate(seed);
    let Ok(prepared) = prepare(program, &scenario) else {
        return Duration::from_secs(2);
    };
    prepared.sandbox.emulator.set_faults(Faults {
        latency: Duration::from_millis(40),
        ..Faults::default()
    });
    let run = prepared
        .sandbox
        .run(&prepared.sandbox.apply_args(&prepared.pending_rotations()));
    run.elapsed
}
