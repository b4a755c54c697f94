//! The client against the emulator misbehaving the ways production was seen to: a server that
//! echoes credentials into an error body, a 500 on deleting a key that is already gone, a key
//! listed without a `name`, a listing that announces a next page. Over real HTTP on loopback.

#![expect(clippy::unwrap_used, reason = "tests")]

use keyplan::emulator::{Fault, Route};
use keyplan::live::AdminApi;
use keyplan::live::client::{Credentials, HttpAdminApi};
use keyplan::model::{Role, Secret};

use crate::client::{CLIENT_ID, CLIENT_SECRET, assert_no_secrets, client, config, emulator};

/// Fails unless `text` shows that something was blanked out, and holds none of the emulator's
/// tokens and secrets, nor the client id or secret.
fn assert_redacted(emu: &keyplan::emulator::RunningEmulator, text: &str) {
    assert_no_secrets(emu, text);
    assert!(
        !text.contains(CLIENT_ID),
        "the client id leaked into: {text}"
    );
    assert!(text.contains("[redacted]"), "nothing was echoed: {text}");
}

#[tokio::test]
async fn credentials_echoed_into_error_bodies_never_reach_the_error() {
    let emu = emulator().await;
    let project = emu.add_project("demo");
    let api = client(&emu);
    // A first call fetches the token, an opaque one (no dots, not JWT-shaped).
    api.list_keys(&project.id).await.unwrap();
    assert!(emu.issued_tokens().iter().all(|t| !t.contains('.')));

    // A 4xx JSON document, final at once.
    emu.push_faults(Route::ListKeys, [Fault::Echo(400)]);
    let err = api.list_keys(&project.id).await.unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    assert_redacted(&emu, &err.to_string());

    // 5xx answers, retried until the client gives up: JSON documents, then plain text quoted
    // as an excerpt.
    emu.push_faults(Route::ListProjects, [Fault::Echo(500); 5]);
    let err = api.list_projects().await.unwrap_err();
    assert!(
        err.to_string().contains("gave up after 5 attempts"),
        "{err}"
    );
    assert_redacted(&emu, &err.to_string());
    emu.push_faults(Route::DescribeProject, [Fault::EchoText(502); 5]);
    let err = api.describe_project(&project.id).await.unwrap_err();
    assert_eq!(err.status(), Some(502), "{err}");
    assert_redacted(&emu, &err.to_string());

    // The token endpoint echoing the client id and secret it was sent.
    let fresh = client(&emu);
    emu.push_faults(Route::Token, [Fault::Echo(400)]);
    let err = fresh.list_projects().await.unwrap_err();
    assert_redacted(&emu, &err.to_string());
    emu.push_faults(Route::Token, [Fault::EchoText(503); 5]);
    let err = fresh.list_projects().await.unwrap_err();
    assert_redacted(&emu, &err.to_string());
    assert!(!err.to_string().contains(CLIENT_SECRET), "{err}");

    // PINECONE_ACCESS_TOKEN, opaque too.
    let token = emu.issue_token();
    let with_token = HttpAdminApi::new(config(
        &emu,
        Credentials::AccessToken(Secret::new(token.clone())),
    ))
    .unwrap();
    emu.push_faults(Route::ListKeys, [Fault::Echo(403)]);
    let err = with_token.list_keys(&project.id).await.unwrap_err();
    assert!(!err.to_string().contains(&token), "{err}");
    assert_redacted(&emu, &err.to_string());
}

#[tokio::test]
async fn a_500_on_deleting_a_key_that_is_gone_reads_as_already_gone() {
    let emu = emulator().await;
    emu.set_delete_missing_500(true);
    let project = emu.add_project("demo");
    let doomed = emu.add_key(&project.id, "doomed", &[Role::ProjectEditor]);
    let kept = emu.add_key(&project.id, "kept", &[Role::ProjectEditor]);
    let api = client(&emu);

    assert!(api.delete_key(&doomed.id).await.unwrap());
    emu.reset_counters();
    assert!(
        !api.delete_key(&doomed.id).await.unwrap(),
        "a 500 for a key that is gone means already gone"
    );
    // One DELETE and one describe: the client asks before spending its retries.
    let counters = emu.counters();
    assert_eq!(counters.route(Route::DeleteKey), 1, "{counters:?}");
    assert_eq!(
        counters.route_status(Route::DeleteKey, 500),
        1,
        "{counters:?}"
    );
    assert_eq!(
        counters.route_status(Route::DescribeKey, 404),
        1,
        "{counters:?}"
    );

    // A 5xx on a key that is still there: resent with the usual retries, and deleted.
    emu.push_faults(Route::DeleteKey, [Fault::Status(503)]);
    assert!(api.delete_key(&kept.id).await.unwrap());
    assert!(emu.keys(&project.id).is_empty());

    // A key that stays there through every attempt: the error, as before.
    let stuck = emu.add_key(&project.id, "stuck", &[Role::ProjectEditor]);
    emu.push_faults(Route::DeleteKey, [Fault::Status(503); 6]);
    let err = api.delete_key(&stuck.id).await.unwrap_err();
    assert_eq!(err.status(), Some(503), "{err}");
    assert!(
        err.to_string().contains("gave up after 5 attempts"),
        "{err}"
    );
    assert_eq!(emu.keys(&project.id), vec![stuck]);
}

#[tokio::test]
async fn a_key_listed_without_a_name_gets_an_empty_name_and_the_listing_stands() {
    let emu = emulator().await;
    let project = emu.add_project("demo");
    let first = emu.add_key(&project.id, "first", &[Role::ProjectEditor]);
    let second = emu.add_key(&project.id, "second", &[Role::DataPlaneViewer]);
    let api = client(&emu);

    emu.push_faults(Route::ListKeys, [Fault::NamelessKey]);
    let keys = api.list_keys(&project.id).await.unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!((&keys[0].id, keys[0].name.as_str()), (&first.id, ""));
    assert_eq!(keys[0].roles, first.roles);
    assert_eq!(keys[1], second);

    emu.push_faults(Route::DescribeKey, [Fault::NamelessKey]);
    let described = api.describe_key(&second.id).await.unwrap();
    assert_eq!((&described.id, described.name.as_str()), (&second.id, ""));
}

#[tokio::test]
async fn a_listing_that_announces_another_page_is_refused_naming_the_field() {
    let emu = emulator().await;
    let project = emu.add_project("demo");
    emu.add_key(&project.id, "only", &[Role::ProjectEditor]);
    let api = client(&emu);

    emu.push_faults(Route::ListKeys, [Fault::NextPage]);
    let err = api.list_keys(&project.id).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("pagination.next"), "{text}");
    assert!(text.contains("another page"), "{text}");

    emu.push_faults(Route::ListProjects, [Fault::NextPage]);
    let err = api.list_projects().await.unwrap_err();
    assert!(err.to_string().contains("pagination.next"), "{err}");

    // Without the marker the same listings read as before.
    assert_eq!(api.list_keys(&project.id).await.unwrap().len(), 1);
    assert_eq!(api.list_projects().await.unwrap().len(), 1);
}

/// End to end: a plan over a listing in which a key has no name neither fails nor binds that
/// key by name; it shows the key with its id.
#[test]
fn a_plan_over_a_nameless_key_shows_it_by_id_and_does_not_bind_it_by_name() {
    let env = crate::common::Env::new();
    let prod = env.project("prod");
    let ci = env.key(&prod, "ci", &[Role::DataPlaneViewer]);
    env.manifest(
        "[secrets]\nstore = \"file\"\npath = \"secrets.json\"\n\n[[project]]\nname = \"prod\"\n\n  \
         [[project.key]]\n  name = \"ci\"\n  roles = [\"DataPlaneViewer\"]\n",
    );
    env.emulator
        .push_faults(Route::ListKeys, [Fault::NamelessKey]);
    let plan = env.keyplan(["plan"]).run().code(0);
    assert!(
        plan.stdout
            .contains("Plan: 1 to create, 0 to update, 0 to replace, 0 to delete."),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains(&format!("key \"\" (id {})", ci.id)),
        "{}",
        plan.stdout
    );
}
