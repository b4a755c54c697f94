//! `-v` and `KEYPLAN_LOG`: one stderr line per HTTP request (method, path, status, elapsed
//! time, request id) from the real binary against the emulator, and never a secret, the client
//! secret, a bearer token or a body, even at the most verbose.

use crate::common::{CLIENT_SECRET, Env, PROD_READER_FILE_STORE};

/// The stderr lines of the HTTP log.
fn requests(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| line.contains("keyplan::http"))
        .collect()
}

#[test]
fn verbose_logs_each_request_with_method_path_status_time_and_request_id() {
    let env = Env::new();
    env.project("prod");
    env.manifest(PROD_READER_FILE_STORE);
    let applied = env
        .keyplan(["-v", "apply", "--auto-approve", "--format", "json"])
        .run()
        .code(0);
    let lines = requests(&applied.stderr);
    let create = lines
        .iter()
        .find(|line| line.contains("method=POST") && line.contains("/api-keys\""))
        .unwrap_or_else(|| panic!("no create request logged:\n{}", applied.stderr));
    for field in [
        "status=200",
        "elapsed_ms=",
        "request_id=\"emu-",
        "attempt=1",
    ] {
        assert!(create.contains(field), "{field} missing from {create}");
    }
    assert!(lines.iter().any(|l| l.contains("path=\"/oauth/token\"")));
    // stdout is still only the JSON lines.
    assert!(
        applied.stdout.lines().all(|l| l.starts_with('{')),
        "{}",
        applied.stdout
    );
    // The create's answer held the new secret; the token exchange sent the client secret.
    for secret in env.emulator.issued_secrets() {
        assert!(!applied.stderr.contains(secret.as_str()));
    }
    assert!(!applied.stderr.contains(CLIENT_SECRET));
    assert!(!applied.stderr.to_lowercase().contains("bearer"));
    env.assert_no_leaks(&["secrets.json"]);
}

#[test]
fn keyplan_log_at_trace_shows_only_keyplans_events_and_no_secret() {
    let env = Env::new();
    let prod = env.project("prod");
    env.manifest(PROD_READER_FILE_STORE);
    env.keyplan(["apply", "--auto-approve"]).run().code(0);
    // A rotation: a create (its answer holds a secret) and a delete.
    let rotated = env
        .keyplan(["apply", "--auto-approve", "--replace", "prod/reader"])
        .env("KEYPLAN_LOG", "trace")
        .run()
        .code(0);
    assert!(requests(&rotated.stderr).len() >= 4, "{}", rotated.stderr);
    // Only keyplan's own targets: no HTTP or TLS library internals.
    for line in rotated
        .stderr
        .lines()
        .filter(|l| l.contains(" TRACE ") || l.contains(" DEBUG "))
    {
        assert!(line.contains(" keyplan"), "a dependency's event: {line}");
    }
    let live = env.keys(&prod);
    assert_eq!(live.len(), 1);
    for secret in env.emulator.issued_secrets() {
        assert!(!rotated.stderr.contains(secret.as_str()));
    }
    assert!(!rotated.stderr.contains(CLIENT_SECRET));
    env.assert_no_leaks(&["secrets.json"]);
}

#[test]
fn without_verbose_nothing_is_logged_and_a_bad_filter_is_a_warning() {
    let env = Env::new();
    env.project("prod");
    env.manifest(PROD_READER_FILE_STORE);
    let quiet = env.keyplan(["plan"]).run().code(0);
    assert!(requests(&quiet.stderr).is_empty(), "{}", quiet.stderr);
    let bad = env
        .keyplan(["plan"])
        .env("KEYPLAN_LOG", "keyplan=[[")
        .run()
        .code(0);
    assert!(
        bad.stderr
            .contains("KEYPLAN_LOG=\"keyplan=[[\" is not a log filter"),
        "{}",
        bad.stderr
    );
}
