//! The crate's one way to take a `std::sync::Mutex`: poisoning is recovered from, never
//! propagated.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, even if a thread panicked while holding it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Guarded values are plain data, valid between statements: a panic leaves none half-changed.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
