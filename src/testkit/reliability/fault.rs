//! One randomised fault scenario ([`fault_scenario`]): the random fault mix drawn per scenario,
//! the scripted faults every scenario meets, up to three applies under them, and the checks
//! once the faults are off.

use std::fmt::Write as _;
use std::time::Duration;

use crate::emulator::{Fault, Faults, Route};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::tally::start;
use super::{Program, Sandbox, Tally};

/// The random fault mix of one scenario: every kind, at rates drawn per scenario.
pub fn fault_mix(seed: u64) -> Faults {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_fa17);
    Faults {
        latency: Duration::from_millis(rng.random_range(0..=15)),
        seed,
        error_rate: rng.random_range(0.02..0.12),
        throttle_rate: rng.random_range(0.01..0.06),
        drop_rate: rng.random_range(0.02..0.10),
        lose_create_response_rate: rng.random_range(0.05..0.35),
        rate_limit: None,
    }
}

/// Scripted faults on top of the random ones, so every scenario meets each kind at least once.
fn scripted_faults(sandbox: &Sandbox) {
    let e = &sandbox.emulator;
    e.push_faults(Route::CreateKey, [Fault::LoseResponse]);
    e.push_faults(
        Route::ListKeys,
        [Fault::Throttle {
            retry_after_secs: 1,
        }],
    );
    e.push_faults(Route::UpdateKey, [Fault::Status(503), Fault::Drop]);
    e.push_faults(Route::DeleteKey, [Fault::Drop]);
}

/// One randomised fault scenario: set up without faults, then at most three
/// `apply --auto-approve` runs under faults, then the checks (faults off).
pub fn fault_scenario(program: &Program, seed: u64) -> Tally {
    let (mut tally, prepared) = start(program, seed);
    let Some(prepared) = prepared else {
        return tally;
    };
    let sandbox = &prepared.sandbox;
    sandbox.emulator.reset_counters();
    sandbox.emulator.set_faults(fault_mix(seed));
    scripted_faults(sandbox);
    let mut runs = Vec::new();
    let mut converged_in = None;
    for attempt in 0..3 {
        let args = sandbox.apply_args(&prepared.pending_rotations());
        let run = sandbox.run(&args);
        tally.apply_runs += 1;
        let code = run.code;
        runs.push(run);
        if code == 0 && prepared.check().0 && prepared.pending_rotations().is_empty() {
            converged_in = Some(attempt);
            break;
        }
    }
    let counters = sandbox.emulator.counters();
    tally.requests = counters.total;
    tally.throttled = counters.status(429);
    tally.server_errors = [500, 502, 503, 504]
        .iter()
        .map(|s| counters.status(*s))
        .sum();
    tally.dropped = counters.dropped;
    sandbox.emulator.set_faults(Faults::default());

    let plan = sandbox.run(&Sandbox::plan_args());
    let (equal, duplicates) = prepared.check();
    let audit = prepared.audit();
    tally.duplicate_keys = duplicates;
    tally.missing_keys = audit.missing;
    tally.secretless_keys = audit.secretless;
    tally.wrong_secrets = audit.wrong;
    tally.invalid_store_files = usize::from(audit.invalid_file);
    tally.leaks = sandbox.leaks();
    tally.panics = sandbox.panics();
    let converged = converged_in.is_some() && plan.code == 0 && equal;
    if converged {
        tally.converged = 1;
        tally.converged_after[converged_in.unwrap()] = 1;
    }
    let clean = converged
        && duplicates == 0
        && audit.missing == 0
        && audit.secretless == 0
        && audit.wrong == 0
        && !audit.invalid_file
        && tally.leaks == 0
        && tally.panics == 0;
    if !clean {
        let mut problem = format!(
            "fault scenario seed {seed}: converged {converged} (after {:?} applies; plan exit {}), \
             duplicates {duplicates}, missing {:?}, secretless {:?}, wrong secrets {:?}, leaks {}, \
             panics {}\n{}",
            converged_in.map(|a| a + 1),
            plan.code,
            audit.missing_names,
            audit.secretless_names,
            audit.wrong_names,
            tally.leaks,
            tally.panics,
            prepared.describe_live()
        );
        for (i, run) in runs.iter().enumerate() {
            let _ = write!(
                problem,
                "--- apply {} exit {}\n{}\n{}\n",
                i + 1,
                run.code,
                run.stdout,
                run.stderr
            );
        }
        let _ = write!(
            problem,
            "--- plan exit {}\n{}\n{}",
            plan.code, plan.stdout, plan.stderr
        );
        tally.problems.push(problem);
    }
    tally
}
