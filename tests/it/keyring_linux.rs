//! The keyring store's failures on Linux, each in a child process whose environment the test
//! sets: no session bus, a bus without a Secret Service, a Secret Service without an unlocked
//! collection. Each must say how to get a working keyring.
#![cfg(target_os = "linux")]
#![expect(clippy::unwrap_used, reason = "tests")]
#![expect(clippy::print_stderr, reason = "tests report a missing D-Bus")]
#![expect(
    clippy::print_stdout,
    reason = "a child process reports to its parent test"
)]

use std::process::Command;

use keyplan::secrets::{KeyringStore, SecretStore};

use crate::common::test_name;

/// Runs one of the child scenarios below in a fresh process whose environment the test sets,
/// and returns what its probe said.
fn probe_in_child(scenario: &str, command: &mut Command) -> String {
    let output = command
        .env("KEYPLAN_TEST_PROBE_CHILD", scenario)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "child failed: {stdout}\n{stderr}");
    let start = stdout.find("PROBE[").unwrap();
    let end = stdout[start..].find("]PROBE").unwrap();
    stdout[start + 6..start + end].to_owned()
}

/// The child side: probe a keyring store and print the outcome between markers.
#[test]
fn probe_child() {
    if std::env::var_os("KEYPLAN_TEST_PROBE_CHILD").is_none() {
        // Run as a child of the tests below; on its own it checks that probing a store never
        // panics, whatever the environment.
        let store = KeyringStore::new("keyplan-child".into(), "{key}".into()).unwrap();
        let _ = store.probe();
        return;
    }
    let store = KeyringStore::new(
        format!("keyplan-test-{}", uuid::Uuid::new_v4()),
        "{key}".into(),
    )
    .unwrap();
    match store.probe() {
        Ok(()) => println!("PROBE[ok]PROBE"),
        Err(e) => println!(
            "PROBE[{e} | hint: {}]PROBE",
            e.hint.as_deref().unwrap_or_default()
        ),
    }
}

/// The arguments that make this test binary run `probe_child` alone.
fn probe_child_args() -> [String; 4] {
    [
        "--exact".to_owned(),
        test_name(module_path!(), "probe_child"),
        "--nocapture".to_owned(),
        "--test-threads=1".to_owned(),
    ]
}

fn child(runtime: &std::path::Path) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(probe_child_args())
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("XDG_RUNTIME_DIR", runtime)
        .env("XDG_DATA_HOME", runtime);
    command
}

#[test]
fn probe_without_a_session_bus_says_how_to_get_one() {
    let runtime = tempfile::tempdir().unwrap();
    let said = probe_in_child("no-bus", &mut child(runtime.path()));
    assert!(said.contains("Secret Service"), "{said}");
    assert!(
        said.contains("start a Secret Service (gnome-keyring) or use store = \"file\""),
        "{said}"
    );
}

/// Whether `dbus-run-session` (and, for `gnome`, gnome-keyring) can be used; under CI they must.
fn private_bus_available(gnome: bool) -> bool {
    let available = Command::new("dbus-run-session")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
        && (!gnome || std::path::Path::new("/usr/bin/gnome-keyring-daemon").exists());
    if !available {
        let ci = std::env::var_os("CI").is_some()
            || std::env::var_os("KEYPLAN_TEST_SECRET_SERVICE").is_some();
        assert!(
            !ci,
            "dbus-run-session and gnome-keyring are needed under CI"
        );
        eprintln!("\n*** SKIPPED: no dbus-run-session/gnome-keyring (run under .ci/run) ***\n");
    }
    available
}

#[test]
fn probe_on_a_bus_without_a_secret_service_says_how_to_get_one() {
    // A private bus with no service directories: nothing provides org.freedesktop.secrets.
    if !private_bus_available(false) {
        return;
    }
    let runtime = tempfile::tempdir().unwrap();
    let config = runtime.path().join("bus.conf");
    let bus_config = format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
        runtime.path().display()
    );
    std::fs::write(&config, bus_config).unwrap();
    let mut command = Command::new("dbus-run-session");
    command
        .arg(format!("--config-file={}", config.display()))
        .arg("--")
        .arg(std::env::current_exe().unwrap())
        .args(probe_child_args())
        .env("XDG_RUNTIME_DIR", runtime.path())
        .env("XDG_DATA_HOME", runtime.path());
    let said = probe_in_child("no-provider", &mut command);
    assert!(said.contains("ServiceUnknown"), "{said}");
    assert!(
        said.contains("start a Secret Service (gnome-keyring) or use store = \"file\""),
        "{said}"
    );
}

#[test]
fn probe_of_a_keyring_without_an_unlocked_collection_says_unlock() {
    // A private bus of its own: D-Bus activation starts gnome-keyring there without a password,
    // so there is no unlocked login collection, as on a machine where nobody logged in.
    if !private_bus_available(true) {
        return;
    }
    let runtime = tempfile::tempdir().unwrap();
    let mut command = Command::new("dbus-run-session");
    command
        .arg("--")
        .arg(std::env::current_exe().unwrap())
        .args(probe_child_args())
        .env("XDG_RUNTIME_DIR", runtime.path())
        .env("XDG_DATA_HOME", runtime.path());
    let said = probe_in_child("locked", &mut command);
    assert!(said.contains("unlock the keyring"), "{said}");
}
