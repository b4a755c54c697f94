//! The emulated organisation on disk and at start: the optional JSON state file that keeps
//! projects and keys between runs (secrets only as SHA-256 hashes), and the seed that fills an
//! organisation that has no state file yet.
//!
//! A child of [`super`] so that it can build and read a [`Store`]'s private records while the
//! in-memory rules stay in one place.

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
            keys: Vec::new(),
            last_created: Timestamp::UNIX_EPOCH,
            issued: Vec::new(),
            state_file,
            key_quota,
            starter_plan,
            delete_missing_500: false,
            extra_roles: std::collections::BTreeSet::new(),
        };
        let existing = match &store.state_file {
            Some(path) if path.exists() => Some(read_state(path)?),
            _ => None,
        };
        if let Some(file) = existing {
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
                self.keys.push(KeyRec {
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
        self.keys.sort_by_key(|key| key.created_at);
    }

    fn apply_seed(&mut self, seed: &Seed) {
        for project in &seed.projects {
            let rec = self.insert_project(&project.name, project.id.clone());
            for key in &project.keys {
                let roles: RoleSet = key.roles.iter().cloned().collect();
                self.insert_key(&rec.id, &key.name, roles, key.id.clone(), key.created_at);
            }
        }
        self.keys.sort_by_key(|key| key.created_at);
    }

    /// Writes the state file, atomically (`atomic_write`), if there is one.
    pub fn save(&self) -> std::io::Result<()> {
        let Some(path) = &self.state_file else {
            return Ok(());
        };
        let file = StateFile {
            version: STATE_VERSION,
            organization_id: ORGANIZATION_ID.to_owned(),
            projects: self
                .projects
                .iter()
                .map(|project| StoredProject {
                    id: project.id.clone(),
                    name: project.name.clone(),
                    created_at: project.created_at,
                    keys: self
                        .keys
                        .iter()
                        .filter(|key| key.project_id == project.id)
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
        // A second open ignores the seed (the file exists) and sees the same keys.
        let other_seed = Seed::default();
        let second = Store::open(Some(path), Some(&other_seed), None, false).unwrap();
        let names: Vec<_> = second
            .keys_of(&project)
            .unwrap()
            .iter()
            .map(|k| k.name.clone())
            .collect();
        assert_eq!(names, ["old", "new"]);
        assert_eq!(second.keys, first.keys);
    }
}
