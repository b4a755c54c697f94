//! The file store's memory of the file: the bytes it last read or wrote, and their parse.

use std::fs;
use std::sync::{Arc, Mutex, MutexGuard};

use super::format::Contents;

/// The last contents this store read or wrote: the file's bytes, their parse, and the file's
/// identity then. An apply asks the store a question (which key id it holds under a name) for
/// nearly every key and writes a batch every few keys; parsing a file of a thousand records for
/// each was most of an apply's CPU.
///
/// Questions trust the identity: every write renames a new file into place, so (device, inode,
/// length, mtime) changes with each. A read-modify-write trusts only equal bytes: a stale read
/// there would overwrite another process's secrets.
#[derive(Default)]
pub(super) struct ParseCache(Mutex<Option<Snapshot>>);

struct Snapshot {
    stamp: Option<FileStamp>,
    bytes: Vec<u8>,
    contents: Arc<Contents>,
}

impl std::fmt::Debug for ParseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ParseCache")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

impl FileStamp {
    /// `None` where the platform gives no inode: questions then always read the file.
    #[cfg(unix)]
    #[expect(
        clippy::unnecessary_wraps,
        reason = "the non-unix twin returns None; one signature for both"
    )]
    pub(super) fn of(metadata: &fs::Metadata) -> Option<FileStamp> {
        use std::os::unix::fs::MetadataExt;
        Some(FileStamp {
            dev: metadata.dev(),
            ino: metadata.ino(),
            len: metadata.len(),
            mtime_ns: i128::from(metadata.mtime()) * 1_000_000_000
                + i128::from(metadata.mtime_nsec()),
        })
    }

    #[cfg(not(unix))]
    pub(super) fn of(_metadata: &fs::Metadata) -> Option<FileStamp> {
        None
    }
}

impl ParseCache {
    fn lock(&self) -> MutexGuard<'_, Option<Snapshot>> {
        crate::lock::lock(&self.0)
    }

    /// The contents of the file with this identity, if they are the last seen.
    pub(super) fn by_stamp(&self, stamp: Option<FileStamp>) -> Option<Arc<Contents>> {
        let stamp = stamp?;
        self.lock()
            .as_ref()
            .filter(|snapshot| snapshot.stamp == Some(stamp))
            .map(|snapshot| Arc::clone(&snapshot.contents))
    }

    /// The parse of exactly these bytes, if they are the last seen (and the file now has
    /// `stamp`).
    pub(super) fn by_bytes(&self, bytes: &[u8], stamp: Option<FileStamp>) -> Option<Arc<Contents>> {
        let mut cached = self.lock();
        let snapshot = cached.as_mut().filter(|snapshot| snapshot.bytes == bytes)?;
        snapshot.stamp = stamp;
        Some(Arc::clone(&snapshot.contents))
    }

    pub(super) fn put(&self, stamp: Option<FileStamp>, bytes: Vec<u8>, contents: Arc<Contents>) {
        *self.lock() = Some(Snapshot {
            stamp,
            bytes,
            contents,
        });
    }

    /// Empties the cache, so that contents taken from it are no longer shared and can be
    /// changed in place; hands back what identified them, for [`ParseCache::put`] to restore
    /// if they end up unchanged.
    pub(super) fn take(&self) -> Option<(Option<FileStamp>, Vec<u8>)> {
        self.lock()
            .take()
            .map(|snapshot| (snapshot.stamp, snapshot.bytes))
    }
}

/// How far a read may trust the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Trust {
    /// The file's identity is unchanged: enough for a question.
    Stamp,
    /// The file's bytes are unchanged: what a read-modify-write needs.
    Bytes,
}
