//! One kill-then-immediate-rerun ([`rerun_kill`]): the emulator commits every create a while
//! after it arrives, even when its client has gone (`Fault::CommitLate`); an apply is killed
//! with SIGKILL while creates are in flight, and a second apply starts at once, so the killed
//! run's creates commit after the rerun has listed the keys. The rerun must exit 0 only when
//! the state is reached (docs/reliability.md: "one more apply converges").

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::emulator::{Counters, Fault, Route};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::tally::start;
use super::{Finished, Prepared, Sandbox, Tally};

/// What the rerun after a kill did, summed over kills.
#[derive(Debug, Default, Clone)]
pub struct RerunFigures {
    /// Kills made while at least one create was in flight at the emulator.
    pub kills: usize,
    /// Applies that finished before the kill (no create in flight to kill).
    pub finished_before_kill: usize,
    /// Creates the emulator had received and not yet answered at the kill, summed.
    pub creates_in_flight: u64,
    /// The rerun's exit codes.
    pub exits: BTreeMap<i32, usize>,
    /// Reruns after which the state equals the manifest: `plan --detailed-exitcode` exits 0,
    /// every declared key is live, every key keyplan made has its own secret stored.
    pub converged: usize,
    /// Reruns that exited 0 without the state reached. Must be 0.
    pub exit_zero_unconverged: usize,
    /// Reruns that met a key a killed run's late create left and deleted it themselves.
    pub settled_in_run: usize,
    /// After the rerun: keys keyplan made without their stored secret, and duplicate names.
    pub secretless: usize,
    pub duplicates: usize,
    /// Reruns that did not converge, after which a third apply did.
    pub converged_by_third: usize,
}

impl RerunFigures {
    pub(super) fn merge(&mut self, other: RerunFigures) {
        self.kills += other.kills;
        self.finished_before_kill += other.finished_before_kill;
        self.creates_in_flight += other.creates_in_flight;
        for (code, n) in other.exits {
            *self.exits.entry(code).or_default() += n;
        }
        self.converged += other.converged;
        self.exit_zero_unconverged += other.exit_zero_unconverged;
        self.settled_in_run += other.settled_in_run;
        self.secretless += other.secretless;
        self.duplicates += other.duplicates;
        self.converged_by_third += other.converged_by_third;
    }
}

/// The words the rerun prints when it deleted a key a killed run's late create left.
const SETTLED: &str = "interrupted or stalled";

/// One kill and immediate rerun of scenario `seed`: every create commits 200 to 600 ms (drawn
/// per scenario, the same for every create) after it arrives; the apply is killed 0 to 1.2×
/// that delay after the emulator received its first, second or third create; the rerun starts
/// at once, without faults other than the late commits.
pub fn rerun_kill(program: &super::Program, seed: u64) -> Tally {
    let (mut tally, prepared) = start(program, seed);
    let Some(prepared) = prepared else {
        return tally;
    };
    let sandbox = &prepared.sandbox;
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5e_4e4e);
    let delay_ms: u64 = rng.random_range(200..=600);
    let delay = Duration::from_millis(delay_ms);
    // Enough for every create of the killed run, the rerun and a third run.
    sandbox
        .emulator
        .push_faults(Route::CreateKey, vec![Fault::CommitLate(delay); 1000]);
    let creates = tally.mix.creates + tally.mix.replaces;
    let nth = rng.random_range(1..=creates.clamp(1, 3)) as u64;
    let after = Duration::from_millis(rng.random_range(0..=delay_ms * 6 / 5));

    sandbox.emulator.reset_counters();
    let started = Instant::now();
    let mut child = sandbox.spawn(&sandbox.apply_args(&prepared.pending_rotations()));
    let deadline = Instant::now() + Duration::from_secs(20);
    while sandbox.emulator.counters().route(Route::CreateKey) < nth
        && Instant::now() < deadline
        && child.try_wait().unwrap().is_none()
    {
        std::thread::sleep(Duration::from_micros(200));
    }
    std::thread::sleep(after);
    let finished_first = child.try_wait().unwrap().is_some();
    let _ = child.kill(); // SIGKILL
    let in_flight = unanswered_creates(&sandbox.emulator.counters());
    let killed = sandbox.wait(child, started);
    tally.apply_runs += 1;

    // At once: no pause between the kill and the next run.
    let rerun = sandbox.run(&sandbox.apply_args(&prepared.pending_rotations()));
    tally.apply_runs += 1;
    let figures = &mut tally.rerun;
    if finished_first || in_flight == 0 {
        figures.finished_before_kill = 1;
    } else {
        figures.kills = 1;
    }
    figures.creates_in_flight = in_flight;
    figures.exits.insert(rerun.code, 1);
    figures.settled_in_run =
        usize::from(rerun.stdout.contains(SETTLED) || rerun.stderr.contains(SETTLED));

    let reached = state_of(&prepared);
    figures.secretless = reached.secretless;
    figures.duplicates = reached.duplicates;
    if reached.converged {
        figures.converged = 1;
    } else if rerun.code == 0 {
        figures.exit_zero_unconverged = 1;
    }
    let mut third = None;
    if !reached.converged {
        let run = sandbox.run(&sandbox.apply_args(&prepared.pending_rotations()));
        tally.apply_runs += 1;
        let after_third = state_of(&prepared);
        figures.converged_by_third = usize::from(run.code == 0 && after_third.converged);
        third = Some((run, after_third));
    }
    tally.leaks = sandbox.leaks();
    tally.panics = sandbox.panics();
    tally.converged = usize::from(figures.converged == 1 || figures.converged_by_third == 1);
    if (!reached.converged && rerun.code == 0)
        || third.as_ref().is_some_and(|(_, r)| !r.converged)
        || tally.leaks > 0
        || tally.panics > 0
    {
        tally.problems.push(describe(
            seed, delay, nth, after, &killed, &rerun, &reached, &prepared,
        ));
    }
    tally
}

/// Creates the emulator received and had not answered (committed late or not at all yet).
fn unanswered_creates(counters: &Counters) -> u64 {
    let answered: u64 = counters
        .by_route_status
        .iter()
        .filter(|((route, _), _)| *route == Route::CreateKey)
        .map(|(_, n)| n)
        .sum();
    counters.route(Route::CreateKey).saturating_sub(answered)
}

/// The state after a run, read from the emulator and the store.
struct Reached {
    converged: bool,
    plan: Finished,
    secretless: usize,
    duplicates: usize,
}

fn state_of(prepared: &Prepared) -> Reached {
    let plan = prepared.sandbox.run(&Sandbox::plan_args());
    let (equal, duplicates) = prepared.check();
    let audit = prepared.audit();
    Reached {
        converged: plan.code == 0
            && equal
            && duplicates == 0
            && audit.missing == 0
            && audit.secretless == 0
            && audit.wrong == 0,
        plan,
        secretless: audit.secretless,
        duplicates,
    }
}

#[expect(clippy::too_many_arguments, reason = "one report of one kill")]
fn describe(
    seed: u64,
    delay: Duration,
    nth: u64,
    after: Duration,
    killed: &Finished,
    rerun: &Finished,
    reached: &Reached,
    prepared: &Prepared,
) -> String {
    format!(
        "rerun kill seed {seed} (creates commit {delay:?} late; killed {after:?} after create \
         {nth} arrived): rerun exit {}, converged {}, plan exit {}, secretless {}, duplicates \
         {}\n{}--- killed apply\n{}\n{}\n--- rerun\n{}\n{}\n--- plan\n{}\n{}",
        rerun.code,
        reached.converged,
        reached.plan.code,
        reached.secretless,
        reached.duplicates,
        prepared.describe_live(),
        killed.stdout,
        killed.stderr,
        rerun.stdout,
        rerun.stderr,
        reached.plan.stdout,
        reached.plan.stderr
    )
}
