//! The command line: sizes, runs, which scenarios, and the tools to use; `--smoke` turns it
//! into the tiny run CI does.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// keyplan's organisation-scale benchmark (docs/performance.md).
#[derive(Debug, Parser)]
#[command(name = "bench")]
pub struct Args {
    /// Projects in the organisation.
    #[arg(long, default_value_t = 200)]
    pub projects: usize,
    /// Keys per project.
    #[arg(long, default_value_t = 25)]
    pub keys: usize,
    /// Latency the emulator adds to every request, in milliseconds.
    #[arg(long, default_value_t = 20)]
    pub latency_ms: u64,
    /// Keys the apply scenario creates (spread round-robin over the projects), then deletes.
    #[arg(long, default_value_t = 1000)]
    pub creates: usize,
    /// Runs of each keyplan scenario (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Runs of each slow baseline (`--concurrency 1`, the SDK script, the rate-limited apply).
    #[arg(long, default_value_t = 3)]
    pub baseline_runs: usize,
    /// Concurrencies tried for the plan sweep.
    #[arg(long, value_delimiter = ',', default_value = "1,4,8,16,32,64")]
    pub sweep: Vec<usize>,
    /// Requests per second the emulator allows in the rate-limit scenario (token bucket).
    #[arg(long, default_value_t = 50.0)]
    pub rate_limit: f64,
    /// Keys the rate-limit scenario creates, then deletes.
    #[arg(long, default_value_t = 400)]
    pub rate_creates: usize,
    /// Keys the random-429 scenario creates (at each 429 share), then deletes.
    #[arg(long, default_value_t = 100)]
    pub throttle_creates: usize,
    /// Projects of the random-429 scenario's own organisation (its plan lists each once, and
    /// every listing is one more request that may wait out a 429).
    #[arg(long, default_value_t = 10)]
    pub throttle_projects: usize,
    /// Keys in the manifest `keyplan validate` reads.
    #[arg(long, default_value_t = 10_000)]
    pub validate_keys: usize,
    /// Keys the in-process plan computation plans.
    #[arg(long, default_value_t = 100_000)]
    pub compute_keys: usize,
    /// Skip the scaling tables (plan time against N, K and latency; plan CPU against the keys
    /// of one project).
    #[arg(long)]
    pub no_scaling: bool,
    /// The Python with `pinecone==10.2.0` for baseline 2 [default: `$KEYPLAN_TEST_PYTHON`, else
    /// python3 if it can import pinecone, else the baseline is skipped].
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// The keyplan binary [default: `keyplan` beside this example's directory, i.e.
    /// target/<profile>/keyplan].
    #[arg(long)]
    pub keyplan: Option<PathBuf>,
    /// Where apply's secrets files go [default: a temporary directory]; e.g. a tmpfs such as
    /// /dev/shm, to see apply without the disk's fsync cost.
    #[arg(long, value_name = "DIR")]
    pub secrets_dir: Option<PathBuf>,
    /// Scenarios to run: validate, overhead, plan, sweep, apply, rate, throttle, scaling, keys.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "validate,overhead,plan,sweep,apply,rate,throttle,scaling,keys"
    )]
    pub scenarios: Vec<String>,
    /// Tiny sizes for CI (10 projects × 5 keys, 2 ms, 20 creates, 1 run): under ~30 s.
    #[arg(long)]
    pub smoke: bool,
}

impl Args {
    pub fn resolved(mut self) -> Self {
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
            self.throttle_creates = 10;
            self.validate_keys = 1000;
            self.compute_keys = 10_000;
            self.no_scaling = true;
        }
        self.runs = self.runs.max(1);
        self.baseline_runs = self.baseline_runs.max(1);
        self.projects = self.projects.max(1);
        self
    }

    pub fn wants(&self, scenario: &str) -> bool {
        self.scenarios.iter().any(|s| s == scenario)
    }

    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms)
    }
}
