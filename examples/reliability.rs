//! The large version of issue 5's proof: randomised fault scenarios, SIGKILL crash points,
//! kills with creates in flight followed by an immediate rerun (issue 11) and a manifest fuzz
//! run, with the figures `docs/reliability.md` quotes.
//!
//! ```sh
//! cargo run --release --example reliability -- --scenarios 200 --crash-points 50 --rerun-kills 50
//! ```
//!
//! Options: `--scenarios N` (default 200), `--crash-points N` (default 50), `--rerun-kills N`
//! (default 50), `--seed S` (first seed, default 1), `--parallel N` (scenarios at once, default
//! 4), `--fuzz-cases N` (manifest inputs, default 100000); 0 skips a part. Exits 1 when any
//! figure that must be zero is not.
//!
//! The example runs the scenarios through the real command line. It does not need a separately
//! built `keyplan` binary: it starts itself with `KEYPLAN_RELIABILITY_AS_KEYPLAN=1`, and then
//! does nothing but call `keyplan::run()`, exactly what `src/main.rs` does.

#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "an example that prints its figures"
)]
#![expect(clippy::unwrap_used, reason = "a test driver")]

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::{Duration, Instant};

use keyplan::testkit::reliability::{self, Program, Tally};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const AS_KEYPLAN: &str = "KEYPLAN_RELIABILITY_AS_KEYPLAN";

const USAGE: &str = "usage: reliability [--scenarios N] [--crash-points N] [--rerun-kills N] [--seed S] [--parallel N] [--fuzz-cases N]
  --scenarios N     randomised fault scenarios (default 200)
  --crash-points N  SIGKILL crash points, half of them aimed at a create (default 50)
  --rerun-kills N   SIGKILLs with creates in flight, each followed at once by a rerun (default 50)
  --seed S          first seed (default 1; crash points use S + 1000000, rerun kills S + 2000000)
  --parallel N      scenarios at once (default 4)
  --fuzz-cases N    manifest fuzz inputs (default 100000)
figures: see docs/reliability.md";

struct Options {
    scenarios: usize,
    crash_points: usize,
    rerun_kills: usize,
    seed: u64,
    parallel: usize,
    fuzz_cases: usize,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        scenarios: 200,
        crash_points: 50,
        rerun_kills: 50,
        seed: 1,
        parallel: 4,
        fuzz_cases: 100_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Err(String::new());
        }
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let number = |v: &str| v.parse::<u64>().map_err(|e| format!("{flag} {v}: {e}"));
        let n = number(&value)?;
        let count = usize::try_from(n).map_err(|e| e.to_string())?;
        match flag.as_str() {
            "--scenarios" => options.scenarios = count,
            "--crash-points" => options.crash_points = count,
            "--rerun-kills" => options.rerun_kills = count,
            "--seed" => options.seed = n,
            "--parallel" => options.parallel = count.max(1),
            "--fuzz-cases" => options.fuzz_cases = count,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(options)
}

fn main() -> std::process::ExitCode {
    if std::env::var_os(AS_KEYPLAN).is_some() {
        return keyplan::run().into();
    }
    let options = match parse_options() {
        Ok(options) => options,
        Err(error) if error.is_empty() => {
            println!("{USAGE}");
            return std::process::ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("error: {error}\n{USAGE}");
            return std::process::ExitCode::from(64);
        }
    };
    let program = Program {
        path: std::env::current_exe().unwrap(),
        env: vec![(AS_KEYPLAN.to_owned(), "1".to_owned())],
        // Leaks are counted and reported as a figure (and fail the run at the end).
        panic_on_leak: false,
    };
    let mut ok = true;
    let _ = std::fs::remove_file(std::env::temp_dir().join("keyplan-reliability-problems.txt"));

    let started = Instant::now();
    let faults = reliability::run_many(options.seed, options.scenarios, options.parallel, |seed| {
        reliability::fault_scenario(&program, seed)
    });
    let fault_time = started.elapsed();
    ok &= report_faults(&faults, fault_time, &options);

    let started = Instant::now();
    let crash_seed = options.seed + 1_000_000;
    let window = reliability::calibrate_crash_window(&program, crash_seed);
    let crashes =
        reliability::run_many(crash_seed, options.crash_points, options.parallel, |seed| {
            reliability::crash_point(&program, seed, window, seed % 2 == 1)
        });
    let crash_time = started.elapsed();
    ok &= report_crashes(&crashes, crash_time, window);

    let started = Instant::now();
    let rerun_seed = options.seed + 2_000_000;
    let reruns = reliability::run_many(rerun_seed, options.rerun_kills, options.parallel, |seed| {
        reliability::rerun_kill(&program, seed)
    });
    ok &= report_reruns(&reruns, started.elapsed());

    let started = Instant::now();
    let fuzz = fuzz_manifests(options.fuzz_cases, options.seed);
    ok &= report_fuzz(&fuzz, started.elapsed());

    println!("\nstate machine: {}", machine());
    if ok {
        println!("result: every figure that must be zero is zero");
        std::process::ExitCode::SUCCESS
    } else {
        println!("result: FAILED (see above)");
        std::process::ExitCode::FAILURE
    }
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!(
        "{cpus} CPUs ({model}), {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// Prints the first line of every problem and the whole of the first two; all of them go to
/// `keyplan-reliability-problems.txt` in the temp directory.
fn problems(tally: &Tally) {
    if tally.problems.is_empty() {
        return;
    }
    let path = std::env::temp_dir().join("keyplan-reliability-problems.txt");
    let mut all = std::fs::read_to_string(&path).unwrap_or_default();
    for problem in &tally.problems {
        println!("   ! {}", problem.lines().next().unwrap_or_default());
        all.push_str(problem);
        all.push_str("\n=====\n");
    }
    let _ = std::fs::write(&path, all);
    for problem in tally.problems.iter().take(2) {
        println!("\n----- problem\n{problem}");
    }
    println!("\n(every problem in full: {})", path.display());
}

fn report_faults(t: &Tally, elapsed: Duration, options: &Options) -> bool {
    println!(
        "== randomised fault runs: {} scenarios (seeds {}..={}), {:.0} s",
        t.scenarios,
        options.seed,
        options.seed + t.scenarios as u64 - 1,
        elapsed.as_secs_f64()
    );
    println!(
        "   asked for: {} creates, {} renames, {} role updates, {} replaces, {} deletes",
        t.mix.creates, t.mix.renames, t.mix.role_updates, t.mix.replaces, t.mix.deletes
    );
    println!(
        "   injected: {} requests, {} answered 429 (Retry-After), {} answered 5xx, {} connections dropped (lost create answers included)",
        t.requests, t.throttled, t.server_errors, t.dropped
    );
    println!(
        "   scenarios converged:          {} / {} (after 1 apply: {}, 2: {}, 3: {}; {} apply runs)",
        t.converged,
        t.scenarios,
        t.converged_after[0],
        t.converged_after[1],
        t.converged_after[2],
        t.apply_runs
    );
    println!("   duplicate keys left:          {}", t.duplicate_keys);
    println!("   declared keys missing:        {}", t.missing_keys);
    println!("   keys without a stored secret: {}", t.secretless_keys);
    println!("   stored secrets not matching:  {}", t.wrong_secrets);
    println!("   secrets printed anywhere:     {}", t.leaks);
    println!("   panics:                       {}", t.panics);
    problems(t);
    t.converged == t.scenarios
        && t.duplicate_keys == 0
        && t.missing_keys == 0
        && t.secretless_keys == 0
        && t.wrong_secrets == 0
        && t.leaks == 0
        && t.panics == 0
        && t.invalid_store_files == 0
}

fn report_crashes(t: &Tally, elapsed: Duration, window: Duration) -> bool {
    println!(
        "\n== crash points: {} SIGKILLs: {} after a random delay in 0..{} ms (one fault-free apply at 40 ms latency takes that long), {} aimed at 0-8 ms after the first create committed; {:.0} s",
        t.scenarios,
        t.scenarios - t.targeted_kills,
        window.as_millis(),
        t.targeted_kills,
        elapsed.as_secs_f64()
    );
    println!(
        "   killed mid-apply: {}, finished before the kill: {}",
        t.kills_mid_apply, t.finished_before_kill
    );
    println!("   secrets file not valid JSON:  {}", t.invalid_store_files);
    println!(
        "   store temp files left behind: {} right after the kills, {} after the next apply",
        t.store_temp_files, t.temp_files_after_recovery
    );
    println!(
        "   next apply converged:         {} / {}",
        t.recovered, t.scenarios
    );
    println!("   duplicate keys left:          {}", t.duplicate_keys);
    println!("   declared keys missing:        {}", t.missing_keys);
    println!("   stored secrets not matching:  {}", t.wrong_secrets);
    println!("   secrets printed anywhere:     {}", t.leaks);
    println!("   panics:                       {}", t.panics);
    println!(
        "   keys created without a stored secret (killed between a create's answer and the store write): {} right after the kills, {} after the recovery apply",
        t.secretless_after_kill, t.secretless_keys
    );
    println!(
        "     after random kills: {} of {} points, {} keys; after aimed kills: {} of {} points, {} keys",
        t.stranded_points[0],
        t.scenarios - t.targeted_kills,
        t.stranded_keys[0],
        t.stranded_points[1],
        t.targeted_kills,
        t.stranded_keys[1]
    );
    for name in t.crash_secretless_names.iter().take(6) {
        println!("     {name}");
    }
    problems(t);
    t.recovered == t.scenarios
        && t.temp_files_after_recovery == 0
        && t.duplicate_keys == 0
        && t.missing_keys == 0
        && t.wrong_secrets == 0
        && t.leaks == 0
        && t.panics == 0
        && t.invalid_store_files == 0
}

fn report_reruns(t: &Tally, elapsed: Duration) -> bool {
    let r = &t.rerun;
    println!(
        "\n== kill, then an immediate rerun: {} scenarios, every create committed 200-600 ms after it arrives (even with its client gone), SIGKILL 0-1.2x that after the 1st-3rd create arrived, the rerun started at once; {:.0} s",
        t.scenarios,
        elapsed.as_secs_f64()
    );
    println!(
        "   killed with creates in flight: {} ({} creates unanswered at the kills), finished or nothing in flight: {}",
        r.kills, r.creates_in_flight, r.finished_before_kill
    );
    let exits: Vec<String> = r
        .exits
        .iter()
        .map(|(code, n)| format!("exit {code}: {n}"))
        .collect();
    println!("   rerun exits:                  {}", exits.join(", "));
    println!(
        "   converged on the first rerun: {} / {} ({} met a late create and deleted it in the same run)",
        r.converged, t.scenarios, r.settled_in_run
    );
    println!(
        "   reruns exiting 0 unconverged: {}",
        r.exit_zero_unconverged
    );
    println!(
        "   after the rerun: {} keys without a stored secret, {} duplicates; a third apply converged {} of {} others",
        r.secretless,
        r.duplicates,
        r.converged_by_third,
        t.scenarios - r.converged
    );
    println!("   secrets printed anywhere:     {}", t.leaks);
    println!("   panics:                       {}", t.panics);
    problems(t);
    r.exit_zero_unconverged == 0 && t.converged == t.scenarios && t.leaks == 0 && t.panics == 0
}

#[derive(Default)]
struct Fuzz {
    arbitrary_bytes: usize,
    mutated: usize,
    accepted: usize,
    rejected: usize,
    panics: usize,
    without_location: usize,
    slowest: Duration,
}

const BASE: &str = include_str!("keyplan.toml");

/// Manifest parsing and validation on arbitrary bytes and on mutations of
/// `examples/keyplan.toml`: no panic, no hang (the slowest input is reported), and every
/// rejection carries a line and column.
fn fuzz_manifests(cases: usize, seed: u64) -> Fuzz {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xf022);
    let mut fuzz = Fuzz::default();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keyplan.toml");
    let pieces = [
        "",
        "\"",
        "[",
        "]]",
        "\n",
        "=",
        "\\u{",
        "é",
        "\t",
        "{a=1}",
        "[[project]]",
        "[[project.key]]",
        "roles = []",
        "name = \"\"",
        "id = \"x\"",
        "unmanaged = \"delete\"",
        "'''",
        "#",
        "0x",
        "1e999",
        "\u{0}",
        "\u{feff}",
        "🔑",
    ];
    for i in 0..cases {
        let bytes: Vec<u8> = if i % 2 == 0 {
            fuzz.arbitrary_bytes += 1;
            let len = rng.random_range(0..400);
            (0..len).map(|_| rng.random()).collect()
        } else {
            fuzz.mutated += 1;
            let mut text: Vec<char> = BASE.chars().collect();
            for _ in 0..rng.random_range(1..5) {
                let start = rng.random_range(0..=text.len());
                let end = (start + rng.random_range(0..16)).min(text.len());
                let piece = pieces[rng.random_range(0..pieces.len())];
                text.splice(start..end, piece.chars());
            }
            text.into_iter().collect::<String>().into_bytes()
        };
        std::fs::write(&file, &bytes).unwrap();
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            keyplan::manifest::load(Path::new(&file))
        }));
        fuzz.slowest = fuzz.slowest.max(started.elapsed());
        match outcome {
            Err(_) => fuzz.panics += 1,
            Ok(Ok(_)) => fuzz.accepted += 1,
            Ok(Err(keyplan::manifest::ManifestError::Invalid(diagnostics))) => {
                fuzz.rejected += 1;
                if diagnostics.items.is_empty()
                    || diagnostics
                        .items
                        .iter()
                        .any(|d| d.line == 0 || d.column == 0 || d.message.is_empty())
                {
                    fuzz.without_location += 1;
                }
            }
            Ok(Err(_)) => {
                fuzz.rejected += 1;
                fuzz.without_location += 1;
            }
        }
    }
    fuzz
}

fn report_fuzz(f: &Fuzz, elapsed: Duration) -> bool {
    println!(
        "\n== manifest fuzzing: {} inputs ({} arbitrary byte strings, {} mutations of examples/keyplan.toml), {:.0} s",
        f.arbitrary_bytes + f.mutated,
        f.arbitrary_bytes,
        f.mutated,
        elapsed.as_secs_f64()
    );
    println!("   accepted: {}, rejected: {}", f.accepted, f.rejected);
    println!("   panics:                       {}", f.panics);
    println!("   rejections without a location: {}", f.without_location);
    println!("   slowest input:                {:?}", f.slowest);
    f.panics == 0 && f.without_location == 0
}
