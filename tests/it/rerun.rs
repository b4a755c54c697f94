//! Kill, then an immediate rerun (issue 11, item 7): a create still in flight at the server
//! when apply is killed commits after the rerun has listed the keys. The rerun must settle it
//! in the same run and exit 0 only with the state reached. Real binary, real HTTP, emulator.

#![expect(clippy::unwrap_used, reason = "tests")]
#![expect(
    clippy::print_stderr,
    reason = "the tests print their figures (see them with --nocapture)"
)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use keyplan::emulator::{Fault, Faults, Route};
use keyplan::testkit::reliability::{self, Program, SECRETS, Sandbox};

fn program() -> Program {
    Program {
        path: env!("CARGO_BIN_EXE_keyplan").into(),
        env: Vec::new(),
        panic_on_leak: true,
    }
}

const MANIFEST: &str = r#"[secrets]
store = "file"
path = "secrets.json"

[[project]]
name = "prod"

  [[project.key]]
  name = "ingest"
  roles = ["ProjectEditor"]

  [[project.key]]
  name = "reader"
  roles = ["DataPlaneViewer"]
"#;

/// Both creates of the first apply are in flight (each commits 1.5 s after it arrives, even
/// with its client gone) when the apply is killed; the rerun lists the project before they
/// commit, creates both keys again, and finds the killed run's keys beside its own, earlier
/// and with no stored secret. Before the fix it kept both, warned, and exited 0 with two keys
/// nobody holds the secret of.
#[test]
fn a_rerun_right_after_a_kill_settles_the_killed_runs_late_creates_and_exits_0_converged() {
    let sandbox = Sandbox::new(&program(), Faults::default());
    let project = sandbox.emulator.add_project("prod");
    sandbox.write_manifest(MANIFEST);
    sandbox.emulator.push_faults(
        Route::CreateKey,
        vec![Fault::CommitLate(Duration::from_millis(1500)); 4],
    );
    let args = sandbox.apply_args(&[]);
    let started = Instant::now();
    let mut child = sandbox.spawn(&args);
    let deadline = Instant::now() + Duration::from_secs(20);
    while sandbox.emulator.counters().route(Route::CreateKey) < 2 {
        assert!(Instant::now() < deadline, "the creates never arrived");
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(50));
    child.kill().unwrap();
    let killed = sandbox.wait(child, started);
    assert!(
        sandbox.emulator.keys(&project.id).is_empty(),
        "the creates committed before the kill: {killed:?}"
    );

    let rerun = sandbox.run(&args);
    let plan = sandbox.run(&Sandbox::plan_args());
    let live = sandbox.emulator.keys(&project.id);
    let audit = sandbox.secret_audit(std::slice::from_ref(&project), &BTreeSet::new());
    let report = format!(
        "live {live:?}\n--- rerun (exit {})\n{}\n{}\n--- plan (exit {})\n{}",
        rerun.code, rerun.stdout, rerun.stderr, plan.code, plan.stdout
    );
    // The late creates really landed beside the rerun's keys, and the rerun removed them.
    assert_eq!(
        sandbox.emulator.counters().route(Route::CreateKey),
        4,
        "{report}"
    );
    assert_eq!(rerun.code, 0, "{report}");
    assert_eq!(plan.code, 0, "the rerun exited 0 unconverged: {report}");
    assert!(rerun.stdout.contains("interrupted or stalled"), "{report}");
    let mut names: Vec<&str> = live.iter().map(|k| k.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["ingest", "reader"], "{report}");
    assert_eq!(
        (audit.secretless, audit.wrong),
        (0, 0),
        "{audit:?}\n{report}"
    );
    assert!(sandbox.path(SECRETS).exists());
    assert_eq!(sandbox.leaks(), 0);
    assert_eq!(sandbox.panics(), 0);
}

/// The reliability example's kill-then-rerun mode, a small sample: generated scenarios, creates
/// committing late, a kill while they are in flight, a rerun at once.
#[test]
fn reruns_right_after_kills_exit_0_only_when_converged() {
    let points = std::env::var("KEYPLAN_RERUN_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let tally = reliability::run_many(2000, points, 4, |seed| {
        reliability::rerun_kill(&program(), seed)
    });
    eprintln!("{:#?}", tally.rerun);
    assert!(
        tally.problems.is_empty(),
        "{}",
        tally.problems.join("\n=====\n")
    );
    let figures = &tally.rerun;
    assert_eq!(figures.exit_zero_unconverged, 0, "{figures:#?}");
    assert_eq!(tally.converged, tally.scenarios, "{figures:#?}");
    assert!(
        figures.kills > 0,
        "no kill met a create in flight: {figures:#?}"
    );
    assert_eq!((tally.leaks, tally.panics), (0, 0));
}
