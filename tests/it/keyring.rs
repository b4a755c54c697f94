//! The keyring store against a real Secret Service (gnome-keyring under a private D-Bus session,
//! as `.ci/run` starts it). Secrets are read back through the keyring API itself, not through
//! keyplan, so a test fails if keyplan stored something other tools cannot find.
//!
//! With no Secret Service reachable: under CI (`CI` or `KEYPLAN_TEST_SECRET_SERVICE` set) every
//! test fails; elsewhere it prints a loud SKIPPED line and returns.
#![cfg(target_os = "linux")]
#![expect(clippy::unwrap_used, reason = "tests")]
#![expect(clippy::print_stderr, reason = "tests report a missing Secret Service")]
#![expect(
    clippy::print_stdout,
    reason = "a child process reports to its parent test"
)]

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;

use keyplan::desired::SecretsConfig;
use keyplan::model::{KeyId, Secret};
use keyplan::secrets::{self, KeyringStore, SecretStore};
use keyring_core::{CredentialStore, Entry};

use crate::common::test_name;
use crate::support_stores::{project, record};

/// A keyplan keyring store under a service of its own (tests run in parallel), plus a direct
/// keyring-core handle on the same Secret Service for reading back; `None` when skipped.
struct Fixture {
    service: String,
    store: Box<dyn SecretStore>,
    direct: Arc<CredentialStore>,
}

impl Fixture {
    fn new(template: &str) -> Option<Fixture> {
        let service = format!("keyplan-test-{}", uuid::Uuid::new_v4());
        let store = secrets::open(&SecretsConfig::Keyring {
            service: service.clone(),
            entry: template.into(),
        })
        .unwrap();
        if let Err(error) = store.probe() {
            let ci = std::env::var_os("CI").is_some()
                || std::env::var_os("KEYPLAN_TEST_SECRET_SERVICE").is_some();
            assert!(
                !ci,
                "no Secret Service reachable under CI: {error} (hint: {:?}); run the tests \
                 through .ci/run",
                error.hint
            );
            eprintln!(
                "\n*** SKIPPED: no Secret Service (run under .ci/run): {error} ***\n\
                 *** the keyring store was NOT tested ***\n"
            );
            return None;
        }
        let direct: Arc<CredentialStore> = zbus_secret_service_keyring_store::Store::new().unwrap();
        Some(Fixture {
            service,
            store,
            direct,
        })
    }

    fn entry(&self, name: &str) -> Entry {
        Entry::new_in_store(&self.direct, &self.service, name).unwrap()
    }

    /// The secret under `name`, read through keyring-core; `None` when there is no entry.
    fn read(&self, name: &str) -> Option<String> {
        match self.entry(name).get_password() {
            Ok(value) => Some(value),
            Err(keyring_core::Error::NoEntry) => None,
            Err(e) => panic!("reading {name}: {e}"),
        }
    }

    fn attributes(&self, name: &str) -> HashMap<String, String> {
        self.entry(name).get_attributes().unwrap()
    }

    /// Removes whatever a test left under this service.
    fn clean(&self, names: &[&str]) {
        for name in names {
            let _ = self.entry(name).delete_credential();
        }
    }
}

#[test]
fn put_stores_the_raw_secret_where_other_tools_find_it() {
    let Some(fx) = Fixture::new(SecretsConfig::DEFAULT_KEYRING_ENTRY) else {
        return;
    };
    let prod = project("p-1", "prod");
    fx.store
        .put(
            &record(&prod, "k-1", "ci"),
            &Secret::new("pcsk_first_secret"),
        )
        .unwrap();

    assert_eq!(fx.read("prod/ci").as_deref(), Some("pcsk_first_secret"));
    let attributes = fx.attributes("prod/ci");
    assert_eq!(attributes["keyplan_key_id"], "k-1");
    assert_eq!(attributes["keyplan_project_id"], "p-1");
    assert_eq!(attributes["keyplan_key_name"], "ci");
    assert_eq!(attributes["keyplan_created_at"], "2026-11-27T01:02:03Z");
    assert_eq!(attributes["service"], fx.service);
    assert_eq!(attributes["username"], "prod/ci");

    assert_eq!(
        fx.store.held_key_id(&prod, "ci").unwrap(),
        Some(KeyId("k-1".into()))
    );
    assert_eq!(
        fx.store.get(&prod, "ci").unwrap().unwrap().expose(),
        "pcsk_first_secret"
    );
    assert_eq!(fx.store.held_key_id(&prod, "other").unwrap(), None);
    assert_eq!(fx.store.get(&prod, "other").unwrap(), None);
    // Same project name, other project id: not ours.
    assert_eq!(
        fx.store.held_key_id(&project("p-2", "prod"), "ci").unwrap(),
        None
    );
    let direct = KeyringStore::new(fx.service.clone(), "{project}/{key}".into()).unwrap();
    assert_eq!(
        direct.get(&prod, "ci").unwrap().unwrap().expose(),
        "pcsk_first_secret"
    );
    let shown = format!("{direct:?} {}", fx.store.describe());
    assert!(!shown.contains("pcsk"), "{shown}");
    fx.clean(&["prod/ci"]);
}

/// Apply calls the store from many threads at once (one per change in flight): every secret
/// lands under its own entry, with its own key id.
#[test]
fn threads_putting_at_once_each_store_their_own_secret() {
    let Some(fx) = Fixture::new(SecretsConfig::DEFAULT_KEYRING_ENTRY) else {
        return;
    };
    let prod = project("p-1", "prod");
    let names: Vec<String> = (0..16).map(|i| format!("key-{i}")).collect();
    std::thread::scope(|scope| {
        for (i, name) in names.iter().enumerate() {
            let (store, prod) = (&fx.store, &prod);
            scope.spawn(move || {
                store
                    .put(
                        &record(prod, &format!("k-{i}"), name),
                        &Secret::new(format!("pcsk_secret_{i}")),
                    )
                    .unwrap();
                assert_eq!(
                    store.held_key_id(prod, name).unwrap(),
                    Some(KeyId(format!("k-{i}")))
                );
            });
        }
    });
    for (i, name) in names.iter().enumerate() {
        let entry = format!("prod/{name}");
        assert_eq!(fx.read(&entry), Some(format!("pcsk_secret_{i}")));
        assert_eq!(fx.attributes(&entry)["keyplan_key_id"], format!("k-{i}"));
    }
    let entries: Vec<String> = names.iter().map(|n| format!("prod/{n}")).collect();
    fx.clean(&entries.iter().map(String::as_str).collect::<Vec<_>>());
}

#[test]
fn a_replace_overwrites_the_entry_and_removing_the_old_key_keeps_it() {
    let Some(fx) = Fixture::new("{project}/{key}") else {
        return;
    };
    let prod = project("p-1", "prod");
    fx.store
        .put(&record(&prod, "k-old", "ci"), &Secret::new("pcsk_old"))
        .unwrap();
    fx.store
        .put(&record(&prod, "k-new", "ci"), &Secret::new("pcsk_new"))
        .unwrap();
    assert_eq!(
        fx.store.held_key_id(&prod, "ci").unwrap(),
        Some(KeyId("k-new".into()))
    );
    // Deleting the old key must not take the new key's secret with it.
    assert!(
        !fx.store
            .remove(&prod, &KeyId("k-old".into()), "ci")
            .unwrap()
    );
    assert_eq!(fx.read("prod/ci").as_deref(), Some("pcsk_new"));
    assert!(
        fx.store
            .remove(&prod, &KeyId("k-new".into()), "ci")
            .unwrap()
    );
    assert_eq!(fx.read("prod/ci"), None);
    assert!(
        !fx.store
            .remove(&prod, &KeyId("k-new".into()), "ci")
            .unwrap()
    );
}

#[test]
fn rename_moves_the_secret_to_the_new_entry() {
    let Some(fx) = Fixture::new("{project}/{key}") else {
        return;
    };
    let prod = project("p-1", "prod");
    let id = KeyId("k-1".into());
    fx.store
        .put(
            &record(&prod, "k-1", "old-name"),
            &Secret::new("pcsk_moving"),
        )
        .unwrap();
    assert!(fx.store.rename(&prod, &id, "old-name", "new-name").unwrap());

    assert_eq!(fx.read("prod/old-name"), None);
    assert_eq!(fx.read("prod/new-name").as_deref(), Some("pcsk_moving"));
    let attributes = fx.attributes("prod/new-name");
    assert_eq!(attributes["keyplan_key_id"], "k-1");
    assert_eq!(attributes["keyplan_key_name"], "new-name");
    assert_eq!(attributes["keyplan_created_at"], "2026-11-27T01:02:03Z");
    assert_eq!(
        fx.store.held_key_id(&prod, "new-name").unwrap(),
        Some(id.clone())
    );
    assert_eq!(fx.store.held_key_id(&prod, "old-name").unwrap(), None);

    // Re-running an applied rename finds the secret already moved.
    assert!(fx.store.rename(&prod, &id, "old-name", "new-name").unwrap());
    // A key whose secret keyplan never held: nothing to move, nothing invented.
    assert!(
        !fx.store
            .rename(&prod, &KeyId("k-9".into()), "x", "y")
            .unwrap()
    );
    assert_eq!(fx.read("prod/y"), None);
    fx.clean(&["prod/new-name"]);
}

#[test]
fn rename_and_remove_never_touch_another_keys_secret() {
    let Some(fx) = Fixture::new("{project}/{key}") else {
        return;
    };
    let prod = project("p-1", "prod");
    fx.store
        .put(&record(&prod, "k-a", "a"), &Secret::new("pcsk_a"))
        .unwrap();
    fx.store
        .put(&record(&prod, "k-b", "b"), &Secret::new("pcsk_b"))
        .unwrap();

    // Renaming a onto b's entry would overwrite b's secret: refused, both intact.
    let error = fx
        .store
        .rename(&prod, &KeyId("k-a".into()), "a", "b")
        .unwrap_err();
    assert!(error.message.contains("k-b"), "{error}");
    assert!(error.hint.is_some());
    assert_eq!(fx.read("prod/a").as_deref(), Some("pcsk_a"));
    assert_eq!(fx.read("prod/b").as_deref(), Some("pcsk_b"));

    // Renaming or removing under the wrong key id does nothing.
    assert!(
        !fx.store
            .rename(&prod, &KeyId("k-b".into()), "a", "c")
            .unwrap()
    );
    assert!(!fx.store.remove(&prod, &KeyId("k-b".into()), "a").unwrap());
    assert_eq!(fx.read("prod/a").as_deref(), Some("pcsk_a"));
    assert_eq!(fx.read("prod/c"), None);
    fx.clean(&["prod/a", "prod/b"]);
}

#[test]
fn projects_sharing_a_name_do_not_overwrite_each_other() {
    let Some(fx) = Fixture::new("{project}/{key}") else {
        return;
    };
    let first = project("p-1", "shared");
    let second = project("p-2", "shared");
    fx.store
        .put(&record(&first, "k-1", "ci"), &Secret::new("pcsk_first"))
        .unwrap();
    let error = fx
        .store
        .put(&record(&second, "k-2", "ci"), &Secret::new("pcsk_second"))
        .unwrap_err();
    assert!(error.hint.unwrap().contains("{project_id}"));
    assert!(!error.message.contains("pcsk"));
    assert_eq!(fx.read("shared/ci").as_deref(), Some("pcsk_first"));
    fx.clean(&["shared/ci"]);

    // With the project id in the template they live side by side.
    let Some(fx) = Fixture::new("{project_id}/{key}") else {
        return;
    };
    fx.store
        .put(&record(&first, "k-1", "ci"), &Secret::new("pcsk_first"))
        .unwrap();
    fx.store
        .put(&record(&second, "k-2", "ci"), &Secret::new("pcsk_second"))
        .unwrap();
    assert_eq!(fx.read("p-1/ci").as_deref(), Some("pcsk_first"));
    assert_eq!(fx.read("p-2/ci").as_deref(), Some("pcsk_second"));
    fx.clean(&["p-1/ci", "p-2/ci"]);
}

#[test]
fn an_entry_that_claims_no_key_is_not_held_and_can_be_overwritten() {
    let Some(fx) = Fixture::new("{project}/{key}") else {
        return;
    };
    let prod = project("p-1", "prod");
    // What a crash between writing the secret and recording the key id leaves behind.
    fx.entry("prod/ci").set_password("pcsk_orphan").unwrap();
    assert_eq!(fx.store.held_key_id(&prod, "ci").unwrap(), None);
    assert_eq!(fx.store.get(&prod, "ci").unwrap(), None);
    fx.store
        .put(&record(&prod, "k-1", "ci"), &Secret::new("pcsk_real"))
        .unwrap();
    assert_eq!(fx.read("prod/ci").as_deref(), Some("pcsk_real"));
    assert_eq!(
        fx.store.held_key_id(&prod, "ci").unwrap(),
        Some(KeyId("k-1".into()))
    );
    fx.clean(&["prod/ci"]);
}

#[test]
fn probe_leaves_nothing_behind() {
    let Some(fx) = Fixture::new("{project}/{key}") else {
        return;
    };
    fx.store.probe().unwrap();
    fx.store.probe().unwrap();
    let spec = HashMap::from([("service", fx.service.as_str())]);
    let left = Entry::search_in_store(&fx.direct, &spec).unwrap();
    assert!(left.is_empty(), "probe left {} entries", left.len());
}

#[test]
fn the_default_config_names_service_keyplan() {
    // Pure naming, no Secret Service needed: what a user types into secret-tool.
    let store = secrets::open(&SecretsConfig::default_keyring()).unwrap();
    assert_eq!(
        store.describe(),
        "keyring (service \"keyplan\", entry \"{project}/{key}\")"
    );
    let direct = KeyringStore::new("keyplan".into(), "{project}/{key}".into()).unwrap();
    assert_eq!(direct.entry_name(&project("p", "prod"), "ci"), "prod/ci");
}

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
