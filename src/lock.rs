//! One poison-tolerant lock for the whole crate.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks a mutex, recovering the data if a panicking thread poisoned it: everything keyplan
/// keeps behind a mutex is bookkeeping that stays valid after any one update, and a panic
/// elsewhere must not turn every later lock into a second panic.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
