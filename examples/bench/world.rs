//! A running emulator filled with the organisation ([`World`]), and keyplan and the SDK script
//! run against it: each run checked (keyplan's for a printed secret, the SDK's for what it
//! saw) and given the emulator's counters for it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use keyplan::emulator::{EmulatorConfig, Faults, RateLimit, RunningEmulator};

use crate::child::Run;
use crate::org::{self, Org};
use crate::{Bench, Result};

const SDK_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/bench_sdk_baseline.py"
);

/// A running emulator with its organisation and the manifests for it.
pub struct World {
    pub emu: RunningEmulator,
    pub org: Org,
    pub dir: PathBuf,
    pub latency: Duration,
}

impl World {
    /// Writes (once) and returns the manifest with `creates` new keys.
    pub fn manifest(&self, creates: usize) -> Result<PathBuf> {
        let path = self.dir.join(format!("keyplan-{creates}.toml"));
        if !path.exists() {
            std::fs::write(&path, self.org.manifest(creates))
                .map_err(|e| format!("write {}: {e}", path.display()))?;
        }
        Ok(path)
    }

    pub fn set_faults(&self, rate_limit: Option<RateLimit>) {
        self.emu.set_faults(Faults {
            latency: self.latency,
            rate_limit,
            ..Faults::default()
        });
    }

    /// Answers `share` of the admin requests 429 with `Retry-After: 1`, at random (a seeded
    /// draw per request): a busy gateway, not a rate limit.
    pub fn set_random_throttles(&self, share: f64, seed: u64) {
        self.emu.set_faults(Faults {
            latency: self.latency,
            throttle_rate: share,
            seed,
            ..Faults::default()
        });
    }

    pub fn existing_keys(&self) -> usize {
        self.org.projects.len() * self.org.keys_per_project
    }
}

impl Bench<'_> {
    pub fn world(&self, projects: usize, keys: usize, latency: Duration) -> Result<World> {
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

    pub fn keyplan_env() -> Vec<(&'static str, String)> {
        let config = EmulatorConfig::default();
        vec![
            ("PINECONE_CLIENT_ID", config.client_id),
            ("PINECONE_CLIENT_SECRET", config.client_secret),
        ]
    }

    /// Runs keyplan against `world` and returns the run with the emulator's counters.
    pub fn keyplan(
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
    pub fn plan_once(&self, world: &World, concurrency: Option<usize>) -> Result<Run> {
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
    pub fn sdk_once(&self, world: &World) -> Result<Option<(Run, f64, String)>> {
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
}
