//! The random scenarios: from a seed, the keys keyplan creates first, the foreign keys seeded
//! beside them, the target manifest with its creates, renames, role updates, replaces and
//! deletes ([`Mix`] counts them), and the manifest text for a list of projects.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::model::Role;
use rand::rngs::StdRng;
use rand::seq::SliceRandom as _;
use rand::{Rng, SeedableRng};

use super::SECRETS;

/// One declared key.
#[derive(Debug, Clone)]
pub struct KeySpec {
    pub name: String,
    pub roles: BTreeSet<Role>,
    pub previous_names: Vec<String>,
    pub replace_on_role_change: bool,
}

/// One declared project.
#[derive(Debug, Clone)]
pub struct ProjectSpec {
    pub name: String,
    pub unmanaged_delete: bool,
    pub keys: Vec<KeySpec>,
}

/// Renders a manifest with the file store.
pub fn manifest(projects: &[ProjectSpec]) -> String {
    let mut out = format!("[secrets]\nstore = \"file\"\npath = \"{SECRETS}\"\n");
    for project in projects {
        let _ = write!(out, "\n[[project]]\nname = \"{}\"\n", project.name);
        if project.unmanaged_delete {
            out.push_str("unmanaged = \"delete\"\n");
        }
        for key in &project.keys {
            let roles: Vec<String> = key
                .roles
                .iter()
                .map(|r| format!("\"{}\"", r.as_str()))
                .collect();
            let _ = write!(
                out,
                "\n  [[project.key]]\n  name = \"{}\"\n  roles = [{}]\n",
                key.name,
                roles.join(", ")
            );
            if !key.previous_names.is_empty() {
                let names: Vec<String> = key
                    .previous_names
                    .iter()
                    .map(|n| format!("\"{n}\""))
                    .collect();
                let _ = writeln!(out, "  previous_names = [{}]", names.join(", "));
            }
            if key.replace_on_role_change {
                out.push_str("  role_change = \"replace\"\n");
            }
        }
    }
    out
}

fn random_roles(rng: &mut StdRng) -> BTreeSet<Role> {
    let mut all = Role::ALL.to_vec();
    all.shuffle(rng);
    let n = rng.random_range(1..=3);
    all.into_iter().take(n).collect()
}

fn other_roles(rng: &mut StdRng, not: &BTreeSet<Role>) -> BTreeSet<Role> {
    loop {
        let roles = random_roles(rng);
        if roles != *not {
            return roles;
        }
    }
}

/// What the generator asked for, to report the mix.
#[derive(Debug, Default, Clone, Copy)]
pub struct Mix {
    pub creates: usize,
    pub renames: usize,
    pub role_updates: usize,
    pub replaces: usize,
    pub deletes: usize,
}

impl Mix {
    pub(super) fn add(&mut self, other: Mix) {
        self.creates += other.creates;
        self.renames += other.renames;
        self.role_updates += other.role_updates;
        self.replaces += other.replaces;
        self.deletes += other.deletes;
    }
}

/// A generated scenario: the keys keyplan creates first (fault-free), the foreign keys seeded
/// beside them, and the manifest the faulty runs must reach.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub seed: u64,
    /// Phase 0: the manifest keyplan applies without faults (creates the "own" keys).
    pub base: Vec<ProjectSpec>,
    /// Keys seeded straight into the emulator (someone else's): (project index, name, roles).
    pub foreign: Vec<(usize, String, BTreeSet<Role>)>,
    /// Phase 1: the target manifest.
    pub target: Vec<ProjectSpec>,
    /// `--replace PROJECT/KEY` rotations (project index, key name).
    pub rotate: Vec<(usize, String)>,
    pub mix: Mix,
}

impl Scenario {
    /// Creates, renames (`previous_names`), role updates, replaces (`role_change = "replace"`
    /// and `--replace`) and deletes (`unmanaged = "delete"`) over 2 to 4 projects.
    #[expect(
        clippy::too_many_lines,
        reason = "the whole menu of operations reads best in one place"
    )]
    pub fn generate(seed: u64) -> Scenario {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut mix = Mix::default();
        let (mut base, mut target, mut foreign, mut rotate) = (vec![], vec![], vec![], vec![]);
        for p in 0..rng.random_range(2..=4) {
            let name = format!("proj-{p}");
            let delete = rng.random_bool(0.7);
            let mut base_keys = Vec::new();
            let mut target_keys = Vec::new();
            for k in 0..rng.random_range(2..=5) {
                let key = KeySpec {
                    name: format!("k{k}"),
                    roles: random_roles(&mut rng),
                    previous_names: vec![],
                    replace_on_role_change: false,
                };
                base_keys.push(key.clone());
                match rng.random_range(0..11) {
                    0 | 1 => target_keys.push(key),
                    2 | 3 => {
                        mix.renames += 1;
                        target_keys.push(KeySpec {
                            name: format!("k{k}-renamed"),
                            previous_names: vec![key.name.clone()],
                            ..key
                        });
                    }
                    4 | 5 => {
                        mix.role_updates += 1;
                        let roles = other_roles(&mut rng, &key.roles);
                        target_keys.push(KeySpec { roles, ..key });
                    }
                    6 => {
                        mix.replaces += 1;
                        let roles = other_roles(&mut rng, &key.roles);
                        target_keys.push(KeySpec {
                            roles,
                            replace_on_role_change: true,
                            ..key
                        });
                    }
                    7 => {
                        mix.replaces += 1;
                        rotate.push((p, key.name.clone()));
                        target_keys.push(key);
                    }
                    8 => {
                        mix.renames += 1;
                        mix.role_updates += 1;
                        let roles = other_roles(&mut rng, &key.roles);
                        target_keys.push(KeySpec {
                            name: format!("k{k}-moved"),
                            previous_names: vec![key.name.clone()],
                            roles,
                            ..key
                        });
                    }
                    _ => {
                        // Dropped from the manifest: deleted, or kept as unmanaged.
                        if delete {
                            mix.deletes += 1;
                        }
                    }
                }
            }
            for f in 0..rng.random_range(0..=2) {
                let fname = format!("foreign-{f}");
                let roles = random_roles(&mut rng);
                if rng.random_bool(0.25) {
                    // Adopted: declared, with other roles (an update of a key without a secret).
                    mix.role_updates += 1;
                    target_keys.push(KeySpec {
                        name: fname.clone(),
                        roles: other_roles(&mut rng, &roles),
                        previous_names: vec![],
                        replace_on_role_change: false,
                    });
                } else if delete {
                    mix.deletes += 1;
                }
                foreign.push((p, fname, roles));
            }
            for n in 0..rng.random_range(1..=3) {
                mix.creates += 1;
                target_keys.push(KeySpec {
                    name: format!("new-{n}"),
                    roles: random_roles(&mut rng),
                    previous_names: vec![],
                    replace_on_role_change: false,
                });
            }
            base.push(ProjectSpec {
                name: name.clone(),
                unmanaged_delete: false,
                keys: base_keys,
            });
            target.push(ProjectSpec {
                name,
                unmanaged_delete: delete,
                keys: target_keys,
            });
        }
        Scenario {
            seed,
            base,
            foreign,
            target,
            rotate,
            mix,
        }
    }
}
