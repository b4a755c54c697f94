//! keyplan's own work, without network: `keyplan validate` of a large manifest (a child
//! process), and the parse and the plan computation alone, in-process.

use std::path::Path;
use std::time::{Duration, Instant};

use keyplan::plan::{PlanOptions, compute_plan};
use keyplan::testkit::synth;

use crate::report::{Scenario, median, mib, ms};
use crate::{Bench, Result};

impl Bench<'_> {
    /// `keyplan validate` of a large manifest (a child process), and the plan computation
    /// alone, in-process.
    #[expect(clippy::too_many_lines, reason = "one scenario, read top to bottom")]
    pub fn validate_and_compute(&mut self) -> Result<()> {
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
}
