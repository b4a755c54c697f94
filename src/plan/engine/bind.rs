//! Binding a declared key to at most one live key: by `id`, else by name, else by a previous
//! name; and the checks that make that binding unambiguous.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::collections::hash_map::Entry;

// Fx hashing: these maps are keyed by key ids and names of one project, rebuilt per plan; the
// default SipHash was an eighth of a 30,000-key plan's CPU.
use rustc_hash::{FxBuildHasher, FxHashMap as HashMap, FxHashSet as HashSet};

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

/// A project's live keys by id and by name, built once so that binding every declared key
/// costs a lookup each, not a scan of the project (which made planning a 30,000-key project
/// quadratic). Each name's keys keep the order of the slice they came from, grouped in one
/// vector (`grouped[start..end]` per name) rather than one small vector per name.
pub(super) struct LiveIndex<'a> {
    by_id: HashMap<&'a KeyId, &'a LiveKey>,
    by_name: HashMap<&'a str, (usize, usize)>,
    grouped: Vec<&'a LiveKey>,
}

impl<'a> LiveIndex<'a> {
    pub fn new(keys: &[&'a LiveKey]) -> Self {
        let mut by_id = HashMap::with_capacity_and_hasher(keys.len(), FxBuildHasher);
        // First the number of keys of each name, then each name's range, then the keys.
        let mut by_name: HashMap<&str, (usize, usize)> =
            HashMap::with_capacity_and_hasher(keys.len(), FxBuildHasher);
        for key in keys {
            by_id.entry(&key.id).or_insert(*key);
            by_name.entry(key.name.as_str()).or_default().1 += 1;
        }
        let mut next = 0;
        for range in by_name.values_mut() {
            let count = range.1;
            *range = (next, next);
            next += count;
        }
        // Every slot is overwritten: the ranges cover the keys exactly.
        let mut grouped = keys.to_vec();
        for key in keys {
            if let Some(range) = by_name.get_mut(key.name.as_str()) {
                grouped[range.1] = *key;
                range.1 += 1;
            }
        }
        LiveIndex {
            by_id,
            by_name,
            grouped,
        }
    }

    fn by_id(&self, id: &KeyId) -> Option<&'a LiveKey> {
        self.by_id.get(id).copied()
    }

    fn named(&self, name: &str) -> &[&'a LiveKey] {
        self.by_name
            .get(name)
            .and_then(|&(start, end)| self.grouped.get(start..end))
            .unwrap_or(&[])
    }
}

/// Which declared keys claim each live key, and how. A hash map, and the first claim kept
/// inline: every bound key has one, so a project of 30,000 keys makes 30,000 entries and no
/// other allocation.
pub(super) struct Claims<'a>(HashMap<&'a KeyId, (Claimant<'a>, Vec<Claimant<'a>>)>);

type Claimant<'a> = (&'a str, ClaimHow);

impl<'a> Claims<'a> {
    /// Room for `keys` claims: one per bound key, most of a project's keys.
    pub fn new(keys: usize) -> Self {
        Claims(HashMap::with_capacity_and_hasher(keys, FxBuildHasher))
    }

    pub fn add(&mut self, key: &'a LiveKey, declared: &'a str, how: ClaimHow) {
        match self.0.entry(&key.id) {
            Entry::Occupied(mut more) => more.get_mut().1.push((declared, how)),
            Entry::Vacant(first) => {
                first.insert(((declared, how), Vec::new()));
            }
        }
    }

    pub fn contains(&self, id: &KeyId) -> bool {
        self.0.contains_key(id)
    }

    /// Live keys claimed more than once, with their claims, by key id.
    pub fn contested(&self) -> Vec<(&'a KeyId, Vec<Claimant<'a>>)> {
        let mut contested: Vec<_> = self
            .0
            .iter()
            .filter(|(_, (_, more))| !more.is_empty())
            .map(|(id, (first, more))| {
                (
                    *id,
                    std::iter::once(*first)
                        .chain(more.iter().copied())
                        .collect(),
                )
            })
            .collect();
        contested.sort_by(|a: &(&KeyId, Vec<Claimant>), b| a.0.cmp(b.0));
        contested
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
        let mut seen = HashSet::with_capacity_and_hasher(self.declared.keys.len(), FxBuildHasher);
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
        live: &LiveIndex<'a>,
        owned: &[&'a LiveKey],
        pending_held: bool,
        extras: &mut Vec<Extra<'a>>,
        errors: &mut Vec<PlanError>,
    ) -> Binding<'a> {
        if let Some(id) = &declared.id {
            let found = live.by_id(id);
            if found.is_none() {
                errors.push(PlanError::KeyIdNotFound {
                    project: self.project.clone(),
                    key: declared.name.clone(),
                    id: id.clone(),
                    same_name: live
                        .named(&declared.name)
                        .iter()
                        .map(|k| k.id.clone())
                        .collect(),
                });
            }
            return found.map(|k| (k, MatchedBy::Id));
        }
        let by_name = live.named(&declared.name);
        let (candidates, by) = if by_name.is_empty() {
            // Every key under any previous name, in the project's order (by id).
            let mut by_previous: Vec<&LiveKey> = declared
                .previous_names
                .iter()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .flat_map(|name| live.named(name).iter().copied())
                .collect();
            by_previous.sort_by(|a, b| (&a.id, &a.name).cmp(&(&b.id, &b.name)));
            (Cow::Owned(by_previous), MatchedBy::PreviousName)
        } else {
            (Cow::Borrowed(by_name), MatchedBy::Name)
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
        match &*candidates {
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
            .filter_map(|name| self.held.get(name.as_str()).copied())
            .collect()
    }
}
