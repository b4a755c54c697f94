//! The example workflows' safety properties, read from the files (actionlint and zizmor lint
//! them in .ci/test): applies queue in one group that drift shares and are never cancelled,
//! apply uses the plan made for the merged commit's pull-request head, credentials never reach
//! a fork's pull request, and the composite action verifies the archive's checksum.

#![expect(clippy::unwrap_used, reason = "tests")]

fn read(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// The top-level block `key:` of a workflow: its line and the indented lines under it.
fn block(text: &str, key: &str) -> String {
    let mut lines = text
        .lines()
        .skip_while(|l| !l.starts_with(&format!("{key}:")));
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("no top-level {key}:"));
    let rest = lines.take_while(|l| l.is_empty() || l.starts_with(' '));
    std::iter::once(first)
        .chain(rest)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn applies_queue_in_one_group_never_cancelled_and_drift_shares_it() {
    let apply = read("examples/github-actions/apply.yml");
    let concurrency = block(&apply, "concurrency");
    assert!(concurrency.contains("group: keyplan-prod"), "{concurrency}");
    assert!(
        concurrency.contains("cancel-in-progress: false"),
        "{concurrency}"
    );
    // The one-pending-run rule is documented where it bites.
    assert!(apply.contains("at most ONE pending run per group"));
    let drift = read("examples/github-actions/drift.yml");
    assert!(drift.contains("group: keyplan-prod"));
    assert!(!drift.contains("cancel-in-progress: true"));
}

#[test]
fn apply_uses_the_plan_of_the_merged_commits_pull_request_or_replans_for_approval() {
    let apply = read("examples/github-actions/apply.yml");
    assert!(
        apply.contains("commits/$SHA/pulls"),
        "finds the PR of the commit"
    );
    assert!(apply.contains("--name \"keyplan-plan-$head\""));
    assert!(apply.contains("environment: keyplan-approval"));
    assert!(
        !apply.contains("pull_request"),
        "apply runs on push to main only"
    );
    let plan = read("examples/github-actions/plan.yml");
    assert!(plan.contains("name: keyplan-plan-${{ github.event.pull_request.head.sha }}"));
}

#[test]
fn fork_pull_requests_never_reach_a_credential() {
    for file in ["plan.yml", "apply.yml", "drift.yml"] {
        let text = read(&format!("examples/github-actions/{file}"));
        assert!(!text.contains("pull_request_target"), "{file}");
        assert!(
            !text.contains("\nenv:"),
            "{file}: no workflow-wide env (credentials go to the steps that need them)"
        );
    }
    let plan = read("examples/github-actions/plan.yml");
    // Split into jobs (a line indented by exactly two spaces starts one): every job that
    // names a secret is guarded against forks.
    let mut jobs: Vec<String> = Vec::new();
    for line in block(&plan, "jobs").lines().skip(1) {
        let starts_job =
            line.starts_with("  ") && !line.starts_with("   ") && !line.trim().starts_with('#');
        if starts_job || jobs.is_empty() {
            jobs.push(String::new());
        }
        let job = jobs.last_mut().unwrap();
        job.push_str(line);
        job.push('\n');
    }
    assert!(jobs.len() >= 2, "{jobs:?}");
    for job in jobs.iter().filter(|job| job.contains("secrets.")) {
        assert!(
            job.contains("if: github.event.pull_request.head.repo.full_name == github.repository"),
            "a job with credentials runs for forks:\n{job}"
        );
    }
}

#[test]
fn the_composite_action_checks_the_archive_against_the_pinned_checksum() {
    let action = read("action.yml");
    for needle in [
        "using: composite",
        "version:",
        "sha256:",
        "path:",
        "checksum mismatch",
        "[0-9a-f]{64}",
    ] {
        assert!(action.contains(needle), "action.yml lacks {needle}");
    }
    for file in ["plan.yml", "apply.yml", "drift.yml"] {
        let text = read(&format!("examples/github-actions/{file}"));
        assert!(
            text.contains("uses: OWNER/keyplan@"),
            "{file} installs by the action"
        );
    }
    let ci = read(".ci/test");
    assert!(ci.contains("action.yml"), ".ci/test lints action.yml");
}
