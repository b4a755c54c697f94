//! Finishing or removing what interrupted and concurrent applies left: keys under a pending
//! name (an interrupted create), keys under a retiring name (an interrupted replace), and
//! duplicates whose secret nobody holds.

use std::collections::{BTreeMap, BTreeSet};

use crate::desired::DesiredKey;
use crate::model::{KeyId, LiveKey};
use crate::plan::{Cause, CreateLeftover, PlanError, pending_name, retiring_name, retiring_stem};

use super::bind::Extra;
use super::diff::Overlap;
use super::{ProjectContext, ProjectOutcome};

/// A retiring key and the index of the declared key it belongs to (`None`: no declared key
/// has its name any more).
pub(super) type Retiring<'a> = (&'a LiveKey, Option<usize>);

/// The retiring keys whose interrupted replace belongs to declared key `index`.
pub(super) fn owned_by<'a>(retiring: &[Retiring<'a>], index: usize) -> Vec<&'a LiveKey> {
    retiring
        .iter()
        .filter(|(_, owner)| *owner == Some(index))
        .map(|(key, _)| *key)
        .collect()
}

impl<'a> ProjectContext<'a> {
    /// Deletes what interrupted or concurrent applies left under declared names.
    pub(super) fn delete_extras(&self, extras: &[Extra<'a>], out: &mut ProjectOutcome) {
        for extra in extras {
            let of = extra.of.name.clone();
            let cause = if extra.orphan {
                Cause::LostReplacement { of }
            } else {
                Cause::Duplicate { of }
            };
            out.changes.push(self.delete(extra.key, cause));
        }
    }

    /// Deletes the pending keys no create is finished from: their secret was never stored
    /// (the run was killed before), or the declared key already has a live key, or the
    /// manifest no longer declares the key.
    pub(super) fn pending_leftovers(
        &self,
        pending: &[&'a LiveKey],
        created: &BTreeMap<usize, &'a LiveKey>,
        out: &mut ProjectOutcome,
    ) {
        for key in pending {
            if created.values().any(|k| k.id == key.id) {
                continue;
            }
            let owners: Vec<&DesiredKey> = self
                .declared
                .keys
                .iter()
                .filter(|d| pending_name(&d.name) == key.name)
                .collect();
            let held = owners.iter().find(|d| {
                self.options
                    .held
                    .get(&(self.project.id.clone(), d.name.clone()))
                    == Some(&key.id)
            });
            let leftover = match (held, owners.first()) {
                (Some(owner), _) => {
                    let of = owner.name.clone();
                    match self.overdue(owner, key) {
                        Some(rotation) => CreateLeftover::Overdue { of, rotation },
                        None => CreateLeftover::AlreadyLive { of },
                    }
                }
                (None, Some(owner)) => CreateLeftover::NeverStored {
                    of: owner.name.clone(),
                },
                (None, None) => CreateLeftover::Undeclared,
            };
            out.changes
                .push(self.delete(key, Cause::CreateLeftover(leftover)));
        }
    }

    /// The pending key (left by an interrupted create) whose secret the store holds under
    /// the declared key's name, unless it is already older than the key's `rotate_after`
    /// (then a new key is made rather than one finished only to be replaced). Keys bound by
    /// `id` are never created, so have none.
    pub(super) fn held_pending(
        &self,
        declared: &DesiredKey,
        pending: &[&'a LiveKey],
    ) -> Option<&'a LiveKey> {
        if declared.id.is_some() {
            return None;
        }
        let held = self
            .options
            .held
            .get(&(self.project.id.clone(), declared.name.clone()))?;
        let name = pending_name(&declared.name);
        pending
            .iter()
            .find(|k| &k.id == held && k.name == name)
            .copied()
            .filter(|k| self.overdue(declared, k).is_none())
    }

    /// Keys left by an interrupted replace (a replace renames the old key to its retiring
    /// name before creating the new one), each with the index of the declared key it belongs
    /// to. Retiring keys a declared `id` binds are ordinary keys and left out. A retiring key
    /// whose (cut) name fits several declared keys is an error.
    pub(super) fn retiring_owners(
        &self,
        keys: &[&'a LiveKey],
        pinned: &BTreeSet<&KeyId>,
        errors: &mut Vec<PlanError>,
    ) -> Vec<Retiring<'a>> {
        let mut found = Vec::new();
        for key in keys {
            if retiring_stem(&key.name).is_none() || pinned.contains(&key.id) {
                continue;
            }
            // The retiring name comes from the declared name or, for a replace that also
            // renamed, from the previous name the key had.
            let owners: Vec<usize> = self
                .declared
                .keys
                .iter()
                .enumerate()
                .filter(|(_, d)| {
                    std::iter::once(&d.name)
                        .chain(&d.previous_names)
                        .any(|n| retiring_name(n) == key.name)
                })
                .map(|(i, _)| i)
                .collect();
            match owners.as_slice() {
                [] => found.push((*key, None)),
                [owner] => found.push((*key, Some(*owner))),
                several => errors.push(PlanError::RetiringAmbiguous {
                    project: self.project.clone(),
                    id: key.id.clone(),
                    name: key.name.clone(),
                    keys: several
                        .iter()
                        .map(|&i| self.declared.keys[i].name.clone())
                        .collect(),
                }),
            }
        }
        found
    }

    /// Plans the retiring keys. If the declared key has no live key of its own (`has_key`: a
    /// binding, or a pending key whose create is finished), its replace is finished: the
    /// retiring key whose secret the store holds, else the first by id, becomes its `before`.
    /// Every other retiring key is deleted. Returns the declared keys whose replace is being
    /// finished.
    pub(super) fn retiring(
        &self,
        retiring: &[Retiring<'a>],
        current: &[Option<&'a LiveKey>],
        out: &mut ProjectOutcome,
    ) -> BTreeMap<usize, &'a LiveKey> {
        let mut finishing: BTreeMap<usize, &'a LiveKey> = BTreeMap::new();
        for (index, declared) in self.declared.keys.iter().enumerate() {
            if current[index].is_some() {
                continue;
            }
            let owned = owned_by(retiring, index);
            let held = self.held_ids(declared);
            if let Some(first) = owned
                .iter()
                .find(|k| held.contains(&k.id))
                .or(owned.first())
            {
                finishing.insert(index, *first);
            }
        }
        for (key, owner) in retiring {
            let of = match owner {
                None => None,
                Some(index) if finishing.get(index).is_some_and(|k| k.id == key.id) => continue,
                Some(index) => {
                    // Kept for rotation_overlap beside the new key, or deleted once it passed.
                    let declared = &self.declared.keys[*index];
                    let overlap =
                        current[*index].and_then(|new| self.overlap(declared, new, key, out));
                    match overlap {
                        Some(Overlap::Kept) => continue,
                        Some(Overlap::Ended(cause)) => {
                            out.changes.push(self.delete(key, cause));
                            continue;
                        }
                        None => Some(declared.name.clone()),
                    }
                }
            };
            out.changes
                .push(self.delete(key, Cause::RetiringLeftover { of }));
        }
        finishing
    }
}
