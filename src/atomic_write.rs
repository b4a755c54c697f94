//! Writing a whole file so that a reader, or a crash, sees the old file or the new one, never
//! half of either: a temp file beside it, fsynced, renamed over it, and the directory fsynced.
//!
//! The one writer of keyplan's files: saved plans and the emulator's state go through
//! [`write_atomically`], the secrets file through an [`AtomicWriter`] set to mode 0600. Temp
//! files are created with `O_EXCL` (never through a symlink someone planted) and named
//! `<file>.<pid>-<16 hex digits>.tmp`, so that [`remove_stale_temps`] can find the ones a
//! killed process left: the secrets file's hold secrets.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// Replaces `path` with `bytes`, durably, with the default [`AtomicWriter`]. On failure the
/// temp file is removed, and the error is the operating system's.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    AtomicWriter::new()
        .write(path, bytes)
        .map(drop)
        .map_err(WriteError::into_io)
}

/// How to replace a file. The default suits files anyone may read: the new file gets the
/// permissions a newly created file gets (0666 less the umask).
#[derive(Debug, Clone, Copy, Default)]
pub struct AtomicWriter {
    mode: Option<u32>,
}

/// The step of a write that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Creating the temp file: the directory is missing or not writable, most likely.
    CreateTemp,
    /// Writing, fsyncing or inspecting the temp file.
    Write,
    /// Renaming the temp file over the target.
    Replace,
    /// Fsyncing the directory once the rename is done.
    SyncDir,
    /// Removing the temp file of a [`AtomicWriter::probe`].
    RemoveTemp,
}

/// Why a write failed: the step, what it was doing to which path, and the operating system's
/// error. Displayed as `failed to <action>: <error>`.
#[derive(Debug, thiserror::Error)]
#[error("failed to {action}: {source}")]
pub struct WriteError {
    step: Step,
    action: String,
    source: io::Error,
}

impl WriteError {
    fn new(step: Step, action: String, source: io::Error) -> Self {
        WriteError {
            step,
            action,
            source,
        }
    }

    pub fn step(&self) -> Step {
        self.step
    }

    /// The operating system's error alone, for callers that say themselves what they wrote.
    pub fn into_io(self) -> io::Error {
        self.source
    }
}

impl AtomicWriter {
    pub const fn new() -> Self {
        AtomicWriter { mode: None }
    }

    /// The new file's permissions (unix), set when the temp file is created, so the contents
    /// are never readable under wider ones, not even before the rename. The umask can only
    /// narrow them. Ignored where there are no modes.
    #[must_use]
    pub const fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Replaces `path` with `bytes`, durably. Returns the new file's metadata, taken from the
    /// temp file once it is fsynced: the rename keeps its identity (device, inode, length,
    /// mtime), so it describes `path` until the next write. On failure the temp file is
    /// removed.
    pub fn write(self, path: &Path, bytes: &[u8]) -> Result<fs::Metadata, WriteError> {
        let (temp_path, mut temp) = self.create_temp(path)?;
        let written = temp
            .write_all(bytes)
            .and_then(|()| temp.sync_all())
            .and_then(|()| temp.metadata())
            .map_err(|e| WriteError::new(Step::Write, format!("write {}", temp_path.display()), e));
        drop(temp);
        let renamed = written.and_then(|metadata| {
            fs::rename(&temp_path, path).map_err(|e| {
                let action = format!("replace {} with {}", path.display(), temp_path.display());
                WriteError::new(Step::Replace, action, e)
            })?;
            Ok(metadata)
        });
        match renamed {
            Ok(metadata) => {
                sync_dir(dir_of(path))?;
                Ok(metadata)
            }
            Err(e) => {
                // Best effort: the temp file may hold secrets and must not linger.
                let _ = fs::remove_file(&temp_path);
                Err(e)
            }
        }
    }

    /// Creates a temp file beside `path` as [`AtomicWriter::write`] would, and removes it:
    /// proof, before anything depends on it, that a write can start.
    pub fn probe(self, path: &Path) -> Result<(), WriteError> {
        let (temp_path, temp) = self.create_temp(path)?;
        drop(temp);
        fs::remove_file(&temp_path).map_err(|e| {
            WriteError::new(
                Step::RemoveTemp,
                format!("remove {}", temp_path.display()),
                e,
            )
        })
    }

    /// A fresh temp file beside `path`, with the configured mode from the first byte.
    fn create_temp(self, path: &Path) -> Result<(PathBuf, File), WriteError> {
        let mut last_error = None;
        // A clash needs another writer to draw the same 64 random bits: retrying is enough.
        for _ in 0..16 {
            let temp_path = temp_path(path);
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            if let Some(mode) = self.mode {
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
            }
            match options.open(&temp_path) {
                Ok(file) => return Ok((temp_path, file)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_error = Some(e),
                Err(e) => {
                    let action = format!("create {}", temp_path.display());
                    return Err(WriteError::new(Step::CreateTemp, action, e));
                }
            }
        }
        let e = last_error.unwrap_or_else(|| io::Error::other("no free temp name"));
        let action = format!("create a temp file beside {}", path.display());
        Err(WriteError::new(Step::CreateTemp, action, e))
    }
}

/// The directory `path` is in, where its temp files go: `.` for a bare file name.
pub fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Removes the temp files that writes of `path` left behind when their process was killed.
/// Best effort.
///
/// Only for a caller holding a lock that every writer of `path` holds from creating its temp
/// file to renaming it: a temp file found then belongs to a process that died mid-write, while
/// without the lock it could be one another process is still writing.
pub fn remove_stale_temps(path: &Path) {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    let Ok(entries) = fs::read_dir(dir_of(path)) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let stale = file_name
            .to_str()
            .and_then(|other| other.strip_prefix(name))
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|rest| rest.strip_suffix(".tmp"))
            .is_some_and(is_temp_tag);
        if stale {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// `path` with `.<pid>-<16 hex digits>.tmp` appended to its file name.
fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(ToOwned::to_owned).unwrap_or_default();
    name.push(format!(
        ".{}-{:016x}.tmp",
        std::process::id(),
        rand::random::<u64>()
    ));
    path.with_file_name(name)
}

/// Whether `tag` is the `<pid>-<16 hex digits>` part of a name [`temp_path`] makes.
fn is_temp_tag(tag: &str) -> bool {
    tag.split_once('-').is_some_and(|(pid, hex)| {
        !pid.is_empty()
            && pid.bytes().all(|b| b.is_ascii_digit())
            && hex.len() == 16
            && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// Makes a rename in `dir` durable (a no-op where directories cannot be opened).
fn sync_dir(dir: &Path) -> Result<(), WriteError> {
    #[cfg(unix)]
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| {
        WriteError::new(
            Step::SyncDir,
            format!("sync directory {}", dir.display()),
            e,
        )
    })?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        write_atomically(&path, b"old").unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a-directory");
        std::fs::create_dir(&target).unwrap();
        assert!(write_atomically(&target, b"x").is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn the_mode_is_the_new_files_and_the_metadata_is_its_identity() {
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.json");
        let metadata = AtomicWriter::new().mode(0o600).write(&path, b"{}").unwrap();
        let now = fs::metadata(&path).unwrap();
        assert_eq!(now.permissions().mode() & 0o777, 0o600);
        assert_eq!((metadata.ino(), metadata.len()), (now.ino(), now.len()));
    }

    #[test]
    fn a_missing_directory_fails_at_creating_the_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("plan.json");
        let error = AtomicWriter::new().probe(&path).unwrap_err();
        assert_eq!(error.step(), Step::CreateTemp);
        assert!(
            error.to_string().starts_with("failed to create "),
            "{error}"
        );
    }

    #[test]
    fn stale_temps_are_this_files_temp_names_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.json");
        let stale = temp_path(&path);
        let kept = [
            dir.path().join("secrets.json.backup.tmp"),
            dir.path().join("other.json.12-0123456789abcdef.tmp"),
            dir.path().join("secrets.json.12-0123.tmp"),
        ];
        for file in kept.iter().chain([&stale]) {
            fs::write(file, "x").unwrap();
        }
        remove_stale_temps(&path);
        assert!(!stale.exists());
        assert!(kept.iter().all(|f| f.exists()));
    }

    #[test]
    fn a_bare_file_name_is_in_the_current_directory() {
        assert_eq!(dir_of(Path::new("secrets.json")), Path::new("."));
        assert_eq!(dir_of(Path::new("dir/secrets.json")), Path::new("dir"));
    }
}
