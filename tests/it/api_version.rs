//! What keyplan sends and quotes over real HTTP: the Admin API version it speaks
//! (`--api-version`, `PINECONE_API_VERSION`), and bounds on how much of a name or server text
//! any message repeats.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::collections::BTreeMap;

use crate::common::Env;
use keyplan::emulator::{Fault, Route};
use keyplan::model::Role;

const MANIFEST: &str = "[secrets]\nstore = \"file\"\npath = \"secrets.json\"\n\n\
    [[project]]\nname = \"prod\"\nunmanaged = \"delete\"\n\n  \
    [[project.key]]\n  name = \"ci\"\n  roles = [\"ProjectViewer\"]\n";

/// The versions the emulator saw, with their request counts.
fn versions_seen(env: &Env) -> BTreeMap<String, u64> {
    let counters = env.emulator.counters();
    assert_eq!(counters.missing_api_version, 0, "{counters:?}");
    counters.by_api_version
}

#[test]
fn each_tested_version_is_sent_as_asked_and_the_newest_by_default() {
    for (args, sent) in [
        (vec!["--api-version", "2025-10", "plan"], "2025-10"),
        (vec!["plan", "--api-version", "2026-04"], "2026-04"),
        (vec!["plan"], "2026-04"),
    ] {
        let env = Env::new();
        env.project("prod");
        env.manifest(MANIFEST);
        let plan = env.keyplan(&args).run().code(0);
        assert!(plan.stdout.contains("1 to create"), "{}", plan.stdout);
        let seen = versions_seen(&env);
        assert_eq!(
            seen.keys().collect::<Vec<_>>(),
            [sent],
            "{args:?}: {seen:?}"
        );
    }
}

#[test]
fn the_version_can_come_from_the_environment() {
    let env = Env::new();
    env.project("prod");
    env.manifest(MANIFEST);
    // The harness's runs clear the environment; this one adds the variable (a plan issues no
    // secret, so there is nothing for the harness's leak scan to find).
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_keyplan"))
        .current_dir(env.dir.path())
        .env_clear()
        .env("PINECONE_CLIENT_ID", crate::common::CLIENT_ID)
        .env("PINECONE_CLIENT_SECRET", crate::common::CLIENT_SECRET)
        .env("PINECONE_CONTROLLER_HOST", env.emulator.base_url())
        .env("PINECONE_OAUTH_URL", env.emulator.oauth_url())
        .env("PINECONE_API_VERSION", "2025-10")
        .arg("plan")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let seen = versions_seen(&env);
    assert_eq!(seen.keys().collect::<Vec<_>>(), ["2025-10"], "{seen:?}");
}

#[test]
fn the_sandbox_accepts_the_flag() {
    let env = Env::new();
    env.manifest(MANIFEST);
    let plan = env
        .keyplan(["--sandbox", "--api-version", "2025-10", "plan"])
        .run()
        .code(0);
    assert!(plan.stdout.contains("1 to create"), "{}", plan.stdout);
}

#[test]
fn an_untested_version_is_a_usage_error_naming_the_accepted_ones() {
    let env = Env::new();
    env.project("prod");
    env.manifest(MANIFEST);
    for version in ["2024-07", "", "latest"] {
        let refused = env
            .keyplan(["plan", "--api-version", version])
            .run()
            .code(64);
        assert!(
            refused.stderr.contains("2025-10") && refused.stderr.contains("2026-04"),
            "{version:?}: {}",
            refused.stderr
        );
    }
    assert_eq!(env.emulator.counters().total, 0, "nothing was sent");
}

/// The most output one command may print about a key whose name is a megabyte long.
const BOUND: usize = 64 * 1024;

#[test]
fn a_giant_name_from_the_api_is_quoted_only_in_part() {
    let env = Env::new();
    let project = env.project("prod");
    let giant = format!("{}tail", "n".repeat(1 << 20));
    env.key(&project, &giant, &[Role::ProjectViewer]);
    env.manifest(MANIFEST);

    let mut runs = vec![
        env.keyplan(["plan"]).run().code(0),
        env.keyplan(["drift"]).run().code(2),
    ];
    // The delete fails: the error and the report name the key once more each.
    env.emulator
        .push_faults(Route::DeleteKey, [Fault::Status(403)]);
    let failed = env.keyplan(["apply", "--auto-approve", "--force"]).run();
    assert_ne!(failed.code, 0, "{}", failed.stdout);
    runs.push(failed);
    for run in &runs {
        let size = run.stdout.len() + run.stderr.len();
        assert!(
            size < BOUND,
            "{size} bytes of output:\n{}",
            run.stdout.chars().take(2000).collect::<String>()
        );
        assert!(
            run.stdout.contains("more bytes)") || run.stderr.contains("more bytes)"),
            "the cut is shown:\n{}\n{}",
            run.stdout.chars().take(2000).collect::<String>(),
            run.stderr.chars().take(2000).collect::<String>()
        );
        assert!(!run.stdout.contains("tail") && !run.stderr.contains("tail\""));
    }
    // Data keeps the whole name: the JSON plan, like an import, must name the key exactly.
    let json = env.keyplan(["plan", "--format", "json"]).run().code(0);
    assert!(json.stdout.contains(&giant));
    env.assert_no_leaks(&["secrets.json"]);
}
