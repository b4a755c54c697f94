//! Every file under a directory, for the leak scans of the test harnesses.

use std::path::{Path, PathBuf};

/// Every file below `dir`, recursively; unreadable entries are skipped.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
