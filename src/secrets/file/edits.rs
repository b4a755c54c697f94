//! The store's changes (puts, renames, removals): queued for group commit, then applied to the
//! contents with the checks that keep each secret with its own key (a dotenv variable is never
//! taken from another key).

use std::sync::{Condvar, Mutex, MutexGuard};

use super::FileStore;
use super::format::{Contents, FileRecord, Item, dotenv_name_with};
use crate::desired::FileFormat;
use crate::model::{KeyId, Project, Secret};
use crate::secrets::{SecretRecord, StoreError};

/// Group commit: edits (puts, renames, removals) that arrive while another batch is being
/// written wait, and the next writer applies them all in one rewrite and one fsync. An apply
/// of many creates or deletes then costs a few rewrites instead of one per key (each a
/// whole-file rewrite: quadratic in the count). Each edit still returns only once it is durable.
#[derive(Debug, Default)]
pub(super) struct PutQueue {
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
pub(super) enum Edit {
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
        crate::lock::lock(&self.state)
    }
}

impl FileStore {
    /// Queues an edit and returns once it is durable: the first caller to find no batch being
    /// written writes everything queued so far, then hands each caller its own result.
    pub(super) fn edit(&self, edit: Edit) -> Result<bool, StoreError> {
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
            let name = dotenv_name_with(&self.prefix, &record.project.name, &record.key_name);
            contents.items.retain(|item| match item {
                Item::Record(r) => {
                    dotenv_name_with(&self.prefix, &r.project_name, &r.key_name) != name
                }
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
        let name = dotenv_name_with(&self.prefix, &project.name, key_name);
        let clash = contents.records().find(|r| {
            r.key_id != key_id.as_str()
                && dotenv_name_with(&self.prefix, &r.project_name, &r.key_name) == name
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
