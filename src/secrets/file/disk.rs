//! The file on disk: the lock every change holds, reads (through the cache when it still
//! describes the file), and the locked read-modify-write that every change is.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _};
use std::path::Path;
use std::sync::Arc;

use super::cache::{FileStamp, Trust};
use super::format::Contents;
use super::{FileStore, WRITER, dir_hint, io_error, sibling};
use crate::atomic_write;
use crate::secrets::StoreError;

impl FileStore {
    /// Runs `change` on the current contents under the lock, and writes the result back when it
    /// says something changed.
    pub(super) fn modify<T>(
        &self,
        change: impl FnOnce(&mut Contents) -> Result<(T, bool), StoreError>,
    ) -> Result<T, StoreError> {
        let _lock = self.lock()?;
        // Under the lock, a temp file is one a killed run left, holding secrets.
        atomic_write::remove_stale_temps(&self.path);
        let (mut contents, read) = match self.read(Trust::Bytes)? {
            // The cache lets go of its copy, so the edit below needs no copy of its own.
            Some(current) => (Arc::unwrap_or_clone(current), self.parsed.take()),
            None => (Contents::empty(self.format), None),
        };
        let (result, changed) = change(&mut contents)?;
        if changed {
            let bytes = contents.render(self.format)?;
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
    pub(super) fn lock(&self) -> Result<File, StoreError> {
        let lock_path = sibling(&self.path, ".lock");
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&lock_path).map_err(|e| {
            io_error(&format!("open the lock file {}", lock_path.display()), &e)
                .with_hint(dir_hint(&self.path))
        })?;
        // std's own flock, stable since Rust 1.89 (the declared rust-version).
        file.lock()
            .map_err(|e| io_error(&format!("lock {}", lock_path.display()), &e))?;
        Ok(file)
    }

    /// The file's contents for a question (which key id is held, a secret read back).
    pub(super) fn load(&self) -> Result<Option<Arc<Contents>>, StoreError> {
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
        let contents =
            Arc::new(Contents::parse(self.format, text).map_err(|what| self.corrupt(&what))?);
        self.parsed.put(stamp, bytes, Arc::clone(&contents));
        Ok(Some(contents))
    }

    fn corrupt(&self, what: &str) -> StoreError {
        StoreError::new(format!("secrets file {} {what}", self.path.display())).with_hint(
            "fix or move that file (keyplan never overwrites a secrets file it cannot read), \
             or point [secrets] path at another file",
        )
    }
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
