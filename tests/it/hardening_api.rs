//! The client against the emulator misbehaving the ways production was seen to: a server that
//! echoes credentials into an error body, a 500 on deleting a key that is already gone, a key
//! listed without a `name`, a listing that announces a next page. Over real HTTP on loopback.

#![expect(clippy::unwrap_used, reason = "tests")]

use keyplan::emulator::{Fault, Route};
use keyplan::live::AdminApi;
use keyplan::live::client::{Credentials, HttpAdminApi};
use keyplan::model::Secret;

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
