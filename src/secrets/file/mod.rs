//! The file store: secrets in a JSON document (or a dotenv file) that only its owner can read.
//!
//! Every change is a locked read-modify-write (concurrent changes from one process are written
//! together: group commit): an exclusive `flock` on `<file>.lock` keeps concurrent keyplan
//! processes from losing each other's entries, and the new contents go to a temp file in the
//! same directory (created 0600, fsynced) that is renamed over the old file, then the directory
//! is fsynced (`crate::atomic_write`). A crash therefore leaves the old file or the new one,
//! never a half-written one. A file that group or others can read or write is refused, and so
//! is a file keyplan cannot parse: it is never overwritten, since it may hold the only copy of
//! a secret. So is anything but a regular file (a FIFO would hang the read) and a file another
//! user owns (a write would take it from them). The temp files a killed write left behind
//! (each a copy of every secret) are removed on the store's first use, under the lock.

mod cache;
mod disk;
mod edits;
mod format;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{SecretRecord, SecretStore, StoreError};
use crate::atomic_write::{self, AtomicWriter, Step, WriteError};
use crate::desired::FileFormat;
use crate::model::{KeyId, Project, Secret};
use cache::ParseCache;
use edits::{Edit, PutQueue};

pub use format::{dotenv_name, dotenv_name_with};

/// Every write of the file: 0600 from the temp file's creation, so that the secrets in it are
/// never readable by others, not even before the rename.
const WRITER: AtomicWriter = AtomicWriter::new().mode(0o600);

/// A JSON or dotenv file of secrets. Holds the path, and secrets only while they wait in the
/// put queue (`Secret`'s `Debug` redacts them); values read from the file are never kept.
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
    format: FileFormat,
    /// What every dotenv variable starts with.
    prefix: String,
    puts: Arc<PutQueue>,
    parsed: Arc<ParseCache>,
    swept: Swept,
}

/// Whether this store has removed the temp files killed runs left (see `FileStore::lock`):
/// once is enough for a read-only run, as a live keyplan leaves none behind.
#[derive(Debug, Clone, Default)]
struct Swept(Arc<AtomicBool>);

impl Swept {
    fn done(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn mark(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl FileStore {
    pub fn new(path: PathBuf, format: FileFormat) -> Self {
        FileStore {
            path,
            format,
            prefix: crate::desired::SecretsConfig::DEFAULT_DOTENV_PREFIX.to_owned(),
            puts: Arc::default(),
            parsed: Arc::default(),
            swept: Swept::default(),
        }
    }

    /// Starts every dotenv variable with `prefix` instead of `KEYPLAN_`.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A failed write as the store reports it, with a hint where the directory is the likely
    /// cause.
    fn write_error(&self, error: &WriteError) -> StoreError {
        let create = error.step() == Step::CreateTemp;
        let error = StoreError::new(error.to_string());
        if create {
            error.with_hint(dir_hint(&self.path))
        } else {
            error
        }
    }
}

impl SecretStore for FileStore {
    fn describe(&self) -> String {
        match self.format {
            FileFormat::Json => format!("file {}", self.path.display()),
            FileFormat::Dotenv => format!("dotenv file {}", self.path.display()),
        }
    }

    fn probe(&self) -> Result<(), StoreError> {
        let dir = atomic_write::dir_of(&self.path);
        if !dir.is_dir() {
            return Err(StoreError::new(format!(
                "the directory of secrets file {} does not exist",
                self.path.display()
            ))
            .with_hint(dir_hint(&self.path)));
        }
        // Taking the lock also removes the temp files a killed run left (they hold secrets).
        let _lock = self.lock()?;
        self.load()?;
        // Prove a temp file can be created beside the file, as every write needs one.
        WRITER.probe(&self.path).map_err(|e| self.write_error(&e))
    }

    fn put(&self, record: &SecretRecord, secret: &Secret) -> Result<(), StoreError> {
        if self.format == FileFormat::Dotenv && secret.expose().contains(['\n', '\r']) {
            return Err(StoreError::new(
                "the secret contains a line break, which a dotenv file cannot hold",
            )
            .with_hint("use format = \"json\""));
        }
        self.edit(Edit::Put(record.clone(), secret.clone()))
            .map(|_| ())
    }

    fn rename(
        &self,
        project: &Project,
        key_id: &KeyId,
        _from: &str,
        to: &str,
    ) -> Result<bool, StoreError> {
        self.edit(Edit::Rename {
            project: project.clone(),
            key_id: key_id.clone(),
            to: to.to_owned(),
        })
    }

    fn remove(
        &self,
        project: &Project,
        key_id: &KeyId,
        _key_name: &str,
    ) -> Result<bool, StoreError> {
        self.edit(Edit::Remove {
            project: project.clone(),
            key_id: key_id.clone(),
        })
    }

    fn held_key_id(&self, project: &Project, key_name: &str) -> Result<Option<KeyId>, StoreError> {
        let Some(contents) = self.load()? else {
            return Ok(None);
        };
        Ok(contents
            .current(project, key_name)
            .map(|r| KeyId(r.key_id.clone())))
    }

    fn get(&self, project: &Project, key_name: &str) -> Result<Option<Secret>, StoreError> {
        let Some(contents) = self.load()? else {
            return Ok(None);
        };
        Ok(contents
            .current(project, key_name)
            .map(|r| Secret::new(r.value.clone())))
    }

    fn known_projects(&self) -> Result<Option<Vec<Project>>, StoreError> {
        let Some(contents) = self.load()? else {
            return Ok(Some(Vec::new()));
        };
        let mut projects: Vec<Project> = contents
            .records()
            .map(|r| Project {
                id: crate::model::ProjectId(r.project_id.clone()),
                name: r.project_name.clone(),
            })
            .collect();
        projects.sort();
        projects.dedup();
        Ok(Some(projects))
    }
}

/// `path` with `suffix` appended to its file name, e.g. `secrets.json.lock`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(ToOwned::to_owned).unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

fn dir_hint(path: &Path) -> String {
    format!(
        "check that directory {} exists and that you can write to it",
        atomic_write::dir_of(path).display()
    )
}

fn io_error(action: &str, error: &io::Error) -> StoreError {
    StoreError::new(format!("failed to {action}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siblings_append_to_the_file_name() {
        assert_eq!(
            sibling(Path::new("dir/secrets.json"), ".lock"),
            PathBuf::from("dir/secrets.json.lock")
        );
    }

    #[test]
    fn a_write_removes_temp_files_a_killed_run_left_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("secrets.json");
        // The name the writer gives its temp files: `<file>.<pid>-<16 hex digits>.tmp`.
        let left = dir.path().join("secrets.json.4242-00000000deadbeef.tmp");
        let unrelated = [
            dir.path().join("secrets.json.backup.tmp"),
            dir.path().join("other.json.12-0123456789abcdef.tmp"),
        ];
        for file in unrelated.iter().chain([&left]) {
            std::fs::write(file, "keep").unwrap_or_else(|e| panic!("{e}"));
        }
        let store = FileStore::new(path.clone(), FileFormat::Json);
        store
            .modify(|_| Ok(((), true)))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!left.exists(), "the stale temp file is still there");
        assert!(path.exists());
        assert!(unrelated.iter().all(|f| f.exists()));
    }
}
