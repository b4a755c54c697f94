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
        let (mut contents, read) = match self.read(Trust::Bytes)? {
            // The cache lets go of its copy, so the edit below needs no copy of its own.
            Some(current) => (Arc::unwrap_or_clone(current), self.parsed.take()),
            None => (Contents::empty(self.format), None),
        };
        let (result, changed) = change(&mut contents)?;
        if changed {
            let bytes = contents.render(self.format, &self.prefix)?;
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
        non_blocking(&mut options);
        let file = options.open(&lock_path).map_err(|e| {
            io_error(&format!("open the lock file {}", lock_path.display()), &e)
                .with_hint(dir_hint(&self.path))
        })?;
        let metadata = file
            .metadata()
            .map_err(|e| io_error(&format!("inspect {}", lock_path.display()), &e))?;
        check_regular("lock file", &lock_path, &metadata).map_err(|e| {
            e.with_hint(format!(
                "remove {} (keyplan creates it again, as an empty file)",
                lock_path.display()
            ))
        })?;
        // std's own flock, stable since Rust 1.89 (the declared rust-version).
        file.lock()
            .map_err(|e| io_error(&format!("lock {}", lock_path.display()), &e))?;
        self.swept.mark();
        // Under the lock, a temp file is one a killed run left, holding secrets.
        atomic_write::remove_stale_temps(&self.path);
        Ok(file)
    }

    /// Removes the temp files a killed run left, once per store, from a read that takes no lock:
    /// a run that only asks questions (a plan, `secret get`, an apply with nothing to store)
    /// still clears the secrets a killed write left on disk. Only when the lock is free at once:
    /// a writer holds it from creating its temp file to renaming it, so a held lock means that
    /// temp file may be live, and a question never waits for a write. Creates nothing: with no
    /// lock file, no writer ever made a temp file here.
    fn sweep_once(&self) {
        if self.swept.done() {
            return;
        }
        let lock_path = sibling(&self.path, ".lock");
        let mut options = OpenOptions::new();
        options.read(true);
        non_blocking(&mut options);
        let Ok(file) = options.open(&lock_path) else {
            return;
        };
        if !file.metadata().is_ok_and(|m| m.is_file()) || file.try_lock().is_err() {
            return;
        }
        self.swept.mark();
        atomic_write::remove_stale_temps(&self.path);
    }

    /// The file's contents for a question (which key id is held, a secret read back).
    pub(super) fn load(&self) -> Result<Option<Arc<Contents>>, StoreError> {
        self.sweep_once();
        self.read(Trust::Stamp)
    }

    /// Reads and parses the file (unless the cache already has it, see [`Trust`]); `None` when
    /// it does not exist or is empty (as after `install -m 600 /dev/null FILE`).
    fn read(&self, trust: Trust) -> Result<Option<Arc<Contents>>, StoreError> {
        // Inspected before it is opened: opening a FIFO waits for a writer (forever), and
        // opening a device may act on it.
        match fs::metadata(&self.path) {
            Ok(metadata) => check_regular("secrets file", &self.path, &metadata)
                .map_err(|e| e.with_hint(regular_hint(&self.path)))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&format!("inspect {}", self.path.display()), &e)),
        }
        let mut options = OpenOptions::new();
        options.read(true);
        // Should a FIFO replace the file between the check and the open, the open still
        // returns at once, and the check below refuses it.
        non_blocking(&mut options);
        let mut file = match options.open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&format!("open {}", self.path.display()), &e)),
        };
        let metadata = file
            .metadata()
            .map_err(|e| io_error(&format!("inspect {}", self.path.display()), &e))?;
        check_regular("secrets file", &self.path, &metadata)
            .map_err(|e| e.with_hint(regular_hint(&self.path)))?;
        check_owner(&self.path, &metadata)?;
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
        let contents = Arc::new(
            Contents::parse(self.format, text, &self.prefix).map_err(|what| self.corrupt(&what))?,
        );
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

/// Opens without waiting: a FIFO's open otherwise blocks until its other end is opened. No
/// effect on a regular file's reads.
fn non_blocking(options: &mut OpenOptions) {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(options, nix::fcntl::OFlag::O_NONBLOCK.bits());
    #[cfg(not(unix))]
    let _ = options;
}

/// Refuses anything but a regular file (a FIFO, a directory, a device, a socket): keyplan
/// would hang on it, or replace it with a regular file on the next write.
fn check_regular(what: &str, path: &Path, metadata: &fs::Metadata) -> Result<(), StoreError> {
    if metadata.is_file() {
        return Ok(());
    }
    Err(StoreError::new(format!(
        "{what} {} is {}, not a regular file",
        path.display(),
        kind_of(metadata.file_type())
    )))
}

fn regular_hint(path: &Path) -> String {
    format!(
        "point [secrets] path at a regular file, or at a path that does not exist yet for \
         keyplan to create (keyplan neither reads nor replaces {})",
        path.display()
    )
}

/// What a file that is not a regular one is, for an error message.
fn kind_of(file_type: fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
    }
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// Refuses a file another user owns: a write would replace it with one the running user owns
/// (taking it from its owner), and its contents are whatever that user put there.
fn check_owner(path: &Path, metadata: &fs::Metadata) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let me = nix::unistd::geteuid();
        if metadata.uid() != me.as_raw() {
            return Err(StoreError::new(format!(
                "secrets file {} is owned by {}, not by {}, the user keyplan runs as",
                path.display(),
                user(metadata.uid()),
                user(me.as_raw())
            ))
            .with_hint(format!(
                "run keyplan as the file's owner, or point [secrets] path at a file of your \
                 own; if the file is meant to be yours, `chown {} {}` (as root) makes it so",
                me.as_raw(),
                path.display()
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = (path, metadata);
    Ok(())
}

/// `uid 1000 (alice)`, or `uid 1000` when the user database has no name for it.
#[cfg(unix)]
fn user(uid: u32) -> String {
    let name = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|user| user.name);
    match name {
        Some(name) => format!("uid {uid} ({name})"),
        None => format!("uid {uid}"),
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
