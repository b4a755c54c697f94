//! The plan scenarios: `keyplan plan` at the default concurrency against baseline 1
//! (`--concurrency 1`) and baseline 2 (the SDK script), the concurrency sweep, and how plan time
//! grows with N, K and latency.

use std::time::Duration;

use keyplan::live::client::DEFAULT_CONCURRENCY;

use crate::bound::{self, ideal};
use crate::report::{Scenario, median, mib, ms, print_table};
use crate::world::World;
use crate::{Bench, Result};

impl Bench<'_> {
    /// Plan at the default concurrency, at 1, and the SDK script.
    #[expect(clippy::too_many_lines, reason = "one scenario, read top to bottom")]
    pub fn plan_scenarios(&mut self, world: &World) -> Result<()> {
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
    pub fn sweep(&mut self, world: &World) -> Result<()> {
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

    /// Plan time against N, K and latency, one at a time around 200 × 25 at 20 ms.
    pub fn scaling(&mut self) -> Result<()> {
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
            let s = Scenario {
                ideal: Some(ideal(world.latency, bound::plan(n, DEFAULT_CONCURRENCY))),
                ..self.plans(&world, runs)?
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

    /// `runs` plans of `world` at the default concurrency, as an unnamed scenario without a bound.
    fn plans(&self, world: &World, runs: usize) -> Result<Scenario> {
        let mut done = Vec::new();
        for _ in 0..runs {
            done.push(self.plan_once(world, None)?);
        }
        Ok(Scenario {
            name: String::new(),
            runs: done,
            ideal: None,
            expected_requests: Some(2 + world.org.projects.len() as u64),
        })
    }

    /// Plan CPU against the keys of one project (1k, 10k, 30k declared and live, "No changes"):
    /// binding a declared key must be a lookup, not a scan of the project.
    pub fn keys_per_project(&mut self) -> Result<()> {
        let runs = self.args.runs.min(3);
        println!(
            "\n## How plan CPU grows with the keys of one project (no latency, median of {runs})\n"
        );
        println!("| keys | wall | CPU | CPU per 1k keys | peak RSS |\n|---|---|---|---|---|");
        let mut largest = None;
        for k in [1_000, 10_000, 30_000] {
            eprintln!("bench: one project with {k} keys");
            let world = self.world(1, k, Duration::ZERO)?;
            let s = self.plans(&world, runs)?;
            let per_1k = s.cpu().as_secs_f64() * 1000.0 / (k as f64 / 1000.0);
            println!(
                "| {k} | {} | {} | {per_1k:.2} ms | {} |",
                ms(s.wall()),
                ms(s.cpu()),
                mib(s.maxrss_kib())
            );
            largest = Some(s.cpu());
            self.rt.block_on(world.emu.shutdown());
        }
        if let Some(cpu) = largest {
            self.verdict(
                true,
                cpu < Duration::from_millis(300),
                &format!(
                    "one project of 30,000 keys plans in under 300 ms of CPU: {}",
                    ms(cpu)
                ),
            );
        }
        Ok(())
    }
}
