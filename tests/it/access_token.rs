//! `PINECONE_ACCESS_TOKEN`, which keyplan cannot renew, over real HTTP against the emulator:
//! a JWT's expiry is read from its `exp` claim; an expired one is refused before any request
//! (the emulator counts none), an apply is not started with one about to expire (plan warns),
//! a valid or opaque one works, and a 401 half-way says the token was rejected and why.

#![expect(clippy::unwrap_used, reason = "tests")]

use crate::common::{Env, Finished};
use keyplan::emulator::{Fault, Route};
use keyplan::model::Role;

const MANIFEST: &str = crate::common::PROD_READER_FILE_STORE;

fn in_minutes(minutes: i64) -> jiff::Timestamp {
    jiff::Timestamp::now() + jiff::SignedDuration::from_mins(minutes)
}

/// keyplan with only `PINECONE_ACCESS_TOKEN` as credentials.
fn with_token(env: &Env, token: &str, args: &[&str]) -> Finished {
    let finished = env
        .keyplan(args)
        .env_remove("PINECONE_CLIENT_ID")
        .env_remove("PINECONE_CLIENT_SECRET")
        .env("PINECONE_ACCESS_TOKEN", token)
        .run();
    assert!(
        !finished.stdout.contains(token) && !finished.stderr.contains(token),
        "the token was printed"
    );
    finished
}

fn env() -> Env {
    let env = Env::new();
    env.project("prod");
    env.manifest(MANIFEST);
    env
}

#[test]
fn an_expired_jwt_is_refused_before_any_request_by_every_command() {
    let env = env();
    let token = env.emulator.issue_jwt(in_minutes(-90));
    env.emulator.reset_counters();
    for args in [
        &["plan"][..],
        &["drift"],
        &["import"],
        &["apply", "--auto-approve"],
    ] {
        let refused = with_token(&env, &token, args).code(1);
        assert!(
            refused.stderr.contains("PINECONE_ACCESS_TOKEN expired at ")
                && refused.stderr.contains("(1 hour 30 minutes ago)")
                && refused.stderr.contains("docs/security.md"),
            "{args:?}: {}",
            refused.stderr
        );
    }
    assert_eq!(env.emulator.counters().total, 0, "no request was sent");
}

#[test]
fn an_apply_is_not_started_with_a_token_about_to_expire_and_plan_warns() {
    let env = env();
    let token = env.emulator.issue_jwt(in_minutes(5));
    env.emulator.reset_counters();
    let refused = with_token(&env, &token, &["apply", "--auto-approve"]).code(1);
    assert!(
        refused.stderr.contains("too soon to start an apply")
            && (refused.stderr.contains("(in 4 minutes)")
                || refused.stderr.contains("(in 5 minutes)")),
        "{}",
        refused.stderr
    );
    assert_eq!(env.emulator.counters().total, 0, "no request was sent");

    let plan = with_token(&env, &token, &["plan"]).code(0);
    assert!(
        plan.stderr.contains("warning:") && plan.stderr.contains("`keyplan apply` will refuse"),
        "{}",
        plan.stderr
    );
    assert!(plan.stdout.contains("reader"), "{}", plan.stdout);
}

#[test]
fn a_valid_jwt_and_an_opaque_token_both_apply() {
    let env = env();
    let jwt = env.emulator.issue_jwt(in_minutes(60));
    let plan = with_token(&env, &jwt, &["plan"]).code(0);
    assert!(!plan.stderr.contains("warning:"), "{}", plan.stderr);
    with_token(&env, &jwt, &["apply", "--auto-approve"]).code(0);

    env.manifest(&MANIFEST.replace("reader", "writer"));
    let opaque = env.emulator.issue_token();
    let applied = with_token(&env, &opaque, &["apply", "--auto-approve"]).code(0);
    assert!(
        applied.stdout.contains("Apply complete"),
        "{}",
        applied.stdout
    );
    let prod = env.emulator.projects().into_iter().next().unwrap();
    let names: Vec<String> = env.keys(&prod).into_iter().map(|k| k.name).collect();
    assert_eq!(names, ["reader", "writer"]);
    env.assert_no_leaks(&["secrets.json"]);
}

#[test]
fn a_401_half_way_says_the_access_token_was_rejected_and_why() {
    let env = env();
    let prod = env.emulator.projects().into_iter().next().unwrap();
    env.key(&prod, "legacy", &[Role::ProjectEditor]);
    let jwt = env.emulator.issue_jwt(in_minutes(60));
    // The listing passes; the create is refused as after a revocation.
    env.emulator
        .push_faults(Route::CreateKey, [Fault::Status(401)]);
    let failed = with_token(&env, &jwt, &["apply", "--auto-approve"]);
    assert_ne!(failed.code, 0);
    let both = format!("{}{}", failed.stdout, failed.stderr);
    assert!(
        both.contains("PINECONE_ACCESS_TOKEN was rejected although it expires only at")
            && both.contains("revoked")
            && both.contains("docs/security.md"),
        "{both}"
    );

    // An opaque token: keyplan cannot tell when it expires, and says so.
    env.emulator.revoke_tokens();
    let opaque = "opaque-token-nobody-issued";
    let refused = with_token(&env, opaque, &["plan"]);
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("it has expired or was revoked")
            && refused.stderr.contains("not a JWT"),
        "{}",
        refused.stderr
    );
}
