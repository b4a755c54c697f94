//! The emulated organisation on disk and at start: the optional JSON state file that keeps
//! projects and keys between runs (secrets only as SHA-256 hashes), and the seed that fills an
//! organisation that has no state file yet.
//!
//! A seed applies only when the state file is created, so the file records a fingerprint of
//! the seed it started from: a later start with a different seed (or with one, when the file
//! started without) is refused, rather than silently running on state the user did not ask for.
//!
//! A child of [`super`] so that it can build and read a [`Store`]'s private records while the
//! in-memory rules stay in one place.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{KeyRec, ORGANIZATION_ID, ProjectRec, Store};
use crate::emulator::config::Seed;
use crate::model::{Role, RoleSet};

/// The version of the state file format this code writes and reads.
const STATE_VERSION: u32 = 1;

/// The file format: projects with their keys nested, secrets as hashes.
#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    organization_id: String,
    /// SHA-256 of the seed the file started from (its JSON form); absent when it had none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seed_sha256: Option<String>,
    projects: Vec<StoredProject>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredProject {
    id: String,
    name: String,
    created_at: Timestamp,
    keys: Vec<StoredKey>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredKey {
    id: String,
    name: String,
    roles: Vec<Role>,
    created_at: Timestamp,
    secret_sha256: String,
}

impl Store {
    /// Loads the state file if it exists; otherwise starts empty, applies the seed and writes
    /// the state file (when there is one) so the next run finds it.
    pub fn open(
        state_file: Option<PathBuf>,
        seed: Option<&Seed>,
        key_quota: Option<usize>,
        starter_plan: bool,
    ) -> std::io::Result<Store> {
        let mut store = Store {
            projects: Vec::new(),
            keys: HashMap::new(),
            last_created: Timestamp::UNIX_EPOCH,
            issued: Vec::new(),
            state_file,
            key_quota,
            starter_plan,
            delete_missing_500: false,
            extra_roles: std::collections::BTreeSet::new(),
            seed_sha256: seed.map(seed_fingerprint),
        };
        let existing = match &store.state_file {
            Some(path) if path.exists() => Some(read_state(path)?),
            _ => None,
        };
        if let Some(file) = existing {
            if let Some(seed_sha256) = &store.seed_sha256
                && file.seed_sha256.as_ref() != Some(seed_sha256)
            {
                return Err(seeded_differently(store.state_file.as_deref(), &file));
            }
            store.seed_sha256.clone_from(&file.seed_sha256);
            store.restore(file);
        } else {
            if let Some(seed) = seed {
                store.apply_seed(seed);
            }
            store.save()?;
        }
        Ok(store)
    }

    fn restore(&mut self, file: StateFile) {
        for project in file.projects {
            self.bump_clock(project.created_at);
            for key in project.keys {
                self.bump_clock(key.created_at);
                self.keys
                    .entry(project.id.clone())
                    .or_default()
                    .push(KeyRec {
                        id: key.id,
                        name: key.name,
                        project_id: project.id.clone(),
                        roles: key.roles.into_iter().collect(),
                        created_at: key.created_at,
                        secret_sha256: key.secret_sha256,
                    });
            }
            self.projects.push(ProjectRec {
                id: project.id,
                name: project.name,
                created_at: project.created_at,
            });
        }
        self.sort_keys();
    }

    fn apply_seed(&mut self, seed: &Seed) {
        for project in &seed.projects {
            let rec = self.insert_project(&project.name, project.id.clone());
            for key in &project.keys {
                let roles: RoleSet = key.roles.iter().cloned().collect();
                self.insert_key(&rec.id, &key.name, roles, key.id.clone(), key.created_at);
            }
        }
        self.sort_keys();
    }

    /// Puts each project's keys in creation order (a seed or a state file may list them in any).
    fn sort_keys(&mut self) {
        for keys in self.keys.values_mut() {
            keys.sort_by_key(|key| key.created_at);
        }
    }

    /// Writes the state file, atomically (`atomic_write`), if there is one.
    pub fn save(&self) -> std::io::Result<()> {
        let Some(path) = &self.state_file else {
            return Ok(());
        };
        let file = StateFile {
            version: STATE_VERSION,
            organization_id: ORGANIZATION_ID.to_owned(),
            seed_sha256: self.seed_sha256.clone(),
            projects: self
                .projects
                .iter()
                .map(|project| StoredProject {
                    id: project.id.clone(),
                    name: project.name.clone(),
                    created_at: project.created_at,
                    keys: self
                        .keys
                        .get(&project.id)
                        .into_iter()
                        .flatten()
                        .map(|key| StoredKey {
                            id: key.id.clone(),
                            name: key.name.clone(),
                            roles: key.roles.iter().cloned().collect(),
                            created_at: key.created_at,
                            secret_sha256: key.secret_sha256.clone(),
                        })
                        .collect(),
                })
                .collect(),
        };
        let mut text = serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?;
        text.push(b'\n');
        crate::atomic_write::write_atomically(path, &text).map_err(|err| {
            std::io::Error::new(
                err.kind(),
                format!("cannot save emulator state to {}: {err}", path.display()),
            )
        })
    }
}

/// The fingerprint a state file records of its seed: the same seed always gives the same one,
/// whatever file (TOML or JSON, comments, spacing) it was read from.
fn seed_fingerprint(seed: &Seed) -> String {
    // A `Seed` is plain data; serialising it cannot fail.
    let json = serde_json::to_vec(seed).unwrap_or_default();
    super::sha256_hex(&String::from_utf8_lossy(&json))
}

/// A start with a seed that the existing state file did not start from. `AlreadyExists`: the
/// state is there already, and it says what to do.
fn seeded_differently(path: Option<&Path>, file: &StateFile) -> std::io::Error {
    let path = path.map_or_else(String::new, |p| p.display().to_string());
    let started = if file.seed_sha256.is_some() {
        "from a different seed"
    } else {
        "without a seed"
    };
    std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        format!(
            "emulator state {path} was started {started}, and a seed applies only when the \
             state file is created; delete {path} to start over from this seed, or start \
             without the seed to carry on with the state the file holds"
        ),
    )
}

fn read_state(path: &Path) -> std::io::Result<StateFile> {
    let text = std::fs::read(path).map_err(|err| {
        std::io::Error::new(
            err.kind(),
            format!("cannot read emulator state {}: {err}", path.display()),
        )
    })?;
    let file: StateFile = serde_json::from_slice(&text).map_err(|err| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "emulator state {} is not a valid state file ({err}); delete it to start afresh",
                path.display()
            ),
        )
    })?;
    if file.version != STATE_VERSION {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "emulator state {} has version {}, this keyplan reads version {STATE_VERSION}",
                path.display(),
                file.version
            ),
        ));
    }
    Ok(file)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::emulator::config::{SeedKey, SeedProject};
    use crate::emulator::state::sha256_hex;

    #[test]
    fn state_file_round_trips_without_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let seed = Seed {
            projects: vec![SeedProject {
                name: "demo".into(),
                id: None,
                keys: vec![SeedKey {
                    name: "old".into(),
                    roles: vec![Role::DataPlaneViewer],
                    id: None,
                    created_at: None,
                }],
            }],
        };
        let mut first = Store::open(Some(path.clone()), Some(&seed), None, false).unwrap();
        let project = first.projects()[0].id.clone();
        let (_, secret) = first
            .create_key(&project, "new", RoleSet::from([Role::ProjectEditor]))
            .unwrap();
        first.save().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&secret));
        assert!(text.contains(&sha256_hex(&secret)));
        // A second open with the same seed, or none, sees the same keys.
        let again = Store::open(Some(path.clone()), Some(&seed), None, false).unwrap();
        assert_eq!(again.keys, first.keys);
        let second = Store::open(Some(path), None, None, false).unwrap();
        let names: Vec<_> = second
            .keys_of(&project)
            .unwrap()
            .iter()
            .map(|k| k.name.clone())
            .collect();
        assert_eq!(names, ["old", "new"]);
        assert_eq!(second.keys, first.keys);
    }

    fn seed_of(project: &str) -> Seed {
        Seed {
            projects: vec![SeedProject {
                name: project.into(),
                id: None,
                keys: Vec::new(),
            }],
        }
    }

    #[test]
    fn a_state_file_refuses_a_seed_it_did_not_start_from() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let first = seed_of("first");
        Store::open(Some(path.clone()), Some(&first), None, false).unwrap();

        let error = Store::open(Some(path.clone()), Some(&seed_of("other")), None, false)
            .err()
            .unwrap();
        assert_eq!(error.kind(), std::io::ErrorKind::AlreadyExists);
        let said = error.to_string();
        assert!(said.contains("from a different seed"), "{said}");
        assert!(
            said.contains(&format!("delete {}", path.display())),
            "{said}"
        );
        // The fingerprint survives a save by a run that gave no seed.
        let unseeded = Store::open(Some(path.clone()), None, None, false).unwrap();
        unseeded.save().unwrap();
        Store::open(Some(path), Some(&first), None, false).unwrap();
    }

    #[test]
    fn a_state_file_started_without_a_seed_refuses_one_later() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        Store::open(Some(path.clone()), None, None, false).unwrap();
        let said = Store::open(Some(path), Some(&seed_of("demo")), None, false)
            .err()
            .unwrap()
            .to_string();
        assert!(said.contains("without a seed"), "{said}");
    }
}
