//! The apply scenarios: creating M keys then deleting them, at the default concurrency and at
//! 1, each run checked against the emulator and the secrets file; and the same under the
//! emulator's rate limit, and with random 429s.

use std::time::Duration;

use keyplan::emulator::{RateLimit, Route};
use keyplan::live::client::DEFAULT_CONCURRENCY;

use crate::bound::{self, ideal};
use crate::child::Run;
use crate::org;
use crate::report::{Scenario, ms, print_table};
use crate::world::World;
use crate::{Bench, Result};

impl Bench<'_> {
    /// Creates M keys then deletes them: at the default concurrency, and at 1.
    pub fn apply_scenarios(&mut self, world: &World) -> Result<()> {
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
    pub fn apply_cycle(
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
    pub fn rate_limited(&mut self, world: &World) -> Result<()> {
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

    /// Creates (then deletes) `--throttle-creates` keys while a share of the admin requests is
    /// answered 429 at random: each request's `Retry-After` must delay only that request.
    pub fn random_throttles(&mut self, world: &World) -> Result<()> {
        let creates = self.args.throttle_creates;
        println!(
            "\n## Random 429s (`Retry-After: 1`): apply of {creates} creates at the default \
             concurrency, {} projects × {} keys, at {} ms\n",
            world.org.projects.len(),
            world.org.keys_per_project,
            world.latency.as_millis()
        );
        println!(
            "| 429 share | create wall | 429s answered | admin requests | failed actions |\n|---|---|---|---|---|"
        );
        for percent in [0_u32, 5, 20, 30] {
            eprintln!("bench: apply with {percent}% random 429s");
            world.set_random_throttles(f64::from(percent) / 100.0, u64::from(percent) + 7);
            let result = self.apply_cycle(world, None, creates, &format!("throttle-{percent}"));
            world.set_faults(None);
            let (create, _delete) = result?;
            let c = &create.counters;
            println!(
                "| {percent}% | {} | {} | {} | 0 |",
                ms(create.wall),
                c.status(429),
                c.total - c.route(Route::Token)
            );
            if percent == 20 {
                self.verdict(
                    creates == 100,
                    create.wall < Duration::from_secs(10),
                    &format!(
                        "at 20% random 429s, 100 creates finish in under 10 s with every create \
                         done: {}",
                        ms(create.wall)
                    ),
                );
            }
        }
        Ok(())
    }
}
