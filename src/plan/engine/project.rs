//! Planning one project, step by step: check the declared names, find what interrupted
//! applies left, bind every declared key, refuse double claims, then emit the changes.

use std::collections::{BTreeMap, BTreeSet};

use crate::desired::UnmanagedPolicy;
use crate::model::{KeyId, LiveKey};
use crate::plan::{Cause, KeyBefore, PlanError, UnmanagedKey, pending_stem, retiring_stem};

use super::bind::{Binding, Claims, Extra, LiveIndex};
use super::diff::Found;
use super::recovery::owned_by;
use super::{ProjectContext, ProjectOutcome};
use crate::plan::{Claim, ClaimHow};

impl<'a> ProjectContext<'a> {
    /// Plans one project into `out`, or adds to `errors`. Returns how many live keys the
    /// guard counts (all but the ignored ones).
    pub(super) fn plan(
        &self,
        live_keys: &'a [LiveKey],
        out: &mut ProjectOutcome,
        errors: &mut Vec<PlanError>,
    ) -> usize {
        let errors_before = errors.len();
        // Sorted by id so every tie (several retiring keys, duplicates) falls the same way in
        // every run, whatever order the API listed them in.
        let mut keys: Vec<&'a LiveKey> = live_keys.iter().collect();
        keys.sort_unstable_by(|a, b| (&a.id, &a.name).cmp(&(&b.id, &b.name)));

        self.check_names(errors);
        if errors.len() > errors_before {
            return 0;
        }

        // Retiring keys and the declared keys they belong to, worked out before binding: the
        // store's record of a retiring key tells a half-made replacement from a real key.
        let pinned: BTreeSet<&KeyId> = self
            .declared
            .keys
            .iter()
            .filter_map(|d| d.id.as_ref())
            .collect();
        let retiring = self.retiring_owners(&keys, &pinned, errors);
        // Keys left by an interrupted create, and for each declared key the one whose secret
        // the store holds under its name (the create got as far as storing it).
        let pending: Vec<&'a LiveKey> = keys
            .iter()
            .filter(|k| pending_stem(&k.name).is_some() && !pinned.contains(&k.id))
            .copied()
            .collect();
        let held_pending: Vec<Option<&'a LiveKey>> = self
            .declared
            .keys
            .iter()
            .map(|declared| self.held_pending(declared, &pending))
            .collect();

        let live = LiveIndex::new(&keys);
        let mut claims = Claims::new(keys.len());
        let mut extras: Vec<Extra<'a>> = Vec::new();
        let mut bindings: Vec<Binding<'a>> = Vec::new();
        for (index, declared) in self.declared.keys.iter().enumerate() {
            let owned = owned_by(&retiring, index);
            let binding = self.bind(
                declared,
                &live,
                &owned,
                held_pending[index].is_some(),
                &mut extras,
                errors,
            );
            if let Some((key, by)) = binding {
                claims.add(key, &declared.name, ClaimHow::Bound(by));
            }
            bindings.push(binding);
        }
        // A declared key with no live key of its own whose pending key's secret is stored:
        // the create is finished by renaming that key.
        let mut created: BTreeMap<usize, &'a LiveKey> = BTreeMap::new();
        for (index, declared) in self.declared.keys.iter().enumerate() {
            if let Some(key) = held_pending[index]
                && bindings[index].is_none()
            {
                created.insert(index, key);
                claims.add(key, &declared.name, ClaimHow::FinishingCreate);
            }
        }
        for extra in &extras {
            claims.add(extra.key, &extra.of.name, ClaimHow::Duplicate);
        }
        for (id, who) in claims.contested() {
            errors.push(PlanError::KeyClaimedTwice {
                project: self.project.clone(),
                id: id.clone(),
                claims: who
                    .iter()
                    .map(|(key, how)| Claim {
                        key: (*key).to_owned(),
                        how: *how,
                    })
                    .collect(),
            });
        }
        if errors.len() > errors_before {
            return 0;
        }

        self.delete_extras(&extras, out);
        self.pending_leftovers(&pending, &created, out);

        // Each declared key's own live key: its binding, or the pending key being finished.
        let current: Vec<Option<&'a LiveKey>> = (0..bindings.len())
            .map(|i| bindings[i].map(|(key, _)| key).or(created.get(&i).copied()))
            .collect();
        let finishing = self.retiring(&retiring, &current, out);
        for (index, declared) in self.declared.keys.iter().enumerate() {
            let found = Found {
                binding: bindings[index],
                retiring: finishing.get(&index).copied(),
                created: created.get(&index).copied(),
            };
            self.diff(declared, found, out, errors);
        }

        self.undeclared(&keys, &claims, &pinned, out)
    }

    /// Lists or deletes the live keys no declared key claims (by the project's `unmanaged`
    /// policy), except ignored ones and leftovers. Returns how many live keys the guard counts.
    fn undeclared(
        &self,
        keys: &[&'a LiveKey],
        claims: &Claims<'a>,
        pinned: &BTreeSet<&KeyId>,
        out: &mut ProjectOutcome,
    ) -> usize {
        let mut looked_at = 0;
        for key in keys {
            // Pending keys were handled above: never unmanaged, never ignored, and not live
            // keys for the guard (nobody has ever used one).
            if pending_stem(&key.name).is_some() && !pinned.contains(&key.id) {
                continue;
            }
            let claimed = claims.contains(&key.id);
            let retiring = retiring_stem(&key.name).is_some();
            let ignored = self.declared.ignore.iter().any(|g| g.is_match(&key.name));
            if claimed || retiring || !ignored {
                looked_at += 1;
            }
            // Retiring keys were handled above: they are never unmanaged, never ignored.
            if claimed || retiring || ignored {
                continue;
            }
            match self.declared.unmanaged {
                UnmanagedPolicy::Keep => out.unmanaged.push(UnmanagedKey {
                    project: self.project.clone(),
                    key: KeyBefore::from(*key),
                }),
                UnmanagedPolicy::Delete => out.changes.push(self.delete(key, Cause::Unmanaged)),
            }
        }
        looked_at
    }
}
