//! keyplan's organisation-scale benchmark (issue 6; docs/performance.md has the figures).
//!
//! Starts the emulator in-process with an added per-request latency, fills it with N projects
//! × K keys (directly, untimed), writes a manifest that matches, and measures side by side:
//! `keyplan plan` (the release binary, default settings), `keyplan apply` creating M keys and
//! then deleting them, the same with `--concurrency 1` (baseline 1), the official Python SDK
//! listing every project's keys one after another (baseline 2, `bench_sdk_baseline.py`), and
//! the ideal bound: the round trips the critical path needs at concurrency C, times the latency.
//! Also: a rate-limited apply, the per-request overhead against the injected latency (TRAPS.md,
//! trap 11), a concurrency sweep, `keyplan validate` of a large manifest, keyplan's own plan
//! computation in-process, and how plan time grows with N, K and latency.
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

mod child;
mod org;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use keyplan::emulator::{EmulatorConfig, Faults, RateLimit, Route, RunningEmulator};
use keyplan::live::AdminApi;
use keyplan::live::client::{ClientConfig, Credentials, DEFAULT_CONCURRENCY, HttpAdminApi};
use keyplan::model::Secret;
use keyplan::plan::{PlanOptions, compute_plan};
use keyplan::testkit::synth;

use child::{Run, Runner};
use org::Org;

type Result<T> = std::result::Result<T, String>;

const SDK_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/bench_sdk_baseline.py"
);

/// keyplan's organisation-scale benchmark (docs/performance.md).
#[derive(Debug, Parser)]
#[command(name = "bench")]
struct Args {
    /// Projects in the organisation.
    #[arg(long, default_value_t = 200)]
    projects: usize,
    /// Keys per project.
    #[arg(long, default_value_t = 25)]
    keys: usize,
    /// Latency the emulator adds to every request, in milliseconds.
    #[arg(long, default_value_t = 20)]
    latency_ms: u64,
    /// Keys the apply scenario creates (spread round-robin over the projects), then deletes.
    #[arg(long, default_value_t = 1000)]
    creates: usize,
    /// Runs of each keyplan scenario (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Runs of each slow baseline (`--concurrency 1`, the SDK script, the rate-limited apply).
    #[arg(long, default_value_t = 3)]
    baseline_runs: usize,
    /// Concurrencies tried for the plan sweep.
    #[arg(long, value_delimiter = ',', default_value = "1,4,8,16,32,64")]
    sweep: Vec<usize>,
    /// Requests per second the emulator allows in the rate-limit scenario (token bucket).
    #[arg(long, default_value_t = 50.0)]
    rate_limit: f64,
    /// Keys the rate-limit scenario creates, then deletes.
    #[arg(long, default_value_t = 400)]
    rate_creates: usize,
    /// Keys in the manifest `keyplan validate` reads.
    #[arg(long, default_value_t = 10_000)]
    validate_keys: usize,
    /// Keys the in-process plan computation plans.
    #[arg(long, default_value_t = 100_000)]
    compute_keys: usize,
    /// Skip the table of plan time against N, K and latency.
    #[arg(long)]
    no_scaling: bool,
    /// The Python with `pinecone==10.2.0` for baseline 2 [default: `$KEYPLAN_TEST_PYTHON`, else
    /// python3 if it can import pinecone, else the baseline is skipped].
    #[arg(long)]
    python: Option<PathBuf>,
    /// The keyplan binary [default: `keyplan` beside this example's directory, i.e.
    /// target/<profile>/keyplan].
    #[arg(long)]
    keyplan: Option<PathBuf>,
    /// Where apply's secrets files go [default: a temporary directory]; e.g. a tmpfs such as
    /// /dev/shm, to see apply without the disk's fsync cost.
    #[arg(long, value_name = "DIR")]
    secrets_dir: Option<PathBuf>,
    /// Scenarios to run: validate, overhead, plan, sweep, apply, rate, scaling.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "validate,overhead,plan,sweep,apply,rate,scaling"
    )]
    scenarios: Vec<String>,
    /// Tiny sizes for CI (10 projects × 5 keys, 2 ms, 20 creates, 1 run): under ~30 s.
    #[arg(long)]
    smoke: bool,
}

impl Args {
    fn resolved(mut self) -> Self {
        if self.smoke {
            self.projects = 10;
            self.keys = 5;
            self.latency_ms = 2;
            self.creates = 20;
            self.runs = 1;
            self.baseline_runs = 1;
            self.sweep = vec![1, 4, 16];
            self.rate_limit = 100.0;
            self.rate_creates = 20;
            self.validate_keys = 1000;
            self.compute_keys = 10_000;
            self.no_scaling = true;
        }
        self.runs = self.runs.max(1);
        self.baseline_runs = self.baseline_runs.max(1);
        self.projects = self.projects.max(1);
        self
    }

    fn wants(&self, scenario: &str) -> bool {
        self.scenarios.iter().any(|s| s == scenario)
    }

    fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms)
    }
}

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

/// A running emulator with its organisation and the manifests for it.
struct World {
    emu: RunningEmulator,
    org: Org,
    dir: PathBuf,
    latency: Duration,
}

impl World {
    /// Writes (once) and returns the manifest with `creates` new keys.
    fn manifest(&self, creates: usize) -> Result<PathBuf> {
        let path = self.dir.join(format!("keyplan-{creates}.toml"));
        if !path.exists() {
            std::fs::write(&path, self.org.manifest(creates))
                .map_err(|e| format!("write {}: {e}", path.display()))?;
        }
        Ok(path)
    }

    fn set_faults(&self, rate_limit: Option<RateLimit>) {
        self.emu.set_faults(Faults {
            latency: self.latency,
            rate_limit,
            ..Faults::default()
        });
    }

    fn existing_keys(&self) -> usize {
        self.org.projects.len() * self.org.keys_per_project
    }
}

/// One measured scenario: its runs, and what it should cost at best.
struct Scenario {
    name: String,
    runs: Vec<Run>,
    /// The critical path: round trips the scenario needs at its concurrency, and the latency.
    ideal: Option<Duration>,
    expected_requests: Option<u64>,
}

impl Scenario {
    fn wall(&self) -> Duration {
        median(self.runs.iter().map(|r| r.wall).collect())
    }

    fn cpu(&self) -> Duration {
        median(self.runs.iter().map(|r| r.cpu).collect())
    }

    fn maxrss_kib(&self) -> Option<u64> {
        self.runs.iter().filter_map(|r| r.maxrss_kib).max()
    }

    /// Requests per run as "n" or "min–max".
    fn requests(&self) -> String {
        let totals: Vec<u64> = self.runs.iter().map(|r| r.counters.total).collect();
        let (min, max) = (
            totals.iter().min().copied().unwrap_or(0),
            totals.iter().max().copied().unwrap_or(0),
        );
        let mut text = if min == max {
            min.to_string()
        } else {
            format!("{min}–{max}")
        };
        if let Some(expected) = self.expected_requests
            && (min != expected || max != expected)
        {
            let _ = write!(text, " (expected {expected})");
        }
        text
    }

    fn ratio(&self) -> Option<f64> {
        self.ideal
            .filter(|i| !i.is_zero())
            .map(|i| self.wall().as_secs_f64() / i.as_secs_f64())
    }
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    match values.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2,
    }
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 10_000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "n/a".to_owned(),
        |k| format!("{:.1} MiB", k as f64 / 1024.0),
    )
}

/// Round trips at concurrency `c` for `n` independent requests.
fn rounds(n: usize, c: usize) -> u64 {
    n.div_ceil(c.max(1)) as u64
}

fn ideal(latency: Duration, round_trips: u64) -> Duration {
    latency * u32::try_from(round_trips).unwrap_or(u32::MAX)
}

/// Critical paths, in round trips. Token and project listing come first, one after the other.
mod bound {
    use super::rounds;

    /// `keyplan plan`: token, list projects, then N listings C at a time.
    pub fn plan(n: usize, c: usize) -> u64 {
        2 + rounds(n, c)
    }

    /// `keyplan apply` creating `m` keys in `touched` projects: the plan's listings, then for
    /// each key a create (under its pending name) and a rename once its secret is stored, and
    /// one listing per touched project (apply's check for a concurrent run), C at a time; a
    /// rename follows its create and a project's listing its renames, so at least three rounds.
    pub fn apply_create(n: usize, m: usize, touched: usize, c: usize) -> u64 {
        plan(n, c)
            + if m == 0 {
                0
            } else {
                rounds(2 * m + touched, c).max(3)
            }
    }

    /// `keyplan apply` deleting `m` keys: the plan's listings, then the deletes.
    pub fn apply_delete(n: usize, m: usize, c: usize) -> u64 {
        plan(n, c) + rounds(m, c)
    }
}

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
        let keyplan = find_keyplan(args)?;
        let python = find_python(args)?;
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

        if !a.no_scaling && a.wants("scaling") {
            self.scaling()?;
        }

        println!("\n## Targets (issue 6)\n");
        for line in &self.verdicts {
            println!("- {line}");
        }
        println!("\nbench: all functional checks passed");
        Ok(())
    }

    fn header(&self) {
        let a = self.args;
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let nproc = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_owned();
        let secrets_dir = a.secrets_dir.as_deref().unwrap_or(self.dir.path());
        println!("# keyplan benchmark\n");
        println!(
            "- machine: {nproc} CPUs, {cpu}, Linux {kernel}; secrets files in {} ({})",
            secrets_dir.display(),
            fs_type(secrets_dir)
        );
        println!("- keyplan: {}", self.keyplan.display());
        println!(
            "- organisation: {} projects × {} keys, {} ms added latency per request; apply \
             creates {} keys; {} run(s) per scenario, {} per baseline; default concurrency {}",
            a.projects,
            a.keys,
            a.latency_ms,
            a.creates,
            a.runs,
            a.baseline_runs,
            DEFAULT_CONCURRENCY
        );
        match &self.python {
            Some(p) => println!("- SDK baseline: {}", p.display()),
            None => println!(
                "- SDK baseline: skipped (no python with the pinecone SDK: pass --python or set \
                 KEYPLAN_TEST_PYTHON)"
            ),
        }
        if !self.runner.measures_resources() {
            println!("- peak memory: n/a (GNU time is not installed at /usr/bin/time)");
        }
    }

    fn world(&self, projects: usize, keys: usize, latency: Duration) -> Result<World> {
        let config = EmulatorConfig {
            faults: Faults {
                latency,
                ..Faults::default()
            },
            ..EmulatorConfig::default()
        };
        let emu = self
            .rt
            .block_on(keyplan::emulator::start(config, ([127, 0, 0, 1], 0).into()))
            .map_err(|e| format!("start the emulator: {e}"))?;
        let org = org::populate(&emu, projects, keys);
        let dir = self
            .dir
            .path()
            .join(format!("org-{projects}x{keys}-{}ms", latency.as_millis()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        Ok(World {
            emu,
            org,
            dir,
            latency,
        })
    }

    // ----- running keyplan and the SDK -----

    fn keyplan_env() -> Vec<(&'static str, String)> {
        let config = EmulatorConfig::default();
        vec![
            ("PINECONE_CLIENT_ID", config.client_id),
            ("PINECONE_CLIENT_SECRET", config.client_secret),
        ]
    }

    /// Runs keyplan against `world` and returns the run with the emulator's counters.
    fn keyplan(
        &self,
        world: &World,
        manifest: &Path,
        concurrency: Option<usize>,
        command: &[&str],
    ) -> Result<Run> {
        let mut args = vec![
            "--api-host".to_owned(),
            world.emu.base_url(),
            "--oauth-url".to_owned(),
            world.emu.oauth_url(),
            "-f".to_owned(),
            manifest.display().to_string(),
        ];
        if let Some(c) = concurrency {
            args.extend(["--concurrency".to_owned(), c.to_string()]);
        }
        args.extend(command.iter().map(|s| (*s).to_owned()));
        world.emu.reset_counters();
        let mut run = self
            .runner
            .run(&self.keyplan, &args, &Self::keyplan_env())?;
        run.counters = world.emu.counters();
        if run.stdout.contains("pcsk_") || run.stderr.contains("pcsk_") {
            return Err(format!(
                "keyplan {} printed something that looks like a secret (pcsk_...)",
                command.join(" ")
            ));
        }
        Ok(run)
    }

    /// `keyplan plan` over the whole organisation, which must be unchanged.
    fn plan_once(&self, world: &World, concurrency: Option<usize>) -> Result<Run> {
        let manifest = world.manifest(0)?;
        let run = self.keyplan(
            world,
            &manifest,
            concurrency,
            &["plan", "--detailed-exitcode"],
        )?;
        if !run.status.success() {
            return Err(format!(
                "keyplan plan (concurrency {concurrency:?}) did not report \"no changes\": {}\n{}",
                run.status,
                run.excerpt()
            ));
        }
        Ok(run)
    }

    /// One run of the SDK script: the run, its own listing time in seconds, the SDK version.
    fn sdk_once(&self, world: &World) -> Result<Option<(Run, f64, String)>> {
        let Some(python) = &self.python else {
            return Ok(None);
        };
        world.emu.reset_counters();
        let mut run = self.runner.run(
            python,
            &[SDK_SCRIPT.to_owned(), world.emu.base_url()],
            &Self::keyplan_env(),
        )?;
        run.counters = world.emu.counters();
        if !run.status.success() {
            return Err(format!(
                "the SDK baseline failed: {}\n{}",
                run.status,
                run.excerpt()
            ));
        }
        let line = run.stdout.lines().last().unwrap_or_default();
        let report: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| format!("the SDK baseline printed {line:?}: {e}"))?;
        let count = |name: &str| report.get(name).and_then(serde_json::Value::as_u64);
        let (projects, keys) = (count("projects"), count("keys"));
        let want = (
            world.org.projects.len() as u64,
            world.org.live_key_count(&world.emu) as u64,
        );
        if (projects, keys) != (Some(want.0), Some(want.1)) {
            return Err(format!(
                "the SDK baseline saw {projects:?} projects and {keys:?} keys, not {} and {}",
                want.0, want.1
            ));
        }
        let list_seconds = report
            .get("list_seconds")
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(0.0);
        let version = report
            .get("sdk_version")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("unknown")
            .to_owned();
        Ok(Some((run, list_seconds, version)))
    }

    // ----- scenarios -----

    /// `keyplan validate` of a large manifest (a child process), and the plan computation
    /// alone, in-process.
    #[expect(clippy::too_many_lines, reason = "one scenario, read top to bottom")]
    fn validate_and_compute(&mut self) -> Result<()> {
        let a = self.args;
        let per = 25.min(a.validate_keys.max(1));
        let projects = a.validate_keys.div_ceil(per);
        let path = self.dir.path().join("validate.toml");
        let text = synth::manifest(projects, per);
        std::fs::write(&path, &text).map_err(|e| format!("write {}: {e}", path.display()))?;
        let mut runs = Vec::new();
        for _ in 0..a.runs {
            let args = vec![
                "-f".to_owned(),
                path.display().to_string(),
                "validate".to_owned(),
            ];
            let run = self
                .runner
                .run(&self.keyplan, &args, &Self::keyplan_env())?;
            if !run.status.success() {
                return Err(format!(
                    "keyplan validate failed: {}\n{}",
                    run.status,
                    run.excerpt()
                ));
            }
            runs.push(run);
        }
        let validate = Scenario {
            name: format!(
                "`keyplan validate`, {} keys ({} KiB)",
                projects * per,
                text.len() / 1024
            ),
            runs,
            ideal: None,
            expected_requests: None,
        };

        // In-process: the parse and the plan engine, without process start-up.
        let parse_times: Vec<Duration> = (0..a.runs.max(3))
            .map(|_| {
                let t = Instant::now();
                let ok = keyplan::manifest::parse(&text, &path).is_ok();
                (t.elapsed(), ok)
            })
            .map(|(d, ok)| {
                if ok {
                    Ok(d)
                } else {
                    Err("the synthetic manifest is invalid".to_owned())
                }
            })
            .collect::<Result<_>>()?;
        let per_project = 100.min(a.compute_keys.max(1));
        let compute_projects = a.compute_keys.div_ceil(per_project);
        let manifest = keyplan::manifest::parse(
            &synth::manifest(compute_projects, per_project),
            Path::new("keyplan.toml"),
        )
        .map_err(|e| format!("the synthetic manifest is invalid: {e}"))?;
        let live = synth::live_state(compute_projects, per_project);
        let options = PlanOptions {
            now: synth::NOW.parse().ok(),
            ..PlanOptions::default()
        };
        let mut compute_times = Vec::new();
        let mut changes = 0;
        for _ in 0..a.runs.max(3) {
            let t = Instant::now();
            let plan = compute_plan(&manifest.desired, &live, &options)
                .map_err(|e| format!("compute_plan failed: {e}"))?;
            compute_times.push(t.elapsed());
            changes = plan.changes.len();
        }

        println!("\n## keyplan's own work, without network\n");
        println!("| what | median | CPU | peak RSS |\n|---|---|---|---|");
        println!(
            "| {} (process) | {} | {} | {} |",
            validate.name,
            ms(validate.wall()),
            ms(validate.cpu()),
            mib(validate.maxrss_kib())
        );
        let parse = median(parse_times);
        println!(
            "| `manifest::parse` of the same, in-process | {} | | |",
            ms(parse)
        );
        let compute = median(compute_times);
        println!(
            "| `compute_plan`, {} keys in {} projects ({changes} changes), in-process | {} | | |",
            compute_projects * per_project,
            compute_projects,
            ms(compute)
        );
        self.verdict(
            a.validate_keys == 10_000,
            validate.wall() < Duration::from_millis(100),
            &format!(
                "`keyplan validate` of a {}-key manifest under 100 ms: {} (process, median)",
                projects * per,
                ms(validate.wall())
            ),
        );
        self.verdict(
            a.compute_keys == 100_000,
            compute < Duration::from_millis(300),
            &format!(
                "pure plan computation for {} keys under 300 ms: {} (in-process median; \
                 `cargo bench --bench plan` for the divan figures)",
                compute_projects * per_project,
                ms(compute)
            ),
        );
        Ok(())
    }

    /// Per-request cost against the injected latency at 0 and 1 ms: the in-process client,
    /// keyplan plan at concurrency 1, and the SDK. A cost near 40 ms is Nagle plus delayed ACK.
    fn per_request_overhead(&mut self, world: &World) -> Result<()> {
        let project = world
            .org
            .projects
            .first()
            .ok_or("the organisation has no project")?
            .id
            .clone();
        let mut config = ClientConfig::new(Credentials::ClientCredentials {
            client_id: EmulatorConfig::default().client_id,
            client_secret: Secret::new(EmulatorConfig::default().client_secret),
        });
        config.api_host = world.emu.base_url();
        config.oauth_url = world.emu.oauth_url();
        let api = HttpAdminApi::new(config).map_err(|e| format!("client: {e}"))?;
        let sequential = 200_u32;
        println!("\n## Per-request cost against the injected latency (TRAPS.md, trap 11)\n");
        println!("| client | latency | per request | overhead |\n|---|---|---|---|");
        let mut at_1ms = Duration::ZERO;
        for latency_ms in [0_u64, 1] {
            let latency = Duration::from_millis(latency_ms);
            world.emu.set_faults(Faults {
                latency,
                ..Faults::default()
            });
            let elapsed = self.rt.block_on(async {
                api.list_projects().await.map_err(|e| e.to_string())?;
                let t = Instant::now();
                for _ in 0..sequential {
                    api.list_keys(&project).await.map_err(|e| e.to_string())?;
                }
                Ok::<_, String>(t.elapsed())
            })?;
            let each = elapsed / sequential;
            if latency_ms == 1 {
                at_1ms = each;
            }
            println!(
                "| keyplan's HTTP client, {sequential} sequential listings | {latency_ms} ms | {} | {} |",
                ms(each),
                ms(each.saturating_sub(latency))
            );
        }
        let latency = Duration::from_millis(1);
        let plan = self.plan_once(world, Some(1))?;
        let requests = u32::try_from(plan.counters.total.max(1)).unwrap_or(u32::MAX);
        println!(
            "| `keyplan plan --concurrency 1` ({} requests, process start included) | 1 ms | {} | {} |",
            requests,
            ms(plan.wall / requests),
            ms((plan.wall / requests).saturating_sub(latency))
        );
        if let Some((sdk, list_seconds, _)) = self.sdk_once(world)? {
            let requests = u32::try_from(sdk.counters.total.max(1)).unwrap_or(u32::MAX);
            let each = Duration::from_secs_f64(list_seconds) / requests;
            println!(
                "| the Python SDK, sequential ({requests} requests, interpreter start excluded) | 1 ms | {} | {} |",
                ms(each),
                ms(each.saturating_sub(latency))
            );
        }
        let ok = at_1ms < Duration::from_millis(5);
        println!(
            "\nTrap 11 check: {} ({} per request at 1 ms latency; ~41 ms would mean Nagle and \
             delayed ACK)",
            if ok { "ok" } else { "SUSPECT" },
            ms(at_1ms)
        );
        self.verdict(
            true,
            ok,
            &format!(
                "sequential requests at 1 ms latency cost ~1 ms, not ~40 ms (trap 11): {} each",
                ms(at_1ms)
            ),
        );
        world.set_faults(None);
        Ok(())
    }

    /// Plan at the default concurrency, at 1, and the SDK script.
    #[expect(clippy::too_many_lines, reason = "one scenario, read top to bottom")]
    fn plan_scenarios(&mut self, world: &World) -> Result<()> {
        let a = self.args;
        let n = world.org.projects.len();
        let expected = Some(2 + n as u64);
        let mut scenarios = Vec::new();
        for (concurrency, runs, label) in [
            (
                None,
                a.runs,
                format!("keyplan plan (default, C={DEFAULT_CONCURRENCY})"),
            ),
            (
                Some(1),
                a.baseline_runs,
                "baseline 1: keyplan plan --concurrency 1".to_owned(),
            ),
        ] {
            let c = concurrency.unwrap_or(DEFAULT_CONCURRENCY);
            let mut done = Vec::new();
            for i in 0..runs {
                eprintln!("bench: {label}, run {}/{runs}", i + 1);
                done.push(self.plan_once(world, concurrency)?);
            }
            scenarios.push(Scenario {
                name: label,
                runs: done,
                ideal: Some(ideal(world.latency, bound::plan(n, c))),
                expected_requests: expected,
            });
        }
        let mut sdk_inner = Vec::new();
        if self.python.is_some() {
            let mut done = Vec::new();
            let mut sdk = String::new();
            for i in 0..a.baseline_runs {
                eprintln!("bench: SDK baseline, run {}/{}", i + 1, a.baseline_runs);
                if let Some((run, inner, version)) = self.sdk_once(world)? {
                    done.push(run);
                    sdk_inner.push(Duration::from_secs_f64(inner));
                    sdk = version;
                }
            }
            scenarios.push(Scenario {
                name: format!("baseline 2: Python SDK {sdk}, sequential"),
                runs: done,
                ideal: Some(ideal(world.latency, bound::plan(n, 1))),
                expected_requests: Some(2 + n as u64),
            });
        }

        println!(
            "\n## Plan: {} projects × {} keys at {} ms\n",
            n,
            world.org.keys_per_project,
            world.latency.as_millis()
        );
        print_table(&scenarios);
        let keyplan = &scenarios[0];
        let sequential = &scenarios[1];
        let vs_seq = sequential.wall().as_secs_f64() / keyplan.wall().as_secs_f64();
        println!("\nSpeed-up of keyplan plan over baseline 1 (--concurrency 1): {vs_seq:.1}×");
        let at_target = n == 200
            && world.org.keys_per_project == 25
            && world.latency == Duration::from_millis(20);
        if let Some(sdk) = scenarios.get(2) {
            let vs_sdk = sdk.wall().as_secs_f64() / keyplan.wall().as_secs_f64();
            let inner = median(sdk_inner);
            println!(
                "Speed-up over baseline 2 (the SDK script): {vs_sdk:.1}× (whole process; the \
                 script's own listing time, interpreter start and import excluded, is {}: {:.1}×)",
                ms(inner),
                inner.as_secs_f64() / keyplan.wall().as_secs_f64()
            );
            self.verdict(
                at_target,
                vs_sdk >= 10.0,
                &format!("plan at least 10× faster than the sequential SDK script: {vs_sdk:.1}×"),
            );
        } else {
            self.verdicts.push(
                "plan at least 10× faster than the sequential SDK script: NOT MEASURED (no python with the SDK)".to_owned(),
            );
        }
        let ratio = keyplan.ratio().unwrap_or(f64::NAN);
        self.verdict(
            at_target,
            ratio <= 1.3,
            &format!(
                "plan of {n} projects × {} keys at {} ms within 1.3× the ideal bound at the default \
                 concurrency: {ratio:.2}× ({} against {})",
                world.org.keys_per_project,
                world.latency.as_millis(),
                ms(keyplan.wall()),
                ms(keyplan.ideal.unwrap_or_default())
            ),
        );
        let keys = world.existing_keys();
        self.verdict(
            keys == 5000,
            keyplan.cpu() < Duration::from_millis(50),
            &format!(
                "keyplan's own CPU per plan with {keys} keys under 50 ms: {} (median)",
                ms(keyplan.cpu())
            ),
        );
        if let Some(kib) = keyplan.maxrss_kib() {
            self.verdict(
                keys == 5000,
                kib < 50 * 1024,
                &format!("peak memory of that plan under 50 MB: {}", mib(Some(kib))),
            );
        }
        Ok(())
    }

    /// Plan at each concurrency of `--sweep`, and the concurrency the figures suggest.
    fn sweep(&mut self, world: &World) -> Result<()> {
        let a = self.args;
        let n = world.org.projects.len();
        let mut scenarios = Vec::new();
        for &c in &a.sweep {
            let mut done = Vec::new();
            for i in 0..a.runs {
                eprintln!("bench: sweep C={c}, run {}/{}", i + 1, a.runs);
                done.push(self.plan_once(world, Some(c))?);
            }
            scenarios.push(Scenario {
                name: format!("plan, C={c}"),
                runs: done,
                ideal: Some(ideal(world.latency, bound::plan(n, c))),
                expected_requests: Some(2 + n as u64),
            });
        }
        println!(
            "\n## Concurrency sweep: plan of {n} projects at {} ms\n",
            world.latency.as_millis()
        );
        print_table(&scenarios);
        let best = scenarios
            .iter()
            .map(Scenario::wall)
            .min()
            .unwrap_or_default();
        if let Some((c, s)) = a
            .sweep
            .iter()
            .zip(&scenarios)
            .find(|(_, s)| s.wall().as_secs_f64() <= best.as_secs_f64() * 1.1)
        {
            println!(
                "\nThe smallest concurrency within 10% of the fastest plan: C={c} ({}; fastest {}).",
                ms(s.wall()),
                ms(best)
            );
        }
        Ok(())
    }

    /// Creates M keys then deletes them: at the default concurrency, and at 1.
    fn apply_scenarios(&mut self, world: &World) -> Result<()> {
        let a = self.args;
        let n = world.org.projects.len();
        let m = a.creates;
        let touched = world.org.projects_touched(m);
        let mut scenarios = Vec::new();
        for (concurrency, runs, label) in [
            (None, a.runs, format!("(default, C={DEFAULT_CONCURRENCY})")),
            (
                Some(1),
                a.baseline_runs,
                "(baseline 1: --concurrency 1)".to_owned(),
            ),
        ] {
            let c = concurrency.unwrap_or(DEFAULT_CONCURRENCY);
            let (mut creates, mut deletes) = (Vec::new(), Vec::new());
            for i in 0..runs {
                eprintln!("bench: apply {label}, run {}/{runs}", i + 1);
                let (create, delete) =
                    self.apply_cycle(world, concurrency, m, &format!("{c}-{i}"))?;
                creates.push(create);
                deletes.push(delete);
            }
            scenarios.push(Scenario {
                name: format!("apply: create {m} keys {label}"),
                runs: creates,
                ideal: Some(ideal(world.latency, bound::apply_create(n, m, touched, c))),
                expected_requests: Some((2 + n + 2 * m + touched) as u64),
            });
            scenarios.push(Scenario {
                name: format!("apply: delete them {label}"),
                runs: deletes,
                ideal: Some(ideal(world.latency, bound::apply_delete(n, m, c))),
                expected_requests: Some((2 + n + m) as u64),
            });
        }
        println!(
            "\n## Apply: {m} creates over {touched} of {n} projects, then their deletion, at {} ms\n",
            world.latency.as_millis()
        );
        print_table(&scenarios);
        println!(
            "\nThe ideal counts apply's real requests: token, projects, {n} listings for the plan, \
             then {m} creates, {m} renames from the pending name once each secret is stored, and one \
             listing per touched project ({touched}: apply's check for a concurrent run), or {m} \
             deletes; each run's secrets file held exactly {m} records, \
             each for a live key, and none after the deletion."
        );
        let create = &scenarios[0];
        let vs_seq = scenarios[2].wall().as_secs_f64() / create.wall().as_secs_f64();
        let delete_vs_seq = scenarios[3].wall().as_secs_f64() / scenarios[1].wall().as_secs_f64();
        println!("Speed-up over baseline 1: creates {vs_seq:.1}×, deletes {delete_vs_seq:.1}×.");
        let ratio = create.ratio().unwrap_or(f64::NAN);
        self.verdict(
            m == 1000 && world.latency == Duration::from_millis(20),
            ratio <= 1.3,
            &format!(
                "apply of {m} creates at {} ms within 1.3× its ideal bound, every secret stored: \
                 {ratio:.2}× ({} against {}); all {m} secrets stored in every run",
                world.latency.as_millis(),
                ms(create.wall()),
                ms(create.ideal.unwrap_or_default())
            ),
        );
        Ok(())
    }

    /// One apply creating `creates` keys, checked, then one deleting them, checked.
    fn apply_cycle(
        &self,
        world: &World,
        concurrency: Option<usize>,
        creates: usize,
        tag: &str,
    ) -> Result<(Run, Run)> {
        let dir = self.args.secrets_dir.as_deref().unwrap_or(&world.dir);
        let secrets = dir.join(format!("keyplan-bench-secrets-{tag}.json"));
        let _ = std::fs::remove_file(&secrets);
        let secrets_arg = secrets.display().to_string();
        let existing = world.existing_keys();

        let create = self.keyplan(
            world,
            &world.manifest(creates)?,
            concurrency,
            &["apply", "--auto-approve", "--secrets-file", &secrets_arg],
        )?;
        if !create.status.success() {
            return Err(format!(
                "keyplan apply (creates, concurrency {concurrency:?}) failed: {}\n{}",
                create.status,
                create.excerpt()
            ));
        }
        let made = create.counters.route_status(Route::CreateKey, 200);
        if made != creates as u64 {
            return Err(format!(
                "keyplan apply made {made} successful creates, not {creates}"
            ));
        }
        let records = org::stored_records(&secrets)?;
        if records.len() != creates {
            return Err(format!(
                "the secrets file holds {} records after creating {creates} keys",
                records.len()
            ));
        }
        let live: std::collections::BTreeSet<String> = world
            .org
            .projects
            .iter()
            .flat_map(|p| world.emu.keys(&p.id))
            .map(|k| k.id.to_string())
            .collect();
        if live.len() != existing + creates {
            return Err(format!(
                "{} live keys after the creates, not {}",
                live.len(),
                existing + creates
            ));
        }
        if let Some((id, name)) = records.iter().find(|(id, _)| !live.contains(id)) {
            return Err(format!(
                "the stored secret of {name} names key {id}, which is not live"
            ));
        }

        let delete = self.keyplan(
            world,
            &world.manifest(0)?,
            concurrency,
            &[
                "apply",
                "--auto-approve",
                "--force",
                "--secrets-file",
                &secrets_arg,
            ],
        )?;
        if !delete.status.success() {
            return Err(format!(
                "keyplan apply (deletes, concurrency {concurrency:?}) failed: {}\n{}",
                delete.status,
                delete.excerpt()
            ));
        }
        let live = world.org.live_key_count(&world.emu);
        if live != existing {
            return Err(format!(
                "{live} live keys after the deletes, not {existing}"
            ));
        }
        let left = org::stored_records(&secrets)?.len();
        if left != 0 {
            return Err(format!(
                "the secrets file still holds {left} records after the deletes"
            ));
        }
        Ok((create, delete))
    }

    /// A large apply under the emulator's token bucket: throughput against the limit, 429s
    /// seen, and no failed action.
    fn rate_limited(&mut self, world: &World) -> Result<()> {
        let a = self.args;
        let limit = RateLimit {
            per_second: a.rate_limit,
            burst: a.rate_limit.ceil() as u32,
        };
        let mut rows = Vec::new();
        for i in 0..a.baseline_runs {
            eprintln!(
                "bench: rate-limited apply, run {}/{}",
                i + 1,
                a.baseline_runs
            );
            world.set_faults(Some(limit));
            let result = self.apply_cycle(world, None, a.rate_creates, &format!("rl-{i}"));
            world.set_faults(None);
            let (create, delete) = result?;
            rows.push((create, delete));
        }
        println!(
            "\n## Rate limit: {} req/s (burst {}), apply of {} creates then their deletion, at {} ms\n",
            limit.per_second,
            limit.burst,
            a.rate_creates,
            world.latency.as_millis()
        );
        println!(
            "| step | run | wall | admin requests answered | 429s | throughput | of the limit | failed actions |\n|---|---|---|---|---|---|---|---|"
        );
        let mut worst = f64::INFINITY;
        let mut shares = (Vec::new(), Vec::new());
        let mut limited = true;
        for (i, (create, delete)) in rows.iter().enumerate() {
            for (step, run) in [("create", create), ("delete", delete)] {
                let c = &run.counters;
                let throttled = c.status(429);
                let admin = c.total - c.route(Route::Token);
                let answered = admin - throttled;
                let rate = answered as f64 / run.wall.as_secs_f64();
                // The bucket starts full: its burst is free, the rest comes at the limit.
                let steady =
                    answered.saturating_sub(u64::from(limit.burst)) as f64 / run.wall.as_secs_f64();
                let share = rate / limit.per_second;
                // Too few requests to empty the bucket: the limit was never reached.
                limited &= answered > 3 * u64::from(limit.burst);
                worst = worst.min(share);
                if step == "create" {
                    &mut shares.0
                } else {
                    &mut shares.1
                }
                .push(share);
                println!(
                    "| {step} | {} | {} | {answered} | {throttled} | {rate:.1} req/s ({steady:.1} past the burst) | {:.0}% | 0 |",
                    i + 1,
                    ms(run.wall),
                    share * 100.0
                );
            }
        }
        println!(
            "\nEvery action succeeded (exit 0, every secret stored, every key gone after the \
             deletion); throughput counts admin requests answered other than 429 over the whole \
             process, start-up and token included."
        );
        let med = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or(0.0)
        };
        let (create, delete) = (med(shares.0), med(shares.1));
        self.verdict(
            limited,
            create.min(delete) >= 0.85,
            &format!(
                "under the rate limit ({} req/s), throughput within 15% of the limit and zero \
                 failed actions: median {:.0}% (creates) and {:.0}% (deletes) of the limit, worst \
                 run {:.0}%; 0 failed",
                limit.per_second,
                create * 100.0,
                delete * 100.0,
                worst * 100.0
            ),
        );
        Ok(())
    }

    /// Plan time against N, K and latency, one at a time around 200 × 25 at 20 ms.
    fn scaling(&mut self) -> Result<()> {
        let runs = self.args.runs.min(3);
        let mut cells: Vec<(usize, usize, u64)> = Vec::new();
        for n in [25, 50, 100, 200, 400, 800] {
            cells.push((n, 25, 20));
        }
        for k in [1, 5, 100] {
            cells.push((200, k, 20));
        }
        for l in [0, 5, 50, 100] {
            cells.push((200, 25, l));
        }
        println!(
            "\n## How plan time grows with N, K and latency (C={DEFAULT_CONCURRENCY}, median of {runs})\n"
        );
        println!(
            "| N projects | K keys | latency | wall | ideal | × ideal | requests | CPU | CPU per 1k keys | peak RSS |\n|---|---|---|---|---|---|---|---|---|---|"
        );
        for (n, k, l) in cells {
            eprintln!("bench: scaling N={n} K={k} latency={l} ms");
            let world = self.world(n, k, Duration::from_millis(l))?;
            let mut done = Vec::new();
            for _ in 0..runs {
                done.push(self.plan_once(&world, None)?);
            }
            let s = Scenario {
                name: String::new(),
                runs: done,
                ideal: Some(ideal(world.latency, bound::plan(n, DEFAULT_CONCURRENCY))),
                expected_requests: Some(2 + n as u64),
            };
            let per_1k = s.cpu().as_secs_f64() * 1000.0 / ((n * k) as f64 / 1000.0);
            println!(
                "| {n} | {k} | {l} ms | {} | {} | {} | {} | {} | {per_1k:.1} ms | {} |",
                ms(s.wall()),
                ms(s.ideal.unwrap_or_default()),
                s.ratio()
                    .map_or_else(|| "–".to_owned(), |r| format!("{r:.2}")),
                s.requests(),
                ms(s.cpu()),
                mib(s.maxrss_kib())
            );
            self.rt.block_on(world.emu.shutdown());
        }
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

fn print_table(scenarios: &[Scenario]) {
    println!(
        "| scenario | runs | wall (median) | ideal | × ideal | requests/run | CPU (median) | peak RSS |\n|---|---|---|---|---|---|---|---|"
    );
    for s in scenarios {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            s.name,
            s.runs.len(),
            ms(s.wall()),
            s.ideal.map_or_else(|| "–".to_owned(), ms),
            s.ratio()
                .map_or_else(|| "–".to_owned(), |r| format!("{r:.2}")),
            s.requests(),
            ms(s.cpu()),
            mib(s.maxrss_kib())
        );
    }
}

/// The keyplan binary: `--keyplan`, else `keyplan` in the profile directory this example was
/// built in (target/<profile>/examples/bench → target/<profile>/keyplan).
fn find_keyplan(args: &Args) -> Result<PathBuf> {
    if let Some(path) = &args.keyplan {
        return Ok(path.clone());
    }
    let exe = std::env::current_exe().map_err(|e| format!("where am I: {e}"))?;
    let candidate = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("keyplan"))
        .ok_or("cannot find the target directory")?;
    if !candidate.is_file() {
        return Err(format!(
            "{} does not exist: build it first with `cargo build --release --bin keyplan \
             --example bench` (or pass --keyplan PATH)",
            candidate.display()
        ));
    }
    // A binary older than a source file of the crate was built from older code.
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let Some(bin) = modified(&candidate)
        && let Some(newest) = newest_source(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")))
        && newest > bin
    {
        eprintln!(
            "bench: warning: {} is older than the sources in src/; rebuild it with `cargo build \
             --release --bin keyplan`",
            candidate.display()
        );
    }
    Ok(candidate)
}

/// The latest modification time of any file under `dir`.
fn newest_source(dir: &Path) -> Option<std::time::SystemTime> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(std::result::Result::ok)
        .filter_map(|entry| {
            let path = entry.path();
            if path.ends_with("src/testkit") {
                // Test support (the `testkit` feature): never part of the keyplan binary.
                None
            } else if path.is_dir() {
                newest_source(&path)
            } else {
                entry.metadata().and_then(|m| m.modified()).ok()
            }
        })
        .max()
}

/// The python for baseline 2: `--python`, else `$KEYPLAN_TEST_PYTHON` (either must import the
/// SDK), else python3 when it can, else none.
fn find_python(args: &Args) -> Result<Option<PathBuf>> {
    let explicit = args.python.clone().or_else(|| {
        std::env::var_os("KEYPLAN_TEST_PYTHON")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    let imports = |python: &Path| {
        Command::new(python)
            .args(["-c", "import pinecone"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    match explicit {
        Some(python) if imports(&python) => Ok(Some(python)),
        Some(python) => Err(format!(
            "{} cannot import the pinecone SDK: install it with `{} -m pip install \
             pinecone==10.2.0`, or leave --python and KEYPLAN_TEST_PYTHON unset to skip baseline 2",
            python.display(),
            python.display()
        )),
        None => {
            let python = PathBuf::from("python3");
            Ok(imports(&python).then_some(python))
        }
    }
}

/// The file system type of the mount holding `path`, from /proc/mounts.
fn fs_type(path: &Path) -> String {
    let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else {
        return "unknown file system".to_owned();
    };
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_, point, kind) = (fields.next()?, fields.next()?, fields.next()?);
            path.starts_with(point)
                .then(|| (point.len(), kind.to_owned()))
        })
        .max()
        .map_or_else(|| "unknown file system".to_owned(), |(_, kind)| kind)
}
