//! The keyring store on every OS: against the OS's own keyring (the Secret Service under
//! `.ci/run`'s private D-Bus session on Linux, the login keychain on macOS, Credential Manager
//! on Windows), and against keyring-core's in-memory mock in the envelope layout, so the
//! layout macOS and Windows use is tested on every machine. Entries are read back through the
//! keyring API itself, not through keyplan, so a test fails if keyplan stored something other
//! tools cannot find.
//!
//! With no OS keyring reachable: under CI (`CI`, `KEYPLAN_TEST_KEYRING` or
//! `KEYPLAN_TEST_SECRET_SERVICE` set) every test fails; elsewhere it prints a loud SKIPPED line
//! and tests the mock alone.
#![expect(clippy::unwrap_used, reason = "tests")]
#![expect(clippy::print_stderr, reason = "tests report a missing keyring")]

use std::collections::HashMap;
use std::sync::Arc;

use keyplan::desired::SecretsConfig;
use keyplan::model::{KeyId, Secret};
use keyplan::secrets::{self, KeyringLayout, KeyringStore, SecretStore};
use keyring_core::{CredentialStore, Entry};

use crate::support_stores::{project, record};

/// A keyplan keyring store under a service of its own (tests run in parallel), plus a direct
/// keyring-core handle on the same store for reading back.
struct Fixture {
    service: String,
    store: Box<dyn SecretStore>,
    direct: Arc<CredentialStore>,
    layout: KeyringLayout,
    mock: bool,
}

/// Whether the OS keyring must be there (CI, or a workflow that says so).
fn keyring_required() -> bool {
    ["CI", "KEYPLAN_TEST_KEYRING", "KEYPLAN_TEST_SECRET_SERVICE"]
        .iter()
        .any(|var| std::env::var_os(var).is_some())
}

/// The stores a test runs on: the mock in the envelope layout, then the OS keyring.
fn fixtures(template: &str) -> Vec<Fixture> {
    let mut all = vec![Fixture::mock(template)];
    all.extend(Fixture::native(template));
    all
}

impl Fixture {
    fn mock(template: &str) -> Fixture {
        let service = format!("keyplan-test-{}", uuid::Uuid::new_v4());
        let direct: Arc<CredentialStore> = keyring_core::mock::Store::new().unwrap();
        let store = KeyringStore::in_store(
            service.clone(),
            template.into(),
            Arc::clone(&direct),
            KeyringLayout::Envelope,
        )
        .unwrap();
        Fixture {
            service,
            store: Box::new(store),
            direct,
            layout: KeyringLayout::Envelope,
            mock: true,
        }
    }

    /// The OS keyring through `secrets::open`, as keyplan opens it; `None` when skipped.
    fn native(template: &str) -> Option<Fixture> {
        let service = format!("keyplan-test-{}", uuid::Uuid::new_v4());
        let store = secrets::open(&SecretsConfig::Keyring {
            service: service.clone(),
            entry: template.into(),
        })
        .unwrap();
        if let Err(error) = store.probe() {
            assert!(
                !keyring_required(),
                "no OS keyring reachable under CI: {error} (hint: {:?}); on Linux run the tests \
                 through .ci/run",
                error.hint
            );
            eprintln!(
                "\n*** SKIPPED: no OS keyring (on Linux run under .ci/run): {error} ***\n\
                 *** the OS keyring store was NOT tested ***\n"
            );
            return None;
        }
        Some(Fixture {
            service,
            store,
            direct: secrets::platform_store().unwrap(),
            layout: KeyringLayout::native(),
            mock: false,
        })
    }

    fn entry(&self, name: &str) -> Entry {
        Entry::new_in_store(&self.direct, &self.service, name).unwrap()
    }

    /// The stored value under `name`, through keyring-core; `None` when there is no entry.
    fn raw(&self, name: &str) -> Option<String> {
        match self.entry(name).get_password() {
            Ok(value) => Some(value),
            Err(keyring_core::Error::NoEntry) => None,
            Err(e) => panic!("reading {name}: {e}"),
        }
    }

    /// The secret under `name`: the raw value, or the envelope's `secret`.
    fn read(&self, name: &str) -> Option<String> {
        let raw = self.raw(name)?;
        Some(match self.layout {
            KeyringLayout::Attributes => raw,
            KeyringLayout::Envelope => match serde_json::from_str::<serde_json::Value>(&raw) {
                Ok(envelope) => envelope["secret"].as_str().unwrap().to_owned(),
                Err(_) => raw,
            },
        })
    }

    /// What the entry records beside the secret: its attributes, or the envelope's fields.
    fn claims(&self, name: &str) -> HashMap<String, String> {
        match self.layout {
            KeyringLayout::Attributes => self.entry(name).get_attributes().unwrap(),
            KeyringLayout::Envelope => {
                let envelope: serde_json::Value =
                    serde_json::from_str(&self.raw(name).unwrap()).unwrap();
                assert_eq!(envelope["keyplan_envelope"], 1);
                envelope
                    .as_object()
                    .unwrap()
                    .iter()
                    .filter(|(field, _)| *field != "secret")
                    .filter_map(|(field, value)| Some((field.clone(), value.as_str()?.to_owned())))
                    .collect()
            }
        }
    }

    /// How many entries this fixture's service holds.
    fn entries_left(&self) -> usize {
        let (field, value) = if cfg!(windows) && !self.mock {
            // Credential Manager searches target names (`<user>.<service>`) by pattern.
            ("pattern", format!(r".*\.{}$", self.service))
        } else {
            ("service", self.service.clone())
        };
        let spec = HashMap::from([(field, value.as_str())]);
        // The mock lists an entry whose credential was deleted: count those holding a value.
        Entry::search_in_store(&self.direct, &spec)
            .unwrap()
            .iter()
            .filter(|entry| entry.get_password().is_ok())
            .count()
    }

    /// Removes whatever a test left under this service.
    fn clean(&self, names: &[&str]) {
        for name in names {
            let _ = self.entry(name).delete_credential();
        }
    }
}

#[test]
fn put_stores_the_secret_where_other_tools_find_it() {
    for fx in fixtures(SecretsConfig::DEFAULT_KEYRING_ENTRY) {
        let prod = project("p-1", "prod");
        fx.store
            .put(
                &record(&prod, "k-1", "ci"),
                &Secret::new("pcsk_first_secret"),
            )
            .unwrap();

        assert_eq!(fx.read("prod/ci").as_deref(), Some("pcsk_first_secret"));
        if fx.layout == KeyringLayout::Attributes {
            // The Secret Service holds the raw secret: `secret-tool lookup` prints it.
            assert_eq!(fx.raw("prod/ci").as_deref(), Some("pcsk_first_secret"));
        }
        let claims = fx.claims("prod/ci");
        assert_eq!(claims["keyplan_key_id"], "k-1");
        assert_eq!(claims["keyplan_project_id"], "p-1");
        assert_eq!(claims["keyplan_project_name"], "prod");
        assert_eq!(claims["keyplan_key_name"], "ci");
        assert_eq!(claims["keyplan_created_at"], "2026-11-27T01:02:03Z");
        if cfg!(target_os = "linux") && !fx.mock {
            assert_eq!(claims["service"], fx.service);
            assert_eq!(claims["username"], "prod/ci");
        }

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
        let shown = format!(
            "{:?} {}",
            fx.store.describe(),
            fx.store.location(&prod, "ci")
        );
        assert!(!shown.contains("pcsk"), "{shown}");
        assert!(shown.contains("\"prod/ci\""), "{shown}");
        fx.clean(&["prod/ci"]);
    }
}

/// Apply calls the store from many threads at once (one per change in flight): every secret
/// lands under its own entry, with its own key id.
#[test]
fn threads_putting_at_once_each_store_their_own_secret() {
    for fx in fixtures(SecretsConfig::DEFAULT_KEYRING_ENTRY) {
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
            assert_eq!(fx.claims(&entry)["keyplan_key_id"], format!("k-{i}"));
        }
        let entries: Vec<String> = names.iter().map(|n| format!("prod/{n}")).collect();
        fx.clean(&entries.iter().map(String::as_str).collect::<Vec<_>>());
    }
}

#[test]
fn a_replace_overwrites_the_entry_and_removing_the_old_key_keeps_it() {
    for fx in fixtures("{project}/{key}") {
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
}

#[test]
fn rename_moves_the_secret_to_the_new_entry() {
    for fx in fixtures("{project}/{key}") {
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
        let claims = fx.claims("prod/new-name");
        assert_eq!(claims["keyplan_key_id"], "k-1");
        assert_eq!(claims["keyplan_key_name"], "new-name");
        assert_eq!(claims["keyplan_created_at"], "2026-11-27T01:02:03Z");
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
}

/// A template without `{key}`'s changing part keeps the entry: only the record changes.
#[test]
fn a_rename_the_entry_name_does_not_see_updates_the_record_in_place() {
    for fx in fixtures("{project_id}/{key}") {
        let prod = project("p-1", "prod");
        let renamed_project = project("p-1", "production");
        let id = KeyId("k-1".into());
        fx.store
            .put(&record(&prod, "k-1", "ci"), &Secret::new("pcsk_kept"))
            .unwrap();
        assert!(fx.store.rename(&renamed_project, &id, "ci", "ci").unwrap());
        assert_eq!(fx.read("p-1/ci").as_deref(), Some("pcsk_kept"));
        assert_eq!(fx.claims("p-1/ci")["keyplan_project_name"], "production");
        assert_eq!(fx.claims("p-1/ci")["keyplan_key_id"], "k-1");
        fx.clean(&["p-1/ci"]);
    }
}

#[test]
fn rename_and_remove_never_touch_another_keys_secret() {
    for fx in fixtures("{project}/{key}") {
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
}

#[test]
fn projects_sharing_a_name_do_not_overwrite_each_other() {
    let first = project("p-1", "shared");
    let second = project("p-2", "shared");
    for fx in fixtures("{project}/{key}") {
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
    }
    // With the project id in the template they live side by side.
    for fx in fixtures("{project_id}/{key}") {
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
}

#[test]
fn an_entry_that_claims_no_key_is_not_held_and_can_be_overwritten() {
    for fx in fixtures("{project}/{key}") {
        let prod = project("p-1", "prod");
        // What a crash between writing the secret and recording the key id leaves behind (the
        // Secret Service), or a value some other program wrote (any keyring).
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
}

#[test]
fn probe_leaves_nothing_behind() {
    for fx in fixtures("{project}/{key}") {
        fx.store.probe().unwrap();
        fx.store.probe().unwrap();
        assert_eq!(fx.entries_left(), 0, "probe left entries behind");
    }
}

#[test]
fn the_default_config_names_service_keyplan() {
    // Pure naming, no keyring needed: what a user types into secret-tool or security.
    let store = secrets::open(&SecretsConfig::default_keyring()).unwrap();
    assert_eq!(
        store.describe(),
        "keyring (service \"keyplan\", entry \"{project}/{key}\")"
    );
    let direct = KeyringStore::new("keyplan".into(), "{project}/{key}".into()).unwrap();
    assert_eq!(direct.entry_name(&project("p", "prod"), "ci"), "prod/ci");
    assert_eq!(
        direct.location(&project("p", "prod"), "ci"),
        "keyring (service \"keyplan\", entry \"prod/ci\")"
    );
}
