//! Named destinations: `[stores.NAME]` tables, and `secrets = ["NAME", ...]` on a project or a
//! key choosing where its secrets go instead of the default `[secrets]` store.
//!
//! [`Destinations`] is itself a [`SecretStore`], so apply and plan go on talking to one store:
//! every call is routed by (project, key name) to that key's destinations. A put reaches every
//! one before it returns, and a failure in any removes the secret from those that already have
//! it, so the caller's "the store refused it: delete the new key" stays true for all of them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use super::{Lifecycle, SecretRecord, SecretStore, StoreError, open};
use crate::desired::{ProjectSelector, Routing, SecretRoute, SecretsConfig};
use crate::model::{KeyId, Project, Secret};

/// The default store and the named ones, and which keys go where.
#[derive(Clone)]
pub struct Destinations {
    default: Arc<dyn SecretStore>,
    named: BTreeMap<String, Arc<dyn SecretStore>>,
    routes: Vec<SecretRoute>,
    /// Whether any key may use the default store: if not, it is neither probed nor named.
    default_used: bool,
}

impl std::fmt::Debug for Destinations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Destinations")
            .field("default", &self.default.describe())
            .field("named", &self.named.keys().collect::<Vec<_>>())
            .field("routes", &self.routes)
            .field("default_used", &self.default_used)
            .finish()
    }
}

/// Opens the default store (`default`: `[secrets]` or the command line's override) and, when
/// the manifest names stores, every one of them behind a [`Destinations`].
pub fn open_destinations(
    routing: &Routing,
    default: &SecretsConfig,
) -> Result<Box<dyn SecretStore>, StoreError> {
    let default = open(default)?;
    if routing.stores.is_empty() {
        return Ok(default);
    }
    let mut named = BTreeMap::new();
    for (name, config) in &routing.stores {
        let store = open(config).map_err(|e| StoreError {
            message: format!("store {name:?}: {}", e.message),
            hint: e.hint,
        })?;
        named.insert(name.clone(), Arc::from(store));
    }
    Ok(Box::new(Destinations {
        default: Arc::from(default),
        named,
        routes: routing.routes.clone(),
        default_used: routing.default_used,
    }))
}

/// One destination: its name (`None`: the default store) and the store.
type Destination<'a> = (Option<&'a str>, &'a Arc<dyn SecretStore>);

impl Destinations {
    /// A key's destinations: its own route, else its project's, else the default store.
    fn of(&self, project: &Project, key_name: &str) -> Vec<Destination<'_>> {
        let matches = |route: &&SecretRoute| match &route.project {
            ProjectSelector::Name(name) => *name == project.name,
            ProjectSelector::Id(id) => *id == project.id,
        };
        let route = self
            .routes
            .iter()
            .filter(matches)
            .find(|r| r.key.as_deref() == Some(key_name))
            .or_else(|| self.routes.iter().filter(matches).find(|r| r.key.is_none()));
        match route {
            Some(route) => route
                .stores
                .iter()
                .filter_map(|name| {
                    self.named
                        .get_key_value(name)
                        .map(|(name, store)| (Some(name.as_str()), store))
                })
                .collect(),
            None => vec![(None, &self.default)],
        }
    }

    /// Every store in use.
    fn every(&self) -> impl Iterator<Item = Destination<'_>> {
        std::iter::once((None, &self.default))
            .filter(|_| self.default_used)
            .chain(self.named.iter().map(|(n, s)| (Some(n.as_str()), s)))
    }
}

/// A destination as messages name it: `store "gh" (command `gh secret set ...`)`.
fn label((name, store): Destination<'_>) -> String {
    match name {
        Some(name) => format!("store {name:?} ({})", store.describe()),
        None => store.describe(),
    }
}

/// `error`, said of `destination` by name only: every message about the stores already
/// describes them all (`describe`), and a command's own error quotes the command again.
fn at((name, _): Destination<'_>, error: StoreError) -> StoreError {
    let message = match name {
        Some(name) => format!("store {name:?}: {}", error.message),
        None => error.message,
    };
    StoreError {
        message,
        hint: error.hint,
    }
}

/// Runs a removal in every destination, each tried even after one fails: whether any removed
/// something, or the first failure (named by its store).
fn remove_from_each(
    destinations: Vec<Destination<'_>>,
    remove: impl Fn(&dyn SecretStore) -> Result<bool, StoreError>,
) -> Result<bool, StoreError> {
    let mut removed = false;
    let mut failed = None;
    for destination in destinations {
        match remove(&**destination.1) {
            Ok(done) => removed |= done,
            Err(error) => failed = failed.or(Some(at(destination, error))),
        }
    }
    failed.map_or(Ok(removed), Err)
}

impl SecretStore for Destinations {
    fn describe(&self) -> String {
        self.every().map(label).collect::<Vec<_>>().join(", ")
    }

    fn location(&self, project: &Project, key_name: &str) -> String {
        self.of(project, key_name)
            .into_iter()
            .map(|(name, store)| {
                let place = store.location(project, key_name);
                match name {
                    Some(name) => format!("store {name:?} ({place})"),
                    None => place,
                }
            })
            .collect::<Vec<_>>()
            .join(" and ")
    }

    /// Probes every store in use: the default one too when a key may use it (see
    /// `Routing::default_used`).
    fn probe(&self) -> Result<(), StoreError> {
        for destination in self.every() {
            destination.1.probe().map_err(|e| at(destination, e))?;
        }
        Ok(())
    }

    fn put(&self, record: &SecretRecord, secret: &Secret) -> Result<(), StoreError> {
        let destinations = self.of(&record.project, &record.key_name);
        for (done, destination) in destinations.iter().enumerate() {
            let Err(error) = destination.1.put(record, secret) else {
                continue;
            };
            let mut error = at(*destination, error);
            // Take it back from those that have it: the caller deletes the key.
            let mut left = Vec::new();
            for earlier in &destinations[..done] {
                let removed = earlier
                    .1
                    .remove(&record.project, &record.key_id, &record.key_name);
                if !matches!(removed, Ok(true)) {
                    left.push(label(*earlier));
                }
            }
            if !left.is_empty() {
                let _ = write!(
                    error.message,
                    "; the secret could not be taken back from {}: remove it there by hand",
                    left.join(", ")
                );
            }
            return Err(error);
        }
        Ok(())
    }

    fn rename(
        &self,
        project: &Project,
        key_id: &KeyId,
        from: &str,
        to: &str,
    ) -> Result<bool, StoreError> {
        let destinations = self.of(project, to);
        let mut moved = Vec::new();
        for destination in &destinations {
            match destination.1.rename(project, key_id, from, to) {
                Ok(true) => moved.push(*destination),
                Ok(false) => {}
                Err(error) => {
                    // Move back what moved, so the secret is under `from` everywhere again,
                    // as the caller then says.
                    let mut error = at(*destination, error);
                    let stuck: Vec<String> = moved
                        .iter()
                        .filter(|d| !matches!(d.1.rename(project, key_id, to, from), Ok(true)))
                        .map(|d| label(*d))
                        .collect();
                    if !stuck.is_empty() {
                        let _ = write!(
                            error.message,
                            "; the secret stays under the new name in {}: move it back by hand",
                            stuck.join(", ")
                        );
                    }
                    return Err(error);
                }
            }
        }
        Ok(!moved.is_empty())
    }

    fn remove(
        &self,
        project: &Project,
        key_id: &KeyId,
        key_name: &str,
    ) -> Result<bool, StoreError> {
        remove_from_each(self.of(project, key_name), |store| {
            store.remove(project, key_id, key_name)
        })
    }

    fn remove_left(
        &self,
        project: &Project,
        key_id: &KeyId,
        names: &[String],
        stored_under: &str,
        successor: Option<&str>,
    ) -> Result<bool, StoreError> {
        remove_from_each(self.of(project, stored_under), |store| {
            store.remove_left(project, key_id, names, stored_under, successor)
        })
    }

    /// The id every destination that can read back agrees on; `None` when one holds nothing
    /// or another key's secret there (the caller then writes again, to all of them).
    fn held_key_id(&self, project: &Project, key_name: &str) -> Result<Option<KeyId>, StoreError> {
        let mut agreed = None;
        for destination in self.of(project, key_name) {
            if !destination.1.can_read_back() {
                continue;
            }
            let held = destination
                .1
                .held_key_id(project, key_name)
                .map_err(|e| at(destination, e))?;
            match (&agreed, held) {
                (_, None) => return Ok(None),
                (None, Some(id)) => agreed = Some(id),
                (Some(seen), Some(id)) if *seen != id => return Ok(None),
                _ => {}
            }
        }
        Ok(agreed)
    }

    fn get(&self, project: &Project, key_name: &str) -> Result<Option<Secret>, StoreError> {
        for destination in self.of(project, key_name) {
            let found = destination
                .1
                .get(project, key_name)
                .map_err(|e| at(destination, e))?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    fn can_read_back(&self) -> bool {
        self.every().all(|(_, store)| store.can_read_back())
    }

    fn known_projects(&self) -> Result<Option<Vec<Project>>, StoreError> {
        let mut known = Vec::new();
        for (_, store) in self.every() {
            match store.known_projects()? {
                Some(projects) => known.extend(projects),
                None => return Ok(None),
            }
        }
        Ok(Some(known))
    }

    fn cannot_follow(&self, project: &Project, key_name: &str, step: Lifecycle) -> Vec<String> {
        self.of(project, key_name)
            .into_iter()
            .filter(|(_, store)| !store.cannot_follow(project, key_name, step).is_empty())
            .map(label)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Mutex;

    use super::*;
    use crate::model::ProjectId;

    /// An in-memory store that can be told to refuse puts or removals.
    #[derive(Default)]
    struct Memory {
        held: Mutex<BTreeSet<String>>,
        refuses_puts: bool,
        refuses_removals: bool,
    }

    impl SecretStore for Memory {
        fn describe(&self) -> String {
            "memory".into()
        }
        fn probe(&self) -> Result<(), StoreError> {
            Ok(())
        }
        fn put(&self, record: &SecretRecord, _: &Secret) -> Result<(), StoreError> {
            if self.refuses_puts {
                return Err(StoreError::new("refused"));
            }
            crate::lock::lock(&self.held).insert(record.key_name.clone());
            Ok(())
        }
        fn rename(&self, _: &Project, _: &KeyId, from: &str, to: &str) -> Result<bool, StoreError> {
            if self.refuses_puts {
                return Err(StoreError::new("refused"));
            }
            let mut held = crate::lock::lock(&self.held);
            let moved = held.remove(from);
            if moved {
                held.insert(to.to_owned());
            }
            Ok(moved)
        }
        fn remove(&self, _: &Project, _: &KeyId, name: &str) -> Result<bool, StoreError> {
            if self.refuses_removals {
                return Ok(false);
            }
            Ok(crate::lock::lock(&self.held).remove(name))
        }
        fn held_key_id(&self, _: &Project, _: &str) -> Result<Option<KeyId>, StoreError> {
            Ok(None)
        }
        fn get(&self, _: &Project, _: &str) -> Result<Option<Secret>, StoreError> {
            Ok(None)
        }
    }

    fn holds(store: &Arc<Memory>) -> Vec<String> {
        crate::lock::lock(&store.held).iter().cloned().collect()
    }

    fn destinations(stores: [(&str, Arc<Memory>); 3], default: Arc<Memory>) -> Destinations {
        let route = |key: Option<&str>, stores: &[&str]| SecretRoute {
            project: ProjectSelector::Name("prod".into()),
            key: key.map(str::to_owned),
            stores: stores.iter().map(|s| (*s).to_owned()).collect(),
        };
        Destinations {
            default,
            named: stores
                .into_iter()
                .map(|(name, store)| (name.to_owned(), store as Arc<dyn SecretStore>))
                .collect(),
            routes: vec![route(Some("both"), &["a", "b"]), route(None, &["c"])],
            default_used: true,
        }
    }

    fn record(project: &str, key: &str) -> SecretRecord {
        SecretRecord {
            project: Project {
                id: ProjectId("p-1".into()),
                name: project.into(),
            },
            key_id: KeyId("k-1".into()),
            key_name: key.into(),
            created_at: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_key_route_wins_over_its_projects_and_either_over_the_default() {
        let (a, b, c, default) = (
            Arc::new(Memory::default()),
            Arc::new(Memory::default()),
            Arc::new(Memory::default()),
            Arc::new(Memory::default()),
        );
        let routed = destinations(
            [("a", a.clone()), ("b", b.clone()), ("c", c.clone())],
            default.clone(),
        );
        let secret = Secret::new("pcsk_x");
        for (project, key) in [("prod", "both"), ("prod", "other"), ("dev", "both")] {
            assert!(routed.put(&record(project, key), &secret).is_ok());
        }
        assert_eq!(holds(&a), ["both"]);
        assert_eq!(holds(&b), ["both"]);
        assert_eq!(holds(&c), ["other"]);
        assert_eq!(holds(&default), ["both"]);
    }

    #[test]
    fn a_refused_put_is_taken_back_or_named_for_removal_by_hand() {
        let a = Arc::new(Memory::default());
        let b = Arc::new(Memory {
            refuses_puts: true,
            ..Memory::default()
        });
        let routed = destinations(
            [("a", a.clone()), ("b", b), ("c", Arc::default())],
            Arc::default(),
        );
        let error = routed.put(&record("prod", "both"), &Secret::new("pcsk_x"));
        let error = error.err().map(|e| e.message).unwrap_or_default();
        assert!(error.starts_with("store \"b\": refused"), "{error}");
        assert!(holds(&a).is_empty(), "not taken back from a");

        let stuck = Arc::new(Memory {
            refuses_removals: true,
            ..Memory::default()
        });
        let b = Arc::new(Memory {
            refuses_puts: true,
            ..Memory::default()
        });
        let routed = destinations(
            [("a", stuck), ("b", b), ("c", Arc::default())],
            Arc::default(),
        );
        let error = routed.put(&record("prod", "both"), &Secret::new("pcsk_x"));
        let error = error.err().map(|e| e.message).unwrap_or_default();
        assert!(
            error.ends_with(
                "could not be taken back from store \"a\" (memory): remove it there by hand"
            ),
            "{error}"
        );
    }

    #[test]
    fn a_refused_rename_moves_the_others_back() {
        let a = Arc::new(Memory::default());
        crate::lock::lock(&a.held).insert("old".to_owned());
        let b = Arc::new(Memory {
            refuses_puts: true,
            ..Memory::default()
        });
        let mut routed = destinations(
            [("a", a.clone()), ("b", b), ("c", Arc::default())],
            Arc::default(),
        );
        routed.routes[0].key = Some("new".into());
        let project = record("prod", "new").project;
        let moved = routed.rename(&project, &KeyId("k-1".into()), "old", "new");
        assert!(moved.is_err());
        assert_eq!(holds(&a), ["old"]);
    }
}
