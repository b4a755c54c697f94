//! keyplan's organisation-scale benchmark (docs/performance.md has its targets and figures).
//!
//! Starts the emulator in-process with an added per-request latency, fills it with N projects
//! × K keys (directly, untimed), writes a manifest that matches, and measures side by side:
//! `keyplan plan` (the release binary, default settings), `keyplan apply` creating M keys and
//! then deleting them, the same with `--concurrency 1` (baseline 1), the official Python SDK
//! listing every project's keys one after another (baseline 2, `bench_sdk_baseline.py`), and
//! the ideal bound: the round trips the critical path needs at concurrency C, times the latency.
//! Also: a rate-limited apply, the per-request overhead (how much each request costs beyond the
//! injected latency), a concurrency sweep, `keyplan validate` of a large manifest, keyplan's own
//! plan computation in-process, and how plan time grows with N, K and latency.
//!
//! ```sh
//! cargo build --release --bin keyplan --example bench
//! target/release/examples/bench --projects 200 --keys 25 --latency-ms 20 --creates 1000
//! target/release/examples/bench --smoke      # tiny, for CI: figures, no timing assertions
//! ```
//!
//! Exits non-zero only on a functional failure (a failed command or action, a missing or
//! extra stored secret, a secret in the output, a listing that saw the wrong keys), never on
//! a figure.
//!
//! The parts: `args` (the command line), `host` (the keyplan binary, the Python for baseline 2,
//! the report's header), `org` and `world` (the organisation in a running emulator, and keyplan
//! and the SDK script run against it), `child` (running and measuring one child process),
//! `bound` (the ideal bounds), `report` (a scenario's figures and their table), and the
//! scenarios: `validate`, `overhead`, `plan` (with the sweep and the scaling tables) and `apply`
//! (with the rate-limited apply and the random 429s). This file runs them in order and closes with the targets.

#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line report"
)]
#![expect(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "figures for display"
)]

mod apply;
mod args;
mod bound;
mod child;
mod host;
mod org;
mod overhead;
mod plan;
mod report;
mod validate;
mod world;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use args::Args;
use child::Runner;

type Result<T> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args = Args::parse().resolved();
    match Bench::new(&args).and_then(|mut bench| bench.run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench: FAILED: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The benchmark: its options, the runtime the emulators run on, the programs it measures, a
/// scratch directory, and the verdicts on the targets so far. Each scenario is a method, in a
/// module of its own.
struct Bench<'a> {
    args: &'a Args,
    rt: tokio::runtime::Runtime,
    runner: Runner,
    keyplan: PathBuf,
    python: Option<PathBuf>,
    dir: tempfile::TempDir,
    /// Lines for the closing summary of targets.
    verdicts: Vec<String>,
}

impl<'a> Bench<'a> {
    fn new(args: &'a Args) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("start the runtime: {e}"))?;
        let dir = tempfile::tempdir().map_err(|e| format!("make a temporary directory: {e}"))?;
        let keyplan = host::find_keyplan(args)?;
        let python = host::find_python(args)?;
        Ok(Bench {
            args,
            rt,
            runner: Runner::new(dir.path()),
            keyplan,
            python,
            dir,
            verdicts: Vec::new(),
        })
    }

    fn run(&mut self) -> Result<()> {
        let a = self.args;
        self.header();

        if a.wants("validate") {
            self.validate_and_compute()?;
        }
        let world = self.world(a.projects, a.keys, a.latency())?;
        if a.wants("overhead") {
            self.per_request_overhead(&world)?;
        }
        if a.wants("plan") {
            self.plan_scenarios(&world)?;
        }
        if a.wants("sweep") {
            self.sweep(&world)?;
        }
        if a.wants("apply") {
            self.apply_scenarios(&world)?;
        }
        if a.wants("rate") {
            self.rate_limited(&world)?;
        }
        self.rt.block_on(world.emu.shutdown());
        if a.wants("throttle") {
            let world = self.world(a.throttle_projects, a.keys, a.latency())?;
            self.random_throttles(&world)?;
            self.rt.block_on(world.emu.shutdown());
        }

        if !a.no_scaling && a.wants("scaling") {
            self.scaling()?;
        }
        if !a.no_scaling && a.wants("keys") {
            self.keys_per_project()?;
        }

        println!("\n## Targets (docs/performance.md)\n");
        for line in &self.verdicts {
            println!("- {line}");
        }
        println!("\nbench: all functional checks passed");
        Ok(())
    }

    /// Records a target's verdict; `applies` says whether this run's sizes are the target's.
    fn verdict(&mut self, applies: bool, met: bool, text: &str) {
        let state = match (applies, met) {
            (false, _) => "(other sizes than the target's; not judged)",
            (true, true) => "MET",
            (true, false) => "NOT MET",
        };
        self.verdicts.push(format!("{text}: {state}"));
    }
}
