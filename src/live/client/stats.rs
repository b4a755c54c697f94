//! What a client has done so far: requests, token exchanges, retries and 429s, counted without
//! locks as the transport goes, for tests and benchmarks.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a client has done so far, for tests and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// HTTP requests sent, every attempt and token exchange included.
    pub requests: u64,
    /// Of those, token exchanges.
    pub token_requests: u64,
    /// Attempts that were retries (after a failure, a 429 or a 401).
    pub retries: u64,
    /// 429 answers seen.
    pub throttled: u64,
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) requests: AtomicU64,
    pub(super) token_requests: AtomicU64,
    pub(super) retries: AtomicU64,
    pub(super) throttled: AtomicU64,
}

pub(super) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    /// The counts so far.
    pub(super) fn snapshot(&self) -> ClientStats {
        ClientStats {
            requests: self.requests.load(Ordering::Relaxed),
            token_requests: self.token_requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
        }
    }
}
