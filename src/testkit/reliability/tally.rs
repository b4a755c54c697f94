//! The figures of many runs: one [`Tally`] per scenario or crash point, started with the
//! scenario's set-up, summed, and [`run_many`], which runs them on a few threads at a time.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Mix, Prepared, Program, RerunFigures, Scenario, prepare};

/// The figures summed over all runs.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub scenarios: usize,
    pub converged: usize,
    pub apply_runs: usize,
    /// Scenarios that converged after 1, 2, 3 applies.
    pub converged_after: [usize; 3],
    pub duplicate_keys: usize,
    /// Declared keys not live after the apply that should have converged.
    pub missing_keys: usize,
    pub secretless_keys: usize,
    pub wrong_secrets: usize,
    pub invalid_store_files: usize,
    pub leaks: usize,
    pub panics: usize,
    pub mix: Mix,
    pub throttled: u64,
    pub server_errors: u64,
    pub dropped: u64,
    pub requests: u64,
    /// One line per scenario that broke a rule, with its seed.
    pub problems: Vec<String>,
    // Crash points only.
    pub kills_mid_apply: usize,
    pub targeted_kills: usize,
    /// Crash points (random, aimed) that left at least one key without a stored secret after
    /// the recovery apply, and how many such keys.
    pub stranded_points: [usize; 2],
    pub stranded_keys: [usize; 2],
    pub finished_before_kill: usize,
    pub secretless_after_kill: usize,
    pub store_temp_files: usize,
    pub temp_files_after_recovery: usize,
    pub recovered: usize,
    pub crash_secretless_names: Vec<String>,
    // Kill-then-immediate-rerun points only.
    pub rerun: RerunFigures,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.scenarios += other.scenarios;
        self.converged += other.converged;
        self.apply_runs += other.apply_runs;
        for i in 0..3 {
            self.converged_after[i] += other.converged_after[i];
        }
        self.duplicate_keys += other.duplicate_keys;
        self.missing_keys += other.missing_keys;
        self.secretless_keys += other.secretless_keys;
        self.wrong_secrets += other.wrong_secrets;
        self.invalid_store_files += other.invalid_store_files;
        self.leaks += other.leaks;
        self.panics += other.panics;
        self.mix.add(other.mix);
        self.throttled += other.throttled;
        self.server_errors += other.server_errors;
        self.dropped += other.dropped;
        self.requests += other.requests;
        self.problems.extend(other.problems);
        self.kills_mid_apply += other.kills_mid_apply;
        self.targeted_kills += other.targeted_kills;
        for i in 0..2 {
            self.stranded_points[i] += other.stranded_points[i];
            self.stranded_keys[i] += other.stranded_keys[i];
        }
        self.finished_before_kill += other.finished_before_kill;
        self.secretless_after_kill += other.secretless_after_kill;
        self.store_temp_files += other.store_temp_files;
        self.temp_files_after_recovery += other.temp_files_after_recovery;
        self.recovered += other.recovered;
        self.crash_secretless_names
            .extend(other.crash_secretless_names);
        self.rerun.merge(other.rerun);
    }
}

/// Runs `run(seed)` for `count` seeds from `first_seed`, `parallel` at a time.
pub fn run_many(
    first_seed: u64,
    count: usize,
    parallel: usize,
    run: impl Fn(u64) -> Tally + Sync,
) -> Tally {
    let next = AtomicUsize::new(0);
    let total = Mutex::new(Tally::default());
    std::thread::scope(|scope| {
        for _ in 0..parallel.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= count {
                        break;
                    }
                    let tally = run(first_seed + i as u64);
                    total.lock().unwrap().merge(tally);
                }
            });
        }
    });
    total.into_inner().unwrap()
}

/// The start of a fault scenario or a crash point: the tally of the scenario `seed` generates
/// (one scenario, its mix), and the scenario set up by [`prepare`]. Without the latter when the
/// set-up failed: the tally then holds the problem and is the result as it is.
pub(super) fn start(program: &Program, seed: u64) -> (Tally, Option<Prepared>) {
    let scenario = Scenario::generate(seed);
    let mut tally = Tally {
        scenarios: 1,
        mix: scenario.mix,
        ..Tally::default()
    };
    let prepared = match prepare(program, &scenario) {
        Ok(prepared) => Some(prepared),
        Err(problem) => {
            tally.problems.push(problem);
            None
        }
    };
    (tally, prepared)
}
