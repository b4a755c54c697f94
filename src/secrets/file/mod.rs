//! The file store: secrets in a JSON document (or a dotenv file) that only its owner can read.
//!
//! Every change is a locked read-modify-write (concurrent changes from one process are written
//! together: group commit): an exclusive `flock` on `<file>.lock` keeps concurrent keyplan
//! processes from losing each other's entries, and the new contents go to a temp file in the
//! same directory (created 0600, fsynced) that is renamed over the old file, then the directory
//! is fsynced (`crate::atomic_write`). A crash therefore leaves the old file or the new one,
//! never a half-written one. A file that group or others can read or write is refused, and so
//! is a file keyplan cannot parse: it is never overwritten, since it may hold the only copy of
//! a secret.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use super::{SecretRecord, SecretStore, StoreError};
use crate::atomic_write::{self, AtomicWriter, Step, WriteError};
use crate::desired::FileFormat;
use crate::model::{KeyId, Project, Secret};
use cache::{FileStamp, ParseCache, Trust};

/// The only `format_version` this build reads and writes.
const FORMAT_VERSION: &str = "1";

/// The prefix of the dotenv comment line that records whose secret the next line holds.
const DOTENV_RECORD_PREFIX: &str = "# keyplan ";

const DOTENV_HEADER: &str = "# Secrets of Pinecone API keys, written by keyplan. Each variable \
                             follows a comment recording the key it belongs to; keep them together.";

mod cache;

/// Every write of the file: 0600 from the temp file's creation, so that the secrets in it are
/// never readable by others, not even before the rename.
const WRITER: AtomicWriter = AtomicWriter::new().mode(0o600);

/// A JSON or dotenv file of secrets. Holds the path, and secrets only while they wait in the
/// put queue (`Secret`'s `Debug` redacts them); values read from the file are never kept.
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
    format: FileFormat,
    puts: Arc<PutQueue>,
    parsed: Arc<ParseCache>,
}

/// Group commit: edits (puts, renames, removals) that arrive while another batch is being
/// written wait, and the next writer applies them all in one rewrite and one fsync. An apply
/// of many creates or deletes then costs a few rewrites instead of one per key (each a
/// whole-file rewrite: quadratic in the count). Each edit still returns only once it is durable.
#[derive(Debug, Default)]
struct PutQueue {
    state: Mutex<QueueState>,
    written: Condvar,
}

#[derive(Debug, Default)]
struct QueueState {
    next_ticket: u64,
    waiting: Vec<(u64, Edit)>,
    results: std::collections::HashMap<u64, Result<bool, StoreError>>,
    writing: bool,
}

/// One change to the file, owning its data so that it can wait in the queue.
#[derive(Debug)]
enum Edit {
    Put(SecretRecord, Secret),
    Rename {
        project: Project,
        key_id: KeyId,
        to: String,
    },
    Remove {
        project: Project,
        key_id: KeyId,
    },
}

impl PutQueue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One stored secret. No `Debug`: nothing may print `value`.
#[derive(Clone, Serialize, Deserialize)]
struct FileRecord {
    project_id: String,
    project_name: String,
    key_id: String,
    key_name: String,
    created_at: jiff::Timestamp,
    value: String,
    /// Fields a newer keyplan (or a user) added: kept as they are.
    #[serde(flatten)]
    extra: serde_json::Map<String, serde_json::Value>,
}

/// The JSON document as read.
#[derive(Deserialize)]
struct Document {
    format_version: String,
    secrets: Vec<FileRecord>,
    #[serde(flatten)]
    extra: serde_json::Map<String, serde_json::Value>,
}

/// The JSON document as written, borrowing the records.
#[derive(Serialize)]
struct DocumentOut<'a> {
    format_version: &'a str,
    secrets: Vec<&'a FileRecord>,
    #[serde(flatten)]
    extra: &'a serde_json::Map<String, serde_json::Value>,
}

/// A dotenv record's comment line, everything but the value.
#[derive(Serialize, Deserialize)]
struct DotenvMeta {
    project_id: String,
    project_name: String,
    key_id: String,
    key_name: String,
    created_at: jiff::Timestamp,
}

/// A dotenv line keyplan did not write: kept verbatim, in place.
#[derive(Clone)]
enum Item {
    Record(FileRecord),
    Verbatim(String),
}

/// A parsed file, in either format.
#[derive(Clone)]
struct Contents {
    items: Vec<Item>,
    /// Unknown top-level JSON fields, kept.
    json_extra: serde_json::Map<String, serde_json::Value>,
}

impl Contents {
    fn records(&self) -> impl Iterator<Item = &FileRecord> {
        self.items.iter().filter_map(|item| match item {
            Item::Record(record) => Some(record),
            Item::Verbatim(_) => None,
        })
    }

    fn records_mut(&mut self) -> impl Iterator<Item = &mut FileRecord> {
        self.items.iter_mut().filter_map(|item| match item {
            Item::Record(record) => Some(record),
            Item::Verbatim(_) => None,
        })
    }

    /// The record under (project id, key name): the newest key's when several keys of that name
    /// have one (a replace stores the new key's secret before the old key is deleted).
    fn current(&self, project: &Project, key_name: &str) -> Option<&FileRecord> {
        self.records()
            .filter(|r| r.project_id == project.id.as_str() && r.key_name == key_name)
            .reduce(|best, r| {
                if r.created_at >= best.created_at {
                    r
                } else {
                    best
                }
            })
    }

    /// Removes every record of this key; true when there was one.
    fn remove_key(&mut self, project: &Project, key_id: &KeyId) -> bool {
        let before = self.items.len();
        self.items.retain(|item| match item {
            Item::Record(r) => {
                !(r.key_id == key_id.as_str() && r.project_id == project.id.as_str())
            }
            Item::Verbatim(_) => true,
        });
        self.items.len() != before
    }
}

impl FileStore {
    pub fn new(path: PathBuf, format: FileFormat) -> Self {
        FileStore {
            path,
            format,
            puts: Arc::default(),
            parsed: Arc::default(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues an edit and returns once it is durable: the first caller to find no batch being
    /// written writes everything queued so far, then hands each caller its own result.
    fn edit(&self, edit: Edit) -> Result<bool, StoreError> {
        let mut state = self.puts.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.waiting.push((ticket, edit));
        loop {
            if let Some(result) = state.results.remove(&ticket) {
                return result;
            }
            if state.writing {
                state = self
                    .puts
                    .written
                    .wait(state)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                continue;
            }
            state.writing = true;
            let batch = std::mem::take(&mut state.waiting);
            drop(state);
            let results = self.write_batch(batch);
            state = self.puts.lock();
            state.writing = false;
            state.results.extend(results);
            self.puts.written.notify_all();
        }
    }

    /// Applies a batch of edits in one locked rewrite. An edit the file refuses (a dotenv name
    /// clash) fails alone; a failed write fails the whole batch, since none of it is stored.
    fn write_batch(&self, batch: Vec<(u64, Edit)>) -> Vec<(u64, Result<bool, StoreError>)> {
        let mut outcomes = Vec::with_capacity(batch.len());
        let written = self.modify(|contents| {
            let mut changed = false;
            for (ticket, edit) in &batch {
                let outcome = self.apply_edit(contents, edit);
                if let Ok((_, true)) = outcome {
                    changed = true;
                }
                outcomes.push((*ticket, outcome.map(|(result, _)| result)));
            }
            Ok(((), changed))
        });
        match written {
            Ok(()) => outcomes,
            Err(error) => batch
                .into_iter()
                .map(|(ticket, _)| (ticket, Err(error.clone())))
                .collect(),
        }
    }

    /// One edit on the contents: (its result, whether the contents changed). Checks come
    /// first, so a refused edit leaves the contents as they were.
    fn apply_edit(&self, contents: &mut Contents, edit: &Edit) -> Result<(bool, bool), StoreError> {
        match edit {
            Edit::Put(record, secret) => {
                self.put_into(contents, record, secret)?;
                Ok((true, true))
            }
            Edit::Rename {
                project,
                key_id,
                to,
            } => {
                // The key id is the identity: the record moves whatever name it was under.
                let mine = |r: &FileRecord| {
                    r.key_id == key_id.as_str() && r.project_id == project.id.as_str()
                };
                if !contents.records().any(mine) {
                    return Ok((false, false));
                }
                if contents
                    .records()
                    .filter(|r| mine(r))
                    .all(|r| &r.key_name == to && r.project_name == project.name)
                {
                    return Ok((true, false));
                }
                self.check_dotenv_variable(contents, project, key_id, to, false)?;
                for record in contents.records_mut().filter(|r| mine(r)) {
                    record.key_name.clone_from(to);
                    project.name.clone_into(&mut record.project_name);
                }
                Ok((true, true))
            }
            Edit::Remove { project, key_id } => {
                // Only records of this very key go; other keys of the same name keep theirs.
                let removed = contents.remove_key(project, key_id);
                Ok((removed, removed))
            }
        }
    }

    /// Adds one secret to the contents: checks first, so a refusal leaves them unchanged.
    fn put_into(
        &self,
        contents: &mut Contents,
        record: &SecretRecord,
        secret: &Secret,
    ) -> Result<(), StoreError> {
        self.check_dotenv_variable(
            contents,
            &record.project,
            &record.key_id,
            &record.key_name,
            true,
        )?;
        contents.remove_key(&record.project, &record.key_id);
        if self.format == FileFormat::Dotenv {
            // A replace: the new key's secret takes the old key's variable.
            let name = dotenv_name(&record.project.name, &record.key_name);
            contents.items.retain(|item| match item {
                Item::Record(r) => dotenv_name(&r.project_name, &r.key_name) != name,
                Item::Verbatim(_) => true,
            });
        }
        contents.items.push(Item::Record(FileRecord {
            project_id: record.project.id.to_string(),
            project_name: record.project.name.clone(),
            key_id: record.key_id.to_string(),
            key_name: record.key_name.clone(),
            created_at: record.created_at,
            value: secret.expose().to_owned(),
            extra: serde_json::Map::new(),
        }));
        Ok(())
    }

    /// Runs `change` on the current contents under the lock, and writes the result back when it
    /// says something changed.
    fn modify<T>(
        &self,
        change: impl FnOnce(&mut Contents) -> Result<(T, bool), StoreError>,
    ) -> Result<T, StoreError> {
        let _lock = self.lock()?;
        // Under the lock, a temp file is one a killed run left, holding secrets.
        atomic_write::remove_stale_temps(&self.path);
        let (mut contents, read) = match self.read(Trust::Bytes)? {
            // The cache lets go of its copy, so the edit below needs no copy of its own.
            Some(current) => (Arc::unwrap_or_clone(current), self.parsed.take()),
            None => (
                Contents {
                    items: match self.format {
                        FileFormat::Json => Vec::new(),
                        FileFormat::Dotenv => vec![Item::Verbatim(DOTENV_HEADER.to_owned())],
                    },
                    json_extra: serde_json::Map::new(),
                },
                None,
            ),
        };
        let (result, changed) = change(&mut contents)?;
        if changed {
            let bytes = self.render(&contents)?;
            let metadata = WRITER
                .write(&self.path, &bytes)
                .map_err(|e| self.write_error(&e))?;
            self.parsed
                .put(FileStamp::of(&metadata), bytes, Arc::new(contents));
        } else if let Some((stamp, bytes)) = read {
            // Nothing to write (a removal of a secret that is not there): the parse still
            // matches the file.
            self.parsed.put(stamp, bytes, Arc::new(contents));
        }
        Ok(result)
    }

    /// Takes the exclusive lock on `<file>.lock`, held until the returned file is dropped. The
    /// lock file stays behind, empty: deleting it would let two processes lock different files.
    fn lock(&self) -> Result<File, StoreError> {
        let lock_path = sibling(&self.path, ".lock");
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&lock_path).map_err(|e| {
            io_error(&format!("open the lock file {}", lock_path.display()), &e)
                .with_hint(dir_hint(&self.path))
        })?;
        // std's flock (Rust 1.89). `allow`, not `expect`: it stays right once rust-version is
        // raised (the Secret Service dependencies already need 1.88).
        #[allow(
            clippy::incompatible_msrv,
            reason = "File::lock is stable since 1.89; the declared MSRV is stale"
        )]
        let locked = file.lock();
        locked.map_err(|e| io_error(&format!("lock {}", lock_path.display()), &e))?;
        Ok(file)
    }

    /// The file's contents for a question (which key id is held, a secret read back).
    fn load(&self) -> Result<Option<Arc<Contents>>, StoreError> {
        self.read(Trust::Stamp)
    }

    /// Reads and parses the file (unless the cache already has it, see [`Trust`]); `None` when
    /// it does not exist or is empty (as after `install -m 600 /dev/null FILE`).
    fn read(&self, trust: Trust) -> Result<Option<Arc<Contents>>, StoreError> {
        let mut file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&format!("open {}", self.path.display()), &e)),
        };
        let metadata = file
            .metadata()
            .map_err(|e| io_error(&format!("inspect {}", self.path.display()), &e))?;
        check_private(&self.path, &metadata)?;
        let stamp = FileStamp::of(&metadata);
        if trust == Trust::Stamp
            && let Some(contents) = self.parsed.by_stamp(stamp)
        {
            return Ok(Some(contents));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0) + 1);
        file.read_to_end(&mut bytes)
            .map_err(|e| io_error(&format!("read {}", self.path.display()), &e))?;
        if let Some(contents) = self.parsed.by_bytes(&bytes, stamp) {
            return Ok(Some(contents));
        }
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            self.corrupt(&format!("is not UTF-8 text (at byte {})", e.valid_up_to()))
        })?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        let contents = Arc::new(match self.format {
            FileFormat::Json => self.parse_json(text)?,
            FileFormat::Dotenv => self.parse_dotenv(text)?,
        });
        self.parsed.put(stamp, bytes, Arc::clone(&contents));
        Ok(Some(contents))
    }

    fn parse_json(&self, text: &str) -> Result<Contents, StoreError> {
        // Only the position of a parse error is reported: serde's messages quote the offending
        // value, which could be a secret.
        let document: Document = serde_json::from_str(text).map_err(|e| {
            self.corrupt(&format!(
                "is not a keyplan secrets document (invalid at line {} column {})",
                e.line(),
                e.column()
            ))
        })?;
        if document.format_version != FORMAT_VERSION {
            return Err(self.corrupt(&format!(
                "has format_version {:?}; this keyplan reads version {FORMAT_VERSION}",
                document.format_version
            )));
        }
        Ok(Contents {
            items: document.secrets.into_iter().map(Item::Record).collect(),
            json_extra: document.extra,
        })
    }

    fn parse_dotenv(&self, text: &str) -> Result<Contents, StoreError> {
        let mut items = Vec::new();
        let mut pending: Option<(DotenvMeta, usize)> = None;
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            if let Some(json) = line.strip_prefix(DOTENV_RECORD_PREFIX) {
                if let Some((_, at)) = pending {
                    return Err(self.corrupt(&format!(
                        "has a keyplan record on line {at} with no variable after it"
                    )));
                }
                let meta: DotenvMeta = serde_json::from_str(json).map_err(|_| {
                    self.corrupt(&format!(
                        "has an unreadable keyplan record on line {number}"
                    ))
                })?;
                pending = Some((meta, number));
            } else if let Some((meta, _)) = pending.take() {
                let expected = dotenv_name(&meta.project_name, &meta.key_name);
                let value = line
                    .split_once('=')
                    .filter(|(name, _)| *name == expected)
                    .map(|(_, value)| value.to_owned())
                    .ok_or_else(|| {
                        self.corrupt(&format!(
                            "line {number} should set {expected}, as the record above it says"
                        ))
                    })?;
                items.push(Item::Record(FileRecord {
                    project_id: meta.project_id,
                    project_name: meta.project_name,
                    key_id: meta.key_id,
                    key_name: meta.key_name,
                    created_at: meta.created_at,
                    value,
                    extra: serde_json::Map::new(),
                }));
            } else {
                items.push(Item::Verbatim(line.to_owned()));
            }
        }
        if let Some((_, at)) = pending {
            return Err(self.corrupt(&format!(
                "has a keyplan record on line {at} with no variable after it"
            )));
        }
        Ok(Contents {
            items,
            json_extra: serde_json::Map::new(),
        })
    }

    fn render(&self, contents: &Contents) -> Result<Vec<u8>, StoreError> {
        match self.format {
            FileFormat::Json => {
                let document = DocumentOut {
                    format_version: FORMAT_VERSION,
                    secrets: contents.records().collect(),
                    extra: &contents.json_extra,
                };
                let mut bytes = serde_json::to_vec_pretty(&document)
                    .map_err(|e| StoreError::new(format!("failed to encode secrets: {e}")))?;
                bytes.push(b'\n');
                Ok(bytes)
            }
            FileFormat::Dotenv => {
                let mut text = String::new();
                for item in &contents.items {
                    match item {
                        Item::Verbatim(line) => text.push_str(line),
                        Item::Record(record) => {
                            let meta = DotenvMeta {
                                project_id: record.project_id.clone(),
                                project_name: record.project_name.clone(),
                                key_id: record.key_id.clone(),
                                key_name: record.key_name.clone(),
                                created_at: record.created_at,
                            };
                            let meta = serde_json::to_string(&meta).map_err(|e| {
                                StoreError::new(format!("failed to encode a record: {e}"))
                            })?;
                            text.push_str(DOTENV_RECORD_PREFIX);
                            text.push_str(&meta);
                            text.push('\n');
                            text.push_str(&dotenv_name(&record.project_name, &record.key_name));
                            text.push('=');
                            text.push_str(&record.value);
                        }
                    }
                    text.push('\n');
                }
                Ok(text.into_bytes())
            }
        }
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

    fn corrupt(&self, what: &str) -> StoreError {
        StoreError::new(format!("secrets file {} {what}", self.path.display())).with_hint(
            "fix or move that file (keyplan never overwrites a secrets file it cannot read), \
             or point [secrets] path at another file",
        )
    }

    /// In dotenv, one variable per (project name, key name): refuse to let another key's record
    /// take the variable (that would overwrite its secret). `replacing`: a put for a new key of
    /// the same project and name, which takes over the old key's variable (a replace).
    fn check_dotenv_variable(
        &self,
        contents: &Contents,
        project: &Project,
        key_id: &KeyId,
        key_name: &str,
        replacing: bool,
    ) -> Result<(), StoreError> {
        if self.format != FileFormat::Dotenv {
            return Ok(());
        }
        let name = dotenv_name(&project.name, key_name);
        let clash = contents.records().find(|r| {
            r.key_id != key_id.as_str()
                && dotenv_name(&r.project_name, &r.key_name) == name
                && !(replacing && r.project_id == project.id.as_str() && r.key_name == key_name)
        });
        match clash {
            None => Ok(()),
            Some(other) => Err(StoreError::new(format!(
                "variable {name} in {} already holds the secret of key {:?} ({}) of project {:?} ({})",
                self.path.display(),
                other.key_name,
                other.key_id,
                other.project_name,
                other.project_id
            ))
            .with_hint(
                "project and key names map to the same variable; rename one of them or use \
                 format = \"json\"",
            )),
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
}

/// The dotenv variable of a key: `KEYPLAN_<PROJECT>_<KEY>`, upper-cased, every character other
/// than an ASCII letter or digit turned into `_`.
pub fn dotenv_name(project_name: &str, key_name: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!("KEYPLAN_{}_{}", clean(project_name), clean(key_name))
}

/// Refuses a file that group or others may read or write.
fn check_private(path: &Path, metadata: &fs::Metadata) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(StoreError::new(format!(
                "secrets file {} has mode {:04o}: group or others can access it",
                path.display(),
                mode & 0o7777
            ))
            .with_hint(format!(
                "run `chmod 600 {}` (and consider rotating the keys it holds)",
                path.display()
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = (path, metadata);
    Ok(())
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
    fn dotenv_names_are_upper_case_with_underscores() {
        assert_eq!(dotenv_name("prod-eu", "ci.read"), "KEYPLAN_PROD_EU_CI_READ");
        assert_eq!(dotenv_name("Ünï", "a b"), "KEYPLAN__N__A_B");
    }

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
            fs::write(file, "keep").unwrap_or_else(|e| panic!("{e}"));
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
