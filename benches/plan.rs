//! Micro-benchmarks of keyplan's own work, without any network: validating a 10,000-key
//! manifest, and the pure plan computation for 100,000 keys (docs/performance.md has the
//! targets they are held to).
//!
//! `cargo bench --bench plan`. Under `cargo test --all-targets` each runs once, as a test.
//! The inputs come from `keyplan::testkit::synth` (src/testkit/synth.rs), shared with the bench
//! example.

use std::path::Path;

use keyplan::plan::{PlanOptions, compute_plan};
use keyplan::testkit::synth;

/// Under `cargo test` (a debug build, where timings mean nothing) the inputs are a tenth of the
/// size, so the run that checks the benchmarks still work stays short.
const SHRINK: usize = if cfg!(debug_assertions) { 10 } else { 1 };

fn main() {
    divan::main();
}

/// `keyplan validate`'s work for a 10,000-key manifest: 400 projects × 25 keys.
#[divan::bench(sample_count = 30)]
fn parse_manifest_10k_keys(bencher: divan::Bencher) {
    let text = synth::manifest(400 / SHRINK, 25);
    let path = Path::new("keyplan.toml");
    assert!(
        keyplan::manifest::parse(&text, path).is_ok(),
        "the synthetic manifest must be valid"
    );
    bencher
        .counter(divan::counter::BytesCount::of_str(&text))
        .bench(|| keyplan::manifest::parse(divan::black_box(&text), path));
}

/// The plan engine alone for 100,000 declared keys: 1,000 projects × 100 keys, with 5% to
/// create, 5% to update and one unmanaged key per project.
#[divan::bench(sample_count = 20)]
fn compute_plan_100k_keys(bencher: divan::Bencher) {
    let Ok(manifest) =
        keyplan::manifest::parse(&synth::manifest(1000 / SHRINK, 100), Path::new("k.toml"))
    else {
        panic!("the synthetic manifest must be valid");
    };
    let live = synth::live_state(1000 / SHRINK, 100);
    let options = PlanOptions {
        now: synth::NOW.parse().ok(),
        ..PlanOptions::default()
    };
    let Ok(plan) = compute_plan(&manifest.desired, &live, &options) else {
        panic!("the synthetic plan must compute");
    };
    assert!(
        plan.changes.len() >= 10_000 / SHRINK,
        "5% creates and 5% updates of 100,000 keys, got {}",
        plan.changes.len()
    );
    bencher.bench(|| {
        compute_plan(
            divan::black_box(&manifest.desired),
            divan::black_box(&live),
            &options,
        )
        .ok()
    });
}
