//! Binding a declared key to at most one live key: by `id`, else by name, else by a previous
//! name; and the checks that make that binding unambiguous.

use std::collections::{BTreeMap, BTreeSet};

use crate::desired::DesiredKey;
use crate::model::{KeyId, LiveKey};
use crate::plan::{ClaimHow, MatchedBy, PlanError, is_in_flight_name};

use super::ProjectContext;

/// A declared key's live key, and how it was found.
pub(super) type Binding<'a> = Option<(&'a LiveKey, MatchedBy)>;

/// A live key under a declared key's name that an interrupted or concurrent apply left, and
/// that keyplan deletes because it does not hold its secret.
pub(super) struct Extra<'a> {
    pub key: &'a LiveKey,
    pub of: &'a DesiredKey,
    /// Created by an interrupted replace whose secret never reached the store (else: a
    /// duplicate settled by the store's record).
    pub orphan: bool,
}

/// Which declared keys claim each live key, and how.
pub(super) struct Claims<'a>(BTreeMap<&'a KeyId, Vec<(&'a str, ClaimHow)>>);

impl<'a> Claims<'a> {
    pub fn new() -> Self {
        Claims(BTreeMap::new())
    }

    pub fn add(&mut self, key: &'a LiveKey, declared: &'a str, how: ClaimHow) {
        self.0.entry(&key.id).or_default().push((declared, how));
    }

    pub fn contains(&self, id: &KeyId) -> bool {
        self.0.contains_key(id)
    }

    /// Live keys claimed more than once, with their claims.
    pub fn contested(&self) -> impl Iterator<Item = (&'a KeyId, &[(&'a str, ClaimHow)])> {
        self.0
            .iter()
            .filter(|(_, who)| who.len() > 1)
            .map(|(id, who)| (*id, who.as_slice()))
    }
}

impl<'a> ProjectContext<'a> {
    /// Names and previous names must be unique in a project and must not look retiring. The
    /// manifest's validation checks this too; the engine re-checks because matching relies
    /// on it.
    /// A name may repeat only where every key of that name is bound by `id` (as `import`
    /// writes duplicates that exist live): then no match goes by name.
    pub(super) fn check_names(&self, errors: &mut Vec<PlanError>) {
        let all_bound_by_id = |name: &String| {
            self.declared
                .keys
                .iter()
                .filter(|k| &k.name == name)
                .all(|k| k.id.is_some())
                && !self
                    .declared
                    .keys
                    .iter()
                    .any(|k| k.previous_names.contains(name))
        };
        let mut seen = BTreeSet::new();
        for declared in &self.declared.keys {
            for name in std::iter::once(&declared.name).chain(&declared.previous_names) {
                if is_in_flight_name(name) {
                    errors.push(PlanError::ReservedName {
                        project: self.project.clone(),
                        name: name.clone(),
                    });
                }
                let repeated = !seen.insert(name);
                // Asked only of a repeat: `all_bound_by_id` scans the project's keys.
                if repeated && (name != &declared.name || !all_bound_by_id(name)) {
                    errors.push(PlanError::DeclaredTwice {
                        project: self.project.clone(),
                        name: name.clone(),
                    });
                }
            }
        }
    }

    /// Finds a declared key's live key: by id, else by name, else by a previous name.
    ///
    /// `owned` are the retiring keys that belong to the declared key; `pending_held` says
    /// that the store holds the secret of the declared key's pending key. Live keys left over
    /// by an interrupted or concurrent apply go to `extras`, to be deleted.
    pub(super) fn bind(
        &self,
        declared: &'a DesiredKey,
        keys: &[&'a LiveKey],
        owned: &[&'a LiveKey],
        pending_held: bool,
        extras: &mut Vec<Extra<'a>>,
        errors: &mut Vec<PlanError>,
    ) -> Binding<'a> {
        if let Some(id) = &declared.id {
            let found = keys.iter().find(|k| &k.id == id).copied();
            if found.is_none() {
                errors.push(PlanError::KeyIdNotFound {
                    project: self.project.clone(),
                    key: declared.name.clone(),
                    id: id.clone(),
                    same_name: keys
                        .iter()
                        .filter(|k| k.name == declared.name)
                        .map(|k| k.id.clone())
                        .collect(),
                });
            }
            return found.map(|k| (k, MatchedBy::Id));
        }
        let by_name: Vec<&LiveKey> = keys
            .iter()
            .filter(|k| k.name == declared.name)
            .copied()
            .collect();
        let (candidates, by) = if by_name.is_empty() {
            let by_previous = keys
                .iter()
                .filter(|k| declared.previous_names.contains(&k.name))
                .copied()
                .collect();
            (by_previous, MatchedBy::PreviousName)
        } else {
            (by_name, MatchedBy::Name)
        };
        // The store's record of which key it holds the secret of settles what an interrupted
        // or concurrent apply left behind; every run reads the same record.
        let held = self.held_ids(declared);
        let holders: Vec<&LiveKey> = candidates
            .iter()
            .filter(|k| held.contains(&k.id))
            .copied()
            .collect();
        let all_extra = |orphan| {
            candidates.iter().map(move |key| Extra {
                key,
                of: declared,
                orphan,
            })
        };
        if by == MatchedBy::Name && holders.is_empty() && owned.iter().any(|k| held.contains(&k.id))
        {
            // The store still holds the retiring key's secret: the replace was interrupted
            // after creating the new key(s) but before storing a secret. Those keys' secrets
            // are lost; delete them and finish the replace from the retiring key.
            extras.extend(all_extra(true));
            return None;
        }
        if by == MatchedBy::Name && holders.is_empty() && pending_held {
            // The store holds the secret of the key a create left under its pending name: a
            // key under the declared name appeared since that create was planned (another
            // run's, whose secret the store no longer holds). The pending key is finished;
            // these are duplicates nobody holds the secret of.
            extras.extend(all_extra(false));
            return None;
        }
        match candidates.as_slice() {
            [] => None,
            [key] => Some((*key, by)),
            several => {
                if let [holder] = holders.as_slice() {
                    extras.extend(
                        several
                            .iter()
                            .filter(|k| k.id != holder.id)
                            .map(|key| Extra {
                                key,
                                of: declared,
                                orphan: false,
                            }),
                    );
                    Some((*holder, by))
                } else {
                    errors.push(PlanError::KeyAmbiguous {
                        project: self.project.clone(),
                        key: declared.name.clone(),
                        by,
                        candidates: several.iter().map(|k| k.id.clone()).collect(),
                    });
                    None
                }
            }
        }
    }

    /// The key ids the secret store holds secrets for under the declared key's name or one
    /// of its previous names.
    pub(super) fn held_ids(&self, declared: &DesiredKey) -> BTreeSet<&'a KeyId> {
        std::iter::once(&declared.name)
            .chain(&declared.previous_names)
            .filter_map(|name| {
                self.options
                    .held
                    .get(&(self.project.id.clone(), name.clone()))
            })
            .collect()
    }
}
